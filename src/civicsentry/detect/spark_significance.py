"""The significance step on Spark's executors: the arithmetic of ``verdicts.py``, run
per batch of edges, so that no table of edges, rows or delays reaches the driver.

Every edge's screen bound and p-value depends only on its own rows and a few global
totals (``verdicts.Settings``: shares per type, aligned share pairs per class, edges
and m per network), so the rows are hash-partitioned by edge (screen) or by account
pair (exact test), sorted within each partition, and cut into Arrow batches holding
whole groups; each batch goes through the same functions the DuckDB engine applies to
the whole table (``screen_batch``, ``timing_batch``). Monte-Carlo draws stay those of
one seeded stream per network: each (account, object) key is numbered among the
network's keys and a batch jumps the stream to its keys (``significance.uniforms``).
Benjamini–Hochberg needs every p-value of a network; it runs as a distributed sort
(``SparkEngine.number``), blocks of consecutive ranks, and the minimum of each later
block (one number per block reaches the driver), with ``bh_scaled`` and ``bh_step_up``.

What reaches the driver: counts per network and type, the range partitions' row
counts, and one minimum per block of ``BH_BLOCK`` tested edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import significance
from .dialect import PAIR_SHIFT
from .params import ResolvedParams
from .verdicts import Settings, screen_batch, settings, timing_batch
from .windows import to_us

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .spark_engine import SparkEngine

#: Tested edges per Benjamini–Hochberg block: one Python call and one number on the
#: driver each.
BH_BLOCK = 1 << 16


def significance_on_executors(
    engine: SparkEngine,
    p: ResolvedParams,
    shares: dict[str, str],
    w_us: dict[str, int],
    raw: str,
    out: str,
    temp: list[str],
    hypotheses: dict[str, int],
    compared: dict[str, dict[int, int]],
) -> None:
    """Fill table ``out`` (otype, pair, expected_timing, expected_choice, p_timing,
    p_choice, p_value, q_value, significant) as ``pipeline._significance`` does on
    DuckDB, from the candidate rows ``cand_rows`` and the edges ``raw``."""
    types = list(p.object_types)
    names = [*types, "multi"]
    multi = len(types)
    code = "CASE otype " + " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(names)) + " END"
    jit_us = {t: to_us(p.jitter_for(w_us[t] / 1e6)) for t in types}
    d = engine.dialect
    act, edges, screened, surv, near, tested = (
        engine.name(n) for n in ("activity", "sig_edges", "screened", "survivors", "near", "tested")
    )
    temp += [act, edges, screened, surv, near, tested]

    # The small totals: each type's shares, each network's edges.
    engine.create(
        act,
        " UNION ALL ".join(
            f"SELECT {i} AS t, aid, n FROM ({significance.activity_sql(shares[t])}) a{i}"
            for i, t in enumerate(types)
        ),
    )
    n_shares, n_edges = dict.fromkeys(range(multi), 0), {}
    for r in engine.fetch(
        f"SELECT 's' AS k, t AS i, sum(n) AS n FROM {act} GROUP BY t UNION ALL "
        f"SELECT 'e' AS k, {code} AS i, count(*) AS n FROM {raw} GROUP BY 2"
    ).to_pylist():
        (n_shares if r["k"] == "s" else n_edges)[int(r["i"])] = int(r["n"])
    s = settings(
        types,
        w_us,
        jit_us,
        p,
        hypotheses,
        [n_shares[i] for i in range(multi)],
        [compared.get(t, {}) for t in types],
        n_edges,
    )

    # Screen: every edge with its two accounts' activity per type, joined to its rows.
    joins, cols = [], []
    for i in range(multi):
        for side, acc in (("a", d.pair_a("e.pair")), ("b", d.pair_b("e.pair"))):
            joins.append(
                f"LEFT JOIN {act} {side}{i} ON {side}{i}.t = {i} AND {side}{i}.aid = {acc}"
            )
            cols.append(f"CAST(coalesce({side}{i}.n, 0) AS DOUBLE) AS n{side}{i}")
    engine.view(  # read once, by the join below
        edges,
        f"SELECT e.code, e.pair, {', '.join(cols)} FROM "
        f"(SELECT {code} AS code, acc_a * {PAIR_SHIFT} + acc_b AS pair FROM {raw}) e "
        + " ".join(joins),
    )
    rows = engine.spark.sql(
        f"SELECT e.*, r.code AS rcode, r.cls, r.min_delay, r.oid FROM {edges} e "
        f"JOIN (SELECT {code} AS code, pair, oid, min_delay, cls "
        f"FROM {engine.name('cand_rows')}) r "
        f"ON r.pair = e.pair AND (e.code = {multi} OR r.code = e.code)"
    )
    engine.save(
        screened,
        _grouped(
            rows,
            ["code", "pair"],
            ["code", "pair", "rcode", "cls", "min_delay", "oid"],
            partial(_screen, s),
            "code BIGINT, pair BIGINT, keep BOOLEAN, p_choice DOUBLE, lam_choice DOUBLE",
        ),
    )

    # The exact test of the survivors, from their share delays (the DuckDB SQL).
    engine.create(surv, f"SELECT DISTINCT pair FROM {screened} WHERE keep")
    inputs = [significance.TypeInput(i, shares[t], w_us[t], jit_us[t]) for i, t in enumerate(types)]
    co_rows = f"(SELECT {code} AS code, pair, oid FROM {engine.name('cand_rows')})"
    engine.create(near, significance.near_pairs_sql(surv, inputs, co_rows, d))
    per_net = ", ".join(
        f"max(CASE WHEN code = {i} THEN p_choice END) AS pc{i}, "
        f"max(CASE WHEN code = {i} THEN lam_choice END) AS lam{i}"
        for i in range(multi + 1)
    )
    info = ", ".join(f"t.pc{i}, t.lam{i}" for i in range(multi + 1))
    (engine.create if p.n_null else engine.view)(  # read once unless Monte Carlo
        tested,
        f"SELECT n.code, n.pair, n.oid, n.d, n.coact, {info} FROM {near} n JOIN "
        f"(SELECT pair, {per_net} FROM {screened} WHERE pair IN (SELECT pair FROM {surv}) "
        "GROUP BY pair) t ON t.pair = n.pair",
    )
    sources = engine.name("sig_input")
    n_keys: dict[int, int] = {}
    if p.n_null:
        n_keys = _number_keys(engine, tested, sources, multi, temp)
    else:
        engine.view(sources, f"SELECT * FROM {tested}")
        temp.append(sources)
    timed = engine.name("timed")
    temp.append(timed)
    engine.save(
        timed,
        _grouped(
            engine.spark.table(sources),
            ["pair"],
            ["pair", "oid", "d DESC"],
            partial(_timing, s, n_keys),
            "code BIGINT, pair BIGINT, expected_timing DOUBLE, expected_choice DOUBLE, "
            "p_timing DOUBLE, p_choice DOUBLE, p_value DOUBLE",
        ),
    )
    _benjamini_hochberg(engine, s, timed, out, temp)


# -- Monte-Carlo keys ------------------------------------------------------------------


def _number_keys(
    engine: SparkEngine, tested: str, out: str, multi: int, temp: list[str]
) -> dict[int, int]:
    """Number each network's (account, object) keys 0..n−1 in (account, object) order,
    as ``monte_carlo_sf`` orders them, and add to every row of ``tested`` its keys'
    numbers in its own type's network (ka, kb) and in multi (kam, kbm). Returns n per
    network."""
    d = engine.dialect
    keys, objs = engine.name("mc_keys"), engine.name("mc_objects")
    temp += [keys, objs, out]
    engine.view(
        objs,
        f"SELECT DISTINCT code, pair, oid, pc{multi} IS NOT NULL AS in_multi, "
        + "CASE code "
        + " ".join(f"WHEN {i} THEN pc{i} IS NOT NULL" for i in range(multi))
        + f" END AS in_own FROM {tested}",
    )
    parts = []
    for side in (d.pair_a("pair"), d.pair_b("pair")):
        parts.append(f"SELECT code AS net, {side} AS acc, oid FROM {objs} WHERE in_own")
        parts.append(f"SELECT {multi} AS net, {side} AS acc, oid FROM {objs} WHERE in_multi")
    engine.number(
        keys, f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) k", ["net", "acc", "oid"], "k"
    )
    counts = {
        int(r["net"]): int(r["n"])
        for r in engine.fetch(f"SELECT net, count(*) AS n FROM {keys} GROUP BY net").to_pylist()
    }
    start, base = {}, 0
    for net in sorted(counts):
        start[net], base = base, base + counts[net]
    first = " ".join(f"WHEN {n} THEN {b + 1}" for n, b in start.items())
    index = f"k.k - CASE k.net {first} END"
    joins, cols = [], []
    for name, net, side in (
        ("ka", "t.code", d.pair_a("t.pair")),
        ("kb", "t.code", d.pair_b("t.pair")),
        ("kam", str(multi), d.pair_a("t.pair")),
        ("kbm", str(multi), d.pair_b("t.pair")),
    ):
        joins.append(
            f"LEFT JOIN (SELECT net, acc, oid, {index} AS i FROM {keys} k) {name} "
            f"ON {name}.net = {net} AND {name}.acc = {side} AND {name}.oid = t.oid"
        )
        cols.append(f"coalesce({name}.i, -1) AS {name}")
    engine.create(out, f"SELECT t.*, {', '.join(cols)} FROM {tested} t " + " ".join(joins))
    engine.drop(keys, objs)
    return counts


# -- batches of whole groups -----------------------------------------------------------

Batch = Callable[[pa.Table], pa.RecordBatch]


def _grouped(
    df: DataFrame, group: list[str], order: list[str], fn: Batch, schema: str
) -> DataFrame:
    """``fn`` over Arrow batches of ``df`` hash-partitioned by ``group`` and sorted by
    ``order`` within partitions, each batch holding whole groups."""
    from pyspark.sql import functions as F

    sort = [F.desc(c.split()[0]) if c.endswith(" DESC") else F.col(c) for c in order]
    return (
        df.repartition(*group)
        .sortWithinPartitions(*sort)
        .mapInArrow(partial(_whole_groups, fn, group), schema)
    )


def _whole_groups(
    fn: Batch, keys: list[str], batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Regroup a sorted partition's Arrow batches so that no group is split: the last
    group of a batch waits for the next one."""
    carry: pa.Table | None = None
    for batch in batches:
        t = pa.Table.from_batches([batch])
        if carry is not None:
            t = pa.concat_tables([carry, t])
        if not t.num_rows:
            continue
        last = np.ones(t.num_rows, bool)
        for k in keys:
            col = t.column(k).to_numpy()
            last &= col == col[-1]
        other = np.flatnonzero(~last)
        cut = int(other[-1]) + 1 if len(other) else 0
        if cut:
            yield fn(t.slice(0, cut).combine_chunks())
        carry = t.slice(cut)
    if carry is not None and carry.num_rows:
        yield fn(carry.combine_chunks())


