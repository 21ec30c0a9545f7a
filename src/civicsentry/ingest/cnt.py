"""coordination-network-toolkit's CSV: message_id, user_id, username, repost_id,
reply_id, message, timestamp, urls — matched by position, as the toolkit does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MissingColumns
from ..normalise import parse_time
from .base import LIST, RAW_POSTS, TS, Adapter, Bad, Batch, Options, Sample
from .readers import CsvRows, csv_arrow_batches

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
    blocks = csv_arrow_batches(path, encoding=options.encoding) if options.vectorised else None
    if blocks is not None:
        for line, table in blocks:
            _check_width(path, table.column_names)
            yield Batch(posts=_posts_table(table, line, platform))
        return
    rows = CsvRows(path, encoding=options.encoding)
    posts: list[dict[str, Any]] = []
    bad: list[Bad] = []
    for item in rows:
        _check_width(path, rows.header)
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


def _check_width(path: Path, header: list[str]) -> None:
    if len(header) != len(COLUMNS):
        raise MissingColumns(
            f"{path}: the toolkit's CSV has {len(COLUMNS)} columns ({', '.join(COLUMNS)}) by "
            f"position; this file has {len(header)}."
        )


def _posts_table(t: pa.Table, first_line: int, platform: str) -> pa.Table:
    """The row path above, column by column, for a clean file (``csv_arrow_batches``)."""
    n = t.num_rows
    message_id, user_id, username, repost_id, reply_id, message, timestamp, urls = (
        t.column(i).combine_chunks() for i in range(len(COLUMNS))
    )
    null = pa.scalar(None, pa.string())

    def value(c: pa.Array) -> pa.Array:
        return pc.if_else(pc.equal(c, ""), null, c)

    has_repost, has_reply = pc.not_equal(repost_id, ""), pc.not_equal(reply_id, "")
    created, problem = _times(timestamp)
    cols = {
        "position": pa.array(np.arange(first_line, first_line + n, dtype=np.int64)),
        "platform": pa.repeat(pa.scalar(platform, pa.string()), n),
        "post_id": value(message_id),
        "account_id": value(user_id),
        "handle": value(username),
        "created_at": created,
        "kind": pc.if_else(has_repost, "repost", pc.if_else(has_reply, "reply", "post")),
        "parent_post_id": pc.if_else(has_repost, repost_id, pc.if_else(has_reply, reply_id, null)),
        "text": value(message),
        "urls": _split_urls(urls),
        "problem": problem,
    }
    return pa.Table.from_arrays(
        [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in RAW_POSTS],
        schema=RAW_POSTS,
    )


_YEAR_1_MICROS = -62_135_596_800e6  # datetime's lower bound, as parse_time has it


def _times(ts: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``parse_time`` of each value: Unix numbers vectorised (same scale rule), anything
    else once per distinct value. Returns (times, problems)."""
    numeric = pc.match_substring_regex(ts, r"^-?\d+(\.\d+)?$")
    x = pc.cast(pc.if_else(numeric, ts, "0"), pa.float64())
    size = pc.abs(x)
    scale = pc.if_else(
        pc.less(size, 1e11),
        1e6,
        pc.if_else(pc.less(size, 1e14), 1e3, pc.if_else(pc.less(size, 1e17), 1.0, None)),
    )
    micros = pc.round(pc.multiply(x, scale))
    in_range = pc.and_(numeric, pc.greater_equal(micros, pa.scalar(_YEAR_1_MICROS, pa.float64())))
    times = pc.cast(pc.cast(pc.if_else(in_range, micros, 0.0), pa.int64()), TS)
    times = pc.if_else(in_range, times, pa.scalar(None, TS))
    other = pc.and_(pc.invert(numeric), pc.not_equal(ts, ""))
    if pc.any(other).as_py():
        distinct = pc.unique(pc.filter(ts, other))
        parsed = pa.array([parse_time(v) for v in distinct.to_pylist()], TS)
        times = pc.if_else(other, parsed.take(pc.index_in(ts, value_set=distinct)), times)
    bad = pc.and_(pc.is_null(times), pc.not_equal(ts, ""))
    problem = pa.nulls(len(ts), pa.string())
    if pc.any(bad).as_py():
        values = pc.unique(pc.filter(ts, bad))
        reasons = pa.array([f"timestamp {v[:40]!r} is not a time" for v in values.to_pylist()])
        problem = reasons.take(pc.index_in(ts, value_set=values))
    return times, problem


def _split_urls(urls: pa.Array) -> pa.Array:
    # `[u for u in urls.split(" ") if u] if urls else None`, vectorised.
    parts = pc.split_pattern(urls, " ")
    values = pc.list_flatten(parts)
    keep = pc.not_equal(values, "").to_numpy(zero_copy_only=False)
    owner = pc.list_parent_indices(parts).to_numpy()
    counts = np.bincount(owner[keep], minlength=len(urls))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(
        pa.array(offsets), values.filter(pa.array(keep)), type=LIST, mask=pc.equal(urls, "")
    )


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
