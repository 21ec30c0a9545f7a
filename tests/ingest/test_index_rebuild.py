"""A file that is large beside the table is published without the index of `posts` and
the index built again afterwards (DuckDB holds an indexed append's entries in memory
until the commit); a small file appends to the indexed table. Either way the index is
there after the ingest, and a crash between the file's commit and the rebuild is
repaired when the workspace is next opened."""

from __future__ import annotations

from pathlib import Path

import pytest

import civicsentry
from civicsentry.service import ingest as service
from civicsentry.store import ensure_indexes
from tests.conftest import assert_counts_add_up

HEADER = "post_id,account_id,created_at,text\n"


def _csv(path: Path, ids: range) -> Path:
    lines = [f"x:{i},x:a{i % 3},2024-01-01T00:00:{i % 60:02d}Z,post {i}\n" for i in ids]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def _indexes(ws) -> set[str]:  # type: ignore[no-untyped-def]
    return {r[0] for r in ws.sql("SELECT index_name FROM duckdb_indexes()").fetchall()}


def _account_posts(ws, account: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = ws.sql(
        "SELECT post_id FROM posts WHERE account_id = ? ORDER BY post_id", params=[account]
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("staged", "stored", "rebuild"),
    [
        (0, 0, False),
        (1, 0, False),  # small: appended to the index, whatever the table
        (249_999, 0, False),
        (250_000, 0, True),
        (2_000_000, 2_000_000, True),
        (2_000_000, 2_000_001, False),
        (10_000_000, 3_000_000, True),
    ],
)
def test_the_index_is_rebuilt_when_a_large_file_at_least_doubles_the_table(
    staged: int, stored: int, rebuild: bool
) -> None:
    assert service.rebuilds_index(staged, stored) is rebuild


def test_index_building_gets_room_for_the_index_only() -> None:
    # 40 bytes a post, never below the ingest's own limit (10M posts built in 315 MB).
    assert service.index_memory_limit(1_000_000) == "400MB"
    assert service.index_memory_limit(10_000_000) == "400MB"
    assert service.index_memory_limit(50_000_000) == "2000MB"


def _spy(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(service, "REBUILD_MIN_POSTS", 20)  # the tests' files are "large"
    calls: list[tuple[str, str]] = []

    def limit(con) -> str:  # type: ignore[no-untyped-def]
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    drop, ensure = service.drop_indexes, service.ensure_indexes

    def spy_drop(con, table):  # type: ignore[no-untyped-def]
        calls.append(("drop", limit(con)))
        return drop(con, table)

    def spy_ensure(ws):  # type: ignore[no-untyped-def]
        calls.append(("build", limit(ws.con)))
        return ensure(ws)

    monkeypatch.setattr(service, "drop_indexes", spy_drop)
    monkeypatch.setattr(service, "ensure_indexes", spy_ensure)
    return calls


def _reported(limit: str) -> str:
    import duckdb

    probe = duckdb.connect()
    probe.execute(f"SET memory_limit = '{limit}'")
    return probe.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_a_large_file_is_published_unindexed_and_the_index_rebuilt(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    calls = _spy(monkeypatch)
    path = _csv(tmp_path / "big.csv", range(30))
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        report = service.ingest_files(ws, [path])
        assert_counts_add_up(report)
        assert report.files[0].rows_stored == 30
        # Published under the ingest's own limit (no index entries held until the
        # commit), then the index built from the table in its own step.
        small = _reported(f"{service.INGEST_MEMORY_MB}MB")
        assert calls == [("drop", small), ("build", _reported(service.index_memory_limit(30)))]
        assert "posts_account_id_idx" in _indexes(ws)
        assert _account_posts(ws, "x:a1") == sorted(f"x:{i}" for i in range(1, 30, 3))


def test_a_small_file_appends_to_the_indexed_table(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        calls = _spy(monkeypatch)
        service.ingest_files(ws, [_csv(tmp_path / "big.csv", range(30))])
        assert [c[0] for c in calls] == ["drop", "build"]
        calls.clear()
        seen: list[str] = []
        keep = service._keep_first_new

        def spy_keep(con, staged):  # type: ignore[no-untyped-def]
            seen.append(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            return keep(con, staged)

        monkeypatch.setattr(service, "_keep_first_new", spy_keep)
        # 12 rows (below the threshold of 20), 2 of them stored before: the index stays
        # and is appended to, under a limit that holds the whole table's index.
        report = service.ingest_files(ws, [_csv(tmp_path / "small.csv", range(28, 40))])
        assert_counts_add_up(report)
        assert (report.files[0].rows_stored, report.files[0].rows_duplicate) == (10, 2)
        assert calls == []
        assert seen == [_reported(service.publish_memory_limit(30 + 12))]
        assert "posts_account_id_idx" in _indexes(ws)
        assert _account_posts(ws, "x:a0") == sorted(f"x:{i}" for i in range(0, 40, 3))


def test_a_crash_before_the_rebuild_is_repaired_on_open(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The file's transaction committed without the index; the process dies before the
    # index is built again. The next writable open builds it; the stored data is whole.
    def crash(ws):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(service, "ensure_indexes", crash)
    monkeypatch.setattr(service, "REBUILD_MIN_POSTS", 20)
    path = _csv(tmp_path / "big.csv", range(30))
    db = tmp_path / "ws.duckdb"
    with civicsentry.open(db) as ws, pytest.raises(KeyboardInterrupt):
        service.ingest_files(ws, [path])
    monkeypatch.undo()
    with civicsentry.open(db, read_only=True) as ws:
        assert "posts_account_id_idx" not in _indexes(ws)  # readers cannot repair it
        assert ws.scalar("SELECT count(*) FROM posts") == 30
    with civicsentry.open(db) as ws:
        assert "posts_account_id_idx" in _indexes(ws)
        assert ensure_indexes(ws) == []  # nothing more to build
        assert _account_posts(ws, "x:a2") == sorted(f"x:{i}" for i in range(2, 30, 3))
        # The same command again completes nothing more: everything was stored once.
        again = service.ingest_files(ws, [path])
        assert (again.files[0].rows_stored, again.files[0].rows_duplicate) == (0, 30)
        assert ws.scalar("SELECT count(*) FROM ingest_log") == 2
        assert ws.scalar("SELECT count(*) FROM posts") == 30


def test_a_failed_publish_leaves_the_index_in_place(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The index is dropped before the file's transaction (so that the rows are written
    # straight to the database file): a failure there rolls the file back and the index
    # is built again.
    def fail(con, staged):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt("killed while publishing")

    monkeypatch.setattr(service, "derive_actions", fail)
    monkeypatch.setattr(service, "REBUILD_MIN_POSTS", 20)
    db = tmp_path / "ws.duckdb"
    with civicsentry.open(db) as ws:
        with pytest.raises(KeyboardInterrupt):
            service.ingest_files(ws, [_csv(tmp_path / "big.csv", range(30))])
        assert "posts_account_id_idx" in _indexes(ws)
        assert ws.scalar("SELECT count(*) FROM posts") == 0