def _np(t: pa.Table, name: str, dtype: type | None = None) -> np.ndarray:
    a = t.column(name).to_numpy()
    return a if dtype is None else a.astype(dtype)


def _screen(s: Settings, t: pa.Table) -> pa.RecordBatch:
    """``screen_batch`` over the edges of a batch (rows sorted by code, pair, rcode,
    cls, min_delay, oid)."""
    codes, pairs = _np(t, "code", np.int64), _np(t, "pair", np.int64)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("code", "pair", "keep", "pc", "lam")}
    for net in (int(n) for n in np.unique(codes)):
        sel = np.flatnonzero(codes == net)
        keys, first = np.unique(pairs[sel], return_index=True)
        at = sel[first]
        na = np.stack([_np(t, f"na{i}", np.float64)[at] for i in range(s.n_types)])
        nb = np.stack([_np(t, f"nb{i}", np.float64)[at] for i in range(s.n_types)])
        keep, p_choice, lam = screen_batch(
            s,
            net,
            keys,
            na,
            nb,
            _np(t, "rcode", np.int64)[sel],
            pairs[sel],
            _np(t, "cls", np.int64)[sel],
            _np(t, "min_delay")[sel],
        )
        out["code"].append(np.full(len(keys), net, np.int64))
        out["pair"].append(keys)
        out["keep"].append(keep)
        out["pc"].append(p_choice)
        out["lam"].append(lam)
    return pa.RecordBatch.from_arrays(
        [pa.array(np.concatenate(out[k])) for k in ("code", "pair", "keep", "pc", "lam")],
        names=["code", "pair", "keep", "p_choice", "lam_choice"],
    )


