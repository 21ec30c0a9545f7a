"""Coordination detection on Apache Spark: Parquet in, Parquet out.

``run_on_spark`` is the distributed run itself, independent of any workspace: it reads
canonical actions — or canonical posts, from which it derives the actions with the same
SQL as ingest (``derive.actions_sql``) — from a Parquet path or URI, runs the one
detection definition (``pipeline.detect_coordination``) on a ``SparkEngine``, and writes

    <output>/edges/   the columns of coordination_edges without run_id
    <output>/caps/    the columns of coordination_caps without run_id

``detect_with_spark`` is what the service calls for ``--engine spark``: it exports the
workspace's actions to Parquet when no input is given, runs ``run_on_spark`` and hands
back the outputs as SQL that the workspace's DuckDB reads into its own tables.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from ..derive import actions_sql
from ..errors import InvalidParams, MissingColumns
from .dialect import SPARK
from .params import CoordinationParams
from .pipeline import detect_coordination
from .spark_engine import SparkEngine, delete_path, parse_conf, spark_session
from .sweep import lit

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..store import Workspace

log = logging.getLogger("civicsentry")

Progress = Callable[[str, int, int], None]

ACTION_COLUMNS = ("account_id", "object_type", "object_id", "t", "post_id")
#: The canonical post columns the derivation reads.
POST_COLUMNS = (
    "post_id",
    "account_id",
    "created_at",
    "kind",
    "parent_post_id",
    "text",
    "urls",
    "domains",
    "hashtags",
)


@dataclass
class SparkRun:
    """Where a Spark detection wrote its results, and what it decided."""

    output: str
    edges: str  # <output>/edges
    caps: str  # <output>/caps
    summary: dict[str, Any] = field(default_factory=dict)


def is_local(uri: str) -> bool:
    """A path of this machine's file system (no scheme, or ``file:``)."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and sys.platform == "win32")


def local_path(uri: str) -> Path:
    return Path(urlparse(uri).path if uri.startswith("file:") else uri)


# -- input ---------------------------------------------------------------------------


def read_actions(engine: SparkEngine, uri: str, object_types: tuple[str, ...]) -> str:
    """Register the actions in the Parquet at ``uri`` (actions, or posts to derive them
    from) and return the relation's name. Columns the input lacks are an error."""
    df = engine.spark.read.parquet(uri)
    cols = set(df.columns)
    name = engine.name("actions")
    if set(ACTION_COLUMNS) <= cols:
        df.select(*ACTION_COLUMNS).createOrReplaceTempView(name)
        return name
    if set(POST_COLUMNS) <= cols:
        if "simtext" in object_types:
            raise InvalidParams(
                "simtext objects are computed in a workspace (MinHash on one machine); "
                "derive them there and give Spark actions, or leave simtext out of --types."
            )
        engine.create(name, actions_sql(posts_with_text_keys(engine, df), SPARK))
        return name
    raise MissingColumns(
        f"{uri} holds neither actions ({', '.join(ACTION_COLUMNS)}) nor canonical posts "
        f"(missing: {', '.join(sorted(set(POST_COLUMNS) - cols))})."
    )


