"""The coordination detector from actions to edges: windows, sweep, edges per semantics,
significance, caps — as a sequence of SQL steps on an ``Engine``.

It reads one relation in the ``actions`` shape (account_id, object_type, object_id, t,
post_id) and leaves two result tables on the engine, ``edges`` (the columns of
``coordination_edges`` without ``run_id``) and ``caps`` (``coordination_caps`` without
``run_id``). It opens nothing and writes nothing else: the service stores the results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import InvalidParams
from . import coaction, peers, significance, sweep
from .dialect import PAIR_SHIFT, Dialect
from .edges import EDGE_COLUMNS
from .engine import Engine, as_engine
from .params import CoordinationParams, ResolvedParams
from .sweep import Cap
from .verdicts import ChoiceTotals, EdgeTester
from .windows import AUTO, WindowChoice, estimate_sql, resolve, to_us

log = logging.getLogger("civicsentry")

Progress = Callable[[str, int, int], None]


@dataclass
class DetectionResult:
    """Names of the result tables on ``engine`` plus what the run decided."""

    engine: Engine
    edges: str  # a table, unless the detection ran with materialize=False
    caps: str
    params: ResolvedParams
    windows: list[WindowChoice]
    edges_sql: str = ""  # the SELECT that gives the edges (always set)
    #: cnt only: the same edges as ``edges_sql`` before the account ids are joined on
    #: (the columns of ``edges_cnt`` without run_id; keys of ``accounts``), which the
    #: service stores narrow. Empty for the other semantics.
    cnt_sql: str = ""
    #: The edges are aggregated only when ``cnt_sql`` is read (``stream``), so the edges of
    #: each network are not counted yet: the caller fills ``networks`` from what it stored.
    streamed: bool = False
    accounts: str = ""  # account_id and its key (aid), in code-point order of the ids
    shares: dict[str, int] = field(default_factory=dict)
    networks: dict[str, dict[str, int]] = field(default_factory=dict)
    caps_count: int = 0
    #: Share pairs the sweep compared per type and popularity class (the choice null's
    #: P_c); stored so that clusters.attach can test accounts against whole clusters.
    aligned: dict[str, dict[int, int]] = field(default_factory=dict)
    _temp: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Drop every table this detection created, results included."""
        self.engine.drop(self.edges, self.caps, *self._temp)

    def summary(self) -> dict[str, Any]:
        return {
            "semantics": self.params.semantics,
            "windows": {
                w.object_type: {
                    "seconds": w.seconds,
                    "source": w.source,
                    "reason": w.reason,
                    **({"stats": w.stats} if w.stats else {}),
                }
                for w in self.windows
            },
            "shares": self.shares,
            "networks": self.networks,
            "capped_or_viral_objects": self.caps_count,
            **(
                {
                    "aligned_pairs": {
                        t: {str(c): n for c, n in sorted(by.items())}
                        for t, by in self.aligned.items()
                    }
                }
                if self.aligned
                else {}
            ),
        }


def detect_coordination(
    con: duckdb.DuckDBPyConnection | Engine,
    actions: str = "actions",
    params: CoordinationParams | None = None,
    *,
    progress: Progress | None = None,
    materialize: bool = True,
    stream: bool = False,
) -> DetectionResult:
    """Detect coordination on ``actions`` (a table name or a parenthesised SELECT).

    With ``materialize=False`` the edges are left as ``result.edges_sql`` for the
    caller to copy once (the service inserts them straight into the workspace); the
    tables that SELECT reads stay until ``result.close()``. With ``stream`` as well, cnt
    edges (no significance) are not even aggregated here: ``cnt_sql`` does it when the
    caller copies it, and ``result.streamed`` tells it to count them itself."""
    engine = as_engine(con)
    p = (params or CoordinationParams()).resolve()
    steps = _plan(p)
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(label, done, steps)

    src = actions if actions.strip().startswith("(") else _check_relation(actions)
    acc, obj = engine.name("accounts"), engine.name("objects")
    temp = [acc, obj]
    result = DetectionResult(
        engine, engine.name("edges"), engine.name("caps"), p, [], accounts=acc, _temp=temp
    )
    try:
        _run(engine, p, src, result, temp, tick, materialize, stream)
    except BaseException:
        result.close()  # leave no intermediate table behind
        raise
    keep = {acc, obj}
    if not materialize:  # what edges_sql reads
        keep |= {engine.name("significance")}
        keep |= {t for t in temp if t.startswith(engine.name("edges_"))}  # and what they read
    if result.streamed:  # the edges are still to be aggregated from the shares
        keep = set(temp)
    engine.drop(*[t for t in temp if t not in keep])
    result._temp = [t for t in temp if t in keep]
    return result


