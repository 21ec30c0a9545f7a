"""One signals computation: workspace tables in, two result relations out.

``compute_account_signals`` reads ``posts``, ``actions``, ``accounts`` and (when a
detection run is given) ``cluster_members``, and leaves two relations on the
connection: ``_sig_result`` (one row per account, the columns of ``account_signals``
without ``run_id``) and ``_sig_clusters`` (the columns of ``cluster_schedules`` without
``signals_run_id``). It writes nothing persistent; the service does, in one transaction,
and then calls ``drop_temp``.

DuckDB scans, joins and aggregates; the per-account sequence work runs in numpy over
integer frames (``frames``). Nothing loops over accounts in Python.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ..schema import ACCOUNT_SIGNALS_TABLE
from . import behaviour
from .catalogue import SIGNALS
from .cluster_schedule import cluster_schedules
from .flags import counts_array, is_foreign_array
from .frames import create_universe, fetch_actions, fetch_posts
from .params import SignalParams
from .population import (
    CLOCK,
    Population,
    Populations,
    modes,
    populations,
    vote_coefficients,
    workspace_population,
)
from .profile import profile
from .rhythm import fit_accounts, fit_clusters
from .schedule import TEMPLATES, offset_distance
from .score import score_accounts

Progress = Callable[[str, int, int], None]
RESULT, CLUSTERS = "_sig_result", "_sig_clusters"
_VIEWS = ("_sig_values_arrow", "_sig_clusters_arrow")
_TEMP = ("_sig_universe", "_sig_coord", "_sig_profile")
STEPS = ("frames", "posting", "rhythm", "speed", "population", "texts", "profile", "score")
#: Raw figures kept in the explanation JSON (column in the values table -> JSON key).
FIGURES = {
    "active_days": "active_days", "first_t": "first_post", "last_t": "last_post",
    "gaps": "gaps", "texts": "texts", "dup_texts": "duplicate_texts",
    "timed_shares": "timed_shares", "followed_shares": "followed_shares",
    "pile_ons": "pile_ons", "created_same_day": "created_same_day",
    "creation_baseline": "creation_baseline", "mode_share": "population_mode_share",
    "schedule_posts": "schedule_posts", "schedule_originals": "schedule_from_originals",
}  # fmt: skip


@dataclass
class SignalsResult:
    """What the computation found (the rows are in ``RESULT`` and ``CLUSTERS``)."""

    accounts: int
    population: Population
    confident_offsets: dict[int, int]  # confident accounts per inferred offset
    clusters: int
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per step

    def summary(self, con: duckdb.DuckDBPyConnection, params: SignalParams) -> dict[str, Any]:
        row = con.execute(
            f"""SELECT count(*) FILTER (WHERE posts > 0),
                       count(*) FILTER (WHERE utc_offset IS NOT NULL),
                       count(*) FILTER (WHERE schedule_confidence >= {params.min_confidence!r}),
                       count(*) FILTER (WHERE foreign_schedule)
                FROM {RESULT}"""
        ).fetchone()
        assert row is not None
        flagged = con.execute(
            f"SELECT utc_offset, count(*) FROM {RESULT} WHERE foreign_schedule "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        foreign_clusters = con.execute(
            f"""SELECT cluster_id, members, utc_offset, population_offset FROM {CLUSTERS}
                WHERE "foreign" ORDER BY cluster_id"""
        ).fetchall()
        pop = self.population
        return {
            "accounts": self.accounts,
            "posting_accounts": int(row[0]),
            "schedules": int(row[1]),
            "confident_schedules": int(row[2]),
            "foreign_schedule_accounts": int(row[3]),
            "foreign_schedule_offsets": {str(k): int(v) for k, v in flagged},
            "population": {
                "offset": pop.offset,
                "mode_share": None if pop.mode_share is None else round(pop.mode_share, 3),
                "voters": pop.voters,
                "shares": {
                    str(o): round(float(s), 3) for o, s in zip(CLOCK, pop.density, strict=True)
                },
            },
            "confident_offsets": {str(k): v for k, v in sorted(self.confident_offsets.items())},
            "clusters": self.clusters,
            "foreign_clusters": [
                {"cluster_id": c, "members": m, "utc_offset": o, "population_offset": po}
                for c, m, o, po in foreign_clusters
            ],
            "seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu.items()},
        }


def compute_account_signals(
    con: duckdb.DuckDBPyConnection,
    params: SignalParams,
    *,
    detection_run: int | None = None,
    progress: Progress | None = None,
) -> SignalsResult:
    """Compute every signal of every account (see the module docstring)."""
    p = params
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    done = iter(range(1, len(STEPS) + 1))

    @contextmanager
    def step(name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        timings[name] = time.perf_counter() - t0
        cpu[name] = time.process_time() - c0  # all threads: steadier on a shared machine
        if progress:
            progress(name, next(done), len(STEPS))

    v: dict[str, np.ndarray] = {}  # every per-account column, idx order
    with step("frames"):
        n = create_universe(con)
        posts = fetch_posts(con)
    with step("posting"):
        v |= behaviour.posting(posts, n, p)
        v |= behaviour.coordination(con, detection_run, n)
    with step("rhythm"):
        every, fit, from_originals = fit_accounts(
            posts, n, temperature=p.temperature, min_posts=p.schedule_min_posts
        )
        rhythm_ok = every.posts >= p.min_posts
        has_offset = every.posts >= p.schedule_min_posts
        v["night_activity"] = np.where(rhythm_ok, every.night_activity, np.nan)
        v["hour_entropy"] = np.where(rhythm_ok, every.hour_entropy, np.nan)
        v["schedule_posts"] = np.where(has_offset, fit.posts, np.nan)
        v["schedule_originals"] = np.where(has_offset, from_originals, np.nan)
        v["utc_offset"] = np.where(has_offset, fit.offset, np.nan)
        v["schedule_confidence"] = np.where(has_offset, fit.confidence, np.nan)
        v["schedule_template"] = np.where(has_offset, fit.template, -1)
        v["rhythm_fit"] = np.where(has_offset, fit.rhythm_fit, np.nan)
        v["workday_share"] = np.where(has_offset, fit.workday_share, np.nan)
        confident = has_offset & (fit.confidence >= p.min_confidence)
        offsets, counts = np.unique(fit.offset[confident], return_counts=True)
        histogram = {int(o): int(c) for o, c in zip(offsets, counts, strict=True)}
        cluster_ids, members, cluster_all, cluster_fit, cluster_own = fit_clusters(
            posts, v["cluster_id"], temperature=p.temperature, min_posts=p.schedule_min_posts
        )
        del fit, every
        del posts
    with step("speed"):
        shares, text_actions = fetch_actions(con)
        v |= behaviour.speed(shares, n, p)
    with step("population"):
        weight = np.where(has_offset, np.nan_to_num(v["schedule_confidence"]), 0.0)
        votes = vote_coefficients(np.nan_to_num(v["utc_offset"]), weight)
        ws_pop = workspace_population(votes)
        per_account, pop_ids, per_cluster = populations(shares, votes, v["cluster_id"])
        del shares, votes
        _account_population(v, per_account, ws_pop, p)
    with step("texts"):
        v |= behaviour.texts(text_actions, n, p)
        del text_actions
    with step("profile"):
        v |= profile(con, v["first_t"])
    with step("score"):
        scores = score_accounts({s.name: v[s.name] for s in SIGNALS}, p.weights)
        _register_result(con, v, scores.arrow(), ws_pop)
        table = cluster_schedules(
            p, ws_pop, detection_run, cluster_ids, members, cluster_all, cluster_fit,
            cluster_own, pop_ids, per_cluster,
        )  # fmt: skip
        _register(con, CLUSTERS, "_sig_clusters_arrow", table)
    return SignalsResult(n, ws_pop, histogram, table.num_rows, timings, cpu)


def _account_population(
    v: dict[str, np.ndarray], pop: Populations, ws_pop: Population, p: SignalParams
) -> None:
    """Population offset, source, support and share per account, the offset gap and
    the foreign-schedule flag (``flags`` states the rule)."""
    own = np.nan_to_num(v["utc_offset"]).astype(np.int64)
    mode, mode_share, own_share = modes(pop.coefs, own)
    by_objects = pop.objects >= p.population_min_objects
    has_ws = ws_pop.offset is not None
    ws_share = np.array([ws_pop.own_share(int(o)) for o in CLOCK])
    ws_own = ws_share[(own + 11) % 24]
    has_offset = ~np.isnan(v["utc_offset"])
    ws_offset = float(ws_pop.offset) if ws_pop.offset is not None else np.nan
    ws_mode_share = float(ws_pop.mode_share) if ws_pop.mode_share is not None else np.nan
    v["population_offset"] = np.where(by_objects, mode, ws_offset).astype(np.float64)
    v["population_source"] = np.where(by_objects, 1, 2 if has_ws else 0)
    v["population_support"] = pop.objects
    v["population_share"] = np.where(
        has_offset & (by_objects | has_ws), np.where(by_objects, own_share, ws_own), np.nan
    )
    v["mode_share"] = np.where(by_objects, mode_share, ws_mode_share)
    confident = has_offset & counts_array(v["schedule_confidence"], v["rhythm_fit"], p)
    with np.errstate(invalid="ignore"):
        gap = offset_distance(v["utc_offset"], v["population_offset"])
    v["offset_gap"] = np.where(confident & ~np.isnan(v["population_offset"]), gap, np.nan)
    v["foreign_schedule"] = is_foreign_array(v["offset_gap"], v["population_share"], p)


def _register(con: duckdb.DuckDBPyConnection, name: str, view: str, table: pa.Table) -> None:
    """Expose an Arrow table as the view ``name`` (no copy)."""
    con.register(view, table)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {view}")


_SOURCES = np.array([None, "objects", "workspace"], dtype=object)


def _register_result(
    con: duckdb.DuckDBPyConnection,
    v: dict[str, np.ndarray],
    scored: dict[str, pa.Array],
    ws_pop: Population,
) -> None:
    """``RESULT``: the values and scores as one Arrow table, with the account ids and
    the explanation JSON added by DuckDB on read."""
    # The relation API keeps ORDER BY; an execute() result's to_arrow_table() may not.
    ids = con.sql("SELECT account_id, platform FROM _sig_universe ORDER BY idx").to_arrow_table()
    templates = np.array([None, *TEMPLATES], dtype=object)
    cols: dict[str, pa.Array] = {
        "account_id": ids.column("account_id").combine_chunks(),
        "platform": ids.column("platform").combine_chunks(),
        **scored,
        "foreign_schedule": pa.array(v["foreign_schedule"]),
        "utc_offset": _int(v["utc_offset"]),
        "schedule_confidence": _float(v["schedule_confidence"]),
        "schedule_template": pa.array(templates[v["schedule_template"] + 1], pa.string()),
        "rhythm_fit": _float(v["rhythm_fit"]),
        "population_offset": _int(v["population_offset"]),
        "population_source": pa.array(_SOURCES[v["population_source"]], pa.string()),
        "population_support": pa.array(v["population_support"].astype(np.int64)),
        "population_share": _float(v["population_share"]),
        "cluster_id": pa.array(v["cluster_id"], pa.int64(), mask=v["cluster_id"] < 0),
    }
    for s in SIGNALS:
        cols[s.name] = _float(v[s.name])
    for key in FIGURES:
        cols[f"_x_{key}"] = _float(v[key])
    table = pa.table(cols)
    figures = ", ".join(
        f"'{js}', "
        + (
            f"to_timestamp(_x_{key})"
            if key in ("first_t", "last_t")
            else f"round(_x_{key}, 3)"
            if key in ("creation_baseline", "mode_share")
            else f"CAST(_x_{key} AS BOOLEAN)"
            if key == "schedule_originals"
            else f"CAST(_x_{key} AS BIGINT)"
        )
        for key, js in FIGURES.items()
    )
    ws = "NULL" if ws_pop.offset is None else str(ws_pop.offset)
    columns = [c for c in ACCOUNT_SIGNALS_TABLE.column_names if c not in ("run_id", "explanation")]
    con.register("_sig_values_arrow", table)
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {RESULT} AS
            SELECT {", ".join(f'"{c}"' for c in columns)},
                   json_object({figures}, 'workspace_offset', {ws}) AS explanation
            FROM _sig_values_arrow"""
    )


def _float(a: np.ndarray) -> pa.Array:
    a = np.asarray(a, np.float64)
    return pa.array(a, mask=np.isnan(a))


def _int(a: np.ndarray) -> pa.Array:
    a = np.asarray(a, np.float64)
    nan = np.isnan(a)
    return pa.array(np.where(nan, 0, a).astype(np.int32), mask=nan)


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every temporary table and view of a computation (results included)."""
    for name in (RESULT, CLUSTERS):
        con.execute(f"DROP VIEW IF EXISTS {name}")
    for view in _VIEWS:
        with suppress(duckdb.Error):  # not registered
            con.unregister(view)
    for name in _TEMP:
        con.execute(f"DROP TABLE IF EXISTS {name}")
