"""Mastodon API statuses: timelines (JSON arrays) and JSON Lines, across instances."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicsentry.errors import InputError
from civicsentry.ingest import REGISTRY, detect_adapter
from civicsentry.ingest.mastodon import html_text
from civicsentry.ingest.readers import sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows
from tests.conftest import file_counts as _counts
from tests.conftest import stored_posts as _posts

M = DATA / "mastodon"
S1 = "mastodon:https://mastodon.social/users/anna_k/statuses/113432198765432101"
REMOTE = "mastodon:https://truthy.example/users/patriot_news_24/statuses/113432201112223334"
BOOST = "mastodon:https://truthy.example/users/patriot_news_25/statuses/113432201999999999/activity"
REPLY = "mastodon:https://fosstodon.example/users/ben/statuses/113432205000000001"
QUOTE = "mastodon:https://mastodon.social/users/anna_k/statuses/113432209999999999"
ORPHAN = "mastodon:https://mastodon.social/users/anna_k/statuses/113432300000000000"
ANNA = "mastodon:anna_k@mastodon.social"


def test_home_timeline_array(ws) -> None:
    path = M / "home_timeline.json"  # a pretty-printed /api/v1/timelines/home response
    assert detect_adapter(sample(path)).name == "mastodon"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    # 5 statuses + the boosted status + the quoted status (the same remote post twice)
    assert _counts(report) == (7, 6, 1, 0)
    posts = _posts(ws)
    assert set(posts) == {S1, REMOTE, BOOST, REPLY, QUOTE, ORPHAN}

    s1 = posts[S1]
    assert s1["platform"] == "mastodon" and s1["account_id"] == ANNA and s1["kind"] == "post"
    assert s1["created_at"] == datetime(2024, 11, 5, 7, 58, 12, 345000, tzinfo=UTC)
    assert s1["text"] == (
        "Queues at polling station 12 in Gdańsk are long but moving. Official hours: "
        "https://pkw.example.gov.pl/godziny?utm_source=mastodon&utm_medium=social&lang=en\n"
        "cc @ben #Wybory2024"
    )
    # the link and its preview card are the same URL once tracking is gone; mention and
    # hashtag links are not URLs
    assert s1["urls"] == ["https://pkw.example.gov.pl/godziny?lang=en"]
    assert s1["domains"] == ["example.gov.pl"]
    assert s1["hashtags"] == ["wybory2024"]
    assert s1["mentions"] == ["ben@fosstodon.example"]
    assert s1["lang"] == "en"

    boost = posts[BOOST]
    assert boost["kind"] == "repost" and boost["parent_post_id"] == REMOTE
    assert boost["account_id"] == "mastodon:patriot_news_25@truthy.example"
    assert boost["text"] is None and boost["urls"] == []
    remote = posts[REMOTE]  # stored from inside the boost
    assert remote["account_id"] == "mastodon:patriot_news_24@truthy.example"
    assert remote["urls"] == ["https://bit.ly/3xYz9"] and remote["hashtags"] == ["stopthesteal"]

    reply = posts[REPLY]  # in_reply_to_id is mastodon.social's id of S1: resolved to its URI
    assert reply["kind"] == "reply" and reply["parent_post_id"] == S1
    assert reply["text"] == "@anna_k same in Sopot, about 40 minutes & moving <3"
    assert reply["mentions"] == ["anna_k@mastodon.social"]

    quote = posts[QUOTE]
    assert quote["kind"] == "quote" and quote["parent_post_id"] == REMOTE
    # spoiler text first; the quote-inline "RE:" fallback is dropped
    assert quote["text"] == (
        "disinfo\n\nThis photo is from the 2019 floods. Fact check: "
        "https://factcheck.example.eu/2024/ballots-river"
    )
    assert quote["urls"] == ["https://factcheck.example.eu/2024/ballots-river"]

    # a reply to a status absent from the file: the source instance's API id
    assert (
        posts[ORPHAN]["parent_post_id"]
        == "mastodon:https://mastodon.social/api/v1/statuses/113432100000000000"
    )

    accounts = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    anna = accounts[ANNA]
    assert anna["handle"] == "anna_k@mastodon.social" and anna["display_name"] == "Anna K. 🗳️"
    assert (anna["followers"], anna["following"], anna["posts_count"]) == (1520, 310, 4211)
    assert anna["created_at"] == datetime(2022, 11, 8, tzinfo=UTC)
    assert anna["description"] == "Election observer. Views my own. https://observers.example.org"
    assert (
        accounts["mastodon:patriot_news_24@truthy.example"]["description"]
        == "Real news they don't want you to see"
    )

    acts = set(ws.sql("SELECT account_id, object_type, object_id FROM actions").fetchall())
    assert ("mastodon:patriot_news_25@truthy.example", "repost", REMOTE) in acts
    assert (ANNA, "quote", REMOTE) in acts
    assert ("mastodon:ben@fosstodon.example", "reply", S1) in acts


def test_same_statuses_from_another_instance(ws) -> None:
    ingest_files(ws, [M / "home_timeline.json"])
    path = M / "statuses.jsonl"  # fosstodon.example's view: other ids, same URIs
    assert detect_adapter(sample(path)).name == "mastodon"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (3, 1, 2, 0)  # S1 and the reply are already stored
    shallow = _posts(ws)["mastodon:https://fosstodon.example/users/ben/statuses/113432400000000001"]
    # ShallowQuote quoted_status_id is fosstodon's id of S1, resolved through the file
    assert shallow["kind"] == "quote" and shallow["parent_post_id"] == S1
    # ben is local on fosstodon (acct "ben"): the domain comes from account.url
    assert shallow["account_id"] == "mastodon:ben@fosstodon.example"
    assert ws.scalar("SELECT count(*) FROM accounts WHERE account_id LIKE 'mastodon:ben%'") == 1


def test_api_pages_one_per_line_and_one_line_array(ws, tmp_path: Path) -> None:
    statuses = json.loads((M / "home_timeline.json").read_text(encoding="utf-8"))
    pages = tmp_path / "pages.jsonl"  # `curl .../timelines/home >> pages.jsonl`, twice
    pages.write_text(json.dumps(statuses[:2]) + "\n" + json.dumps(statuses[2:]) + "\n")
    one_line = tmp_path / "timeline.json"  # the raw response body: one line
    one_line.write_text(json.dumps(statuses))
    for path in (pages, one_line):
        assert detect_adapter(sample(path)).name == "mastodon"
    report = ingest_files(ws, [pages])
    assert_counts_add_up(report)
    assert _counts(report) == (7, 6, 1, 0)
    sources = dict(ws.sql("SELECT post_id, source FROM posts").fetchall())
    assert sources[QUOTE].endswith("pages.jsonl:1") and sources[S1].endswith("pages.jsonl:2")
    assert _posts(ws)[REPLY]["parent_post_id"] == S1  # resolved across pages
    again = ingest_files(ws, [one_line])
    assert _counts(again) == (7, 0, 7, 0)


def test_malformed_records_quarantined(ws) -> None:
    path = M / "malformed.jsonl"
    assert detect_adapter(sample(path)).name == "mastodon"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert _counts(report) == (6, 1, 0, 5)
    q = {r["position"]: r for r in rows(ws, "SELECT position, reason, raw FROM quarantine")}
    assert q[2]["reason"] == "status without uri or url"
    assert q[3]["reason"].startswith("invalid JSON")
    assert q[4]["reason"].startswith("not a Mastodon status")
    assert q[5]["reason"] == "created_at '5 minutes ago' is not a date/time"
    assert q[6]["reason"] == "status without an account acct/url"
    assert all(r["raw"] for r in q.values())


def test_html_to_text() -> None:
    text, links = html_text(
        '<p>a &amp; b<br>c</p><p><a href="https://x.example/a?b=1&amp;c=2">x</a> '
        '<a href="https://m.example/@u" class="u-url mention">@u</a> '
        '<a href="https://m.example/tags/t" rel="tag">#t</a></p>'
    )
    assert text == "a & b\nc\n\nx @u #t"
    assert links == ["https://x.example/a?b=1&c=2"]
    assert html_text("") == (None, [])


@pytest.mark.parametrize("name", ["mastodon", "fediverse"])
def test_format_forced(ws, name) -> None:
    report = ingest_files(ws, [M / "statuses.jsonl"], format=name)
    assert report.files[0].format == "mastodon" and report.total("rows_stored") == 3


def test_gzip_and_reingest(ws, tmp_path: Path) -> None:
    gz = tmp_path / "home_timeline.json.gz"
    with open(M / "home_timeline.json", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_adapter(sample(gz)).name == "mastodon"
    assert _counts(ingest_files(ws, [gz])) == (7, 6, 1, 0)
    again = ingest_files(ws, [M / "home_timeline.json"])
    assert_counts_add_up(again)
    assert _counts(again) == (7, 0, 7, 0)
    assert ws.scalar("SELECT count(*) FROM posts") == 6


def test_sniffer_only_takes_mastodon_fixtures() -> None:
    adapter = REGISTRY["mastodon"]
    for path in sorted(p for p in DATA.rglob("*") if p.is_file()):
        try:
            s = sample(path)
        except InputError:  # other formats' deliberately broken fixtures
            continue
        assert adapter.sniff(s) == (path.parent.name == "mastodon"), path
