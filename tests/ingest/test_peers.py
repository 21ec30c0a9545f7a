"""The peers' input formats: CooRTweet's share table and the toolkit's CSV."""

from __future__ import annotations

from datetime import UTC, datetime

from civicsentry.ingest import detect_adapter
from civicsentry.ingest.readers import sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows


def test_coortweet_fixture(ws) -> None:
    # c8 shares o4 twice (an exact duplicate row) and o5 once: the o5 share is kept as
    # its own post `c8@o5`, the repeat of (c8, o4) is a duplicate.
    path = DATA / "coortweet" / "shares.csv"
    assert detect_adapter(sample(path)).name == "coortweet"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    f = report.files[0]
    assert (f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (10, 9, 1, 0)
    shares = set(
        ws.sql(
            "SELECT account_id, object_id, post_id FROM actions WHERE object_type = 'repost'"
        ).fetchall()
    )
    assert ("coortweet:F", "coortweet:o4", "coortweet:c8") in shares
    assert ("coortweet:F", "coortweet:o5", "coortweet:c8@o5") in shares
    assert len(shares) == 9
    t = ws.scalar("SELECT created_at FROM posts WHERE post_id = 'coortweet:c2'")
    assert t == datetime(1970, 1, 1, 0, 1, tzinfo=UTC)


def test_coortweet_platform_override(ws) -> None:
    ingest_files(ws, [DATA / "coortweet" / "shares.csv"], platform="x")
    assert ws.scalar("SELECT min(post_id) FROM posts") == "x:c1"


def test_cnt_fixture(ws) -> None:
    path = DATA / "cnt" / "messages.csv"
    assert detect_adapter(sample(path)).name == "cnt"
    report = ingest_files(ws, [path])
    assert_counts_add_up(report)
    assert report.total("rows_duplicate") == 1  # m1 again: the first row wins, as in the toolkit
    posts = {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}
    assert posts["cnt:m1"]["account_id"] == "cnt:U1"
    assert posts["cnt:m1"]["urls"] == ["https://example.com/story"]
    assert posts["cnt:m2"]["kind"] == "repost" and posts["cnt:m2"]["parent_post_id"] == "cnt:m1"
    assert posts["cnt:m4"]["kind"] == "reply" and posts["cnt:m4"]["parent_post_id"] == "cnt:m1"
    assert posts["cnt:m3"]["created_at"] == datetime(2021, 1, 1, 0, 0, 30, 500000, tzinfo=UTC)
    assert posts["cnt:m5"]["urls"] == ["https://a.example/x", "https://b.example/y"]
    assert ws.scalar("SELECT handle FROM accounts WHERE account_id = 'cnt:U2'") == "user_two"


def test_russian_coord_tweets_all_rows_accounted(ws, shared_data) -> None:
    report = ingest_files(ws, [shared_data / "russian_coord_tweets.parquet"], format="coortweet")
    assert_counts_add_up(report)
    f = report.files[0]
    assert f.rows_read == 35_125
    assert (f.rows_stored, f.rows_duplicate, f.rows_quarantined) == (35_124, 1, 0)
    # every distinct share (content, object) of the input is an action: none lost
    assert ws.scalar("SELECT count(*) FROM actions WHERE object_type = 'repost'") == 35_124
    assert ws.scalar("SELECT count(DISTINCT account_id) FROM posts") == 9_509
    assert ws.scalar("SELECT count(DISTINCT parent_post_id) FROM posts") == 7_285
    again = ingest_files(ws, [shared_data / "russian_coord_tweets.csv"])
    assert again.files[0].format == "coortweet"
    assert again.total("rows_stored") == 0 and again.total("rows_duplicate") == 35_125
