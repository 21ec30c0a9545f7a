"""civicsentry watch: follow folders and streams, ingest what is new, update the
detections on the recent window, evaluate the rules, notify (``warn.watch`` does the
following and the checkpoints; this module supplies the steps).

Two windows shape watch's detections (docs/alerts.md, "Detection windows"):

- the **recent** window (``lookback_s``, 24 h): detected on at every pass, so a dense
  campaign is found within hours of starting.
- the **evidence** window (``evidence_s``, 72 h): detected on at most every
  ``evidence_every_s`` of data time (6 h). A small cell co-acts on a few objects a day;
  a day of them is often too little to be told from chance, three days are not. Its
  clusters count for ``cluster-new`` only when they co-acted within the recent window,
  so older evidence strengthens a new signal but never raises an alert about activity
  that has ended. It runs before the pass's recent-window detection, so the rules that
  read "the latest clustered run" keep reading the recent window.

Both cost what their window holds, not the workspace.

Near-duplicate texts (``simtext``) are among the types detected on: copy-paste
operations post edited copies with varying links, which only they reveal. Their
objects are computed for the posts new since the last detection (with an hour of
context before them, so copies posted across two passes still meet) and stored in
``actions``, replacing the ``simtext`` rows of that time range; older rows stay.
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
from ..detect.simtext import OBJECT_TYPE as SIMTEXT
from ..detect.simtext import SimtextParams, simtext_actions
from ..errors import InvalidParams
from ..store import Workspace
from ..warn import load_rules
from ..warn.watch import Watcher, WatchSummary
from . import detect as _detect_service
from .alerts import evaluate
from .clusters import cluster_run
from .ingest import ingest_files

#: What watch detects on: the default types plus near-duplicate texts.
WATCH_TYPES = ("repost", "url", "hashtag", SIMTEXT)
RECENT_S = 86_400.0  # a cluster is alerted when it co-acted within this (lookback_s)
EVIDENCE_S = 3 * 86_400.0  # the longer window detected on (evidence_s)
EVIDENCE_EVERY_S = 6 * 3_600.0  # data time between two detections on it
#: Posts before the new ones whose near-duplicate texts are computed again with them.
SIMTEXT_CONTEXT_S = 3_600.0


def _ts(value: datetime) -> str:
    return f"'{value.isoformat()}'::TIMESTAMPTZ"


def refresh_simtext(ws: Workspace, *, since: datetime, until: datetime) -> dict[str, Any]:
    """Near-duplicate text objects of the posts created in [since, until], stored in
    ``actions`` in place of the ``simtext`` rows of that range (so a pass repeated after
    a crash stores nothing twice). Costs what the range's texts cost."""
    started = time.time()
    posts = f"(SELECT * FROM posts WHERE created_at >= {_ts(since)} AND created_at <= {_ts(until)})"
    rows = simtext_actions(ws.con, posts, SimtextParams())
    with ws.transaction() as con:
        con.execute(
            f"DELETE FROM actions WHERE object_type = '{SIMTEXT}' "
            f"AND t >= {_ts(since)} AND t <= {_ts(until)}"
        )
        con.from_arrow(rows).insert_into("actions")
    return {
        "from": since.isoformat(),
        "until": until.isoformat(),
        "actions": rows.num_rows,
        "seconds": round(time.time() - started, 3),
    }


def detect_recent(
    ws: Workspace,
    *,
    since: datetime,
    until: datetime,
    lookback_s: float,
    recent_s: float | None = None,
    object_types: Sequence[str] = WATCH_TYPES,
    simtext_since: datetime | None = None,
    refresh: bool = True,
    threads: int | None = None,
    memory_limit: str | None = _detect_service.DEFAULT_MEMORY_LIMIT,
) -> dict[str, Any] | None:
    """Detect coordination (default parameters, ``object_types``) on the actions in
    [since, until] only, store it as a coordination run whose params say so
    (``scope``), and cluster it: the cost follows the window, not the workspace. None
    when the window is empty.

    With ``simtext`` among the types and ``refresh``, the near-duplicate texts of the
    posts from ``simtext_since`` (default: ``since``) to ``until`` are computed first
    (``refresh_simtext``). ``recent_s`` goes to the scope: ``cluster-new`` alerts only
    on clusters that co-acted within it before ``until``.

    The storing mirrors ``service.detect.detect_coordination``, which reads the whole
    ``actions`` table; the only difference is the relation detected on."""
    params = CoordinationParams(object_types=tuple(object_types))
    resolved = params.resolve()
    window = f"(SELECT * FROM actions WHERE t >= {_ts(since)} AND t <= {_ts(until)})"
    if not ws.scalar(f"SELECT count(*) FROM {window} w"):
        return None
    started = time.time()
    simtext = None
    if refresh and SIMTEXT in resolved.object_types:
        simtext = refresh_simtext(ws, since=simtext_since or since, until=until)
    engine = DuckDBEngine(ws.con)
    with engine.settings(threads=threads, memory_limit=memory_limit):
        result = detect_in(engine, window, params, materialize=False)
    try:
        summary = result.summary() | ({"simtext": simtext} if simtext else {})
        scope = {
            "from": since.isoformat(),
            "until": until.isoformat(),
            "lookback_s": lookback_s,
            "trigger": "watch",
        } | ({"recent_s": recent_s} if recent_s else {})
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
            _detect_service.store_results(con, run_id, result)
            ws.audit("detect", {"run_id": run_id, "name": _detect_service.RUN_NAME, "scope": scope})
    finally:
        result.close()
    detect_s = round(time.time() - started, 3)
    clustered = cluster_run(ws, run_id)
    return {
        "run_id": run_id,
        "scope": scope,
        "networks": summary["networks"],
        "simtext": simtext,
        "clusters": clustered.clusters,
        "detect_seconds": detect_s,
        "seconds": round(time.time() - started, 3),
    }


