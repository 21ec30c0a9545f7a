"""Thread CPU of reading and preparing a file, per stage, without DuckDB: the part of
`civicsentry ingest` that runs in the reading thread (docs/benchmarks.md,
"Reading and preparing").

    .venv/bin/python bench/bench_prepare.py x-v2 /tmp/ing/twitter-v2-1000000/tweets.jsonl
    .venv/bin/python bench/bench_prepare.py table /tmp/ing/parquet-1000000/posts.parquet

To compare two versions, run it with ``PYTHONPATH=<copy of src>`` for each, interleaved.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

import civicsentry.ingest.prepare as prepare
from civicsentry.ingest import get_adapter
from civicsentry.ingest.base import Options

SPENT: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.thread_time() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", help="an adapter name: x-v2, table, ...")
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    adapter = get_adapter(args.format)
    prepare._map_list = timed("prepare: urls, domains, hashtags, mentions", prepare._map_list)
    prepare._fill_languages = timed("prepare: languages", prepare._fill_languages)
    prepare.text_keys = timed("prepare: text keys", prepare.text_keys)
    if adapter.name == "twitter-v2":
        from civicsentry.ingest import twitter_v2
        from civicsentry.ingest import twitter_v2_fast as fast

        twitter_v2.parse_pages = timed("x-v2: parse_pages", twitter_v2.parse_pages)
        fast._valid_utf8 = timed("x-v2:   utf-8 check", fast._valid_utf8)
        fast._DECODE = timed("x-v2:   msgspec decode", fast._DECODE)
        fast._tables = timed("x-v2:   structs to arrow", fast._tables)
    prepare.text_keys(pa.array(["é"]))  # builds the character class outside the timing
    SPENT.clear()
    start = time.thread_time()
    rows = 0
    batches = adapter.read(args.path, Options())
    while True:
        t = time.thread_time()
        batch = next(batches, None)
        SPENT["read (adapter, incl. parsing)"] += time.thread_time() - t
        if batch is None:
            break
        if len(batch.posts):
            rows += prepare.prepare_posts(batch.posts).num_rows
        if len(batch.accounts):
            prepare.prepare_accounts(batch.accounts)
    print(f"{rows:,} rows, reading thread CPU {time.thread_time() - start:.3f} s")
    for name in sorted(SPENT):
        print(f"  {name:45s} {SPENT[name]:.3f} s")


if __name__ == "__main__":
    main()
