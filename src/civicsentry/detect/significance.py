"""Chance: would these two accounts co-act this often if they were not coordinated?

An edge must be surprising under two null models, each keeping every account's
activity and every object's popularity; its p-value is the larger of the two
(an intersection–union test: it is valid whichever null holds).

**Choice null** (which objects): the account labels of all shares of a type are
shuffled, keeping each account's number of shares and each share's object and time.
Two accounts then co-act by chance in proportion to how active they both are and to how
bunched the shares are: on objects of one popularity class c (shared by 2^c to
2^(c+1) − 1 accounts), E[co-acting share pairs] = 2 P_c · n_a · n_b / (S(S − 1)), with S
shares of the type, n_a and n_b the pair's shares, P_c the class's share pairs within
the window. The co-acting pairs are Poisson with that mean; the co-acted objects never
exceed them, so the Poisson tail is conservative. The edge keeps its most surprising
class, Šidák-corrected for the number of classes. This is what separates a coordinated
pair from two hyperactive accounts that both react to every viral post: co-acting on
ten niche posts is rare, on ten viral posts it is expected.

**Timing null** (a "jitter" null, as used for spike-train synchrony): every account's shares
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

from .dialect import Dialect


@dataclass(frozen=True)
class TypeInput:
    """One object type's code, shares table, window and jitter (microseconds)."""

    code: int
    shares: str
    window_us: int
    jitter_us: int


#: A (pair, object) where the two accounts have more than this many share pairs (their
#: shares of the object multiplied) is not enumerated: its p_o is set to 1, which can
#: only make p-values larger. Spam-like repeats cost the most and say the least.
SATURATION = 256


def near_pairs_sql(survivors: str, inputs: list[TypeInput], co_rows: str, dialect: Dialect) -> str:
    """Per surviving account pair (``survivors.pair``) and common object: every share
    pair with |d| ≤ w + 2D (d = t_b − t_a), or, when the pair's share pairs on the object
    exceed ``SATURATION``, a single row with d NULL and ``coact`` from the co-action rows
    ``co_rows`` (code, pair, oid) — that object then counts as certain under the null."""
    parts = []
    a, b = dialect.pair_a, dialect.pair_b
    for ti in inputs:
        reach = ti.window_us + 2 * ti.jitter_us
        accounts = (
            f"(SELECT {a('pair')} AS aid FROM {survivors} "
            f"UNION SELECT {b('pair')} FROM {survivors})"
        )
        counts = (
            f"(SELECT aid, oid, count(*) AS n FROM {ti.shares} "
            f"WHERE aid IN (SELECT aid FROM {accounts} x) GROUP BY aid, oid)"
        )
        parts.append(f"""
        SELECT c.pair, na.oid, na.n * nb.n > {SATURATION} AS saturated
        FROM {survivors} c
        JOIN {counts} na ON na.aid = {a("c.pair")}
        JOIN {counts} nb ON nb.aid = {b("c.pair")} AND nb.oid = na.oid
        """)
        common = parts.pop()
        parts.append(f"""
        SELECT {ti.code} AS code, m.pair, m.oid, sb.ts - sa.ts AS d, 0 AS coact
        FROM ({common}) m
        JOIN {ti.shares} sa ON sa.aid = {a("m.pair")} AND sa.oid = m.oid
        JOIN {ti.shares} sb ON sb.aid = {b("m.pair")} AND sb.oid = m.oid
        WHERE NOT m.saturated AND sb.ts - sa.ts BETWEEN {-reach} AND {reach}
        UNION ALL
        SELECT {ti.code} AS code, m.pair, m.oid, CAST(NULL AS BIGINT) AS d,
               CASE WHEN EXISTS (SELECT 1 FROM {co_rows} r WHERE r.code = {ti.code}
                                 AND r.pair = m.pair AND r.oid = m.oid) THEN 1 ELSE 0 END AS coact
        FROM ({common}) m WHERE m.saturated
        """)
    return "\nUNION ALL\n".join(parts)