def _last_watch_detection(ws: Workspace, lookback_s: float) -> datetime | None:
    """The data time the latest watch detection over a ``lookback_s`` window ran up to."""
    value = ws.scalar(
        "SELECT max(CAST(json_extract_string(params, '$.scope.until') AS TIMESTAMPTZ)) "
        "FROM runs WHERE step = 'detect' AND json_extract_string(params, '$.scope.trigger') = 'watch' "
        "AND CAST(json_extract(params, '$.scope.lookback_s') AS DOUBLE) = ?",
        [float(lookback_s)],
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
    lookback_s: float = RECENT_S,
    evidence_s: float = EVIDENCE_S,
    evidence_every_s: float = EVIDENCE_EVERY_S,
    detect_every_s: float = 0.0,
    notify: bool = True,
    echo: Callable[[str, dict[str, Any]], None] | None = None,
) -> WatchSummary:
    """Follow folders and streams (``warn.watch``): ingest what is new, then, for the new
    ingest batches, detect coordination on the recent window (``lookback_s`` back from
    the newest new post; the whole workspace the first time) at most every
    ``detect_every_s`` of data time, and on the longer evidence window (``evidence_s``;
    0 = never) at most every ``evidence_every_s``; then evaluate the rules. Checkpoints
    in the workspace make a restart go on where the last run stopped."""
    ruleset = load_rules(rules)  # a bad rules file fails before anything is read
    spool_dir = Path(spool) if spool else Path(f"{ws.path}.watch")
    if ws.path == ":memory:" and spool is None:
        raise InvalidParams("An in-memory workspace needs an explicit spool folder.")
    spool_dir = spool_dir.resolve()

    def ingest(path: Path, fmt: str | None) -> Any:
        return ingest_files(ws, [path], format=fmt).files[0]

    def _detect_windows(lo: datetime, hi: datetime, last: datetime | None) -> dict[str, Any] | None:
        # Near-duplicate texts of the posts new since the last detection, with context
        # (all of the longest window the first time), then the evidence window (when
        # due), then the recent one: the rules' "latest run" stays the recent window.
        longest = max(evidence_s, lookback_s)
        context = timedelta(seconds=SIMTEXT_CONTEXT_S)
        fresh = hi - timedelta(seconds=longest) if last is None else min(lo, last) - context
        st = refresh_simtext(
            ws, since=max(min(lo, fresh), hi - timedelta(seconds=longest)), until=hi
        )
        evidence = None
        if evidence_s > lookback_s:
            last_long = _last_watch_detection(ws, evidence_s)
            if last_long is None or (hi - last_long).total_seconds() >= evidence_every_s:
                evidence = detect_recent(
                    ws,
                    since=min(lo, hi - timedelta(seconds=evidence_s)),
                    until=hi,
                    lookback_s=evidence_s,
                    recent_s=lookback_s,
                    refresh=False,
                )
        recent = detect_recent(
            ws,
            since=min(lo, hi - timedelta(seconds=lookback_s)),
            until=hi,
            lookback_s=lookback_s,
            refresh=False,
        )
        main = recent or evidence
        return None if main is None else main | {"simtext": st, "evidence": evidence}

    def update(batches: list[int]) -> dict[str, Any]:
        marks = ", ".join(str(int(b)) for b in batches)
        lo, hi, stored = ws.con.execute(
            f"SELECT min(created_at), max(created_at), count(*) FROM posts "
            f"WHERE ingest_batch IN ({marks})"
        ).fetchall()[0]
        detection = None
        if detect and stored:
            last = _last_watch_detection(ws, lookback_s)
            if _detect_service.latest_run_id(ws) is None:
                s = _detect_service.detect_coordination(ws)
                c = cluster_run(ws, s.run_id)
                detection = {"run_id": s.run_id, "scope": "all", "clusters": c.clusters}
            elif last is None or (hi - last).total_seconds() >= detect_every_s:
                detection = _detect_windows(lo, hi, last)
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
