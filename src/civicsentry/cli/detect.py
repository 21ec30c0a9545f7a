"""civicsentry detect / network export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..detect import SEMANTICS
from ..export.network import export_network
from ..service import detect as service
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, progress_bar, workspace

network_app = typer.Typer(help="Coordination networks of detection runs.", no_args_is_help=True)
app.add_typer(network_app, name="network")


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@app.command()
def detect(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    semantics: Annotated[
        str, typer.Option(help=f"{' | '.join(SEMANTICS)}: ours, or a peer tool reproduced exactly.")
    ] = "civicsentry",
    window: Annotated[
        list[str] | None,
        typer.Option(
            "--window",
            help="60s for all types, or url=60s,repost=10s; `auto` "
            "estimates (CooRnet). Repeatable.",
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--types", help="Object types, comma list (default: repost,url,hashtag; peers: repost)."
        ),
    ] = None,
    min_participation: Annotated[
        int | None, typer.Option(help="Keep accounts co-acting on at least this many objects.")
    ] = None,
    min_weight: Annotated[
        int | None, typer.Option(help="Keep edges of at least this weight.")
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="False discovery rate for significant edges (0.05).")
    ] = None,
    max_partners: Annotated[
        int | None, typer.Option(help="Cap: following shares each share meets (50; 0 = none).")
    ] = None,
    viral_partners: Annotated[
        int | None, typer.Option(help="The cap on viral objects (5).")
    ] = None,
    viral_accounts: Annotated[
        int | None, typer.Option(help="Accounts from which an object is viral (1000).")
    ] = None,
    jitter: Annotated[
        str | None, typer.Option(help="Timing null's jitter: 10x (the window) or a duration.")
    ] = None,
    null_draws: Annotated[
        int | None, typer.Option(help="Monte-Carlo draws instead of exact p-values (0).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the Monte-Carlo draws.")] = None,
    simtext_threshold: Annotated[
        float | None,
        typer.Option(help="simtext: min estimated Jaccard of word-bigram sets (0.6)."),
    ] = None,
    media_distance: Annotated[
        int | None,
        typer.Option(help="media: most differing bits of two 64-bit perceptual hashes (6)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="DuckDB threads (default: all cores).")
    ] = None,
    memory_limit: Annotated[
        str, typer.Option(help="DuckDB memory before spilling to disk.")
    ] = service.DEFAULT_MEMORY_LIMIT,
    clusters: Annotated[
        bool, typer.Option(help="Then cluster the run (`clusters build` defaults).")
    ] = True,
    engine: Annotated[
        str,
        typer.Option(help="duckdb (embedded) or spark (Apache Spark; docs/distributed.md)."),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(help="Spark master URL (default local[*], or spark-submit's --master)."),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(
            "--spark-conf",
            help="Spark setting key=value, e.g. spark.executor.memory=8g. Repeatable.",
        ),
    ] = None,
    spark_input: Annotated[
        str | None,
        typer.Option(
            help="Parquet actions or posts (path or URI) for Spark, instead of the workspace's."
        ),
    ] = None,
    spark_dir: Annotated[
        str | None,
        typer.Option(
            help="Spark's inputs, intermediates and results (path or URI; needed on a cluster)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find accounts that act in concert: co-action networks per object type and combined,
    stored as a new run (docs/coordination.md), then clustered (docs/clusters.md). Prints
    the chosen windows, the edges per network and, for our semantics, how many are
    significant, and the most suspicious clusters."""
    with workspace(workspace_path) as ws, progress_bar() as bar:
        task = bar.add_task("detect", total=None)

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        summary = service.detect_coordination(
            ws,
            semantics=semantics,
            windows=window,
            object_types=_split(types),
            min_participation=min_participation,
            min_weight=min_weight,
            alpha=alpha,
            max_partners=max_partners,
            viral_partners=viral_partners,
            viral_accounts=viral_accounts,
            jitter=jitter,
            n_null=null_draws,
            seed=seed,
            simtext_threshold=simtext_threshold,
            media_distance=media_distance,
            threads=threads,
            memory_limit=memory_limit,
            progress=tick,
            engine=engine,
            spark_master=spark_master,
            spark_conf=spark_conf,
            spark_input=spark_input,
            spark_dir=spark_dir,
        )
        top = [] if as_json else service.top_edges(ws, run_id=summary.run_id)
        grouped, top_clusters = None, []
        if clusters:
            from ..service import clusters as cluster_service

            grouped = cluster_service.cluster_run(ws, summary.run_id)
            if not as_json:
                top_clusters = cluster_service.top_clusters(ws, summary.run_id, limit=10)
    if as_json:
        emit_json(summary.as_dict() | ({"clusters": grouped.as_dict()} if grouped else {}))
        return
    _print_summary(summary, top)
    if grouped is not None:
        from .clusters import print_clusters

        out.print(f"{grouped.clusters} clusters ({grouped.clustered_accounts} accounts):")
        print_clusters(top_clusters)


def _print_summary(s: service.DetectionSummary, top: list[dict[str, object]]) -> None:
    out.print(
        f"run {s.run_id}: {s.semantics} semantics on {', '.join(s.object_types)} "
        f"in {s.seconds:.1f} s" + (f" on {s.engine}" if s.engine != "duckdb" else "")
    )
    for t, w in s.windows.items():
        out.print(f"  window {t}: {w['seconds']:g} s ({w['reason']})")
    table = Table("network", "edges", "significant", "hypotheses (m)")
    for net, n in s.networks.items():
        table.add_row(
            net, str(n["edges"]), str(n.get("significant", "-")), str(n.get("hypotheses", "-"))
        )
    out.print(table)
    if s.caps:
        out.print(f"{s.caps} objects capped or viral: see coordination_caps (run {s.run_id}).")
    if top:
        net = "multi" if s.semantics == "civicsentry" else "the network"
        out.print(f"strongest edges of {net}:")
        for r in top:
            out.print(f"  {r['account_a']}  {r['account_b']}  weight {r['weight']}")


@network_app.command("export")
def network_export(
    path: Annotated[Path, typer.Argument(help="File to write.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="csv | parquet | graphml | gexf (default: from the suffix)."
        ),
    ] = None,
    run: Annotated[int | None, typer.Option(help="Run id (default: the latest detect).")] = None,
    network: Annotated[str | None, typer.Option(help="multi (default) or an object type.")] = None,
    all_edges: Annotated[
        bool, typer.Option("--all", help="Every stored edge, not only the significant ones.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a run's coordination network. CSV/Parquet: account_a, account_b, weight
    (account_a < account_b), then every edge attribute (cnt runs also weight_ab and
    weight_ba). GraphML/GEXF for Gephi: nodes with cluster, degree, strength, handle and
    their cluster's suspicion and top objects; edges with their attributes."""
    fmt = format or (path.suffix.lstrip(".").lower() or "csv")
    with workspace(workspace_path, read_only=True) as ws:
        result = export_network(ws, path, fmt=fmt, run_id=run, network=network, all_edges=all_edges)
    if as_json:
        emit_json(result)
    else:
        out.print(
            f"{result.edges} edges of run {result.run_id} ({result.network}) -> {result.path}"
        )
