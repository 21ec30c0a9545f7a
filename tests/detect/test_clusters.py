"""Clusters: Leiden communities and their statistics on tiny hand-built networks whose
expected clusters are written beside them; then the service that stores them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import civicsentry
from civicsentry.detect.cluster_stats import WEIGHTS, member_actions_sql
from civicsentry.detect.clusters import ClusterParams, find_clusters
from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.service import clusters as service
from civicsentry.store import Workspace

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WINDOWS = {"repost": 60.0, "url": 60.0, "hashtag": 60.0}

# Scenario "two cells, a bridge and a pair":
#   A = a1..a4, every pair linked (weight 5, repost+url, 2 s, q 1e-12)
#   B = b1..b4, every pair linked (weight 4, repost, 30 s, q 1e-3)
#   C = c1-c2 (weight 2, hashtag, 50 s, q 0.04)
#   bridge a1-b1 (weight 1, url)
# Expected clusters: 1 = A (4, smallest account a1), 2 = B (4), 3 = C (2).
CLIQUE_A = ["a1", "a2", "a3", "a4"]
CLIQUE_B = ["b1", "b2", "b3", "b4"]


def _pairs(xs: list[str]) -> list[tuple[str, str]]:
    return [(x, y) for i, x in enumerate(xs) for y in xs[i + 1 :]]


EDGES = (
    [(a, b, 5, "repost,url", 2.0, 1.0, 1e-12) for a, b in _pairs(CLIQUE_A)]
    + [(a, b, 4, "repost", 30.0, 20.0, 1e-3) for a, b in _pairs(CLIQUE_B)]
    + [("c1", "c2", 2, "hashtag", 50.0, 40.0, 0.04), ("a1", "b1", 1, "url", 10.0, 10.0, 0.01)]
)

# (account, type, object, seconds after T0, post id, text)
ACTIONS = [
    ("a1", "repost", "P1", 0, "pa1", None),  # a1 shares P1 twice; a2 is 30 s after the
    ("a1", "repost", "P1", 5, "pa2", None),  # second share: both of a1's are co-actions
    ("a2", "repost", "P1", 30, "pa3", None),
    ("a3", "repost", "P2", 0, "pa4", None),  # 120 s apart: no co-action (window 60 s)
    ("a4", "repost", "P2", 120, "pa5", None),
    ("a1", "url", "https://u1", 1000, "pa6", None),  # a1 and a3 on U1, 4,000 s apart
    ("a3", "url", "https://u1", 5000, "pa7", None),
    ("b1", "hashtag", "h1", 0, "pb1", None),  # across clusters: not a co-action inside one
    ("a1", "hashtag", "h1", 10, "pa8", None),
    ("a2", "text", "k1", 0, "pa9", "Same <b>text</b>"),  # text is not a detected type
    ("a3", "text", "k1", 10, "pa10", "Same <b>text</b>!"),
]
PARENTS = [("P1", "z1", "Parent one"), ("P2", "z1", "Parent two")]


def _load(con: duckdb.DuckDBPyConnection, edges: list[tuple] = EDGES) -> None:
    con.execute(
        """CREATE OR REPLACE TABLE edges (account_a VARCHAR, account_b VARCHAR, weight BIGINT,
           object_types VARCHAR, median_delay_s DOUBLE, min_delay_s DOUBLE, q_value DOUBLE,
           p_value DOUBLE, first_t TIMESTAMPTZ, last_t TIMESTAMPTZ)"""
    )
    for a, b, w, types, med, mn, q in edges:
        con.execute(
            "INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [a, b, w, types, med, mn, q, q / 10, T0, T0 + timedelta(hours=1)],
        )
    acts = pa.table(
        {
            "account_id": [r[0] for r in ACTIONS],
            "object_type": [r[1] for r in ACTIONS],
            "object_id": [r[2] for r in ACTIONS],
            "t": pa.array(
                [T0 + timedelta(seconds=r[3]) for r in ACTIONS], pa.timestamp("us", "UTC")
            ),
            "post_id": [r[4] for r in ACTIONS],
        }
    )
    posts = pa.table(
        {
            "post_id": [r[4] for r in ACTIONS] + [p[0] for p in PARENTS],
            "account_id": [r[0] for r in ACTIONS] + [p[1] for p in PARENTS],
            "created_at": pa.array(
                [T0 + timedelta(seconds=r[3]) for r in ACTIONS] + [T0] * len(PARENTS),
                pa.timestamp("us", "UTC"),
            ),
            "text": [r[5] for r in ACTIONS] + [p[2] for p in PARENTS],
        }
    )
    for name, table in (("actions", acts), ("posts", posts)):
        con.register("_t", table)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _t")
        con.unregister("_t")


@pytest.fixture
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    _load(c)
    yield c
    c.close()


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[dict]:
    rel = con.sql(f"SELECT * FROM {table}")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def _run(con: duckdb.DuckDBPyConnection, **kw: object) -> tuple[dict[int, dict], dict[str, dict]]:
    res = find_clusters(con, "edges", params=ClusterParams(windows=WINDOWS, **kw))  # type: ignore[arg-type]
    clusters = {r["cluster_id"]: r for r in _rows(con, res.clusters)}
    members = {r["account_id"]: r for r in _rows(con, res.members)}
    res.close()
    return clusters, members


def test_communities_are_the_planted_cells(db: duckdb.DuckDBPyConnection) -> None:
    clusters, members = _run(db)
    groups = {
        cid: sorted(a for a, m in members.items() if m["cluster_id"] == cid) for cid in clusters
    }
    assert groups == {1: CLIQUE_A, 2: CLIQUE_B, 3: ["c1", "c2"]}
    assert [clusters[i]["size"] for i in (1, 2, 3)] == [4, 4, 2]


def test_min_size_drops_small_communities(db: duckdb.DuckDBPyConnection) -> None:
    clusters, members = _run(db, min_size=3)
    assert sorted(clusters) == [1, 2]
    assert "c1" not in members


def test_same_seed_same_clusters(db: duckdb.DuckDBPyConnection) -> None:
    first, m1 = _run(db, seed=7)
    again, m2 = _run(db, seed=7)
    assert {a: m["cluster_id"] for a, m in m1.items()} == {
        a: m["cluster_id"] for a, m in m2.items()
    }
    assert [c["suspicion"] for c in first.values()] == [c["suspicion"] for c in again.values()]


def test_cluster_statistics(db: duckdb.DuckDBPyConnection) -> None:
    clusters, _ = _run(db)
    a, b, c = clusters[1], clusters[2], clusters[3]
    assert (a["edges"], a["density"], a["weight"], a["external_edges"]) == (6, 1.0, 30.0, 1)
    assert (b["external_edges"], c["external_edges"], c["density"]) == (1, 0, 1.0)
    assert json.loads(a["modalities"]) == {"repost": 6, "url": 6}
    assert json.loads(c["modalities"]) == {"hashtag": 1}
    delays = json.loads(b["delays"])
    assert delays["p50"] == 30.0 and delays["min"] == 20.0 and delays["edges"] == 6
    # 9 posts by A's members in the first hour, a3's URL share in the second.
    assert json.loads(a["timeline"]) == {"2024-01-01T00:00Z": 9, "2024-01-01T01:00Z": 1}
    assert a["objects"] == 1  # only P1 was co-acted on within the window
    assert a["coaction_share"] == pytest.approx((0.5 + 1 + 0 + 0) / 4)


def test_member_degrees_and_coaction_shares(db: duckdb.DuckDBPyConnection) -> None:
    _, m = _run(db)
    a1 = m["a1"]
    assert (a1["degree"], a1["strength"], a1["degree_total"], a1["strength_total"]) == (
        3,
        15,
        4,
        16,
    )
    # a1: P1 twice (both within 60 s of a2, the repeat does not hide a2), U1 and h1 alone.
    assert (a1["actions"], a1["coactions"], a1["coaction_share"]) == (4, 2, 0.5)
    assert (m["a2"]["coactions"], m["a3"]["coactions"], m["a4"]["coactions"]) == (1, 0, 0)
    assert m["b1"]["coaction_share"] == 0  # its h1 share meets a1, who is in another cluster


def test_top_objects_with_labels(db: duckdb.DuckDBPyConnection) -> None:
    clusters, _ = _run(db)
    top = json.loads(clusters[1]["top_objects"])
    assert [o["object"] for o in top["repost"]] == ["P1", "P2"]
    assert top["repost"][0] == {"object": "P1", "members": 2, "shares": 3, "label": "Parent one"}
    assert top["url"] == [{"object": "https://u1", "members": 2, "shares": 2}]
    # A text is shown by a member's post, not by its md5 key.
    assert top["text"][0]["label"] in ("Same <b>text</b>", "Same <b>text</b>!")
    assert "hashtag" not in top  # h1 had one member of A


def test_suspicion_components_are_explained_and_in_range(db: duckdb.DuckDBPyConnection) -> None:
    clusters, _ = _run(db)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    for c in clusters.values():
        comps = json.loads(c["suspicion_components"])
        assert set(comps) == set(WEIGHTS)
        for v in comps.values():
            # C's members have no actions at all: its co-action share is unknown (None).
            assert v["value"] is None or 0 <= v["value"] <= 1
            assert {"weight", "contribution", "raw", "means"} <= set(v)
        assert c["suspicion"] == pytest.approx(
            sum(v["contribution"] for v in comps.values()), abs=1e-3
        )
        assert 0 <= c["suspicion"] <= 1
    a = json.loads(clusters[1]["suspicion_components"])
    assert all(v["value"] is not None for v in a.values())
    assert a["density"]["value"] == 1.0 and a["significance"]["value"] == 1.0  # q 1e-12
    assert a["speed"]["value"] == pytest.approx(1 - 2 / 60, abs=1e-3)
    # The fast, strongly significant cell ranks above the slow, barely significant pair.
    assert clusters[1]["suspicion"] > clusters[3]["suspicion"]


def test_missing_significance_scores_zero_not_an_error(db: duckdb.DuckDBPyConnection) -> None:
    db.execute("UPDATE edges SET q_value = NULL, p_value = NULL")
    clusters, _ = _run(db)
    comps = json.loads(clusters[1]["suspicion_components"])
    assert comps["significance"]["value"] is None and comps["significance"]["contribution"] == 0


def test_minimal_edges_and_empty_network(db: duckdb.DuckDBPyConnection) -> None:
    res = find_clusters(db, "(SELECT account_a, account_b, weight FROM edges)")
    assert res.summary()["clusters"] == 3
    res.close()
    res = find_clusters(db, "(SELECT * FROM edges WHERE false)")
    assert res.summary() | {"seconds": 0} == {
        "nodes": 0, "edges": 0, "communities": 0, "clusters": 0, "clustered_accounts": 0,
        "dropped_accounts": 0, "modularity": None, "seconds": 0,
    }  # fmt: skip
    res.close()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"min_size": 1}, "min_size"),
        ({"resolution": 0}, "resolution"),
        ({"n_iterations": 0}, "n_iterations"),
        ({"windows": {"bad type": 1}}, "plain name"),
    ],
)
def test_bad_parameters(db: duckdb.DuckDBPyConnection, kw: dict, message: str) -> None:
    with pytest.raises(InvalidParams, match=message):
        find_clusters(db, "edges", params=ClusterParams(**kw))


def test_edges_without_the_needed_columns(db: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InvalidParams, match="weight"):
        find_clusters(db, "(SELECT account_a, account_b FROM edges)")
    with pytest.raises(InvalidParams, match="plain name"):
        find_clusters(db, "edges; DROP TABLE posts")


# -- the service: stored per detection run ------------------------------------------------


def add_detection(ws: Workspace, edges: list[tuple] = EDGES) -> int:
    """A detection run as the detect service stores it, with the scenario's edges."""
    rid = ws.next_id("runs", "run_id")
    params = {"semantics": "civicsentry", "object_types": ["repost", "url", "hashtag"]}
    summary = {"windows": {t: {"seconds": s} for t, s in WINDOWS.items()}}
    ws.con.execute(
        "INSERT INTO runs VALUES (?, 'detect', 'coordination', ?, '0', now(), now(), ?)",
        [rid, json.dumps(params), json.dumps(summary)],
    )
    for a, b, w, types, med, mn, q in edges:
        ws.con.execute(
            """INSERT INTO edges_wide (run_id, semantics, object_type, account_a,
               account_b, weight, pairs, object_types, median_delay_s, min_delay_s, p_value,
               q_value, significant, first_t, last_t)
               VALUES (?, 'civicsentry', 'multi', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [rid, a, b, w, w + 1, types, med, mn, q / 10, q, q <= 0.05, T0, T0],
        )
    return rid


def load_workspace(ws: Workspace) -> None:
    """The scenario's posts, accounts and actions in a workspace."""
    con = duckdb.connect()
    _load(con)
    acts = con.sql("SELECT * FROM actions").to_arrow_table()
    posts = con.sql("SELECT * FROM posts").to_arrow_table()
    con.close()
    ws.con.register("_a", acts)
    ws.con.register("_p", posts)
    ws.con.execute("INSERT INTO actions SELECT * FROM _a")
    ws.con.execute(
        "INSERT INTO posts (post_id, platform, account_id, created_at, kind, text) "
        "SELECT post_id, 'x', account_id, created_at, 'post', text FROM _p"
    )
    ws.con.execute(
        "INSERT INTO accounts (account_id, platform, handle) "
        "SELECT DISTINCT account_id, 'x', 'h_' || account_id FROM _p"
    )
    ws.con.unregister("_a")
    ws.con.unregister("_p")


def test_cluster_run_stores_and_reads(tmp_path: Path) -> None:
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        load_workspace(ws)
        rid = add_detection(ws)
        s = service.cluster_run(ws)
        assert (s.run_id, s.network, s.clusters, s.clustered_accounts) == (rid, "multi", 3, 10)
        assert s.params["windows"] == WINDOWS and s.params["detection_run_id"] == rid
        top = service.top_clusters(ws, limit=2)
        assert [c["cluster_id"] for c in top] == [1, 2]  # A is the most suspicious
        assert isinstance(top[0]["suspicion_components"], dict) and "timeline" not in top[0]
        detail = service.cluster_detail(ws, 1)
        assert detail["timeline"] and detail["members"][0]["account_id"] == "a1"
        assert detail["members"][0]["handle"] == "h_a1"
        with pytest.raises(InvalidParams, match="no cluster 9"):
            service.cluster_detail(ws, 9)


def test_reclustering_replaces_only_that_run(tmp_path: Path) -> None:
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        load_workspace(ws)
        first = add_detection(ws)
        service.cluster_run(ws, first)
        second = add_detection(ws, EDGES[:6])  # only cell A
        service.cluster_run(ws, second)
        service.cluster_run(ws, first, min_size=3)
        counts = dict(ws.sql("SELECT run_id, count(*) FROM clusters GROUP BY 1").fetchall())
        assert counts == {first: 2, second: 1}
        members = ws.scalar("SELECT count(*) FROM cluster_members WHERE run_id = ?", [first])
        assert members == 8
        steps = ws.sql("SELECT step FROM runs ORDER BY run_id").fetchall()
        assert [r[0] for r in steps].count("cluster") == 3  # every clustering is recorded


def test_service_errors_name_the_fix(tmp_path: Path) -> None:
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InvalidParams, match="civicsentry detect"):
            service.cluster_run(ws)
        rid = add_detection(ws)
        with pytest.raises(WorkspaceError, match=f"clusters build --run {rid}"):
            service.top_clusters(ws)
        with pytest.raises(InvalidParams, match="not a detection run"):
            service.cluster_run(ws, 999)


