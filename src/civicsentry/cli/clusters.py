"""civicsentry clusters build / list / show / export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..export import write_clusters_csv
from ..export.network import top_objects_line
from ..service import clusters as service
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, workspace

clusters_app = typer.Typer(
    help="Clusters of coordinated accounts (Leiden communities of a detection run).",
    no_args_is_help=True,
)
app.add_typer(clusters_app, name="clusters")

RunOpt = Annotated[
    int | None, typer.Option("--run", help="Detection run id (default: the latest).")
]
SHORT = {
    "density": "dens",
    "speed": "speed",
    "coaction_share": "co-act",
    "breadth": "breadth",
    "significance": "signif",
    "size": "size",
}


@clusters_app.command("build")
def build(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    min_size: Annotated[int, typer.Option(help="Smallest cluster kept.")] = 2,
    resolution: Annotated[
        float, typer.Option(help="Leiden resolution γ: > 1 splits, < 1 merges (1 = modularity).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Leiden seed: same seed, same clusters.")] = 0,
    iterations: Annotated[
        int, typer.Option(help="Leiden passes (-1 = until the partition is stable).")
    ] = 2,
    network: Annotated[str | None, typer.Option(help="multi (default) or an object type.")] = None,
    attach: Annotated[
        bool,
        typer.Option(
            "--attach/--no-attach",
            help="Test accounts with edges to several members of a cluster against the "
            "cluster as a group, and add those that pass (docs/coordination.md); "
            "--no-attach keeps the significant network's communities only.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Cluster a detection run's significant network (replacing that run's clusters) and
    print the most suspicious clusters. `civicsentry detect` already does this with the
    defaults; use it to try another resolution or minimum size."""
    with workspace(workspace_path) as ws:
        summary = service.cluster_run(
            ws,
            run,
            network=network,
            min_size=min_size,
            resolution=resolution,
            seed=seed,
            n_iterations=iterations,
            attach=attach,
        )
        top = [] if as_json else service.top_clusters(ws, summary.run_id, limit=10)
    if as_json:
        emit_json(summary.as_dict())
        return
    out.print(
        f"run {summary.run_id}: {summary.clusters} clusters of ≥ {min_size} accounts "
        f"({summary.clustered_accounts} accounts, {summary.attached} of them attached by the "
        f"group test) in the {summary.network} network of "
        f"{summary.nodes} accounts and {summary.edges} edges; modularity "
        f"{(summary.modularity or 0):.3f}; {summary.seconds:.1f} s"
    )
    print_clusters(top)


def print_clusters(rows: list[dict[str, Any]]) -> None:
    """The clusters table of `clusters list` (also printed by `detect`)."""
    if not rows:
        out.print("no clusters")
        return
    t = Table("id", "size", "suspicion", "components", "modalities", "top objects")
    for c in rows:
        comps = " ".join(
            f"{SHORT.get(k, k)} {v['value']:.2f}" if v["value"] is not None else f"{k} -"
            for k, v in c["suspicion_components"].items()
        )
        mods = ", ".join(f"{k} {v}" for k, v in c["modalities"].items())
        t.add_row(
            str(c["cluster_id"]),
            str(c["size"]),
            f"{c['suspicion']:.2f}",
            comps,
            escape(mods),
            escape(top_objects_line(c["top_objects"], limit=3)),
        )
    out.print(t)
    out.print("Suspicion is a triage aid, not proof (docs/clusters.md).")


@clusters_app.command("list")
def list_clusters(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The clusters of a run, most suspicious first: size, suspicion and its components,
    modalities and top objects."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.top_clusters(ws, run, limit=limit or None)
    if as_json:
        emit_json(rows)
    else:
        print_clusters(rows)


@clusters_app.command("show")
def show(
    cluster_id: Annotated[int, typer.Argument(help="Cluster id (from `clusters list`).")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    members: Annotated[int, typer.Option(help="Members to list (0 = all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Everything about one cluster: statistics, suspicion components with their raw
    figures, delays, top objects, timeline and members."""
    with workspace(workspace_path, read_only=True) as ws:
        c = service.cluster_detail(ws, cluster_id, run)
    if as_json:
        emit_json(c)
        return
    out.print(
        f"[bold]cluster {c['cluster_id']}[/] of run {c['run_id']}: {c['size']} accounts, "
        f"{c['edges']} edges (density {c['density']:.2f}), {c['external_edges']} edges "
        f"outside, {c['objects']} co-acted objects, from {c['first_t']} to {c['last_t']}"
    )
    out.print(f"suspicion {c['suspicion']:.2f} (a triage aid, not proof):")
    t = Table("component", "value", "weight", "contribution", "raw", "meaning")
    for name, v in c["suspicion_components"].items():
        value = "-" if v["value"] is None else f"{v['value']:.2f}"
        t.add_row(
            name, value, f"{v['weight']:.2f}", f"{v['contribution']:.3f}", str(v["raw"]), v["means"]
        )
    out.print(t)
    out.print("modalities: " + escape(", ".join(f"{k} {n}" for k, n in c["modalities"].items())))
    d = c["delays"]
    out.print(
        "delays (s): "
        + ", ".join(
            f"{k} {d[k]:g}" for k in ("min", "p25", "p50", "p75", "max") if d.get(k) is not None
        )
    )
    for kind, items in c["top_objects"].items():
        out.print(f"top {escape(kind)}:")
        for item in items:
            label = f"  {item['label'][:100]!r}" if item.get("label") else ""
            line = (
                f"  {item['object']}  ({item['members']} members, {item['shares']} shares){label}"
            )
            out.print(escape(line))
    hours = c["timeline"]
    if hours:
        peak = max(hours, key=hours.get)
        out.print(
            f"timeline: {sum(hours.values())} posts in {len(hours)} active hours, "
            f"peak {hours[peak]} at {peak}"
        )
    m = Table("account", "handle", "degree", "strength", "co-action share")
    shown = c["members"][:members] if members else c["members"]
    for r in shown:
        share = "-" if r["coaction_share"] is None else f"{r['coaction_share']:.2f}"
        m.add_row(
            escape(r["account_id"]),
            escape(r["handle"] or ""),
            str(r["degree"]),
            f"{r['strength']:g}",
            share,
        )
    out.print(m)
    if len(shown) < len(c["members"]):
        out.print(f"... {len(c['members']) - len(shown)} more (--members 0 lists all)")


@clusters_app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="CSV file to write.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write every clustered account as CSV: account_id, cluster_id, handle, cluster_size,
    cluster_suspicion, degree, strength, coaction_share, run_id (formulas neutralised)."""
    with workspace(workspace_path, read_only=True) as ws:
        result = write_clusters_csv(ws, path, run)
    if as_json:
        emit_json(result)
    else:
        out.print(escape(f"{result.rows} accounts of run {result.run_id} -> {result.path}"))


@app.command("score")
def score(
    truth: Annotated[
        Path,
        typer.Argument(help="The simulator's truth.csv (account_id, campaign_id, campaign_kind)."),
    ],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: Annotated[
        int | None, typer.Option(help="Run id (default: the latest clustered run).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score detected clusters against planted ground truth: account-level precision,
    recall and F1, recall per campaign kind, organic accounts flagged (see docs/clusters.md)."""
    from ..evaluate import score_detection

    with workspace(workspace_path, read_only=True) as ws:
        result = score_detection(ws, truth, run_id=run)
    if as_json:
        emit_json(result.as_dict())
    else:
        out.print(result.markdown())
