"""Reading a large Parquet file holds a bounded amount of it, whatever its size."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from civicsentry.ingest.base import Options
from civicsentry.ingest.tabular import _parquet_batches
from civicsentry.normalise import normalise_url


def test_parquet_reader_does_not_accumulate_the_file(tmp_path: Path) -> None:
    # 30 row groups of ~1.6 MB of text each. pyarrow's pre-buffering kept every row
    # group read so far alive until the reader closed: Arrow memory then grew with the
    # file (to ~the whole file by the end) instead of staying at a few batches.
    path = tmp_path / "big.parquet"
    group = pa.table(
        {
            "post_id": [f"x:{i}" for i in range(20_000)],
            "account_id": ["x:a"] * 20_000,
            "created_at": pa.array([0] * 20_000, pa.timestamp("us", "UTC")),
            "text": [f"text number {i} " * 5 for i in range(20_000)],
        }
    )
    with pq.ParquetWriter(path, group.schema) as writer:
        for _ in range(30):
            writer.write_table(group)
    group_bytes = group.nbytes
    base = pa.total_allocated_bytes()
    peak = 0
    rows = 0
    for batch in _parquet_batches(path, Options(batch_size=5_000), ("post_id",)):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == 600_000
    assert peak < 5 * group_bytes, (peak, group_bytes)


def test_url_cache_is_bounded() -> None:
    assert normalise_url.cache_info().maxsize is not None
    assert normalise_url.cache_info().maxsize <= 200_000
