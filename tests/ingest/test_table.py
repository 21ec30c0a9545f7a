"""The generic canonical table adapter: CSV, TSV, JSON Lines, Parquet, mappings."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civicsentry.errors import MissingColumns, UnknownFormat
from civicsentry.ingest import detect_adapter
from civicsentry.ingest.readers import sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows

T = DATA / "table"


def test_canonical_csv_fields(ws) -> None:
    report = ingest_files(ws, [T / "posts.csv"])
    assert_counts_add_up(report)
    assert report.total("rows_stored") == 4
    posts = {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}
    assert set(posts) == {"x:1001", "x:1002", "x:1003", "x:1004"}
    p1 = posts["x:1001"]
    assert p1["account_id"] == "x:u1" and p1["kind"] == "post" and p1["platform"] == "x"
    assert p1["urls"] == ["https://example.org/vote?station=4"]
    assert p1["domains"] == ["example.org"]
    assert p1["hashtags"] == ["election2024", "vote"]
    assert p1["created_at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert posts["x:1002"]["kind"] == "repost" and posts["x:1002"]["parent_post_id"] == "x:1001"
    assert posts["x:1003"]["created_at"] == datetime(2024, 5, 1, 10, 1, tzinfo=UTC)
    assert posts["x:1003"]["lang"] == "en"  # detected: the file left it empty
    assert posts["x:1004"]["created_at"] == datetime(2024, 5, 1, 10, 2, tzinfo=UTC)  # epoch
    assert posts["x:1004"]["urls"] == ["https://news.bbc.co.uk/x"]
    assert posts["x:1004"]["domains"] == ["bbc.co.uk"]
    assert posts["x:1001"]["source"].endswith("posts.csv:2")
    handles = dict(ws.sql("SELECT account_id, handle FROM accounts").fetchall())
    assert handles == {"x:u1": "alice", "x:u2": "bob", "x:u3": "carol"}


def test_actions_derived(ws) -> None:
    ingest_files(ws, [T / "posts.csv"])
    acts = set(
        ws.sql(
            "SELECT account_id, object_type, object_id, post_id FROM actions "
            "WHERE object_type <> 'text'"
        ).fetchall()
    )
    assert ("x:u2", "repost", "x:1001", "x:1002") in acts
    assert ("x:u3", "reply", "x:1001", "x:1003") in acts
    assert ("x:u2", "quote", "x:1001", "x:1004") in acts
    assert ("x:u1", "url", "https://example.org/vote?station=4", "x:1001") in acts
    assert ("x:u1", "domain", "example.org", "x:1001") in acts
    assert ("x:u1", "hashtag", "vote", "x:1001") in acts
    # a repost acts only as a repost and a post: its parent's links are not its own
    assert {t for a, t, _o, p in acts if p == "x:1002"} == {"repost", "post"}
    assert ws.scalar("SELECT count(*) FROM actions WHERE object_type = 'post'") == 4
    texts = ws.sql("SELECT post_id FROM actions WHERE object_type = 'text'").fetchall()
    assert {p for (p,) in texts} == {"x:1001", "x:1003", "x:1004"}


def test_jsonl_with_lists_and_qualified_ids(ws) -> None:
    report = ingest_files(ws, [T / "posts.jsonl"])
    assert report.files[0].format == "table"
    posts = {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}
    assert posts["x:2001"]["platform"] == "x"  # from the id's prefix
    assert posts["x:2001"]["urls"] == ["https://t.example/abc"]
    assert posts["x:2001"]["hashtags"] == ["fraud"]
    assert posts["x:2001"]["mentions"] == ["election_board"]
    assert posts["x:2001"]["created_at"] == datetime(2024, 5, 2, 6, tzinfo=UTC)
    assert posts["x:2002"]["parent_post_id"] == "x:2001"


def test_mapping_reads_any_table(ws) -> None:
    mapping = {
        "post_id": "id",
        "account_id": "user",
        "created_at": "time",
        "text": "message",
        "urls": "links",
    }
    report = ingest_files(ws, [T / "mapped.csv"], mapping=mapping, platform="facebook")
    assert_counts_add_up(report)
    posts = {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}
    assert posts["facebook:a1"]["account_id"] == "facebook:bob"
    assert posts["facebook:a1"]["urls"] == ["https://example.com/a", "https://example.com/b"]
    assert posts["facebook:a2"]["urls"] == []


def test_missing_column_is_a_clear_error(ws) -> None:
    report = ingest_files(
        ws,
        [T / "mapped.csv"],
        mapping={"post_id": "id", "account_id": "nope", "created_at": "time"},
        platform="x",
    )
    assert (
        report.failed
        and "missing column(s) account_id (mapped to 'nope')" in report.failed[0].error
    )
    with pytest.raises(UnknownFormat, match="format not recognised"):
        detect_adapter(sample(T / "mapped.csv"))


def test_missing_column_error_type(ws, tmp_path: Path) -> None:
    from civicsentry.ingest import get_adapter
    from civicsentry.ingest.base import Options

    f = tmp_path / "x.csv"
    f.write_text("post_id,account_id\n1,2\n")
    with pytest.raises(MissingColumns):
        list(get_adapter("table").read(f, Options(platform="x")))


def test_bad_rows_quarantined_counts_add_up(ws) -> None:
    report = ingest_files(ws, [T / "bad.csv"])
    assert_counts_add_up(report)
    f = report.files[0]
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (6, 2, 1, 3)
    q = {r["position"]: r["reason"] for r in rows(ws, "SELECT * FROM quarantine")}
    assert q[3] == "missing account_id"
    assert "not a date/time" in q[4]
    assert q[5] == "expected 5 fields, found 7"
    assert ws.scalar("SELECT raw FROM quarantine WHERE position = 4").find("not-a-date") >= 0


def test_parquet_vectorised_path(ws, tmp_path: Path) -> None:
    table = pa.table(
        {
            "post_id": ["p1", "p2", "p3"],
            "platform": ["x", "x", "x"],
            "account_id": ["a", "b", "a"],
            "created_at": pa.array(
                [datetime(2024, 1, 1, 0, 0, s) for s in (0, 5, 9)], pa.timestamp("ms")
            ),
            "kind": ["post", "REPOST", None],
            "parent_post_id": [None, "p1", None],
            "urls": [["HTTP://A.com/?utm_medium=x"], None, []],
            "hashtags": ["One two", None, "#Three"],  # space-separated strings work too
            "text": ["hello there friends", None, "bonjour à tous les amis"],
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    report = ingest_files(ws, [path])
    assert report.files[0].format == "table" and report.total("rows_stored") == 3
    posts = {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}
    assert posts["x:p1"]["urls"] == ["http://a.com/"] and posts["x:p1"]["domains"] == ["a.com"]
    assert posts["x:p2"]["kind"] == "repost" and posts["x:p2"]["parent_post_id"] == "x:p1"
    assert posts["x:p1"]["hashtags"] == ["one", "two"] and posts["x:p3"]["hashtags"] == ["three"]
    assert posts["x:p2"]["created_at"] == datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)  # naive = UTC
    assert posts["x:p3"]["lang"] == "fr"


def test_accounts_file(ws) -> None:
    ingest_files(ws, [T / "posts.csv"])
    report = ingest_files(ws, [T / "accounts.csv"])
    assert report.files[0].format == "accounts"
    acc = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    assert acc["x:u1"]["followers"] == 1200 and acc["x:u1"]["display_name"] == "Alice A."
    assert acc["x:u2"]["verified"] is True and acc["x:u2"]["following"] == 2000
    assert acc["x:u1"]["first_seen"] == datetime(2024, 5, 1, 10, tzinfo=UTC)  # kept from posts
    assert acc["x:u1"]["description"].startswith("=HYPERLINK")  # stored as given, escaped on output


def test_gzip_and_folder_and_glob(ws, tmp_path: Path) -> None:
    gz = tmp_path / "in" / "posts.csv.gz"
    gz.parent.mkdir()
    with open(T / "posts.csv", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(T / "posts.jsonl", tmp_path / "in" / "more.jsonl")
    report = ingest_files(ws, [tmp_path / "in"])
    assert report.total("rows_stored") == 6
    assert ingest_files(ws, [str(tmp_path / "in" / "*.gz")]).total("rows_duplicate") == 4


def test_reingest_stores_nothing(ws) -> None:
    ingest_files(ws, [T / "posts.csv"])
    before = ws.scalar("SELECT count(*) FROM actions")
    again = ingest_files(ws, [T / "posts.csv"])
    assert again.total("rows_stored") == 0 and again.total("rows_duplicate") == 4
    assert ws.scalar("SELECT count(*) FROM posts") == 4
    assert ws.scalar("SELECT count(*) FROM actions") == before


def test_list_fields_deduplicated_in_order_after_normalising(ws, tmp_path: Path) -> None:
    path = tmp_path / "dups.jsonl"
    path.write_text(
        '{"post_id": "x:1", "account_id": "x:a", "created_at": 1,'
        ' "urls": ["https://b.com/?utm_source=1", "https://a.com/", "https://B.com/#x", null],'
        ' "hashtags": ["#Vote", "vote", "#Polls", "VOTE"]}\n'
    )
    ingest_files(ws, [path])
    urls, domains, tags = ws.sql("SELECT urls, domains, hashtags FROM posts").fetchall()[0]
    assert urls == ["https://b.com/", "https://a.com/"]
    assert domains == ["b.com", "a.com"]
    assert tags == ["vote", "polls"]
