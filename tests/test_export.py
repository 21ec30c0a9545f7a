"""Network and cluster exports: every format read back with its attributes, hostile
handles and ids surviving XML, formulas neutralised in CSV."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pyarrow.parquet as pq
import pytest

import civicsentry
from civicsentry.errors import InvalidParams
from civicsentry.export import export_network, to_igraph, to_networkx, write_clusters_csv
from civicsentry.service.clusters import cluster_run
from civicsentry.store import Workspace
from tests.detect.test_clusters import EDGES, add_detection, load_workspace

HOSTILE_HANDLE = '<script>&"\x0b]]>'  # \x0b cannot appear in XML 1.0, even escaped
HOSTILE_ID = "+evil<&>'"  # a formula start in CSV and every XML special character
# The scenario plus a pair with a hostile id (a cluster of its own).
EDGES_X = [*EDGES, (HOSTILE_ID, "zz", 3, "url", 5.0, 4.0, 1e-4)]


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = civicsentry.open(tmp_path / "ws.duckdb")
    load_workspace(w)
    w.con.execute("UPDATE accounts SET handle = ? WHERE account_id = 'a1'", [HOSTILE_HANDLE])
    w.con.execute("UPDATE accounts SET handle = '=HYPERLINK(\"x\")' WHERE account_id = 'a2'")
    w.con.execute("UPDATE accounts SET display_name = 'Ana 🇺🇸 & co' WHERE account_id = 'a3'")
    w.con.execute("UPDATE accounts SET handle = '[/]oops[red]' WHERE account_id = 'a4'")
    add_detection(w, EDGES_X)
    cluster_run(w)
    yield w
    w.close()


def _check_graph(g: nx.Graph, *, gexf: bool) -> None:
    assert g.number_of_nodes() == 12 and g.number_of_edges() == len(EDGES_X)
    a1 = g.nodes["a1"]
    # The control character is replaced, everything else survives escaping.
    assert a1["handle"] == '<script>&"\ufffd]]>'
    assert (a1["cluster"], a1["degree"], a1["strength"], a1["cluster_size"]) == (1, 4, 16.0, 4)
    assert 0 < a1["cluster_suspicion"] <= 1
    assert "repost P1 (2)" in a1["cluster_top_objects"]
    assert g.nodes["a3"]["display_name"] == "Ana 🇺🇸 & co"
    assert HOSTILE_ID in g.nodes and g.has_edge(HOSTILE_ID, "zz")
    e = g.edges["a1", "a2"]
    assert e["weight"] == 5 and e["pairs"] == 6 and e["q_value"] == 1e-12
    assert e["object_types"] == "repost,url" and e["significant"] is True
    assert e["network"] == "multi" and e["median_delay_s"] == 2.0
    if gexf:
        assert a1["label"] == '<script>&"\ufffd]]>'


def test_graphml_round_trip(ws: Workspace, tmp_path: Path) -> None:
    s = export_network(ws, tmp_path / "net.graphml")
    assert (s.format, s.edges, s.network) == ("graphml", len(EDGES_X), "multi")
    g = nx.read_graphml(tmp_path / "net.graphml")
    _check_graph(g, gexf=False)
    assert "run 1" in g.graph["description"]


def test_gexf_round_trip(ws: Workspace, tmp_path: Path) -> None:
    export_network(ws, tmp_path / "out" / "net.gexf")
    g = nx.read_gexf(tmp_path / "out" / "net.gexf")
    _check_graph(g, gexf=True)


def test_csv_and_parquet_edge_lists(ws: Workspace, tmp_path: Path) -> None:
    export_network(ws, tmp_path / "net.csv")
    with open(tmp_path / "net.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["account_a", "account_b", "weight"]
    assert len(rows) == len(EDGES_X)
    assert "'" + HOSTILE_ID in {r["account_a"] for r in rows}  # formula neutralised
    assert all(r["account_a"] < r["account_b"] for r in rows if not r["account_a"].startswith("'"))
    export_network(ws, tmp_path / "net.data", fmt="parquet")
    t = pq.read_table(tmp_path / "net.data")
    assert t.column_names[:3] == ["account_a", "account_b", "weight"] and t.num_rows == len(EDGES_X)
    assert HOSTILE_ID in t.column("account_a").to_pylist()  # Parquet keeps values as they are


def test_unknown_format(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="graphml"):
        export_network(ws, tmp_path / "net.xlsx")


def test_clusters_csv(ws: Workspace, tmp_path: Path) -> None:
    r = write_clusters_csv(ws, tmp_path / "clusters.csv")
    assert r.rows == 12 and r.run_id == 1
    with open(tmp_path / "clusters.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:2] == ["account_id", "cluster_id"]
    by_id = {x["account_id"]: x for x in rows}
    assert by_id["a2"]["handle"] == '\'=HYPERLINK("x")'
    assert "'" + HOSTILE_ID in by_id
    assert by_id["a1"]["cluster_id"] == "1" and by_id["a1"]["cluster_size"] == "4"
    assert 0 < float(by_id["a1"]["cluster_suspicion"]) <= 1


def test_python_graph_objects(ws: Workspace) -> None:
    g = to_networkx(ws)
    assert g.graph["run_id"] == 1 and g.nodes["a1"]["handle"] == HOSTILE_HANDLE
    assert g.edges["b1", "b2"]["weight"] == 4 and g.nodes["c1"]["cluster"] == 4
    ig = to_igraph(ws)
    assert (ig.vcount(), ig.ecount()) == (12, len(EDGES_X))
    v = ig.vs.find(name="a1")
    assert v["cluster"] == 1 and v["degree"] == 4 and v.degree() == 4
    e = ig.es[ig.get_eid(v.index, ig.vs.find(name="a2").index)]
    assert e["weight"] == 5 and e["q_value"] == 1e-12


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    # The clusters commands registered explicitly, as `civicsentry` will once wired.
    code = "from civicsentry.cli import clusters, main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_cli_clusters(ws: Workspace, tmp_path: Path) -> None:
    path = ws.path
    ws.close()  # the CLI opens the workspace itself
    listed = cli("clusters", "list", "-w", path, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert rows[0]["cluster_id"] == 1 and set(rows[0]["suspicion_components"]) >= {"density"}
    text = cli("clusters", "list", "-w", path)
    assert (
        "Suspicion is a triage aid, not proof" in text.stdout and "repost 6, url 6" in text.stdout
    )
    shown = cli("clusters", "show", "1", "-w", path, "--members", "0")
    assert shown.returncode == 0, shown.stderr
    # Hostile handles are printed as text, never read as rich markup.
    assert '<script>&"' in shown.stdout and "[/]oops[red]" in shown.stdout
    assert "coaction_share" in shown.stdout and "Parent one" in shown.stdout
    out_csv = tmp_path / "c.csv"
    exported = cli("clusters", "export", str(out_csv), "-w", path)
    assert exported.returncode == 0 and out_csv.read_text(encoding="utf-8").startswith(
        "account_id,cluster_id"
    )
    built = json.loads(cli("clusters", "build", "-w", path, "--min-size", "3", "--json").stdout)
    assert built["clusters"] == 2 and built["params"]["min_size"] == 3
    missing = cli("clusters", "show", "99", "-w", path)
    assert missing.returncode == 2
    assert (
        missing.stderr
        == "Error: Run 1 has no cluster 99; `civicsentry clusters list` shows them.\n"
    )
