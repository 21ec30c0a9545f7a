"""Generic tables: CSV, TSV, Parquet or JSON Lines whose columns carry the canonical
names, or any columns with a mapping (``--map account_id=user_id``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import BadInputFile, MissingColumns
from ..normalise import parse_time
from .base import (
    LIST,
    RAW_ACCOUNTS,
    RAW_POSTS,
    TS,
    Adapter,
    Bad,
    Batch,
    Options,
    Sample,
    no_collection,
    truncate,
)
from .readers import CsvRows, is_parquet, iter_json_lines, read_head

REQUIRED = ("post_id", "account_id", "created_at")
LIST_FIELDS = ("urls", "hashtags", "mentions", "media_hashes")
TEXT_FIELDS = (
    "platform",
    "post_id",
    "account_id",
    "kind",
    "parent_post_id",
    "text",
    "lang",
    "handle",
)
ACCOUNT_PROFILE = ("handle", "display_name", "followers", "following", "description", "verified")


def _sniff_posts(s: Sample) -> bool:
    if s.columns is not None:
        return s.has_columns(*REQUIRED)
    first = s.first_json()
    return isinstance(first, dict) and all(k in first for k in REQUIRED)


def _sniff_accounts(s: Sample) -> bool:
    if s.columns is not None:
        cols = {c.lower() for c in s.columns}
    else:
        first = s.first_json()
        cols = set(first) if isinstance(first, dict) else set()
    return "account_id" in cols and "post_id" not in cols and bool(cols & set(ACCOUNT_PROFILE))


# -- values ----------------------------------------------------------------------------
def as_list(value: Any) -> list[str] | None:
    """A list field given as a list, a JSON array string, or a space-separated string."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and str(v) != ""]
    s = str(value).strip()
    if s.startswith("["):
        try:
            parsed = orjson.loads(s)
            if isinstance(parsed, list):
                return [str(v) for v in parsed if v is not None and str(v) != ""]
        except orjson.JSONDecodeError:
            pass
    return s.split() or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value) if not isinstance(value, str) else value
    return s if s.strip() else None


def row_to_post(row: Mapping[str, Any], position: int, options: Options) -> dict[str, Any]:
    """One record of a canonical table → a raw post dict (see ingest.base)."""
    m = options.mapping

    def get(name: str) -> Any:
        return row.get(m.get(name, name))

    post: dict[str, Any] = {"position": position}
    for name in TEXT_FIELDS:
        post[name] = _text(get(name))
    for name in LIST_FIELDS:
        post[name] = as_list(get(name))
    if options.platform:
        post["platform"] = options.platform
    elif not post["platform"] and post["post_id"] and ":" in post["post_id"]:
        post["platform"] = post["post_id"].split(":", 1)[0]
    if post["kind"]:
        post["kind"] = post["kind"].lower()
    raw_time = get("created_at")
    post["created_at"] = parse_time(raw_time)
    if post["created_at"] is None and raw_time not in (None, ""):
        post["problem"] = f"created_at {str(raw_time)[:40]!r} is not a date/time"
        post["raw"] = truncate(orjson.dumps(dict(row), default=str))
    return post


def row_to_account(row: Mapping[str, Any], options: Options) -> dict[str, Any]:
    m = options.mapping

    def get(name: str) -> Any:
        return row.get(m.get(name, name))

    acc: dict[str, Any] = {}
    for f in RAW_ACCOUNTS:
        v = get(f.name)
        if v in (None, ""):
            acc[f.name] = None
        elif f.name == "created_at":
            acc[f.name] = parse_time(v)
        elif pa.types.is_integer(f.type):
            acc[f.name] = _int(v)
        elif pa.types.is_boolean(f.type):
            acc[f.name] = str(v).strip().lower() in ("1", "true", "t", "yes", "y")
        else:
            acc[f.name] = str(v)
    acc["platform"] = (
        options.platform
        or acc["platform"]
        or (
            acc["account_id"].split(":", 1)[0]
            if acc["account_id"] and ":" in acc["account_id"]
            else None
        )
    )
    return acc


def _int(v: Any) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError, OverflowError):
        return None


# -- reading -----------------------------------------------------------------------------
def _check_columns(
    columns: list[str], options: Options, required: tuple[str, ...], path: Path
) -> None:
    present = set(columns)
    missing = [r for r in required if options.mapping.get(r, r) not in present]
    if missing:
        shown = [
            f"{r} (mapped to {options.mapping[r]!r})" if r in options.mapping else r
            for r in missing
        ]
        raise MissingColumns(
            f"{path}: missing column(s) {', '.join(shown)}; the file has {', '.join(columns[:15])}. "
            "Map them with --map canonical=column."
        )


