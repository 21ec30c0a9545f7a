"""civicsentry accounts: explained account signals, stored per run and read back.

``compute_signals`` scores every account of the workspace (``civicsentry.signals``),
records a ``runs`` row (step ``score``, name ``account_signals``) with every parameter
and weight, and stores one ``account_signals`` row per account plus the
``cluster_schedules`` of the detection run it used, in one transaction. Earlier runs are
kept. The readers (``top_accounts``, ``account_profile``, ``cluster_schedules``) serve
the CLI, the Python API and the web app alike.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import __version__
from ..detect import DuckDBEngine
from ..errors import InvalidParams, WorkspaceError
from ..schema import ACCOUNT_SIGNALS_TABLE, CLUSTER_SCHEDULES
from ..signals import BY_NAME, SIGNALS, Signal, SignalParams, compute_account_signals, drop_temp
from ..signals.flags import schedule_reason
from ..signals.pipeline import CLUSTERS, RESULT
from ..signals.schedule import offset_distance
from ..store import Workspace
from . import clusters as _clusters
from . import detect as _detect
from . import explore as _explore
from .handles import with_handles

RUN_STEP, RUN_NAME = "score", "account_signals"
Progress = Callable[[str, int, int], None]

#: Columns ``top_accounts`` may order by, besides every signal and its percentile.
ORDER_COLUMNS = (
    "score", "rank", "coverage", "schedule_confidence", "rhythm_fit", "utc_offset",
    "population_share", "population_support",
)  # fmt: skip


@dataclass(frozen=True)
class SignalsSummary:
    """What one signals run did."""

    run_id: int
    detection_run_id: int | None
    accounts: int
    posting_accounts: int
    schedules: int
    confident_schedules: int
    foreign_schedule_accounts: int
    foreign_schedule_offsets: dict[str, int]
    population: dict[str, Any]
    clusters: int
    foreign_clusters: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    params: dict[str, Any]
    steps: dict[str, float]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_signals(
    ws: Workspace,
    *,
    run_id: int | None = None,
    threads: int | None = None,
    memory_limit: str | None = _detect.DEFAULT_MEMORY_LIMIT,
    progress: Progress | None = None,
    **params: Any,
) -> SignalsSummary:
    """Score every account and store the run. ``run_id`` is the detection run whose
    clusters feed ``coordinated_share`` and ``cluster_schedules`` (default: the latest
    clustered one; none when nothing was detected). ``params`` are the fields of
    ``signals.SignalParams``. Raises InvalidParams, or WorkspaceError on an empty
    workspace."""
    try:
        p = SignalParams(**params)
    except TypeError as e:
        fields = ", ".join(SignalParams.__dataclass_fields__)
        raise InvalidParams(f"Unknown signals parameter ({e}); known: {fields}.") from None
    if not ws.scalar("SELECT count(*) FROM posts") and not ws.scalar(
        "SELECT count(*) FROM accounts"
    ):
        raise WorkspaceError(f"{ws.path} has no posts or accounts: ingest first.")
    detection, notes = _detection_run(ws, run_id)
    started = time.time()
    try:
        with DuckDBEngine(ws.con).settings(threads=threads, memory_limit=memory_limit):
            result = compute_account_signals(ws.con, p, detection_run=detection, progress=progress)
        summary = result.summary(ws.con, p)
        record = p.as_dict() | {"detection_run_id": detection}
        with ws.transaction() as con:
            for table in (ACCOUNT_SIGNALS_TABLE, CLUSTER_SCHEDULES):
                con.execute(table.ddl())  # workspaces made before these tables existed
            rid = ws.next_id("runs", "run_id")
            seconds = round(time.time() - started, 3)
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, to_timestamp(?), now(), ?)",
                [
                    rid,
                    RUN_STEP,
                    RUN_NAME,
                    json.dumps(record, sort_keys=True),
                    __version__,
                    started,
                    json.dumps(summary | {"notes": notes, "total_seconds": seconds}, default=str),
                ],
            )
            cols = [c for c in ACCOUNT_SIGNALS_TABLE.column_names if c != "run_id"]
            quoted = ", ".join(f'"{c}"' for c in cols)
            con.execute(
                f"INSERT INTO account_signals (run_id, {quoted}) SELECT {rid}, {quoted} FROM {RESULT}"
            )
            ccols = [c for c in CLUSTER_SCHEDULES.column_names if c != "signals_run_id"]
            cq = ", ".join(f'"{c}"' for c in ccols)
            con.execute(
                f"INSERT INTO cluster_schedules (signals_run_id, {cq}) SELECT {rid}, {cq} FROM {CLUSTERS}"
            )
            ws.audit(
                "signals",
                {
                    "run_id": rid,
                    "detection_run_id": detection,
                    "accounts": summary["accounts"],
                    "foreign_schedule_accounts": summary["foreign_schedule_accounts"],
                },
            )
    finally:
        drop_temp(ws.con)
    return SignalsSummary(
        run_id=rid,
        detection_run_id=detection,
        accounts=summary["accounts"],
        posting_accounts=summary["posting_accounts"],
        schedules=summary["schedules"],
        confident_schedules=summary["confident_schedules"],
        foreign_schedule_accounts=summary["foreign_schedule_accounts"],
        foreign_schedule_offsets=summary["foreign_schedule_offsets"],
        population=summary["population"] | {"confident_offsets": summary["confident_offsets"]},
        clusters=summary["clusters"],
        foreign_clusters=tuple(summary["foreign_clusters"]),
        notes=tuple(notes),
        params=record,
        steps=summary["seconds"],
        seconds=round(time.time() - started, 3),
    )


def _detection_run(ws: Workspace, run_id: int | None) -> tuple[int | None, list[str]]:
    """The clustered detection run to use, and notes on what is skipped without one."""
    skipped = "coordinated_share and cluster schedules are left empty"
    if run_id is not None:
        return _clusters.clustered_run_id(ws, run_id), []
    latest = _detect.latest_run_id(ws)
    if latest is None:
        return None, [f"no detection run: {skipped} (run `civicsentry detect` first)"]
    try:
        return _clusters.clustered_run_id(ws, latest), []
    except WorkspaceError:
        return None, [
            f"detection run {latest} has no clusters: {skipped} "
            f"(run `civicsentry clusters build --run {latest}`)"
        ]


# -- reading ---------------------------------------------------------------------------


def latest_signals_run_id(
    ws: Workspace, *, runs: Sequence[dict[str, Any]] | None = None
) -> int | None:
    """The latest signals run's id, or None (``runs``: as for ``signals_run``)."""
    if runs is None:
        value = ws.scalar(
            "SELECT max(run_id) FROM runs WHERE step = ? AND name = ?", [RUN_STEP, RUN_NAME]
        )
        return int(value) if value is not None else None
    ids = [r["run_id"] for r in runs if r["step"] == RUN_STEP and r["name"] == RUN_NAME]
    return int(max(ids)) if ids else None


