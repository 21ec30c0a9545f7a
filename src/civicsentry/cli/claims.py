"""civicsentry claims import / match / list / matches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..claims.importers import FORMATS
from ..service import claims as service
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, progress_bar, workspace

claims_app = typer.Typer(
    help="Fact-checked claims (ClaimReview) and the posts that repeat them.",
    no_args_is_help=True,
)
app.add_typer(claims_app, name="claims")


@claims_app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of fact-checks.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    format: Annotated[
        str | None, typer.Option("--format", help=f"{' | '.join(FORMATS)} (default: detected).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import ClaimReview JSON-LD (also inside saved HTML pages), Google Fact Check Tools
    API `claims:search` responses or a ClaimReview data feed. Re-importing updates."""
    with workspace(workspace_path) as ws:
        report = service.import_claims(ws, paths, format=format)
    if as_json:
        emit_json(report.as_dict())
    else:
        for f in report.files:
            if f.error:
                out.print(escape(f"{f.path}: error: {f.error}"))
                continue
            out.print(
                escape(
                    f"{f.path} ({f.format}): {f.records} claim reviews, {f.new} new, "
                    f"{f.updated} updated, {len(f.skipped)} skipped"
                )
            )
            for pos, reason in f.skipped[:5]:
                out.print(escape(f"  skipped {pos}: {reason}"))
    if any(f.error for f in report.files):
        raise typer.Exit(2)


@claims_app.command("match")
def match(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    method: Annotated[
        str, typer.Option(help="hybrid (default), lexical or embedding (ablations).")
    ] = "hybrid",
    threshold: Annotated[
        float | None,
        typer.Option(help="Decision threshold on the method's score (default: calibrated)."),
    ] = None,
    candidates: Annotated[int, typer.Option(help="Candidates per retriever and post (20).")] = 20,
    max_per_post: Annotated[int, typer.Option(help="Matches kept per post (3).")] = 3,
    urls: Annotated[
        bool, typer.Option(help="Also match posts linking a reviewed item or the review.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Match every post against the imported claims (text across languages and
    rewordings, and URLs) and store the matches as a new run."""
    with workspace(workspace_path) as ws, progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        s = service.match_claims(
            ws,
            method=method,
            threshold=threshold,
            candidates_k=candidates,
            max_per_post=max_per_post,
            urls=urls,
            progress=progress,
        )
    if as_json:
        emit_json(s.as_dict())
        return
    out.print(
        f"run {s.run_id}: {s.matched_posts} posts repeat {s.matched_claims} of {s.claims} "
        f"claims ({s.text_matches} text matches, {s.url_matches} URL matches, "
        f"{s.repost_matches} via reposts); {s.texts} distinct texts, {s.embedded} embedded "
        f"now; {s.seconds:.1f} s"
    )


@claims_app.command("list")
def list_claims(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    search: Annotated[str | None, typer.Option(help="Only claims containing this text.")] = None,
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Imported claims, newest review first, with the posts the latest match run found."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_claims(ws, limit=limit or None, search=search)
    if as_json:
        emit_json(rows)
        return
    t = Table("claim", "rating", "reviewer", "reviewed", "posts", "claim text")
    for r in rows:
        t.add_row(
            r["claim_id"][:10],
            escape(r["rating"] or ""),
            escape(r["reviewer"] or ""),
            str(r["review_date"] or "")[:10],
            "-" if r["matched_posts"] is None else str(r["matched_posts"]),
            escape(r["claim_text"][:100]),
        )
    out.print(t)


@claims_app.command("matches")
def matches(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: Annotated[int | None, typer.Option("--run", help="Match run (default: latest).")] = None,
    claim: Annotated[str | None, typer.Option(help="Only this claim id.")] = None,
    method: Annotated[
        str | None, typer.Option(help="Only url, hybrid, embedding or lexical.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Posts that repeat a fact-checked claim, best score first, with the matched span.
    A match means the post repeats the claim, not that it endorses it."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_matches(ws, run, claim_id=claim, method=method, limit=limit or None)
    if as_json:
        emit_json(rows)
        return
    t = Table("post", "score", "method", "rating", "claim", "matched span")
    for r in rows:
        t.add_row(
            escape(r["post_id"]),
            f"{r['score']:.2f}",
            r["method"],
            escape(r["rating"] or ""),
            escape(r["claim_text"][:60]),
            escape((r["matched_span"] or "")[:80]),
        )
    out.print(t)
