"""X API v2 pages: user profiles handed out once per change across the blocks of a file
(``twitter_v2_fast.Profiles``), and the in-place UTF-8 check of the fast reader."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import civicsentry
from civicsentry.ingest import twitter_v2, twitter_v2_fast
from civicsentry.ingest.twitter_v2_fast import Profiles, is_utf8, parse_pages
from civicsentry.service.ingest import ingest_files
from tests.conftest import DATA, assert_counts_add_up

PAGE = json.loads((DATA / "twitter_v2" / "search_pages.jsonl").read_text("utf-8").splitlines()[0])
USERS = {u["id"]: u["username"] for u in PAGE["includes"]["users"]}
UID = PAGE["includes"]["users"][0]["id"]
HANDLE = USERS[UID]


def _page(handle: str = HANDLE, *, compact: bool = False) -> bytes:
    page = copy.deepcopy(PAGE)
    page["includes"]["users"][0]["username"] = handle
    return json.dumps(page, ensure_ascii=False, separators=(",", ":") if compact else None).encode()


def _handed_out(profiles: Profiles, line: bytes) -> dict[str, str]:
    _, accounts, rejected = parse_pages([1], [line], "x", profiles)
    assert not rejected
    return {r["account_id"]: r["handle"] for r in accounts.to_pylist()}


def test_a_profile_is_handed_out_again_only_after_a_change() -> None:
    profiles = Profiles()
    assert _handed_out(profiles, _page()) == USERS  # first sight: every user
    assert _handed_out(profiles, _page()) == {}  # the same profiles again: nothing
    assert _handed_out(profiles, _page("renamed")) == {UID: "renamed"}
    # Back to the first profile: it is the last one again, so it is handed out.
    assert _handed_out(profiles, _page()) == {UID: HANDLE}
    # The same profiles written differently (no spaces) are handed out again, which
    # changes nothing in the merge.
    assert _handed_out(profiles, _page(compact=True)) == USERS
    # Without a file's profiles, a block hands out all of its users.
    assert _handed_out(None, _page()) == USERS  # type: ignore[arg-type]


def test_the_limits_start_again() -> None:
    # Beyond `limit` texts the users are decoded again, but the last profiles handed out
    # are still known: the copies are not handed out again.
    profiles = Profiles(limit=1)
    assert _handed_out(profiles, _page()) == USERS
    assert len(profiles.by_text) == 1 and len(profiles.last) == len(USERS)
    assert _handed_out(profiles, _page()) == {}
    assert _handed_out(profiles, _page("renamed")) == {UID: "renamed"}
    # Beyond `accounts` ids the last profiles are forgotten: handed out again.
    profiles = Profiles(accounts=len(USERS) - 1)
    assert _handed_out(profiles, _page()) == USERS
    assert len(profiles.last) <= len(USERS)
    assert _handed_out(profiles, _page()) != {}


def _users_page(uid: str, handle: str) -> bytes:
    # A users page (`twarc2 users`): read by the Python adapter.
    user = {**PAGE["includes"]["users"][0], "id": uid, "username": handle}
    return json.dumps({"data": [user]}).encode()


@pytest.mark.parametrize("uid", [UID, f"x:{UID}"])
def test_a_profile_read_by_the_python_reader_in_between(
    uid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Page (fast path), a users page renaming the account (Python path), the first page
    # again: the last profile in the file is the first page's. Each line is its own
    # block. Had the fast path remembered its first profile as the last one handed out,
    # it would have skipped the third line's copy and stored "renamed".
    monkeypatch.setattr(twitter_v2, "_BLOCK_BYTES", 1)
    path = tmp_path / "pages.jsonl"
    path.write_bytes(b"\n".join([_page(), _users_page(uid, "renamed"), _page()]) + b"\n")
    w = civicsentry.open(tmp_path / "ws.duckdb")
    assert_counts_add_up(ingest_files(w, [path]))
    assert w.scalar("SELECT handle FROM accounts WHERE account_id = ?", [f"x:{UID}"]) == HANDLE
    w.close()


def _accounts(path: Path, ws: Path) -> list[tuple[Any, ...]]:
    w = civicsentry.open(ws)
    assert_counts_add_up(ingest_files(w, [path]))
    rows = w.con.execute("SELECT * FROM accounts ORDER BY account_id").fetchall()
    w.close()
    return rows


def test_blocks_give_the_accounts_of_the_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Profiles changing back and forth over a file read in one-line blocks give the
    # accounts the Python reader gives (every line through it).
    lines = [
        _page(),
        _page("second"),
        _page("second"),
        _page(),
        _users_page(UID, "third"),
        _page(),
        _page(compact=True),
        _page("second"),
    ]
    path = tmp_path / "pages.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(twitter_v2, "_BLOCK_BYTES", 1)
    fast = _accounts(path, tmp_path / "fast.duckdb")
    handles = {r[0]: r[2] for r in fast}
    assert handles[f"x:{UID}"] == "second"

    def nothing_fast(linenos: list[int], lines: list[bytes], platform: str, profiles: Any):
        return None, None, set(linenos)

    monkeypatch.setattr(twitter_v2, "parse_pages", nothing_fast)
    assert fast == _accounts(path, tmp_path / "python.duckdb")


EDGES = [
    b"",
    b"abc",
    b"\xff",
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xc0\x80",  # overlong
    b"\xe0\x80\x80",
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf4\x8f\xbf\xbf",
    b"\xed\x9f\xbf",
    b"\xee\x80\x80",
    b"\xc2",  # cut short
    b"\xe2\x82",
    b"a\x00b",
    "é🤔".encode(),
]


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("data", EDGES)
def test_utf8_check_is_pythons_on_edges(data: bytes) -> None:
    assert is_utf8(data) == _decodes(data)


_BYTES = st.lists(
    st.sampled_from([0x00, 0x41, 0x7F, *range(0x80, 0xC3, 0x0F), 0xDF, *range(0xE0, 0xF6), 0xFF]),
    max_size=12,
).map(bytes)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_BYTES, st.binary(max_size=16), st.text().map(str.encode)))
def test_utf8_check_is_pythons(data: bytes) -> None:
    assert is_utf8(data) == _decodes(data)


def test_a_line_with_invalid_utf8_takes_the_python_reader() -> None:
    bad = _page().replace(b"Twitter Web App", b"Twitter \xed\xa0\x80 App")
    assert bad != _page()
    _, _, rejected = twitter_v2_fast.parse_pages([1, 2], [_page(), bad], "x")
    assert rejected == {2}
