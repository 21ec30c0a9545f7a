"""A file is read chunk by chunk and stored in one transaction. What is stored is what
"first occurrence in the file, unless stored before" says, whatever the chunking, and a
failure part-way stores nothing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import civicsentry
from civicsentry.errors import InputError, StrictModeViolation
from civicsentry.service import ingest as service
from tests.conftest import assert_counts_add_up

HEADER = "post_id,account_id,created_at,text,hashtags\n"


def _csv(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# x:1 three times, x:2 twice, with different hashtags: only the first one's are stored.
REPEATS = [
    "x:1,x:a,2024-01-01T00:00:00Z,first one,alpha",
    "x:2,x:b,2024-01-01T00:00:01Z,first two,two",
    "x:1,x:a,2024-01-01T00:00:02Z,second one,beta",
    "x:3,x:a,2024-01-01T00:00:03Z,three,three",
    "x:2,x:b,2024-01-01T00:00:04Z,second two,gamma",
    "x:1,x:c,2024-01-01T00:00:05Z,third one,delta",
    "x:4,x:b,2024-01-01T00:00:06Z,four,four",
]
KEPT = {"x:1": "first one", "x:2": "first two", "x:3": "three", "x:4": "four"}
HASHTAGS = {("x:1", "alpha"), ("x:2", "two"), ("x:3", "three"), ("x:4", "four")}


def _chunked(monkeypatch, size: int) -> None:  # type: ignore[no-untyped-def]
    options = service.Options
    monkeypatch.setattr(service, "Options", lambda size=size, **k: options(batch_size=size, **k))
    monkeypatch.setattr(service, "FLUSH_ROWS", size)


def _stored(ws) -> tuple[dict, set, int, dict]:  # type: ignore[no-untyped-def]
    texts = dict(ws.sql("SELECT post_id, text FROM posts").fetchall())
    tags = set(
        ws.sql("SELECT post_id, object_id FROM actions WHERE object_type = 'hashtag'").fetchall()
    )
    n_actions = ws.scalar("SELECT count(*) FROM actions")
    per_post = dict(
        ws.sql(
            "SELECT post_id, count(*) FROM actions WHERE object_type = 'post' GROUP BY 1"
        ).fetchall()
    )
    return texts, tags, n_actions, per_post


@pytest.mark.parametrize("size", [1, 2, 3, 50])
def test_repeats_keep_the_first_in_the_file_whatever_the_chunks(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, size: int
) -> None:
    _chunked(monkeypatch, size)
    path = _csv(tmp_path / "posts.csv", REPEATS)
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        report = service.ingest_files(ws, [path])
        assert_counts_add_up(report)
        f = report.files[0]
        assert (f.rows_read, f.rows_stored, f.rows_duplicate) == (7, 4, 3)
        texts, tags, n_actions, per_post = _stored(ws)
        assert texts == KEPT
        assert tags == HASHTAGS  # no action of a repeat that was not stored
        assert per_post == dict.fromkeys(KEPT, 1)
        # Each stored post: post + hashtag + text actions.
        assert n_actions == f.actions == 4 * 3
        assert ws.scalar("SELECT actions FROM ingest_log") == 12
        first_seen = ws.scalar("SELECT first_seen FROM accounts WHERE account_id = 'x:c'")
        assert first_seen is None  # x:c's only post was a repeat of x:1


@pytest.mark.parametrize("size", [1, 3, 50])
def test_ids_stored_before_the_file_are_not_stored_again(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, size: int
) -> None:
    _chunked(monkeypatch, size)
    before = _csv(tmp_path / "a.csv", REPEATS[:2])  # x:1 alpha, x:2 two
    after = _csv(
        tmp_path / "b.csv",
        [
            "x:2,x:b,2024-02-01T00:00:00Z,changed two,changed",
            "x:5,x:b,2024-02-01T00:00:01Z,five,five",
            "x:5,x:b,2024-02-01T00:00:02Z,five again,again",
            "x:1,x:a,2024-02-01T00:00:03Z,changed one,other",
        ],
    )
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        service.ingest_files(ws, [before])
        report = service.ingest_files(ws, [after])
        assert_counts_add_up(report)
        f = report.files[0]
        assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.actions) == (4, 1, 3, 3)
        texts, tags, n_actions, per_post = _stored(ws)
        assert texts == {"x:1": "first one", "x:2": "first two", "x:5": "five"}
        assert tags == {("x:1", "alpha"), ("x:2", "two"), ("x:5", "five")}
        assert per_post == {"x:1": 1, "x:2": 1, "x:5": 1}
        assert n_actions == 9
        again = service.ingest_files(ws, [before, after])
        assert again.total("rows_stored") == 0
        assert _stored(ws)[2] == 9


def test_a_failure_part_way_stores_nothing_of_the_file(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    # Two chunks are read and staged, then reading fails: nothing of the file is stored,
    # and the same file ingests in full afterwards.
    _chunked(monkeypatch, 2)
    grouped = service._grouped

    def failing(batches):  # type: ignore[no-untyped-def]
        yield from itertools.islice(grouped(batches), 2)
        raise InputError("the disk went away")

    staged: list[int] = []
    stage = service._stage_posts

    def spy(*args, **kw):  # type: ignore[no-untyped-def]
        staged.append(1)
        return stage(*args, **kw)

    monkeypatch.setattr(service, "_stage_posts", spy)
    monkeypatch.setattr(service, "_grouped", failing)
    path = _csv(tmp_path / "posts.csv", REPEATS)
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        report = service.ingest_files(ws, [path])
        assert "the disk went away" in (report.files[0].error or "")
        assert len(staged) == 2  # two chunks had been read and staged
        for table in ("posts", "actions", "accounts", "quarantine", "ingest_log"):
            assert ws.scalar(f"SELECT count(*) FROM {table}") == 0, table
        assert ws.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary") == 0
        monkeypatch.setattr(service, "_grouped", grouped)
        assert service.ingest_files(ws, [path]).total("rows_stored") == 4
        assert dict(ws.sql("SELECT post_id, text FROM posts").fetchall()) == KEPT


def test_strict_stores_nothing_when_the_bad_record_comes_late(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    _chunked(monkeypatch, 2)
    path = _csv(tmp_path / "posts.csv", [*REPEATS, "x:9,x:a,not a time,late,bad"])
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(StrictModeViolation, match="record 9"):
            service.ingest_files(ws, [path], strict=True)
        for table in ("posts", "actions", "accounts", "quarantine", "ingest_log"):
            assert ws.scalar(f"SELECT count(*) FROM {table}") == 0, table
        report = service.ingest_files(ws, [path])  # the same file, not strict: all of it
        f = report.files[0]
        assert (f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (4, 3, 1)
