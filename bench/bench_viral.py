"""The viral-object case of issue #3: 100,000 accounts share one post within an hour,
beside ordinary data, through the whole service (workspace, detection with significance,
storage, clusters). Reports wall time, peak RSS and the cap recorded for the object.

    .venv/bin/python bench/bench_viral.py

Run as its own process so that peak RSS is this case alone.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import civicsentry

N = 100_000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = datetime(2024, 11, 4, 8, tzinfo=UTC)
        posts = [
            (f"v{i}", f"u{i:06d}", t0 + timedelta(seconds=i * 3600 / N), "repost", "x:viral")
            for i in range(N)
        ]
        # ordinary data: two accounts co-reposting 20 objects, and background posts
        posts += [
            (f"a{k}", "alice", t0 + timedelta(minutes=3 * k), "repost", f"x:o{k}")
            for k in range(20)
        ]
        posts += [
            (f"b{k}", "bob", t0 + timedelta(minutes=3 * k, seconds=4), "repost", f"x:o{k}")
            for k in range(20)
        ]
        posts += [
            (f"n{k}", f"n{k % 500}", t0 + timedelta(seconds=7 * k), "post", None)
            for k in range(20_000)
        ]
        table = pa.table(
            {
                "post_id": [f"x:{p[0]}" for p in posts],
                "account_id": [f"x:{p[1]}" for p in posts],
                "created_at": pa.array([p[2] for p in posts], pa.timestamp("us", tz="UTC")),
                "kind": [p[3] for p in posts],
                "parent_post_id": [p[4] for p in posts],
            }
        )
        path = Path(tmp) / "viral.parquet"
        pq.write_table(table, path)
        ws = civicsentry.open(Path(tmp) / "ws.duckdb")
        ws.ingest(path)
        start = time.perf_counter()
        run = ws.detect()
        seconds = time.perf_counter() - start
        cap = ws.sql(
            "SELECT n_shares, pairs_within_window, pairs_kept, action FROM coordination_caps "
            "WHERE run_id = ? AND object_id = 'x:viral'",
            params=[run.run_id],
        ).fetchall()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        pair = ws.scalar(
            "SELECT significant FROM coordination_edges WHERE run_id = ? AND object_type = 'multi' "
            "AND account_a = 'x:alice' AND account_b = 'x:bob'",
            [run.run_id],
        )
        print(
            f"| 100,000 shares of one post in an hour + ordinary data | detect {seconds:.1f} s | "
            f"peak RSS {peak:.2f} GiB (whole process) | cap: {cap} | alice–bob significant: {pair} |"
        )
        ws.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
