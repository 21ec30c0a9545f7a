"""coordination-network-toolkit's CSV: message_id, user_id, username, repost_id,
reply_id, message, timestamp, urls — matched by position, as the toolkit does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MissingColumns
from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample
from .readers import CsvRows

COLUMNS = (
    "message_id",
    "user_id",
    "username",
    "repost_id",
    "reply_id",
    "message",
    "timestamp",
    "urls",
)
PLATFORM = "cnt"


def _sniff(s: Sample) -> bool:
    cols = tuple(c.strip().lower() for c in s.columns or ())
    return cols[:3] == COLUMNS[:3] and len(cols) == len(COLUMNS)


def _value(v: str) -> str | None:
    return v if v != "" else None


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    rows = CsvRows(path, encoding=options.encoding)
    posts: list[dict[str, Any]] = []
    bad: list[Bad] = []
    for item in rows:
        if len(rows.header) != len(COLUMNS):
            raise MissingColumns(
                f"{path}: the toolkit's CSV has {len(COLUMNS)} columns ({', '.join(COLUMNS)}) by "
                f"position; this file has {len(rows.header)}."
            )
        if isinstance(item, Bad):
            bad.append(item)
            continue
        position, row = item
        message_id, user_id, username, repost_id, reply_id, message, timestamp, urls = (
            row[h] for h in rows.header
        )
        created = parse_time(timestamp)
        kind, parent = (
            ("repost", repost_id)
            if repost_id
            else ("reply", reply_id)
            if reply_id
            else ("post", None)
        )
        post: dict[str, Any] = {
            "position": position,
            "platform": platform,
            "post_id": _value(message_id),
            "account_id": _value(user_id),
            "handle": _value(username),
            "created_at": created,
            "kind": kind,
            "parent_post_id": parent,
            "text": _value(message),
            "urls": [u for u in urls.split(" ") if u] if urls else None,
        }
        if created is None and timestamp:
            post["problem"] = f"timestamp {timestamp[:40]!r} is not a time"
        posts.append(post)
        if len(posts) + len(bad) >= options.batch_size:
            yield Batch(posts=posts, bad=bad)
            posts, bad = [], []
    yield Batch(posts=posts, bad=bad)


ADAPTER = Adapter(
    name="cnt",
    title="coordination-network-toolkit CSV",
    sniff=_sniff,
    read=read,
    aliases=("coordination-network-toolkit",),
    doc="""\
### coordination-network-toolkit CSV (`cnt`)

The toolkit's `preprocess --format csv` input: eight columns **by position**,
`message_id, user_id, username, repost_id, reply_id, message, timestamp, urls` (the header
row is skipped). **Detected** when the header starts with `message_id, user_id, username`
and has eight columns.

| canonical | from |
| --- | --- |
| post_id | `message_id` |
| account_id / handle | `user_id` / `username` |
| kind, parent_post_id | `repost` + `repost_id` if set, else `reply` + `reply_id` if set, else `post` |
| text | `message` |
| created_at | `timestamp` (Unix seconds, may be fractional) |
| urls | `urls`, split on spaces |
| platform | `cnt`, or `--platform` |

Differences from the toolkit: it keeps the first row of a repeated `message_id`
(`insert or ignore`); we do the same (later rows are duplicates). It records the URL
`""` for a non-repost with an empty `urls` field; we record no URL (see
docs/coordination.md for how `semantics="cnt"` reproduces its co-link network anyway).
""",
)