def _timing(s: Settings, n_keys: dict[int, int], t: pa.Table) -> pa.RecordBatch:
    """``timing_batch`` over the pairs of a batch (rows sorted by pair, oid, descending
    d; the saturated objects, d NULL, go after the others as on DuckDB)."""
    saturated = pc.is_null(t.column("d"))
    near, sat = t.filter(pc.invert(saturated)), t.filter(saturated)
    probs = significance.object_probabilities(
        _np(near, "pair", np.int64),
        _np(near, "code", np.int64),
        _np(near, "oid"),
        _np(near, "d"),
        s.w[_np(near, "code", np.int64)],
        s.jit[_np(near, "code", np.int64)],
        presorted=True,
    )
    if sat.num_rows:
        s_codes = _np(sat, "code", np.int64)
        probs = significance.with_saturated(
            probs,
            _np(sat, "pair", np.int64),
            s_codes,
            _np(sat, "oid"),
            _np(sat, "coact"),
            s.jit[s_codes],
        )
    # Each object row's first input row, for its key numbers (Monte Carlo).
    n_pair, n_oid = _np(near, "pair", np.int64), _np(near, "oid")
    new_obj = np.ones(len(n_pair), bool)
    new_obj[1:] = (n_pair[1:] != n_pair[:-1]) | (n_oid[1:] != n_oid[:-1])
    obj_first = np.flatnonzero(new_obj)

    def object_column(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([_np(near, name, dtype)[obj_first], _np(sat, name, dtype)])

    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("code", "pair", "e", "lam", "pt", "pc", "pv")
    }
    for net in range(s.n_types + 1):
        has = ~pc.is_null(t.column(f"pc{net}")).to_numpy(zero_copy_only=False)
        keys, first = np.unique(_np(t, "pair", np.int64)[has], return_index=True)
        if not len(keys):
            continue
        at = np.flatnonzero(has)[first]
        p_choice = _np(t, f"pc{net}", np.float64)[at]
        key_index = None
        if s.n_null:
            own = net < s.n_types
            key_index = (
                object_column("ka" if own else "kam", np.int64),
                object_column("kb" if own else "kbm", np.int64),
                n_keys.get(net, 0),
            )
        expected, pt, pv = timing_batch(s, net, keys, p_choice, probs, key_index)
        out["code"].append(np.full(len(keys), net, np.int64))
        out["pair"].append(keys)
        out["e"].append(expected)
        out["lam"].append(_np(t, f"lam{net}", np.float64)[at])
        out["pt"].append(pt)
        out["pc"].append(p_choice)
        out["pv"].append(pv)
    names = ["code", "pair", "expected_timing", "expected_choice", "p_timing", "p_choice"]
    names.append("p_value")
    if not out["code"]:
        return pa.RecordBatch.from_arrays(
            [pa.array([], pa.int64())] * 2 + [pa.array([], pa.float64())] * 5, names=names
        )
    return pa.RecordBatch.from_arrays(
        [pa.array(np.concatenate(out[k])) for k in ("code", "pair", "e", "lam", "pt", "pc", "pv")],
        names=names,
    )


