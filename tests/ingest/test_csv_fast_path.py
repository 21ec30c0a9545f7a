"""The vectorised CSV path gives exactly what the row-by-row path gives, and refuses
every file it could not place record by record (those take the row path, also when the
flaw shows only after some blocks were handed out)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicsentry.ingest import cnt
from civicsentry.ingest.base import Options
from civicsentry.ingest.prepare import prepare_posts
from civicsentry.ingest.readers import NotClean, csv_arrow_batches
from tests.conftest import DATA

HEADER = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"
# Each kind of value the toolkit's CSV holds, and the awkward ones: fractional seconds,
# milliseconds, microseconds, ISO times, non-times, negative epochs before year 1, URL
# fields with repeated or trailing spaces, quoted commas, empty ids.
EDGE_ROWS = """\
1,u1,alice,,,hello,1600000000.5,http://a.com  http://b.com
2,u2,,1,,,1600000000123,
3,u3,bob,,1,"re, x",2020-01-01T00:00:00Z,\x20
4,u4,c,,,,notatime,http://c.com/?utm_source=x
5,u5,d,,,'quote',1600000000123456,
6,u6,e,,,,-99999999999,
,u7,f,,,,,
8,,g,,,x,1600000001,
9,u9,h,2,1,both parents,1600000002, http://d.com
"""


def _both_paths(path: Path) -> tuple[pa.Table, pa.Table]:
    def run(fast: bool) -> pa.Table:
        batches = cnt.read(path, Options()) if fast else _row_path(path)
        return pa.concat_tables([prepare_posts(b.posts) for b in batches]).combine_chunks()

    return run(True), run(False)


def _refused(path: Path) -> bool:
    """Whether the fast path refuses the file: at once, or at some block."""
    blocks = csv_arrow_batches(path)
    if blocks is None:
        return True
    try:
        for _ in blocks:
            pass
    except NotClean:
        return True
    return False


def _row_path(path: Path):  # type: ignore[no-untyped-def]
    original = cnt.csv_arrow_batches
    cnt.csv_arrow_batches = lambda *a, **k: None  # type: ignore[assignment]
    try:
        yield from cnt.read(path, Options())
    finally:
        cnt.csv_arrow_batches = original  # type: ignore[assignment]


@pytest.mark.parametrize("compress", [False, True])
def test_cnt_fast_path_equals_row_path(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / ("m.csv.gz" if compress else "m.csv")
    data = (HEADER + EDGE_ROWS).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    assert not _refused(path)  # the file is clean: the fast path runs
    fast, rows = _both_paths(path)
    assert fast.num_rows == 9
    assert fast.equals(rows)
    by_id = dict(zip(fast.column("post_id").to_pylist(), fast.to_pylist(), strict=True))
    assert by_id["4"]["problem"] == "timestamp 'notatime' is not a time"
    assert by_id["6"]["created_at"] is None and by_id["6"]["problem"] is not None
    assert by_id["1"]["position"] == 2 and by_id["9"]["position"] == 10
    assert by_id["9"]["kind"] == "repost" and by_id["9"]["parent_post_id"] == "2"


def test_cnt_fixture_takes_the_fast_path_with_the_same_result() -> None:
    path = DATA / "cnt" / "messages.csv"
    assert not _refused(path)
    fast, rows = _both_paths(path)
    assert fast.equals(rows)


@pytest.mark.parametrize(
    "body",
    [
        b'1,u1,a,,,"two\nlines",1600000000,\n',  # a quoted line break: lines would shift
        b"1,u1,a,,,x,1600000000,\n\n2,u2,b,,,y,1600000001,\n",  # a blank line
        b"1,u1,a,,,x,1600000000,\n,,,,,,,\n",  # a record of empty fields
        b"1,u1,a,,,x,1600000000,,extra\n",  # the wrong number of fields
        b"1,u1,a,,,\xff\xfe,1600000000,\n",  # not UTF-8
        b'1,u1,a,,,"car\rriage",1600000000,\n',  # a quoted carriage return
    ],
)
def test_unclean_files_take_the_row_path(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(HEADER.encode() + body)
    assert _refused(path)


def test_truncated_gzip_takes_the_row_path(tmp_path: Path) -> None:
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress((HEADER + EDGE_ROWS * 200).encode())[:-40])
    assert _refused(path)


_cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(_cell, min_size=8, max_size=8), min_size=1, max_size=12))
def test_any_clean_file_gives_the_row_path_result(tmp_path_factory, rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER.strip().split(","))
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("h") / "m.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    if _refused(path):
        return  # e.g. a record of empty fields: the row path reads it, as tested above
    fast, slow = _both_paths(path)
    assert fast.equals(slow)


def test_one_line_check_reads_sliced_batches() -> None:
    # The check scans each column's value bytes through its offsets: a slice must see
    # only its own records (the line break and the empty record lie outside some slices).
    from civicsentry.ingest.readers import _one_line_records

    rb = pa.record_batch({"a": ["x", "y\nz", "w", ""], "b": ["p", "q", "r", ""]})
    assert not _one_line_records(rb)
    assert _one_line_records(rb.slice(2, 1))
    assert not _one_line_records(rb.slice(1, 1))  # the line break
    assert not _one_line_records(rb.slice(2, 2))  # the record of empty fields
    assert _one_line_records(rb.slice(0, 1))
    assert not _one_line_records(pa.record_batch({"a": ["x\ry"], "b": ["z"]}))
    assert _one_line_records(pa.record_batch({"a": ["", "x"], "b": ["y", ""]}))


def _stored(ws) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Every canonical table's rows (sorted), and the file's counts."""
    tables = {
        t: sorted(map(repr, ws.sql(f"SELECT * FROM {t}").fetchall()))
        for t in ("posts", "accounts", "actions", "quarantine")
    }
    tables["ingest_log"] = ws.sql(
        "SELECT ingest_batch, rows_read, rows_stored, rows_duplicate, rows_quarantined, "
        "accounts, actions FROM ingest_log"
    ).fetchall()
    return tables


