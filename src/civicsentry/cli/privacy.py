"""civicsentry privacy: retention policy, purge, export and erasure of one account."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..errors import InvalidParams
from ..service import privacy as _privacy
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, workspace

privacy_app = typer.Typer(
    help="Data protection: retention of raw posts, export and erasure of one account's data.",
    no_args_is_help=True,
)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("show")
def show(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """The retention policy, the last purge and what is past the period now."""
    with workspace(workspace_path, read_only=True) as ws:
        p = _privacy.policy(ws)
    if as_json:
        emit_json(p)
        return
    days = p["retention_days"]
    out.print(f"raw post content kept: {f'{days} days' if days else 'without limit'}")
    if days:
        out.print(f"past the period now: {p['due']} posts older than {p['cutoff']:%Y-%m-%d}")
    out.print(f"posts: {p['posts']}, oldest {p['oldest_post']}; last purge: {p['last_purge']}")


@privacy_app.command("retention")
def retention(
    days: Annotated[int | None, typer.Option(help="Keep raw post content this many days.")] = None,
    no_limit: Annotated[bool, typer.Option("--no-limit", help="Remove the period.")] = False,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Set the retention period of raw post content (`privacy purge` applies it)."""
    if (days is None) == (not no_limit):
        raise InvalidParams("Give --days N or --no-limit.")
    with workspace(workspace_path) as ws:
        p = _privacy.set_retention(ws, days)
    emit_json(p) if as_json else out.print(f"retention: {days or 'no limit'}")


@privacy_app.command("purge")
def purge(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Redact the content of posts older than the retention period (ids, authors and
    times stay, so networks and evidence ids stay)."""
    with workspace(workspace_path) as ws:
        done = _privacy.purge_expired(ws)
    emit_json(done) if as_json else out.print(
        f"{done['posts']} posts redacted (before {done['cutoff']})"
    )


@privacy_app.command("export")
def export(
    account_id: Annotated[str, typer.Argument(help="Platform-qualified account id.")],
    path: Annotated[Path, typer.Argument(help="JSON file to write.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Write everything held about one account as JSON (a subject access request)."""
    with workspace(workspace_path) as ws:
        counts = _privacy.export_account(ws, account_id, path)
    emit_json(counts) if as_json else out.print(escape(f"{sum(counts.values())} rows -> {path}"))


@privacy_app.command("erase")
def erase(
    account_id: Annotated[str, typer.Argument(help="Platform-qualified account id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (there is no undo).")] = False,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Erase every row about one account: posts, actions, profile, signals, memberships,
    edges, pseudonym mapping; alert evidence no longer names it. Audited (by hash)."""
    if not yes:
        raise InvalidParams("Erasure cannot be undone: add --yes.")
    with workspace(workspace_path) as ws:
        removed = _privacy.erase_account(ws, account_id)
    if as_json:
        emit_json(removed)
    else:
        out.print(escape(", ".join(f"{t} {n}" for t, n in removed.items()) or "nothing held"))