def signals_run(
    ws: Workspace, run_id: int | None = None, *, runs: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``runs`` row of a signals run (default: the latest), params and summary parsed.
    ``runs``: rows as ``explore.read_runs`` gives them (step ``score`` among them), when
    the caller has read them; otherwise they are read here. ``read_runs`` holds only the
    latest run: an earlier one asked for by id is read on its own."""
    if runs is None or (run_id is not None and all(r["run_id"] != int(run_id) for r in runs)):
        runs = (
            _explore.read_runs(ws, [RUN_STEP])
            if run_id is None
            else _explore.runs(ws, [int(run_id)])
        )
    rows = [
        r
        for r in runs
        if r["step"] == RUN_STEP
        and r["name"] == RUN_NAME
        and (run_id is None or r["run_id"] == int(run_id))
    ]
    if not rows:
        raise InvalidParams(
            "No account signals yet: run `civicsentry accounts build` first."
            if run_id is None
            else f"Run {run_id} is not a signals run; `civicsentry accounts build` makes one."
        )
    return dict(max(rows, key=lambda r: r["run_id"]))


def _dicts(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return ws.dicts(sql, params, json_columns=("explanation",))


def top_accounts(
    ws: Workspace,
    *,
    signals_run_id: int | None = None,
    limit: int | None = 20,
    offset: int = 0,
    order_by: str = "score",
    ascending: bool = False,
    foreign_only: bool = False,
    min_score: float | None = None,
    min_posts: int | None = None,
    platform: str | None = None,
    cluster_id: int | None = None,
    utc_offset: int | None = None,
    account_ids: Sequence[str] | None = None,
    runs: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Accounts of a signals run (default: the latest), highest score first unless
    ``order_by`` names another column (a signal, ``<signal>_pct``, or one of
    ``ORDER_COLUMNS``); each with its top contributions explained. ``runs``: as for
    ``signals_run``."""
    run = signals_run(ws, signals_run_id, runs=runs)
    allowed = {*ORDER_COLUMNS, *BY_NAME, *(f"{s}_pct" for s in BY_NAME)}
    if order_by not in allowed:
        raise InvalidParams(
            f"Cannot order by {order_by!r}: use score, a signal or <signal>_pct "
            f"(signals: {', '.join(BY_NAME)})."
        )
    where, args = ["s.run_id = ?"], [run["run_id"]]
    for cond, value in (
        ("s.foreign_schedule", True if foreign_only else None),
        ("s.score >= ?", min_score),
        ("s.posts >= ?", min_posts),
        ("s.platform = ?", platform),
        ("s.cluster_id = ?", cluster_id),
        ("s.utc_offset = ?", utc_offset),
    ):
        if value is not None:
            where.append(cond)
            if "?" in cond:
                args.append(value)
    if account_ids is not None:
        where.append("list_contains(?, s.account_id)")
        args.append(list(account_ids))
    if (limit is not None and limit < 0) or offset < 0:
        raise InvalidParams("limit and offset must be ≥ 0.")
    lim = f"LIMIT {int(limit)} OFFSET {int(offset)}" if limit else f"OFFSET {int(offset)}"
    direction = "ASC" if ascending else "DESC"
    # Rows are wide (three columns per signal) and a page's rows lie apart in the table:
    # each column read costs per row, so the list reads its own columns first and then
    # only those of the signals its rows name among their top ones.
    rows = with_handles(
        ws,
        _dicts(
            ws,
            f"""SELECT {", ".join(f"s.{c}" for c in BRIEF_COLUMNS)} FROM account_signals s
                WHERE {" AND ".join(where)}
                ORDER BY s."{order_by}" {direction} NULLS LAST, s.rank {lim}""",
            args,
        ),
    )
    _add_top_signal_columns(ws, run["run_id"], rows)
    return [_brief(r, run["params"].get("weights", {})) for r in rows]


def _add_top_signal_columns(ws: Workspace, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Add to each row the value, percentile and contribution of its top signals."""
    names = sorted({n for r in rows for n in _top_names(r)} & set(BY_NAME))
    if not names:
        return
    cols = ", ".join(f'"{n}", "{n}_pct", "{n}_contrib"' for n in names)
    where, args = (
        "run_id = ? AND list_contains(?, account_id)",
        [run_id, [r["account_id"] for r in rows]],
    )
    scores = [r["score"] for r in rows]
    if all(x is not None and math.isfinite(x) for x in scores):
        # The rows' score range: DuckDB tests it before the id list, and cheaply.
        where += " AND score BETWEEN ? AND ?"
        args += [min(scores), max(scores)]
    extra = {
        r["account_id"]: r
        for r in _dicts(ws, f"SELECT account_id, {cols} FROM account_signals WHERE {where}", args)
    }
    for r in rows:
        r.update(extra.get(r["account_id"], {}))


def _top_names(row: dict[str, Any]) -> list[str]:
    return [n for n in (row["top_signals"] or "").split(",") if n]


def _signal_rows(row: dict[str, Any], weights: dict[str, float]) -> list[dict[str, Any]]:
    return [_signal_row(s, row, weights) for s in SIGNALS]


def _signal_row(s: Signal, row: dict[str, Any], weights: dict[str, float]) -> dict[str, Any]:
    return {
        "name": s.name,
        "family": s.family,
        "value": row[s.name],
        "percentile": row[f"{s.name}_pct"],
        "direction": {1: "high", -1: "low", 0: "shown only"}[s.direction],
        "weight": weights.get(s.name, s.weight) if s.direction else 0.0,
        "contribution": row[f"{s.name}_contrib"],
        "unit": s.unit,
        "means": s.means,
    }


#: What a list entry shows of an ``account_signals`` row (with the handle and top signals).
BRIEF_KEEP = (
    "rank", "account_id", "handle", "platform", "score", "coverage", "posts",
    "utc_offset", "schedule_confidence", "schedule_template", "population_offset",
    "population_share", "foreign_schedule", "cluster_id", "run_id",
)  # fmt: skip
BRIEF_COLUMNS = (*(k for k in BRIEF_KEEP if k != "handle"), "top_signals")


def _brief(row: dict[str, Any], weights: dict[str, float]) -> dict[str, Any]:
    """A list entry: the account, its score and the signals that made it (``row`` holds
    the columns of its top signals at least)."""
    top = [_signal_row(BY_NAME[n], row, weights) for n in _top_names(row)]
    return {k: row.get(k) for k in BRIEF_KEEP} | {
        "top_signals": [
            {k: s[k] for k in ("name", "value", "percentile", "weight", "contribution")}
            for s in top
        ]
    }


def account_profile(
    ws: Workspace, account_id: str, *, signals_run_id: int | None = None, posts: int = 20
) -> dict[str, Any]:
    """Everything about one account: profile fields, every signal with its value,
    percentile, weight and contribution, the schedule and why it is (not) flagged, the
    hour × weekday rhythm (UTC and local), and a timeline of its posts (daily counts and
    the ``posts`` most recent)."""
    sig = signals_profile(ws, account_id, signals_run_id=signals_run_id)
    profile = _dicts(ws, "SELECT * FROM accounts WHERE account_id = ?", [account_id])
    return (
        {"account_id": account_id, "run": sig["run"], "account": profile[0] if profile else None}
        | {k: v for k, v in sig.items() if k not in ("account_id", "run")}
        | {"timeline": timeline(ws, account_id, limit=posts)}
    )


def signals_profile(
    ws: Workspace,
    account_id: str,
    *,
    signals_run_id: int | None = None,
    hour_counts: Sequence[int] | None = None,
    runs: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The signals part of ``account_profile`` (no profile fields, no timeline): run,
    score, rank, coverage, top signals, cluster, every signal, schedule, figures and
    rhythm. ``hour_counts``: the account's posts per UTC hour of the week (Monday 00:00
    first), when the caller has counted them already; ``runs``: as for ``signals_run``."""
    run = signals_run(ws, signals_run_id, runs=runs)
    rows = _dicts(
        ws,
        "SELECT * FROM account_signals WHERE run_id = ? AND account_id = ?",
        [run["run_id"], account_id],
    )
    if not rows:
        raise InvalidParams(
            f"No account {account_id!r} in signals run {run['run_id']}; "
            "`civicsentry accounts list` shows the accounts."
        )
    row = rows[0]
    params = run["params"]
    p = SignalParams(**{k: v for k, v in params.items() if k in SignalParams.__dataclass_fields__})
    n_run = ws.scalar("SELECT count(*) FROM account_signals WHERE run_id = ?", [run["run_id"]])
    return {
        "account_id": account_id,
        "run": {
            "run_id": run["run_id"],
            "finished_at": run["finished_at"],
            "detection_run_id": params.get("detection_run_id"),
            "accounts": n_run,
        },
        "score": row["score"],
        "rank": row["rank"],
        "coverage": row["coverage"],
        "top_signals": _top_names(row),
        "cluster_id": row["cluster_id"],
        "signals": _signal_rows(row, params.get("weights", {})),
        "schedule": _schedule(row, p),
        "figures": row["explanation"],
        "rhythm": rhythm(ws, account_id, row["utc_offset"], hour_counts=hour_counts),
    }


def _schedule(row: dict[str, Any], p: SignalParams) -> dict[str, Any]:
    offset, pop = row["utc_offset"], row["population_offset"]
    gap = int(offset_distance(offset, pop)) if offset is not None and pop is not None else None
    figures = row["explanation"] or {}
    reason = schedule_reason(
        "it posts",
        posts=int(row["posts"] or 0),
        fitted=(
            int(figures.get("schedule_posts") or row["posts"] or 0),
            bool(figures.get("schedule_from_originals")),
        ),
        offset=offset,
        confidence=row["schedule_confidence"],
        template=row["schedule_template"],
        workday=row["workday_share"],
        pop_offset=pop,
        by_objects=row["population_source"] == "objects",
        objects=int(row["population_support"] or 0),
        mode_share=figures.get("population_mode_share"),
        own_share=row["population_share"],
        gap=gap,
        rhythm_fit=row["rhythm_fit"],
        foreign=bool(row["foreign_schedule"]),
        p=p,
    )
    return {
        k: row[k]
        for k in (
            "utc_offset", "schedule_confidence", "schedule_template", "rhythm_fit",
            "workday_share", "night_activity", "population_offset", "population_source",
            "population_support", "population_share", "offset_gap", "foreign_schedule",
        )
    } | {"reason": reason}  # fmt: skip


def rhythm(
    ws: Workspace,
    account_id: str,
    utc_offset: int | None,
    *,
    hour_counts: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Posts per weekday (Monday first) × hour, in UTC and at ``utc_offset`` local time
    (``hour_counts``: the 168 UTC counts, when the caller has them)."""
    from ..signals.rhythm import how_sql

    if hour_counts is not None:
        if len(hour_counts) != 168:
            raise InvalidParams("hour_counts has one count per hour of the week (168).")
        counts = [int(n) for n in hour_counts]
    else:
        counts = [0] * 168
        for how, n in ws.con.execute(
            f"SELECT {how_sql('created_at')}, count(*) FROM posts WHERE account_id = ? GROUP BY 1",
            [account_id],
        ).fetchall():
            counts[int(how)] = int(n)

    def grid(shift: int) -> list[list[int]]:
        local = [counts[(h - shift) % 168] for h in range(168)]
        return [local[d * 24 : (d + 1) * 24] for d in range(7)]

    return {
        "utc": grid(0),
        "local": grid(utc_offset) if utc_offset is not None else None,
        "utc_offset": utc_offset,
        "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    }


def timeline(ws: Workspace, account_id: str, *, limit: int = 20) -> dict[str, Any]:
    """Posts per UTC day, and the ``limit`` most recent posts (text is hostile content:
    callers escape it)."""
    days = ws.con.execute(
        "SELECT CAST(created_at AS DATE)::VARCHAR, count(*) FROM posts WHERE account_id = ? "
        "GROUP BY 1 ORDER BY 1",
        [account_id],
    ).fetchall()
    # The account's posts are found through the `posts.account_id` index only when the
    # lookup stands alone: pick the page's row ids first, then read its columns (the
    # one-query form scans every post: ~100 ms instead of ~8 ms at 10M posts).
    recent = _dicts(
        ws,
        f"""WITH mine AS MATERIALIZED (
                SELECT rowid AS r, created_at, post_id FROM posts WHERE account_id = ?),
            page AS (SELECT r FROM mine ORDER BY created_at DESC, post_id
                     LIMIT {max(int(limit), 0)})
            SELECT post_id, created_at, kind, parent_post_id, text, urls, hashtags
            FROM posts WHERE rowid IN (SELECT r FROM page)
            ORDER BY created_at DESC, post_id""",
        [account_id],
    )
    return {"days": [{"day": d, "posts": int(n)} for d, n in days], "posts": recent}


def cluster_schedules(
    ws: Workspace, *, signals_run_id: int | None = None, foreign_only: bool = False
) -> list[dict[str, Any]]:
    """The schedules of the clusters a signals run saw (foreign ones first)."""
    run = signals_run(ws, signals_run_id)
    where = ' AND "foreign"' if foreign_only else ""
    return _dicts(
        ws,
        f"""SELECT * FROM cluster_schedules WHERE signals_run_id = ?{where}
            ORDER BY "foreign" DESC, offset_gap DESC NULLS LAST, cluster_id""",
        [run["run_id"]],
    )