def _run(
    engine: Engine,
    p: ResolvedParams,
    src: str,
    result: DetectionResult,
    temp: list[str],
    tick: Callable[[str], None],
    materialize: bool,
    stream: bool = False,
) -> None:
    types = list(p.object_types)
    stream = stream and not materialize and p.semantics == "cnt" and not p.significance
    acc, obj = temp[0], temp[1]
    engine.number(acc, sweep.accounts_sql(src, types), ["account_id"], "aid")
    engine.number(obj, sweep.objects_sql(src, types), ["object_type", "object_id"], "oid")
    tick("indexing accounts and objects")

    result.windows = _choose_windows(engine, p, src, acc, obj)
    tick("choosing windows")
    w_us = {w.object_type: to_us(w.seconds) for w in result.windows}
    cap = p.cap
    shares: dict[str, str] = {}
    stats: list[str] = []
    for t in types:
        s = engine.name(f"shares_{t}")
        pk = None
        if p.semantics == "cnt":
            pk = engine.name(f"posts_{t}")
            temp.append(pk)
            engine.number(pk, sweep.posts_sql(src, t), ["post_id"], "pk")
        engine.create(
            s,
            sweep.shares_sql(
                src,
                acc,
                obj,
                t,
                engine.dialect,
                window_us=w_us[t],
                cap=cap,
                posts=pk,
                with_content=p.semantics == "coortweet",
            ),
        )
        shares[t] = s
        temp.append(s)
        result.shares[t] = int(engine.scalar(f"SELECT count(*) FROM {s}") or 0)
        if p.semantics == "civicsentry":
            st = engine.name(f"objstats_{t}")
            engine.create(st, sweep.object_stats_sql(s, t))
            stats.append(st)
            temp.append(st)
        tick(f"sorting {t} shares")

    raw = engine.name("edges_raw")
    temp.append(raw)
    hypotheses: dict[str, int] = {}  # per network: m of Benjamini–Hochberg
    compared: dict[str, dict[int, int]] = {}  # per type and popularity class
    if p.semantics == "civicsentry":
        _civicsentry(engine, p, shares, stats, w_us, raw, temp, tick, hypotheses, compared)
        result.aligned = compared
    else:
        parts = []
        for t in types:
            out = engine.name(f"edges_{t}")
            temp.append(out)
            if p.semantics == "coortweet":
                peers.coortweet_edges(
                    engine,
                    shares[t],
                    object_type=t,
                    window_us=w_us[t],
                    min_participation=p.min_participation,
                    min_weight=p.min_weight,
                    out=out,
                )
            else:
                temp += peers.cnt_edges(
                    engine,
                    shares[t],
                    object_type=t,
                    window_us=w_us[t],
                    min_weight=p.min_weight,
                    out=out,
                    stream=stream,
                )
            parts.append(f"SELECT * FROM {out}")
            tick(f"{t} edges")
        engine.view(raw, " UNION ALL ".join(parts))  # no copy: the tables stay

    sig = engine.name("significance")
    if p.significance:
        temp.append(sig)
        _significance(engine, p, shares, w_us, raw, sig, temp, hypotheses, compared)
        tick("significance")
    # A table, or SQL read once by the caller; never a view: DuckDB 2.0 answered a UNION
    # of two filtered reads of such a view (raw LEFT JOIN significance) wrongly.
    result.edges_sql = _final_edges_sql(engine, p, raw, acc, sig if p.significance else None)
    if p.semantics == "cnt":
        result.cnt_sql = _cnt_edges_sql(engine, raw)
    if materialize:
        engine.create(result.edges, result.edges_sql)
    engine.create(result.caps, _final_caps_sql(engine, p, stats, shares, obj, w_us, cap, temp))
    tick("edges and caps")
    result.caps_count = int(engine.scalar(f"SELECT count(*) FROM {result.caps}") or 0)
    if stream:
        result.streamed = True
        return
    networks = types + (["multi"] if p.semantics == "civicsentry" else [])
    verdict, joined = "CAST(NULL AS BOOLEAN)", f"{raw} e"
    if p.significance:
        verdict = "s.significant"
        joined += (
            f" LEFT JOIN {sig} s ON s.otype = e.otype AND s.pair = e.acc_a * {PAIR_SHIFT} + e.acc_b"
        )
    counts = {
        r["object_type"]: r
        for r in engine.fetch(
            f"SELECT e.otype AS object_type, count(*) AS n, "
            f"sum(CASE WHEN {verdict} THEN 1 ELSE 0 END) AS s FROM {joined} GROUP BY e.otype"
        ).to_pylist()
    }
    for net in networks:
        row = counts.get(net, {"n": 0, "s": 0})
        result.networks[net] = {"edges": int(row["n"])}
        if p.significance:
            result.networks[net] |= {
                "significant": int(row["s"] or 0),
                "hypotheses": hypotheses.get(net, 0),
            }


