"""Reading a large Parquet file holds a bounded amount of it, whatever its size."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from civicsentry.ingest.base import Options
from civicsentry.ingest.tabular import _parquet_batches
from civicsentry.normalise import normalise_url


def test_parquet_reader_does_not_accumulate_the_file(tmp_path: Path) -> None:
    # 30 row groups of ~1.6 MB of text each. pyarrow's pre-buffering kept every row
    # group read so far alive until the reader closed: Arrow memory then grew with the
    # file (to ~the whole file by the end) instead of staying at a few batches.
    path = tmp_path / "big.parquet"
    group = pa.table(
        {
            "post_id": [f"x:{i}" for i in range(20_000)],
            "account_id": ["x:a"] * 20_000,
            "created_at": pa.array([0] * 20_000, pa.timestamp("us", "UTC")),
            "text": [f"text number {i} " * 5 for i in range(20_000)],
        }
    )
    with pq.ParquetWriter(path, group.schema) as writer:
        for _ in range(30):
            writer.write_table(group)
    group_bytes = group.nbytes
    base = pa.total_allocated_bytes()
    peak = 0
    rows = 0
    for batch in _parquet_batches(path, Options(batch_size=5_000), ("post_id",)):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == 600_000
    assert peak < 5 * group_bytes, (peak, group_bytes)


def test_url_cache_is_bounded() -> None:
    assert normalise_url.cache_info().maxsize is not None
    assert normalise_url.cache_info().maxsize <= 200_000


def test_publishing_gets_the_memory_its_indexes_need(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Staging streams under the small ingest limit. A large file into an empty table is
    # published without the posts index, under that same limit; a small file into a
    # larger table appends to the index, whose entries DuckDB holds in memory until the
    # commit (and loads whole), under a limit sized to the table. The ingest's limit is
    # back for the next file, and the caller's afterwards.
    import civicsentry
    from civicsentry.service import ingest as service

    seen: list[tuple[str, str]] = []
    keep = service._keep_first_new

    def spy(con, staged):  # type: ignore[no-untyped-def]
        seen.append(
            ("publish", con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        )
        return keep(con, staged)

    monkeypatch.setattr(service, "_keep_first_new", spy)
    monkeypatch.setattr(service, "REBUILD_MIN_POSTS", 2)  # the first file counts as large
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(
        "post_id,account_id,created_at,text\nx:1,x:a,2024-01-01T00:00:00Z,hello\n"
        "x:2,x:a,2024-01-01T00:00:01Z,again\n",
        encoding="utf-8",
    )
    second.write_text(
        "post_id,account_id,created_at,text\nx:1,x:a,2024-01-01T00:00:00Z,hello\n",
        encoding="utf-8",
    )
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        ws.con.execute("SET memory_limit = '3GB'")
        before = ws.scalar("SELECT current_setting('memory_limit')")
        service.ingest_files(ws, [first, second])
        assert ws.scalar("SELECT count(*) FROM posts") == 2
        assert ws.scalar("SELECT current_setting('memory_limit')") == before
    probe = duckdb.connect()
    limits = []
    for limit in (f"{service.INGEST_MEMORY_MB}MB", service.publish_memory_limit(2 + 1)):
        probe.execute(f"SET memory_limit = '{limit}'")
        limits.append(probe.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    assert seen == [("publish", limits[0]), ("publish", limits[1])]


def test_the_publishing_limit_grows_with_the_posts_published() -> None:
    from civicsentry.service import ingest as service

    # 400 MB of the ingest's own, and 60 bytes a post for the index entries (10M posts: 1 GB,
    # where a fixed 2 GB limit let DuckDB cache up to 2 GB on any file).
    assert service.publish_memory_limit(0) == "400MB"
    assert service.publish_memory_limit(1_000_000) == "460MB"
    assert service.publish_memory_limit(10_000_000) == "1000MB"


def test_a_small_stage_is_not_checkpointed_a_large_one_is(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The stage of a small file stays uncompressed (no automatic checkpoint); past
    # STAGE_UNCOMPRESSED_RECORDS the usual threshold is back, so a large stage is
    # compressed as before (uncompressed, 10M X v2 posts ran the duplicate check out of
    # memory). The caller's threshold is back afterwards.
    import civicsentry
    from civicsentry.service import ingest as service

    seen: list[str] = []
    stage = service._stage_posts

    def spy(con, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0])
        return stage(con, *args, **kwargs)

    monkeypatch.setattr(service, "_stage_posts", spy)
    # One chunk per two posts: batches of two, flushed as they come.
    monkeypatch.setattr(service, "Options", functools.partial(Options, batch_size=2))
    monkeypatch.setattr(service, "FLUSH_ROWS", 2)
    monkeypatch.setattr(service, "STAGE_UNCOMPRESSED_RECORDS", 4)
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at,text\n"
        + "".join(f"x:{i},x:a{i % 3},2024-01-01T00:00:0{i}Z,post {i}\n" for i in range(7)),
        encoding="utf-8",
    )
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        usual = ws.scalar("SELECT current_setting('checkpoint_threshold')")
        service.ingest_files(ws, [path])
        assert ws.scalar("SELECT count(*) FROM posts") == 7
        assert ws.scalar("SELECT current_setting('checkpoint_threshold')") == usual
    # Chunks start at records 0, 2, 4, 6: the first two under the small-stage setting.
    assert len(seen) == 4 and seen[2:] == [usual, usual]
    assert seen[0] == seen[1] != usual


def test_running_out_of_memory_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    import civicsentry
    from civicsentry.errors import WorkspaceError
    from civicsentry.service import ingest as service

    def exhausted(con, staged):  # type: ignore[no-untyped-def]
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: could not allocate block of size 256.0 KiB\n\nPossible solutions:"
        )

    monkeypatch.setattr(service, "_keep_first_new", exhausted)
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at,text\nx:1,x:a,2024-01-01T00:00:00Z,hello\n",
        encoding="utf-8",
    )
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(WorkspaceError) as err:
            service.ingest_files(ws, [path])
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"{path}: ran out of memory")
        assert "could not allocate block" in message and "Possible solutions" not in message
        # Nothing of the file is stored, and the same command then completes it.
        assert ws.scalar("SELECT count(*) FROM posts") == 0
        monkeypatch.undo()
        service.ingest_files(ws, [path])
        assert ws.scalar("SELECT count(*) FROM posts") == 1
