"""--engine spark as the user runs it: the command line (in this process, so that the
test session's SparkSession is reused), the service storing Spark's Parquet results in
the workspace, actions derived on Spark from Parquet posts, and the errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.errors import InvalidParams
from civicsentry.service.ingest import ingest_files
from civicsentry.simulate import simulate
from civicsentry.store import Workspace

from .conftest import assert_same_rows, duck


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    from civicsentry.cli import main

    monkeypatch.setattr(sys, "argv", ["civicsentry", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A workspace of 4,000 simulated posts (planted campaigns included) and its posts
    exported as canonical Parquet."""
    root = tmp_path_factory.mktemp("sim")
    sim = simulate(root / "data", posts=4000, seed=3)
    with civicsentry.open(root / "ws.duckdb") as ws:
        ingest_files(ws, [sim.paths["posts"], sim.paths["accounts"]])
        ws.con.execute(f"COPY (SELECT * FROM posts) TO '{root / 'posts.parquet'}' (FORMAT parquet)")
    return root / "ws.duckdb", root / "posts.parquet"


def test_actions_derived_on_spark_equal_ingests(spark: Any, simulated: tuple[Path, Path]) -> None:
    from civicsentry.detect.spark import read_actions
    from civicsentry.detect.spark_engine import SparkEngine

    ws_path, posts = simulated
    engine = SparkEngine(spark)
    try:
        name = read_actions(engine, str(posts), ("repost",))
        derived = engine.fetch(f"SELECT * FROM {name}")
    finally:
        engine.close()
    con = duck()
    con.execute(f"ATTACH '{ws_path}' AS ws (READ_ONLY)")
    stored = con.execute(
        "SELECT account_id, object_type, object_id, t, post_id, count(*) FROM ws.actions "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    con.register("derived", derived)
    ours = con.execute(
        "SELECT account_id, object_type, object_id, t, post_id, count(*) "
        "FROM derived GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    kinds = {r[1] for r in stored}
    assert {"repost", "url", "hashtag", "text", "post"} <= kinds  # a real mix was compared
    assert ours == stored


def test_cli_engine_spark_stores_what_duckdb_stores(
    spark: Any,
    simulated: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Our semantics with clusters: DuckDB on the workspace's actions (run 1), then Spark
    deriving the actions itself from the posts' Parquet (run 2). Same edges, caps and
    clusters, stored side by side. Exact p-values, Benjamini–Hochberg in blocks of 16
    ranks (several per network)."""
    from civicsentry.detect import spark_significance

    monkeypatch.setattr(spark_significance, "BH_BLOCK", 16)
    ws_path, posts = simulated
    w = ["-w", str(ws_path), "--json"]
    code, out, err = cli(monkeypatch, capsys, "detect", *w)
    assert code == 0, err
    first_out = out
    first = json.loads(out)["run_id"]
    code, out, err = cli(
        monkeypatch,
        capsys,
        "detect",
        *w,
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--spark-conf",
        "spark.sql.shuffle.partitions=2",
        "--spark-input",
        str(posts),
    )
    assert code == 0, err
    summary = json.loads(out)
    second = summary["run_id"]
    assert summary["engine"] == "spark"
    assert summary["clusters"]["clusters"] == json.loads(first_out)["clusters"]["clusters"] > 0
    with civicsentry.open(ws_path) as ws:
        edges = {r: rows_of(ws, "coordination_edges", r) for r in (first, second)}
        assert len(edges[first]) > 10  # enough edges for the comparison to mean something
        assert_same_rows(edges[second], edges[first], ("object_type", "account_a", "account_b"))
        caps = {r: rows_of(ws, "coordination_caps", r) for r in (first, second)}
        assert_same_rows(caps[second], caps[first], ("object_type", "object_id"))
        run = json.loads(ws.scalar(f"SELECT summary FROM runs WHERE run_id = {second}"))
        assert run["engine"]["name"] == "spark" and run["engine"]["input"] == str(posts)


def rows_of(ws: Workspace, table: str, run_id: int) -> list[dict[str, Any]]:
    rel = ws.sql(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = ?", params=[run_id])
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def test_spark_options_need_the_spark_engine(
    simulated: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws_path, _ = simulated
    code, _, err = cli(
        monkeypatch, capsys, "detect", "-w", str(ws_path), "--spark-master", "local[2]"
    )
    assert (code, err) == (2, "Error: --spark-master: only with --engine spark.\n")
    code, _, err = cli(monkeypatch, capsys, "detect", "-w", str(ws_path), "--engine", "flink")
    assert (code, err) == (2, "Error: Unknown engine 'flink'; choose duckdb or spark.\n")


def test_api_engine_spark_checks_before_starting(simulated: tuple[Path, Path]) -> None:
    ws_path, _ = simulated
    with civicsentry.open(ws_path) as ws:
        with pytest.raises(InvalidParams, match="takes key=value"):
            ws.detect(engine="spark", spark_conf=["spark.executor.memory"])
        with pytest.raises(InvalidParams, match="--threads sets DuckDB's threads"):
            ws.detect(engine="spark", threads=2)