# -- Benjamini–Hochberg ----------------------------------------------------------------


def _benjamini_hochberg(
    engine: SparkEngine, s: Settings, timed: str, out: str, temp: list[str]
) -> None:
    """q-values per network over its m hypotheses, from a distributed sort: ranks by
    (network, p-value, pair) — numpy's stable order of the same keys — cut into blocks
    of ``BH_BLOCK`` consecutive ranks; per block the minimum of p·m/rank goes to the
    driver, which hands each block the minimum of the blocks after it."""
    ranked = engine.name("bh_ranked")
    temp.append(ranked)
    engine.number(
        ranked, f"SELECT code, pair, p_value FROM {timed}", ["code", "p_value", "pair"], "g"
    )
    counts = {
        int(r["code"]): int(r["n"])
        for r in engine.fetch(f"SELECT code, count(*) AS n FROM {ranked} GROUP BY code").to_pylist()
    }
    start, base = {}, 0
    for net in sorted(counts):
        start[net], base = base, base + counts[net]
    rank = "g - CASE code " + " ".join(f"WHEN {n} THEN {b}" for n, b in start.items()) + " END"
    blocks = engine.spark.sql(
        f"SELECT code, pair, p_value, {rank} AS r FROM {ranked}"
        if counts
        else f"SELECT code, pair, p_value, g AS r FROM {ranked}"
    ).withColumn("block", _block_of())
    m = {net: s.m(net) for net in counts}

    # Closures with type hints: PySpark infers applyInArrow's kind from them (a partial
    # has none, and then fails).
    def block_min(t: pa.Table) -> pa.Table:
        return _block_min(m, t)

    mins = {
        (int(r["code"]), int(r["block"])): float(r["low"])
        for r in blocks.groupBy("code", "block")
        .applyInArrow(block_min, "code BIGINT, block BIGINT, low DOUBLE")
        .collect()
    }
    later: dict[tuple[int, int], float] = {}
    for net in counts:
        tail = np.inf
        for b in sorted((b for n, b in mins if n == net), reverse=True):
            later[(net, b)] = tail
            tail = min(tail, mins[(net, b)])
    alpha = s.alpha

    def block_q(t: pa.Table) -> pa.Table:
        return _block_q(m, later, alpha, t)

    q = blocks.groupBy("code", "block").applyInArrow(
        block_q, "code BIGINT, pair BIGINT, q_value DOUBLE, significant BOOLEAN"
    )
    qs = engine.name("bh_q")
    temp.append(qs)
    engine.save(qs, q)
    otype = (
        "CASE t.code " + " ".join(f"WHEN {i} THEN '{n}'" for i, n in enumerate(s.names)) + " END"
    )
    engine.create(
        out,
        f"SELECT {otype} AS otype, t.pair, t.expected_timing, t.expected_choice, t.p_timing, "
        "t.p_choice, t.p_value, q.q_value, q.significant "
        f"FROM {timed} t JOIN {qs} q ON q.code = t.code AND q.pair = t.pair",
    )


