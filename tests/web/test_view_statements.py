"""Fewer statements per request (session 7), each held to the answer of the path it
replaced: the clustered run found by one read of ``runs`` (as the three queries of
``detection_run`` and the clusterings count found it), sorts moved from SQL to Python
(the same order as DuckDB's ``ORDER BY``, NaN and NULL included), list totals taken
from a last page, a cluster's members' handles looked up for the page shown, request
cursors in UTC without a statement of their own, and ``account_signals`` stored as ALP
(schema 6 migration: the same rows in the same order)."""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import civicsentry
from civicsentry import migrations
from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.schema import ACCOUNT_SIGNALS_TABLE
from civicsentry.service import clusters as clusters_service
from civicsentry.service import explore
from civicsentry.web.app import create_app
from civicsentry.web.audit import AuditWriter, _Entry
from civicsentry.web.deps import RequestWorkspace

from .conftest import bearer
from .test_account_view_runs import add_run, stored_as_duckdb_chooses


@pytest.fixture
def case(scenario_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "case.duckdb"
    shutil.copy(scenario_path, path)
    return path


def three_queries(ws: Any, run_id: int | None = None) -> int | str:
    """The clustered run as the three statements before session 7 found it (the error
    message where they refused)."""
    rid = run_id
    if rid is None:
        rid = ws.scalar(
            "SELECT max(run_id) FROM runs WHERE step = 'detect' AND name = 'coordination'"
        )
    found = rid is not None and ws.scalar(
        "SELECT count(*) FROM runs WHERE run_id = ? AND step = 'detect'", [rid]
    )
    if not found:
        return (
            "No detection run yet: run `civicsentry detect` first."
            if run_id is None
            else f"Run {run_id} is not a detection run; `civicsentry runs` lists them."
        )
    done = ws.scalar(
        "SELECT count(*) FROM runs WHERE step = 'cluster' "
        "AND CAST(json_extract(params, '$.detection_run_id') AS BIGINT) = ?",
        [rid],
    )
    if not done:
        return (
            f"Run {rid} has not been clustered yet: run `civicsentry clusters build --run {rid}`."
        )
    return int(rid)


def one_read(ws: Any, run_id: int | None = None) -> int | str:
    try:
        return clusters_service.clustered_run_id(ws, run_id)
    except (InvalidParams, WorkspaceError) as e:
        return str(e)


def test_one_read_of_runs_finds_the_clustered_run_the_queries_found(case: Path) -> None:
    with civicsentry.open(case) as ws:
        detected = one_read(ws)
        assert isinstance(detected, int) and detected == three_queries(ws)
        ids = [r for (r,) in ws.con.execute("SELECT run_id FROM runs").fetchall()]
        # Every run asked for by id: the detection run, the clustering and the signals
        # runs (not detection runs), one that does not exist.
        for rid in [*ids, 99]:
            assert one_read(ws, rid) == three_queries(ws, rid)
        # A clustering of another run, one without params, a detection of another name.
        add_run(ws, "cluster", "leiden", {"detection_run_id": detected + 100})
        add_run(ws, "cluster", "leiden", None)
        other = add_run(ws, "detect", "something-else", {})
        assert one_read(ws) == three_queries(ws) == detected
        assert one_read(ws, other) == three_queries(ws, other)  # asked by id: not clustered
        assert isinstance(one_read(ws, other), str)
        # A newer coordination run, not clustered yet; then clustered (id as JSON text).
        newer = add_run(ws, "detect", "coordination", {})
        assert one_read(ws) == three_queries(ws) and isinstance(one_read(ws), str)
        assert one_read(ws, detected) == three_queries(ws, detected) == detected
        add_run(ws, "cluster", "leiden", {"detection_run_id": str(newer)})
        assert one_read(ws) == three_queries(ws) == newer
        ws.con.execute("DELETE FROM runs WHERE step = 'detect'")
        assert one_read(ws) == three_queries(ws)
        assert one_read(ws).startswith("No detection run yet")


def test_the_network_and_methods_come_from_the_runs_read(case: Path) -> None:
    with civicsentry.open(case) as ws:
        rid, read = clusters_service.clustered_runs(ws)
        assert [r["run_id"] for r in read] == sorted(r["run_id"] for r in read)
        crid = clusters_service.cluster_row(ws, rid, 1)["clustering_run_id"]
        assert explore.runs(ws, [rid, crid], read=read) == explore.runs(ws, [rid, crid])
        assert explore.runs(ws, [rid, 999], read=read) == explore.runs(ws, [rid, 999])
        net = explore.cluster_network(ws, 1)["network"]
        assert net == explore.clustered_network(ws, rid)
        # A later clustering on another network: the latest one's network is shown.
        add_run(ws, "cluster", "leiden", {"detection_run_id": rid, "network": "url"})
        assert explore.cluster_network(ws, 1)["network"] == "url"
        assert explore.clustered_network(ws, rid) == "url"


def test_python_sorts_order_as_duckdb_does(case: Path) -> None:
    values = [1.0, None, math.nan, 0.0, math.inf, -math.inf, 2.5, None, 2.5, -1.0, math.nan]
    with civicsentry.open(case) as ws:
        ws.con.execute("CREATE TEMP TABLE v (i INTEGER, x DOUBLE)")
        ws.con.executemany("INSERT INTO v VALUES (?, ?)", list(enumerate(values)))
        by_duckdb = [i for (i,) in ws.con.execute("SELECT i FROM v ORDER BY x DESC, i").fetchall()]
    rows = list(enumerate(values))
    rows.sort(key=lambda r: (clusters_service.desc_key(r[1]), r[0]))
    assert [i for i, _ in rows] == by_duckdb


def test_members_keep_their_order_with_nan_and_null_strengths(case: Path) -> None:
    with civicsentry.open(case) as ws:
        rid = clusters_service.clustered_run_id(ws)
        # Two more members of cluster 1 with strengths DuckDB orders apart.
        for account, strength in (("x:zz-nan", math.nan), ("x:aa-null", None)):
            ws.con.execute(
                "INSERT INTO cluster_members (run_id, cluster_id, account_id, strength) "
                "VALUES (?, 1, ?, ?)",
                [rid, account, strength],
            )
        in_sql = [
            a
            for (a,) in ws.con.execute(
                "SELECT account_id FROM cluster_members WHERE run_id = ? AND cluster_id = 1 "
                "ORDER BY strength DESC, account_id",
                [rid],
            ).fetchall()
        ]
        members = clusters_service.members_of(ws, rid, 1)
        assert [m["account_id"] for m in members] == in_sql
        assert in_sql[0] == "x:zz-nan" and in_sql[-1] == "x:aa-null"


def test_a_page_of_members_has_the_handles_of_the_whole_list(
    client: Any, token_for: Any, ws: Any
) -> None:
    ana = bearer(token_for("ana"))
    everyone = clusters_service.cluster_members(ws, 1)
    assert len(everyone) >= 3 and all("handle" in m for m in everyone)
    for limit, offset in ((2, 0), (2, 1), (1, 2), (50, 0), (5, 99)):
        page = client.get(f"/api/clusters/1?limit={limit}&offset={offset}", headers=ana).json()
        assert page["members"]["items"] == json.loads(
            json.dumps(everyone[offset : offset + limit], default=str)
        )
        assert page["members"]["total"] == len(everyone)


def test_list_totals_from_a_last_page_are_the_counts(client: Any, token_for: Any, ws: Any) -> None:
    ana = bearer(token_for("ana"))
    n = explore.count_posts(ws, account_id="x:c2")
    assert n == 7
    for limit, offset in ((3, 0), (3, 3), (3, 6), (7, 0), (50, 0), (3, 7), (3, 50)):
        r = client.get(f"/api/posts?account_id=x:c2&limit={limit}&offset={offset}", headers=ana)
        assert r.json()["total"] == n
        assert len(r.json()["items"]) == max(0, min(limit, n - offset))
    everything = client.get("/api/posts?limit=500", headers=ana).json()
    assert everything["total"] == explore.count_posts(ws) == len(everything["items"])
    alerts = client.get("/api/alerts?limit=1", headers=ana).json()
    every_alert = client.get("/api/alerts?limit=500", headers=ana).json()
    assert alerts["total"] == every_alert["total"] == len(every_alert["items"]) >= 1
    for status in ("new", "closed"):
        r = client.get(f"/api/alerts?status={status}&limit=500", headers=ana).json()
        assert r["total"] == len(r["items"])


def test_request_cursors_are_in_utc_without_a_statement(case: Path) -> None:
    with civicsentry.open(case) as other:  # the same database in this process
        other.con.execute("SET GLOBAL TimeZone = 'Asia/Tokyo'")
        app = create_app(case, taxii=False)
        w = RequestWorkspace(app.state.workspace)
        try:
            assert w.scalar("SELECT current_setting('TimeZone')") == "UTC"
            t = w.scalar("SELECT min(created_at) FROM posts")
            assert t.utcoffset().total_seconds() == 0
        finally:
            w.close()
            app.state.workspace.close()


def storage(ws: Any) -> dict[str, set[str]]:
    ws.con.execute("CHECKPOINT")
    out: dict[str, set[str]] = {}
    for col, comp in ws.con.execute(
        "SELECT column_name, compression FROM pragma_storage_info('account_signals') "
        "WHERE segment_type = 'DOUBLE'"
    ).fetchall():
        out.setdefault(col, set()).add(comp)
    return out


def test_the_signals_migration_keeps_every_row_in_its_order(case: Path) -> None:
    with civicsentry.open(case) as ws:
        # As a schema 5 workspace stored them: DuckDB's choice, RLE for repeated values.
        stored_as_duckdb_chooses(ws, ACCOUNT_SIGNALS_TABLE)
        ws.con.execute(
            "INSERT INTO account_signals (run_id, account_id, score, posts, posts_pct) "
            "SELECT 9, 'x:m' || i, (i % 3) / 10, 5, 0.5 FROM range(5000) t(i)"
        )
        assert "RLE" in set().union(*storage(ws).values())
        before = ws.con.execute("SELECT rowid, * FROM account_signals ORDER BY rowid").fetchall()
        with ws.transaction() as con:
            migrations.STEPS[6](con)  # the registered step 5 -> 6
        after = ws.con.execute("SELECT rowid, * FROM account_signals ORDER BY rowid").fetchall()
        assert len(after) > 5000
        assert [repr(r) for r in after] == [repr(r) for r in before]  # NaN == NaN as text
        assert set().union(*storage(ws).values()) <= {"ALP", "Constant", "Uncompressed"}
        assert "ALP" in set().union(*storage(ws).values())
        assert (
            ws.scalar("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'account_signals'")
            == 1
        )  # built again


def test_delays_binned_in_python_are_those_sql_bins(case: Path, monkeypatch: Any) -> None:
    edges = [0.5, 1.0, 1.999, 2.0, 59.0, 60.0, 3599.0, 3600.0, 1e9, math.inf, -math.inf, math.nan]
    with civicsentry.open(case) as ws:
        rid = clusters_service.clustered_run_id(ws)
        before = explore.delay_histogram(ws, rid, 1)
        assert before["edges"] >= 1
        for i, d in enumerate(edges):
            ws.con.execute(
                "INSERT INTO cluster_edges (run_id, cluster_id, account_a, account_b, weight, delay_s) "
                "VALUES (?, 1, ?, 'x:b', 1, ?)",
                [rid, f"x:e{i}", d],
            )
        in_python = explore.delay_histogram(ws, rid, 1)
        monkeypatch.setattr(explore, "BIN_IN_PYTHON", 3)  # more than 3 delays: SQL bins them
        in_sql = explore.delay_histogram(ws, rid, 1)
    assert in_python == in_sql
    assert in_python["edges"] == before["edges"] + len(edges)
    added = [b - a for (_, a), (_, b) in zip(before["bins"], in_python["bins"], strict=True)]
    assert added == [2, 2, 1, 0, 0, 1, 1, 0, 0, 0, 1, 4]  # NaN in the open bin, -inf first


def test_audit_batches_are_one_statement_each_all_or_none(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(AuditWriter, "MAX_BATCH", 3)  # 7 entries: statements of 3, 3, 1
    with civicsentry.open(tmp_path / "w.duckdb") as ws:
        writer = AuditWriter(ws.con)
        now = datetime.now(UTC)
        entries = [_Entry((now, "ana", "test.view", json.dumps({"i": i}))) for i in range(7)]
        entries[4] = _Entry(("not a time", "ana", "test.view", '{"i": 4}'))  # fails
        with writer._cond:  # queued together: the writer takes them as one batch
            writer._pending.extend(entries)
            writer._cond.notify()
        for e in entries:
            assert e.done.wait(60)
        writer.close()
        failed = [i for i, e in enumerate(entries) if e.error is not None]
        assert failed == [3, 4, 5]  # the second statement, all of it; the others written
        assert all(isinstance(entries[i].error, duckdb.Error) for i in failed)
        rows = ws.con.execute("SELECT actor, action, detail FROM audit_log").fetchall()
        assert sorted(json.loads(d)["i"] for _, _, d in rows) == [0, 1, 2, 6]
        assert {(a, b) for a, b, _ in rows} == {("ana", "test.view")}
