"""Bluesky / AT Protocol: exported records, PostViews, feeds and Jetstream events."""

from __future__ import annotations

import gzip
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicsentry.errors import InputError
from civicsentry.ingest import REGISTRY, detect_adapter
from civicsentry.ingest.readers import sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows
from tests.conftest import file_counts as _counts
from tests.conftest import stored_posts as _posts

B = DATA / "bluesky"
A_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"  # civicwatch
B_DID = "did:plc:z72i7hdynmk6r22z27h6tvur"  # votefacts
C_DID = "did:plc:4hqjfn7m6n5hno3doamuhgef"  # ballot-bot-17
D_DID = "did:plc:vpkhqolt662uhesyj6nxm7ys"  # ballot-bot-18
P1 = f"bluesky:at://{A_DID}/app.bsky.feed.post/3l7yq2vutsw2b"
P2 = f"bluesky:at://{B_DID}/app.bsky.feed.post/3l7yq4abcde2k"
P3 = f"bluesky:at://{C_DID}/app.bsky.feed.post/3l7yq5kq7zs2a"
P4 = f"bluesky:at://{D_DID}/app.bsky.feed.post/3l7yq5kqa4c2x"
R1 = f"bluesky:at://{C_DID}/app.bsky.feed.repost/3l7yq6b2hqk2d"
J1 = f"bluesky:at://{C_DID}/app.bsky.feed.post/3l7yqc2bnhk2r"


def test_records_and_post_views(ws, caplog) -> None:
    path = B / "posts.jsonl"
    assert detect_adapter(sample(path)).name == "bluesky"
    with caplog.at_level(logging.INFO, logger="civicsentry"):
        report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (5, 5, 0, 0)  # the like on line 6 is not a row
    assert "like: 1" in caplog.text
    posts = _posts(ws)
    assert set(posts) == {P1, P2, P3, P4, R1}

    p1 = posts[P1]
    assert p1["platform"] == "bluesky" and p1["account_id"] == f"bluesky:{A_DID}"
    assert p1["kind"] == "post" and p1["parent_post_id"] is None
    assert p1["created_at"] == datetime(2024, 11, 5, 8, 0, 1, 250000, tzinfo=UTC)
    assert p1["text"].startswith("Polling stations in Łódź close at 21:00")
    assert p1["lang"] == "en"
    # link facet (full URI, not the shortened display text) then the link card; tracking gone
    assert p1["urls"] == [
        "https://elections.example.org/find?station=12",
        "https://news.example.com/2024/11/05/polls-open",
    ]
    assert sorted(p1["domains"]) == ["example.com", "example.org"]
    assert p1["hashtags"] == ["wybory2024"]
    assert p1["mentions"] == ["votefacts.bsky.social"]  # as written at the facet's byte range
    assert p1["source"].endswith("posts.jsonl:1")

    assert posts[P2]["kind"] == "reply" and posts[P2]["parent_post_id"] == P1
    p3 = posts[P3]
    assert p3["kind"] == "quote" and p3["parent_post_id"] == P1
    assert p3["hashtags"] == ["wybory2024", "rigged", "electionfraud"]  # facets + record.tags
    p4 = posts[P4]  # recordWithMedia: a quote with a link card
    assert p4["kind"] == "quote" and p4["parent_post_id"] == P1
    assert p4["urls"] == ["https://t.example/abc"]
    # createdAt says 2030: the earlier indexedAt wins (Bluesky's sortAt)
    assert p4["created_at"] == datetime(2024, 11, 5, 8, 4, 2, 100000, tzinfo=UTC)
    r1 = posts[R1]  # a listRecords item ("value"), account from the URI
    assert r1["kind"] == "repost" and r1["parent_post_id"] == P1
    assert r1["account_id"] == f"bluesky:{C_DID}" and r1["text"] is None and r1["urls"] == []
    assert r1["created_at"] == datetime(2024, 11, 5, 8, 4, 1, 20000, tzinfo=UTC)

    accounts = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    a = accounts[f"bluesky:{A_DID}"]
    assert a["handle"] == "civicwatch.bsky.social" and a["display_name"] == "Civic Watch"
    assert a["created_at"] == datetime(2023, 4, 18, 9, 12, 44, tzinfo=UTC)
    assert accounts[f"bluesky:{D_DID}"]["handle"] == "ballot-bot-18.bsky.social"

    acts = set(ws.sql("SELECT account_id, object_type, object_id FROM actions").fetchall())
    assert (f"bluesky:{C_DID}", "repost", P1) in acts
    assert (f"bluesky:{C_DID}", "quote", P1) in acts
    assert (f"bluesky:{B_DID}", "reply", P1) in acts
    assert (f"bluesky:{A_DID}", "hashtag", "wybory2024") in acts


