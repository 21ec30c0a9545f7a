"""The X/Twitter information-operations archive: tweets and users CSV files."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicsentry.errors import MissingColumns
from civicsentry.ingest import detect_adapter
from civicsentry.ingest.readers import sample
from civicsentry.ingest.twitter_io import io_list
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows

IO = DATA / "twitter_io"
TWEETS = IO / "example_tweets_csv_hashed.csv"
USERS = IO / "example_users_csv_hashed.csv"
NAMED = "x:2882331822"  # more than 5,000 followers: not anonymised
HASHED = "x:ygQRwhQRrh1+6N7J6IMFnzWgqUGimWqg0KZptLpxDY="
HASHED2 = "x:0OvJRirnL32w7blCoMRthk30yPlXapfIPFac4Eyje0k="


def _posts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}


def test_tweet_fields(ws) -> None:
    f = ingest_files(ws, [TWEETS]).files[0]
    assert f.format == "twitter-io"
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (6, 6, 0, 0)
    posts = _posts(ws)
    orig = posts["x:792094285436465152"]
    assert orig["account_id"] == NAMED and orig["kind"] == "post" and orig["platform"] == "x"
    assert orig["created_at"] == datetime(2016, 10, 28, 14, 3, tzinfo=UTC)
    assert orig["text"].startswith("They don't want you to see this")
    assert orig["lang"] == "en"
    assert orig["hashtags"] == ["voterfraud", "election2016"]  # "[a, b]", early releases
    assert orig["urls"] == ["http://bit.ly/2eQfakE"]
    assert orig["mentions"] == []
    assert orig["source"].endswith("example_tweets_csv_hashed.csv:2")
    rt = posts["x:792101555106340864"]
    assert rt["account_id"] == HASHED  # the hash kept exactly, case and "+/=" included
    assert (rt["kind"], rt["parent_post_id"]) == ("repost", "x:792094285436465152")
    assert rt["mentions"] == ["2882331822"]  # user ids, not handles
    reply = posts["x:792110099871412224"]
    assert (reply["kind"], reply["parent_post_id"]) == ("reply", "x:792094285436465152")
    assert len(reply["mentions"]) == 2
    quote = posts["x:823902375810252800"]
    assert (quote["kind"], quote["parent_post_id"]) == ("quote", "x:822511102300000001")
    assert quote["hashtags"] == ["msm"]  # "['a']", later releases
    # a comma inside a quoted URL does not split it; fbclid removed
    assert quote["urls"] == [
        "https://twitter.com/RealNewsNow/status/822511102300000001",
        "https://news.example.com/story?id=7%2C8",
    ]
    emoji = posts["x:835513370044424192"]
    assert emoji["urls"] == ["https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=youtu.be"]
    assert emoji["lang"] != "und"
    multiline = posts["x:835600000000000001"]  # a quoted cell over two lines, "" escapes
    assert multiline["text"] == 'BREAKING:\nPolls in Ohio "rigged" says insider #VoterFraud'
    assert multiline["hashtags"] == ["voterfraud"]


def test_accounts_from_tweet_rows(ws) -> None:
    ingest_files(ws, [TWEETS])
    acc = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    assert set(acc) == {NAMED, HASHED, HASHED2}
    a = acc[NAMED]
    assert (a["handle"], a["display_name"]) == ("heartland_patriot", "Heartland Patriot")
    assert (a["followers"], a["following"]) == (12043, 3210)
    assert a["created_at"] == datetime(2014, 11, 16, tzinfo=UTC)
    assert a["location"] == "Ohio, USA" and a["description"].startswith("God, guns")
    assert a["first_seen"] == datetime(2016, 10, 28, 14, 3, tzinfo=UTC)
    assert a["last_seen"] == datetime(2017, 2, 25, 18, 2, tzinfo=UTC)
    # anonymised: the screen name and display name are the hash again, so left empty
    assert acc[HASHED]["handle"] is None and acc[HASHED]["display_name"] is None
    assert acc[HASHED]["followers"] == 212


def test_users_file(ws) -> None:
    f = ingest_files(ws, [USERS]).files[0]
    assert f.format == "twitter-io"
    assert (f.rows_read, f.rows_stored, f.accounts) == (0, 0, 3)  # accounts only
    acc = {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}
    assert acc["x:4224729994"]["handle"] == "piter_news_24"
    assert acc["x:4224729994"]["display_name"] == "Пётр Иванов"
    assert acc["x:4224729994"]["followers"] == 5901
    assert acc["x:4224729994"]["created_at"] == datetime(2015, 10, 20, tzinfo=UTC)
    assert acc[HASHED]["handle"] is None and acc[HASHED]["following"] == 1804
    assert ws.scalar("SELECT count(*) FROM posts") == 0


def test_users_then_tweets_link(ws) -> None:
    ingest_files(ws, [USERS, TWEETS])
    assert ws.scalar("SELECT count(*) FROM accounts") == 4
    assert ws.scalar(f"SELECT first_seen FROM accounts WHERE account_id = '{NAMED}'") == (
        datetime(2016, 10, 28, 14, 3, tzinfo=UTC)
    )


def test_actions(ws) -> None:
    ingest_files(ws, [TWEETS])
    acts = set(ws.sql("SELECT account_id, object_type, object_id, post_id FROM actions").fetchall())
    assert (HASHED, "repost", "x:792094285436465152", "x:792101555106340864") in acts
    assert (HASHED2, "reply", "x:792094285436465152", "x:792110099871412224") in acts
    assert (NAMED, "url", "http://bit.ly/2eQfakE", "x:792094285436465152") in acts


def test_malformed_tweets(ws) -> None:
    report = ingest_files(ws, [IO / "malformed_tweets_csv_hashed.csv"])
    assert_counts_add_up(report)
    f = report.files[0]
    assert (f.rows_read, f.rows_stored, f.rows_quarantined) == (5, 1, 4)
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert q == {
        3: "expected 31 fields, found 29",
        4: "tweet_time '18/03/2018 9h' is not a date/time",
        5: "missing account_id",
        6: "is_retweet is True but retweet_tweetid is empty",
    }
    assert _posts(ws)["x:901234567890123456"]["hashtags"] == ["выборы2018"]


def test_malformed_users(ws) -> None:
    report = ingest_files(ws, [IO / "malformed_users_csv_hashed.csv"])
    assert_counts_add_up(report)
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert q == {3: "user row without userid", 4: "expected 10 fields, found 2"}
    assert ws.scalar("SELECT handle FROM accounts") == "piter_news_24"


@pytest.mark.parametrize("path", sorted(IO.glob("*.csv")), ids=lambda p: p.name)
def test_detected(path: Path) -> None:
    assert detect_adapter(sample(path)).name == "twitter-io"


def test_forced_format_alias_and_missing_columns(tmp_path: Path, ws) -> None:
    path = tmp_path / "ioa.txt"
    shutil.copy(TWEETS, path)
    assert ingest_files(ws, [path], format="io-archive").files[0].rows_stored == 6
    other = tmp_path / "other.csv"
    other.write_text("tweetid,text\n1,hello\n", encoding="utf-8")
    f = ingest_files(ws, [other], format="twitter-io").files[0]
    assert f.error and "userid" in f.error and "tweet_time" in f.error
    with pytest.raises(MissingColumns):
        from civicsentry.ingest.base import Options
        from civicsentry.ingest.twitter_io import read

        list(read(other, Options()))


def test_gzip_is_the_same(tmp_path: Path, ws) -> None:
    gz = tmp_path / "example_tweets_csv_hashed.csv.gz"
    gz.write_bytes(gzip.compress(TWEETS.read_bytes()))
    assert detect_adapter(sample(gz)).name == "twitter-io"
    f = ingest_files(ws, [gz]).files[0]
    assert (f.rows_read, f.rows_stored) == (6, 6)
    assert _posts(ws)["x:792101555106340864"]["account_id"] == HASHED


def test_reingest_stores_nothing(ws) -> None:
    ingest_files(ws, [TWEETS])
    again = ingest_files(ws, [TWEETS]).files[0]
    assert again.rows_stored == 0 and again.rows_duplicate == again.rows_read == 6


@pytest.mark.parametrize(
    ("cell", "urls", "expected"),
    [
        ("", False, None),
        ("[]", False, None),
        ("[tag1, tag2]", False, ["tag1", "tag2"]),
        ("['tag1', 'tag2']", False, ["tag1", "tag2"]),
        ('["a b", "c"]', False, ["a b", "c"]),
        ("[2882331822, ygQR+6N7J=]", False, ["2882331822", "ygQR+6N7J="]),
        (
            "[http://a.example/x?p=1,2, https://b.example/]",
            True,
            ["http://a.example/x?p=1,2", "https://b.example/"],
        ),
        ("['http://a.example/x?p=1, 2']", True, ["http://a.example/x?p=1, 2"]),
        ("single", False, ["single"]),
    ],
)
def test_io_list(cell: str, urls: bool, expected: list[str] | None) -> None:
    assert io_list(cell, urls=urls) == expected
