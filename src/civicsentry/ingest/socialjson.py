"""Shared reading for the JSON platform exports (Bluesky, Mastodon, Reddit).

These platforms' data comes either as JSON Lines (one record per line, or one API page
per line) or as one JSON document (an array, or an API response with the records under a
key such as ``feed``, ``posts`` or ``data``). ``iter_json_records`` hides the difference:
it yields ``(position, record)`` with position = 1-based line number for JSON Lines and
element index for a document, and ``Bad`` for what cannot be parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ..errors import BadInputFile
from ..normalise import normalise_url
from .base import Bad, Batch, Sample, truncate
from .readers import first_json_value, iter_json_lines, load_json_document, read_head

# A page unwrapper: the list of records inside an API response, or None for a record.
Unwrap = Callable[[Any], list[Any] | None]


HEAD = 1 << 16


def is_document(path: Path) -> bool:
    """A whole-file JSON document rather than JSON Lines: a single-line file, or a
    pretty-printed / very long value whose first two lines are not JSON values on their
    own. A JSON-Lines file (of records or of one-line API pages) whose first record is
    corrupt still reads as JSON Lines, so that record is quarantined instead of failing
    the whole file."""
    head = read_head(path, HEAD)
    whole = len(head) < HEAD
    lines = head.lstrip(b"\xef\xbb\xbf \t\r\n").splitlines(keepends=True)
    lines = [line for line in lines if line.strip()]
    if not lines or lines[0][:1] not in (b"[", b"{"):
        return False
    complete = [line for line in lines[:2] if line.endswith(b"\n") or whole]
    parsed = [first_json_value(line) is not None for line in complete]
    if parsed and parsed[0]:
        return len(lines) == 1 and whole  # one value on one line: element positions
    return not (len(parsed) > 1 and parsed[1])


def iter_json_records(path: Path, encoding: str, unwrap: Unwrap) -> Iterator[tuple[int, Any] | Bad]:
    if is_document(path):
        try:
            doc = load_json_document(path, encoding)
        except BadInputFile as e:
            if "after document" not in str(e):
                raise
            doc = None  # a first line too long to judge, then more lines: JSON Lines
        if doc is not None:
            items = doc if isinstance(doc, list) else unwrap(doc)
            if items is None:
                yield 1, doc
                return
            for i, item in enumerate(items, start=1):
                yield i, item
            return
    for entry in iter_json_lines(path, encoding):
        if isinstance(entry, Bad):
            yield entry
            continue
        line, value = entry
        # One API page per line (e.g. paginated responses appended to a file).
        items = value if isinstance(value, list) else unwrap(value)
        if items is None:
            yield line, value
        else:
            for item in items:
                yield line, item


def first_record(sample: Sample, unwrap: Unwrap) -> Any:
    """The first record of a JSON-Lines head, looking inside a page or an array."""
    value = sample.first_json()
    items = value if isinstance(value, list) else unwrap(value)
    if items is not None:
        return items[0] if items else None
    return value


def page(value: Any, *keys: str) -> list[Any] | None:
    """The list under the first of ``keys`` that holds one, for an API response object."""
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), list):
                return value[key]
    return None


def dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def get(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...`` or None when any step is missing or not an object."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def string(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def unique_urls(urls: Iterable[Any]) -> list[str] | None:
    """Raw URL strings, each once by its normalised form (a link and its preview card
    often differ only in tracking parameters); the service normalises them later."""
    seen: set[str] = set()
    out: list[str] = []
    for url in urls:
        if isinstance(url, str) and url.strip():
            key = normalise_url(url) or url
            if key not in seen:
                seen.add(key)
                out.append(url)
    return out or None


def raw_json(value: Any) -> str:
    return truncate(orjson.dumps(value, default=str))


class Rows:
    """Posts, accounts and bad records of one batch; accounts merged by id so a busy
    author is sent once per batch (later non-null values win)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.posts: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.bad: list[Bad] = []

    def account(self, acc: dict[str, Any]) -> None:
        key = acc.get("account_id")
        if not key:
            return
        old = self.accounts.get(key)
        if old is None:
            self.accounts[key] = acc
        else:
            old.update({k: v for k, v in acc.items() if v is not None})

    @property
    def full(self) -> bool:
        return len(self.posts) + len(self.bad) >= self.size

    def take(self) -> Batch:
        batch = Batch(posts=self.posts, accounts=list(self.accounts.values()), bad=self.bad)
        self.posts, self.accounts, self.bad = [], {}, []
        return batch
