"""Facebook and Instagram exports: CrowdTangle CSV and Meta Content Library CSV, and the
text-entity helpers they share."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicsentry.errors import InputError
from civicsentry.ingest import crowdtangle, detect_adapter, meta_content_library
from civicsentry.ingest.crowdtangle import facebook_post_key, instagram_shortcode, parse_ct_time
from civicsentry.ingest.readers import sample
from civicsentry.ingest.socialtext import extract_hashtags, extract_mentions, extract_urls
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows

CT = DATA / "crowdtangle"
MCL = DATA / "meta_content_library"


def _posts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}


def _counts(report) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    f = report.files[0]
    return f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined


def _accounts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}


# -- helpers -----------------------------------------------------------------------------
def test_extract_hashtags_is_unicode_aware() -> None:
    text = (
        "Vote! #Élection2024, #выборы #चुनाव२०२४ #1 #_x ＃全角 https://x.com/#frag a#b "
        "&#39; #Vote #tag_with_underscore. #vote #پیش‌بینی"
    )
    assert extract_hashtags(text) == [
        "Élection2024",
        "выборы",
        "चुनाव२०२४",
        "_x",
        "全角",
        "Vote",
        "tag_with_underscore",
        "پیش\u200cبینی",
    ]
    assert extract_hashtags(None) == [] and extract_hashtags("no tags # here") == []


def test_extract_mentions_and_urls() -> None:
    assert extract_mentions("cc @freedom.voices. mail me@example.com @Bob_1 @bob_1") == [
        "freedom.voices",
        "Bob_1",
    ]
    assert extract_urls(
        "see (https://a.example/x_(y)) and https://b.example/p?q=1, www.c.example/d."
    ) == ["https://a.example/x_(y)", "https://b.example/p?q=1", "www.c.example/d"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-01-06 14:30:00 EST", datetime(2021, 1, 6, 19, 30, tzinfo=UTC)),
        ("2021-07-04 09:15:00 EDT", datetime(2021, 7, 4, 13, 15, tzinfo=UTC)),
        ("2022-09-25 21:10:00 CEST", datetime(2022, 9, 25, 19, 10, tzinfo=UTC)),
        ("2022-11-02 08:00:00 CET", datetime(2022, 11, 2, 7, 0, tzinfo=UTC)),
        ("2022-11-02 08:00:00 IST", datetime(2022, 11, 2, 2, 30, tzinfo=UTC)),
        ("2022-11-02 08:00:00 +03", datetime(2022, 11, 2, 5, 0, tzinfo=UTC)),
        ("2022-11-02 08:00:00 UTC-03:30", datetime(2022, 11, 2, 11, 30, tzinfo=UTC)),
        ("2022-11-02 08:00:00", datetime(2022, 11, 2, 8, 0, tzinfo=UTC)),
        ("2022-11-02T08:00:00+01:00", datetime(2022, 11, 2, 7, 0, tzinfo=UTC)),
    ],
)
def test_crowdtangle_times_to_utc(value: str, expected: datetime) -> None:
    assert parse_ct_time(value) == (expected, None)


def test_crowdtangle_time_problems() -> None:
    assert parse_ct_time("2022-11-02 08:00:00 QQQ")[1] == (
        "unknown time zone 'QQQ' in '2022-11-02 08:00:00 QQQ'; convert the column to UTC"
    )
    assert parse_ct_time("")[1] == "missing Post Created"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.facebook.com/100064812345678/posts/3851234567890123", "3851234567890123"),
        ("https://www.facebook.com/groups/1234567890123/permalink/2345678901234/", "2345678901234"),
        (
            "https://www.facebook.com/Page/photos/a.1234567890123/4112233440000000/?type=3",
            "4112233440000000",
        ),
        ("https://www.facebook.com/Page/videos/987654321098765/", "987654321098765"),
        ("https://www.facebook.com/permalink.php?story_fbid=111&id=222", "111"),
        ("https://m.facebook.com/watch/?v=333", "333"),
        ("https://www.facebook.com/Page/posts/pfbid02Xq7kVh3", "pfbid02Xq7kVh3"),
        ("https://example.com/posts/1", None),
    ],
)
def test_facebook_post_key(url: str, key: str | None) -> None:
    assert facebook_post_key(url) == key


def test_instagram_shortcode() -> None:
    assert instagram_shortcode("https://www.instagram.com/p/CkqZ1abcDEF/") == "CkqZ1abcDEF"
    assert (
        instagram_shortcode("https://www.instagram.com/reel/CkqZ9xyzUVW/?igsh=x") == "CkqZ9xyzUVW"
    )
    assert instagram_shortcode("https://www.instagram.com/freedom.voices/") is None


# -- CrowdTangle ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["facebook_pages.csv", "facebook_groups.csv", "instagram.csv", "malformed.csv"]
)
def test_crowdtangle_fixtures_are_detected(name: str) -> None:
    assert detect_adapter(sample(CT / name)).name == "crowdtangle"


def test_crowdtangle_facebook_pages(ws) -> None:
    report = ingest_files(ws, [CT / "facebook_pages.csv"])
    assert_counts_add_up(report)
    assert _counts(report) == (6, 6, 0, 0)
    posts = _posts(ws)
    orig = posts["facebook:3851234567890123"]
    assert orig["account_id"] == "facebook:100064812345678"
    assert orig["kind"] == "post" and orig["created_at"] == datetime(2021, 1, 6, 19, 30, tzinfo=UTC)
    assert orig["text"].startswith("BREAKING: they are stealing it in #Georgia!")
    # Final Link, unshortened, instead of the bit.ly in Link and in the message
    assert orig["urls"] == ["https://www.truthwire.news/news/georgia-ballots"]
    assert orig["domains"] == ["truthwire.news"]
    assert orig["hashtags"] == ["georgia", "stopthesteal"] and orig["mentions"] == []

    # two Pages share the original within 35 seconds: reposts of the same post id
    for pid, account in (
        ("1122334455667788", "100070011122233"),
        ("2233445566778899", "100069988877766"),
    ):
        share = posts[f"facebook:{pid}"]
        assert share["kind"] == "repost" and share["parent_post_id"] == "facebook:3851234567890123"
        assert share["account_id"] == f"facebook:{account}"
    objects = rows(
        ws,
        "SELECT account_id, t FROM actions WHERE object_type = 'repost' "
        "AND object_id = 'facebook:3851234567890123' ORDER BY t",
    )
    assert [o["t"].second for o in objects] == [20, 35]

    photo = posts["facebook:4112233445566778"]  # its Link is its own photo: not a URL share
    assert photo["kind"] == "post" and photo["urls"] == []
    assert photo["created_at"] == datetime(2021, 7, 4, 13, 15, tzinfo=UTC)  # EDT
    assert photo["hashtags"] == ["freedomday", "élection2024"]
    video = posts["facebook:987650000000001"]
    assert video["kind"] == "repost" and video["parent_post_id"] == "facebook:987654321098765"
    assert "facebook:pfbid02Xq7kVh3LmN8pQrStUvWxYz1aBcDeFgHiJkLmNoPl" in posts

    page = _accounts(ws)["facebook:100064812345678"]
    assert page["handle"] == "CivicTruthNow" and page["display_name"] == "Civic Truth Now"
    assert page["followers"] == 51877 and page["location"] == "US"
    assert page["created_at"] == datetime(2019, 5, 14, 18, 22, 31, tzinfo=UTC)
    assert page["description"] == "Independent news the media won't show you."
    assert _accounts(ws)["facebook:100070011122233"]["location"] == "MK"


def test_crowdtangle_facebook_groups_european_dashboard(ws) -> None:
    report = ingest_files(ws, [CT / "facebook_groups.csv"])
    assert _counts(report) == (2, 2, 0, 0)
    posts = _posts(ws)
    first = posts["facebook:2345678901234"]
    assert first["created_at"] == datetime(2022, 9, 25, 19, 10, tzinfo=UTC)  # CEST
    assert first["account_id"] == "facebook:1234567890123"
    assert first["urls"] == ["https://notizie.example.it/brogli"]  # Final Link = message link, once
    assert posts["facebook:2345678909999"]["created_at"] == datetime(2022, 11, 2, 7, 0, tzinfo=UTC)
    group = _accounts(ws)["facebook:1234567890123"]
    assert group["display_name"] == "Elezioni Trasparenti" and group["handle"] is None
    assert group["followers"] == 25310


def test_crowdtangle_instagram(ws) -> None:
    report = ingest_files(ws, [CT / "instagram.csv"])
    assert _counts(report) == (2, 2, 0, 0)
    posts = _posts(ws)
    p = posts["instagram:CkqZ1abcDEF"]
    assert p["platform"] == "instagram" and p["account_id"] == "instagram:freedom.voices"
    assert p["created_at"] == datetime(2022, 11, 7, 23, 0, tzinfo=UTC)
    assert p["urls"] == ["https://linktr.ee/freedomvoices"]  # Link is the post itself
    assert p["hashtags"] == ["midtermelections", "vote"]
    assert p["mentions"] == ["freedom.voices.backup"]
    assert posts["instagram:CkqZ9xyzUVW"]["hashtags"] == ["stopthesteal", "élection"]
    acc = _accounts(ws)["instagram:freedom.voices"]
    assert (acc["handle"], acc["display_name"], acc["followers"]) == (
        "freedom.voices",
        "Freedom Voices",
        152300,
    )


def test_crowdtangle_malformed_old_layout(ws) -> None:
    report = ingest_files(ws, [CT / "malformed.csv"])
    assert_counts_add_up(report)
    assert _counts(report) == (6, 2, 0, 4)
    assert set(_posts(ws)) == {"facebook:3500000000000001", "facebook:3500000000000005"}
    assert _posts(ws)["facebook:3500000000000001"]["created_at"] == datetime(
        2020, 11, 4, 4, 59, tzinfo=UTC
    )
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert q == {
        3: "expected 31 fields, found 6",
        4: "unknown time zone 'XYZT' in '2020-11-04 00:10:00 XYZT'; convert the column to UTC",
        5: "missing URL (the post id is taken from it)",
        6: "Created '11/04/2020 12:30 AM' is not a date/time",
    }


# -- Meta Content Library --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["facebook_posts.csv", "instagram_posts.csv", "malformed.csv"])
def test_mcl_fixtures_are_detected(name: str) -> None:
    assert detect_adapter(sample(MCL / name)).name == "meta_content_library"


def test_mcl_facebook_posts(ws) -> None:
    report = ingest_files(ws, [MCL / "facebook_posts.csv"])
    assert_counts_add_up(report)
    assert _counts(report) == (5, 5, 0, 0)
    posts = _posts(ws)
    orig = posts["facebook:1029384756102938"]
    assert orig["account_id"] == "facebook:100083331112223" and orig["lang"] == "en"
    assert orig["created_at"] == datetime(2024, 6, 1, 18, 22, 5, tzinfo=UTC)
    assert orig["urls"] == ["https://news.example.com/ballots"]  # link attachment = text link
    assert orig["hashtags"] == ["election2024", "wahl2024"]
    for pid, secs in (("1029384756109999", 35), ("1029384756108888", 50)):
        share = posts[f"facebook:{pid}"]
        assert share["kind"] == "repost" and share["parent_post_id"] == "facebook:1029384756102938"
        assert share["created_at"].second == secs
    # a profile posting into a group: attributed to the profile, not the group
    assert posts["facebook:1029384756108888"]["account_id"] == "facebook:61550000000042"
    uk = posts["facebook:1029384756107777"]
    assert uk["hashtags"] == ["вибори", "вибори2024"] and uk["mentions"] == ["voiceofthenation"]
    assert uk["lang"] == "uk"
    assert posts["facebook:1029384756106666"]["urls"] == ["http://www.count-watch.example/live"]
    acc = _accounts(ws)
    assert acc["facebook:100083331112223"]["handle"] == "voiceofthenation"
    assert acc["facebook:100083331112223"]["display_name"] == "Voice of the Nation"
    assert acc["facebook:61550000000042"]["handle"] is None


def test_mcl_instagram_posts(ws) -> None:
    report = ingest_files(ws, [MCL / "instagram_posts.csv"])
    assert _counts(report) == (2, 2, 0, 0)
    posts = _posts(ws)
    reel = posts["instagram:3381234567890123456"]
    assert reel["platform"] == "instagram" and reel["account_id"] == "instagram:17841400000000001"
    assert reel["created_at"] == datetime(2024, 6, 2, 7, 0, tzinfo=UTC)
    # the hashtags column (a JSON array) and the caption's tags, each once
    assert reel["hashtags"] == ["vote", "election2024", "élection"]
    assert reel["mentions"] == ["truth.daily"]
    photo = posts["instagram:3381234567890129999"]
    assert photo["hashtags"] == ["vote", "election2024"]  # comma-separated column
    assert photo["urls"] == ["https://noticias.example.es/vota"] and photo["lang"] == "es"
    assert _accounts(ws)["instagram:17841400000000002"]["handle"] == "noticiaslibres"


def test_mcl_malformed(ws) -> None:
    report = ingest_files(ws, [MCL / "malformed.csv"])
    assert_counts_add_up(report)
    assert _counts(report) == (5, 1, 0, 4)
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert q == {
        3: "creation_time 'June 5th, 10am' is not a date/time",
        4: "expected 34 fields, found 4",
        5: "no post_owner.id (Meta Content Library did not disclose who posted it)",
        6: "missing post_id",
    }


def test_mcl_platform_needs_a_clue_or_override(ws, tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text(
        "id,creation_time,post_owner.id,post_owner.name,text\n"
        "42,2024-06-01T00:00:00,7,Someone,hello #world\n",
        encoding="utf-8",
    )
    report = ingest_files(ws, [path])
    assert report.files[0].format == "meta_content_library"
    assert _counts(report) == (1, 0, 0, 1)
    assert ws.scalar("SELECT reason FROM quarantine").startswith(
        "cannot tell Facebook from Instagram"
    )
    forced = ingest_files(ws, [path], platform="instagram")
    assert _counts(forced) == (1, 1, 0, 0)
    assert _posts(ws)["instagram:42"]["hashtags"] == ["world"]


# -- both: compression, re-ingest, forcing, no stolen files -----------------------------------
@pytest.mark.parametrize(
    ("path", "fmt", "n"),
    [
        (CT / "facebook_pages.csv", "crowdtangle", 6),
        (CT / "instagram.csv", "ct", 2),
        (MCL / "facebook_posts.csv", "meta_content_library", 5),
        (MCL / "instagram_posts.csv", "mcl", 2),
    ],
)
def test_gzip_reingest_and_forced_format(ws, tmp_path: Path, path: Path, fmt: str, n: int) -> None:
    gz = tmp_path / (path.name + ".gz")
    with open(path, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_adapter(sample(gz)).name == detect_adapter(sample(path)).name
    first = ingest_files(ws, [gz])
    assert _counts(first) == (n, n, 0, 0)
    plain = rows(
        ws,
        "SELECT post_id, account_id, created_at, kind, parent_post_id, urls, hashtags "
        "FROM posts ORDER BY post_id",
    )
    again = ingest_files(ws, [path], format=fmt)
    assert again.files[0].format == detect_adapter(sample(path)).name
    assert _counts(again) == (n, 0, n, 0)
    assert (
        rows(
            ws,
            "SELECT post_id, account_id, created_at, kind, parent_post_id, urls, hashtags "
            "FROM posts ORDER BY post_id",
        )
        == plain
    )


def test_sniffers_reject_every_other_fixture() -> None:
    ours = {CT: crowdtangle.ADAPTER, MCL: meta_content_library.ADAPTER}
    for path in sorted(p for p in DATA.rglob("*") if p.is_file()):
        try:
            s = sample(path)
        except InputError:
            continue
        for folder, adapter in ours.items():
            if folder not in path.parents:
                assert not adapter.sniff(s), (adapter.name, path)
