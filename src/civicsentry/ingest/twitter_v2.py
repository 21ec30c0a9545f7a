"""X/Twitter API v2 JSON Lines as twarc2 writes it: one API response page per line
(``twarc2 search``/``timeline``/``hydrate``), or one tweet per line (``twarc2 flatten``).

A page holds ``data`` (the tweets asked for) and ``includes`` (the users, the referenced
tweets and the media they point to). Referenced tweets are posts too — they are the
parents that reposts, quotes and replies link to — so they are stored and counted as
read rows like the tweets in ``data``; a tweet referenced on many pages is stored once
and counted as a duplicate afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..normalise import parse_time
from .base import RAW_POSTS, Adapter, Bad, Batch, Options, Sample, truncate
from .prepare import to_table
from .readers import iter_json_lines, iter_lines, parse_json
from .twitter_common import (
    PLATFORM,
    Collector,
    as_dict,
    as_items,
    count,
    head_objects,
    ident,
    lang,
    raw_json,
    text,
)
from .twitter_v2_fast import Profiles, parse_pages

_KINDS = (("retweeted", "repost"), ("quoted", "quote"), ("replied_to", "reply"))
_PAGE_KEYS = ("data", "includes", "meta", "errors")
# Fields only v2 tweets carry; used when the first line is longer than the sniffed head.
_V2_MARKERS = (
    b'"conversation_id"',
    b'"edit_history_tweet_ids"',
    b'"public_metrics"',
    b'"referenced_tweets"',
    b'"__twarc"',
)


# -- detection -------------------------------------------------------------------------
def _is_tweet(d: dict[str, Any]) -> bool:
    return (
        isinstance(d.get("id"), str)
        and "text" in d
        and "id_str" not in d
        and "user" not in d
        and ("author_id" in d or "author" in d)
    )


def _is_user(d: dict[str, Any]) -> bool:
    return isinstance(d.get("id"), str) and "username" in d and "text" not in d


def _verdict(obj: dict[str, Any]) -> bool | None:
    """True/False when this object decides the format, None for an empty or error page."""
    if any(k in obj for k in _PAGE_KEYS) and "id" not in obj:
        data = obj.get("data")
        items = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
        if items:
            return all(isinstance(t, dict) and (_is_tweet(t) or _is_user(t)) for t in items[:5])
        return None
    return _is_tweet(obj)


def sniff(s: Sample) -> bool:
    if s.columns is not None:
        return False
    stamped = False
    for obj in head_objects(s):
        verdict = _verdict(obj)
        if verdict is not None:
            return verdict
        stamped = stamped or "__twarc" in obj
    if stamped:
        return True  # only empty / error pages, but written by twarc2
    head = s.head
    return (
        head.lstrip().startswith(b"{")
        and b'"author_id"' in head
        and b'"text"' in head
        and b'"id_str"' not in head
        and any(m in head for m in _V2_MARKERS)
    )


# -- mapping ---------------------------------------------------------------------------
def account(user: dict[str, Any], platform: str) -> dict[str, Any] | None:
    uid = ident(user.get("id"))
    if uid is None:
        return None
    metrics = as_dict(user.get("public_metrics"))
    verified = user.get("verified")
    return {
        "platform": platform,
        "account_id": uid,
        "handle": text(user.get("username")),
        "display_name": text(user.get("name")),
        "created_at": parse_time(user.get("created_at")),
        "followers": count(metrics.get("followers_count")),
        "following": count(metrics.get("following_count")),
        "posts_count": count(metrics.get("tweet_count")),
        "verified": verified if isinstance(verified, bool) else None,
        "description": text(user.get("description")),
        "location": text(user.get("location")),
    }


def kind_of(refs: Any) -> tuple[str, str | None]:
    """Retweet first, then quote, then reply: a reply that quotes is stored as a quote."""
    by_type = {r.get("type"): ident(r.get("id")) for r in as_items(refs)}
    for ref_type, kind in _KINDS:
        if by_type.get(ref_type):
            return kind, by_type[ref_type]
    return "post", None


def post(t: Any, position: int, platform: str, users: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(t, dict):
        return {
            "position": position,
            "platform": platform,
            "problem": "tweet is not a JSON object",
            "raw": raw_json(t),
        }
    author = as_dict(t.get("author"))
    author_id = ident(t.get("author_id")) or ident(author.get("id"))
    if not author and author_id:
        author = users.get(author_id, {})
    entities = as_dict(t.get("entities"))
    # Media links (photo/video pages of the tweet itself) carry a media_key: not shared URLs.
    urls = [
        u.get("unwound_url") or u.get("expanded_url") or u.get("url")
        for u in as_items(entities.get("urls"))
        if not u.get("media_key")
    ]
    kind, parent = kind_of(t.get("referenced_tweets"))
    created = parse_time(t.get("created_at"))
    out: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": ident(t.get("id")),
        "account_id": author_id,
        "created_at": created,
        "kind": kind,
        "parent_post_id": parent,
        "text": t.get("text") if isinstance(t.get("text"), str) else None,
        "lang": lang(t.get("lang")),
        "urls": [u for u in urls if isinstance(u, str)],
        "hashtags": [
            h["tag"] for h in as_items(entities.get("hashtags")) if isinstance(h.get("tag"), str)
        ],
        "mentions": [
            m["username"]
            for m in as_items(entities.get("mentions"))
            if isinstance(m.get("username"), str)
        ],
        "handle": text(author.get("username")),
    }
    if out["post_id"] is None:
        out["problem"] = "tweet without an id"
    elif created is None and t.get("created_at") not in (None, ""):
        out["problem"] = f"created_at {str(t.get('created_at'))[:40]!r} is not a date/time"
    if "problem" in out:
        out["raw"] = raw_json(t)
    return out


def _error_reason(page: dict[str, Any]) -> str:
    errors = as_items(page.get("errors"))
    first = errors[0] if errors else page
    what = first.get("title") or first.get("message") or "error"
    detail = first.get("detail") or first.get("message") or ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"API error response without data: {what}: {detail}"[:300] + more


def _page(page: dict[str, Any], lineno: int, platform: str, out: Collector) -> None:
    includes = as_dict(page.get("includes"))
    users = {u["id"]: u for u in as_items(includes.get("users")) if isinstance(u.get("id"), str)}
    for uid, user in users.items():
        out.defer_account(uid, user, lambda u: account(u, platform))
    data = page.get("data")
    items = [data] if isinstance(data, dict) else data if isinstance(data, list) else None
    if data is not None and items is None:
        out.bad.append(Bad(lineno, "response 'data' is neither a tweet nor a list", raw_json(page)))
    elif not items and page.get("errors"):
        out.bad.append(Bad(lineno, _error_reason(page), raw_json(page)))
    for item in items or ():
        if isinstance(item, dict) and _is_user(item):  # a users page (followers, lookup)
            out.account(account(item, platform))
        else:
            out.post(post(item, lineno, platform, users))
    for ref in as_items(includes.get("tweets")):
        out.post(post(ref, lineno, platform, users))


def _flat(t: dict[str, Any], lineno: int, platform: str, out: Collector) -> None:
    """One ``twarc2 flatten`` tweet: users and referenced tweets are embedded in it."""
    if _is_user(t):
        out.account(account(t, platform))
        return
    out.post(post(t, lineno, platform, {}))
    for user in (
        as_dict(t.get("author")),
        as_dict(t.get("in_reply_to_user")),
        *as_items(as_dict(t.get("entities")).get("mentions")),
    ):
        out.account(account(user, platform))
    for ref in as_items(t.get("referenced_tweets")):
        # twarc merges the referenced tweet into the reference; some tools nest it as "tweet".
        tweet = ref["tweet"] if isinstance(ref.get("tweet"), dict) else ref
        if "text" in tweet or "author_id" in tweet:
            out.post(post(tweet, lineno, platform, {}))
            out.account(account(as_dict(tweet.get("author")), platform))


def _line(item: tuple[int, Any] | Bad, platform: str, out: Collector) -> None:
    if isinstance(item, Bad):
        out.bad.append(item)
        return
    lineno, value = item
    if not isinstance(value, dict):
        out.bad.append(Bad(lineno, "not a JSON object", raw_json(value)))
    elif any(k in value for k in _PAGE_KEYS) and "id" not in value:
        _page(value, lineno, platform, out)
    elif "id" in value:
        _flat(value, lineno, platform, out)
    else:
        out.bad.append(Bad(lineno, "neither a twarc2 response page nor a tweet", raw_json(value)))


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    if options.encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
        yield from _read_fast(path, options, platform)
        return
    out = Collector(options)
    for item in iter_json_lines(path, options.encoding):
        _line(item, platform, out)
        if out.full():
            yield out.flush()
    yield out.flush()


_BLOCK_BYTES = 24 << 20  # lines parsed at once (~20k tweets)


def _read_fast(path: Path, options: Options, platform: str) -> Iterator[Batch]:
    """Blocks of lines: the common page shape through ``twitter_v2_fast``, the rest line
    by line in Python; one batch per block, so positions stay in order. (The service
    reads in a thread of its own, so parsing overlaps with storing.)"""
    block: list[tuple[int, bytes] | Bad] = []
    size = 0
    profiles = Profiles()  # of this file: each block hands out the changed ones
    for item in iter_lines(path):
        block.append(item)
        size += 0 if isinstance(item, Bad) else len(item[1])
        if size >= _BLOCK_BYTES or len(block) >= options.batch_size:
            yield from _block(block, options, platform, profiles)
            block, size = [], 0
    if block:
        yield from _block(block, options, platform, profiles)


def _block(
    block: list[tuple[int, bytes] | Bad], options: Options, platform: str, profiles: Profiles
) -> Iterator[Batch]:
    lines = [item for item in block if not isinstance(item, Bad)]
    linenos = [lineno for lineno, _ in lines]
    texts = [line for _, line in lines]
    posts, accounts, rejected = (
        parse_pages(linenos, texts, platform, profiles) if texts else (None, None, set())
    )
    fast = set(linenos) - rejected
    out = Collector(options)
    for item in block:
        if isinstance(item, Bad):
            out.bad.append(item)
        elif item[0] not in fast:
            lineno, line = item
            try:
                _line((lineno, parse_json(line, options.encoding)), platform, out)
            except ValueError as e:
                out.bad.append(Bad(lineno, str(e), truncate(line)))
    rest = out.flush()
    # Read here, these accounts come after the block's page profiles: the profile
    # last handed out for them is no longer the one `profiles` holds.
    profiles.forget((a["account_id"] for a in rest.accounts), platform)
    tables = [to_table(posts, RAW_POSTS)] if posts is not None and posts.num_rows else []
    if rest.posts:
        tables.append(to_table(rest.posts, RAW_POSTS))
    yield Batch(
        posts=pa.concat_tables(tables) if tables else [],
        accounts=accounts if accounts is not None and accounts.num_rows else [],
        bad=rest.bad,
    )
    if rest.accounts:  # after the block's page profiles: the later seq wins when they merge
        yield Batch(accounts=rest.accounts)


_DOC = """\
### X/Twitter API v2 via twarc2 (`twitter-v2`)

