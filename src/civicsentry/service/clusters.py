"""civicsentry clusters: Leiden communities of a detection run's network, stored in
``clusters`` and ``cluster_members`` keyed by the detection's run id, and read back.

Clustering a run again (other resolution, seed, minimum size) replaces that run's
clusters and nothing else, in one transaction; each clustering also adds a ``runs`` row
(step ``cluster``) with its parameters, so every stored cluster says what made it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import __version__
from ..detect.attach import AttachParams
from ..detect.cluster_stats import cluster_edges_sql, lit
from ..detect.clusters import ClusterParams, find_clusters
from ..errors import InvalidParams, WorkspaceError
from ..schema import CLUSTER_MEMBERS, CLUSTERS
from ..store import Workspace
from . import detect as _detect
from .handles import with_handles

RUN_STEP, RUN_NAME = "cluster", "leiden"
JSON_COLUMNS = ("modalities", "top_objects", "timeline", "delays", "suspicion_components")


@dataclass(frozen=True)
class ClusterSummary:
    """What one clustering did (``top``: the most suspicious clusters, briefly)."""

    run_id: int  # the detection run clustered
    clustering_run_id: int  # its `runs` row
    network: str
    significant_only: bool
    params: dict[str, Any]
    nodes: int
    edges: int
    communities: int
    clusters: int
    clustered_accounts: int
    dropped_accounts: int
    modularity: float | None
    seconds: float
    top: tuple[dict[str, Any], ...] = ()
    attached: int = 0  # of the clustered accounts, joined by the group test (attach.py)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cluster_run(
    ws: Workspace,
    run_id: int | None = None,
    *,
    network: str | None = None,
    min_size: int = 2,
    resolution: float = 1.0,
    seed: int = 0,
    n_iterations: int = 2,
    top_k: int = 5,
    attach: bool = True,
) -> ClusterSummary:
    """Cluster a detection run (default: the latest) and store the clusters, replacing
    that run's previous clustering. The network is ``multi`` for our semantics (the only
    one for a peer run on one type); significant edges only, where the run tested them.
    ``attach`` (default): then test the accounts with edges to several members of a
    cluster against the cluster as a group and add those that pass
    (docs/coordination.md, "Attaching accounts to clusters"; runs of our semantics
    only); ``attach=False`` clusters the significant network alone."""
    rid, semantics, types, windows = detection_run(ws, run_id)
    net = network or _detect.default_network(semantics, types)
    if net != "multi" and net not in types:
        raise InvalidParams(f"Run {rid} has no {net!r} network; it has {', '.join(types)}.")
    params = ClusterParams(
        min_size=min_size,
        resolution=resolution,
        seed=seed,
        n_iterations=n_iterations,
        top_k=top_k,
        windows=windows,
        object_types=types,
    )
    started = time.time()
    tested = semantics == "civicsentry"
    edges = (
        f"(SELECT * FROM coordination_edges WHERE run_id = {int(rid)} "
        f"AND object_type = {lit(net)} AND coalesce(significant, true))"
    )
    attach_p = _attach_params(ws, rid, net) if attach else None
    result = find_clusters(
        ws.con,
        edges,
        params=params,
        attach=attach_p,
        candidate_edges=f"(SELECT account_a, account_b FROM coordination_edges "
        f"WHERE run_id = {int(rid)} AND object_type = {lit(net)})",
    )
    try:
        stats = result.summary()
        record = params.as_dict() | {
            "detection_run_id": rid,
            "network": net,
            "significant_only": tested,
            "attach": attach_p.as_dict() if attach_p else None,
        }
        with ws.transaction() as con:
            for table in (CLUSTERS, CLUSTER_MEMBERS):
                con.execute(table.ddl())  # workspaces made before these tables existed
            crid = ws.next_id("runs", "run_id")
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, to_timestamp(?), now(), ?)",
                [
                    crid,
                    RUN_STEP,
                    RUN_NAME,
                    json.dumps(record, sort_keys=True),
                    __version__,
                    started,
                    json.dumps(stats, sort_keys=True),
                ],
            )
            con.execute("DELETE FROM clusters WHERE run_id = ?", [rid])
            con.execute("DELETE FROM cluster_members WHERE run_id = ?", [rid])
            con.execute("DELETE FROM cluster_edges WHERE run_id = ?", [rid])
            ccols = [c for c in CLUSTERS.column_names if c not in ("run_id", "clustering_run_id")]
            con.execute(
                f"INSERT INTO clusters (run_id, clustering_run_id, {', '.join(ccols)}) "
                f"SELECT {int(rid)}, {int(crid)}, {', '.join(ccols)} FROM {result.clusters}"
            )
            mcols = [c for c in CLUSTER_MEMBERS.column_names if c != "run_id"]
            con.execute(
                f"INSERT INTO cluster_members (run_id, {', '.join(mcols)}) "
                f"SELECT {int(rid)}, {', '.join(mcols)} FROM {result.members}"
            )
            # Each cluster's own edges, so that its network and delays need not scan the run's.
            con.execute(f"INSERT INTO cluster_edges {cluster_edges_sql(rid, net)}")
            ws.audit("cluster", {"run_id": rid, "clustering_run_id": crid, **stats})
    finally:
        result.close()
    top = tuple(
        {k: c[k] for k in ("cluster_id", "size", "suspicion", "modalities")}
        for c in top_clusters(ws, rid, limit=5)
    )
    return ClusterSummary(
        run_id=rid,
        clustering_run_id=crid,
        network=net,
        significant_only=tested,
        params=record,
        nodes=stats["nodes"],
        edges=stats["edges"],
        communities=stats["communities"],
        clusters=stats["clusters"],
        clustered_accounts=stats["clustered_accounts"],
        dropped_accounts=stats["dropped_accounts"],
        modularity=stats["modularity"],
        seconds=round(time.time() - started, 3),
        top=top,
        attached=int((stats.get("attach") or {}).get("attached", 0)),
    )


def _attach_params(ws: Workspace, rid: int, network: str) -> AttachParams | None:
    """The attachment test's inputs from the detection run's ``runs`` row."""
    row = ws.con.execute("SELECT params, summary FROM runs WHERE run_id = ?", [rid]).fetchall()
    return AttachParams.from_run(
        json.loads(row[0][0] or "{}"), json.loads(row[0][1] or "{}"), network
    )


def detection_run(
    ws: Workspace, run_id: int | None
) -> tuple[int, str, list[str], dict[str, float]]:
    """The run's id, semantics, object types and the windows it used (seconds)."""
    rid = _detect.latest_run_id(ws) if run_id is None else run_id
    rows = []
    if rid is not None:
        rows = ws.con.execute(
            "SELECT params, summary FROM runs WHERE run_id = ? AND step = 'detect'", [rid]
        ).fetchall()
    if rid is None or not rows:
        raise InvalidParams(
            "No detection run yet: run `civicsentry detect` first."
            if run_id is None
            else f"Run {run_id} is not a detection run; `civicsentry runs` lists them."
        )
    params = json.loads(rows[0][0] or "{}")
    summary = json.loads(rows[0][1] or "{}")
    windows = {
        t: float(w["seconds"])
        for t, w in (summary.get("windows") or {}).items()
        if isinstance(w, dict) and w.get("seconds") is not None
    }
    types = list(params.get("object_types") or windows)
    return int(rid), str(params.get("semantics", "civicsentry")), types, windows


