"""Reddit submissions and comments as Pushshift / Arctic Shift NDJSON (the monthly
``RS_*``/``RC_*`` dumps and the Pushshift API), plus Reddit API ``{"kind": "t3",
"data": {...}}`` things and listings.

Ids are Reddit *fullnames* (``t3_`` submissions, ``t1_`` comments), so a comment's
``parent_id`` and a crosspost's ``crosspost_parent`` link to posts in the same id space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample
from .socialjson import (
    Rows,
    dicts,
    first_record,
    get,
    iter_json_records,
    page,
    raw_json,
    string,
    unique_urls,
)
from .socialtext import dedupe, extract_urls

PLATFORM = "reddit"
DELETED_AUTHORS = frozenset({"[deleted]", "[removed]", ""})
GONE = frozenset({"[deleted]", "[removed]", "[ Removed by Reddit ]", "[removed by reddit]"})
_USER = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})\b")
_REDDIT_HOSTS = ("reddit.com", "redd.it")


def _unwrap(value: Any) -> list[Any] | None:
    # Pushshift API: {"data": [...]}; Reddit API: {"kind": "Listing", "data": {"children": [...]}}
    if isinstance(value, dict) and value.get("kind") == "Listing":
        return page(value.get("data"), "children") or []
    return page(value, "data")


def _thing(rec: Any) -> Any:
    """A Reddit API thing ``{"kind": "t1"|"t3", "data": {...}}`` → its data."""
    if (
        isinstance(rec, dict)
        and rec.get("kind") in ("t1", "t3")
        and isinstance(rec.get("data"), dict)
    ):
        return rec["data"]
    return rec


def _is_item(rec: Any) -> bool:
    rec = _thing(rec)
    return (
        isinstance(rec, dict)
        and "subreddit" in rec
        and "created_utc" in rec
        and "id" in rec
        and ("body" in rec or "title" in rec)
    )


def _sniff(s: Sample) -> bool:
    first = first_record(s, _unwrap)
    if first is not None:
        return _is_item(first)
    text = s.text  # a pretty-printed API response
    return all(re.search(rf'"{k}"\s*:', text) for k in ("subreddit", "created_utc", "author"))


def _unescape(text: str) -> str:
    # Reddit's JSON escapes exactly these three in title, selftext and body.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_urls(text: str | None) -> list[str]:
    # The fancy-pants editor escapes Markdown characters inside URLs (``a\\_b``).
    return [u.replace("\\", "") for u in extract_urls(text)]


def _own_link(url: str, ids: set[str]) -> bool:
    """A link to this submission itself (self post, gallery, redd.it short link) or to its
    crosspost parent: not a URL the author shared."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not any(host == h or host.endswith("." + h) for h in _REDDIT_HOSTS):
        return False
    return any(i in parts.path.split("/") for i in ids)


def _convert(
    rec: dict[str, Any], position: int, platform: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    is_comment = "body" in rec and "title" not in rec
    native = string(rec.get("id"))
    fullname = string(rec.get("name")) or (native and ("t1_" if is_comment else "t3_") + native)
    author = string(rec.get("author")) or ""
    post: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": fullname,
        "account_id": author,
        "handle": author,
        "created_at": parse_time(rec.get("created_utc")),
        "kind": "post",
    }
    if is_comment:
        body = string(rec.get("body"))
        text = _unescape(body) if body and body not in GONE else None
        post["kind"], post["parent_post_id"] = "reply", string(rec.get("parent_id"))
        urls = _text_urls(text)
    else:
        title = _unescape(string(rec.get("title")) or "")
        selftext = string(rec.get("selftext"))
        body = _unescape(selftext) if selftext and selftext not in GONE else ""
        text = f"{title}\n\n{body}".strip() if body else title or None
        crosspost = string(rec.get("crosspost_parent"))
        if crosspost:
            post["kind"], post["parent_post_id"] = "repost", crosspost
        link = string(rec.get("url_overridden_by_dest")) or string(rec.get("url"))
        own = {i for i in (native, crosspost and crosspost.removeprefix("t3_")) if i}
        urls = _text_urls(text)
        if (
            link
            and not rec.get("is_self")
            and link.startswith(("http://", "https://"))
            and not _own_link(link, own)
        ):
            urls.insert(0, _unescape(link))
    post["text"] = text
    post["urls"] = unique_urls(urls)
    post["mentions"] = dedupe(m.group(1) for m in _USER.finditer(text or "")) or None
    problem = None
    if rec.get("author") is None:
        problem = "missing author"
    elif author in DELETED_AUTHORS:
        # Many deleted authors are many people: never one account. Unattributable posts
        # are quarantined with a short raw record (dumps hold millions of them).
        problem = "author deleted ([deleted]): not attributable to an account"
        post["raw"] = orjson.dumps(
            {
                k: rec.get(k)
                for k in ("name", "id", "author", "created_utc", "subreddit", "permalink")
            }
        ).decode()
    elif fullname is None:
        problem = "missing id"
    elif post["created_at"] is None:
        problem = f"created_utc {str(rec.get('created_utc'))[:40]!r} is not a time"
    elif is_comment and post["parent_post_id"] is None:
        problem = "comment without parent_id"
    if problem:
        post["problem"] = problem
        post.setdefault("raw", raw_json(rec))
    account = None
    if problem is None and rec.get("author_created_utc"):
        account = {
            "platform": platform,
            "account_id": author,
            "handle": author,
            "created_at": parse_time(rec.get("author_created_utc")),
        }
    return post, account


