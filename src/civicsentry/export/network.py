"""A detection run's coordination network as files (CSV, Parquet, GraphML, GEXF) and as
networkx / igraph objects, with the node and edge attributes that help in Gephi.

Nodes are the accounts of the chosen network (default: the run's significant
multi-modal edges): ``handle``, ``display_name``, ``cluster`` (from ``clusters build``;
missing when unclustered), ``cluster_size``, ``cluster_suspicion``,
``cluster_top_objects``, ``degree`` and ``strength`` in the exported network, and the
account's ``coaction_share``. Edges carry ``weight``, ``pairs``, ``weight_pop``,
``min_delay_s``, ``median_delay_s``, ``first_t``, ``last_t``, ``object_types``,
``p_value``, ``q_value``, ``significant``, ``capped`` and ``network``.
CSV and Parquet are the edge list of ``service.detect.export_network`` (one definition).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import igraph as ig
import pyarrow as pa

from ..errors import InvalidParams
from ..service import clusters as _clusters
from ..service import detect as _detect
from ..store import Workspace
from .xmlgraph import Row, Schema, kind_of, write_gexf, write_graphml

if TYPE_CHECKING:  # imported where used: every CLI command would load it (~0.1 s)
    import networkx as nx

FORMATS = ("csv", "parquet", "graphml", "gexf")
EDGE_ATTRIBUTES = (
    "weight",
    "pairs",
    "weight_pop",
    "min_delay_s",
    "median_delay_s",
    "first_t",
    "last_t",
    "object_types",
    "p_value",
    "q_value",
    "significant",
    "capped",
)
TOP_OBJECTS_SHOWN = 5


@dataclass(frozen=True)
class NetworkData:
    """One network of a run: a node table (``account_id`` + attributes) and an edge
    table (``account_a`` < ``account_b`` + attributes), both Arrow."""

    run_id: int
    network: str
    semantics: str
    nodes: pa.Table
    edges: pa.Table

    def node_schema(self) -> Schema:
        return [(f.name, kind_of(f.type)) for f in self.nodes.schema if f.name != "account_id"]

    def edge_schema(self) -> Schema:
        skip = ("account_a", "account_b")
        return [(f.name, kind_of(f.type)) for f in self.edges.schema if f.name not in skip]

    def node_rows(self) -> Iterator[Row]:
        for batch in self.nodes.to_batches(max_chunksize=20_000):
            for r in batch.to_pylist():
                yield r["account_id"], r.get("handle") or r["account_id"], r

    def edge_rows(self) -> Iterator[Row]:
        for batch in self.edges.to_batches(max_chunksize=20_000):
            for r in batch.to_pylist():
                yield r["account_a"], r["account_b"], r

    @property
    def description(self) -> str:
        return (
            f"CivicSentry coordination network: run {self.run_id}, {self.semantics} semantics, "
            f"network {self.network}. Apparent coordination may be coincidence; see "
            "docs/clusters.md."
        )


def network_data(
    ws: Workspace,
    run_id: int | None = None,
    *,
    network: str | None = None,
    all_edges: bool = False,
) -> NetworkData:
    """The nodes and edges of a run's network (default: the latest run, ``multi``,
    significant edges only where the run tested them)."""
    rid, semantics, types, _ = _clusters.detection_run(ws, run_id)
    net = network or _detect.default_network(semantics, types)
    rel = _detect.edges(ws, run_id=rid, network=net, all_edges=all_edges)
    cols = ["account_a", "account_b", *(c for c in EDGE_ATTRIBUTES if c in rel.columns)]
    edges = rel.select(*cols).to_arrow_table()
    edges = edges.append_column("network", pa.array([net] * edges.num_rows, pa.string()))
    view = "_cs_export_edges"
    ws.con.register(view, edges)
    try:
        nodes = ws.sql(_nodes_sql(view), params=[rid]).to_arrow_table()
    finally:
        ws.con.unregister(view)
    return NetworkData(rid, net, semantics, _with_top_objects(ws, nodes, rid), edges)


def _nodes_sql(edges: str) -> str:
    return f"""
    WITH d AS (
      SELECT account_id, count(*) AS degree, CAST(sum(weight) AS DOUBLE) AS strength
      FROM (SELECT account_a AS account_id, weight FROM {edges}
            UNION ALL SELECT account_b, weight FROM {edges})
      GROUP BY account_id
    )
    SELECT d.account_id, a.handle, a.display_name, m.cluster_id AS cluster,
           c.size AS cluster_size, c.suspicion AS cluster_suspicion, m.coaction_share,
           CAST(d.degree AS BIGINT) AS degree, d.strength
    FROM d LEFT JOIN accounts a ON a.account_id = d.account_id
    LEFT JOIN cluster_members m ON m.run_id = ? AND m.account_id = d.account_id
    LEFT JOIN clusters c ON c.run_id = m.run_id AND c.cluster_id = m.cluster_id
    ORDER BY d.account_id
    """


def _with_top_objects(ws: Workspace, nodes: pa.Table, run_id: int) -> pa.Table:
    """Adds ``cluster_top_objects``: a one-line summary of the cluster's top objects."""
    ids = sorted({c for c in nodes.column("cluster").to_pylist() if c is not None})
    summary: dict[int, str] = {}
    if ids:
        rows = ws.con.execute(
            "SELECT cluster_id, top_objects FROM clusters WHERE run_id = ? "
            "AND list_contains(?, cluster_id)",
            [run_id, ids],
        ).fetchall()
        summary = {cid: top_objects_line(json.loads(top or "{}")) for cid, top in rows}
    line = [summary.get(c) if c is not None else None for c in nodes.column("cluster").to_pylist()]
    at = nodes.schema.get_field_index("cluster_suspicion") + 1
    return nodes.add_column(at, "cluster_top_objects", pa.array(line, pa.string()))