def _with_text_keys(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    # Runs in the executors' Python workers: the same key as ingest computes.
    from civicsentry.normalise import text_keys

    for b in batches:
        yield b.append_column("text_key", text_keys(b.column("text")))


def posts_with_text_keys(engine: SparkEngine, posts: DataFrame) -> str:
    """The posts' columns the derivation reads, plus the exact-text key
    (``normalise.text_keys``, run in Python on the executors through Arrow)."""
    from pyspark.sql.types import StringType, StructField, StructType

    df = posts.select(*POST_COLUMNS)
    schema = StructType([*df.schema.fields, StructField("text_key", StringType())])
    name = engine.name("posts")
    df.mapInArrow(_with_text_keys, schema).createOrReplaceTempView(name)
    return name


# -- the run --------------------------------------------------------------------------


def run_on_spark(
    spark: SparkSession,
    input_uri: str,
    output: str,
    params: CoordinationParams,
    *,
    work: str | None = None,
    intermediate: str | None = None,
    progress: Progress | None = None,
) -> SparkRun:
    """Detect coordination on the Parquet at ``input_uri`` and write edges and caps as
    Parquet under ``output``. ``work`` is the scratch directory of Parquet intermediates
    (default: ``<output>/_work``)."""
    resolved = params.resolve()
    scratch = work or output.rstrip("/") + "/_work"
    engine = SparkEngine(spark, scratch, intermediate=intermediate)
    run = SparkRun(output, output.rstrip("/") + "/edges", output.rstrip("/") + "/caps")
    try:
        src = read_actions(engine, input_uri, resolved.object_types)
        result = detect_coordination(engine, src, params, progress=progress)
        try:
            spark.table(result.edges).write.mode("overwrite").parquet(run.edges)
            spark.table(result.caps).write.mode("overwrite").parquet(run.caps)
            run.summary = result.summary()
        finally:
            result.close()
    finally:
        engine.close()
        if work is None and engine.intermediate == "parquet":
            delete_path(spark, scratch)
    run.summary["engine"] = {
        "name": "spark",
        "spark_version": spark.version,
        "master": spark.sparkContext.master,
        "intermediate": engine.intermediate,
        "input": input_uri,
        "output": output,
    }
    return run


# -- from and back to a workspace ------------------------------------------------------


def export_actions(
    ws: Workspace, spark: SparkSession, uri: str, object_types: tuple[str, ...]
) -> None:
    """Write the workspace's actions of ``object_types`` as Parquet at ``uri``: DuckDB
    writes a local path itself; any other URI is written by Spark from Arrow batches."""
    where = f"object_type IN ({', '.join(lit(t) for t in object_types)})"
    query = f"SELECT {', '.join(ACTION_COLUMNS)} FROM actions WHERE {where}"
    if is_local(uri):
        path = local_path(uri)
        path.mkdir(parents=True, exist_ok=True)
        target = str(path / "actions.parquet").replace("'", "''")
        ws.con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)")
        return
    spark.createDataFrame(ws.con.sql(query).to_arrow_table()).write.mode("overwrite").parquet(uri)


@dataclass
class SparkResult:
    """The outputs of a Spark run as the service stores them: ``edges_sql`` and
    ``caps`` are DuckDB SQL over local Parquet files."""

    run: SparkRun
    edges_sql: str
    caps: str
    _cleanup: list[Path] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return self.run.summary

    def close(self) -> None:
        for p in self._cleanup:
            shutil.rmtree(p, ignore_errors=True)


def _read_back(spark: SparkSession, uri: str, local: Path) -> str:
    """A local Parquet glob for DuckDB: the output itself when it is local, else a copy
    fetched through Spark (results are small next to the input)."""
    files = sorted(local_path(uri).glob("*.parquet")) if is_local(uri) else []
    if not files:
        local.mkdir(parents=True, exist_ok=True)
        pq.write_table(spark.read.parquet(uri).toArrow(), local / "part-0.parquet")
        files = [local / "part-0.parquet"]
    listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"SELECT * FROM read_parquet([{listed}])"


def detect_with_spark(
    ws: Workspace,
    params: CoordinationParams,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | list[str] | None = None,
    input_uri: str | None = None,
    spark_dir: str | None = None,
    progress: Progress | None = None,
) -> SparkResult:
    """Run the detection on Spark for a workspace: its actions (or ``input_uri``) in,
    edges and caps back as DuckDB-readable Parquet. ``spark_dir`` is where the input
    export, the intermediates and the results live (a URI every executor can reach on
    a cluster; a temporary directory, removed afterwards, with a local master)."""
    resolved = params.resolve()
    spark = spark_session(master, parse_conf(conf))
    local_master = spark.sparkContext.master.startswith("local")
    cleanup: list[Path] = []
    if spark_dir is None:
        if not local_master:
            raise InvalidParams(
                "--spark-dir is needed with a cluster master: a directory every executor can "
                "reach (hdfs://..., s3a://..., or a shared mount) for inputs and results."
            )
        tmp = Path(tempfile.mkdtemp(prefix="civicsentry-spark-"))
        cleanup.append(tmp)
        spark_dir = str(tmp)
    base = (
        spark_dir.rstrip("/") + f"/detect-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    )
    if input_uri is None:
        if progress:
            progress("exporting actions to Parquet", 0, 1)
        input_uri = base + "/input"
        export_actions(ws, spark, input_uri, resolved.object_types)
    try:
        run = run_on_spark(spark, input_uri, base + "/output", params, progress=progress)
        local = Path(tempfile.mkdtemp(prefix="civicsentry-results-"))
        cleanup.append(local)
        edges = _read_back(spark, run.edges, local / "edges")
        caps = _read_back(spark, run.caps, local / "caps")
    except BaseException:
        for p in cleanup:
            shutil.rmtree(p, ignore_errors=True)
        raise
    finally:
        if input_uri == base + "/input":
            delete_path(spark, input_uri)
    return SparkResult(run, edges, f"({caps})", cleanup)