def _plan(p: ResolvedParams) -> int:
    n = len(p.object_types)
    return 3 + n + (n if p.semantics != "civicsentry" else 2) + (1 if p.significance else 0)


def _check_relation(name: str) -> str:
    for part in name.split("."):
        if not part.replace("_", "").isalnum():
            raise InvalidParams(f"{name!r} is not a table name.")
    return name


def _choose_windows(
    engine: Engine, p: ResolvedParams, src: str, acc: str, obj: str
) -> list[WindowChoice]:
    out = []
    parsed = dict(p.windows)
    if "simtext" in p.object_types and "simtext" not in parsed and "text" in parsed:
        parsed["simtext"] = parsed["text"]  # near copies take the window of exact copies
    for t, value in resolve(parsed, p.object_types, p.default_window).items():
        if value != AUTO:
            given = t in parsed or "*" in parsed
            out.append(
                WindowChoice(
                    t,
                    float(value),
                    "given" if given else "default",
                    "set by --window" if given else f"default of {p.semantics}",
                )
            )
            continue
        base = sweep.shares_sql(src, acc, obj, t, engine.dialect, window_us=1, cap=None)
        row = engine.fetch(
            estimate_sql(f"({base})", engine.dialect, q=p.auto_q, p=p.auto_p)
        ).to_pylist()[0]
        n_objects = int(row["n_objects"] or 0)
        if not n_objects or row["window_us"] is None:
            out.append(
                WindowChoice(
                    t,
                    p.default_window,
                    "default",
                    f"auto: no {t} object has two shares; used the default",
                )
            )
            continue
        secs = float(row["window_us"]) / 1e6
        reason = (
            f"auto (CooRnet): of {n_objects} {t} objects with ≥ 2 shares, the "
            f"{row['n_quick']} whose second share came within {row['d2_cut_us'] / 1e6:g} s "
            f"(the {p.auto_q:g} quantile) took a median of {secs:g} s to pass "
            f"{p.auto_p:.0%} of their shares"
        )
        if secs <= 0:
            secs, reason = 1.0, reason + "; 0 s is raised to 1 s, as CooRnet does"
        out.append(
            WindowChoice(
                t,
                secs,
                "estimated",
                reason,
                {
                    "objects": n_objects,
                    "quick_objects": int(row["n_quick"]),
                    "second_share_cut_s": float(row["d2_cut_us"]) / 1e6,
                    "min_s": float(row["min_us"]) / 1e6,
                    "max_s": float(row["max_us"]) / 1e6,
                },
            )
        )
    return out


