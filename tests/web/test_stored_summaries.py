"""What the views read instead of recomputing (schema 4), held to known answers and to
the slow paths they replaced: each cluster's internal edges stored at clustering time
(``cluster_edges``: network and delay histogram), the migration that fills them for
older workspaces, the index on ``account_signals.account_id``, handles looked up apart
from the rows, and the accounts list reading only the columns it shows."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.errors import InvalidParams
from civicsentry.service import accounts, clusters, explore, handles
from civicsentry.store import Workspace

SIGNALS_INDEX = "account_signals_account_id_idx"

# -- a hand-built clustering ------------------------------------------------------------
#
# Detection run 1 (ours), clustered (run 2) on its `multi` network into cluster 1 = a, b, c
# and cluster 2 = d, e, f. Edges, with the bin of the delay each should count in:
EDGES = [
    # (type, a, b, weight, median, avg, min, significant)
    ("multi", "x:a", "x:b", 5, 0.5, None, 0.1, True),  # cluster 1, median 0.5 s -> <1s
    ("multi", "x:a", "x:c", 3, None, 4.0, 1.0, True),  # cluster 1, no median: mean -> <5s
    ("multi", "x:b", "x:c", 2, None, None, 7200.0, True),  # cluster 1, only min -> ≥3600s
    ("url", "x:a", "x:b", 9, 1.5, None, 1.0, True),  # another network: not counted
    ("multi", "x:c", "x:d", 8, 3.0, None, 1.0, True),  # across clusters: not counted
    ("multi", "x:a", "x:z", 7, 3.0, None, 1.0, True),  # to a non-member: not counted
    ("multi", "x:d", "x:e", 4, 45.0, None, 2.0, True),  # cluster 2 -> <60s
    ("multi", "x:d", "x:f", 6, 2.0, None, 1.0, False),  # not significant: not counted
    ("multi", "x:e", "x:f", 1, 30.0, None, 9.0, None),  # untested (NULL) counts; 30 -> <60s
]
MEMBERS = {1: ["x:a", "x:b", "x:c"], 2: ["x:d", "x:e", "x:f"]}
LABELS = ["<1s", "<2s", "<5s", "<10s", "<30s", "<60s", "<120s", "<300s", "<600s", "<1800s"]
LABELS += ["<3600s", "≥3600s"]


def hand_built(path: Path) -> None:
    with civicsentry.open(path) as ws:
        ws.con.execute(
            "INSERT INTO runs (run_id, step, name, params, started_at) VALUES "
            "(1, 'detect', 'coordination', '{\"semantics\": \"civicsentry\"}', now()), "
            "(2, 'cluster', 'leiden', '{\"detection_run_id\": 1, \"network\": \"multi\"}', now())"
        )
        for t, a, b, w, med, avg, mn, sig in EDGES:
            ws.con.execute(
                "INSERT INTO edges_wide (run_id, semantics, object_type, account_a, "
                "account_b, weight, median_delay_s, avg_delay_s, min_delay_s, significant) "
                "VALUES (1, 'civicsentry', ?, ?, ?, ?, ?, ?, ?, ?)",
                [t, a, b, w, med, avg, mn, sig],
            )
        for cid, members in MEMBERS.items():
            ws.con.execute(
                "INSERT INTO clusters (run_id, cluster_id, clustering_run_id, size) "
                "VALUES (1, ?, 2, ?)",
                [cid, len(members)],
            )
            for k, m in enumerate(members):
                ws.con.execute(
                    "INSERT INTO cluster_members (run_id, cluster_id, account_id, strength) "
                    "VALUES (1, ?, ?, ?)",
                    [cid, m, float(10 - k)],
                )
        ws.con.execute("INSERT INTO accounts (account_id, platform, handle) VALUES "
                       "('x:a', 'x', 'alice'), ('x:b', 'x', 'bob')")  # fmt: skip


def as_schema_3(path: Path) -> None:
    """Make a workspace look as schema 3 left it: no stored cluster edges, no index."""
    with civicsentry.open(path) as ws:
        ws.con.execute("DELETE FROM cluster_edges")
        ws.con.execute(f"DROP INDEX IF EXISTS {SIGNALS_INDEX}")
        ws.con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def bins(**counts: int) -> list[list[Any]]:
    return [[lab, counts.get(lab, 0)] for lab in LABELS]


def test_migration_stores_each_clusters_edges_and_their_delays(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    hand_built(path)
    as_schema_3(path)
    with civicsentry.open(path) as ws:  # migrates to 4
        assert ws.scalar("SELECT count(*) FROM cluster_edges") == 5
        assert explore.cluster_delays(ws, 1) == {
            "edges": 3,
            "bins": bins(**{"<1s": 1, "<5s": 1, "≥3600s": 1}),
        }
        assert explore.cluster_delays(ws, 2) == {"edges": 2, "bins": bins(**{"<60s": 2})}
        assert explore.cluster_delays(ws, 3) == {"edges": 0, "bins": bins()}  # no such cluster
        net = explore.cluster_network(ws, 1)
        assert [(e["source"], e["target"], e["weight"]) for e in net["edges"]] == [
            ("x:a", "x:b", 5),
            ("x:a", "x:c", 3),
            ("x:b", "x:c", 2),
        ]
        assert (net["network"], net["edges_total"], net["edges_capped"]) == ("multi", 3, False)
        assert [(n["id"], n["handle"]) for n in net["nodes"]] == [
            ("x:a", "alice"),
            ("x:b", "bob"),
            ("x:c", None),  # no profile row
        ]
        capped = explore.cluster_network(ws, 2, max_edges=1)
        assert [(e["source"], e["target"]) for e in capped["edges"]] == [("x:d", "x:e")]
        assert (capped["edges_total"], capped["edges_capped"]) == (2, True)


def test_migration_is_repeatable_and_indexes_signals(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    hand_built(path)
    with civicsentry.open(path) as ws:
        ws.con.execute(
            "INSERT INTO cluster_edges VALUES (1, 1, 'x:a', 'x:b', 5, NULL, 0.5)"
        )  # as if a new workspace had stored some already
    as_schema_3(path)
    with civicsentry.open(path) as ws:
        assert ws.scalar("SELECT count(*) FROM cluster_edges") == 5  # not doubled
        assert SIGNALS_INDEX in indexes(ws)


def indexes(ws: Workspace) -> list[str]:
    return [n for (n,) in ws.con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()]


# -- the scenario: clustered by the service ------------------------------------------------

REFERENCE_EDGES = """
    SELECT ma.cluster_id, e.account_a, e.account_b, e.weight, e.object_types,
           coalesce(e.median_delay_s, e.avg_delay_s, e.min_delay_s) AS delay_s
    FROM coordination_edges e
    JOIN cluster_members ma ON ma.run_id = e.run_id AND ma.account_id = e.account_a
    JOIN cluster_members mb ON mb.run_id = e.run_id AND mb.account_id = e.account_b
    WHERE e.run_id = 1 AND e.object_type = 'repost' AND coalesce(e.significant, true)
      AND ma.cluster_id = mb.cluster_id ORDER BY ALL
