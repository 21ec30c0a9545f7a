"""civicsentry watch: follow folders and streams, ingest what is new, update the
detections on the recent window, evaluate the rules, notify (``warn.watch`` does the
following and the checkpoints; this module supplies the steps).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import __version__
from ..detect import CoordinationParams, DuckDBEngine
from ..detect import detect_coordination as detect_in
from ..errors import InvalidParams
from ..schema import COORDINATION_CAPS, COORDINATION_EDGES
from ..store import Workspace
from ..warn import load_rules
from ..warn.watch import Watcher, WatchSummary
from . import detect as _detect_service
from .alerts import evaluate
from .clusters import cluster_run
from .ingest import ingest_files


def detect_recent(
    ws: Workspace,
    *,
    since: datetime,
    until: datetime,
    lookback_s: float,
    threads: int | None = None,
    memory_limit: str | None = _detect_service.DEFAULT_MEMORY_LIMIT,
) -> dict[str, Any] | None:
    """Detect coordination (default parameters) on the actions in [since, until] only,
    store it as a coordination run whose params say so (``scope``), and cluster it:
    the cost follows the window, not the workspace. None when the window is empty.

    The storing mirrors ``service.detect.detect_coordination``, which reads the whole
    ``actions`` table; the only difference is the relation detected on."""
    params = CoordinationParams()
    resolved = params.resolve()
    window = (
        f"(SELECT * FROM actions WHERE t >= '{since.isoformat()}'::TIMESTAMPTZ "
        f"AND t <= '{until.isoformat()}'::TIMESTAMPTZ)"
    )
    if not ws.scalar(f"SELECT count(*) FROM {window} w"):
        return None
    started = time.time()
    engine = DuckDBEngine(ws.con)
    with engine.settings(threads=threads, memory_limit=memory_limit):
        result = detect_in(engine, window, params, materialize=False)
    try:
        summary = result.summary()
        scope = {
            "from": since.isoformat(),
            "until": until.isoformat(),
            "lookback_s": lookback_s,
            "trigger": "watch",
        }
        with ws.transaction() as con:
            run_id = ws.next_id("runs", "run_id")
            con.execute(
                "INSERT INTO runs VALUES (?, 'detect', ?, ?, ?, to_timestamp(?), now(), ?)",
                [
                    run_id,
                    _detect_service.RUN_NAME,
                    json.dumps(resolved.as_dict() | {"scope": scope}, sort_keys=True),
                    __version__,
                    started,
                    json.dumps(
                        summary | {"seconds": round(time.time() - started, 3)},
                        sort_keys=True,
                        default=str,
                    ),
                ],
            )
            for table, src in (
                (COORDINATION_EDGES, f"({result.edges_sql})"),
                (COORDINATION_CAPS, result.caps),
            ):
                cols = [c for c in table.column_names if c != "run_id"]
                con.execute(
                    f"INSERT INTO {table.name} (run_id, {', '.join(cols)}) "
                    f"SELECT {run_id}, {', '.join(cols)} FROM {src}"
                )
            ws.audit("detect", {"run_id": run_id, "name": _detect_service.RUN_NAME, "scope": scope})
    finally:
        result.close()
    detect_s = round(time.time() - started, 3)
    clustered = cluster_run(ws, run_id)
    return {
        "run_id": run_id,
        "scope": scope,
        "networks": summary["networks"],
        "clusters": clustered.clusters,
        "detect_seconds": detect_s,
        "seconds": round(time.time() - started, 3),
    }


def _last_watch_detection(ws: Workspace) -> datetime | None:
    value = ws.scalar(
        "SELECT max(CAST(json_extract_string(params, '$.scope.until') AS TIMESTAMPTZ)) "
        "FROM runs WHERE step = 'detect' AND json_extract_string(params, '$.scope.trigger') = 'watch'"
    )
    return value


def watch(
    ws: Workspace,
    *,
    folders: Sequence[str | Path] = (),
    streams: Sequence[str] = (),
    rules: Sequence[str | Path] = (),
    spool: str | Path | None = None,
    once: bool = False,
    ticks: int | None = None,
    interval_s: float = 60.0,
    idle_s: float = 5.0,
    max_frames: int | None = None,
    detect: bool = True,
    lookback_s: float = 86_400.0,
    detect_every_s: float = 0.0,
    notify: bool = True,
    echo: Callable[[str, dict[str, Any]], None] | None = None,
) -> WatchSummary:
    """Follow folders and streams (``warn.watch``): ingest what is new, then, for the new
    ingest batches, detect coordination on the recent window (``lookback_s`` back from
    the newest new post; the whole workspace the first time) at most every
    ``detect_every_s`` of data time, and evaluate the rules. Checkpoints in the
    workspace make a restart go on where the last run stopped."""
    ruleset = load_rules(rules)  # a bad rules file fails before anything is read
    spool_dir = Path(spool) if spool else Path(f"{ws.path}.watch")
    if ws.path == ":memory:" and spool is None:
        raise InvalidParams("An in-memory workspace needs an explicit spool folder.")
    spool_dir = spool_dir.resolve()

    def ingest(path: Path, fmt: str | None) -> Any:
        return ingest_files(ws, [path], format=fmt).files[0]

    def update(batches: list[int]) -> dict[str, Any]:
        marks = ", ".join(str(int(b)) for b in batches)
        lo, hi, stored = ws.con.execute(
            f"SELECT min(created_at), max(created_at), count(*) FROM posts "
            f"WHERE ingest_batch IN ({marks})"
        ).fetchall()[0]
        detection = None
        if detect and stored:
            last = _last_watch_detection(ws)
            if _detect_service.latest_run_id(ws) is None:
                s = _detect_service.detect_coordination(ws)
                c = cluster_run(ws, s.run_id)
                detection = {"run_id": s.run_id, "scope": "all", "clusters": c.clusters}
            elif last is None or (hi - last).total_seconds() >= detect_every_s:
                since = min(lo, hi - timedelta(seconds=lookback_s))
                detection = detect_recent(ws, since=since, until=hi, lookback_s=lookback_s)
        w = evaluate(ws, rules=ruleset, notify=notify)
        return {
            "batches": batches,
            "posts": int(stored),
            "data_until": hi,
            "detection": detection,
            "warn": {
                "run_id": w.run_id,
                "raised": w.raised,
                "alerts": [a for a in w.alerts if a["change"] != "unchanged"],
                "skipped": {r.rule: r.skipped for r in w.rules if r.skipped},
                "errors": {r.rule: r.error for r in w.rules if r.error},
                "notifications": w.notifications,
            },
        }

    watcher = Watcher(
        ws,
        folders=[Path(f) for f in folders],
        streams=list(streams),
        spool=spool_dir,
        ingest=ingest,
        update=update,
        echo=echo,
        once=once,
        interval_s=interval_s,
        idle_s=idle_s,
        max_frames=max_frames,
    )
    return watcher.run(ticks=ticks)
