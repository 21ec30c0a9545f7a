"""X/Twitter API v2 JSON as twarc2 writes it: response pages and flattened tweets."""

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

V2 = DATA / "twitter_v2"
PAGES = V2 / "search_pages.jsonl"
FLAT = V2 / "flattened.jsonl"

T0, T1 = "x:1589990000000000000", "x:1590020843412779008"  # quoted; original
T2, T3, T4 = "x:1590025512345600000", "x:1590030111000000001", "x:1590041234567890123"
T5 = "x:1590101010101010101"  # a retweet on the second page


def _posts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}


def _accounts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}


def test_pages_fields(ws) -> None:
    report = ingest_files(ws, [PAGES])
    f = report.files[0]
    assert f.format == "twitter-v2" and f.error is None
    # page 1: 4 tweets + 2 referenced; page 2: 1 tweet + T1 again; the empty page reads nothing
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (8, 6, 2, 0)
    posts = _posts(ws)
    assert set(posts) == {T0, T1, T2, T3, T4, T5}
    p1 = posts[T1]
    assert p1["platform"] == "x" and p1["account_id"] == "x:1279474530851799040"
    assert p1["kind"] == "post" and p1["parent_post_id"] is None
    assert p1["created_at"] == datetime(2022, 11, 8, 16, 4, 11, tzinfo=UTC)
    assert p1["text"].startswith("Reports of #BallotFraud in county X are false")
    assert p1["lang"] == "en"
    # the unwound URL, with utm_* dropped and the other parameter kept
    assert p1["urls"] == ["https://www.factcheck.example.org/2022/11/ballot-claims?ref=home"]
    assert p1["domains"] == ["example.org"]
    assert p1["hashtags"] == ["ballotfraud", "elections2022"]
    assert p1["mentions"] == ["elect_commission"]
    assert p1["source"].endswith("search_pages.jsonl:1")
    assert (posts[T2]["kind"], posts[T2]["parent_post_id"]) == ("repost", T1)
    assert posts[T2]["text"].startswith("RT @CivicWatchEU: ")
    assert posts[T2]["urls"] == ["https://bit.ly/3fakeXY"]  # expanded_url: no unwound_url given
    assert (posts[T3]["kind"], posts[T3]["parent_post_id"]) == ("reply", T1)
    assert posts[T3]["mentions"] == ["civicwatcheu"]
    assert (posts[T4]["kind"], posts[T4]["parent_post_id"]) == ("quote", T0)
    # the quoted tweet's permalink is kept, the tweet's own photo link is not
    assert posts[T4]["urls"] == ["https://twitter.com/elect_commission/status/1589990000000000000"]
    # a referenced tweet from includes.tweets is a post of its own, fbclid removed
    assert posts[T0]["account_id"] == "x:3308291" and posts[T0]["kind"] == "post"
    assert posts[T0]["urls"] == ["https://www.electoralcommission.example.gov/find-polling-station"]
    assert posts[T5]["source"].endswith("search_pages.jsonl:2")
    assert posts[T5]["lang"] is not None and posts[T5]["lang"] != "und"  # detected


def test_pages_accounts(ws) -> None:
    ingest_files(ws, [PAGES])
    accounts = _accounts(ws)
    assert set(accounts) == {
        "x:1279474530851799040",
        "x:987654321098765432",
        "x:1587745912634769408",
        "x:44196397",
        "x:3308291",
        "x:1588000000000000001",
    }
    a = accounts["x:1279474530851799040"]
    assert a["handle"] == "CivicWatchEU" and a["display_name"] == "Civic Watch EU"
    assert (a["followers"], a["following"], a["posts_count"]) == (18342, 912, 6731)
    assert a["created_at"] == datetime(2020, 7, 4, 17, 22, 5, tzinfo=UTC)
    assert a["location"] == "Brussels, Belgium" and a["verified"] is False
    assert accounts["x:44196397"]["verified"] is True
    assert accounts["x:44196397"]["followers"] == 1204455
    assert accounts["x:1588000000000000001"]["handle"] == "Freedom_Eagle_1"