def popularity_class(n_accounts: str) -> str:
    """SQL: the popularity class of an object shared by n accounts, ⌊log2 n⌋ (2–3 → 1,
    4–7 → 2, …, 1,024–2,047 → 10)."""
    return f"CAST(floor(log2(CAST(greatest({n_accounts}, 1) AS DOUBLE))) AS BIGINT)"


def activity_sql(shares: str) -> str:
    """Shares per account in one type (the account's activity)."""
    return f"SELECT aid, count(*) AS n FROM {shares} GROUP BY aid"


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(key, return_inverse=True, return_counts=True), in linear time when the
    keys already come sorted (the engine sorts them)."""
    if len(key) and not np.all(key[1:] >= key[:-1]):
        return np.unique(key, return_inverse=True, return_counts=True)  # type: ignore[return-value]
    start = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(start, len(key)))
    inv = np.repeat(np.arange(len(start)), counts)
    return key[start], inv, counts


def choice_pvalues(
    edge: np.ndarray, stratum: np.ndarray, lam: np.ndarray, n_edges: int, n_strata: int
) -> np.ndarray:
    """The choice null's p-value per edge from its co-acted objects.

    Rows are (edge, stratum, λ) per co-acted object, a stratum being an (object type,
    popularity class); λ is the pair's expected co-acting share pairs in that stratum.
    Per stratum, the co-acted objects are compared with Poisson(λ) (a bound for the
    distinct objects, which never exceed the share pairs); the edge keeps its most
    surprising stratum, Šidák-corrected for the ``n_strata`` it could have used.
    """
    from scipy.special import gammainc  # P(Poisson(λ) ≥ k) = gammainc(k, λ), k ≥ 1

    out = np.ones(n_edges)
    if len(edge) == 0:
        return out
    stride = int(stratum.max()) + 1
    key = edge.astype(np.int64) * stride + stratum
    uniq, inv, k = _runs(key)
    lam_u = np.zeros(len(uniq))
    lam_u[inv] = lam
    p = gammainc(k.astype(float), np.maximum(lam_u, 1e-300))
    np.minimum.at(out, uniq // stride, p)
    c = max(int(n_strata), 1)
    return np.clip(-np.expm1(c * np.log1p(-np.minimum(out, 1 - 1e-16))), 0.0, 1.0)


def triangular_cdf(s: np.ndarray, jit: np.ndarray) -> np.ndarray:
    """CDF of the triangular density on [−2D, 2D] (the difference of two U[−D, D])."""
    s = np.clip(s, -2 * jit, 2 * jit)
    lower = (s + 2 * jit) ** 2 / (8.0 * jit * jit)
    upper = 1.0 - (2 * jit - s) ** 2 / (8.0 * jit * jit)
    return np.where(s <= 0, lower, upper)


@dataclass(frozen=True)
class ObjectProbabilities:
    """Per (pair, object): its null probability ``p`` and whether the pair co-acted;
    ``islands`` (lo, hi, object row) are the merged shift intervals, for Monte Carlo."""

    pair: np.ndarray  # pair key per object row
    otype: np.ndarray  # network code of the object's type, per object row
    oid: np.ndarray
    jit: np.ndarray
    p: np.ndarray
    coact: np.ndarray
    island_lo: np.ndarray
    island_hi: np.ndarray
    island_obj: np.ndarray  # object row of each island


def with_saturated(
    probs: ObjectProbabilities,
    pair: np.ndarray,
    otype: np.ndarray,
    oid: np.ndarray,
    coact: np.ndarray,
    jit: np.ndarray,
) -> ObjectProbabilities:
    """Add (pair, object) rows that were not enumerated (``SATURATION``): p_o = 1, one
    island covering every shift."""
    n0 = len(probs.p)
    jit = jit.astype(float)
    return ObjectProbabilities(
        np.concatenate([probs.pair, pair]),
        np.concatenate([probs.otype, otype]),
        np.concatenate([probs.oid, oid]),
        np.concatenate([probs.jit, jit]),
        np.concatenate([probs.p, np.ones(len(pair))]),
        np.concatenate([probs.coact, coact.astype(np.int64)]),
        np.concatenate([probs.island_lo, -2 * jit]),
        np.concatenate([probs.island_hi, 2 * jit]),
        np.concatenate([probs.island_obj, n0 + np.arange(len(pair))]),
    )


def object_probabilities(
    pair: np.ndarray,
    otype: np.ndarray,
    oid: np.ndarray,
    d: np.ndarray,
    w: np.ndarray,
    jit: np.ndarray,
    *,
    presorted: bool = False,
) -> ObjectProbabilities:
    """From the share delays d = t_b − t_a of each (pair, object), the exact p_o.

    The intervals [−d − w, −d + w] of one (pair, object) all have length 2w, so sorted by
    centre they merge into islands wherever consecutive centres are ≤ 2w apart; each
    island is [first centre − w, last centre + w], clipped to [−2D, 2D]. ``presorted``:
    rows already come ordered by pair, object and descending d (the engine sorted them).
    """
    c = -d.astype(float)
    if not presorted:
        order = np.lexsort((c, oid, pair))
        pair, otype, oid, c, w, jit = (x[order] for x in (pair, otype, oid, c, w, jit))
    w, jit = w.astype(float), jit.astype(float)
    n = len(c)
    if n == 0:
        e, i = np.zeros(0), np.zeros(0, np.int64)
        return ObjectProbabilities(i, i, i, e, e, i, e, e, i)
    new_obj = np.ones(n, bool)
    new_obj[1:] = (pair[1:] != pair[:-1]) | (oid[1:] != oid[:-1])
    new_isl = new_obj.copy()
    new_isl[1:] |= (c[1:] - c[:-1]) > 2 * w[1:]
    isl_start = np.flatnonzero(new_isl)
    isl_end = np.append(isl_start[1:], n) - 1
    lo = np.maximum(c[isl_start] - w[isl_start], -2 * jit[isl_start])
    hi = np.minimum(c[isl_end] + w[isl_start], 2 * jit[isl_start])
    mass = np.maximum(triangular_cdf(hi, jit[isl_start]) - triangular_cdf(lo, jit[isl_start]), 0)
    obj_start = np.flatnonzero(new_obj)
    obj_of_isl = np.cumsum(new_obj)[isl_start] - 1
    p_obj = np.bincount(obj_of_isl, weights=mass, minlength=len(obj_start))
    obj_of_row = np.cumsum(new_obj) - 1
    coact = np.bincount(obj_of_row, weights=(np.abs(c) <= w), minlength=len(obj_start)) > 0
    return ObjectProbabilities(
        pair[obj_start],
        otype[obj_start],
        oid[obj_start],
        jit[obj_start],
        np.clip(p_obj, 0.0, 1.0),
        coact.astype(np.int64),
        lo,
        hi,
        obj_of_isl,
    )


def closest_pair_probability(min_delay: np.ndarray, w: np.ndarray, jit: np.ndarray) -> np.ndarray:
    """A lower bound of p_o from the pair's closest share pair on the object alone (the
    union of intervals contains that one interval)."""
    c = -min_delay.astype(float)
    w, jit = w.astype(float), jit.astype(float)
    return np.maximum(triangular_cdf(c + w, jit) - triangular_cdf(c - w, jit), 0.0)


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
            log_none = np.bincount(
                groups, weights=np.log1p(-np.clip(p, 0.0, 1.0)), minlength=n_groups
            )
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
    probs: ObjectProbabilities,
    rows: np.ndarray,
    group: np.ndarray,
    observed: np.ndarray,
    *,
    n_null: int,
    seed: int,
    key_index: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> np.ndarray:
    """Empirical p = (1 + #{W_r ≥ W}) / (1 + #{W_r ≥ 1}) by drawing the offsets
    themselves: among R draws, those where the pair co-acts at all.

    ``rows`` selects the object rows of ``probs`` in the network, ``group`` maps each to
    its edge 0..E−1, ``observed`` is each edge's W. Offsets are drawn per (account,
    object) key, in key order, 64 draws at a time from one seeded stream, so the result
    depends only on the data, R and the seed. ``key_index`` (each object row's a- and
    b-side key index among the network's keys, and their number) lets a batch holding
    only some of the network's edges draw exactly the numbers the whole network would
    (``uniforms``); without it, the keys are those of ``rows``.
    """
    n_edges = len(observed)
    keep = np.zeros(len(probs.p), bool)
    keep[rows] = True
    isl = np.flatnonzero(keep[probs.island_obj])
    obj_row = probs.island_obj[isl]
    lo, hi = probs.island_lo[isl], probs.island_hi[isl]
    if key_index is None:
        span = int(probs.oid.max()) + 1 if len(probs.oid) else 1
        acc_a, acc_b = probs.pair[obj_row] // (1 << 32), probs.pair[obj_row] % (1 << 32)
        key_a = acc_a * span + probs.oid[obj_row]
        key_b = acc_b * span + probs.oid[obj_row]
        keys, inverse = np.unique(np.concatenate([key_a, key_b]), return_inverse=True)
        ka, kb = inverse[: len(isl)], inverse[len(isl) :]
        needed, n_keys = np.arange(len(keys)), len(keys)
    else:
        global_a, global_b = key_index[0][obj_row], key_index[1][obj_row]
        needed, inverse = np.unique(np.concatenate([global_a, global_b]), return_inverse=True)
        ka, kb, n_keys = inverse[: len(isl)], inverse[len(isl) :], int(key_index[2])
    jit = probs.jit[obj_row][:, None]
    exceed = np.zeros(n_edges, dtype=np.int64)
    at_least_one = np.zeros(n_edges, dtype=np.int64)
    for c, start in enumerate(range(0, n_null, _CHUNK)):
        r = min(_CHUNK, n_null - start)
        u = uniforms(seed, c, n_keys, needed)[:, :r]
        s = (2 * u[kb] - 1) * jit - (2 * u[ka] - 1) * jit
        inside = (s >= lo[:, None]) & (s <= hi[:, None])
        per_obj = np.zeros((len(probs.p), r), bool)
        np.logical_or.at(per_obj, obj_row, inside)
        w_null = np.zeros((n_edges, r), dtype=np.int64)
        np.add.at(w_null, group, per_obj[rows])
        exceed += (w_null >= observed[:, None]).sum(axis=1)
        at_least_one += (w_null >= 1).sum(axis=1)
    # Conditional on the pair co-acting at all, as the exact p-value.
    return np.minimum(1.0, (1.0 + exceed) / (1.0 + at_least_one))


_CHUNK = 64  # draws per key per round


def uniforms(seed: int, chunk: int, n_keys: int, keys: np.ndarray) -> np.ndarray:
    """Round ``chunk``'s 64 uniforms of each key index in ``keys`` (sorted, distinct,
    < n_keys): the rows of ``default_rng(seed).random((n_keys, 64))`` drawn at that
    round, found by jumping the PCG64 stream (one output per double) to each run of
    consecutive keys instead of drawing the rows in between."""
    out = np.empty((len(keys), _CHUNK))
    if not len(keys):
        return out
    breaks = np.flatnonzero(np.diff(keys) != 1) + 1
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(keys)], strict=True):
        bits = np.random.PCG64(seed)
        bits.advance((int(chunk) * int(n_keys) + int(keys[lo])) * _CHUNK)
        out[lo:hi] = np.random.Generator(bits).random((int(hi - lo), _CHUNK))
    return out


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
    out = np.empty(n)
    out[order] = bh_step_up(bh_scaled(p[order], m, 1))
    return out


def bh_scaled(p_sorted: np.ndarray, m: int, first_rank: int) -> np.ndarray:
    """p · m / rank for a run of p-values sorted ascending whose first has rank
    ``first_rank`` among the network's tested edges (a block of a distributed sort
    passes its offset)."""
    return p_sorted * m / np.arange(first_rank, first_rank + len(p_sorted))


def bh_step_up(scaled: np.ndarray, later: float = np.inf) -> np.ndarray:
    """q-values of a run of ``bh_scaled`` values: the minimum over the run's rest and
    ``later`` (the minimum over every later run), capped at 1. A minimum is exact in any
    grouping, so runs computed apart give the q-values of one sort."""
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    return np.minimum(np.minimum(q, later), 1.0)
