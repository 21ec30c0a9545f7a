"""Chance: how often would these two accounts co-act if their timing were only loosely
tied to each other?

Null model (a "jitter" null, as used for spike-train synchrony): every account's shares
of one object are displaced together by a random offset δ ~ Uniform[−D, D], independently
per (account, object). It keeps each account's activity (every share, on the same
object, within ±D of when it happened — its volume per object and per hour) and each
object's popularity (all its shares and accounts, and its time profile at scales above
D), and destroys only alignment finer than D. D defaults to 10 × the type's window.

Under it, a pair (a, b) co-acts on object o when the relative shift s = δ_b − δ_a
(triangular on [−2D, 2D]) brings some share pair within the window:
s ∈ I_o = ⋃ [−d − w, −d + w] over the pair's share delays d on o. So

    p_o = P(s ∈ I_o)   (exact: merge the intervals, integrate the triangular density)

and, objects being independent, the number of co-acted objects W is Poisson-binomial
with these p_o. We only ever look at pairs that co-acted at least once (an edge), so the
edge's p-value is the selective one, P(W ≥ observed W | W ≥ 1), computed exactly; an
edge of weight 1 has p = 1 and is never tested, but it counts in the number of
hypotheses m that Benjamini–Hochberg corrects for. Only share
pairs with |d| ≤ w + 2D of the tested pairs matter (p_o = 0 beyond), so this never
re-runs the detector. ``n_null > 0`` replaces the exact tail with a Monte-Carlo one
(R draws of the offsets from a seeded generator; p = (1 + #{W_r ≥ W}) / (R + 1)), which
tests use to check the exact computation. Benjamini–Hochberg then controls the false
discovery rate across the edges of each network.

Caveat: objects that always travel together (two hashtags of one post, a URL and its
domain) are not independent, which overstates significance for such pairs; and any
real process that aligns accounts at a scale finer than D (a breaking-news push
notification) looks like coordination to this null. Apparent coordination may be
coincidence; the p-value says how surprising the timing is, not why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .dialect import Dialect
from .sweep import lit


@dataclass(frozen=True)
class TypeInput:
    """One object type's shares table and its window and jitter, in microseconds."""

    object_type: str
    shares: str
    window_us: int
    jitter_us: int


def near_pairs_sql(candidates: str, inputs: list[TypeInput]) -> str:
    """Every share pair of each candidate account pair on a common object with
    |d| ≤ w + 2D (d = t_b − t_a), per type."""
    parts = []
    for ti in inputs:
        reach = ti.window_us + 2 * ti.jitter_us
        parts.append(f"""
        SELECT {lit(ti.object_type)} AS otype, c.acc_a, c.acc_b, sa.oid, sb.ts - sa.ts AS d,
               CAST({ti.window_us} AS BIGINT) AS w, CAST({ti.jitter_us} AS BIGINT) AS jit
        FROM {candidates} c
        JOIN {ti.shares} sa ON sa.aid = c.acc_a
        JOIN {ti.shares} sb ON sb.aid = c.acc_b AND sb.oid = sa.oid
        WHERE sb.ts - sa.ts BETWEEN {-reach} AND {reach}
        """)
    return "\nUNION ALL\n".join(parts)


def islands_sql(near: str) -> str:
    """Per (pair, object): the union of the shift intervals, as disjoint islands
    [lo, hi] clipped to [−2D, 2D] (gaps-and-islands over intervals sorted by start)."""
    part = "PARTITION BY acc_a, acc_b, otype, oid"
    return f"""
    WITH iv AS (
      SELECT otype, acc_a, acc_b, oid, jit,
             CAST(greatest(-d - w, -2 * jit) AS DOUBLE) AS lo,
             CAST(least(-d + w, 2 * jit) AS DOUBLE) AS hi
      FROM {near}
    ),
    o AS (
      SELECT *, max(hi) OVER ({part} ORDER BY lo, hi
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
      FROM iv
    ),
    g AS (
      SELECT *, sum(CASE WHEN prev_hi IS NULL OR lo > prev_hi THEN 1 ELSE 0 END)
                OVER ({part} ORDER BY lo, hi ROWS UNBOUNDED PRECEDING) AS island
      FROM o
    )
    SELECT otype, acc_a, acc_b, oid, jit, min(lo) AS lo, max(hi) AS hi
    FROM g GROUP BY otype, acc_a, acc_b, oid, jit, island
    """