def _items(rec: Any) -> Iterator[Any]:
    """The submissions and comments in a record: itself, or for Reddit API data the things
    of a listing and the replies nested in a comment tree."""
    if isinstance(rec, dict) and rec.get("kind") == "Listing":
        for child in dicts(get(rec, "data", "children")):
            yield from _items(child)
        return
    if isinstance(rec, dict) and rec.get("kind") == "more":
        return  # a listing's "load more comments" placeholder: no content
    rec = _thing(rec)
    yield rec
    if isinstance(rec, dict):
        for child in dicts(get(rec, "replies", "data", "children")):
            yield from _items(child)


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    rows = Rows(options.batch_size)
    for entry in iter_json_records(path, options.encoding, _unwrap):
        if isinstance(entry, Bad):
            rows.bad.append(entry)
            continue
        for item in _items(entry[1]):
            if not _is_item(item):
                rows.bad.append(
                    Bad(
                        entry[0],
                        "not a Reddit submission or comment (needs id, "
                        "subreddit, created_utc and title or body)",
                        raw_json(item),
                    )
                )
                continue
            post, account = _convert(item, entry[0], platform)
            rows.posts.append(post)
            if account:
                rows.account(account)
        if rows.full:
            yield rows.take()
    yield rows.take()


_DOC = """\
### Reddit submissions and comments (`reddit`)

Reddit submissions and comments as NDJSON, as in the
[Pushshift](https://github.com/pushshift/api) / [Arctic Shift](https://github.com/ArthurHeitmann/arctic_shift)
monthly dumps (`RS_YYYY-MM` submissions, `RC_YYYY-MM` comments, usually `.zst`) and the
Pushshift API (`{"data": […]}`); Reddit API things (`{"kind": "t3", "data": {…}}`) and
listings (`{"kind": "Listing", "data": {"children": […]}}`, with nested comment `replies`)
are read too.

**Detected** when the first record (or the first thing's `data`) has `id`, `subreddit`,
`created_utc` and `title` or `body`; for a pretty-printed document, when the head has
`subreddit`, `created_utc` and `author` keys.

| canonical | submission | comment |
| --- | --- | --- |
| post_id | `name` (`t3_…`), else `t3_` + `id` | `name` (`t1_…`), else `t1_` + `id` |
| account_id, handle | `author` (the username: permanent, and present in every dump, unlike `author_fullname`) | `author` |
| created_at | `created_utc` (number or string) | `created_utc` |
| kind, parent_post_id | `repost` of `crosspost_parent` for crossposts, else `post` | `reply` to `parent_id` (`t1_` comment or `t3_` submission) |
| text | `title` + blank line + `selftext` | `body` |
| urls | the link of a link post (`url_overridden_by_dest`, else `url`; not for self posts, nor links to the post itself or its crosspost parent), then http(s) links in the text | links in the text |
| mentions | `u/name` in the text | same |
| hashtags, lang | none (Reddit has no hashtags); language detected | same |
| accounts | `author_created_utc` when the dump has it | same |

`&amp;`, `&lt;`, `&gt;` (escaped by Reddit in text fields) are unescaped. A `selftext` or
`body` of `[deleted]`/`[removed]` is no text. `subreddit`, scores and flair are not stored;
nor is a crosspost's embedded `crosspost_parent_list` copy of the original (the dumps hold
the original itself). Listing `more` placeholders are skipped (they hold no content). A
record without `author`, with an unreadable `created_utc`, or a comment without
`parent_id` is quarantined with the reason.

**Deleted authors.** `[deleted]` is what Reddit shows for every account that was deleted
and for deleted posts: it is many people, never one account. Such posts cannot be
attributed, so they are quarantined with the reason
`author deleted ([deleted]): not attributable to an account` and a short raw record (id,
author, time, subreddit, permalink), and they count in rows quarantined. Comments that
reply to them keep their `parent_id`, so threads stay linked.
"""

ADAPTER = Adapter(
    name="reddit",
    title="Reddit submissions and comments (Pushshift / Arctic Shift NDJSON)",
    sniff=_sniff,
    read=read,
    doc=_DOC,
    aliases=("pushshift", "arctic-shift"),
)