def test_actions(ws) -> None:
    ingest_files(ws, [PAGES])
    acts = set(ws.sql("SELECT account_id, object_type, object_id, post_id FROM actions").fetchall())
    assert ("x:1587745912634769408", "repost", T1, T2) in acts
    assert ("x:1588000000000000001", "repost", T1, T5) in acts
    assert ("x:987654321098765432", "reply", T1, T3) in acts
    assert ("x:44196397", "quote", T0, T4) in acts
    assert ("x:1279474530851799040", "hashtag", "ballotfraud", T1) in acts


def test_flattened(ws) -> None:
    report = ingest_files(ws, [FLAT])
    f = report.files[0]
    assert f.format == "twitter-v2"
    # 4 tweets + the 3 referenced tweets embedded in them (T1 twice: one duplicate
    # of the line-1 tweet and one of the line-2 copy)
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (7, 5, 2, 0)
    posts = _posts(ws)
    assert set(posts) == {T0, T1, T2, T3, T4}
    assert (posts[T2]["kind"], posts[T2]["parent_post_id"]) == ("repost", T1)
    assert (posts[T4]["kind"], posts[T4]["parent_post_id"]) == ("quote", T0)
    assert posts[T1]["urls"] == ["https://www.factcheck.example.org/2022/11/ballot-claims?ref=home"]
    assert posts[T0]["source"].endswith("flattened.jsonl:4")  # embedded in the quote
    accounts = _accounts(ws)
    # authors, the replied-to user and the mentioned @elect_commission (merged by twarc)
    assert accounts["x:3308291"]["handle"] == "elect_commission"
    assert accounts["x:3308291"]["followers"] == 98000
    assert accounts["x:987654321098765432"]["posts_count"] == 5120


def test_same_rows_from_pages_and_flattened(tmp_path: Path) -> None:
    import civicsentry

    seen = []
    for i, path in enumerate((PAGES, FLAT)):
        w = civicsentry.open(tmp_path / f"{i}.duckdb")
        ingest_files(w, [path])
        seen.append(
            w.sql(
                "SELECT post_id, account_id, kind, parent_post_id, urls, hashtags "
                f"FROM posts WHERE post_id <> '{T5}' ORDER BY post_id"
            ).fetchall()
        )
        w.close()
    assert seen[0] == seen[1]


def test_malformed_records_are_quarantined(ws) -> None:
    report = ingest_files(ws, [V2 / "malformed.jsonl"])
    assert_counts_add_up(report)
    f = report.files[0]
    assert (f.rows_read, f.rows_stored, f.rows_quarantined) == (6, 1, 5)
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert set(q) == {2, 3, 4, 5, 6}
    assert q[2].startswith("invalid JSON")
    assert q[3].startswith("API error response without data: Not Found Error: Could not find")
    assert q[4] == "created_at 'yesterday at noon' is not a date/time"
    assert q[5] == "missing account_id"
    assert q[6] == "not a JSON object"
    raw = ws.scalar("SELECT raw FROM quarantine WHERE position = 3")
    assert "resource-not-found" in raw
    assert _posts(ws)["x:1600000000000000001"]["hashtags"] == ["wybory"]


@pytest.mark.parametrize("path", [PAGES, FLAT, V2 / "malformed.jsonl"], ids=lambda p: p.name)
def test_detected(path: Path) -> None:
    assert detect_adapter(sample(path)).name == "twitter-v2"


def test_first_line_longer_than_the_head(tmp_path: Path, ws) -> None:
    page = json.loads(PAGES.read_text(encoding="utf-8").splitlines()[0])
    tweet = page["data"][0]
    page["data"] = [dict(tweet, id=str(10**18 + i)) for i in range(200)]
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(page) + "\n", encoding="utf-8")
    assert path.stat().st_size > HEAD_BYTES
    assert detect_adapter(sample(path)).name == "twitter-v2"
    report = ingest_files(ws, [path])
    f = report.files[0]
    assert (f.rows_read, f.rows_stored) == (202, 202)  # 200 tweets + T1 and T0 from includes


