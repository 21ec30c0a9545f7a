"""X/Twitter API v1.1 tweets, one JSON object per line, as twarc (v1), tweepy's ``_json``
and the v1.1 streaming API write them.

A retweet embeds the original (``retweeted_status``) and a quote the quoted tweet
(``quoted_status``): the embedded tweets are stored as posts too (they are the parents
the repost / quote links to), with their authors as accounts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample
from .readers import iter_json_lines
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

# Streaming API messages that are not tweets (each is a line of the stream).
_NOTICES = (
    "delete",
    "limit",
    "scrub_geo",
    "status_withheld",
    "user_withheld",
    "disconnect",
    "warning",
    "event",
    "friends",
    "direct_message",
)
_MAX_DEPTH = 2  # a retweet of a quote embeds two levels


def _is_tweet(d: dict[str, Any]) -> bool:
    return (
        ("id_str" in d or isinstance(d.get("id"), int))
        and isinstance(d.get("user"), dict)
        and ("full_text" in d or "text" in d)
    )


def sniff(s: Sample) -> bool:
    if s.columns is not None:
        return False
    for obj in head_objects(s):
        if any(k in obj for k in _NOTICES) and "user" not in obj:
            continue  # a stream may open with delete / limit notices
        return _is_tweet(obj)
    head = s.head
    # A first line longer than the head: look for the v1.1 tweet's own keys.
    return (
        head.lstrip().startswith(b"{")
        and b'"id_str"' in head
        and b'"user"' in head
        and b'"screen_name"' in head
        and b'"created_at"' in head
        and (b'"full_text"' in head or b'"text"' in head)
        and b'"author_id"' not in head
    )


def account(user: dict[str, Any], platform: str) -> dict[str, Any] | None:
    uid = ident(user.get("id_str")) or ident(user.get("id"))
    if uid is None:
        return None
    verified = user.get("verified")
    return {
        "platform": platform,
        "account_id": uid,
        "handle": text(user.get("screen_name")),
        "display_name": text(user.get("name")),
        "created_at": parse_time(user.get("created_at")),
        "followers": count(user.get("followers_count")),
        "following": count(user.get("friends_count")),
        "posts_count": count(user.get("statuses_count")),
        "verified": verified if isinstance(verified, bool) else None,
        "description": text(user.get("description")),
        "location": text(user.get("location")),
    }


def _kind(t: dict[str, Any]) -> tuple[str, str | None]:
    retweeted = as_dict(t.get("retweeted_status"))
    if retweeted:
        return "repost", ident(retweeted.get("id_str")) or ident(retweeted.get("id"))
    quoted = ident(t.get("quoted_status_id_str")) or ident(
        as_dict(t.get("quoted_status")).get("id_str")
    )
    if quoted:
        return "quote", quoted
    replied = ident(t.get("in_reply_to_status_id_str")) or ident(t.get("in_reply_to_status_id"))
    if replied:
        return "reply", replied
    return "post", None


def post(t: dict[str, Any], position: int, platform: str) -> dict[str, Any]:
    user = as_dict(t.get("user"))
    # Streaming tweets over 140 characters are truncated; the full text and its entities
    # are in extended_tweet. REST responses in extended mode carry full_text instead.
    extended = as_dict(t.get("extended_tweet"))
    entities = as_dict(extended.get("entities")) or as_dict(t.get("entities"))
    body = t.get("full_text") or extended.get("full_text") or t.get("text")
    urls = [
        as_dict(u.get("unwound")).get("url") or u.get("expanded_url") or u.get("url")
        for u in as_items(entities.get("urls"))
    ]
    kind, parent = _kind(t)
    raw_time = t.get("created_at")
    created = parse_time(raw_time)
    out: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": ident(t.get("id_str")) or ident(t.get("id")),
        "account_id": ident(user.get("id_str")) or ident(user.get("id")),
        "created_at": created,
        "kind": kind,
        "parent_post_id": parent,
        "text": body if isinstance(body, str) else None,
        "lang": lang(t.get("lang")),
        "urls": [u for u in urls if isinstance(u, str)],
        "hashtags": [
            h["text"] for h in as_items(entities.get("hashtags")) if isinstance(h.get("text"), str)
        ],
        "mentions": [
            m["screen_name"]
            for m in as_items(entities.get("user_mentions"))
            if isinstance(m.get("screen_name"), str)
        ],
        "handle": text(user.get("screen_name")),
    }
    if out["post_id"] is None:
        out["problem"] = "tweet without id_str"
    elif created is None and raw_time not in (None, ""):
        out["problem"] = f"created_at {str(raw_time)[:40]!r} is not a date/time"
    if "problem" in out:
        out["raw"] = raw_json(t)
    return out


def _tweet(
    t: dict[str, Any], lineno: int, platform: str, out: Collector, seen: set[str], depth: int = 0
) -> None:
    p = post(t, lineno, platform)
    if p["post_id"] is not None and p["post_id"] in seen:
        return  # a retweet of a quote carries the quoted tweet twice
    seen.add(p["post_id"] or "")
    out.post(p)
    out.account(account(as_dict(t.get("user")), platform))
    if depth < _MAX_DEPTH:
        for key in ("retweeted_status", "quoted_status"):
            embedded = t.get(key)
            if isinstance(embedded, dict) and embedded:
                _tweet(embedded, lineno, platform, out, seen, depth + 1)


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    out = Collector(options)
    for item in iter_json_lines(path, options.encoding):
        if isinstance(item, Bad):
            out.bad.append(item)
        else:
            lineno, value = item
            if not isinstance(value, dict):
                out.bad.append(Bad(lineno, "not a JSON object", raw_json(value)))
            elif "user" not in value and (
                notice := next((k for k in _NOTICES if k in value), None)
            ):
                out.bad.append(
                    Bad(lineno, f"streaming API '{notice}' message, not a tweet", raw_json(value))
                )
            elif "user" not in value and "id_str" not in value:
                out.bad.append(
                    Bad(lineno, "not a v1.1 tweet (no id_str and no user)", raw_json(value))
                )
            else:
                _tweet(value, lineno, platform, out, set())
        if out.full():
            yield out.flush()
    yield out.flush()


_DOC = """\
### X/Twitter API v1.1 JSON (`twitter-v1`)

