"""civicsentry simulate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidParams
from ..normalise import parse_time
from ..simulate import FORMATS, simulate
from .app import JsonOpt, app, emit_json, out, progress_bar


@app.command("simulate")
def simulate_cmd(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to write posts, accounts and ground truth to.")
    ],
    posts: Annotated[int, typer.Option(help="How many posts.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")
    ] = "parquet",
    days: Annotated[int, typer.Option(help="Days of activity.")] = 7,
    start: Annotated[
        str | None, typer.Option(help="First day (ISO date, UTC); default 2024-10-28, a Monday.")
    ] = None,
    campaigns: Annotated[
        str | None,
        typer.Option(help='Planted campaigns, e.g. "fast_bots:3,small_cell:2", or "none".'),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate realistic platform data with planted coordinated campaigns and their
    ground truth (truth.csv, campaigns.json). See docs/simulate.md."""
    first = parse_time(start) if start else None
    if start and first is None:
        raise InvalidParams(f"--start takes an ISO date such as 2024-10-28, not {start!r}.")
    with progress_bar() as bar:
        task = bar.add_task("simulate", total=posts)
        summary = simulate(
            out_dir,
            posts=posts,
            seed=seed,
            fmt=format,
            days=days,
            start=first,
            campaigns=campaigns,
            progress=lambda n: bar.update(task, completed=n),
        )
    if as_json:
        emit_json(summary.as_dict())
        return
    out.print(
        f"{summary.posts:,} posts by {summary.accounts:,} accounts "
        f"({summary.campaign_accounts:,} in {summary.campaigns} planted campaigns) "
        f"in {summary.elapsed_s:.1f} s"
    )
    for role, path in summary.paths.items():
        out.print(f"  {role:<10} {path}")
