"""civicsentry detect / network export: run the coordination detector on a workspace's
``actions``, store its edges and caps under a new run id, read and export them.

Every run adds rows; none is overwritten. The parameters (defaults included), the chosen
windows and what was capped go to the ``runs`` row, the edges to ``coordination_edges``
and the capped or viral objects to ``coordination_caps``, all in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from .. import __version__
from ..detect import CoordinationParams, DetectionResult, DuckDBEngine
from ..detect import detect_coordination as _detect
from ..detect.media import store_media_actions
from ..detect.simtext import store_simtext_actions
from ..errors import InvalidParams, WorkspaceError
from ..schema import (
    COORDINATION_CAPS,
    COORDINATION_EDGES,
    EDGE_ACCOUNTS,
    EDGES_CNT,
    EDGES_WIDE,
    Table,
)
from ..store import Workspace

log = logging.getLogger("civicsentry")

RUN_NAME = "coordination"
#: Where detection can run: the embedded DuckDB, or Apache Spark (docs/distributed.md).
ENGINES = ("duckdb", "spark")
EXPORT_FORMATS = ("csv", "parquet")
#: The memory a detection may take before DuckDB spills to disk (peak RSS stays under
#: ~4 GiB on 10M posts with this).
DEFAULT_MEMORY_LIMIT = "3GB"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DetectionSummary:
    """What one detection run did."""

    run_id: int
    semantics: str
    object_types: tuple[str, ...]
    windows: dict[str, dict[str, Any]]  # type -> seconds, source (given/default/estimated), reason
    shares: dict[str, int]  # type -> shares detected on
    networks: dict[str, dict[str, int]]  # network -> edges (, significant, hypotheses)
    caps: int  # objects capped or treated as viral (coordination_caps rows)
    seconds: float
    params: dict[str, Any]
    engine: str = "duckdb"  # where it ran: duckdb, or spark (docs/distributed.md)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_coordination(
    ws: Workspace,
    *,
    semantics: str = "civicsentry",
    windows: str | Sequence[str] | None = None,
    object_types: Sequence[str] | None = None,
    min_participation: int | None = None,
    min_weight: int | None = None,
    alpha: float | None = None,
    max_partners: int | None = None,
    viral_partners: int | None = None,
    viral_accounts: int | None = None,
    jitter: str | float | None = None,
    n_null: int | None = None,
    seed: int | None = None,
    simtext_threshold: float | None = None,
    media_distance: int | None = None,
    threads: int | None = None,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    progress: Progress | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_conf: Mapping[str, str] | Sequence[str] | None = None,
    spark_input: str | None = None,
    spark_dir: str | None = None,
) -> DetectionSummary:
    """Detect coordinated accounts in the workspace's actions and store the result as a
    new run. Parameters left as None take the semantics' defaults
    (``civicsentry.detect.DEFAULTS``); parameters of our semantics given with a peer
    semantics are an error. Raises InvalidParams, or WorkspaceError when there is
    nothing to detect on.

    ``engine="spark"`` runs the same detection on Apache Spark (docs/distributed.md):
    ``spark_master`` (default ``local[*]``), ``spark_conf`` (key=value items or a
    mapping), ``spark_input`` (Parquet actions or posts at a path or URI, instead of the
    workspace's actions) and ``spark_dir`` (where inputs, intermediates and results
    live; needed with a cluster master). The results are stored here as usual."""
    params = CoordinationParams(
        semantics=semantics,
        object_types=object_types,
        windows=windows,
        min_participation=min_participation,
        min_weight=min_weight,
        max_partners=max_partners,
        viral_partners=viral_partners,
        viral_accounts=viral_accounts,
        alpha=alpha,
        jitter=jitter,
        n_null=n_null,
        seed=seed,
        simtext_threshold=simtext_threshold,
        media_distance=media_distance,
    )
    resolved = params.resolve()  # fail on bad parameters before any work
    spark_opts = {
        "spark_master": spark_master,
        "spark_conf": spark_conf,
        "spark_input": spark_input,
        "spark_dir": spark_dir,
    }
    if engine not in ENGINES:
        raise InvalidParams(f"Unknown engine {engine!r}; choose {' or '.join(ENGINES)}.")
    given = [f"--{k.replace('_', '-')}" for k, v in spark_opts.items() if v]
    if engine == "duckdb" and given:
        raise InvalidParams(f"{', '.join(given)}: only with --engine spark.")
    if engine == "spark" and threads:
        raise InvalidParams(
            "--threads sets DuckDB's threads; with --engine spark use "
            "--spark-master local[N] or --spark-conf."
        )
    if spark_input is None and not ws.scalar("SELECT count(*) FROM actions"):
        raise WorkspaceError(
            f"{ws.path} has no actions to detect on: ingest posts first (`civicsentry ingest`)."
        )
    started = time.time()
    duck = DuckDBEngine(ws.con)
    simtext_info: dict[str, Any] = {}
    media_info: dict[str, Any] = {}
    with duck.settings(threads=threads, memory_limit=memory_limit):
        st = resolved.simtext_params
        # near-duplicate text objects first, replacing earlier ones (a Spark input
        # brings its own)
        if st is not None and spark_input is None:
            if progress:
                progress("near-duplicate texts", 0, 1)
            t0 = time.time()
            with ws.transaction() as con:
                n = store_simtext_actions(con, st)
            simtext_info = {"actions": n, "seconds": round(time.time() - t0, 3)}
        mp = resolved.media_params
        if mp is not None and spark_input is None:  # perceptual-hash media objects, likewise
            if progress:
                progress("near-identical media", 0, 1)
            t0 = time.time()
            with ws.transaction() as con:
                n = store_media_actions(con, mp)
            media_info = {"actions": n, "seconds": round(time.time() - t0, 3)}
        if engine == "spark":
            from ..detect.spark import detect_with_spark

            result: Any = detect_with_spark(
                ws,
                params,
                master=spark_master,
                conf=spark_conf,
                input_uri=spark_input,
                spark_dir=spark_dir,
                progress=progress,
            )
        else:
            result = _detect(
                duck, "actions", params, progress=progress, materialize=False, stream=True
            )
        try:
            if progress:
                progress("storing edges", 0, 1)
            with ws.transaction() as con:
                # Edges first: a streamed cnt detection aggregates them only now, and its
                # run row counts them.
                run_id = ws.next_id("runs", "run_id")
                store_results(con, run_id, result)
                summary = (
                    result.summary()
                    | ({"simtext": simtext_info} if simtext_info else {})
                    | ({"media": media_info} if media_info else {})
                )
                seconds = round(time.time() - started, 3)
                con.execute(
                    "INSERT INTO runs VALUES (?, 'detect', ?, ?, ?, to_timestamp(?), now(), ?)",
                    [
                        run_id,
                        RUN_NAME,
                        json.dumps(resolved.as_dict(), sort_keys=True),
                        __version__,
                        started,
                        json.dumps(summary | {"seconds": seconds}, sort_keys=True, default=str),
                    ],
                )
                ws.audit(
                    "detect",
                    {
                        "run_id": run_id,
                        "name": RUN_NAME,
                        "semantics": resolved.semantics,
                        "engine": engine,
                    },
                )
        finally:
            result.close()
    return DetectionSummary(
        run_id=run_id,
        semantics=resolved.semantics,
        object_types=resolved.object_types,
        windows=summary["windows"],
        shares=summary["shares"],
        networks=summary["networks"],
        caps=summary["capped_or_viral_objects"],
        seconds=seconds,
        params=resolved.as_dict(),
        engine=engine,
    )


def store_results(con: duckdb.DuckDBPyConnection, run_id: int, result: Any) -> None:
    """Store a detection's edges and caps (a ``DetectionResult``, or Spark's result)
    under ``run_id``, inside the caller's transaction. The cnt edges of the DuckDB
    pipeline go to ``edges_cnt`` with integer account keys, and their accounts to
    ``edge_accounts``: writing millions of rows with account names and 20 empty columns
    took longer than finding them. Everything else goes to ``edges_wide``. Readers see
    both the same way through ``coordination_edges``."""
    for table in (EDGES_WIDE, EDGES_CNT, EDGE_ACCOUNTS, COORDINATION_EDGES, COORDINATION_CAPS):
        con.execute(table.ddl())  # workspaces made before these tables existed
    if isinstance(result, DetectionResult) and result.cnt_sql:
        _insert(con, EDGES_CNT, run_id, f"({result.cnt_sql})")
        if result.streamed:  # aggregated by the insert above: count what it stored
            stored = dict(
                con.execute(
                    f"SELECT object_type, count(*) FROM {EDGES_CNT.name} WHERE run_id = ? "
                    "GROUP BY object_type",
                    [run_id],
                ).fetchall()
            )
            result.networks = {
                t: {"edges": int(stored.get(t, 0))} for t in result.params.object_types
            }
        # Every account of the run, not only those with an edge: finding those took
        # 0.2 s (0.3-0.5 s CPU) on 8.6M edges, copying all 46k of them 0.01 s.
        _insert(
            con, EDGE_ACCOUNTS, run_id, f"(SELECT aid AS acc, account_id FROM {result.accounts})"
        )
    else:
        _insert(con, EDGES_WIDE, run_id, f"({result.edges_sql})")
    _insert(con, COORDINATION_CAPS, run_id, result.caps)


def _insert(con: duckdb.DuckDBPyConnection, table: Table, run_id: int, src: str) -> None:
    cols = ", ".join(c for c in table.column_names if c != "run_id")
    con.execute(
        f"INSERT INTO {table.name} (run_id, {cols}) SELECT {int(run_id)}, {cols} FROM {src}"
    )


# -- reading results --------------------------------------------------------------------


def latest_run_id(ws: Workspace) -> int | None:
    """The newest coordination run, or None."""
    value = ws.scalar("SELECT max(run_id) FROM runs WHERE step = 'detect' AND name = ?", [RUN_NAME])
    return int(value) if value is not None else None


def _run(ws: Workspace, run_id: int | None) -> tuple[int, str, list[str]]:
    rid = latest_run_id(ws) if run_id is None else run_id
    row = None
    if rid is not None:
        row = ws.con.execute(
            "SELECT params FROM runs WHERE run_id = ? AND step = 'detect' AND name = ?",
            [rid, RUN_NAME],
        ).fetchall()
    if not row:
        raise InvalidParams(
            "No coordination run yet: run `civicsentry detect` first."
            if run_id is None
            else f"Run {run_id} is not a coordination run; `civicsentry runs` lists them."
        )
    params = json.loads(row[0][0])
    return int(rid), params["semantics"], list(params["object_types"])  # type: ignore[arg-type]


def default_network(semantics: str, object_types: Sequence[str]) -> str:
    """``multi`` for our semantics; the only type for a peer run on one type."""
    if semantics == "civicsentry":
        return "multi"
    if len(object_types) == 1:
        return object_types[0]
    raise InvalidParams(
        f"This {semantics} run has one network per type ({', '.join(object_types)}); "
        "choose one with --network."
    )


def edges(
    ws: Workspace,
    *,
    run_id: int | None = None,
    network: str | None = None,
    all_edges: bool = False,
) -> duckdb.DuckDBPyRelation:
    """The edges of a run (default: the latest) in one network (default: ``multi`` for
    civicsentry runs). Without ``all_edges``, a civicsentry run gives its significant
    edges — the default output; peer runs have no significance and give all."""
    rid, semantics, types = _run(ws, run_id)
    net = network or default_network(semantics, types)
    if net != "multi" and net not in types:
        raise InvalidParams(
            f"Run {rid} has no {net!r} network; it has {', '.join([*types, 'multi'] if semantics == 'civicsentry' else types)}."
        )
    keep = "true" if all_edges else "coalesce(significant, true)"
    return ws.sql(
        f"SELECT * FROM coordination_edges WHERE run_id = ? AND object_type = ? AND {keep} "
        "ORDER BY account_a, account_b",
        params=[rid, net],
    )


def top_edges(
    ws: Workspace, *, run_id: int | None = None, network: str | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """The heaviest edges of the default output (significant edges for our semantics)."""
    rid, semantics, types = _run(ws, run_id)
    net = network or default_network(semantics, types)
    rel = ws.sql(
        "SELECT account_a, account_b, weight, pairs, median_delay_s, q_value "
        "FROM coordination_edges WHERE run_id = ? AND object_type = ? "
        "AND coalesce(significant, true) ORDER BY weight DESC, account_a, account_b LIMIT ?",
        params=[rid, net, int(limit)],
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def caps(ws: Workspace, *, run_id: int | None = None) -> duckdb.DuckDBPyRelation:
    rid, _, _ = _run(ws, run_id)
    return ws.sql(
        "SELECT * FROM coordination_caps WHERE run_id = ? ORDER BY n_shares DESC", params=[rid]
    )


@dataclass(frozen=True)
class ExportSummary:
    path: str
    format: str
    run_id: int
    network: str
    edges: int


def _csv_safe(col: str) -> str:
    # Neutralise spreadsheet formulas in text cells (same rule as service.summary.safe_cell).
    return (
        f"CASE WHEN regexp_matches({col}, '^[=+\\-@\\t\\r]') THEN '''' || {col} "
        f"ELSE {col} END AS {col}"
    )


def export_network(
    ws: Workspace,
    path: str | Path,
    *,
    fmt: str = "csv",
    run_id: int | None = None,
    network: str | None = None,
    all_edges: bool = False,
) -> ExportSummary:
    """Write a run's network as CSV or Parquet: account_a, account_b, weight first
    (account_a < account_b), then every other edge column (weight_ab/weight_ba carry the
    toolkit's two directions for cnt runs)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidParams(f"Unknown export format {fmt!r}: use {' or '.join(EXPORT_FORMATS)}.")
    rid, semantics, types = _run(ws, run_id)
    net = network or default_network(semantics, types)
    rel = edges(ws, run_id=rid, network=net, all_edges=all_edges)
    first = ["account_a", "account_b", "weight"]
    rest = [c for c in COORDINATION_EDGES.column_names if c not in first]
    if semantics != "cnt":
        rest = [c for c in rest if c not in ("weight_ab", "weight_ba")]
    text = {"account_a", "account_b", "object_types", "semantics", "object_type"}
    cols = [(_csv_safe(c) if fmt == "csv" and c in text else c) for c in first + rest]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    view = "_cs_export"
    ws.con.register(view, rel.to_arrow_table())
    try:
        target = str(out).replace("'", "''")
        opts = "(FORMAT csv, HEADER true)" if fmt == "csv" else "(FORMAT parquet)"
        ws.con.execute(f"COPY (SELECT {', '.join(cols)} FROM {view}) TO '{target}' {opts}")
        n = int(ws.scalar(f"SELECT count(*) FROM {view}"))
    finally:
        ws.con.unregister(view)
    return ExportSummary(str(out), fmt, rid, net, n)
