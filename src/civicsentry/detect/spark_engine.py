"""The detection ``Engine`` on Apache Spark: the same SQL text the DuckDB engine runs,
executed by Spark SQL (docs/architecture.md, docs/distributed.md).

Every intermediate table is materialised and registered as a temporary view, so each
step starts from stored rows rather than from the lineage of every step before it (the
steps refer to earlier tables several times; unmaterialised, Spark's plans would grow
exponentially). Two ways to store them:

- ``parquet``: files under a scratch directory (a local path or any URI the cluster's
  Hadoop file system reads: ``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``). Survives
  the loss of an executor; the default on a cluster.
- ``memory``: Spark's local checkpoints (executor memory, spilling to local disk).
  Faster, but a lost executor fails the run; the default with a ``local`` master.

Only this module, ``spark.py`` and ``spark_significance.py`` import pyspark, lazily:
without the ``spark`` extra everything else works and asking for Spark raises
``BackendUnavailable``.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

from ..errors import BackendUnavailable, InvalidParams
from .dialect import SPARK

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .params import ResolvedParams

log = logging.getLogger("civicsentry")

_counter = itertools.count(1)

#: Settings every CivicSentry session gets unless the caller sets them: UTC session time
#: (timestamps are instants; the SQL converts them to epoch microseconds), Parquet
#: timestamps that DuckDB reads as TIMESTAMPTZ, and no console progress bars.
SESSION_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.ui.showConsoleProgress": "false",
}

#: Partitions of a dense numbering's range partitioning when the caller gives none.
NUMBERING_PARTITIONS = 64


def require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise BackendUnavailable(
            "The Spark engine needs PySpark and Java 17+: install it with "
            "`pip install 'civicsentry[spark]'`, or use the default engine (duckdb)."
        ) from None


def parse_conf(items: Mapping[str, str] | list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """``["spark.executor.memory=8g", ...]`` (the CLI's repeated ``--spark-conf``) or a
    mapping → {key: value}; a malformed item is an error, not ignored."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise InvalidParams(f"--spark-conf takes key=value, not {item!r}.")
        out[key.strip()] = value.strip()
    return out


def under_spark_submit() -> bool:
    """True when this Python process was started by ``spark-submit`` (or ``pyspark``),
    whose ``--master`` and ``--conf`` must then win over our defaults."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_session(
    master: str | None = None, conf: Mapping[str, str] | None = None, *, app: str = "civicsentry"
) -> SparkSession:
    """A SparkSession with CivicSentry's settings. ``master`` None means ``local[*]``,
    or the master ``spark-submit`` was given; ``conf`` wins over ``SESSION_DEFAULTS``.

    Spark keeps one session per process: if one is already running (a notebook, a test
    session, ``spark-submit``), it is reused, and its settings that can be changed at run
    time are set on it."""
    require_pyspark()
    from pyspark.sql import SparkSession

    settings = SESSION_DEFAULTS | dict(conf or {})
    active = SparkSession.getActiveSession()
    if active is None:
        builder = SparkSession.builder.appName(app)
        if master or not under_spark_submit():
            builder = builder.master(master or "local[*]")
        if (master or "local").startswith("local") and not under_spark_submit():
            # Local Python workers (the text-key step) run this interpreter, which has
            # civicsentry, unless told otherwise (PySpark reads only the environment
            # variable); on a cluster, see docs/distributed.md.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for k, v in settings.items():
            builder = builder.config(k, v)
        try:
            active = builder.getOrCreate()
            active.sparkContext.setLogLevel("ERROR")  # its warnings would drown our output
        except Exception as e:  # no Java, a bad master URL, ...
            raise BackendUnavailable(
                f"Cannot start Spark ({type(e).__name__}: {str(e).splitlines()[0][:300]}). "
                "The Spark engine needs Java 17 or newer on PATH (or JAVA_HOME) and a "
                "reachable --spark-master."
            ) from e
    else:
        if master and master != active.sparkContext.master:
            log.warning(
                "Spark is already running with master %s in this process; %s is not used.",
                active.sparkContext.master,
                master,
            )
        for k, v in settings.items():
            try:
                active.conf.set(k, v)
            except Exception:  # static settings of a running session stay as they are
                log.debug("Spark setting %s cannot be changed on a running session", k)
    return active


#: How intermediate tables are stored (see the module docstring); a session can choose
#: with ``--spark-conf spark.civicsentry.intermediate=parquet``.
INTERMEDIATE = ("parquet", "memory")
INTERMEDIATE_CONF = "spark.civicsentry.intermediate"


class SparkEngine:
    """Runs detection SQL on Spark. ``work`` is the scratch directory (path or URI);
    with ``parquet`` intermediates every table of this engine lives under
    ``work/tmp-<id>/`` until ``close()``."""

    dialect = SPARK

    def __init__(
        self, spark: SparkSession, work: str | None = None, *, intermediate: str | None = None
    ) -> None:
        self.spark = spark
        self.prefix = f"_cs{next(_counter)}_"
        if intermediate is None:
            intermediate = spark.conf.get(INTERMEDIATE_CONF, None) or (
                "memory" if spark.sparkContext.master.startswith("local") else "parquet"
            )
        if intermediate not in INTERMEDIATE:
            raise InvalidParams(
                f"{INTERMEDIATE_CONF} is {' or '.join(INTERMEDIATE)}, not {intermediate!r}."
            )
        if intermediate == "parquet" and not work:
            raise InvalidParams("Parquet intermediates need a scratch directory (--spark-dir).")
        self.intermediate = intermediate
        self.root = (work or "").rstrip("/") + f"/tmp-{uuid.uuid4().hex[:12]}"
        self._paths: dict[str, str] = {}
        self._frames: dict[str, DataFrame] = {}

    # -- the Engine protocol ---------------------------------------------------------
    def name(self, base: str) -> str:
        return self.prefix + base

    def create(self, name: str, sql: str) -> None:
        self._write(name, self.spark.sql(sql))

    def view(self, name: str, sql: str) -> None:
        self.spark.sql(sql).createOrReplaceTempView(name)

    def fetch(self, sql: str) -> pa.Table:
        return self.spark.sql(sql).toArrow()

    def scalar(self, sql: str) -> object:
        rows = self.spark.sql(sql).take(1)
        return rows[0][0] if rows else None

    def put(self, name: str, table: pa.Table) -> None:
        self._write(name, self.spark.createDataFrame(table))

    def drop(self, *names: str) -> None:
        for n in names:
            self.spark.catalog.dropTempView(n)
            path = self._paths.pop(n, None)
            if path:
                self.delete(path)
            frame = self._frames.pop(n, None)
            if frame is not None:
                _free_checkpoint(frame)

    def number(self, name: str, sql: str, order: list[str], column: str) -> None:
        """Materialise the rows of ``sql`` with ``column`` numbering them 1..n in the order
        of ``order`` (the rows must be distinct on it), without sorting on one executor:
        the rows are range-partitioned on the order columns and sorted within each
        partition; each row takes its partition's offset (the rows of every earlier
        partition, a few numbers collected to the driver) plus its place in the
        partition."""
        from pyspark.sql import functions as F

        parts = int(
            self.spark.conf.get("spark.sql.shuffle.partitions", str(NUMBERING_PARTITIONS))
            or NUMBERING_PARTITIONS
        )
        ranged = (
            self.spark.sql(sql)
            .repartitionByRange(parts, *order)
            .sortWithinPartitions(*order)
            .withColumn("_mid", F.monotonically_increasing_id())
        )
        tmp = name + "_ranged"
        self._write(tmp, ranged)
        # monotonically_increasing_id = partition index · 2^33 + position in partition.
        counts = sorted(
            (int(r["part"]), int(r["n"]))
            for r in self.spark.sql(
                f"SELECT shiftright(_mid, 33) AS part, count(*) AS n FROM {tmp} GROUP BY 1"
            ).collect()
        )
        offsets, total = [], 0
        for part, n in counts:
            offsets.append(f"({part}, {total})")
            total += n
        cols = ", ".join(f"r.{c}" for c in self.spark.table(tmp).columns if c != "_mid")
        base = f"(VALUES {', '.join(offsets)}) AS o(part, base)" if offsets else None
        self.create(
            name,
            f"SELECT {cols}, CAST(o.base + (r._mid & {(1 << 33) - 1}) + 1 AS BIGINT) AS {column} "
            f"FROM {tmp} r JOIN {base} ON o.part = shiftright(r._mid, 33)"
            if base
            else f"SELECT {cols}, CAST(NULL AS BIGINT) AS {column} FROM {tmp} r",
        )
        self.drop(tmp)

    def save(self, name: str, df: DataFrame) -> None:
        """Materialise a DataFrame as table ``name`` (as ``create`` does a SELECT)."""
        self._write(name, df)

    def significance(
        self,
        p: ResolvedParams,
        shares: dict[str, str],
        w_us: dict[str, int],
        raw: str,
        out: str,
        temp: list[str],
        hypotheses: dict[str, int],
        compared: dict[str, dict[int, int]],
    ) -> None:
        """The significance step on the executors (``pipeline._significance`` calls it
        instead of running the arithmetic on the driver): see spark_significance.py."""
        from .spark_significance import significance_on_executors

        significance_on_executors(self, p, shares, w_us, raw, out, temp, hypotheses, compared)

    # -- files ----------------------------------------------------------------------
    def path(self, name: str) -> str:
        """Where table ``name`` is (or would be) stored."""
        return f"{self.root}/{name}"

    def _write(self, name: str, df: DataFrame) -> None:
        if self.intermediate == "memory":
            frame = df.localCheckpoint(eager=True)
            frame.createOrReplaceTempView(name)
            self._frames[name] = frame
            return
        path = self.path(name)
        df.write.mode("overwrite").parquet(path)
        self.spark.read.parquet(path).createOrReplaceTempView(name)
        self._paths[name] = path

    def delete(self, path: str) -> None:
        delete_path(self.spark, path)

    def close(self) -> None:
        """Forget every table of this engine and remove its scratch files."""
        self.drop(*list(self._paths), *list(self._frames))
        if self.intermediate == "parquet":
            self.delete(self.root)


def delete_path(spark: SparkSession, path: str) -> None:
    """Remove a file or directory through Hadoop's file system (any URI scheme)."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    p = jvm.org.apache.hadoop.fs.Path(path)
    p.getFileSystem(conf).delete(p, True)


def _free_checkpoint(frame: DataFrame) -> None:
    """Release the executor blocks of a local checkpoint now rather than when the JVM's
    garbage collector notices (the checkpoint is the RDD under the frame's plan)."""
    try:
        frame._jdf.queryExecution().analyzed().rdd().unpersist(False)
    except Exception:  # a plan of another shape: Spark's cleaner frees it later
        log.debug("could not unpersist a local checkpoint", exc_info=True)
