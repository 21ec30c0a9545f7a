"""Telegram Desktop's JSON export: single-chat and whole-account exports, the pre-2021
layout, forwards as reposts of a stable pseudo parent, and broken records."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from civicsentry.errors import InputError, UnknownFormat
from civicsentry.ingest import detect_adapter, telegram
from civicsentry.ingest.base import Options
from civicsentry.ingest.readers import sample
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up, rows

TG = DATA / "telegram"
FIXTURES = sorted(TG.glob("*.json"))


def _posts(ws) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}


def _counts(report) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    f = report.files[0]
    return f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_are_detected_as_telegram(path: Path) -> None:
    assert detect_adapter(sample(path)).name == "telegram"


def test_channel_export(ws) -> None:
    report = ingest_files(ws, [TG / "channel_result.json"])
    assert_counts_add_up(report)
    # 7 messages, 2 of them service messages (channel created, pin): not rows
    assert _counts(report) == (5, 5, 0, 0)
    posts = _posts(ws)
    assert set(posts) == {f"telegram:1487851422/{i}" for i in (2, 3, 4, 5, 7)}

    p = posts["telegram:1487851422/2"]
    assert p["account_id"] == "telegram:channel1487851422"
    assert p["kind"] == "post" and p["parent_post_id"] is None
    # date_unixtime, not the exporter's local "date" (16:30 at UTC+3)
    assert p["created_at"] == datetime(2024, 3, 15, 13, 30, tzinfo=UTC)
    assert p["text"].startswith("Срочно: на участке №1234 вбросы")
    assert p["text"].endswith("#выборы2024 #Election via @electionwatch_bot")
    # link and text_link entities; utm_* and fbclid dropped by the normaliser
    assert p["urls"] == [
        "https://news.example.org/article?id=7",
        "https://www.example.com/report/?page=2",
    ]
    assert sorted(p["domains"]) == ["example.com", "example.org"]
    assert p["hashtags"] == ["выборы2024", "election"]
    assert p["mentions"] == ["electionwatch_bot"]

    fwd = posts["telegram:1487851422/3"]
    assert fwd["kind"] == "repost"
    assert fwd["parent_post_id"].startswith("telegram:fwd/channel1122334455/")
    assert posts["telegram:1487851422/4"]["text"] is None  # a photo without caption
    reply = posts["telegram:1487851422/5"]
    assert reply["kind"] == "reply" and reply["parent_post_id"] == "telegram:1487851422/2"
    assert reply["urls"] == ["http://t.me/cik_official/991"]  # a bare-domain link entity
    assert posts["telegram:1487851422/7"]["hashtags"] == ["élection"]

    names = dict(ws.sql("SELECT account_id, display_name FROM accounts").fetchall())
    assert names["telegram:channel1487851422"] == "Election Watch Daily"
    assert names["telegram:channel1122334455"] == "Patriot Front News"  # the forwarded source


def test_account_export_forwards_are_one_repost_object(ws) -> None:
    report = ingest_files(ws, [TG / "account_result.json"])
    assert_counts_add_up(report)
    assert _counts(report) == (8, 8, 0, 0)
    posts = _posts(ws)
    a, b = posts["telegram:1701234567/102"], posts["telegram:1701234567/103"]
    # two users forward the same channel post four seconds apart: same parent object
    assert a["kind"] == b["kind"] == "repost"
    assert a["parent_post_id"] == b["parent_post_id"]
    assert a["parent_post_id"].startswith("telegram:fwd/channel1487851422/")
    shares = rows(
        ws, "SELECT account_id, object_id, t FROM actions WHERE object_type = 'repost' ORDER BY t"
    )
    same = [s for s in shares if s["object_id"] == a["parent_post_id"]]
    assert [s["account_id"] for s in same] == ["telegram:user1001", "telegram:user1002"]
    assert (same[1]["t"] - same[0]["t"]).total_seconds() == 4

    reply = posts["telegram:1701234567/104"]
    assert reply["kind"] == "reply" and reply["parent_post_id"] == "telegram:1701234567/102"
    assert (
        reply["hashtags"] == ["фактчек"] and reply["mentions"] == []
    )  # mention_name is not a handle
    assert posts["telegram:1701234567/105"]["parent_post_id"].startswith(
        "telegram:fwd/name:Sergey/"
    )
    assert posts["telegram:1701234567/106"]["urls"] == ["https://docs.example.net/p/1234"]
    # the private chat and the left channel are read too
    assert posts["telegram:1001/5002"]["parent_post_id"] == "telegram:1001/5001"
    assert posts["telegram:1001/5001"]["account_id"] == "telegram:user5550001"
    assert posts["telegram:1122334455/77"]["hashtags"] == ["фейк"]

    me = rows(ws, "SELECT * FROM accounts WHERE account_id = 'telegram:user5550001'")[0]
    assert (me["handle"], me["display_name"], me["description"]) == (
        "anna_osint",
        "Anna Researcher",
        "OSINT, elections",
    )
    names = dict(ws.sql("SELECT account_id, display_name FROM accounts").fetchall())
    assert names["telegram:user1002"] == "Maria K"
    assert names["telegram:channel1487851422"] == "Election Watch Daily"


def test_forward_parent_separates_messages_of_one_source() -> None:
    base = {"forwarded_from": "News", "forwarded_from_id": "channel9", "id": 1}
    one = telegram._forward_parent(base, "Vote  on\nSunday")
    assert one == telegram._forward_parent({**base, "id": 2}, "Vote on Sunday")  # whitespace
    assert one != telegram._forward_parent(base, "Vote on Monday")
    assert one != telegram._forward_parent(
        {**base, "forwarded_from_id": "channel10"}, "Vote on Sunday"
    )
    photo = {**base, "photo": "photos/a.jpg", "width": 10, "height": 20}
    assert telegram._forward_parent(photo, None) != telegram._forward_parent(
        {**photo, "width": 11}, None
    )
    # a path differs between exports of the same photo; its properties do not
    assert telegram._forward_parent(photo, None) == telegram._forward_parent(
        {**photo, "photo": "(File not included.)"}, None
    )
    with_id = {**base, "forwarded_from_message_id": 55}
    assert telegram._forward_parent(with_id, "x") == "9/55"


def test_reply_to_another_chat() -> None:
    for peer in ("channel77", "-10077"):
        msg = {"reply_to_message_id": 5, "reply_to_peer_id": peer}
        assert telegram._reply_parent(msg, "12") == "77/5"
    assert telegram._reply_parent({"reply_to_message_id": 5}, "12") == "12/5"
    assert telegram._reply_parent({}, "12") is None


def test_legacy_export_without_unixtime_or_sender(ws) -> None:
    report = ingest_files(ws, [TG / "legacy_channel_result.json"])
    assert _counts(report) == (2, 2, 0, 0)
    posts = _posts(ws)
    p = posts["telegram:1300000001/9"]
    assert p["account_id"] == "telegram:channel1300000001"  # channel post: the channel
    assert p["created_at"] == datetime(2020, 11, 3, 10, 0, tzinfo=UTC)  # local "date" read as UTC
    assert p["urls"] == ["https://leaks.example.com/docs"] and p["hashtags"] == ["leak"]
    fwd = posts["telegram:1300000001/10"]
    assert fwd["kind"] == "repost"
    assert fwd["parent_post_id"].startswith("telegram:fwd/name:Old Leaks Backup/")


def test_malformed_records_are_quarantined_with_positions(ws) -> None:
    report = ingest_files(ws, [TG / "malformed_result.json"])
    assert_counts_add_up(report)
    assert _counts(report) == (7, 2, 0, 5)  # 8 messages, one a service message
    assert set(_posts(ws)) == {"telegram:1800000002/1", "telegram:1800000002/8"}
    q = dict(ws.sql("SELECT position, reason FROM quarantine").fetchall())
    assert q == {
        2: "message is not a JSON object",
        3: "message has no numeric id",
        4: "date 'yesterday-ish' is not a date/time",
        5: "message has no from_id (sender unknown)",
        6: "unsupported message: Telegram Desktop exported no date or content for it",
    }
    raw = ws.scalar("SELECT raw FROM quarantine WHERE position = 4")
    assert orjson.loads(raw)["text"] == "bad date"


def test_truncated_document_is_a_file_error(ws, tmp_path: Path) -> None:
    cut = tmp_path / "result.json"
    cut.write_bytes((TG / "channel_result.json").read_bytes()[:900])
    report = ingest_files(ws, [cut])
    assert report.files[0].error and "invalid JSON" in report.files[0].error
    assert ws.scalar("SELECT count(*) FROM posts") == 0


def test_not_an_export_is_a_file_error(ws, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_bytes(b'{"about": "x", "contacts": {"list": []}}')
    with pytest.raises(InputError):
        list(telegram.read(other, Options()))


def test_gzip_copy_reingest_and_forced_format(ws, tmp_path: Path) -> None:
    gz = tmp_path / "result.json.gz"
    with open(TG / "account_result.json", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_adapter(sample(gz)).name == "telegram"
    first = ingest_files(ws, [gz])
    assert _counts(first) == (8, 8, 0, 0)
    again = ingest_files(ws, [TG / "account_result.json"], format="tdesktop")
    assert again.files[0].format == "telegram"
    assert _counts(again) == (8, 0, 8, 0)  # nothing stored twice


def test_account_export_with_a_long_contact_list_needs_format(ws, tmp_path: Path) -> None:
    # "Export Telegram data" without personal information: the contact list pushes the
    # chats beyond the 64 KiB that detection reads, so --format is needed.
    doc = orjson.loads((TG / "account_result.json").read_bytes())
    slim = {
        "about": doc["about"],
        "contacts": {
            "about": "",
            "list": [
                {
                    "first_name": f"c{i}",
                    "last_name": "x" * 40,
                    "phone_number": "+1",
                    "date": "2020-01-01T00:00:00",
                }
                for i in range(1500)
            ],
        },
        "chats": doc["chats"],
    }
    path = tmp_path / "result.json"
    path.write_bytes(orjson.dumps(slim, option=orjson.OPT_INDENT_2))
    with pytest.raises(UnknownFormat):
        detect_adapter(sample(path))
    report = ingest_files(ws, [path], format="telegram")
    assert _counts(report) == (7, 7, 0, 0)


def test_platform_override(ws) -> None:
    ingest_files(ws, [TG / "legacy_channel_result.json"], platform="tgarchive")
    assert ws.scalar("SELECT min(post_id) FROM posts") == "tgarchive:1300000001/10"
    assert ws.scalar("SELECT platform FROM accounts LIMIT 1") == "tgarchive"


def test_sniffer_rejects_every_other_fixture() -> None:
    for path in sorted(p for p in DATA.rglob("*") if p.is_file() and TG not in p.parents):
        try:
            s = sample(path)
        except InputError:
            continue
        assert not telegram.ADAPTER.sniff(s), path
