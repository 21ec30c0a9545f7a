"""CooRTweet's input: one row per share (object_id, account_id, content_id,
timestamp_share), as CSV, TSV, Parquet or JSON Lines.

A row is a share of ``object_id`` by ``account_id`` in the post ``content_id`` at Unix time
``timestamp_share``: we store it as a post ``content_id`` of kind ``repost`` (or the kind
given by ``--map kind=...``) whose parent is ``object_id``.

Repeated content ids: CooRTweet keeps every row as a share. Where one ``content_id``
appears with several ``object_id`` values (a data artefact, but each is a share the
coordination semantics count), the first keeps ``content_id`` as its post id and each
later one becomes ``content_id@object_id``; a row repeating the same content id *and*
object is a true duplicate and is counted as one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample
from .tabular import _parquet_batches, _records, _text, is_parquet

COLUMNS = ("object_id", "account_id", "content_id", "timestamp_share")
PLATFORM = "coortweet"


def _sniff(s: Sample) -> bool:
    if s.columns is not None:
        return s.has_columns(*COLUMNS)
    first = s.first_json()
    return isinstance(first, dict) and all(k in first for k in COLUMNS)


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    kind = options.mapping.get("kind", "repost")
    first_object: dict[str, str] = {}
    posts: list[dict[str, Any]] = []
    bad: list[Bad] = []

    def convert(position: int, row: dict[str, Any]) -> dict[str, Any]:
        content, obj = _text(row.get("content_id")), _text(row.get("object_id"))
        post_id = content
        if content is not None and obj is not None:
            seen = first_object.setdefault(content, obj)
            if seen != obj:
                post_id = f"{content}@{obj}"
        raw_time = row.get("timestamp_share")
        created = parse_time(raw_time)
        post = {
            "position": position,
            "platform": platform,
            "post_id": post_id,
            "account_id": _text(row.get("account_id")),
            "created_at": created,
            "kind": kind,
            "parent_post_id": obj,
        }
        if obj is None:
            post["problem"] = "missing object_id"
        elif created is None and raw_time not in (None, ""):
            post["problem"] = f"timestamp_share {str(raw_time)[:40]!r} is not a time"
        return post

    if is_parquet(path):
        offset = 0
        for rb in _parquet_batches(path, options, COLUMNS):
            rows = rb.to_pylist()
            yield Batch(posts=[convert(offset + i + 1, r) for i, r in enumerate(rows)])
            offset += len(rows)
        return
    for item in _records(path, Options(mapping={}, encoding=options.encoding), COLUMNS):
        if isinstance(item, Bad):
            bad.append(item)
        else:
            posts.append(convert(*item))
        if len(posts) + len(bad) >= options.batch_size:
            yield Batch(posts=posts, bad=bad)
            posts, bad = [], []
    yield Batch(posts=posts, bad=bad)


ADAPTER = Adapter(
    name="coortweet",
    title="CooRTweet input (object_id, account_id, content_id, timestamp_share)",
    sniff=_sniff,
    read=read,
    aliases=("coortweet-csv",),
    doc="""\
### CooRTweet input (`coortweet`)

The input of the R package CooRTweet (`prep_data()` output): one row per share with
`object_id`, `account_id`, `content_id`, `timestamp_share` (Unix seconds, or a date-time
string), as CSV, TSV, Parquet or JSON Lines. **Detected** by those four columns.

| canonical | from |
| --- | --- |
| post_id | `content_id` (see repeated content ids below) |
| account_id | `account_id` |
| created_at | `timestamp_share` |
| kind | `repost` (change it with `--map kind=post` etc. when the objects are not posts) |
| parent_post_id | `object_id` |
| platform | `coortweet`, or `--platform` (ids become `platform:id`) |

**Repeated content ids.** CooRTweet treats every row as a share. Where a `content_id`
appears with several different `object_id`s, the first row keeps `content_id` as post id
and each later one is stored as `content_id@object_id`, so no share is lost; a row that
repeats both content id and object is a duplicate. On the CooRTweet example
`russian_coord_tweets` (35,125 rows): 39 content ids carry two objects each and one row
is an exact duplicate, so 35,124 posts are stored and 1 is counted as a duplicate.
""",
)