def test_author_feed_document(ws) -> None:
    path = B / "author_feed.json"  # a pretty-printed getAuthorFeed response
    assert detect_adapter(sample(path)).name == "bluesky"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (3, 3, 0, 0)
    posts = _posts(ws)
    f1 = posts[f"bluesky:at://{B_DID}/app.bsky.feed.post/3l7yqa7wkx22c"]
    assert f1["urls"] == ["https://gov.example.pl/pkw/komunikat-12"] and f1["lang"] == "en"
    assert f1["source"].endswith("author_feed.json:1")  # element index of the document
    repost = posts[f"{P1}#repost-by-{B_DID}"]  # reasonRepost without a uri
    assert repost["kind"] == "repost" and repost["parent_post_id"] == P1
    assert repost["account_id"] == f"bluesky:{B_DID}"
    assert repost["created_at"] == datetime(2024, 11, 5, 9, 15, tzinfo=UTC)
    assert posts[P1]["account_id"] == f"bluesky:{A_DID}"
    handles = dict(ws.sql("SELECT account_id, handle FROM accounts").fetchall())
    assert handles == {
        f"bluesky:{A_DID}": "civicwatch.bsky.social",
        f"bluesky:{B_DID}": "votefacts.bsky.social",
    }


def test_jetstream_events(ws, caplog) -> None:
    path = B / "jetstream.jsonl"
    assert detect_adapter(sample(path)).name == "bluesky"
    with caplog.at_level(logging.INFO, logger="civicsentry"):
        report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    # post create, repost create, post update (same URI → duplicate); like, follow delete,
    # identity, account and post delete are not rows
    assert _counts(report) == (3, 2, 1, 0)
    assert "5 records that are not posts or reposts were skipped" in caplog.text
    posts = _posts(ws)
    j1 = posts[J1]
    assert j1["account_id"] == f"bluesky:{C_DID}"
    assert (
        j1["text"] == "Share before they delete it: https://bit.ly/3xYz9 #StopTheSteal"
    )  # first version
    assert j1["urls"] == ["https://bit.ly/3xYz9"] and j1["hashtags"] == ["stopthesteal"]
    assert j1["created_at"] == datetime(2024, 11, 5, 8, 10, tzinfo=UTC)  # createdAt < time_us
    rp = posts[f"bluesky:at://{D_DID}/app.bsky.feed.repost/3l7yqc3bbbb2r"]
    assert rp["kind"] == "repost" and rp["parent_post_id"] == J1
    # the identity event names the DID
    assert (
        ws.scalar(f"SELECT handle FROM accounts WHERE account_id = 'bluesky:{C_DID}'")
        == "ballot-bot-17.bsky.social"
    )


def test_malformed_records_quarantined(ws) -> None:
    path = B / "malformed.jsonl"
    assert detect_adapter(sample(path)).name == "bluesky"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    # line 7 is a JSON array of two numbers: two records that are not objects
    assert _counts(report) == (9, 1, 0, 8)
    q = rows(ws, "SELECT position, reason, raw FROM quarantine ORDER BY position, raw")
    reasons = {(r["position"], r["reason"].split(":")[0]) for r in q}
    assert reasons == {
        (2, "invalid JSON"),
        (3, "missing createdAt"),
        (4, "repost without subject.uri"),
        (5, "Jetstream commit without did, rkey or record"),
        (6, "not a Bluesky post record, feed item or Jetstream event"),
        (7, "not a Bluesky post record, feed item or Jetstream event"),
        (8, "createdAt 'yesterday' is not a date/time"),
    }
    assert all(r["raw"] for r in q)
    assert (
        ws.scalar("SELECT post_id FROM posts")
        == f"bluesky:at://{C_DID}/app.bsky.feed.post/3l7yqg2bnhk2r"
    )


@pytest.mark.parametrize("name", ["bluesky", "jetstream", "bsky"])
def test_format_forced(ws, name) -> None:
    report = ingest_files(ws, [B / "posts.jsonl"], format=name)
    assert report.files[0].format == "bluesky" and report.total("rows_stored") == 5


def test_gzip_and_reingest(ws, tmp_path: Path) -> None:
    gz = tmp_path / "posts.jsonl.gz"
    with open(B / "posts.jsonl", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_adapter(sample(gz)).name == "bluesky"
    first = ingest_files(ws, [gz])
    assert _counts(first) == (5, 5, 0, 0)
    again = ingest_files(ws, [B / "posts.jsonl"])  # the same records, uncompressed
    assert_counts_add_up(again)
    assert _counts(again) == (5, 0, 5, 0)
    assert ws.scalar("SELECT count(*) FROM posts") == 5
    assert (
        ws.scalar(f"SELECT urls FROM posts WHERE post_id = '{P1}'")[0]
        == "https://elections.example.org/find?station=12"
    )


def test_sniffer_only_takes_bluesky_fixtures() -> None:
    adapter = REGISTRY["bluesky"]
    for path in sorted(p for p in DATA.rglob("*") if p.is_file()):
        try:
            s = sample(path)
        except InputError:  # other formats' deliberately broken fixtures
            continue
        assert adapter.sniff(s) == (path.parent.name == "bluesky"), path