def _cdf(s: str, jit: str) -> str:
    """CDF of the triangular density on [−2D, 2D] (difference of two U[−D, D])."""
    return (
        f"(CASE WHEN {s} <= 0 THEN ({s} + 2 * {jit}) * ({s} + 2 * {jit}) / (8.0 * {jit} * {jit}) "
        f"ELSE 1 - (2 * {jit} - {s}) * (2 * {jit} - {s}) / (8.0 * {jit} * {jit}) END)"
    )


def object_probabilities_sql(islands: str, dialect: Dialect) -> str:
    """Per (pair, object): p_o under the null and whether the pair co-acted on it."""
    del dialect  # standard SQL only
    return f"""
    SELECT otype, acc_a, acc_b, oid,
           sum({_cdf("hi", "jit")} - {_cdf("lo", "jit")}) AS p,
           max(CASE WHEN lo <= 0 AND hi >= 0 THEN 1 ELSE 0 END) AS coact
    FROM {islands} GROUP BY otype, acc_a, acc_b, oid
    """


# -- the numbers ---------------------------------------------------------------------


def poisson_binomial_sf(
    groups: np.ndarray, p: np.ndarray, k: np.ndarray, *, given_one: bool = False
) -> np.ndarray:
    """P(W_g ≥ k_g) for W_g = Σ Bernoulli(p_i) over the rows i of group g, or with
    ``given_one`` P(W_g ≥ k_g | W_g ≥ 1).

    ``groups`` are row group ids 0..G−1, ``k`` one threshold per group. Exact dynamic
    programming, vectorised across groups; the state keeps counts 0..K−1 and "≥ K".
    """
    n_groups = len(k)
    out = np.ones(n_groups)
    if n_groups == 0:
        return out
    if given_one:
        with np.errstate(divide="ignore"):
            log_none = np.bincount(groups, weights=np.log1p(-np.clip(p, 0.0, 1.0)),
                                   minlength=n_groups)
        p1 = 1.0 - np.exp(log_none)
        tail = poisson_binomial_sf(groups, p, k)
        return np.clip(np.where(p1 > 0, tail / np.where(p1 > 0, p1, 1.0), 1.0), 0.0, 1.0)
    order = np.argsort(groups, kind="stable")
    g_sorted, p_sorted = groups[order], np.clip(p[order], 0.0, 1.0)
    counts = np.bincount(g_sorted, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    need = (k > 0) & (k <= counts)
    out[k > counts] = 0.0
    # Bucket groups by the state width they need (next power of two of k) to keep
    # the DP matrix small even when a few pairs co-act on hundreds of objects.
    width = np.where(need, 2 ** np.ceil(np.log2(np.maximum(k, 1))).astype(np.int64), 0)
    for w in np.unique(width[need]):
        sel = np.flatnonzero(need & (width == w))
        sel = sel[np.argsort(-counts[sel], kind="stable")]
        n_sel, w = counts[sel], int(w)
        state = np.zeros((len(sel), w + 1))
        state[:, 0] = 1.0
        for j in range(int(n_sel[0])):
            active = int(np.searchsorted(-n_sel, -j, side="left"))  # groups with n > j
            if active == 0:
                break
            pj = p_sorted[starts[sel[:active]] + j][:, None]
            s = state[:active]
            new = s * (1.0 - pj)
            new[:, 1:] += s[:, :-1] * pj
            new[:, w] += s[:, w] * pj[:, 0]  # "≥ w" absorbs
            state[:active] = new
        kk = k[sel]
        cum = np.cumsum(state[:, ::-1], axis=1)[:, ::-1]  # cum[:, i] = P(W ≥ i)
        out[sel] = cum[np.arange(len(sel)), kk]
    return np.clip(out, 0.0, 1.0)


def monte_carlo_sf(
    islands: pa.Table, pair_index: np.ndarray, observed: np.ndarray, *, n_null: int, seed: int
) -> np.ndarray:
    """Empirical p = (1 + #{W_r ≥ W}) / (1 + #{W_r ≥ 1}) by drawing the offsets
    themselves: among R draws, those where the pair co-acts at all.

    ``islands`` has acc_a, acc_b, otype, oid, jit, lo, hi, sorted by pair then object;
    ``pair_index`` maps each island row to its pair 0..P−1. Offsets are drawn per
    (account, type, object) key, in key order, 64 draws at a time from one seeded
    generator, so the result depends only on the data, R and the seed.
    """
    acc_a = islands.column("acc_a").to_numpy()
    acc_b = islands.column("acc_b").to_numpy()
    oid = islands.column("oid").to_numpy()
    jit = islands.column("jit").to_numpy().astype(float)
    lo = islands.column("lo").to_numpy()
    hi = islands.column("hi").to_numpy()
    keys = np.unique(np.concatenate([np.stack([acc_a, oid], 1), np.stack([acc_b, oid], 1)]), axis=0)
    ka = _key_index(keys, acc_a, oid)
    kb = _key_index(keys, acc_b, oid)
    # Object boundaries within the island rows (an object may have several islands).
    obj_start = np.flatnonzero(
        np.concatenate(([True], (acc_a[1:] != acc_a[:-1]) | (acc_b[1:] != acc_b[:-1])
                        | (oid[1:] != oid[:-1])))
    )
    obj_pair = pair_index[obj_start]
    n_pairs = len(observed)
    exceed = np.zeros(n_pairs, dtype=np.int64)
    at_least_one = np.zeros(n_pairs, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chunk = 64
    for start in range(0, n_null, chunk):
        r = min(chunk, n_null - start)
        u = rng.random((len(keys), chunk))[:, :r]
        delta_a, delta_b = (2 * u[ka] - 1) * jit[:, None], (2 * u[kb] - 1) * jit[:, None]
        s = delta_b - delta_a
        inside = ((s >= lo[:, None]) & (s <= hi[:, None])).astype(np.int64)
        per_obj = np.maximum.reduceat(inside, obj_start, axis=0)
        w_null = np.zeros((n_pairs, r), dtype=np.int64)
        np.add.at(w_null, obj_pair, per_obj)
        exceed += (w_null >= observed[:, None]).sum(axis=1)
        at_least_one += (w_null >= 1).sum(axis=1)
    # Conditional on the pair co-acting at all, as the exact p-value (see pipeline).
    return np.minimum(1.0, (1.0 + exceed) / (1.0 + at_least_one))


def _key_index(keys: np.ndarray, acc: np.ndarray, oid: np.ndarray) -> np.ndarray:
    # keys are sorted lexicographically by (acc, oid): search on a combined int key.
    span = int(keys[:, 1].max()) + 1 if len(keys) else 1
    flat = keys[:, 0].astype(np.int64) * span + keys[:, 1]
    return np.searchsorted(flat, acc.astype(np.int64) * span + oid)


def benjamini_hochberg(p: np.ndarray, m: int | None = None) -> np.ndarray:
    """BH-adjusted q-values (step-up, monotone), one per p-value.

    ``m`` (≥ len(p)) counts hypotheses that were screened out untested; they enter as
    p = 1, which can only make the result more conservative.
    """
    n = len(p)
    m = n if m is None else max(int(m), n)
    if n == 0:
        return p.astype(float)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out