def _records(
    path: Path, options: Options, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, Any]] | Bad]:
    """Dict records of a CSV/TSV or JSON-Lines file, with the required columns checked."""
    head = read_head(path, 4096).lstrip()
    if head.startswith(b"{"):
        checked = False
        for item in iter_json_lines(path, options.encoding):
            if isinstance(item, Bad):
                yield item
            elif not isinstance(item[1], dict):
                yield Bad(item[0], "not a JSON object", truncate(orjson.dumps(item[1])))
            else:
                if not checked:
                    _check_columns(list(item[1]), options, required, path)
                    checked = True
                yield item
        return
    rows = CsvRows(path, encoding=options.encoding)
    it = iter(rows)
    first = next(it, None)
    _check_columns(rows.header, options, required, path)
    if first is not None:
        yield first
        yield from it


def read_posts(path: Path, options: Options) -> Iterator[Batch]:
    if is_parquet(path):
        yield from _read_parquet_posts(path, options)
        return
    records = _records(path, options, REQUIRED)
    more = True
    while more:
        posts: list[dict[str, Any]] = []
        bad: list[Bad] = []
        more = False
        with no_collection():
            for item in records:
                if isinstance(item, Bad):
                    bad.append(item)
                else:
                    posts.append(row_to_post(item[1], item[0], options))
                if len(posts) + len(bad) >= options.batch_size:
                    more = True
                    break
        yield Batch(posts=posts, bad=bad)


def read_accounts(path: Path, options: Options) -> Iterator[Batch]:
    if is_parquet(path):
        for batch in _parquet_batches(path, options, ("account_id",)):
            yield Batch(accounts=[row_to_account(r, options) for r in batch.to_pylist()])
        return
    accounts: list[dict[str, Any]] = []
    bad: list[Bad] = []
    for item in _records(path, options, ("account_id",)):
        if isinstance(item, Bad):
            bad.append(item)
        else:
            accounts.append(row_to_account(item[1], options))
        if len(accounts) >= options.batch_size:
            yield Batch(accounts=accounts, bad=bad)
            accounts, bad = [], []
    yield Batch(accounts=accounts, bad=bad)


def _parquet_batches(
    path: Path, options: Options, required: tuple[str, ...]
) -> Iterator[pa.RecordBatch]:
    try:
        # Without pre-buffering: pyarrow keeps every pre-buffered range of the file
        # until the reader is closed, so memory would grow with the file (measured:
        # ~400 MB of Arrow buffers after 9M rows of a 10M-row file; 40 MB without).
        pf = pq.ParquetFile(path, pre_buffer=False)
        _check_columns(pf.schema_arrow.names, options, required, path)
        yield from pf.iter_batches(batch_size=options.batch_size)
    except (OSError, pa.ArrowException) as e:
        raise BadInputFile(f"{path}: cannot read Parquet ({e}).") from e


def _read_parquet_posts(path: Path, options: Options) -> Iterator[Batch]:
    """Vectorised: no per-row Python for canonical Parquet files."""
    offset = 0
    for rb in _parquet_batches(path, options, REQUIRED):
        table = arrow_posts(pa.Table.from_batches([rb]), offset, options)
        offset += rb.num_rows
        yield Batch(posts=table)


