"""Clusters: Leiden communities on a coordination network, with the statistics an analyst
needs to triage them (method, statistics and caveats: docs/clusters.md).

``find_clusters`` takes a DuckDB connection and the names of three relations — the edges
to cluster (normally a run's significant multi-modal network), ``actions`` and ``posts``
— and leaves two temporary tables on the connection: one row per cluster and one per
member. It opens nothing and writes nothing else; the service stores the results.

Partition: ``leidenalg.RBConfigurationVertexPartition`` (Reichardt–Bornholdt with the
configuration null model), weighted by the edge weight (distinct objects co-acted on).
At ``resolution=1`` it is exactly Newman–Girvan modularity, the objective the peer tools'
users know (CooRTweet and CooRnet cluster with Louvain/Leiden on modularity); unlike
``ModularityVertexPartition`` it has a resolution knob (γ > 1 splits loose coalitions of
cells, γ < 1 merges), and unlike CPM its γ does not depend on the scale of the weights.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import igraph as ig
import leidenalg
import numpy as np
import pyarrow as pa

from ..errors import InvalidParams
from .attach import AttachParams, AttachResult, attach_members, candidates_sql
from .cluster_stats import (
    default_window,
    describe,
    member_actions_sql,
    members_sql,
    plain_name,
    rel,
    suspicion_score,
    window_case,
)

# Edge columns used when present (NULL otherwise, e.g. peer semantics have no q-values).
OPTIONAL_EDGE_COLUMNS = {
    "object_types": "VARCHAR",
    "pairs": "BIGINT",
    "min_delay_s": "DOUBLE",
    "median_delay_s": "DOUBLE",
    "p_value": "DOUBLE",
    "q_value": "DOUBLE",
    "first_t": "TIMESTAMPTZ",
    "last_t": "TIMESTAMPTZ",
}
_counter = itertools.count(1)
_TEMP_TABLES = ("e", "nodes", "labels", "members0", "cand", "acts", "attached", "internal", "mact")
#: The density component's meaning when a cluster has attached members (_core_density).
DENSITY_AMONG_FOUND = "internal edges / possible pairs, among the members Leiden found"


@dataclass(frozen=True)
class ClusterParams:
    """What shapes a clustering; every value is recorded with the results."""

    min_size: int = 2  # communities smaller than this are dropped (singletons always)
    resolution: float = 1.0  # γ of RBConfiguration; 1 = modularity
    seed: int = 0
    n_iterations: int = 2  # Leiden passes; -1 = until the partition stops changing
    top_k: int = 5  # top objects per object type and cluster
    windows: Mapping[str, float] = field(default_factory=dict)  # co-action window (s) per type
    object_types: Sequence[str] | None = None  # activity counted in co-action shares

    def check(self) -> None:
        if self.min_size < 2:
            raise InvalidParams("min_size must be at least 2 (a cluster of one is no cluster).")
        if not self.resolution > 0:
            raise InvalidParams(f"resolution must be positive, not {self.resolution}.")
        if self.n_iterations == 0 or self.n_iterations < -1:
            raise InvalidParams("n_iterations must be ≥ 1, or -1 (until stable).")
        if self.top_k < 0:
            raise InvalidParams("top_k must be ≥ 0.")
        for t, w in self.windows.items():
            if t != "*":
                plain_name(t)
            if not w >= 0:
                raise InvalidParams(f"the window of {t} must be ≥ 0 s, not {w}.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": "leiden",
            "partition": "RBConfigurationVertexPartition",
            "min_size": self.min_size,
            "resolution": self.resolution,
            "seed": self.seed,
            "n_iterations": self.n_iterations,
            "top_k": self.top_k,
            "windows": dict(self.windows),
            "object_types": list(self.object_types) if self.object_types else None,
        }


@dataclass
class ClusterResult:
    """Names of the two result tables on ``con`` and what the clustering found."""

    con: duckdb.DuckDBPyConnection
    clusters: str  # CLUSTERS columns without run_id / clustering_run_id
    members: str  # CLUSTER_MEMBERS columns without run_id
    nodes: int = 0  # accounts in the network
    edges: int = 0
    communities: int = 0  # Leiden communities, before min_size
    clustered: int = 0  # accounts in kept clusters (attached ones included)
    modularity: float | None = None
    seconds: float = 0.0
    attach: AttachResult | None = None  # accounts attached by the group test (attach.py)
    _temp: list[str] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {self.clusters}").fetchall()[0][0])

    def summary(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "edges": self.edges,
            "communities": self.communities,
            "clusters": self.n_clusters,
            "clustered_accounts": self.clustered,
            # accounts of the network in no kept cluster (attached ones are not nodes)
            "dropped_accounts": self.nodes
            - self.clustered
            + (self.attach.attached if self.attach else 0),
            "modularity": self.modularity,
            "seconds": round(self.seconds, 3),
        } | ({"attach": self.attach.summary()} if self.attach else {})

    def close(self) -> None:
        for t in (*self._temp, self.clusters, self.members):
            self.con.execute(f"DROP TABLE IF EXISTS {t}")


def find_clusters(
    con: duckdb.DuckDBPyConnection,
    edges: str,
    *,
    actions: str = "actions",
    posts: str = "posts",
    params: ClusterParams | None = None,
    attach: AttachParams | None = None,
    candidate_edges: str | None = None,
) -> ClusterResult:
    """Cluster ``edges`` (a table name or a parenthesised SELECT with at least
    account_a, account_b, weight) and describe every cluster of ≥ ``min_size`` members.

    With ``attach``, accounts outside the clusters with edges (``candidate_edges``, of
    any significance; default ``edges``) to several members of one cluster are tested
    against it as a group and join it when significant (attach.py), before the
    clusters are described."""
    p = params or ClusterParams()
    p.check()
    started = time.perf_counter()
    pre = f"_csclu{next(_counter)}_"
    t = {k: pre + k for k in _TEMP_TABLES}
    res = ClusterResult(con, pre + "clusters", pre + "members", _temp=list(t.values()))
    try:
        _create(con, t["e"], _edge_sql(con, edges, p))
        _create(
            con,
            t["nodes"],
            f"""SELECT account_id, CAST(row_number() OVER (ORDER BY account_id) - 1 AS BIGINT)
                AS vid FROM (SELECT account_a AS account_id FROM {t["e"]}
                             UNION SELECT account_b FROM {t["e"]})""",
        )
        res.nodes = _scalar(con, f"SELECT count(*) FROM {t['nodes']}")
        arrs = con.sql(
            f"""SELECT na.vid AS a, nb.vid AS b, CAST(e.weight AS DOUBLE) AS w FROM {t["e"]} e
                JOIN {t["nodes"]} na ON na.account_id = e.account_a
                JOIN {t["nodes"]} nb ON nb.account_id = e.account_b ORDER BY a, b"""
        ).to_arrow_table()
        res.edges = arrs.num_rows
        cluster_of, res.communities, res.modularity = _leiden(arrs, res.nodes, p)
        keep = np.flatnonzero(cluster_of > 0)
        res.clustered = len(keep)
        _put(
            con,
            t["labels"],
            pa.table({"vid": pa.array(keep, pa.int64()), "cluster_id": cluster_of[keep]}),
        )
        _create(
            con,
            t["members0"],
            f"SELECT n.account_id, l.cluster_id FROM {t['labels']} l JOIN {t['nodes']} n USING (vid)",
        )
        # The actions of the members (and of the attachment's candidates), read once:
        # the attachment test, the co-action flags and the top objects all join actions
        # on these accounts, and three scans of every action cost more than the test.
        scope = f"SELECT account_id FROM {t['members0']}"
        cand_edges = candidate_edges or t["e"]
        if attach is not None:
            attach.check()
            _create(con, t["cand"], candidates_sql(cand_edges, t["members0"], attach.min_edges))
            scope += f" UNION ALL SELECT account_id FROM {t['cand']}"
        _create(con, t["acts"], f"SELECT * FROM {rel(actions)} WHERE account_id IN ({scope})")
        if attach is not None:
            res.attach = attach_members(
                con, cand_edges, t["members0"], t["acts"], attach, candidates=t["cand"]
            )
            joined = res.attach.table.filter(res.attach.table.column("attached"))
            _put(con, t["attached"], joined.select(["account_id", "cluster_id"]))
            con.execute(f"INSERT INTO {t['members0']} SELECT * FROM {t['attached']}")
            res.clustered += joined.num_rows
        _create(con, t["internal"], _internal_sql(t["e"], t["members0"]))
        types = _activity_types(con, t["internal"], p)
        _create(con, t["mact"], member_actions_sql(t["acts"], t["members0"], types, p.windows))
        _create(con, res.members, members_sql(t["e"], t["internal"], t["members0"], t["mact"]))
        table = describe(con, t, res.members, t["acts"], posts, p.top_k)
        if res.attach is not None and res.attach.attached:
            table = _core_density(con, t, table)
        _put(con, res.clusters, table)
    except BaseException:
        res.close()
        raise
    for name in t.values():
        con.execute(f"DROP TABLE IF EXISTS {name}")
    res._temp = []
    res.seconds = time.perf_counter() - started
    return res


def _leiden(arrs: pa.Table, n: int, p: ClusterParams) -> tuple[np.ndarray, int, float | None]:
    """Cluster ids per vertex (0 = not in a kept cluster), the number of communities and
    the modularity. Kept clusters are numbered 1, 2, ... by size (largest first), ties by
    their smallest account id, so ids are stable for the same input and seed."""
    if n == 0:
        return np.zeros(0, np.int64), 0, None
    pairs = np.column_stack([arrs.column("a").to_numpy(), arrs.column("b").to_numpy()]).astype(
        np.int64
    )
    g = ig.Graph(n=n, edges=pairs, directed=False)
    weights = arrs.column("w").to_numpy().astype(float).tolist()
    part = leidenalg.find_partition(
        g,
        leidenalg.RBConfigurationVertexPartition,
        weights=weights,
        resolution_parameter=p.resolution,
        n_iterations=p.n_iterations,
        seed=p.seed,
    )
    membership = np.asarray(part.membership, dtype=np.int64)
    sizes = np.bincount(membership)
    first = np.full(len(sizes), n, dtype=np.int64)
    np.minimum.at(first, membership, np.arange(n))
    kept = np.flatnonzero(sizes >= p.min_size)
    order = kept[np.lexsort((first[kept], -sizes[kept]))]
    new_id = np.zeros(len(sizes), dtype=np.int64)
    new_id[order] = np.arange(1, len(order) + 1)
    modularity = g.modularity(membership.tolist(), weights=weights) if pairs.size else None
    return new_id[membership], len(sizes), modularity


def _core_density(
    con: duckdb.DuckDBPyConnection, t: Mapping[str, str], table: pa.Table
) -> pa.Table:
    """Density (and its suspicion component) among the members Leiden found.

    An attached member joined on group evidence: by construction it has few or no
    significant edges to its cluster mates, so counting its pairs as missing edges
    would make a cluster look looser, and less suspicious, the more of an operation the
    attachment step finds (tests/warn/test_restart.py: a five-account troll farm, its
    fifth member attached, fell from suspicion 0.52 to 0.49, under cluster-new's 0.5,
    and was alerted a day later). Its own evidence is in the clustering's runs row."""
    core = dict(
        con.execute(
            f"""SELECT m.cluster_id, count(*) FROM {t["members0"]} m
                ANTI JOIN {t["attached"]} a USING (account_id) GROUP BY ALL"""
        ).fetchall()
    )
    core_edges = dict(
        con.execute(
            f"""SELECT cluster_id, count(*) FROM {t["internal"]}
                WHERE account_a NOT IN (SELECT account_id FROM {t["attached"]})
                  AND account_b NOT IN (SELECT account_id FROM {t["attached"]})
                GROUP BY ALL"""
        ).fetchall()
    )
    rows = table.to_pylist()
    for r in rows:
        n = int(core.get(r["cluster_id"], 0))
        if n == r["size"] or n < 2:
            continue
        r["density"] = 2 * int(core_edges.get(r["cluster_id"], 0)) / (n * (n - 1))
        comps = json.loads(r["suspicion_components"])
        value = min(1.0, max(0.0, r["density"]))
        comps["density"] |= {
            "value": round(value, 4),
            "contribution": round(value * comps["density"]["weight"], 4),
            "raw": float(f"{r['density']:.4g}"),
            "means": DENSITY_AMONG_FOUND,
        }
        r["suspicion_components"] = json.dumps(comps, ensure_ascii=False)
        r["suspicion"] = suspicion_score(comps)
    return pa.Table.from_pylist(rows, schema=table.schema)


