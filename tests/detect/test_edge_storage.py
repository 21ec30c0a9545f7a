"""Where edges are stored (schema 7): cnt runs of the DuckDB engine narrow in
``edges_cnt`` with integer account keys (``edge_accounts``), every other run wide in
``edges_wide``; ``coordination_edges`` shows both with the same rows and columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import civicsentry
from civicsentry.detect import CoordinationParams, DuckDBEngine, detect_coordination
from civicsentry.schema import EDGES_WIDE
from civicsentry.service import detect as service
from civicsentry.store import Workspace

T0 = datetime(2024, 1, 1, tzinfo=UTC)
# Code-point order of these ids: "B" < "a" < "b" < "É" (not the alphabet's).
ACTIONS = [
    # (account, type, object, seconds, post)
    ("b", "repost", "o1", 0, "p1"),
    ("B", "repost", "o1", 30, "p2"),
    ("É", "repost", "o1", 100, "p3"),  # 70 s after B: outside the window
    ("É", "repost", "o2", 200, "p4"),
    ("a", "repost", "o2", 210, "p5"),
    ("a", "repost", "o2", 220, "p6"),
    ("B", "hashtag", "x", 300, "p7"),
    ("a", "hashtag", "x", 320, "p8"),
    ("b", "url", "u1", 400, "p9"),  # one message with two URLs, on each side
    ("b", "url", "u2", 400, "p9"),
    ("É", "url", "u1", 410, "p10"),
    ("É", "url", "u2", 410, "p10"),
]
TYPES = ["repost", "hashtag", "url"]
# cnt at 60 s: (network, account_a, account_b, weight, weight_ab, weight_ba, pairs, min delay)
EXPECTED = {
    ("repost", "B", "b", 1, 1, 1, 1, 30.0),
    ("repost", "a", "É", 2, 2, 1, 2, 10.0),  # both of a's messages meet É's one
    ("hashtag", "B", "a", 1, 1, 1, 1, 20.0),
    ("url", "b", "É", 1, 1, 1, 2, 10.0),  # one message each, two share pairs
}
COLUMNS = ", ".join(f'"{c}"' for c in EDGES_WIDE.column_names if c != "run_id")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with civicsentry.open(tmp_path / "ws.duckdb") as w:
        w.con.executemany(
            "INSERT INTO actions VALUES (?, ?, ?, ?, ?)",
            [[a, t, o, T0 + timedelta(seconds=s), p] for a, t, o, s, p in ACTIONS],
        )
        yield w


def _stored(ws: Workspace, run_id: int) -> set[tuple[object, ...]]:
    return set(
        ws.con.execute(
            "SELECT object_type, account_a, account_b, weight, weight_ab, weight_ba, pairs, "
            "min_delay_s FROM coordination_edges WHERE run_id = ?",
            [run_id],
        ).fetchall()
    )


def test_cnt_edges_are_stored_narrow_and_read_as_before(ws: Workspace) -> None:
    run = service.detect_coordination(ws, semantics="cnt", windows="60s", object_types=TYPES)
    assert _stored(ws, run.run_id) == EXPECTED
    assert ws.scalar("SELECT count(*) FROM edges_cnt WHERE run_id = ?", [run.run_id]) == 4
    assert ws.scalar("SELECT count(*) FROM edges_wide") == 0
    # The key table names the run's accounts, keys in code-point order.
    keys = ws.con.execute(
        "SELECT account_id FROM edge_accounts WHERE run_id = ? ORDER BY acc", [run.run_id]
    ).fetchall()
    assert [k for (k,) in keys] == ["B", "a", "b", "É"]
    # The edges were aggregated by the insert itself (streamed): the run counts what it
    # stored, and nothing of the detection is left behind.
    counts = {"repost": {"edges": 2}, "hashtag": {"edges": 1}, "url": {"edges": 1}}
    assert run.networks == counts
    summary = ws.scalar("SELECT summary FROM runs WHERE run_id = ?", [run.run_id])
    assert json.loads(summary)["networks"] == counts
    assert ws.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary") == 0
    assert ws.scalar("SELECT count(*) FROM duckdb_views() WHERE temporary AND NOT internal") == 0
    # The columns the semantics leaves empty, as the wide rows had them.
    assert ws.con.execute(
        "SELECT DISTINCT semantics, object_types = object_type, capped, downweighted, "
        "weight_pop, median_delay_s, p_value, significant FROM coordination_edges"
    ).fetchall() == [("cnt", True, False, False, None, None, None, None)]


def test_the_view_gives_what_the_wide_rows_of_the_same_detection_are(ws: Workspace) -> None:
    run = service.detect_coordination(ws, semantics="cnt", windows="60s", object_types=TYPES)
    result = detect_coordination(
        DuckDBEngine(ws.con),
        "actions",
        CoordinationParams(semantics="cnt", windows="60s", object_types=TYPES),
    )
    try:
        stored = f"SELECT {COLUMNS} FROM coordination_edges WHERE run_id = {run.run_id}"
        wide = f"SELECT {COLUMNS} FROM {result.edges}"
        assert ws.scalar(f"SELECT count(*) FROM ({wide})") == 4
        for a, b in ((stored, wide), (wide, stored)):
            assert ws.con.execute(f"{a} EXCEPT ALL {b}").fetchall() == []
        # Same names and types as the table the wide rows go to.
        view = ws.con.execute("DESCRIBE coordination_edges").fetchall()
        table = ws.con.execute("DESCRIBE edges_wide").fetchall()
        assert [r[:2] for r in view] == [r[:2] for r in table]
    finally:
        result.close()


def test_other_semantics_stay_wide_and_runs_do_not_mix(ws: Workspace) -> None:
    ours = service.detect_coordination(ws, windows="60s", object_types=TYPES, min_weight=1)
    cnt = service.detect_coordination(ws, semantics="cnt", windows="60s", object_types=TYPES)
    coortweet = service.detect_coordination(
        ws, semantics="coortweet", windows="60s", object_types=["repost"]
    )
    stored = {
        r: ws.scalar(f"SELECT count(*) FROM coordination_edges WHERE run_id = {r}")
        for r in (ours.run_id, cnt.run_id, coortweet.run_id)
    }
    wide = {
        r: ws.scalar(f"SELECT count(*) FROM edges_wide WHERE run_id = {r}")
        for r in (ours.run_id, cnt.run_id, coortweet.run_id)
    }
    assert stored[cnt.run_id] == 4 and wide[cnt.run_id] == 0
    assert stored[ours.run_id] == wide[ours.run_id] > 0
    assert stored[coortweet.run_id] == wide[coortweet.run_id] > 0
    assert _stored(ws, cnt.run_id) == EXPECTED
    # Two cnt runs with different keys for the same account keep their own mapping.
    again = service.detect_coordination(ws, semantics="cnt", windows="60s", object_types=["url"])
    assert _stored(ws, again.run_id) == {e for e in EXPECTED if e[0] == "url"}
    assert _stored(ws, cnt.run_id) == EXPECTED
    assert service.top_edges(ws, run_id=cnt.run_id, network="repost", limit=1) == [
        {
            "account_a": "a",
            "account_b": "É",
            "weight": 2,
            "pairs": 2,
            "median_delay_s": None,
            "q_value": None,
        }
    ]
