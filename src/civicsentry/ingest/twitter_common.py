"""What the X/Twitter adapters share: ids, languages, sniffing a JSON-Lines head whose
first line may be longer than the head, and a batch collector that merges repeated
account profiles (the same author appears on thousands of tweets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .base import Bad, Batch, Options, Sample, truncate

PLATFORM = "x"
# Twitter's "undetermined" language: left empty so the service detects the language.
_NO_LANG = frozenset({"und", ""})


def ident(value: Any) -> str | None:
    """A Twitter id as a string: ids come as strings (v2, ``id_str``) or 64-bit numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    s = str(value).strip()
    return s or None


def lang(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in _NO_LANG else None


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_items(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (anything else in it is skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def raw_json(value: Any) -> str:
    try:
        return truncate(orjson.dumps(value))
    except TypeError:
        return truncate(repr(value))


def head_objects(sample: Sample, limit: int = 50) -> list[dict[str, Any]]:
    """The JSON objects on the complete lines of the head. A line cut off by the end of
    the head (a twarc2 page is often longer than 64 KiB) does not parse and is skipped."""
    found: list[dict[str, Any]] = []
    for line in sample.head.split(b"\n")[: limit + 1]:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


class Collector:
    """Posts, accounts and bad records of one file, handed out in batches.

    Accounts are merged by id within a batch: later non-null values win, so a mention
    carrying only a handle does not blank the profile read from the same batch."""

    def __init__(self, options: Options) -> None:
        self.size = options.batch_size
        self.posts: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.bad: list[Bad] = []
        # Full profiles repeat on every page an account appears on: keep the latest raw
        # object per id and convert it once, at flush (most of the time otherwise).
        self.deferred: dict[str, tuple[Any, Callable[[Any], dict[str, Any] | None]]] = {}

    def post(self, post: dict[str, Any]) -> None:
        self.posts.append(post)

    def account(self, account: dict[str, Any] | None) -> None:
        if not account or not account.get("account_id"):
            return
        key = account["account_id"]
        old = self.accounts.get(key)
        if old is None:
            self.accounts[key] = account
        else:
            old.update({k: v for k, v in account.items() if v is not None})

    def defer_account(
        self, key: str, raw: Any, convert: Callable[[Any], dict[str, Any] | None]
    ) -> None:
        self.deferred[key] = (raw, convert)

    def full(self) -> bool:
        n_accounts = len(self.accounts) + len(self.deferred)
        return len(self.posts) + len(self.bad) >= self.size or n_accounts >= self.size

    def flush(self) -> Batch:
        for raw, convert in self.deferred.values():
            self.account(convert(raw))
        self.deferred = {}
        batch = Batch(posts=self.posts, accounts=list(self.accounts.values()), bad=self.bad)
        self.posts, self.accounts, self.bad = [], {}, []
        return batch
