"""civicsentry ingest / info / quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import InvalidParams
from ..service.ingest import COUNT_FIELDS, IngestReport, ingest_files
from ..service.summary import export_quarantine, quarantined, workspace_info
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, progress_bar, workspace


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        canonical, sep, column = pair.partition("=")
        if not sep or not canonical.strip() or not column.strip():
            raise InvalidParams(
                f"--map takes canonical=column (e.g. account_id=user_id), not {pair!r}."
            )
        mapping[canonical.strip()] = column.strip()
    return mapping


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, folders or globs (.gz/.zst/.bz2/.xz too).")
    ],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Force a format (see `civicsentry formats`)."),
    ] = None,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="canonical=column, repeatable.")
    ] = None,
    platform: Annotated[
        str | None, typer.Option(help="Platform code for ids (x, facebook, telegram, ...).")
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the input.")] = "utf-8",
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail on the first bad record, storing nothing of its file."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read files into the workspace: posts, accounts and actions; bad records to quarantine.

    Prints rows read = stored + duplicate + quarantined, per file. Exit code 0 when every
    file was read (quarantined records are reported, not fatal), 2 when a file could not
    be read or --strict met a bad record.
    """
    mapping = parse_mapping(map_ or [])
    with workspace(workspace_path) as ws, progress_bar() as bar:
        task = bar.add_task("ingest", total=None)

        def tick(source: str, n: int) -> None:
            bar.update(task, description=f"ingest {Path(source).name}", completed=n)

        report = ingest_files(
            ws,
            paths,
            format=format,
            mapping=mapping,
            platform=platform,
            encoding=encoding,
            strict=strict,
            progress=tick,
        )
    if as_json:
        emit_json(report.as_dict())
    else:
        _print_report(report)
    if report.failed:
        raise typer.Exit(2)


def _print_report(report: IngestReport) -> None:
    t = Table(
        "file", "format", "read", "stored", "duplicate", "quarantined", "accounts", "actions", "s"
    )
    for f in report.files:
        if f.error:
            t.add_row(f.source, f.format, "[red]failed[/]", "", "", "", "", "", "")
        else:
            t.add_row(
                f.source,
                f.format,
                *(f"{getattr(f, k):,}" for k in COUNT_FIELDS),
                f"{f.seconds:.1f}",
            )
    out.print(t)
    out.print(
        f"rows read {report.total('rows_read'):,} = stored {report.total('rows_stored'):,} + duplicate "
        f"{report.total('rows_duplicate'):,} + quarantined {report.total('rows_quarantined'):,}"
    )
    for f in report.files:
        if f.error:
            out.print(f"[red]error[/] {f.error}")
        for reason in f.quarantine_sample:
            out.print(f"[yellow]quarantined[/] {f.source}: {reason}")


@app.command()
def info(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """What the workspace holds: posts, accounts and actions per platform and source."""
    with workspace(workspace_path, read_only=True) as ws:
        summary = workspace_info(ws)
    if as_json:
        emit_json(summary)
        return
    out.print(
        f"[bold]{summary.path}[/] (schema {summary.schema_version}): {summary.posts:,} posts, "
        f"{summary.accounts:,} accounts, {summary.actions:,} actions, {summary.quarantined:,} quarantined"
    )
    for title, rows in (("platforms", summary.platforms), ("sources", summary.sources)):
        if rows:
            t = Table(*rows[0].keys(), title=title)
            for r in rows:
                t.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in r.values()))
            out.print(t)
    out.print("kinds: " + ", ".join(f"{k} {v:,}" for k, v in summary.kinds.items()))
    out.print("actions: " + ", ".join(f"{k} {v:,}" for k, v in summary.action_types.items()))


@app.command("quarantine")
def quarantine_cmd(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    source: Annotated[str | None, typer.Option(help="Only records from this source file.")] = None,
    limit: Annotated[int, typer.Option(help="How many to list (0 = all).")] = 50,
    export: Annotated[Path | None, typer.Option(help="Write all of them to this CSV file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List or export the records that could not be stored, with where and why."""
    with workspace(workspace_path, read_only=True) as ws:
        if export:
            n = export_quarantine(ws, export, source=source)
            out.print(f"{n:,} quarantined records written to {export}")
            return
        rows = quarantined(ws, source=source, limit=limit or None)
    if as_json:
        emit_json(rows)
        return
    t = Table("source", "position", "reason", "raw")
    for r in rows:
        raw = (r["raw"] or "")[:80]
        t.add_row(str(r["source"]), str(r["position"]), str(r["reason"]), raw)
    out.print(t)


@app.command()
def formats(as_json: JsonOpt = False) -> None:
    """List the input formats, in the order auto-detection tries them."""
    from ..ingest import REGISTRY

    rows = [
        {"name": a.name, "title": a.title, "aliases": list(a.aliases)} for a in REGISTRY.values()
    ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        aliases = f"  (also {', '.join(r['aliases'])})" if r["aliases"] else ""
        out.print(f"{r['name']:<22} {r['title']}{aliases}")
