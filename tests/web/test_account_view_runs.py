"""The account view reads ``runs`` once (``explore.read_runs``) for the clustered
detection run and the signals run, and ``posts.urls`` is stored uncompressed (schema 5
migration). Both are held to the answers of the paths they replace: the
``clusters.clustered_run_id`` and ``accounts.signals_run`` queries, and the same rows in
the same order before and after the migration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry import migrations
from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.schema import POSTS, Table
from civicsentry.service import accounts, explore
from civicsentry.service import clusters as clusters_service

from .conftest import bearer

STEPS = ("detect", clusters_service.RUN_STEP, accounts.RUN_STEP)


@pytest.fixture
def case(scenario_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "case.duckdb"
    shutil.copy(scenario_path, path)
    return path


def queried(ws: Any) -> int | None:
    """The clustered run as the per-request queries find it (None where they refuse)."""
    try:
        return clusters_service.clustered_run_id(ws)
    except (InvalidParams, WorkspaceError):
        return None


def add_run(ws: Any, step: str, name: str, params: dict[str, Any] | None) -> int:
    rid = ws.next_id("runs", "run_id")
    ws.con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, 'test', now(), now(), '{}')",
        [rid, step, name, None if params is None else json.dumps(params)],
    )
    return rid


def test_one_read_of_runs_finds_the_runs_the_queries_find(case: Path) -> None:
    with civicsentry.open(case) as ws:
        detected = queried(ws)
        assert detected is not None  # the scenario is detected and clustered
        assert explore.clustered_run_of(explore.read_runs(ws, STEPS)) == detected
        assert accounts.signals_run(ws, runs=explore.read_runs(ws, STEPS)) == (
            accounts.signals_run(ws)
        )
        # A clustering of another run, one without params, a detection of another name:
        # the latest coordination run is still the clustered one.
        add_run(ws, clusters_service.RUN_STEP, "leiden", {"detection_run_id": detected + 100})
        add_run(ws, clusters_service.RUN_STEP, "leiden", None)
        add_run(ws, "detect", "something-else", {})
        assert queried(ws) == explore.clustered_run_of(explore.read_runs(ws, STEPS)) == detected
        # A newer detection run not clustered yet: neither finds a clustered run.
        newer = add_run(ws, "detect", "coordination", {})
        assert queried(ws) is None
        assert explore.clustered_run_of(explore.read_runs(ws, STEPS)) is None
        assert explore.account_clusters(ws, "x:c2", runs=explore.read_runs(ws, STEPS)) == []
        # Clustered (its id as text, as JSON may hold it): both find it again.
        add_run(ws, clusters_service.RUN_STEP, "leiden", {"detection_run_id": str(newer)})
        assert queried(ws) == explore.clustered_run_of(explore.read_runs(ws, STEPS)) == newer
        # No detection run at all.
        ws.con.execute("DELETE FROM runs WHERE step = 'detect'")
        assert queried(ws) is None
        assert explore.clustered_run_of(explore.read_runs(ws, STEPS)) is None


def test_the_view_parts_are_the_same_with_runs_read_once(case: Path) -> None:
    with civicsentry.open(case) as ws:
        ws.con.execute("SET TimeZone = 'UTC'")  # as the web app's cursors
        runs = explore.read_runs(ws, STEPS)
        for account in ("x:c1", "x:c2", "x:o1"):
            plain = explore.account_overview(ws, account, posts_limit=5)
            assert plain["clusters"] or account == "x:o1"
            assert explore.account_overview(ws, account, posts_limit=5, runs=runs) == plain
            assert accounts.signals_profile(ws, account, runs=runs) == (
                accounts.signals_profile(ws, account)
            )
        # No signals run: the same message either way.
        ws.con.execute("DELETE FROM runs WHERE step = ?", [accounts.RUN_STEP])
        runs = explore.read_runs(ws, STEPS)
        with pytest.raises(InvalidParams) as queried_error:
            accounts.signals_profile(ws, "x:c2")
        with pytest.raises(InvalidParams) as read_error:
            accounts.signals_profile(ws, "x:c2", runs=runs)
        assert str(read_error.value) == str(queried_error.value)


def test_the_api_shows_the_clusters_and_the_signals_run(client: Any, token_for: Any) -> None:
    view = client.get("/api/accounts/x:c2", headers=bearer(token_for("ana"))).json()
    assert [c["cluster_id"] for c in view["clusters"]]
    assert view["signals"]["computed"] is True
    assert view["signals"]["run"]["run_id"] > view["clusters"][0]["run_id"]


def storage(ws: Any, column: str) -> set[str]:
    ws.con.execute("CHECKPOINT")
    return {
        c
        for (c,) in ws.con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('posts') "
            "WHERE column_name = ? AND segment_type <> 'VALIDITY'",
            [column],
        ).fetchall()
    }


def stored_as_duckdb_chooses(ws: Any, table: Table) -> None:
    """``table`` as a workspace stored it before a migration that forces a compression:
    the same rows in a table created without it, its indexes built again."""
    for name in table.index_names():
        ws.con.execute(f"DROP INDEX {name}")
    ws.con.execute(f"CREATE TABLE old_{table.name} AS SELECT * FROM {table.name}")
    ws.con.execute(f"DROP TABLE {table.name}")
    ws.con.execute(f"ALTER TABLE old_{table.name} RENAME TO {table.name}")
    for ddl in table.index_ddl():
        ws.con.execute(ddl)


def test_the_urls_migration_keeps_every_row_in_its_order(case: Path) -> None:
    with civicsentry.open(case) as ws:
        # As a schema 4 workspace stored them: urls compressed as DuckDB chose.
        stored_as_duckdb_chooses(ws, POSTS)
        # Enough repeated URLs for DuckDB to compress them.
        ws.con.execute(
            "INSERT INTO posts (post_id, platform, account_id, created_at, kind, urls) "
            "SELECT 'x:m' || i, 'x', 'x:m' || (i % 7), TIMESTAMPTZ '2024-05-01 00:00:00+00' "
            "+ i * INTERVAL 1 minute, 'post', ['https://example.org/' || (i % 5), "
            "'https://example.com/a?b=' || (i % 3)] FROM range(5000) t(i)"
        )
        assert "Uncompressed" not in storage(ws, "urls")
        before = ws.con.execute("SELECT rowid, * FROM posts ORDER BY rowid").fetchall()
        with ws.transaction() as con:
            migrations.STEPS[5](con)  # the registered step 4 -> 5
        after = ws.con.execute("SELECT rowid, * FROM posts ORDER BY rowid").fetchall()
        assert after == before and len(after) > 5000
        assert storage(ws, "urls") == {"Uncompressed"}
        assert "Uncompressed" not in storage(ws, "domains")  # only urls changed
        assert [n for (n,) in ws.con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'posts'"
        ).fetchall()] == ["posts_account_id_idx"]  # fmt: skip
        assert (
            ws.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'posts_%'") == 0
        )
        # x:m3 posted i = 3, 10, ..., 4994 (i % 7 == 3), newest last
        assert [p["post_id"] for p in explore.search_posts(ws, account_id="x:m3", limit=2)] == [
            "x:m4994",
            "x:m4987",
        ]
        assert ws.scalar("SELECT current_setting('preserve_insertion_order')") is False


def test_the_read_holds_the_current_runs_only(case: Path) -> None:
    # `watch` adds a detection and a clustering on every pass: a view reads the latest
    # ones, not every pass of an election month.
    with civicsentry.open(case) as ws:
        first_signals = accounts.signals_run(ws)["run_id"]
        for _ in range(5):
            rid = add_run(ws, "detect", "coordination", {})
            add_run(ws, clusters_service.RUN_STEP, "leiden", {"detection_run_id": rid})
        recluster = add_run(ws, clusters_service.RUN_STEP, "leiden", {"detection_run_id": rid})
        later_signals = add_run(ws, accounts.RUN_STEP, accounts.RUN_NAME, {})
        read = explore.read_runs(ws, STEPS)
        assert sorted(r["run_id"] for r in read) == sorted(
            [rid, recluster - 1, recluster, later_signals]
        )
        assert explore.clustered_run_of(read) == queried(ws) == rid
        assert [r["run_id"] for r in clusters_service.clusterings(read, rid)] == [
            recluster,
            recluster - 1,
        ]  # newest first, as every read of runs has them
        # The latest signals run from the read; an earlier one by id is read on its own.
        assert accounts.signals_run(ws, runs=read)["run_id"] == later_signals
        earlier = accounts.signals_run(ws, first_signals)
        assert earlier["run_id"] == first_signals and earlier["step"] == accounts.RUN_STEP
        assert accounts.signals_run(ws, first_signals, runs=read) == earlier
        with pytest.raises(InvalidParams, match="not a signals run"):
            accounts.signals_run(ws, rid, runs=read)