One [v1.1 tweet object](https://developer.x.com/en/docs/twitter-api/v1/data-dictionary/object-model/tweet)
per line, as written by twarc (v1), tweepy (`status._json`) or the v1.1 streaming API.
**Detected** when the first complete JSON line of the first 64 KiB (stream `delete`/`limit`
notices skipped) has `id_str` (or a numeric `id`), a `user` object and `full_text` or
`text`; when the first line is longer than that, when the head starts with `{` and has
`"id_str"`, `"user"`, `"screen_name"`, `"created_at"` and `"full_text"`/`"text"` but no
`"author_id"` (a v2 field).

| canonical | v1.1 field |
| --- | --- |
| post_id | `id_str`, else `id` (platform `x`) |
| account_id, handle | `user.id_str`, `user.screen_name` |
| created_at | `created_at` (`Wed Oct 10 20:19:24 +0000 2018`) |
| kind = repost, parent_post_id | `retweeted_status.id_str` |
| kind = quote, parent_post_id | `quoted_status_id_str` (else `quoted_status.id_str`) |
| kind = reply, parent_post_id | `in_reply_to_status_id_str` |
| text | `full_text`, else `extended_tweet.full_text`, else `text` |
| lang | `lang` (`und` → detected) |
| urls | `entities.urls[]`: `unwound.url`, else `expanded_url`, else `url` |
| hashtags, mentions | `entities.hashtags[].text`, `entities.user_mentions[].screen_name` |
| accounts | `user`: `screen_name`, `name`, `created_at`, `description`, `location`, `verified` |
| followers, following, posts_count | `user.followers_count`, `.friends_count`, `.statuses_count` |

- Kinds are tried in the order of the table: a retweet of a quote is a repost.
- A truncated streaming tweet takes its text and entities from `extended_tweet`.
- A retweet's text is the truncated `RT @user: …`; its entities are kept as given.
- Media (`entities.media`, `extended_entities`) are not shared URLs and are not stored.

**Embedded tweets**: `retweeted_status` and `quoted_status` (two levels deep) are stored as
posts of their own with their authors' profiles, at the line of the tweet that embeds them,
and count as rows read; one seen again later is a duplicate. **Streaming messages** that
are not tweets (`delete`, `limit`, `status_withheld`, ...) are quarantined with their type,
so every line is accounted for.
"""

ADAPTER = Adapter(
    name="twitter-v1",
    title="X/Twitter API v1.1 JSON",
    sniff=sniff,
    read=read,
    doc=_DOC,
    aliases=("twarc", "twarc1", "twitter1", "x-v1"),
)