"""


@pytest.fixture
def scenario_copy(scenario_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "case.duckdb"
    shutil.copy(scenario_path, path)
    return path


def test_clustering_stores_the_internal_edges_once(scenario_copy: Path) -> None:
    with civicsentry.open(scenario_copy) as ws:
        stored = "SELECT * EXCLUDE (run_id) FROM cluster_edges WHERE run_id = 1 ORDER BY ALL"
        expected = ws.con.execute(REFERENCE_EDGES).fetchall()
        assert len(expected) == 6  # the scenario's one cluster of four, all linked
        assert ws.con.execute(stored).fetchall() == expected
        ws.cluster(1)  # clustering again replaces them
        assert ws.con.execute(stored).fetchall() == expected
        delays = explore.cluster_delays(ws, 1)  # CooRTweet edges: their mean delays, < 15 s
        assert delays["edges"] == 6 and sum(n for _, n in delays["bins"]) == 6
        assert {lab for lab, n in delays["bins"] if n} <= {"<1s", "<2s", "<5s", "<10s", "<30s"}


def test_erasing_an_account_erases_its_stored_edges(scenario_copy: Path) -> None:
    from civicsentry.service import privacy

    with civicsentry.open(scenario_copy) as ws:
        removed = privacy.erase_account(ws, "x:c2", actor="test")
        assert removed["cluster_edges"] == 3  # x:c2's edges to x:c1, x:c3, x:c4
        left = ws.con.execute("SELECT account_a, account_b FROM cluster_edges").fetchall()
        assert len(left) == 3 and all("x:c2" not in pair for pair in left)


# -- handles and the accounts list ------------------------------------------------------------


def test_handles_come_with_the_rows_as_a_join_gave_them(
    scenario_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"account_id": a, "n": i} for i, a in enumerate(["x:c3", "x:nobody", "x:c3", "x:o1"])]
    expected = [
        {"account_id": "x:c3", "handle": "c3", "n": 0},
        {"account_id": "x:nobody", "handle": None, "n": 1},
        {"account_id": "x:c3", "handle": "c3", "n": 2},
        {"account_id": "x:o1", "handle": "news_desk", "n": 3},
    ]
    with civicsentry.open(scenario_copy) as ws:
        got = handles.with_handles(ws, rows)
        assert got == expected and [list(r) for r in got] == [["account_id", "handle", "n"]] * 4
        monkeypatch.setattr(handles, "LIST_FILTER_MAX", 1)  # long lists: joined
        assert handles.with_handles(ws, rows) == expected
        assert handles.handles(ws, ["x:o2"]) == {"x:o2": "citizen"}  # one: by the key
        assert handles.handles(ws, []) == {}


def full_rows(ws: Workspace, order: str) -> list[dict[str, Any]]:
    """The accounts list as it was read before: every column of every row, joined."""
    run = accounts.signals_run(ws)
    rows = ws.dicts(
        "SELECT s.*, a.handle FROM account_signals s LEFT JOIN accounts a USING (account_id) "
        f"WHERE s.run_id = ? ORDER BY {order}",
        [run["run_id"]],
    )
    return [accounts._brief(r, run["params"].get("weights", {})) for r in rows]


@pytest.mark.parametrize(
    ("kwargs", "order"),
    [
        ({}, "s.score DESC NULLS LAST, s.rank"),
        ({"order_by": "rank", "ascending": True}, "s.rank ASC NULLS LAST, s.rank"),
        ({"order_by": "posts"}, "s.posts DESC NULLS LAST, s.rank"),
    ],
)
def test_the_accounts_list_reads_only_its_columns_with_the_same_answer(
    scenario_copy: Path, kwargs: dict[str, Any], order: str
) -> None:
    with civicsentry.open(scenario_copy) as ws:
        everyone = full_rows(ws, order)
        assert len(everyone) == 6 and any(r["top_signals"] for r in everyone)
        assert accounts.top_accounts(ws, limit=None, **kwargs) == everyone
        assert accounts.top_accounts(ws, limit=2, offset=3, **kwargs) == everyone[3:5]
        ids = [everyone[4]["account_id"], everyone[1]["account_id"]]
        assert accounts.top_accounts(ws, account_ids=ids, **kwargs) == [everyone[1], everyone[4]]


def test_the_account_view_reuses_the_overviews_hour_counts(scenario_copy: Path) -> None:
    with civicsentry.open(scenario_copy) as ws:
        grid = explore.account_overview(ws, "x:c2")["rhythm"]["counts"]
        hours = [n for day in grid for n in day]
        assert sum(hours) == 7  # x:c2's posts (test_fast_paths)
        given = accounts.signals_profile(ws, "x:c2", hour_counts=hours)
        assert given == accounts.signals_profile(ws, "x:c2")
        assert given["rhythm"]["utc"] == grid
        profile = accounts.account_profile(ws, "x:c2", posts=3)
        assert list(profile) == [
            "account_id", "run", "account", "score", "rank", "coverage", "top_signals",
            "cluster_id", "signals", "schedule", "figures", "rhythm", "timeline",
        ]  # fmt: skip
        assert {k: profile[k] for k in given if k != "account_id"} == {
            k: v for k, v in given.items() if k != "account_id"
        }
        assert profile["account"]["handle"] == "evil\"handle'<b>bold</b>"
        assert len(profile["timeline"]["posts"]) == 3
        with pytest.raises(InvalidParams, match="168"):
            accounts.rhythm(ws, "x:c2", None, hour_counts=hours[:24])


def test_cluster_members_keep_their_handles_and_order(scenario_copy: Path) -> None:
    with civicsentry.open(scenario_copy) as ws:
        members = clusters.cluster_members(ws, 1)
        order = sorted(members, key=lambda m: (-m["strength"], m["account_id"]))
        assert [m["account_id"] for m in members] == [m["account_id"] for m in order]
        assert {m["account_id"]: m["handle"] for m in members} == {
            "x:c1": "c1_bot",
            "x:c2": "evil\"handle'<b>bold</b>",
            "x:c3": "c3",
            "x:c4": "c4",
        }
        assert list(members[0])[:3] == ["account_id", "handle", "degree"]