def _block_of() -> object:
    from pyspark.sql import functions as F

    return F.expr(f"(r - 1) div {BH_BLOCK}")


def _sorted_block(t: pa.Table) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    r = _np(t, "r", np.int64)
    order = np.argsort(r, kind="stable")
    net, block = int(t.column("code")[0].as_py()), int(t.column("block")[0].as_py())
    return (
        net,
        block,
        r[order],
        _np(t, "p_value", np.float64)[order],
        _np(t, "pair", np.int64)[order],
    )


def _block_min(m: dict[int, int], t: pa.Table) -> pa.Table:
    net, block, r, p, _ = _sorted_block(t)
    low = float(significance.bh_scaled(p, m[net], int(r[0])).min())
    return pa.table({"code": [net], "block": [block], "low": [low]})


def _block_q(
    m: dict[int, int], later: dict[tuple[int, int], float], alpha: float, t: pa.Table
) -> pa.Table:
    net, block, r, p, pairs = _sorted_block(t)
    q = significance.bh_step_up(significance.bh_scaled(p, m[net], int(r[0])), later[(net, block)])
    return pa.table(
        {
            "code": pa.array(np.full(len(q), net, np.int64)),
            "pair": pa.array(pairs),
            "q_value": pa.array(q),
            "significant": pa.array(q <= alpha),
        }
    )
