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
from .edges import EDGE_COLUMNS
from .engine import DuckDBEngine, as_engine
from .params import CoordinationParams, ResolvedParams
from .windows import AUTO, WindowChoice, estimate_sql, resolve, to_us

log = logging.getLogger("civicsentry")

Progress = Callable[[str, int, int], None]


@dataclass
class DetectionResult:
    """Names of the result tables on ``engine`` plus what the run decided."""

    engine: DuckDBEngine
    edges: str
    caps: str
    params: ResolvedParams
    windows: list[WindowChoice]
    shares: dict[str, int] = field(default_factory=dict)
    networks: dict[str, dict[str, int]] = field(default_factory=dict)
    caps_count: int = 0
    _temp: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Drop every table this detection created, results included."""
        self.engine.drop(*self._temp, self.edges, self.caps)

    def summary(self) -> dict[str, Any]:
        return {
            "semantics": self.params.semantics,
            "windows": {w.object_type: {"seconds": w.seconds, "source": w.source,
                                        "reason": w.reason, **({"stats": w.stats} if w.stats else {})}
                        for w in self.windows},
            "shares": self.shares,
            "networks": self.networks,
            "capped_or_viral_objects": self.caps_count,
        }


def detect_coordination(
    con: duckdb.DuckDBPyConnection | DuckDBEngine,
    actions: str = "actions",
    params: CoordinationParams | None = None,
    *,
    progress: Progress | None = None,
) -> DetectionResult:
    """Detect coordination on ``actions`` (a table name or a parenthesised SELECT)."""
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
    types = list(p.object_types)
    acc, obj = engine.name("accounts"), engine.name("objects")
    engine.create(acc, sweep.accounts_sql(src, types))
    engine.create(obj, sweep.objects_sql(src, types))
    temp = [acc, obj]
    tick("indexing accounts and objects")

    windows = _choose_windows(engine, p, src, acc, obj)
    tick("choosing windows")
    result = DetectionResult(engine, engine.name("edges"), engine.name("caps"), p, windows,
                             _temp=temp)
    w_us = {w.object_type: to_us(w.seconds) for w in windows}
    cap = p.max_partners
    shares: dict[str, str] = {}
    stats: list[str] = []
    for t in types:
        s = engine.name(f"shares_{t}")
        engine.create(s, sweep.shares_sql(
            src, acc, obj, t, engine.dialect, window_us=w_us[t], cap=cap,
            with_posts=p.semantics == "cnt", with_content=p.semantics == "coortweet"))
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
    all_edges: dict[str, int] = {}  # per network, before min_weight
    if p.semantics == "civicsentry":
        _civicsentry(engine, p, shares, stats, w_us, raw, temp, tick, all_edges)
    else:
        parts = []
        for t in types:
            out = engine.name(f"edges_{t}")
            if p.semantics == "coortweet":
                peers.coortweet_edges(engine, shares[t], object_type=t, window_us=w_us[t],
                                      min_participation=p.min_participation, out=out)
            else:
                peers.cnt_edges(engine, shares[t], object_type=t, window_us=w_us[t],
                                min_weight=p.min_weight, out=out)
            parts.append(f"SELECT * FROM {out}")
            temp.append(out)
            tick(f"{t} edges")
        engine.create(raw, " UNION ALL ".join(parts))

    sig = engine.name("significance")
    if p.significance:
        _significance(engine, p, shares, w_us, raw, sig, temp, all_edges)
        tick("significance")
    engine.create(result.edges, _final_edges_sql(engine, p, raw, acc, sig if p.significance else None))
    engine.create(result.caps, _final_caps_sql(engine, p, stats, shares, obj, w_us, cap, temp))
    tick("edges and caps")
    for row in engine.fetch(
        f"SELECT object_type, count(*) AS n, sum(CASE WHEN significant THEN 1 ELSE 0 END) AS s "
        f"FROM {result.edges} GROUP BY object_type ORDER BY object_type"
    ).to_pylist():
        net = row["object_type"]
        result.networks[net] = {"edges": int(row["n"])}
        if p.significance:
            result.networks[net] |= {"significant": int(row["s"] or 0),
                                     "hypotheses": all_edges.get(net, int(row["n"]))}
    result.caps_count = int(engine.scalar(f"SELECT count(*) FROM {result.caps}") or 0)
    engine.drop(*[t for t in temp if t not in (acc, obj)])
    result._temp = [acc, obj]
    return result


def _plan(p: ResolvedParams) -> int:
    n = len(p.object_types)
    return 3 + n + (n if p.semantics != "civicsentry" else 2) + (1 if p.significance else 0)


def _check_relation(name: str) -> str:
    for part in name.split("."):
        if not part.replace("_", "").isalnum():
            raise InvalidParams(f"{name!r} is not a table name.")
    return name


def _choose_windows(
    engine: DuckDBEngine, p: ResolvedParams, src: str, acc: str, obj: str
) -> list[WindowChoice]:
    out = []
    for t, value in resolve(p.windows, p.object_types, p.default_window).items():
        if value != AUTO:
            given = t in p.windows or "*" in p.windows
            out.append(WindowChoice(t, float(value), "given" if given else "default",
                                    "set by --window" if given else f"default of {p.semantics}"))
            continue
        base = sweep.shares_sql(src, acc, obj, t, engine.dialect, window_us=1, cap=None)
        row = engine.fetch(estimate_sql(f"({base})", engine.dialect, q=p.auto_q, p=p.auto_p)).to_pylist()[0]
        n_objects = int(row["n_objects"] or 0)
        if not n_objects or row["window_us"] is None:
            out.append(WindowChoice(t, p.default_window, "default",
                                    f"auto: no {t} object has two shares; used the default"))
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
        out.append(WindowChoice(t, secs, "estimated", reason, {
            "objects": n_objects, "quick_objects": int(row["n_quick"]),
            "second_share_cut_s": float(row["d2_cut_us"]) / 1e6,
            "min_s": float(row["min_us"]) / 1e6, "max_s": float(row["max_us"]) / 1e6}))
    return out


def _civicsentry(
    engine: DuckDBEngine, p: ResolvedParams, shares: dict[str, str], stats: list[str],
    w_us: dict[str, int], raw: str, temp: list[str], tick: Callable[[str], None],
    tested: dict[str, int],
) -> None:
    level1 = engine.name("level1")
    temp.append(level1)
    parts = [
        coaction.level1_sql(shares[t], st, t, engine.dialect, window_us=w_us[t],
                            cap=p.max_partners, viral_accounts=p.viral_accounts)
        for t, st in zip(p.object_types, stats, strict=True)
    ]
    engine.create(level1, "\nUNION ALL\n".join(parts))
    tick("co-actions")
    # All edges first: their number per network is the m of the multiple-testing
    # correction, whatever min_weight then keeps.
    every = engine.name("edges_all")
    temp.append(every)
    engine.create(
        every,
        coaction.edges_sql(level1, engine.dialect, multi=False,
                           min_participation=p.min_participation)
        + "\nUNION ALL\n"
        + coaction.edges_sql(level1, engine.dialect, multi=True,
                             min_participation=p.min_participation),
    )
    for row in engine.fetch(f"SELECT otype, count(*) AS n FROM {every} GROUP BY otype").to_pylist():
        tested[row["otype"]] = int(row["n"])
    engine.create(raw, f"SELECT * FROM {every} WHERE weight >= {p.min_weight}")
    tick("edges")


def _significance(
    engine: DuckDBEngine, p: ResolvedParams, shares: dict[str, str], w_us: dict[str, int],
    raw: str, out: str, temp: list[str], hypotheses: dict[str, int],
) -> None:
    cand, near, isl, probs = (engine.name(n) for n in ("cand", "near", "islands", "probs"))
    temp += [cand, near, isl, probs]
    engine.create(cand, f"SELECT DISTINCT acc_a, acc_b FROM {raw}")
    inputs = [
        significance.TypeInput(t, shares[t], w_us[t], to_us(p.jitter_for(w_us[t] / 1e6)))
        for t in p.object_types
    ]
    engine.create(near, significance.near_pairs_sql(cand, inputs))
    engine.create(isl, significance.islands_sql(near))
    engine.create(probs, significance.object_probabilities_sql(isl, engine.dialect))
    pr = engine.fetch(f"SELECT otype, acc_a, acc_b, oid, p, coact FROM {probs} "
                      "ORDER BY acc_a, acc_b, otype, oid")
    edges = engine.fetch(f"SELECT otype, acc_a, acc_b FROM {raw}")
    islands = None
    if p.n_null:
        islands = engine.fetch(f"SELECT otype, acc_a, acc_b, oid, jit, lo, hi FROM {isl} "
                               "ORDER BY acc_a, acc_b, otype, oid, lo")
    engine.put(out, edge_pvalues(pr, edges, islands, p, hypotheses))


def edge_pvalues(
    probs: pa.Table, edges: pa.Table, islands: pa.Table | None, p: ResolvedParams,
    hypotheses: dict[str, int] | None = None,
) -> pa.Table:
    """p-value, expected weight under the null, BH q-value and the verdict of every edge,
    network by network (the per-type networks and ``multi``); ``hypotheses`` gives each
    network's number of edges before ``min_weight`` (the m of Benjamini–Hochberg)."""
    ptype = np.asarray(probs.column("otype").to_pylist(), dtype=object)
    pa_a, pa_b = probs.column("acc_a").to_numpy(), probs.column("acc_b").to_numpy()
    pp = probs.column("p").to_numpy(zero_copy_only=False)
    pc_ = probs.column("coact").to_numpy(zero_copy_only=False)
    etype = np.asarray(edges.column("otype").to_pylist(), dtype=object)
    ea, eb = edges.column("acc_a").to_numpy(), edges.column("acc_b").to_numpy()
    span = int(max(pa_a.max(initial=0), pa_b.max(initial=0), ea.max(initial=0), eb.max(initial=0))) + 1
    pkey = pa_a.astype(np.int64) * span + pa_b
    ekey = ea.astype(np.int64) * span + eb
    out: dict[str, list[Any]] = {k: [] for k in ("otype", "acc_a", "acc_b", "expected_weight",
                                                 "p_value", "q_value", "significant")}
    for net in sorted(set(etype.tolist())):
        emask = etype == net
        keys = np.unique(ekey[emask])
        rmask = np.isin(pkey, keys) if net == "multi" else (ptype == net) & np.isin(pkey, keys)
        group = np.searchsorted(keys, pkey[rmask])
        k = np.bincount(group, weights=pc_[rmask], minlength=len(keys)).astype(np.int64)
        expected = np.bincount(group, weights=pp[rmask], minlength=len(keys))
        if islands is not None and p.n_null:
            pv = _monte_carlo(islands, keys, span, net, k, p)
        else:
            pv = significance.poisson_binomial_sf(group, pp[rmask], k, given_one=True)
        q = significance.benjamini_hochberg(pv, (hypotheses or {}).get(net))
        out["otype"] += [net] * len(keys)
        out["acc_a"] += (keys // span).tolist()
        out["acc_b"] += (keys % span).tolist()
        out["expected_weight"] += expected.tolist()
        out["p_value"] += pv.tolist()
        out["q_value"] += q.tolist()
        out["significant"] += (q <= p.alpha).tolist()
    return pa.table({
        "otype": pa.array(out["otype"], pa.string()),
        "acc_a": pa.array(out["acc_a"], pa.int64()),
        "acc_b": pa.array(out["acc_b"], pa.int64()),
        "expected_weight": pa.array(out["expected_weight"], pa.float64()),
        "p_value": pa.array(out["p_value"], pa.float64()),
        "q_value": pa.array(out["q_value"], pa.float64()),
        "significant": pa.array(out["significant"], pa.bool_()),
    })


def _monte_carlo(
    islands: pa.Table, keys: np.ndarray, span: int, net: str, k: np.ndarray, p: ResolvedParams
) -> np.ndarray:
    itype = np.asarray(islands.column("otype").to_pylist(), dtype=object)
    ikey = islands.column("acc_a").to_numpy().astype(np.int64) * span + islands.column("acc_b").to_numpy()
    mask = np.isin(ikey, keys) & ((itype == net) if net != "multi" else True)
    sub = islands.filter(pa.array(mask))
    return significance.monte_carlo_sf(sub, np.searchsorted(keys, ikey[mask]), k,
                                       n_null=p.n_null, seed=p.seed)


def _final_edges_sql(
    engine: DuckDBEngine, p: ResolvedParams, raw: str, acc: str, sig: str | None
) -> str:
    d = engine.dialect
    sig_cols = (
        "s.expected_weight, s.p_value, s.q_value, s.significant"
        if sig else
        "CAST(NULL AS DOUBLE) AS expected_weight, CAST(NULL AS DOUBLE) AS p_value, "
        "CAST(NULL AS DOUBLE) AS q_value, CAST(NULL AS BOOLEAN) AS significant"
    )
    join = (f"LEFT JOIN {sig} s ON s.otype = e.otype AND s.acc_a = e.acc_a AND s.acc_b = e.acc_b"
            if sig else "")
    passthrough = ", ".join(
        f"e.{c}" for c, _ in EDGE_COLUMNS
        if c in ("weight", "weight_ab", "weight_ba", "pairs", "weight_pop", "object_types",
                 "n_content_id", "n_content_id_y", "edge_symmetry_score", "weight_threshold",
                 "capped_objects", "downweighted_objects")
    )
    return f"""
    SELECT '{p.semantics}' AS semantics, e.otype AS object_type,
           a1.account_id AS account_a, a2.account_id AS account_b, {passthrough},
           e.min_delay_us / 1e6 AS min_delay_s, e.median_delay_us / 1e6 AS median_delay_s,
           e.avg_delay_us / 1e6 AS avg_delay_s,
           {d.from_epoch_us("e.first_ts")} AS first_t, {d.from_epoch_us("e.last_ts")} AS last_t,
           coalesce(e.capped_objects, 0) > 0 AS capped,
           coalesce(e.downweighted_objects, 0) > 0 AS downweighted, {sig_cols}
    FROM {raw} e
    JOIN {acc} a1 ON a1.aid = e.acc_a
    JOIN {acc} a2 ON a2.aid = e.acc_b
    {join}
    """


def _final_caps_sql(
    engine: DuckDBEngine, p: ResolvedParams, stats: list[str], shares: dict[str, str],
    obj: str, w_us: dict[str, int], cap: int | None, temp: list[str],
) -> str:
    d = engine.dialect
    if not stats:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS object_type, CAST(NULL AS VARCHAR) AS object_id, "
            "CAST(NULL AS BIGINT) AS n_shares, CAST(NULL AS BIGINT) AS n_accounts, "
            f"{d.from_epoch_us('CAST(NULL AS BIGINT)')} AS first_t, "
            f"{d.from_epoch_us('CAST(NULL AS BIGINT)')} AS last_t, "
            "CAST(NULL AS BIGINT) AS max_partners, CAST(NULL AS BIGINT) AS shares_capped, "
            "CAST(NULL AS BIGINT) AS pairs_within_window, CAST(NULL AS BIGINT) AS pairs_kept, "
            "CAST(NULL AS DOUBLE) AS pop_discount, CAST(NULL AS VARCHAR) AS action WHERE 1 = 0"
        )
    parts = []
    for t, st in zip(p.object_types, stats, strict=True):
        counts = "SELECT CAST(NULL AS BIGINT) AS oid, CAST(NULL AS BIGINT) AS pairs_within, " \
                 "CAST(NULL AS BIGINT) AS pairs_kept WHERE 1 = 0"
        if cap:
            cp = engine.name(f"cappedpairs_{t}")
            engine.create(cp, sweep.capped_pairs_sql(shares[t], st, window_us=w_us[t], cap=cap))
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
           CAST({cap or "NULL"} AS BIGINT) AS max_partners, s.shares_capped,
           s.pairs_within AS pairs_within_window, s.pairs_kept,
           1.0 / log2(CAST(greatest(2, s.n_accounts) AS DOUBLE)) AS pop_discount,
           CASE WHEN s.shares_capped > 0 AND s.n_accounts >= {p.viral_accounts}
                  THEN 'capped,downweighted'
                WHEN s.shares_capped > 0 THEN 'capped' ELSE 'downweighted' END AS action
    FROM ({" UNION ALL ".join(parts)}) s JOIN {obj} o ON o.oid = s.oid
    """
