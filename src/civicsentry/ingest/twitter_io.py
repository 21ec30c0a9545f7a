"""The X/Twitter transparency archive of state-linked information operations (the
"elections integrity" / Moderation Research Consortium releases): one CSV of tweets and one
of users per operation, e.g. ``ira_tweets_csv_hashed.csv`` and ``ira_users_csv_hashed.csv``.

Accounts with fewer than 5,000 followers at suspension are anonymised: their ``userid``,
``user_display_name`` and ``user_screen_name`` are the same hash (e.g. a base64 SHA-256),
which we keep as the account id, exactly as a string.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from ..errors import BadInputFile, MissingColumns
from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample
from .readers import CsvRows
from .tabular import _text
from .twitter_common import PLATFORM, Collector, count, lang

TWEET_COLUMNS = ("tweetid", "userid", "tweet_time")
USER_COLUMNS = ("userid",)
_PROFILE = ("user_screen_name", "user_display_name", "follower_count", "account_creation_date")
_TRUE = frozenset({"true", "t", "1", "yes"})
_SPLIT = re.compile(r",\s*")
# Inside an unquoted "[a, b]" list a URL may itself hold ", ": split only before the next URL.
_SPLIT_URLS = re.compile(r",\s*(?=https?://|www\.)", re.IGNORECASE)


def sniff(s: Sample) -> bool:
    if s.columns is None:
        return False
    if s.has_columns(*TWEET_COLUMNS, "is_retweet", "tweet_text"):
        return True
    return s.has_columns("userid", *_PROFILE) and not s.has_columns("tweetid")


def io_list(value: str | None, *, urls: bool = False) -> list[str] | None:
    """The archive's list cells: ``[]``, ``[tag1, tag2]`` (early releases) or Python
    literals ``['tag1', 'tag2']`` (later ones); a bare value is a one-item list."""
    s = (value or "").strip()
    if not s or s == "[]":
        return None
    if s.startswith("[") and s.endswith("]"):
        if "'" in s or '"' in s:
            try:
                parsed = ast.literal_eval(s)
                if isinstance(parsed, list | tuple):
                    return [str(v).strip() for v in parsed if str(v).strip()] or None
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                pass
        s = s[1:-1]
    parts = (_SPLIT_URLS if urls else _SPLIT).split(s)
    return [p.strip().strip("'\"") for p in parts if p.strip().strip("'\"")] or None


def _id(value: str | None) -> str | None:
    """Ids as strings: numeric ids as written (a stray ``.0`` from a spreadsheet removed),
    hashed ids untouched."""
    s = _text(value)
    if s is None:
        return None
    s = s.strip()
    return s[:-2] if s.endswith(".0") and s[:-2].isdigit() else s


def account(row: dict[str, str], platform: str) -> dict[str, Any] | None:
    uid = _id(row.get("userid"))
    if uid is None:
        return None

    def named(column: str) -> str | None:
        v = _text(row.get(column))
        return None if v is None or v.strip() == uid else v  # anonymised: the hash again

    return {
        "platform": platform,
        "account_id": uid,
        "handle": named("user_screen_name"),
        "display_name": named("user_display_name"),
        "created_at": parse_time(row.get("account_creation_date")),
        "followers": count(row.get("follower_count")),
        "following": count(row.get("following_count")),
        "description": _text(row.get("user_profile_description")),
        "location": _text(row.get("user_reported_location")),
    }


def post(row: dict[str, str], position: int, platform: str) -> dict[str, Any]:
    retweet = (row.get("is_retweet") or "").strip().lower() in _TRUE
    parent: str | None = None
    kind = "post"
    for k, column in (
        ("repost", "retweet_tweetid"),
        ("quote", "quoted_tweet_tweetid"),
        ("reply", "in_reply_to_tweetid"),
    ):
        if k == "repost" and not retweet:
            continue
        parent = _id(row.get(column))
        if parent:
            kind = k
            break
    raw_time = row.get("tweet_time")
    created = parse_time(raw_time)
    screen = _text(row.get("user_screen_name"))
    uid = _id(row.get("userid"))
    out: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": _id(row.get("tweetid")),
        "account_id": uid,
        "created_at": created,
        "kind": kind,
        "parent_post_id": parent,
        "text": _text(row.get("tweet_text")),
        "lang": lang(row.get("tweet_language")),
        "urls": io_list(row.get("urls"), urls=True),
        "hashtags": io_list(row.get("hashtags")),
        "mentions": io_list(row.get("user_mentions")),
        "handle": screen if screen and screen.strip() != uid else None,
    }
    if retweet and kind != "repost":
        out["problem"] = "is_retweet is True but retweet_tweetid is empty"
    elif created is None and raw_time:
        out["problem"] = f"tweet_time {raw_time[:40]!r} is not a date/time"
    return out


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    rows = CsvRows(path, encoding=options.encoding)
    items = iter(rows)
    first = next(items, None)
    header = set(rows.header)
    if not header:
        raise BadInputFile(f"{path}: empty file; expected an information-operations CSV.")
    tweets = "tweetid" in header
    required = TWEET_COLUMNS if tweets else USER_COLUMNS
    missing = [c for c in required if c not in header]
    if missing:
        raise MissingColumns(
            f"{path}: missing column(s) {', '.join(missing)} of the X information-operations "
            f"archive; the file has {', '.join(rows.header[:15])}. Use --format table with "
            "--map for other tables."
        )
    out = Collector(options)
    seen: set[str] = set()  # profile columns repeat on every tweet: one account per user
    for item in chain([first], items) if first is not None else ():
        if isinstance(item, Bad):
            out.bad.append(item)
        else:
            lineno, row = item
            if tweets:
                out.post(post(row, lineno, platform))
            uid = _id(row.get("userid"))
            if uid and uid not in seen:
                seen.add(uid)
                out.account(account(row, platform))
            elif not tweets and not uid:
                out.bad.append(Bad(lineno, "user row without userid", ",".join(row.values())))
        if out.full():
            yield out.flush()
    yield out.flush()


_DOC = """\
### X/Twitter information-operations archive (`twitter-io`)

