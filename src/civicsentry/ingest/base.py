"""What an ingest adapter is and what it hands back.

An adapter turns one source file into batches of *raw canonical* records: post dicts
(or Arrow tables) with the canonical field names and native ids, account dicts, and
``Bad`` records for what it could not read. It never writes to the workspace: the
service qualifies ids, normalises URLs and hashtags, validates, deduplicates and stores.

Post fields an adapter may set (missing ones are null):

    position        1-based line / row / element number in the source (required)
    platform        platform code, e.g. "x" (required)
    post_id         native or platform-qualified id (required)
    account_id      native or platform-qualified id of the author (required)
    created_at      datetime (UTC) — use ``normalise.parse_time`` (required)
    kind            post | repost | reply | quote (default post)
    parent_post_id  the reposted / replied-to / quoted post, same platform
    text, lang      as given (lang detected later when missing)
    urls, hashtags, mentions, media_hashes
                    lists of raw strings (normalised by the service)
    handle          author's handle when the post carries it (fills ``accounts``)
    problem, raw    set ``problem`` to a reason to quarantine the record (with ``raw``)

Account fields: platform, account_id, handle, display_name, created_at, followers,
following, posts_count, verified, description, location.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

LIST = pa.list_(pa.string())
TS = pa.timestamp("us", tz="UTC")

RAW_POSTS = pa.schema(
    [
        ("position", pa.int64()),
        ("platform", pa.string()),
        ("post_id", pa.string()),
        ("account_id", pa.string()),
        ("created_at", TS),
        ("kind", pa.string()),
        ("parent_post_id", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("urls", LIST),
        ("hashtags", LIST),
        ("mentions", LIST),
        ("media_hashes", LIST),
        ("handle", pa.string()),
        ("problem", pa.string()),
        ("raw", pa.string()),
    ]
)

RAW_ACCOUNTS = pa.schema(
    [
        ("platform", pa.string()),
        ("account_id", pa.string()),
        ("handle", pa.string()),
        ("display_name", pa.string()),
        ("created_at", TS),
        ("followers", pa.int64()),
        ("following", pa.int64()),
        ("posts_count", pa.int64()),
        ("verified", pa.bool_()),
        ("description", pa.string()),
        ("location", pa.string()),
    ]
)

RAW_MAX = 2000  # characters of a bad record kept in quarantine


@dataclass(frozen=True)
class Bad:
    """A record the adapter could not read: where, why, and what it looked like."""

    position: int
    reason: str
    raw: str = ""


@dataclass
class Batch:
    """Some records of one file. ``posts``/``accounts`` are lists of dicts or Arrow
    tables in (a subset of) RAW_POSTS / RAW_ACCOUNTS."""

    posts: list[dict[str, Any]] | pa.Table = field(default_factory=list)
    accounts: list[dict[str, Any]] | pa.Table = field(default_factory=list)
    bad: list[Bad] = field(default_factory=list)


@dataclass(frozen=True)
class Sample:
    """What format detection looks at: the file name and its first bytes, decompressed."""

    path: Path
    name: str  # file name without a compression suffix, lowercased
    head: bytes
    columns: tuple[str, ...] | None  # header of a CSV/TSV/Parquet file, when it is one

    @property
    def text(self) -> str:
        return self.head.decode("utf-8", errors="replace")

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def first_json(self) -> Any:
        """The first JSON value of a JSON-Lines head (None when there is none)."""
        from .readers import first_json_value

        return first_json_value(self.head)

    def has_columns(self, *names: str) -> bool:
        cols = {c.strip().lower() for c in self.columns or ()}
        return all(n.lower() in cols for n in names)


@dataclass(frozen=True)
class Options:
    """Per-run adapter options from the CLI / API."""

    mapping: Mapping[str, str] = field(default_factory=dict)  # canonical name -> source column
    platform: str | None = None  # override the platform code
    encoding: str = "utf-8"
    batch_size: int = 50_000
    # False after a vectorised reader found the file unclean (``readers.NotClean``): the
    # service reads the file again, record by record.
    vectorised: bool = True


Reader = Callable[[Path, Options], Iterator[Batch]]
Sniffer = Callable[[Sample], bool]


@dataclass(frozen=True)
class Adapter:
    """One source format. ``sniff`` must be cheap and specific: adapters are tried in
    registry order and the first that says yes reads the file."""

    name: str
    title: str
    sniff: Sniffer
    read: Reader
    doc: str  # Markdown for docs/formats.md: the format, detection rule, field mapping
    aliases: tuple[str, ...] = ()


def truncate(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw[: RAW_MAX * 4].decode("utf-8", errors="replace")
    return raw[:RAW_MAX]


@contextmanager
def no_collection() -> Iterator[None]:
    """No cyclic garbage collection while a block of records is parsed: records become
    dicts, lists or structs that hold no cycles, but their allocations trigger
    collections that walk the whole heap (a third of the time of parsing X API v2
    pages, a fifth of reading JSON Lines). Switched back on when the block ends, so
    never across a ``yield``."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
