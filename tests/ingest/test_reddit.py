"""Reddit submissions and comments: Pushshift / Arctic Shift dumps, the Pushshift API,
Reddit API listings."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zstandard

from civicsentry.errors import InputError
from civicsentry.ingest import REGISTRY, detect_adapter
from civicsentry.ingest.readers import sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows
from tests.conftest import file_counts as _counts
from tests.conftest import stored_posts as _posts

R = DATA / "reddit"
DELETED = "author deleted ([deleted]): not attributable to an account"


def test_submissions_dump(ws) -> None:
    path = R / "RS_2024-11.ndjson"
    assert detect_adapter(sample(path)).name == "reddit"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (5, 4, 0, 1)
    posts = _posts(ws)
    assert set(posts) == {
        "reddit:t3_1gk2abc",
        "reddit:t3_1gk2def",
        "reddit:t3_1gk2ghi",
        "reddit:t3_1gk2mno",
    }

    link = posts["reddit:t3_1gk2abc"]
    assert link["platform"] == "reddit" and link["account_id"] == "reddit:wroclaw_watcher"
    assert link["kind"] == "post" and link["parent_post_id"] is None
    assert link["created_at"] == datetime(2024, 11, 5, 8, 0, tzinfo=UTC)
    assert link["text"] == "PKW publishes official polling hours & station list"  # &amp; unescaped
    assert link["urls"] == ["https://pkw.example.gov.pl/lista"]  # utm_* dropped
    assert link["domains"] == ["example.gov.pl"]
    assert link["hashtags"] == []

    self_post = posts["reddit:t3_1gk2def"]
    assert self_post["created_at"] == datetime(2024, 11, 5, 8, 15, tzinfo=UTC)  # string created_utc
    assert self_post["text"].startswith(
        "Ballots found in a river near Wrocław?!\n\nSaw this on Telegram"
    )
    assert "> is this real?" in self_post["text"]
    # a self post's own permalink is not a shared URL; links in the selftext are
    assert self_post["urls"] == ["https://t.me/s/patriot_news/4412", "https://bit.ly/3xYz9"]
    assert self_post["mentions"] == ["wroclaw_watcher"]

    xpost = posts["reddit:t3_1gk2ghi"]
    assert xpost["kind"] == "repost" and xpost["parent_post_id"] == "reddit:t3_1gk2def"
    assert xpost["urls"] == []  # its url is the parent's permalink

    assert posts["reddit:t3_1gk2mno"]["urls"] == ["https://i.redd.it/q1w2e3r4t5y6.jpeg"]

    (q,) = rows(ws, "SELECT position, reason, raw FROM quarantine")
    assert q["position"] == 4 and q["reason"] == DELETED
    assert json.loads(q["raw"])["name"] == "t3_1gk2jkl"  # a short raw record
    assert ws.scalar("SELECT count(*) FROM accounts WHERE handle = '[deleted]'") == 0

    accounts = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    assert accounts["reddit:wroclaw_watcher"]["handle"] == "wroclaw_watcher"
    assert accounts["reddit:wroclaw_watcher"]["created_at"] == datetime(2020, 1, 1, tzinfo=UTC)
    acts = set(ws.sql("SELECT account_id, object_type, object_id FROM actions").fetchall())
    assert ("reddit:truth_seeker_7732", "repost", "reddit:t3_1gk2def") in acts
    assert ("reddit:truth_seeker_7731", "url", "https://bit.ly/3xYz9") in acts


def test_comments_dump(ws) -> None:
    path = R / "RC_2024-11.ndjson"
    assert detect_adapter(sample(path)).name == "reddit"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (5, 4, 0, 1)
    posts = _posts(ws)
    c1 = posts["reddit:t1_lvk1aaa"]
    assert c1["kind"] == "reply" and c1["parent_post_id"] == "reddit:t3_1gk2abc"
    assert c1["account_id"] == "reddit:ballot_counter_pl"
    assert c1["text"].endswith("& polls close at 21:00.")
    assert c1["urls"] == ["https://pkw.example.gov.pl/lista"]  # Markdown link, fbclid dropped
    c2 = posts["reddit:t1_lvk1bbb"]
    assert c2["urls"] == ["https://factcheck.example.eu/2024/ballots_river"]  # "\\_" unescaped
    removed = posts["reddit:t1_lvk1ccc"]  # no `name` in the record: built from the id
    assert removed["parent_post_id"] == "reddit:t1_lvk1bbb" and removed["text"] is None
    # a reply to a deleted comment keeps its parent even though the parent is quarantined
    assert posts["reddit:t1_lvk1eee"]["parent_post_id"] == "reddit:t1_lvk1ddd"
    assert rows(ws, "SELECT reason FROM quarantine") == [{"reason": DELETED}]


def test_pushshift_api_document(ws) -> None:
    path = R / "pushshift_api.json"
    assert detect_adapter(sample(path)).name == "reddit"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (2, 2, 0, 0)
    p = _posts(ws)["reddit:t3_1gk3zzz"]  # no `name`: t3_ + id
    assert p["text"] == "Turnout update\n\nTurnout at 17:00 was 52%." and p["urls"] == []
    assert p["source"].endswith("pushshift_api.json:1")


def test_reddit_api_listing_with_nested_replies(ws, tmp_path: Path) -> None:
    comment = {
        "kind": "t1",
        "data": {
            "id": "c1",
            "name": "t1_c1",
            "author": "alice",
            "body": "top",
            "created_utc": 1730900000.0,
            "link_id": "t3_p1",
            "parent_id": "t3_p1",
            "subreddit": "poland",
            "replies": {
                "kind": "Listing",
                "data": {
                    "children": [
                        {
                            "kind": "t1",
                            "data": {
                                "id": "c2",
                                "name": "t1_c2",
                                "author": "bob",
                                "body": "nested",
                                "created_utc": 1730900060.0,
                                "link_id": "t3_p1",
                                "parent_id": "t1_c1",
                                "subreddit": "poland",
                                "replies": "",
                            },
                        },
                        {"kind": "more", "data": {"count": 3, "children": ["c3", "c4", "c5"]}},
                    ]
                },
            },
        },
    }
    path = tmp_path / "comments.json"
    path.write_text(json.dumps({"kind": "Listing", "data": {"after": None, "children": [comment]}}))
    assert detect_adapter(sample(path)).name == "reddit"
    report = ingest_files(ws, [path])
    assert _counts(report) == (2, 2, 0, 0)
    posts = _posts(ws)
    assert posts["reddit:t1_c2"]["parent_post_id"] == "reddit:t1_c1"
    assert posts["reddit:t1_c2"]["account_id"] == "reddit:bob"


def test_malformed_records_quarantined(ws) -> None:
    path = R / "malformed.ndjson"
    assert detect_adapter(sample(path)).name == "reddit"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (7, 1, 0, 6)
    q = {r["position"]: r["reason"] for r in rows(ws, "SELECT position, reason FROM quarantine")}
    assert q[2].startswith("invalid JSON")
    assert q[3] == "created_utc 'not a time' is not a time"
    assert q[4].startswith("not a Reddit submission or comment")
    assert q[5] == "comment without parent_id"
    assert q[6] == "missing author"
    assert q[7].startswith("not valid UTF-8")


@pytest.mark.parametrize("name", ["reddit", "pushshift", "arctic-shift"])
def test_format_forced(ws, name) -> None:
    report = ingest_files(ws, [R / "RC_2024-11.ndjson"], format=name)
    assert report.files[0].format == "reddit" and report.total("rows_stored") == 4


def test_compressed_dumps_and_reingest(ws, tmp_path: Path) -> None:
    zst = tmp_path / "RS_2024-11.zst"  # how the monthly dumps are distributed
    zst.write_bytes(zstandard.ZstdCompressor().compress((R / "RS_2024-11.ndjson").read_bytes()))
    gz = tmp_path / "RC_2024-11.ndjson.gz"
    with open(R / "RC_2024-11.ndjson", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for p in (zst, gz):
        assert detect_adapter(sample(p)).name == "reddit"
    report = ingest_files(ws, [zst, gz])
    assert_counts_add_up(report)
    assert report.total("rows_stored") == 8 and report.total("rows_quarantined") == 2
    assert _posts(ws)["reddit:t3_1gk2abc"]["urls"] == ["https://pkw.example.gov.pl/lista"]
    again = ingest_files(ws, [R / "RS_2024-11.ndjson", R / "RC_2024-11.ndjson"])
    assert_counts_add_up(again)
    assert again.total("rows_stored") == 0 and again.total("rows_duplicate") == 8
    assert ws.scalar("SELECT count(*) FROM posts") == 8


def test_sniffer_only_takes_reddit_fixtures() -> None:
    adapter = REGISTRY["reddit"]
    for path in sorted(p for p in DATA.rglob("*") if p.is_file()):
        try:
            s = sample(path)
        except InputError:  # other formats' deliberately broken fixtures
            continue
        assert adapter.sniff(s) == (path.parent.name == "reddit"), path