def _civicsentry(
    engine: Engine,
    p: ResolvedParams,
    shares: dict[str, str],
    stats: list[str],
    w_us: dict[str, int],
    raw: str,
    temp: list[str],
    tick: Callable[[str], None],
    tested: dict[str, int],
    compared: dict[str, dict[int, int]],
) -> None:
    """Co-actions, then every network's kept edges. Fills ``tested`` (m per network) and
    ``compared`` (share pairs the sweep compared, per type and popularity class)."""
    level1 = engine.name("level1")
    temp.append(level1)
    parts = [
        coaction.level1_sql(
            shares[t],
            st,
            t,
            engine.dialect,
            window_us=w_us[t],
            cap=p.cap,
            viral_accounts=p.viral_accounts,
        )
        for t, st in zip(p.object_types, stats, strict=True)
    ]
    engine.create(level1, "\nUNION ALL\n".join(parts))
    tick("co-actions")
    cand_rows, kept = engine.name("cand_rows"), engine.name("kept")
    temp += [cand_rows, kept]
    kw = {"min_participation": p.min_participation}
    for row in engine.fetch(coaction.hypotheses_sql(level1, engine.dialect, **kw)).to_pylist():
        tested[row["otype"]] = int(row["m"])
    engine.create(
        cand_rows,
        coaction.candidate_rows_sql(level1, engine.dialect, min_weight=p.min_weight, **kw),
    )
    engine.create(kept, coaction.kept_sql(cand_rows, engine.dialect, min_weight=p.min_weight, **kw))
    engine.create(
        raw,
        coaction.edges_sql(cand_rows, kept, engine.dialect, multi=False)
        + "\nUNION ALL\n"
        + coaction.edges_sql(cand_rows, kept, engine.dialect, multi=True),
    )
    if p.significance:
        for r in engine.fetch(
            f"SELECT otype, cls, sum(n_pairs) AS n FROM {level1} GROUP BY otype, cls"
        ).to_pylist():
            compared.setdefault(r["otype"], {})[int(r["cls"])] = int(r["n"])
    engine.drop(level1)  # the largest table; free its memory before the numbers
    tick("edges")