def _edge_sql(con: duckdb.DuckDBPyConnection, edges: str, p: ClusterParams) -> str:
    rel = edges if edges.strip().startswith("(") else plain_name(edges, dotted=True)
    cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
    missing = {"account_a", "account_b", "weight"} - cols
    if missing:
        raise InvalidParams(f"The edges to cluster lack {', '.join(sorted(missing))}.")
    extra = ", ".join(
        f"CAST({c if c in cols else 'NULL'} AS {ty}) AS {c}"
        for c, ty in OPTIONAL_EDGE_COLUMNS.items()
    )
    # A multi-modal edge spans several types: its window is the widest of them.
    window = (
        "coalesce(list_max(list_transform(string_split(coalesce(object_types, ''), ','), "
        f"lambda x: {window_case('x', p.windows)})), {default_window(p.windows)!r})"
    )
    return f"""
    SELECT *, {window} AS window_s FROM (
      SELECT account_a, account_b, CAST(weight AS DOUBLE) AS weight, {extra}
      FROM {rel} WHERE account_a <> account_b AND weight > 0)
    """


def _internal_sql(e: str, members: str) -> str:
    return f"""
    SELECT ma.cluster_id, e.* FROM {e} e
    JOIN {members} ma ON ma.account_id = e.account_a
    JOIN {members} mb ON mb.account_id = e.account_b
    WHERE ma.cluster_id = mb.cluster_id
    """


def _activity_types(con: duckdb.DuckDBPyConnection, internal: str, p: ClusterParams) -> list[str]:
    if p.object_types:
        return [plain_name(x) for x in p.object_types]
    found = con.execute(
        f"""SELECT DISTINCT unnest(string_split(object_types, ',')) AS t FROM {internal}
            WHERE object_types IS NOT NULL ORDER BY t"""
    ).fetchall()
    return [plain_name(r[0]) for r in found if r[0]] or ["repost", "url", "hashtag"]


# -- small helpers ---------------------------------------------------------------------


def _create(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")


def _put(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    view = name + "_arrow"
    con.register(view, table)
    try:
        _create(con, name, f"SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0] or 0)
