"""X/Twitter API v1.1 JSON, one tweet per line (twarc v1, tweepy, the streaming API)."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicsentry.ingest import detect_adapter
from civicsentry.ingest.readers import HEAD_BYTES, sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows

V1 = DATA / "twitter_v1"
TWEETS = V1 / "tweets.jsonl"

ORIG, RT = "x:1050118621198921728", "x:1050120000000000001"
QUOTED, QUOTE = "x:1050090000000000000", "x:1050131313131313131"
REPLY, LONG = "x:1050140000000000004", "x:1050150000000000005"


def _posts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}


def test_fields(ws) -> None:
    f = ingest_files(ws, [TWEETS]).files[0]
    assert f.format == "twitter-v1"
    # 5 lines; the retweet and the quote embed their parents (2 more rows); the retweeted
    # original is the tweet of line 1, so it is a duplicate
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (7, 6, 1, 0)
    posts = _posts(ws)
    assert set(posts) == {ORIG, RT, QUOTED, QUOTE, REPLY, LONG}
    o = posts[ORIG]
    assert o["account_id"] == "x:2882331822" and o["kind"] == "post" and o["platform"] == "x"
    assert o["created_at"] == datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)
    assert o["text"].startswith("Early voting starts Monday in 12 states.")
    assert o["urls"] == ["https://www.vote.example.org/register"]  # utm_campaign, fbclid gone
    assert o["domains"] == ["example.org"]
    assert o["hashtags"] == ["election2018", "voteready"]
    assert o["source"].endswith("tweets.jsonl:1")
    assert (posts[RT]["kind"], posts[RT]["parent_post_id"]) == ("repost", ORIG)
    assert posts[RT]["mentions"] == ["votewatchus"]
    assert (posts[QUOTE]["kind"], posts[QUOTE]["parent_post_id"]) == ("quote", QUOTED)
    assert posts[QUOTE]["mentions"] == ["countyclerktx"]
    assert posts[QUOTED]["account_id"] == "x:15012345"  # the embedded quoted tweet
    assert posts[QUOTED]["source"].endswith("tweets.jsonl:3")
    assert posts[QUOTED]["urls"] == ["https://countyclerk.example.gov/elections/polling-places"]
    assert (posts[REPLY]["kind"], posts[REPLY]["parent_post_id"]) == ("reply", ORIG)
    # a truncated streaming tweet: full text, entities and the unwound URL of extended_tweet
    long = posts[LONG]
    assert long["text"].endswith("#EleccionesEEUU #VotoLatino")
    assert long["lang"] == "es"
    assert long["hashtags"] == ["eleccioneseeuu", "votolatino"]
    assert long["urls"] == ["https://noticias.example.com/elecciones/centros-de-votacion"]


def test_accounts(ws) -> None:
    ingest_files(ws, [TWEETS])
    acc = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    assert set(acc) == {
        "x:2882331822",
        "x:1046000000000000001",
        "x:731123456",
        "x:15012345",
        "x:98765432",
    }
    a = acc["x:2882331822"]
    assert (a["handle"], a["display_name"]) == ("VoteWatchUS", "Vote Watch US")
    assert (a["followers"], a["following"], a["posts_count"]) == (48211, 1032, 15230)
    assert a["created_at"] == datetime(2014, 11, 16, 21, 37, 5, tzinfo=UTC)
    assert a["location"] == "Washington, DC" and a["verified"] is False
    assert acc["x:731123456"]["verified"] is True
    # the author of the embedded quoted tweet is an account too, first seen with it
    clerk = acc["x:15012345"]
    assert clerk["handle"] == "CountyClerkTX"
    assert clerk["first_seen"] == datetime(2018, 10, 10, 18, 30, tzinfo=UTC)


def test_actions(ws) -> None:
    ingest_files(ws, [TWEETS])
    acts = set(ws.sql("SELECT account_id, object_type, object_id, post_id FROM actions").fetchall())
    assert ("x:1046000000000000001", "repost", ORIG, RT) in acts
    assert ("x:731123456", "quote", QUOTED, QUOTE) in acts
    assert ("x:15012345", "reply", ORIG, REPLY) in acts
    assert {t for _a, t, _o, p in acts if p == RT} == {"repost", "post"}


def test_malformed_records_are_quarantined(ws) -> None:
    report = ingest_files(ws, [V1 / "malformed.jsonl"])
    assert_counts_add_up(report)
    f = report.files[0]
    assert (f.rows_read, f.rows_stored, f.rows_quarantined) == (6, 1, 5)
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert q == {
        1: "streaming API 'limit' message, not a tweet",
        3: "streaming API 'delete' message, not a tweet",
        4: "created_at '7 November 2018' is not a date/time",
        5: q[5],
        6: "not a v1.1 tweet (no id_str and no user)",
    }
    assert q[5].startswith("invalid JSON")
    assert _posts(ws)["x:1060000000000000001"]["hashtags"] == ["midterms"]


@pytest.mark.parametrize("path", [TWEETS, V1 / "malformed.jsonl"], ids=lambda p: p.name)
def test_detected(path: Path) -> None:
    assert detect_adapter(sample(path)).name == "twitter-v1"


def test_first_line_longer_than_the_head(tmp_path: Path) -> None:
    tweet = json.loads(TWEETS.read_text(encoding="utf-8").splitlines()[0])
    tweet["user"]["description"] = "x" * (HEAD_BYTES + 10)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(tweet) + "\n", encoding="utf-8")
    assert detect_adapter(sample(path)).name == "twitter-v1"


def test_forced_format_alias_and_gzip(tmp_path: Path, ws) -> None:
    path = tmp_path / "dump.txt"
    shutil.copy(TWEETS, path)
    assert ingest_files(ws, [path], format="twarc").files[0].format == "twitter-v1"
    gz = tmp_path / "tweets.jsonl.gz"
    gz.write_bytes(gzip.compress(TWEETS.read_bytes()))
    assert detect_adapter(sample(gz)).name == "twitter-v1"
    f = ingest_files(ws, [gz]).files[0]
    assert (f.rows_read, f.rows_stored, f.rows_duplicate) == (7, 0, 7)  # all seen via dump.txt


def test_gzip_fields(tmp_path: Path, ws) -> None:
    gz = tmp_path / "tweets.jsonl.gz"
    gz.write_bytes(gzip.compress(TWEETS.read_bytes()))
    f = ingest_files(ws, [gz], format="twitter-v1").files[0]
    assert (f.rows_read, f.rows_stored, f.rows_duplicate) == (7, 6, 1)
    assert _posts(ws)[RT]["parent_post_id"] == ORIG


def test_reingest_stores_nothing(ws) -> None:
    ingest_files(ws, [TWEETS])
    again = ingest_files(ws, [TWEETS]).files[0]
    assert again.rows_stored == 0 and again.rows_duplicate == again.rows_read == 7