def test_a_flaw_after_clean_blocks_sends_the_whole_file_row_by_row(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    # Blocks of 512 bytes: the fast path hands out several clean blocks (with a bad
    # time and a repeated id among them) before the block with a quoted line break,
    # after which every line number shifts by one. The service must discard what it
    # staged and read the file again row by row: the result is the row path's exactly.
    import civicsentry
    from civicsentry.ingest import readers
    from civicsentry.service import ingest as service

    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 512)
    lines = [f"{i},u{i % 7},h{i % 7}_{i // 40},,,text {i},{1600000000 + i}," for i in range(1, 120)]
    lines[10] = "11,u4,h4,,,bad time,notatime,"
    lines[20] = "5,u5,h5,,,repeat of 5,1600000099,"
    lines[100] = '101,u3,h3,,,"two\nlines",1600000101,'
    lines[110] = "111,u2,h2,,,after the break,1600000111,http://a.com"
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")

    handed_out = []
    original = cnt.csv_arrow_batches

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        blocks = original(*a, **k)
        for block in blocks:  # type: ignore[union-attr]
            handed_out.append(block[0])
            yield block

    monkeypatch.setattr(cnt, "csv_arrow_batches", counting)
    with civicsentry.open(tmp_path / "fast.duckdb") as ws:
        report = service.ingest_files(ws, [path], format="cnt")
        fast = _stored(ws)
    assert len(handed_out) > 1  # blocks were staged before the flaw showed
    monkeypatch.setattr(cnt, "csv_arrow_batches", lambda *a, **k: None)
    with civicsentry.open(tmp_path / "rows.duckdb") as ws:
        service.ingest_files(ws, [path], format="cnt")
        rows = _stored(ws)
    assert fast == rows
    (f,) = report.files
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (119, 117, 1, 1)
    assert fast["ingest_log"][0][0] == 1  # one batch: the first attempt left nothing
    assert report.files[0].quarantine_sample == ("record 12: timestamp 'notatime' is not a time",)
    with civicsentry.open(tmp_path / "fast.duckdb") as ws:
        # Line numbers after the two-line record are its row path's: one more.
        assert ws.scalar("SELECT source FROM posts WHERE post_id = 'cnt:111'") == f"{path}:113"
        assert ws.scalar("SELECT text FROM posts WHERE post_id = 'cnt:101'") == "two\nlines"
