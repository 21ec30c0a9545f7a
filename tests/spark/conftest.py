"""The Spark engine in local mode: one SparkSession for the whole test session (its
JVM start is the expensive part), two cores, two shuffle partitions, no web UI.

Every test here skips with a reason when PySpark or Java is missing. Helpers run a
detection on both engines over the same Parquet input and read both results back as
Python rows, so the tests compare values, not engines' table types.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from civicsentry.detect import CoordinationParams, detect_coordination

#: Settings for a small, quick local session (startup is paid once per test session).
TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    # Small Arrow batches, so that the significance step's edges straddle batches and
    # the regrouping is exercised as on big data.
    "spark.sql.execution.arrow.maxRecordsPerBatch": "50",
}

EDGE_KEY = ("object_type", "account_a", "account_b")
#: Computed by the same numpy functions on both engines (on Spark, on the executors in
#: batches): equal bit for bit, not merely close.
SIGNIFICANCE = (
    "expected_timing",
    "expected_choice",
    "p_timing",
    "p_choice",
    "p_value",
    "q_value",
    "significant",
)
CAPS_KEY = ("object_type", "object_id")


def _java() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and Path(home, "bin", "java").exists()))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="PySpark is not installed (extra `spark`)")
    if not _java():
        pytest.skip("no Java runtime: the Spark engine needs Java 17+")
    from civicsentry.detect.spark_engine import spark_session

    session = spark_session("local[2]", TEST_CONF, app="civicsentry-tests")
    yield session
    session.stop()


def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def on_duckdb(
    con: duckdb.DuckDBPyConnection, actions: str, params: CoordinationParams
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(edges, caps, summary) of the DuckDB engine on table ``actions``."""
    r = detect_coordination(con, actions, params)
    try:
        return (
            rows(con, f"SELECT * FROM {r.edges}"),
            rows(con, f"SELECT * FROM {r.caps}"),
            r.summary(),
        )
    finally:
        r.close()


def on_spark(
    spark: Any, parquet: Path, out: Path, params: CoordinationParams
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(edges, caps, summary) of the Spark engine on the Parquet ``parquet``, read back
    from the Parquet files it writes under ``out``."""
    from civicsentry.detect.spark import run_on_spark

    run = run_on_spark(spark, str(parquet), str(out), params)
    con = duck()
    edges = rows(con, f"SELECT * FROM read_parquet('{run.edges}/*.parquet')")
    caps = rows(con, f"SELECT * FROM read_parquet('{run.caps}/*.parquet')")
    return edges, caps, run.summary


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def assert_same_rows(
    ours: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    key: tuple[str, ...],
    exact: tuple[str, ...] = SIGNIFICANCE,
) -> None:
    """Equal row sets keyed by ``key``, every column equal: the ``exact`` ones bit for
    bit, other floats (sums whose order each engine chooses) to 1e-9."""
    a = {tuple(r[k] for k in key): r for r in ours}
    b = {tuple(r[k] for k in key): r for r in theirs}
    assert len(a) == len(ours) and len(b) == len(theirs), "duplicate keys"
    assert set(a) == set(b), (
        f"{len(set(a) - set(b))} rows only on the left, e.g. {sorted(set(a) - set(b))[:3]}; "
        f"{len(set(b) - set(a))} only on the right, e.g. {sorted(set(b) - set(a))[:3]}"
    )
    cols = set(ours[0]) if ours else set()
    assert not theirs or set(theirs[0]) == cols, set(theirs[0]) ^ cols
    bad = [
        (k, c, a[k][c], b[k][c])
        for k in a
        for c in sorted(cols)
        if not (a[k][c] == b[k][c] if c in exact else _same(a[k][c], b[k][c]))
    ]
    assert not bad, f"{len(bad)} values differ, e.g. {bad[:5]}"