def _significance(
    engine: Engine,
    p: ResolvedParams,
    shares: dict[str, str],
    w_us: dict[str, int],
    raw: str,
    out: str,
    temp: list[str],
    hypotheses: dict[str, int],
    compared: dict[str, dict[int, int]],
) -> None:
    """Screen with cheap bounds, then test the survivors exactly (significance.py); the
    SQL supplies delays and counts, ``EdgeTester`` does the arithmetic. An engine with
    a ``significance`` method (Spark) runs the same arithmetic per batch of edges on
    its executors instead (verdicts.py's batch functions)."""
    distributed = getattr(engine, "significance", None)
    if distributed is not None:
        distributed(p, shares, w_us, raw, out, temp, hypotheses, compared)
        return
    types = list(p.object_types)
    names = [*types, "multi"]
    code = "CASE otype " + " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(names)) + " END"
    jit_us = {t: to_us(p.jitter_for(w_us[t] / 1e6)) for t in types}
    surv, near = engine.name("survivors"), engine.name("near")
    temp += [surv, near]
    co = engine.fetch(
        f"SELECT {code} AS code, pair, min_delay, cls FROM {engine.name('cand_rows')} "
        "ORDER BY pair, code, cls, min_delay, oid"
    )
    edges = engine.fetch(f"SELECT {code} AS code, acc_a * {PAIR_SHIFT} + acc_b AS pair FROM {raw}")
    # The choice null's totals: each account's shares per type, and the share pairs the
    # sweep compared per popularity class (a co-action's chances are the sweep's).
    n_acc = int(engine.scalar(f"SELECT count(*) FROM {engine.name('accounts')}") or 0) + 1
    choice = []
    for t in types:
        act = engine.fetch(significance.activity_sql(shares[t]))
        activity = np.zeros(n_acc)
        activity[act.column("aid").to_numpy()] = act.column("n").to_numpy()
        choice.append(ChoiceTotals(t, int(activity.sum()), activity, compared.get(t, {})))
    threads = int(engine.scalar("SELECT current_setting('threads')") or 1)
    tester = EdgeTester(types, w_us, jit_us, p, hypotheses, choice, workers=threads)
    survivors = tester.screen(co, edges)
    del co
    engine.put(surv, pa.table({"pair": pa.array(survivors, pa.int64())}))
    inputs = [significance.TypeInput(i, shares[t], w_us[t], jit_us[t]) for i, t in enumerate(types)]
    co_rows = f"(SELECT {code} AS code, pair, oid FROM {engine.name('cand_rows')})"
    engine.create(near, significance.near_pairs_sql(surv, inputs, co_rows, engine.dialect))
    engine.put(
        out,
        tester.test(
            engine.fetch(
                f"SELECT code, pair, oid, d FROM {near} WHERE d IS NOT NULL "
                "ORDER BY pair, oid, d DESC"
            ),
            engine.fetch(f"SELECT code, pair, oid, coact FROM {near} WHERE d IS NULL"),
        ),
    )


def _final_edges_sql(engine: Engine, p: ResolvedParams, raw: str, acc: str, sig: str | None) -> str:
    d = engine.dialect
    sig_cols = (
        "s.expected_timing, s.expected_choice, s.p_timing, s.p_choice, s.p_value, s.q_value, "
        "coalesce(s.significant, false) AS significant"
        if sig
        else "CAST(NULL AS DOUBLE) AS expected_timing, CAST(NULL AS DOUBLE) AS expected_choice, "
        "CAST(NULL AS DOUBLE) AS p_timing, CAST(NULL AS DOUBLE) AS p_choice, "
        "CAST(NULL AS DOUBLE) AS p_value, "
        "CAST(NULL AS DOUBLE) AS q_value, CAST(NULL AS BOOLEAN) AS significant"
    )
    join = (
        f"LEFT JOIN {sig} s ON s.otype = e.otype AND s.pair = e.acc_a * {PAIR_SHIFT} + e.acc_b"
        if sig
        else ""
    )
    passthrough = ", ".join(
        f"e.{c}"
        for c, _ in EDGE_COLUMNS
        if c
        in (
            "weight",
            "weight_ab",
            "weight_ba",
            "pairs",
            "weight_pop",
            "object_types",
            "n_content_id",
            "n_content_id_y",
            "edge_symmetry_score",
            "weight_threshold",
            "capped_objects",
            "downweighted_objects",
        )
    )
    return f"""
    SELECT '{p.semantics}' AS semantics, e.otype AS object_type,
           a1.account_id AS account_a, a2.account_id AS account_b, {passthrough},
           {_delays_and_times(d, "min_delay_s", "median_delay_s", "avg_delay_s")},
           coalesce(e.capped_objects, 0) > 0 AS capped,
           coalesce(e.downweighted_objects, 0) > 0 AS downweighted, {sig_cols}
    FROM {raw} e
    JOIN {acc} a1 ON a1.aid = e.acc_a
    JOIN {acc} a2 ON a2.aid = e.acc_b
    {join}
    """


