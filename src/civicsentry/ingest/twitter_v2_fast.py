"""The fast reader of twarc2 response pages: a block of page lines decoded by msgspec
into typed structs that hold only the fields CivicSentry stores (the rest of each tweet,
most of the bytes, is skipped without building Python objects), then turned into Arrow
columns with C-level list operations and vectorised checks instead of one dict per tweet.

Only the common shape takes this path: a page (no top-level ``id``) whose ``data`` is a
non-empty list of tweets (or one tweet, as ``twarc2 stream`` writes), where every value
has the type the struct declares. Any other line — a flattened tweet, an error or users
page, a value of an unexpected type, an id with spaces, a time written another way that
does not parse — is handed back to the Python adapter (``twitter_v2``), which defines the
semantics; a line that takes either path gives the same rows (tests/ingest/
test_twitter_v2_fast.py compares them on hostile variations of the fixtures).

msgspec is at least as strict as orjson, which the Python adapter uses, on everything
it reads (it rejects trailing commas, NaN, lone surrogates, control characters, depth
beyond 995) and UTF-8 is checked for the whole block at once; the one known difference
is a number that overflows to infinity (``1e999``) in a field that is skipped, which
orjson rejects and msgspec does not look at.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from msgspec import UNSET, Struct, UnsetType

from ..normalise import parse_time
from .base import TS, no_collection

# -- what is decoded: only the fields that are stored -------------------------------------
# `None` defaults: a JSON null reads like a missing key, as `dict.get` does in twitter_v2.
# Fields whose mere presence changes the meaning (a tweet's `author`; `username`, which
# makes an item of `data` a user; a page's `id`, which makes the line a flattened tweet)
# admit no value: with any, the line fails to decode and goes to the Python adapter.


class _Ref(Struct, gc=False):
    type: str | None = None
    id: str | None = None


class _Url(Struct, gc=False):
    unwound_url: str | None = None
    expanded_url: str | None = None
    url: str | None = None
    media_key: str | None = None


class _Tag(Struct, gc=False):
    tag: str | None = None


class _Mention(Struct, gc=False):
    username: str | None = None


class _Entities(Struct, gc=False):
    urls: tuple[_Url, ...] | None = None
    hashtags: tuple[_Tag, ...] | None = None
    mentions: tuple[_Mention, ...] | None = None


class _Tweet(Struct, gc=False):
    id: str | None = None
    text: str | None = None
    author_id: str | None = None
    created_at: str | None = None
    lang: str | None = None
    referenced_tweets: tuple[_Ref, ...] | None = None
    entities: _Entities | None = None
    author: UnsetType = UNSET
    username: UnsetType = UNSET


class _Metrics(Struct, gc=False):
    followers_count: int | None = None
    following_count: int | None = None
    tweet_count: int | None = None


class _User(Struct, gc=False):
    id: str
    username: str | None = None
    name: str | None = None
    created_at: str | None = None
    verified: bool | None = None
    description: str | None = None
    location: str | None = None
    public_metrics: _Metrics | None = None


class _Includes(Struct, gc=False):
    # Users are decoded through `Profiles`: a user object repeats on hundreds of pages.
    users: tuple[msgspec.Raw, ...] | None = None
    tweets: tuple[_Tweet, ...] | None = None


class _Page(Struct, gc=False):
    data: tuple[_Tweet, ...] | _Tweet | None = None
    includes: _Includes | None = None
    id: UnsetType = UNSET


_DECODE = msgspec.json.Decoder(_Page).decode
_DECODE_USER = msgspec.json.Decoder(_User).decode
_INVALID = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_KINDS = (("retweeted", "repost"), ("quoted", "quote"), ("replied_to", "reply"))
_KIND_OF = dict(_KINDS)
_S = pa.string()

# What Python's str.isspace() calls whitespace (checked against every code point in the
# tests): `twitter_common.text` keeps a string only when it has another character.
_NOT_SPACE = (
    r"[^\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]"
)
# Times that Arrow's cast and Python's datetime.fromisoformat (normalise.parse_time) read
# the same way; other strings are parsed one by one with parse_time itself.
_ISO_Z = (
    r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?Z$"
)

_id = attrgetter("id")
_author_id = attrgetter("author_id")


class _Reject(Exception):
    """Some lines of the block must go to the Python adapter; the block is rebuilt."""

    def __init__(self, linenos: set[int]) -> None:
        self.linenos = linenos


def _texts(values: Sequence[str | None]) -> pa.Array:
    """``twitter_common.text`` over a column: strings with a non-space character."""
    arr = pa.array(values, _S)
    return pc.if_else(pc.match_substring_regex(arr, _NOT_SPACE), arr, pa.nulls(len(arr), _S))


def _times(values: Sequence[str | None]) -> tuple[pa.Array, np.ndarray]:
    """``parse_time`` over a column, and where a non-empty value did not parse."""
    arr = pa.array(values, _S)
    iso = pc.fill_null(pc.match_substring_regex(arr, _ISO_Z), False)
    out = None
    if pc.all(pc.or_(iso, pc.is_null(arr))).as_py():
        try:
            out = arr.cast(TS)
        except pa.ArrowInvalid:  # a day that does not exist: Python decides
            out = None
    if out is None:  # rare: parse the other values one by one
        parsed = [None if v is None else parse_time(v) for v in values]
        out = pa.array(parsed, TS)
    failed = pc.and_(pc.is_null(out), pc.invert(pc.fill_null(pc.equal(arr, ""), True)))
    return out, failed.to_numpy(zero_copy_only=False)


_tag = attrgetter("tag")
_username = attrgetter("username")


def _list_array(lengths: list[int], flat: list[str | None]) -> pa.Array:
    if None in flat:  # rare: values that are not strings are left out, shortening lists
        values = iter(flat)
        per = [[v for v in (next(values) for _ in range(k)) if v is not None] for k in lengths]
        lengths, flat = [len(v) for v in per], [v for vs in per for v in vs]
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(np.array(lengths, np.int32), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, _S))


def _entities(ents: Sequence[_Entities | None]) -> list[pa.Array]:
    """The urls, hashtags and mentions columns (list<string>): one loop over the tweets
    that have entities; the values of each list taken at C speed where possible."""
    n = len(ents)
    u_len, h_len, m_len = [0] * n, [0] * n, [0] * n
    urls: list[str | None] = []
    tags: list[str | None] = []
    names: list[str | None] = []
    for i, e in enumerate(ents):
        if e is None:
            continue
        if got := e.urls:
            k = len(urls)
            for u in got:
                # Media links (the tweet's own photos and videos) carry a media_key.
                if not u.media_key:
                    urls.append(u.unwound_url or u.expanded_url or u.url)
            u_len[i] = len(urls) - k
        if got := e.hashtags:
            tags += map(_tag, got)
            h_len[i] = len(got)
        if got := e.mentions:
            names += map(_username, got)
            m_len[i] = len(got)
    return [_list_array(u_len, urls), _list_array(h_len, tags), _list_array(m_len, names)]


def _kind(refs: list[_Ref]) -> tuple[str, str | None]:
    """``twitter_v2.kind_of``: the last reference of each type; retweet, quote, reply."""
    if len(refs) == 1:  # most referencing tweets: no priorities to settle
        ref = refs[0]
        kind = _KIND_OF.get(ref.type)  # type: ignore[arg-type]
        if kind is not None and ref.id is not None and (parent := ref.id.strip()):
            return kind, parent
        return "post", None
    by_type = {r.type: (r.id.strip() or None) if r.id is not None else None for r in refs}
    for ref_type, kind in _KINDS:
        if by_type.get(ref_type):
            return kind, by_type[ref_type]
    return "post", None


class Profiles:
    """The users of one file's pages, decoded once per distinct JSON text, and the profile
    last handed out for each account, so that a block hands out only the profiles that
    changed since (the same user object comes on hundreds of pages: the 1M simulated
    tweets carry 1.23M user objects of 47,710 accounts, and every block converted and
    staged its copies: 568k account rows instead of 47,710).

    Skipping a copy of the account's last profile changes nothing: the merge keeps each
    field's last non-null value, and the copy's values are those. A copy is the same JSON
    text, known by its 64-bit hash (Python's, keyed per process): a profile that changed
    is taken for a copy only if its text's hash equals the last one's, a chance of 2^-64.
    Equal profiles written differently are simply handed out again. Profiles read by the
    Python adapter are ``forget``-ed, as their ids' last one is then unknown.

    Bounded: beyond ``limit`` distinct texts (~1 KB each with the decoded user) the
    decoded users start again (the next copy of each is decoded again); beyond
    ``accounts`` ids (~140 bytes each) the last profiles start again (the next copy of
    each is handed out again). They are kept apart because the texts outnumber the
    accounts: a 10M-tweet file of 479k accounts, with one map bounded by 50k texts,
    handed out 8.9M profiles."""

    def __init__(self, limit: int = 50_000, accounts: int = 500_000) -> None:
        self.by_text: dict[bytes, _User] = {}
        self.last: dict[str, int] = {}  # id -> hash of the text last handed out
        self.limit = limit
        self.accounts = accounts

    def decode(self, raws: Sequence[msgspec.Raw]) -> tuple[list[_User], list[int]] | None:
        """The users of a page and the hashes of their texts; None when one is not a user
        object of the fast path."""
        texts = list(map(bytes, raws))
        found = list(map(self.by_text.get, texts))
        if None in found:
            for i, text in enumerate(texts):
                if found[i] is None:
                    try:
                        found[i] = user = _DECODE_USER(text)
                    except _INVALID:
                        return None
                    if len(self.by_text) >= self.limit:
                        self.by_text.clear()
                    self.by_text[text] = user
        return found, list(map(hash, texts))  # type: ignore[return-value]

    def changed(self, users: dict[str, tuple[_User, int]]) -> list[tuple[str, _User, int]]:
        last = self.last
        return [(uid, u, h) for uid, (u, h) in users.items() if last.get(uid) != h]

    def handed_out(self, users: list[tuple[str, _User, int]]) -> None:
        self.last.update((uid, h) for uid, _, h in users)
        if len(self.last) > self.accounts:
            self.last.clear()

    def forget(self, ids: Iterable[str], platform: str) -> None:
        prefix = platform + ":"
        for uid in ids:
            self.last.pop(uid, None)
            if uid.startswith(prefix):  # stored as the same account (ids are qualified)
                self.last.pop(uid[len(prefix) :], None)


def parse_pages(
    linenos: list[int], lines: list[bytes], platform: str, profiles: Profiles | None = None
) -> tuple[pa.Table, pa.Table, set[int]]:
    """Raw post and account tables of a block of page lines (as ``twitter_v2.post`` and
    ``account`` map them), and the line numbers the Python adapter must read. The accounts
    are those whose profile ``profiles`` (of the file; by default, of this block alone)
    has not handed out as the last one (and they are recorded as handed out)."""
    profiles = Profiles() if profiles is None else profiles
    # The structs are untracked and hold no cycles (a third of the parsing time).
    with no_collection():
        rejected = set(linenos) - _valid_utf8(linenos, lines)
        pages: list[tuple[int, _Page]] = []
        for lineno, line in zip(linenos, lines, strict=True):
            if lineno in rejected:
                continue
            try:
                page = _DECODE(line)
            except _INVALID:
                rejected.add(lineno)
                continue
            if page.data:
                pages.append((lineno, page))
            else:
                rejected.add(lineno)
        while True:
            try:
                posts, accounts = _tables(pages, platform, profiles)
                return posts, accounts, rejected
            except _Reject as e:  # rare: build the block again without those lines
                rejected |= e.linenos
                pages = [(n, p) for n, p in pages if n not in e.linenos]


def _valid_utf8(linenos: list[int], lines: list[bytes]) -> set[int]:
    """The lines that are valid UTF-8 (msgspec does not check the fields it skips).
    Line by line: ASCII lines (twarc2 escapes non-ASCII by default) need no check, and
    a line at a time reuses memory, where converting the block at once wrote a fresh
    24 MB copy of it (2.5x the CPU, mostly page faults)."""
    return {
        lineno
        for lineno, line in zip(linenos, lines, strict=True)
        if line.isascii() or is_utf8(line)
    }


def is_utf8(data: bytes) -> bool:
    """Whether ``data.decode("utf-8")`` would succeed, by Arrow's validator over the bytes
    in place (no string is built: 2.4x less CPU than decoding; the tests compare both)."""
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _tables(
    pages: list[tuple[int, _Page]], platform: str, profiles: Profiles
) -> tuple[pa.Table, pa.Table]:
    tweets: list[_Tweet] = []
    counts: list[int] = []
    handles: list[str | None] = []
    users: dict[str, tuple[_User, int]] = {}  # the last profile of each id in the block
    bad: set[int] = set()
    for lineno, page in pages:
        data = page.data
        items = [data] if isinstance(data, _Tweet) else data
        inc = page.includes
        names: dict[str, str | None] = {}
        if inc is not None:
            if inc.users:
                decoded = profiles.decode(inc.users)
                if decoded is None:
                    bad.add(lineno)
                    continue
                found, keys = decoded
                uids = list(map(_id, found))
                # ids used as written, as the Python adapter's dict lookups do; any that
                # its `ident` would strip (or that are empty) go to it
                if not all(map(str.isdigit, uids)):
                    bad.add(lineno)
                    continue
                users.update(zip(uids, zip(found, keys, strict=True), strict=True))
                names = dict(zip(uids, map(_username, found), strict=True))  # last wins
            if inc.tweets:
                items = [*items, *inc.tweets]
        tweets += items
        counts.append(len(items))
        handles += map(names.get, map(_author_id, items))  # type: ignore[arg-type]
    if bad:
        raise _Reject(bad)
    positions = np.repeat(np.array([n for n, _ in pages], np.int64), counts)
    if not tweets:
        return pa.table({"position": pa.array([], pa.int64())}), pa.table({})

    def column(name: str) -> list:  # one field of every tweet, read at C speed
        return list(map(attrgetter(name), tweets))

    post_ids = pa.array(column("id"), _S)
    author_ids = pa.array(column("author_id"), _S)
    # Ids as written: the Python adapter strips them (`ident`); digits need no stripping.
    ok = pc.and_(
        pc.fill_null(pc.ascii_is_decimal(post_ids), False),  # `^[0-9]+$`, 5x faster
        pc.fill_null(pc.ascii_is_decimal(author_ids), True),
    )
    created, failed = _times(column("created_at"))
    # A time that does not parse is quarantined with the Python adapter's reason.
    bad_rows = ~ok.to_numpy(zero_copy_only=False) | failed
    if bad_rows.any():
        raise _Reject(set(positions[bad_rows].tolist()))
    n = len(tweets)
    kinds: list[str] = ["post"] * n
    parents: list[str | None] = [None] * n
    refs = column("referenced_tweets")
    for i in [i for i, r in enumerate(refs) if r]:
        kinds[i], parents[i] = _kind(refs[i])
    lang = pa.array(column("lang"), _S)
    urls, hashtags, mentions = _entities(column("entities"))
    posts = pa.table(
        {
            "position": pa.array(positions),
            "platform": pa.repeat(platform, n),
            "post_id": post_ids,
            "account_id": author_ids,
            "created_at": created,
            "kind": pa.array(kinds, _S),
            "parent_post_id": pa.array(parents, _S),
            "text": pa.array(column("text"), _S),
            "lang": pc.if_else(pc.is_in(lang, pa.array(["und", ""])), pa.nulls(n, _S), lang),
            "urls": urls,
            "hashtags": hashtags,
            "mentions": mentions,
            "handle": _texts(handles),
        }
    )
    fresh = profiles.changed(users)
    try:
        accounts = _accounts([u for _, u, _ in fresh], platform)
    except (OverflowError, pa.ArrowInvalid):  # a count beyond 64 bits: Python decides
        raise _Reject({n for n, _ in pages}) from None
    profiles.handed_out(fresh)
    return posts, accounts


def _accounts(users: list[_User], platform: str) -> pa.Table:
    if not users:
        return pa.table({})

    def column(name: str, of: Sequence[Struct] = users) -> list:
        return list(map(attrgetter(name), of))

    metrics = column("public_metrics")

    def count(name: str) -> pa.Array:
        if None in metrics:
            return pa.array([None if m is None else getattr(m, name) for m in metrics], pa.int64())
        return pa.array(column(name, metrics), pa.int64())

    return pa.table(
        {
            "platform": pa.repeat(platform, len(users)),
            "account_id": pa.array(column("id"), _S),
            "handle": _texts(column("username")),
            "display_name": _texts(column("name")),
            "created_at": _times(column("created_at"))[0],
            "followers": count("followers_count"),
            "following": count("following_count"),
            "posts_count": count("tweet_count"),
            "verified": pa.array(column("verified"), pa.bool_()),
            "description": _texts(column("description")),
            "location": _texts(column("location")),
        }
    )