# -- reading clusters -------------------------------------------------------------------


def clustered_run_id(ws: Workspace, run_id: int | None = None) -> int:
    """The detection run whose clusters to read (default: the latest detection run),
    checked to have been clustered."""
    return clustered_runs(ws, run_id)[0]


def clustered_runs(ws: Workspace, run_id: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """``clustered_run_id`` and the ``runs`` rows read to find it: the detection run's
    and those of the detect and cluster steps after it (its clusterings among them),
    oldest first, as stored (params and summary JSON text). One statement, where the
    checks one by one took three (~1 ms each in a web request); a clustering's row is
    always younger than the run it clusters."""
    if run_id is None:
        start, args = (
            "(SELECT max(run_id) FROM runs WHERE step = 'detect' AND name = ?)",
            [_detect.RUN_NAME],
        )
    else:
        start, args = "?", [int(run_id)]
    rows = ws.dicts(
        f"SELECT * FROM runs WHERE step IN ('detect', ?) AND run_id >= {start}",
        [RUN_STEP, *args],
    )
    rows.sort(key=lambda r: r["run_id"])  # a few rows: ORDER BY would cost ~0.4 ms more
    if (
        not rows
        or rows[0]["step"] != "detect"
        or (run_id is not None and rows[0]["run_id"] != run_id)
    ):
        raise InvalidParams(
            "No detection run yet: run `civicsentry detect` first."
            if run_id is None
            else f"Run {run_id} is not a detection run; `civicsentry runs` lists them."
        )
    rid = int(rows[0]["run_id"])
    if not clusterings(rows, rid):
        raise WorkspaceError(
            f"Run {rid} has not been clustered yet: run `civicsentry clusters build --run {rid}`."
        )
    return rid, rows


def clusterings(runs: Sequence[dict[str, Any]], rid: int) -> list[dict[str, Any]]:
    """The rows of ``runs`` (params as stored or parsed: ``clustered_runs``,
    ``explore.read_runs``) that clustered detection run ``rid``, in their order."""
    out = []
    for r in runs:
        if r["step"] != RUN_STEP:
            continue
        params = json.loads(r["params"]) if isinstance(r["params"], str) else r["params"]
        try:  # CAST(json_extract(params, '$.detection_run_id') AS BIGINT), as SQL had it
            if int(params.get("detection_run_id")) == rid:
                out.append(r)
        except (AttributeError, TypeError, ValueError):
            continue
    return out


def _rows(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return ws.dicts(sql, params, json_columns=JSON_COLUMNS)


def top_clusters(
    ws: Workspace, run_id: int | None = None, *, limit: int | None = 10
) -> list[dict[str, Any]]:
    """Clusters of a run, most suspicious first (JSON columns parsed; no timeline)."""
    return cluster_page(ws, run_id, limit=limit)[0]


def cluster_page(
    ws: Workspace,
    run_id: int | None = None,
    *,
    limit: int | None = 10,
    offset: int = 0,
    min_size: int = 0,
    min_suspicion: float = 0.0,
    modality: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of a run's clusters, most suspicious first, with optional filters, and
    how many pass the filters in all: filtered and paged in the query (a run can hold
    thousands)."""
    rid = clustered_run_id(ws, run_id)
    where, params = _cluster_filter(rid, min_size, min_suspicion, modality)
    total = int(ws.scalar(f"SELECT count(*) FROM clusters WHERE {where}", params))
    lim = f"LIMIT {int(limit)}" if limit else ""
    rows = _rows(
        ws,
        f"SELECT * EXCLUDE (timeline) FROM clusters WHERE {where} "
        f"ORDER BY suspicion DESC, cluster_id {lim} OFFSET {max(int(offset), 0)}",
        params,
    )
    return rows, total


def _cluster_filter(
    rid: int, min_size: int, min_suspicion: float, modality: str | None
) -> tuple[str, list[Any]]:
    where = "run_id = ? AND size >= ? AND coalesce(suspicion, 0) >= ?"
    params: list[Any] = [rid, int(min_size), float(min_suspicion)]
    if modality:  # `modalities` is a JSON object keyed by object type
        where += " AND list_contains(json_keys(modalities), ?)"
        params.append(modality)
    return where, params


def cluster_members(
    ws: Workspace, cluster_id: int, run_id: int | None = None
) -> list[dict[str, Any]]:
    """Members of one cluster with their handles, most connected first."""
    return members_of(ws, clustered_run_id(ws, run_id), cluster_id)


def members_of(
    ws: Workspace, rid: int, cluster_id: int, *, handles: bool = True
) -> list[dict[str, Any]]:
    """``cluster_members`` of a run already checked by ``clustered_run_id`` (without
    ``handle`` when ``handles`` is false: ``with_handles`` adds it to a page of them)."""
    rows = _rows(
        ws,
        """SELECT account_id, * EXCLUDE (run_id, cluster_id, account_id) FROM cluster_members
           WHERE run_id = ? AND cluster_id = ?""",
        [rid, int(cluster_id)],
    )
    # ORDER BY strength DESC, account_id, sorted here: DuckDB's sort operator costs
    # ~0.5 ms a statement, more than sorting a cluster's members in Python.
    rows.sort(key=lambda r: (desc_key(r["strength"]), r["account_id"] is None, r["account_id"]))
    return with_handles(ws, rows) if handles else rows


def desc_key(x: float | None) -> tuple[int, float]:
    """Sort key of a DOUBLE as DuckDB's ``ORDER BY x DESC`` orders it: NaN first, then
    the numbers from the largest, NULL last."""
    if x is None:
        return (2, 0.0)
    if x != x:  # NaN
        return (0, 0.0)
    return (1, -x)


def cluster_detail(ws: Workspace, cluster_id: int, run_id: int | None = None) -> dict[str, Any]:
    """One cluster with every statistic and its members."""
    rid = clustered_run_id(ws, run_id)
    return cluster_row(ws, rid, cluster_id) | {"members": members_of(ws, rid, cluster_id)}


def cluster_row(ws: Workspace, rid: int, cluster_id: int) -> dict[str, Any]:
    """The ``clusters`` row of a run already checked by ``clustered_run_id`` (JSON
    columns parsed), or InvalidParams."""
    rows = _rows(
        ws, "SELECT * FROM clusters WHERE run_id = ? AND cluster_id = ?", [rid, int(cluster_id)]
    )
    if not rows:
        raise InvalidParams(
            f"Run {rid} has no cluster {cluster_id}; `civicsentry clusters list` shows them."
        )
    return rows[0]
