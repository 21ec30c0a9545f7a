"""Attachment of accounts to clusters by the group test (detect/attach.py), on tiny
hand-built scenarios whose answers are written beside them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import civicsentry
from civicsentry.detect import CoordinationParams, detect_coordination
from civicsentry.detect.attach import (
    AttachParams,
    attach_members,
    object_chances,
    timing_pvalues,
)
from civicsentry.detect.clusters import ClusterParams, find_clusters
from civicsentry.errors import InvalidParams
from civicsentry.service import clusters as service

from .conftest import load, shares

W, D = 60.0, 600.0  # window and jitter (s)
CELL = [f"m{i}" for i in range(1, 7)]  # the detected cluster, id 1

# Scenario "a quiet member, a busy bystander and a viral rider" (one type, repost):
#   o1..o6: every cell member shares o_i at T_i + 0, 5, ..., 25 s; X at T_i + 30 s.
#     X's delays to the cell are −30..−5 s, so I_o = [−90, 55], p_o = 145 / 1200 on each
#     of 6 objects, all co-acted: X must attach (K = 6 where 0.725 is expected).
#   f1..f100: one member shares f_j, Y shares it at an offset spread evenly over
#     ±590 s: about one in ten lands within the window, as chance says (E[K] ≈ K).
#     Y has edges to all six members and more co-acted objects than X: it must not.
#   b1..b8: tight bursts — the cell at V_j + 0..50 s, 60 other accounts within 2 min,
#     Z at V_j + 20 s; Z also shares 400 posts nobody else does. Timing alone is fooled
#     (a burst shorter than D), but Z is 68 times as active as X: the choice null
#     expects its eight co-actions, so Z must not attach either.
T = [10_000.0 * i for i in range(1, 7)]
U = [100_000.0 + 5_000.0 * j for j in range(100)]
OFFSET = [-590.0 + j * 1180.0 / 99 for j in range(100)]
V = [700_000.0 + 10_000.0 * j for j in range(8)]


def _scenario() -> list[tuple[str, str, float]]:
    rows = []
    for i, t in enumerate(T, 1):
        rows += [(m, f"o{i}", t + 5.0 * k) for k, m in enumerate(CELL)]
        rows.append(("X", f"o{i}", t + 30.0))
    for j, (u, off) in enumerate(zip(U, OFFSET, strict=True)):
        rows += [(CELL[j % 6], f"f{j}", u), ("Y", f"f{j}", u + off)]
    for j, v in enumerate(V):
        rows += [(m, f"b{j}", v + 10.0 * k) for k, m in enumerate(CELL)]
        rows += [(f"z{k}", f"b{j}", v + 2.0 * k) for k in range(60)]
        rows.append(("Z", f"b{j}", v + 20.0))
    rows += [("Z", f"s{j}", 2_000_000.0 + 600.0 * j) for j in range(400)]
    return rows


# Totals of the platform the cell lives on (the choice null's S and P): 10⁵ shares and
# 4.5·10⁵ share pairs compared by the sweep (stored per popularity class; the test
# pools them). The cell has 184 shares, so X (6 shares) expects 0.099 co-acting share
# pairs with it, Z (408 shares) 6.8.
ALIGNED = {1: 400_000, 2: 50_000}


def _params(**kw: object) -> AttachParams:
    base: dict[str, object] = {
        "object_types": ["repost"],
        "windows": {"repost": W},
        "jitter": {"repost": D},
        "shares": {"repost": 100_000},
        "aligned": {"repost": ALIGNED},
    }
    return AttachParams(**(base | kw))  # type: ignore[arg-type]


@pytest.fixture
def db(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    load(con, shares(_scenario()))
    con.execute(
        "CREATE TABLE members AS SELECT unnest(?) AS account_id, 1::BIGINT AS cluster_id",
        [CELL],
    )
    # Stored edges (any significance): the cell's own, X to three members, Y and Z to
    # all six, W to one (W is no candidate: one edge is pairwise evidence only).
    pairs = [(a, b) for i, a in enumerate(CELL) for b in CELL[i + 1 :]]
    pairs += [("X", m) for m in CELL[:3]] + [("Y", m) for m in CELL] + [("Z", m) for m in CELL]
    pairs += [("W", "m1")]
    con.register(
        "_e", pa.table({"account_a": [a for a, _ in pairs], "account_b": [b for _, b in pairs]})
    )
    con.execute("CREATE TABLE all_edges AS SELECT * FROM _e")
    return con


def _by_account(res_table: pa.Table) -> dict[str, dict[str, object]]:
    return {r["account_id"]: r for r in res_table.to_pylist()}


def test_quiet_member_attaches_busy_and_viral_accounts_do_not(
    db: duckdb.DuckDBPyConnection,
) -> None:
    res = attach_members(db, "all_edges", "members", "actions", _params())
    rows = _by_account(res.table)
    assert set(rows) == {"X", "Y", "Z"}  # members and W are never tested
    assert res.candidates == 3 and res.attached == 1 and res.per_cluster == {1: 1}
    x, y, z = rows["X"], rows["Y"], rows["Z"]
    assert x["attached"] and not y["attached"] and not z["attached"]
    # X: K = 6, each p_o = 145 / 1200, taken 1.5 times (the margin); P(K ≥ 6 | K ≥ 2)
    # by hand.
    p = 1.5 * 145 / 1200
    at_least_2 = 1 - (1 - p) ** 6 - 6 * p * (1 - p) ** 5
    assert x["objects"] == 6 and x["edges"] == 3
    assert x["expected_timing"] == pytest.approx(6 * 145 / 1200)
    assert x["p_timing"] == pytest.approx(p**6 / at_least_2)
    lam = 2 * 450_000 * 6 * 184 / (100_000 * 99_999)
    assert x["expected_choice"] == pytest.approx(lam)
    assert x["p_choice"] == pytest.approx(
        1 - sum(np.exp(-lam) * lam**i / math.factorial(i) for i in range(6))
    )
    assert x["q_value"] <= 0.05
    # Y co-acts on more objects than X, and on just as many as chance predicts.
    assert y["objects"] > x["objects"] and y["edges"] == 6
    assert y["objects"] == pytest.approx(y["expected_timing"], abs=2)
    assert y["p_timing"] > 0.2
    # Z fools the timing null (tight bursts) but not the choice null.
    assert z["objects"] == 8 and z["p_timing"] < 1e-4 and z["p_choice"] > 0.2
    assert z["p_value"] == z["p_choice"]


def test_attachment_is_deterministic_and_respects_alpha(db: duckdb.DuckDBPyConnection) -> None:
    a = attach_members(db, "all_edges", "members", "actions", _params())
    b = attach_members(db, "all_edges", "members", "actions", _params())
    assert a.table.equals(b.table)
    none = attach_members(db, "all_edges", "members", "actions", _params(alpha=1e-9))
    assert none.attached == 0 and none.candidates == 3
    # Asking for edges to four members leaves only Y and Z as candidates.
    four = attach_members(db, "all_edges", "members", "actions", _params(min_edges=4))
    assert set(four.table.column("account_id").to_pylist()) == {"Y", "Z"}
    assert not db.execute(
        "SELECT * FROM duckdb_tables() WHERE table_name LIKE '_csatt%'"
    ).fetchall()


def test_object_chances_merge_and_clip() -> None:
    # One candidate, four objects (shifts in s, D = 600): [−60, 60] ∪ [40, 160] merge into
    # 220 s; [440, 560] is 120 s; [520, 640] is clipped at D to 80 s; [−100, 100] holds
    # [−50, 20] (a longer island of the cluster): 200 s, not 270.
    us = 1e6
    lo = np.array([-60, 40, 440, 520, -100, -50]) * us
    hi = np.array([60, 160, 560, 640, 100, 20]) * us
    first, p_o, coact = object_chances(
        np.zeros(6, np.int64), np.array([0, 0, 1, 2, 3, 3]), lo, hi, np.full(6, 600 * us)
    )
    assert first.tolist() == [0, 2, 3, 4] and coact.tolist() == [1, 0, 0, 1]
    assert p_o == pytest.approx([220 / 1200, 120 / 1200, 80 / 1200, 200 / 1200])


def test_timing_pvalue_is_conditional_on_the_selection_floor() -> None:
    # Three objects at p = 1/2, all co-acted: P(K ≥ 3) = 1/8, P(K ≥ 2) = 1/2.
    pv = timing_pvalues(np.zeros(3, np.int64), np.full(3, 0.5), np.array([3]), np.array([2]))
    assert pv == pytest.approx([0.25])


def test_find_clusters_adds_the_attached_member(db: duckdb.DuckDBPyConnection) -> None:
    cell = [(a, b) for i, a in enumerate(CELL) for b in CELL[i + 1 :]]
    db.register(
        "_s",
        pa.table({"account_a": [a for a, _ in cell], "account_b": [b for _, b in cell]}),
    )
    db.execute("CREATE TABLE sig AS SELECT *, 6 AS weight, 'repost' AS object_types FROM _s")
    db.execute(
        "CREATE TABLE posts AS SELECT post_id, account_id, t AS created_at, NULL::VARCHAR AS text "
        "FROM actions"
    )
    params = ClusterParams(windows={"repost": W})
    res = find_clusters(db, "sig", params=params, attach=_params(), candidate_edges="all_edges")
    members = dict(db.execute(f"SELECT account_id, degree FROM {res.members}").fetchall())
    assert set(members) == {*CELL, "X"} and members["X"] == 0  # no significant edge of its own
    summary = res.summary()
    assert summary["clustered_accounts"] == 7 and summary["dropped_accounts"] == 0
    assert summary["attach"]["attached"] == 1
    assert [m["account_id"] for m in summary["attach"]["members"]] == ["X"]
    size, edges, density, comps = db.execute(
        f"SELECT size, edges, density, suspicion_components FROM {res.clusters}"
    ).fetchall()[0]
    # Density is counted among the six members Leiden found (15 edges, 15 pairs): X
    # joined on group evidence, and its six missing pairs must not make the cell look
    # looser (2 · 15 / (7 · 6) = 0.71 was stored before, lowering the suspicion; in
    # tests/warn/test_restart.py it delayed a troll farm's alert by a day).
    assert (size, edges, density) == (7, 15, 1.0)
    assert json.loads(comps)["density"]["value"] == 1.0
    res.close()
    plain = find_clusters(db, "sig", params=params)
    assert "attach" not in plain.summary() and plain.summary()["clustered_accounts"] == 6
    assert db.execute(f"SELECT density FROM {plain.clusters}").fetchall() == [(1.0,)]
    plain.close()


def test_params_from_a_detection_run() -> None:
    params = {
        "semantics": "civicsentry",
        "object_types": ["repost", "url"],
        "jitter_factor": 10.0,
        "jitter_seconds": None,
        "alpha": 0.01,
        "min_weight": 3,
    }
    summary = {
        "windows": {"repost": {"seconds": 120.0}, "url": {"seconds": 0.5}},
        "shares": {"repost": 10, "url": 20},
        "aligned_pairs": {"repost": {"3": 7}},
    }
    p = AttachParams.from_run(params, summary, "multi")
    assert p is not None
    assert p.jitter == {"repost": 1200.0, "url": 10.0}  # D of a sub-second window: 10 × 1 s
    assert p.aligned == {"repost": {3: 7}, "url": {}} and p.alpha == 0.01 and p.min_weight == 3
    assert AttachParams.from_run(params, summary, "url").object_types == ["url"]  # type: ignore[union-attr]
    assert AttachParams.from_run(params | {"semantics": "cnt"}, summary, "multi") is None
    older = {k: v for k, v in summary.items() if k != "aligned_pairs"}
    assert AttachParams.from_run(params, older, "multi") is None
    with pytest.raises(InvalidParams, match="window and jitter"):
        attach_members(duckdb.connect(), "e", "m", "a", _params(jitter={"repost": 0}))
    assert json.dumps(p.as_dict())


def _attach_workspace(ws: civicsentry.Workspace) -> None:
    """The scenario stored as a detection run: the cell's significant edges, X's, Y's and
    Z's weak ones, and the run's totals that the test reads."""
    con = duckdb.connect()
    load(con, shares(_scenario()))
    ws.con.register("_a", con.sql("SELECT * FROM actions").to_arrow_table())
    ws.con.execute("INSERT INTO actions SELECT * FROM _a")
    ws.con.execute(
        "INSERT INTO posts (post_id, platform, account_id, created_at, kind) "
        "SELECT post_id, 'x', account_id, t, 'repost' FROM _a"
    )
    params = {
        "semantics": "civicsentry",
        "object_types": ["repost"],
        "jitter_factor": D / W,
        "jitter_seconds": None,
        "alpha": 0.05,
        "min_weight": 2,
    }
    summary = {
        "windows": {"repost": {"seconds": W}},
        "shares": {"repost": 100_000},
        "aligned_pairs": {"repost": {str(c): n for c, n in ALIGNED.items()}},
    }
    ws.con.execute(
        "INSERT INTO runs VALUES (1, 'detect', 'coordination', ?, '0', now(), now(), ?)",
        [json.dumps(params), json.dumps(summary)],
    )
    cell = [(a, b, 6, 1e-9) for i, a in enumerate(CELL) for b in CELL[i + 1 :]]
    weak = [("X", m, 2, 0.3) for m in CELL[:3]] + [(m, "Y", 2, 0.4) for m in CELL]
    for a, b, w, q in cell + weak + [(m, "Z", 2, 0.4) for m in CELL]:
        ws.con.execute(
            """INSERT INTO edges_wide (run_id, semantics, object_type, account_a,
               account_b, weight, object_types, q_value, significant)
               VALUES (1, 'civicsentry', 'multi', ?, ?, ?, 'repost', ?, ?)""",
            [min(a, b), max(a, b), w, q, q <= 0.05],
        )


def test_cluster_run_attaches_and_records_it(tmp_path: Path) -> None:
    """The service reads the test's inputs from the detection run and stores which
    members the test attached, with their evidence, in the clustering's runs row."""
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        _attach_workspace(ws)
        s = service.cluster_run(ws, 1)
        assert s.clustered_accounts == 7 and s.attached == 1 and s.params["attach"] == {
            "alpha": 0.05, "min_edges": 2, "min_weight": 2, "margin": 1.5
        }  # fmt: skip
        members = ws.sql("SELECT account_id FROM cluster_members ORDER BY 1").fetchall()
        assert [r[0] for r in members] == sorted([*CELL, "X"])
        stored = json.loads(
            ws.scalar("SELECT summary FROM runs WHERE run_id = ?", [s.clustering_run_id])
        )
        assert stored["attach"]["candidates"] == 3 and stored["attach"]["attached"] == 1
        assert [
            (m["account_id"], m["cluster_id"], m["objects"]) for m in stored["attach"]["members"]
        ] == [("X", 1, 6)]
        assert service.cluster_run(ws, 1).attached == 1  # the default attaches
        plain = service.cluster_run(ws, 1, attach=False)  # the opt-out
        assert plain.clustered_accounts == 6 and plain.params["attach"] is None
        assert ws.scalar("SELECT count(*) FROM cluster_members") == 6