JSON Lines written by [twarc2](https://twarc-project.readthedocs.io/en/latest/twarc2_en_us/)
from the [X API v2](https://docs.x.com/x-api/fundamentals/data-dictionary): either one
API response page per line (`twarc2 search`, `timeline`, `hydrate`, `stream`:
`{"data": [...], "includes": {...}, "meta": {...}, "__twarc": {...}}`) or one tweet per line
(`twarc2 flatten`: `author` and referenced tweets embedded). Both may be mixed in a file.
**Detected** when a complete line of the first 64 KiB is a page whose `data` holds v2 tweets
(string `id`, `text`, `author_id`, no `id_str`) or users, or is such a tweet, or only empty/error
pages stamped `__twarc`; when the first line is longer than that, when the head starts with
`{` and has `"author_id"`, `"text"`, a v2-only field (`conversation_id`, `edit_history_tweet_ids`,
`public_metrics`, `referenced_tweets`, `__twarc`) and no `"id_str"`.

| canonical | v2 field |
| --- | --- |
| post_id | `id` (platform `x`) |
| account_id | `author_id` |
| handle | `username` of the author in `includes.users` (flattened: `author.username`) |
| created_at | `created_at` (ISO 8601) |
| kind = repost, parent_post_id | `referenced_tweets[]` of type `retweeted`: its `id` |
| kind = quote, parent_post_id | type `quoted` |
| kind = reply, parent_post_id | type `replied_to` |
| text, lang | `text`, `lang` (`und` → detected) |
| urls | `entities.urls[]`: `unwound_url`, else `expanded_url`, else `url` |
| hashtags | `entities.hashtags[].tag` |
| mentions | `entities.mentions[].username` |
| accounts | `includes.users[]`; flattened: `author`, `in_reply_to_user`, mentioned users |
| handle, display_name | `username`, `name` |
| followers, following | `public_metrics.followers_count`, `.following_count` |
| posts_count | `public_metrics.tweet_count` |
| created_at, verified, description, location | same names |

- Kinds are tried in the order of the table: a reply that quotes is a quote.
- A retweet's `text` is the truncated `RT @user: …`; its entities are kept as given (reposts
  derive only their repost action).
- URL entries with a `media_key` (links to the tweet's own photos and videos) are skipped.
- A page whose `data` holds users (`twarc2 users`, `followers`) fills accounts only.

**Referenced tweets** (`includes.tweets`, or the tweets embedded in `referenced_tweets` of
flattened lines) are stored as posts too and **count as rows read**, with the line of the
page as position; the same tweet on several pages is stored once and counted as a duplicate.
**Error pages** (`{"errors": [...]}` with no `data`) are quarantined with the API's title and
detail; errors alongside data (referenced tweets that were deleted) are ignored. Media,
polls, places, `meta` and `__twarc` are not stored.

**Speed.** Response pages of the usual shape are read in blocks of about 24 MB by a
typed decoder (msgspec) that builds objects only for the fields above and skips the rest
of each tweet, then turned into Arrow columns with vectorised checks; any line it might
read differently from the reference Python reader (flattened tweets, error or user pages,
a value of an unexpected type, an id with spaces, a time that does not parse, invalid
UTF-8 or JSON) is handed to the Python reader, so both paths give the same rows. Known
difference on hostile input only: a number that overflows to infinity (such as `1e999`)
in a field CivicSentry does not read is skipped by the fast reader, while the Python
reader rejects the line.
"""

ADAPTER = Adapter(
    name="twitter-v2",
    title="X/Twitter API v2 JSON (twarc2)",
    sniff=sniff,
    read=read,
    doc=_DOC,
    aliases=("twarc2", "twitter2", "x-v2"),
)