The CSV files X/Twitter published for the state-linked information operations it removed
([Transparency Center](https://transparency.x.com/en/reports/information-operations),
later the Moderation Research Consortium): a **tweets** file and a **users** file per
operation. **Detected** by the header: tweets have `tweetid`, `userid`, `tweet_time`,
`is_retweet` and `tweet_text`; users have `userid`, `user_screen_name`,
`user_display_name`, `follower_count`, `account_creation_date` and no `tweetid`.

| canonical | column |
| --- | --- |
| post_id | `tweetid` (platform `x`) |
| account_id | `userid`: a number, or a hash for anonymised accounts, kept as a string |
| handle | `user_screen_name`, empty when anonymised (it then repeats the hashed userid) |
| created_at | `tweet_time` (`2018-06-01 12:34`, UTC) |
| kind = repost, parent_post_id | `is_retweet` True and `retweet_tweetid` |
| kind = quote, parent_post_id | `quoted_tweet_tweetid` |
| kind = reply, parent_post_id | `in_reply_to_tweetid` |
| text, lang | `tweet_text`, `tweet_language` (`und` → detected) |
| urls, hashtags | `urls`, `hashtags`: lists written `[a, b]` or `['a', 'b']` |
| mentions | `user_mentions`: **user ids**, not handles (the archive has no handles) |
| accounts | the users file, and the first tweet row of each user |
| handle, display_name | `user_screen_name`, `user_display_name` (empty when anonymised) |
| created_at | `account_creation_date` |
| followers, following | `follower_count`, `following_count` |
| description, location | `user_profile_description`, `user_reported_location` |

- Kinds are tried in the order of the table; `is_retweet` True without `retweet_tweetid`
  is quarantined.
- In `tweet_text`, mentions of anonymised accounts are replaced by their hashed ids.

Counts are "at the time of suspension". `latitude`/`longitude` (often `absent`),
engagement counts, `tweet_client_name`, `poll_choices`, `account_language` and
`user_profile_url` are not stored. A users file fills `accounts` only: it reads no post rows
(a users row without `userid` is quarantined).
"""

ADAPTER = Adapter(
    name="twitter-io",
    title="X/Twitter information-operations archive CSV",
    sniff=sniff,
    read=read,
    doc=_DOC,
    aliases=("twitter-ioa", "io-archive", "x-io"),
)