def test_detection_summary_records_the_compared_pairs(con: duckdb.DuckDBPyConnection) -> None:
    # Three accounts on one post within the window: 3 share pairs compared, all in the
    # popularity class of objects with 2-3 accounts (1); a lone share of another post
    # makes no pair.
    load(con, shares([("a", "P", 0), ("b", "P", 10), ("c", "P", 20), ("a", "Q", 0)]))
    r = detect_coordination(con, "actions", CoordinationParams(windows="60s"))
    assert r.summary()["aligned_pairs"] == {"repost": {"1": 3}}
    r.close()
    peer = detect_coordination(con, "actions", CoordinationParams(semantics="cnt"))
    assert "aligned_pairs" not in peer.summary()
    peer.close()


def test_cli_attaches_by_default_and_opts_out(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with civicsentry.open(path) as ws:
        _attach_workspace(ws)

    def build(*extra: str) -> dict[str, object]:
        args = ["clusters", "build", "-w", str(path), "--json", *extra]
        r = subprocess.run(
            [sys.executable, "-m", "civicsentry", *args],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # type: ignore[no-any-return]

    on, off = build(), build("--no-attach")
    assert (on["attached"], on["clustered_accounts"]) == (1, 7)  # X joins the cell
    assert (off["attached"], off["clustered_accounts"]) == (0, 6)
    assert off["params"]["attach"] is None  # type: ignore[index]


def test_real_retweets_attach_what_docs_report(shared_data: Path, tmp_path: Path) -> None:
    """russian_coord_tweets (docs/coordination.md, "Checked on real data"): the default
    detection finds no significant edge, so nothing is clustered or attached; at a
    600 s window Leiden keeps 12 accounts in 5 clusters and the group test adds 3 of
    its 6 candidates, co-acting with their cluster on 4, 6 and 8 objects."""
    from civicsentry.service import detect as detect_service
    from civicsentry.service.ingest import ingest_files

    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        ingest_files(ws, [shared_data / "russian_coord_tweets.parquet"])
        default = detect_service.detect_coordination(ws)
        assert default.networks["multi"]["significant"] == 0
        assert service.cluster_run(ws, default.run_id).clustered_accounts == 0
        wide = detect_service.detect_coordination(ws, windows="600s")
        plain = service.cluster_run(ws, wide.run_id, attach=False)
        s = service.cluster_run(ws, wide.run_id)
        assert (plain.clusters, plain.clustered_accounts) == (5, 12)
        assert (s.clusters, s.clustered_accounts, s.attached) == (5, 15, 3)
        stored = json.loads(
            ws.scalar("SELECT summary FROM runs WHERE run_id = ?", [s.clustering_run_id])
        )
        assert stored["attach"]["candidates"] == 6
        assert sorted(m["objects"] for m in stored["attach"]["members"]) == [4, 6, 8]
