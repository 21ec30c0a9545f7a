"""civicsentry narratives build / list / show."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..service import narratives as service
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, progress_bar, workspace

narratives_app = typer.Typer(
    help="Narratives: posts that say the same thing, across languages and rewordings.",
    no_args_is_help=True,
)
app.add_typer(narratives_app, name="narratives")

RunOpt = Annotated[
    int | None, typer.Option("--run", help="Narratives run id (default: the latest).")
]


@narratives_app.command("build")
def build(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    min_similarity: Annotated[
        float, typer.Option(help="Cosine needed to link two texts (USE m3; 0.65).")
    ] = service.ClusterParams.min_similarity,
    copy_similarity: Annotated[
        float,
        typer.Option(help="Cosine needed to link a copy-paste group to another text (0.8)."),
    ] = service.ClusterParams.copy_similarity,
    neighbours: Annotated[int, typer.Option(help="Nearest neighbours per text (10).")] = 10,
    min_posts: Annotated[int, typer.Option(help="Smallest narrative kept, in posts (5).")] = 5,
    resolution: Annotated[float, typer.Option(help="Leiden resolution (1 = modularity).")] = 1.0,
    simtext_threshold: Annotated[
        float, typer.Option(help="Jaccard for near-duplicate texts (MinHash/LSH; 0.6).")
    ] = 0.6,
    growth_window: Annotated[
        float, typer.Option(help="Hours of the growth windows (24): last vs the one before.")
    ] = 24.0,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same narratives.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Cluster the workspace's posts into narratives (embeddings are cached, so a second
    build only embeds new texts) and print the biggest."""
    with workspace(workspace_path) as ws, progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        summary = service.build_narratives(
            ws,
            min_similarity=min_similarity,
            copy_similarity=copy_similarity,
            k=neighbours,
            min_posts=min_posts,
            resolution=resolution,
            simtext_threshold=simtext_threshold,
            growth_window_h=growth_window,
            seed=seed,
            progress=progress,
        )
        rows = [] if as_json else service.list_narratives(ws, summary.run_id, limit=10)
    if as_json:
        emit_json(summary.as_dict())
        return
    out.print(
        f"run {summary.run_id}: {summary.narratives} narratives holding "
        f"{summary.assigned_posts} posts; {summary.texts} distinct texts "
        f"({summary.embedded} embedded now, the rest cached), "
        f"{summary.near_duplicate_groups} near-duplicate groups; {summary.seconds:.1f} s"
    )
    print_narratives(rows)


def print_narratives(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("no narratives")
        return
    t = Table(
        "id", "posts", "accounts", "copy-paste", "growth", "coordinated", "languages", "label"
    )
    for r in rows:
        coord = "-" if r["coordinated_share"] is None else f"{r['coordinated_share']:.0%}"
        langs = ", ".join(f"{k} {v}" for k, v in list(r["languages"].items())[:3])
        t.add_row(
            str(r["narrative_id"]),
            str(r["posts"]),
            str(r["accounts"]),
            str(r["copy_paste_posts"]),
            f"{r['growth_rate']:+.2f}",
            coord,
            escape(langs),
            escape(r["label"] or ""),
        )
    out.print(t)


@narratives_app.command("list")
def list_narratives(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    sort: Annotated[str, typer.Option(help="posts, growth or coordinated.")] = "posts",
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The narratives of a run: size, accounts, copy-paste posts, growth, share by
    coordinated accounts, languages and label."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_narratives(ws, run, limit=limit or None, sort=sort)
    if as_json:
        emit_json(rows)
    else:
        print_narratives(rows)


@narratives_app.command("show")
def show(
    narrative_id: Annotated[int, typer.Argument(help="Narrative id (from `narratives list`).")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    posts: Annotated[int, typer.Option(help="Posts to show, most typical first.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """One narrative: terms, representative posts, languages, timeline, growth,
    coordinated clusters and its most typical posts."""
    with workspace(workspace_path, read_only=True) as ws:
        n = service.narrative_detail(ws, narrative_id, run, posts=posts)
    if as_json:
        emit_json(n)
        return
    out.print(
        escape(
            f"narrative {n['narrative_id']} of run {n['run_id']}: {n['posts']} posts by "
            f"{n['accounts']} accounts, {n['texts']} distinct texts, from {n['first_t']} "
            f"to {n['last_t']}"
        )
    )
    out.print("terms: " + escape(", ".join(f"{w} ({s:.3f})" for w, s in n["top_terms"])))
    out.print("languages: " + escape(", ".join(f"{k} {v}" for k, v in n["languages"].items())))
    out.print(
        f"growth: {n['recent_posts']} posts in the last window, {n['prior_posts']} before "
        f"({n['growth_rate']:+.2f}); copy-paste posts {n['copy_paste_posts']}"
    )
    if n["coordinated_share"] is not None:
        clusters = ", ".join(
            f"cluster {c['cluster_id']} ({c['posts']} posts)" for c in n["coordinated_clusters"][:5]
        )
        out.print(
            f"coordinated: {n['coordinated_share']:.0%} of posts by coordinated accounts"
            + (f": {clusters}" if clusters else "")
        )
    out.print("representative posts:")
    for r in n["representatives"]:
        out.print(
            escape(f"  {r['post_id']}  ×{r['copies']}  {r['similarity']:.2f}  {r['text'][:140]!r}")
        )
    t = Table("post", "account", "time", "lang", "similarity", "text")
    for p in n["sample_posts"]:
        t.add_row(
            escape(p["post_id"]),
            escape(p["account_id"]),
            str(p["created_at"]),
            escape(p["lang"] or ""),
            f"{p['similarity']:.2f}",
            escape((p["text"] or "")[:120]),
        )
    out.print(t)