def _delays_and_times(d: Dialect, *delays: str) -> str:
    """The stored delays (seconds) and first/last times of raw edge rows ``e``."""
    return ", ".join(
        [f"e.{c.removesuffix('_s')}_us / 1e6 AS {c}" for c in delays]
        + [f"{d.from_epoch_us(f'e.{c}_ts')} AS {c}_t" for c in ("first", "last")]
    )


def _cnt_edges_sql(engine: Engine, raw: str) -> str:
    """cnt edges as ``edges_cnt`` stores them: what ``_final_edges_sql`` gives for this
    semantics, without the account-id joins and the columns it leaves NULL."""
    return f"""
    SELECT e.otype AS object_type, e.acc_a, e.acc_b, e.weight_ab, e.weight_ba, e.pairs,
           {_delays_and_times(engine.dialect, "min_delay_s", "avg_delay_s")}
    FROM {raw} e
    """


def _final_caps_sql(
    engine: Engine,
    p: ResolvedParams,
    stats: list[str],
    shares: dict[str, str],
    obj: str,
    w_us: dict[str, int],
    cap: Cap | None,
    temp: list[str],
) -> str:
    d = engine.dialect
    if not stats:
        return (
            "SELECT CAST(NULL AS STRING) AS object_type, CAST(NULL AS STRING) AS object_id, "
            "CAST(NULL AS BIGINT) AS n_shares, CAST(NULL AS BIGINT) AS n_accounts, "
            f"{d.from_epoch_us('CAST(NULL AS BIGINT)')} AS first_t, "
            f"{d.from_epoch_us('CAST(NULL AS BIGINT)')} AS last_t, "
            "CAST(NULL AS BIGINT) AS max_partners, CAST(NULL AS BIGINT) AS shares_capped, "
            "CAST(NULL AS BIGINT) AS pairs_within_window, CAST(NULL AS BIGINT) AS pairs_kept, "
            "CAST(NULL AS DOUBLE) AS pop_discount, CAST(NULL AS STRING) AS action WHERE 1 = 0"
        )
    parts = []
    for t, st in zip(p.object_types, stats, strict=True):
        counts = (
            "SELECT CAST(NULL AS BIGINT) AS oid, CAST(NULL AS BIGINT) AS pairs_within, "
            "CAST(NULL AS BIGINT) AS pairs_kept WHERE 1 = 0"
        )
        if cap:
            cp = engine.name(f"cappedpairs_{t}")
            engine.create(cp, sweep.capped_pairs_sql(shares[t], st, window_us=w_us[t]))
            temp.append(cp)
            counts = f"SELECT * FROM {cp}"
        parts.append(f"""
        SELECT s.*, c.pairs_within, c.pairs_kept FROM {st} s
        LEFT JOIN ({counts}) c ON c.oid = s.oid
        WHERE s.shares_capped > 0 OR s.n_accounts >= {p.viral_accounts}
        """)
    return f"""
    SELECT s.otype AS object_type, o.object_id, s.n_shares, s.n_accounts,
           {d.from_epoch_us("s.first_ts")} AS first_t, {d.from_epoch_us("s.last_ts")} AS last_t,
           CASE WHEN s.shares_capped = 0 THEN NULL
                WHEN s.n_accounts >= {p.viral_accounts} THEN {cap.viral_partners if cap else "NULL"}
                ELSE {cap.partners if cap else "NULL"} END AS max_partners, s.shares_capped,
           s.pairs_within AS pairs_within_window, s.pairs_kept,
           1.0 / log2(CAST(greatest(2, s.n_accounts) AS DOUBLE)) AS pop_discount,
           CASE WHEN s.shares_capped > 0 AND s.n_accounts >= {p.viral_accounts}
                  THEN 'capped,downweighted'
                WHEN s.shares_capped > 0 THEN 'capped' ELSE 'downweighted' END AS action
    FROM ({" UNION ALL ".join(parts)}) s JOIN {obj} o ON o.oid = s.oid
    """
