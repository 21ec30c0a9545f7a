"""The Spark engine gives the DuckDB engine's results, value for value, on the same
input: edges with every attribute, weights, p- and q-values (exact, and Monte-Carlo
with a fixed seed), automatic windows and the caps of a viral object.

The scenario (built below, deterministic):
- a planted cell of four accounts (c0–c3) that repost the same 8 posts and share the
  same 4 URLs within 4 s of each other, hours apart;
- a viral post shared by 400 accounts within one hour (viral from 100 accounts here,
  so it is capped and down-weighted);
- 80 ordinary accounts sharing popular posts, URLs and hashtags at random times.
Expected on both engines: the six c0–c3 pairs in the multi-modal network with weight 12
(one with 8) and a small p-value; the viral post in the caps table as
"capped,downweighted".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civicsentry.detect import CoordinationParams

from .conftest import CAPS_KEY, EDGE_KEY, assert_same_rows, duck, on_duckdb, on_spark

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CELL = [f"c{i}" for i in range(4)]


def scenario() -> pa.Table:
    rng = np.random.default_rng(20240101)
    rows: list[tuple[str, str, str, float]] = []
    for i in range(8):  # the cell's reposts, 2 h apart
        base = 3600.0 + i * 7200
        rows += [(a, "repost", f"x:cell{i}", base + k) for k, a in enumerate(CELL)]
    for i in range(4):
        base = 5400.0 + i * 9000
        rows += [
            (a, "url", f"https://news.example/{i}", base + 1.5 * k) for k, a in enumerate(CELL)
        ]
    for v in range(400):  # the viral post
        rows.append((f"v{v:03d}", "repost", "x:viral", 40_000 + float(rng.uniform(0, 3600))))
    pop = np.arange(1, 51, dtype=float) ** -1.0
    pop /= pop.sum()
    for n in range(80):
        acc = f"n{n:02d}"
        for _ in range(12):
            t = float(rng.uniform(0, 86_400))
            kind = rng.choice(["repost", "url", "hashtag"], p=[0.5, 0.3, 0.2])
            obj = int(rng.choice(50, p=pop))
            oid = {
                "repost": f"x:p{obj}",
                "url": f"https://site{obj % 30}.example/a",
                "hashtag": f"tag{obj % 20}",
            }[kind]
            rows.append((acc, str(kind), oid, t))
    return pa.table(
        {
            "account_id": pa.array([r[0] for r in rows], pa.string()),
            "object_type": pa.array([r[1] for r in rows], pa.string()),
            "object_id": pa.array([r[2] for r in rows], pa.string()),
            "t": pa.array([T0 + timedelta(seconds=r[3]) for r in rows], pa.timestamp("us", "UTC")),
            "post_id": pa.array([f"x:s{i}" for i in range(len(rows))], pa.string()),
        }
    )


@pytest.fixture(scope="module")
def actions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parity") / "actions.parquet"
    pq.write_table(scenario(), path)
    return path


def both(spark: Any, actions: Path, out: Path, params: CoordinationParams) -> tuple[Any, Any]:
    con = duck()
    con.execute(f"CREATE TABLE actions AS SELECT * FROM read_parquet('{actions}')")
    return on_duckdb(con, "actions", params), on_spark(spark, actions, out, params)


CAPS = {"viral_accounts": 100, "viral_partners": 3, "max_partners": 20}


def test_ours_pvalues_with_a_seed_auto_window_and_viral_caps(
    spark: Any, actions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact and Monte-Carlo p-values share every input the engines compute (delays,
    counts, totals); the Monte-Carlo draws (seeded) are the stricter check, so they
    run here: one Spark detection keeps the suite quick. On Spark the arithmetic runs
    on the executors in batches, its draws jump to each batch's keys and
    Benjamini–Hochberg runs in blocks (of 4 ranks here, so that there are several):
    the p- and q-values must still equal DuckDB's bit for bit (the exact test runs in
    test_workspace)."""
    from civicsentry.detect import spark_significance

    monkeypatch.setattr(spark_significance, "BH_BLOCK", 4)
    params = CoordinationParams(
        object_types=["repost", "url"],  # hashtags would add steps, not coverage
        windows="repost=120s,url=auto",
        n_null=199,
        seed=7,
        **CAPS,
    )
    (d_edges, d_caps, d_sum), (s_edges, s_caps, s_sum) = both(spark, actions, tmp_path, params)
    assert_same_rows(s_edges, d_edges, EDGE_KEY)
    assert_same_rows(s_caps, d_caps, CAPS_KEY)
    for k in ("windows", "shares", "networks", "capped_or_viral_objects"):
        assert s_sum[k] == d_sum[k], k
    assert s_sum["windows"]["url"]["source"] == "estimated"
    # Known answers, so that equal-but-empty results cannot pass.
    viral = [c for c in s_caps if c["object_id"] == "x:viral"]
    assert len(viral) == 1 and viral[0]["action"] == "capped,downweighted"
    assert viral[0]["n_accounts"] == 400
    assert viral[0]["pairs_kept"] < viral[0]["pairs_within_window"]
    # The cell: every pair co-acted on all 8 reposts and 4 URLs (c0–c3 on the reposts
    # only: their URL shares are 4.5 s apart, above the estimated 3 s window); the
    # Monte-Carlo p-value is about the smallest 199 draws can give.
    cell = {
        (e["account_a"], e["account_b"]): e
        for e in s_edges
        if e["object_type"] == "multi" and e["account_a"] in CELL and e["account_b"] in CELL
    }
    assert len(cell) == 6
    assert {k: e["weight"] for k, e in cell.items()} == {
        (a, b): 8 if (a, b) == ("c0", "c3") else 12 for a in CELL for b in CELL if a < b
    }
    assert all(e["p_timing"] < 0.01 for e in cell.values())
    assert s_sum["windows"]["url"]["seconds"] == 3.0
    tested = [e for e in s_edges if e["p_timing"] is not None]
    # Monte-Carlo p-values: (1 + exceedances) / (1 + draws where the pair co-acts).
    assert tested and all(1 / 200 <= e["p_timing"] <= 1 for e in tested)
