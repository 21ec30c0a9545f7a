"""Reading JSON Lines with the cyclic collector paused while a batch is built: the
batches are the same as before, and the collector is on again whenever the reader
yields, is abandoned, or fails."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from civicsentry.ingest.base import Options, no_collection
from civicsentry.ingest.tabular import read_posts


def _jsonl(path: Path, n: int) -> Path:
    rows = [
        {"post_id": str(i), "account_id": f"a{i % 3}", "created_at": "2024-05-01T10:00:00Z"}
        for i in range(n)
    ]
    rows.insert(2, "not an object")  # quarantined, and counted in its batch
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("n", "sizes"), [(5, [2, 2, 2, 0]), (4, [2, 2, 1]), (1, [2, 0])])
def test_batches_and_the_collector_between_them(tmp_path: Path, n: int, sizes: list[int]) -> None:
    got = []
    for batch in read_posts(_jsonl(tmp_path / "p.jsonl", n), Options(batch_size=2)):
        assert gc.isenabled()  # never off across a yield
        got.append(len(batch.posts) + len(batch.bad))
    assert got == sizes and gc.isenabled()
    ids = [
        p["post_id"]
        for b in read_posts(_jsonl(tmp_path / "q.jsonl", n), Options(batch_size=2))
        for p in b.posts
    ]
    assert ids == [str(i) for i in range(n)]


def test_an_abandoned_reader_leaves_the_collector_on(tmp_path: Path) -> None:
    reader = read_posts(_jsonl(tmp_path / "p.jsonl", 9), Options(batch_size=2))
    next(reader)
    reader.close()
    assert gc.isenabled()


def test_a_failure_inside_leaves_the_collector_on_and_an_outer_pause_alone() -> None:
    with pytest.raises(ValueError), no_collection():
        assert not gc.isenabled()
        raise ValueError("bad record")
    assert gc.isenabled()
    gc.disable()
    try:
        with no_collection():
            pass
        assert not gc.isenabled()  # was off before: stays off
    finally:
        gc.enable()