def arrow_posts(t: pa.Table, offset: int, options: Options) -> pa.Table:
    """A canonical-ish Arrow table → RAW_POSTS, column by column."""
    m = options.mapping
    n = t.num_rows

    def col(name: str) -> pa.ChunkedArray | None:
        src = m.get(name, name)
        return t.column(src) if src in t.column_names else None

    out: dict[str, Any] = {
        "position": pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
    }
    for name in TEXT_FIELDS:
        c = col(name)
        out[name] = c.cast(pa.string()) if c is not None else pa.nulls(n, pa.string())
    if options.platform:
        out["platform"] = pa.repeat(pa.scalar(options.platform, pa.string()), n)
    elif col("platform") is None:
        parts = pc.split_pattern(out["post_id"], ":", max_splits=1)
        has = pc.match_substring(out["post_id"], ":")
        out["platform"] = pc.if_else(has, pc.list_element(parts, 0), pa.scalar(None, pa.string()))
    out["kind"] = pc.utf8_lower(out["kind"])
    for name in LIST_FIELDS:
        c = col(name)
        if c is None:
            out[name] = pa.nulls(n, LIST)
        elif pa.types.is_list(c.type) or pa.types.is_large_list(c.type):
            out[name] = c.cast(LIST)
        else:
            out[name] = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(c.cast(pa.string())))
    out["created_at"], problems = _arrow_times(col("created_at"), n)
    out["problem"] = problems
    if problems.null_count < n:  # show the offending value; formatting every time is costly
        out["raw"] = pc.if_else(
            pc.is_null(problems), pa.scalar(None, pa.string()), col("created_at").cast(pa.string())
        )  # type: ignore[union-attr]
    arrays = [out[f.name] if f.name in out else pa.nulls(n, f.type) for f in RAW_POSTS]
    return pa.Table.from_arrays(
        [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays],
        schema=RAW_POSTS,
    )


def _arrow_times(c: pa.ChunkedArray | None, n: int) -> tuple[pa.Array, pa.Array]:
    """Timestamps from timestamp, epoch-number or ISO-string columns; (values, problems)."""
    if c is None:
        return pa.nulls(n, TS), pa.nulls(n, pa.string())
    c = c.combine_chunks()
    if pa.types.is_timestamp(c.type):
        values = c.cast(TS) if c.type.tz else pc.assume_timezone(c.cast(pa.timestamp("us")), "UTC")
    elif pa.types.is_integer(c.type) or pa.types.is_floating(c.type):
        # Seconds, milliseconds or microseconds since the epoch, by magnitude (see parse_time).
        biggest = pc.max(pc.abs(c)).as_py() or 0
        scale = 1_000_000 if biggest < 1e11 else 1_000 if biggest < 1e14 else 1
        values = pc.multiply(c.cast(pa.float64()), scale).cast(pa.int64(), safe=False).cast(TS)
    else:
        strings = c.cast(pa.string())
        try:
            values = pc.cast(strings, TS)
        except pa.ArrowException:
            uniq = pc.unique(strings)
            parsed = pa.array([parse_time(v) for v in uniq.to_pylist()], TS)
            values = parsed.take(pc.index_in(strings, value_set=uniq))
    problems = pc.if_else(
        pc.and_(pc.is_null(values), pc.is_valid(c)),
        pa.scalar("created_at is not a date/time", pa.string()),
        pa.scalar(None, pa.string()),
    )
    return values, problems


_DOC = """\
### Canonical table (`table`)

CSV, TSV, Parquet or JSON Lines whose columns already carry the canonical names.
**Detected** when the header (or the first JSON object) has `post_id`, `account_id` and
`created_at`. With `--map canonical=column` any table is read this way, without
`--format`.

| canonical | column | notes |
| --- | --- | --- |
| post_id, account_id, parent_post_id | same names | qualified with the platform unless they already start with `platform:` |
| platform | `platform`, else `--platform`, else the prefix of `post_id` (`x:123` → `x`) | a row with none is quarantined |
| created_at | `created_at` | ISO 8601 (naive = UTC), Unix seconds/ms/µs, or a Parquet timestamp |
| kind | `kind` | post (default), repost, reply, quote |
| text, lang, handle | same names | `lang` detected when missing |
| urls, hashtags, mentions, media_hashes | same names | lists, JSON arrays, or space-separated strings |

### Account table (`accounts`)

A table with `account_id` and profile columns (`handle`, `display_name`, `followers`,
`following`, `posts_count`, `verified`, `description`, `location`, `created_at`) and no
`post_id`, e.g. the simulator's `accounts.parquet`. **Detected** by `account_id` plus at
least one of handle/display_name/followers/following/description/verified, without
`post_id`. Rows fill `accounts` and are reported in the `accounts` count; they are not
posts, so they do not appear in rows read/stored (bad rows are still quarantined and
counted).
"""

ADAPTER = Adapter(
    name="table",
    title="Canonical table (CSV/TSV/Parquet/JSON Lines)",
    sniff=_sniff_posts,
    read=read_posts,
    doc=_DOC,
    aliases=("csv", "tsv", "parquet", "jsonl", "canonical"),
)
ACCOUNTS_ADAPTER = Adapter(
    name="accounts",
    title="Account table",
    sniff=_sniff_accounts,
    read=read_accounts,
    doc="",
)