def test_two_shares_in_the_same_instant_are_not_their_own_neighbours() -> None:
    # Member A shares each object twice in the same microsecond; member B shares it
    # 10,000 s later, far outside the 60 s window. No share co-acts. Before the order of
    # the windows was fixed once, DuckDB could sort A's two shares differently in two
    # windows and ~1 in 3 of these rows came out `coact` (a different number each run).
    rows = []
    for i in range(3000):
        rows += [("A", f"o{i}", 0, f"p{i}a"), ("A", f"o{i}", 0, f"p{i}b")]
        rows += [("B", f"o{i}", 10_000, f"p{i}c")]
    # ... and one object where B follows within the window: all three co-act.
    rows += [("A", "near", 0, "n1"), ("A", "near", 0, "n2"), ("B", "near", 30, "n3")]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 2")
    con.register(
        "acts",
        pa.table(
            {
                "account_id": [r[0] for r in rows],
                "object_type": ["repost"] * len(rows),
                "object_id": [r[1] for r in rows],
                "t": pa.array(
                    [T0 + timedelta(seconds=r[2]) for r in rows], pa.timestamp("us", "UTC")
                ),
                "post_id": [r[3] for r in rows],
            }
        ),
    )
    con.execute("CREATE TABLE members AS SELECT 1 AS cluster_id, 'A' AS account_id")
    con.execute("INSERT INTO members VALUES (1, 'B')")
    sql = member_actions_sql("acts", "members", ["repost"], {"repost": 60.0})
    flagged = con.execute(
        f"SELECT object_id, count(*) FROM ({sql}) WHERE coact GROUP BY 1"
    ).fetchall()
    assert flagged == [("near", 3)]
