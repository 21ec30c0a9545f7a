"""The SparkEngine's own parts: dense ordered numbering across partitions, Parquet
intermediates that leave no files behind, configuration parsing, and the message when
PySpark is missing."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from civicsentry.errors import BackendUnavailable, InvalidParams


def test_number_is_dense_and_ordered_across_partitions(spark: Any) -> None:
    from civicsentry.detect.spark_engine import SparkEngine

    # 200 ids in scrambled order; the numbering must follow code-point order of the
    # string ('a10' < 'a2'), as DuckDB's row_number() OVER (ORDER BY ...) does.
    ids = [f"a{(i * 7919) % 200}" for i in range(200)]
    engine = SparkEngine(spark)
    old = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")  # several range partitions
    try:
        engine.put("ids", pa.table({"account_id": ids}))
        engine.number("numbered", "SELECT DISTINCT account_id FROM ids", ["account_id"], "aid")
        got = engine.fetch("SELECT account_id, aid FROM numbered ORDER BY aid").to_pylist()
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", old)
        engine.close()
    assert [r["aid"] for r in got] == list(range(1, 201))
    assert [r["account_id"] for r in got] == sorted(set(ids))


def test_parquet_intermediates_are_removed(spark: Any, tmp_path: Path) -> None:
    from civicsentry.detect.spark_engine import SparkEngine

    engine = SparkEngine(spark, str(tmp_path), intermediate="parquet")
    engine.put("t", pa.table({"x": [1, 2, 3]}))
    engine.create("u", "SELECT sum(x) AS s FROM t")
    assert engine.scalar("SELECT s FROM u") == 6
    assert any(tmp_path.rglob("*.parquet"))
    engine.close()
    assert not any(tmp_path.rglob("*.parquet"))
    with pytest.raises(InvalidParams, match="need a scratch directory"):
        SparkEngine(spark, intermediate="parquet")
    with pytest.raises(InvalidParams, match="parquet or memory"):
        SparkEngine(spark, intermediate="disk")


def test_parse_conf() -> None:
    from civicsentry.detect.spark_engine import parse_conf

    assert parse_conf(["spark.executor.memory=8g", "spark.a = b=c"]) == {
        "spark.executor.memory": "8g",
        "spark.a": "b=c",
    }
    with pytest.raises(InvalidParams, match="key=value"):
        parse_conf(["spark.executor.memory"])


def test_missing_pyspark_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from civicsentry.detect.spark_engine import require_pyspark

    real = builtins.__import__

    def no_pyspark(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(BackendUnavailable, match=r"pip install 'civicsentry\[spark\]'"):
        require_pyspark()