def test_users_page_fills_accounts(tmp_path: Path, ws) -> None:
    users = json.loads(PAGES.read_text(encoding="utf-8").splitlines()[0])["includes"]["users"]
    path = tmp_path / "followers.jsonl"
    path.write_text(
        json.dumps(
            {"data": users, "meta": {"result_count": len(users)}, "__twarc": {"version": "2.12.0"}}
        )
        + "\n",
        encoding="utf-8",
    )
    assert detect_adapter(sample(path)).name == "twitter-v2"
    f = ingest_files(ws, [path]).files[0]
    assert (f.rows_read, f.accounts) == (0, 5)
    assert ws.scalar("SELECT handle FROM accounts WHERE account_id = 'x:3308291'") == (
        "elect_commission"
    )


def test_forced_format_and_alias(tmp_path: Path, ws) -> None:
    path = tmp_path / "export.txt"
    shutil.copy(PAGES, path)
    assert ingest_files(ws, [path], format="twitter-v2").files[0].rows_stored == 6
    other = tmp_path / "other.txt"
    shutil.copy(FLAT, other)
    assert ingest_files(ws, [other], format="twarc2").files[0].format == "twitter-v2"


def test_gzip_is_the_same(tmp_path: Path, ws) -> None:
    gz = tmp_path / "search_pages.jsonl.gz"
    gz.write_bytes(gzip.compress(PAGES.read_bytes()))
    assert detect_adapter(sample(gz)).name == "twitter-v2"
    f = ingest_files(ws, [gz]).files[0]
    assert (f.rows_read, f.rows_stored, f.rows_duplicate) == (8, 6, 2)
    assert _posts(ws)[T4]["parent_post_id"] == T0


def test_reingest_stores_nothing(ws) -> None:
    ingest_files(ws, [PAGES])
    again = ingest_files(ws, [PAGES]).files[0]
    assert again.rows_stored == 0 and again.rows_duplicate == again.rows_read == 8
    assert ws.scalar("SELECT count(*) FROM posts") == 6


def test_stream_line_with_one_tweet(tmp_path: Path, ws) -> None:
    # `twarc2 stream` writes one tweet per response: "data" is an object, with matching_rules
    page = json.loads(PAGES.read_text(encoding="utf-8").splitlines()[0])
    line = {
        "data": page["data"][1],
        "includes": {"users": page["includes"]["users"], "tweets": [page["includes"]["tweets"][0]]},
        "matching_rules": [{"id": "1590000000000000000", "tag": "ballots"}],
        "__twarc": page["__twarc"],
    }
    path = tmp_path / "stream.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert detect_adapter(sample(path)).name == "twitter-v2"
    f = ingest_files(ws, [path]).files[0]
    assert (f.rows_read, f.rows_stored) == (2, 2)
    assert (_posts(ws)[T2]["kind"], _posts(ws)[T2]["parent_post_id"]) == ("repost", T1)


def test_blocks_parsed_in_parallel_give_the_rows_of_one_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One block per line: the pages are parsed by two DuckDB connections at once and
    # must come out in file order, so the first of a repeated tweet and the newest
    # profile still win. The file repeats the pages (every tweet is then a duplicate
    # once) around the malformed lines, which take the Python path.
    import civicsentry
    from civicsentry.ingest import twitter_v2

    lines = PAGES.read_bytes().splitlines()
    path = tmp_path / "pages.jsonl"
    path.write_bytes(
        b"\n".join([*lines, *(V2 / "malformed.jsonl").read_bytes().splitlines(), *lines]) + b"\n"
    )
    seen = []
    for i, block in enumerate((twitter_v2._BLOCK_BYTES, 1)):
        monkeypatch.setattr(twitter_v2, "_BLOCK_BYTES", block)
        w = civicsentry.open(tmp_path / f"{i}.duckdb")
        report = ingest_files(w, [path], format="twitter-v2")
        assert_counts_add_up(report)
        seen.append(
            (
                report.as_dict()["rows_duplicate"],
                w.sql("SELECT * EXCLUDE (ingest_batch) FROM posts ORDER BY post_id").fetchall(),
                w.sql("SELECT * FROM accounts ORDER BY account_id").fetchall(),
                w.sql("SELECT position, reason FROM quarantine ORDER BY position").fetchall(),
            )
        )
        w.close()
    assert seen[0][0] > 0 and len(seen[0][1]) > 0
    assert seen[0] == seen[1]