def top_objects_line(top: dict[str, list[dict[str, Any]]], limit: int = TOP_OBJECTS_SHOWN) -> str:
    """``{"url": [{"object": ..., "members": 9}], ...}`` -> ``url https://… (9); ...``,
    the first object of each type, most members first (texts shown by their label)."""
    firsts = [(t, items[0]) for t, items in top.items() if items]
    # Most members first; on ties the more telling types first, domains last.
    rank = {t: i for i, t in enumerate(("repost", "url", "text", "hashtag", "quote", "reply"))}
    firsts.sort(key=lambda x: (-int(x[1].get("members", 0)), rank.get(x[0], len(rank)), x[0]))
    parts = []
    for t, item in firsts[:limit]:
        shown = item.get("label") if t == "text" and item.get("label") else item["object"]
        shown = " ".join(str(shown).split())
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        parts.append(f"{t} {shown} ({item.get('members')})")
    return "; ".join(parts)


# -- files ------------------------------------------------------------------------------


def export_network(
    ws: Workspace,
    path: str | Path,
    *,
    fmt: str | None = None,
    run_id: int | None = None,
    network: str | None = None,
    all_edges: bool = False,
) -> _detect.ExportSummary:
    """Write a run's network as csv, parquet, graphml or gexf (default: from the suffix)."""
    out = Path(path)
    fmt = (fmt or out.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise InvalidParams(f"Unknown network format {fmt!r}: use {', '.join(FORMATS)}.")
    if fmt in ("csv", "parquet"):
        return _detect.export_network(
            ws, out, fmt=fmt, run_id=run_id, network=network, all_edges=all_edges
        )
    data = network_data(ws, run_id, network=network, all_edges=all_edges)
    out.parent.mkdir(parents=True, exist_ok=True)
    write = write_graphml if fmt == "graphml" else write_gexf
    _, n_edges = write(
        out,
        data.node_schema(),
        data.node_rows(),
        data.edge_schema(),
        data.edge_rows(),
        description=data.description,
    )
    return _detect.ExportSummary(str(out), fmt, data.run_id, data.network, n_edges)


# -- Python objects ---------------------------------------------------------------------


def to_networkx(
    ws: Workspace,
    run_id: int | None = None,
    *,
    network: str | None = None,
    all_edges: bool = False,
) -> nx.Graph:
    """The network as an undirected ``networkx.Graph`` (missing attributes left out)."""
    import networkx as nx

    data = network_data(ws, run_id, network=network, all_edges=all_edges)
    g = nx.Graph(run_id=data.run_id, network=data.network, semantics=data.semantics)
    for node_id, _, attrs in data.node_rows():
        g.add_node(
            node_id, **{k: v for k, v in attrs.items() if k != "account_id" and v is not None}
        )
    for a, b, attrs in data.edge_rows():
        skip = ("account_a", "account_b")
        g.add_edge(a, b, **{k: v for k, v in attrs.items() if k not in skip and v is not None})
    return g


def to_igraph(
    ws: Workspace,
    run_id: int | None = None,
    *,
    network: str | None = None,
    all_edges: bool = False,
) -> ig.Graph:
    """The network as an undirected ``igraph.Graph``; vertex ``name`` is the account id."""
    data = network_data(ws, run_id, network=network, all_edges=all_edges)
    names = data.nodes.column("account_id").to_pylist()
    index = {n: i for i, n in enumerate(names)}
    a = data.edges.column("account_a").to_pylist()
    b = data.edges.column("account_b").to_pylist()
    g = ig.Graph(n=len(names), edges=[(index[x], index[y]) for x, y in zip(a, b, strict=True)])
    g["run_id"], g["network"], g["semantics"] = data.run_id, data.network, data.semantics
    g.vs["name"] = names
    for col in data.nodes.column_names:
        if col != "account_id":
            g.vs[col] = data.nodes.column(col).to_pylist()
    for col in data.edges.column_names:
        if col not in ("account_a", "account_b"):
            g.es[col] = data.edges.column(col).to_pylist()
    return g
