"""The arithmetic of the significance step, network by network (each object type and
``multi``): screening, exact p-values under both nulls, Benjamini–Hochberg.

Engine-neutral: it receives Arrow tables of delays and counts that the SQL side
computed, so DuckDB and Spark share it (the methods are in significance.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from ..arrays import sorted_unique
from . import significance
from .params import ResolvedParams

_CLASSES = 64  # popularity classes per type (⌊log2 n⌋ < 64)


@dataclass(frozen=True)
class ChoiceTotals:
    """One type's totals for the choice null: S shares, each account's shares, and the
    share pairs within the window per popularity class."""

    object_type: str
    shares: int
    activity: np.ndarray  # indexed by account key
    aligned: dict[int, int]  # popularity class -> share pairs within the window


@dataclass(frozen=True)
class Settings:
    """Everything global and small the arithmetic needs besides an edge's own rows: the
    networks (the types, then ``multi``), windows and jitters, the choice null's totals
    per type (S and the aligned share pairs per class) and, per network, its edges and
    its m. An engine computes these once; every batch of edges uses the same."""

    names: list[str]
    w: np.ndarray  # per network code, µs (multi: 0)
    jit: np.ndarray
    shares: list[int]  # per type
    aligned: list[dict[int, int]]  # per type
    alpha: float
    n_null: int
    seed: int
    edges: dict[int, int]  # network -> number of edges
    hypotheses: dict[str, int]  # network name -> m of Benjamini–Hochberg (at least edges)

    @property
    def n_types(self) -> int:
        return len(self.names) - 1

    def types_of(self, net: int) -> list[int]:
        return list(range(self.n_types)) if self.names[net] == "multi" else [net]

    def m(self, net: int) -> int:
        n = self.edges.get(net, 0)
        return max(self.hypotheses.get(self.names[net], n), n)

    def threshold(self, net: int) -> float:
        """The screen's cut: a bound above α · (edges) / m can never be rejected."""
        return self.alpha * self.edges.get(net, 0) / self.m(net)


def network_rows(
    names: list[str], net: int, codes: np.ndarray, pairs: np.ndarray, keys: np.ndarray
) -> np.ndarray:
    """Indices of the rows of network ``net`` whose pair is one of ``keys`` (sorted)."""
    cand = np.arange(len(pairs)) if names[net] == "multi" else np.flatnonzero(codes == net)
    if len(keys) == 0:
        return cand[:0]
    at = np.minimum(np.searchsorted(keys, pairs[cand]), len(keys) - 1)
    return cand[keys[at] == pairs[cand]]


def screen_batch(
    s: Settings,
    net: int,
    keys: np.ndarray,
    na: np.ndarray,
    nb: np.ndarray,
    codes: np.ndarray,
    pairs: np.ndarray,
    cls: np.ndarray,
    min_delay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Screen some edges of network ``net``: (worth an exact test, choice p-value,
    expected co-acting share pairs) per key of ``keys`` (sorted pair keys).

    ``na``/``nb`` (types × keys) are the two accounts' shares of each type; the rows
    (``codes``, ``pairs``, ``cls``, ``min_delay``) are every co-acted object of these
    edges in the network, ordered by pair, code, class, delay, object. An edge depends
    only on its own rows and ``s``, so any grouping of the edges gives the same values.

    An edge's p-value is at least its choice p-value and at least the timing tail
    computed with each co-acted object's chance from its closest share pair alone (a
    lower bound). If that already exceeds α · (edges tested) / m, Benjamini–Hochberg can
    never reject it, so the exact value would change no verdict."""
    group = np.searchsorted(keys, pairs)
    p_choice, lam_choice = _choice(s, net, len(keys), na, nb, codes, cls, group)
    low = significance.closest_pair_probability(min_delay, s.w[codes], s.jit[codes])
    k = np.bincount(group, minlength=len(keys))
    bound = np.maximum(significance.poisson_binomial_sf(group, low, k), p_choice)
    return bound <= s.threshold(net), p_choice, lam_choice


def _choice(
    s: Settings,
    net: int,
    n_keys: int,
    na: np.ndarray,
    nb: np.ndarray,
    codes: np.ndarray,
    cls: np.ndarray,
    group: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """p-value and expected co-acting share pairs of every edge under the choice null,
    from its co-acted objects (one row each)."""
    lam_total = np.zeros(n_keys)
    lam_rows = np.zeros(len(group))
    n_strata = 0
    for t in s.types_of(net):
        shares, aligned_t = s.shares[t], s.aligned[t]
        if shares < 2:
            continue
        scale = 2.0 / (float(shares) * (shares - 1))
        lam_total += scale * sum(aligned_t.values()) * na[t] * nb[t]
        n_strata += sum(1 for v in aligned_t.values() if v > 0)
        sel = codes == t
        by_class = np.zeros(_CLASSES)
        for c, v in aligned_t.items():
            by_class[c] = v
        aligned = by_class[cls[sel]]
        lam_rows[sel] = scale * aligned * na[t][group[sel]] * nb[t][group[sel]]
    stratum = codes * _CLASSES + cls
    return significance.choice_pvalues(group, stratum, lam_rows, n_keys, n_strata), lam_total


def timing_batch(
    s: Settings,
    net: int,
    keys: np.ndarray,
    p_choice: np.ndarray,
    probs: significance.ObjectProbabilities,
    key_index: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact (or Monte-Carlo) timing p-values of some surviving edges of ``net``:
    (expected co-acted objects, timing p-value, p-value) per key of ``keys`` (sorted),
    from the object probabilities of these pairs. ``key_index``: see
    ``significance.monte_carlo_sf`` (needed when ``keys`` are not all of the network's
    tested edges and the p-values are Monte-Carlo)."""
    rows = network_rows(s.names, net, probs.otype, probs.pair, keys)
    group = np.searchsorted(keys, probs.pair[rows])
    k = np.bincount(group, weights=probs.coact[rows], minlength=len(keys)).astype(np.int64)
    expected = np.bincount(group, weights=probs.p[rows], minlength=len(keys))
    if s.n_null:
        pt = significance.monte_carlo_sf(
            probs, rows, group, k, n_null=s.n_null, seed=s.seed, key_index=key_index
        )
    else:
        pt = significance.poisson_binomial_sf(group, probs.p[rows], k, given_one=True)
    return expected, pt, np.maximum(pt, p_choice)


class EdgeTester:
    """The arithmetic on one machine, over whole tables (the DuckDB engine): the batch
    functions above applied to every edge at once."""

    def __init__(
        self,
        types: list[str],
        w_us: dict[str, int],
        jit_us: dict[str, int],
        p: ResolvedParams,
        hypotheses: dict[str, int],
        choice: list[ChoiceTotals],
        workers: int = 1,
    ) -> None:
        self.types = types
        # Networks are independent: ``workers`` threads take one each (NumPy releases
        # the GIL in its array loops, so two networks use two cores).
        self.workers = max(1, workers)
        self.names = [*types, "multi"]
        self.p = p
        self.choice = choice
        self.edge_keys: dict[int, np.ndarray] = {}  # network -> sorted pair keys
        self.p_choice: dict[int, np.ndarray] = {}  # network -> p per edge key
        self.lam_choice: dict[int, np.ndarray] = {}  # network -> expected share pairs
        self.settings = settings(
            types,
            w_us,
            jit_us,
            p,
            hypotheses,
            [ct.shares for ct in choice],
            [ct.aligned for ct in choice],
        )

    @staticmethod
    def _codes(t: pa.Table) -> np.ndarray:
        """Network codes: index into ``names`` (the types, then multi)."""
        return t.column("code").to_numpy().astype(np.int64)

    @staticmethod
    def _pairs(t: pa.Table) -> np.ndarray:
        """Pair keys acc_a · 2^32 + acc_b."""
        return t.column("pair").to_numpy().astype(np.int64)

    def screen(self, co: pa.Table, edges: pa.Table) -> np.ndarray:
        """Pair keys worth an exact test (``co``: code, pair, min_delay, cls per co-acted
        object of a candidate pair, sorted by pair, code, cls, min_delay, oid; ``edges``:
        code, pair of every edge), by ``screen_batch`` over each network's edges."""
        e_codes, e_pairs = self._codes(edges), self._pairs(edges)
        codes, pairs = self._codes(co), self._pairs(co)
        cls = co.column("cls").to_numpy().astype(np.int64)
        delay = co.column("min_delay").to_numpy()
        per_net = np.bincount(e_codes) if len(e_codes) else np.zeros(0, np.int64)
        nets = [int(n) for n in np.flatnonzero(per_net)]
        s = self.settings = replace(self.settings, edges={n: int(per_net[n]) for n in nets})

        def one(net: int) -> np.ndarray:
            keys = np.sort(e_pairs[e_codes == net])  # one edge per (network, pair)
            self.edge_keys[net] = keys
            a, b = keys >> 32, keys & 0xFFFFFFFF
            na = np.stack([ct.activity[a] for ct in self.choice])
            nb = np.stack([ct.activity[b] for ct in self.choice])
            rows = network_rows(self.names, net, codes, pairs, keys)
            ok, self.p_choice[net], self.lam_choice[net] = screen_batch(
                s, net, keys, na, nb, codes[rows], pairs[rows], cls[rows], delay[rows]
            )
            return keys[ok]

        with ThreadPoolExecutor(self.workers) as pool:
            keep = list(pool.map(one, nets))
        return sorted_unique(np.concatenate(keep)) if keep else np.zeros(0, np.int64)

    def test(self, near: pa.Table, saturated: pa.Table | None = None) -> pa.Table:
        """Exact (or Monte-Carlo) timing p-values of the survivors, combined with their
        choice p-values, and BH q-values over each network's m hypotheses. ``near``
        (code, pair, oid, d) comes sorted by pair, oid and descending d; ``saturated``
        (code, pair, oid, coact) lists the objects not enumerated (p_o = 1)."""
        probs = object_probabilities(near, saturated, self.settings)
        cols = (
            "otype",
            "pair",
            "expected_timing",
            "expected_choice",
            "p_timing",
            "p_choice",
            "p_value",
            "q_value",
            "significant",
        )
        out: dict[str, list[Any]] = {c: [] for c in cols}
        tested = sorted_unique(probs.pair)

        def one(net: int) -> tuple[np.ndarray, ...]:
            all_keys = self.edge_keys[net]
            keys = np.intersect1d(all_keys, tested, assume_unique=True)
            at = np.searchsorted(all_keys, keys)
            pc = self.p_choice[net][at]
            expected, pt, pv = timing_batch(self.settings, net, keys, pc, probs)
            q = significance.benjamini_hochberg(pv, self.settings.m(net))
            return keys, at, pc, expected, pt, pv, q

        nets = sorted(self.edge_keys)  # network order, not the order screening threads ended
        with ThreadPoolExecutor(self.workers) as pool:
            done = list(pool.map(one, nets))
        for net, (keys, at, pc, expected, pt, pv, q) in zip(nets, done, strict=True):
            out["otype"] += [self.names[net]] * len(keys)
            out["pair"] += keys.tolist()
            out["expected_timing"] += expected.tolist()
            out["expected_choice"] += self.lam_choice[net][at].tolist()
            out["p_timing"] += pt.tolist()
            out["p_choice"] += pc.tolist()
            out["p_value"] += pv.tolist()
            out["q_value"] += q.tolist()
            out["significant"] += (q <= self.p.alpha).tolist()
        table: dict[str, pa.Array] = {
            "otype": pa.array(out.pop("otype"), pa.string()),
            "pair": pa.array(out.pop("pair"), pa.int64()),
        }
        table |= {c: pa.array(v, pa.float64()) for c, v in out.items() if c != "significant"}
        table["significant"] = pa.array(out["significant"], pa.bool_())
        return pa.table(table)


def settings(
    types: list[str],
    w_us: dict[str, int],
    jit_us: dict[str, int],
    p: ResolvedParams,
    hypotheses: dict[str, int],
    shares: list[int],
    aligned: list[dict[int, int]],
    edges: dict[int, int] | None = None,
) -> Settings:
    """The ``Settings`` of a run; ``edges`` (per network) may be filled in later."""
    return Settings(
        names=[*types, "multi"],
        w=np.array([w_us[t] for t in types] + [0], dtype=float),
        jit=np.array([jit_us[t] for t in types] + [1], dtype=float),
        shares=[int(n) for n in shares],
        aligned=[dict(a) for a in aligned],
        alpha=p.alpha,
        n_null=p.n_null,
        seed=p.seed,
        edges=dict(edges or {}),
        hypotheses=dict(hypotheses),
    )


def object_probabilities(
    near: pa.Table, saturated: pa.Table | None, s: Settings
) -> significance.ObjectProbabilities:
    """p_o per (pair, object) from the share delays ``near`` (code, pair, oid, d; sorted
    by pair, oid, descending d) and the saturated objects (code, pair, oid, coact),
    which come after them (p_o = 1)."""
    codes = near.column("code").to_numpy().astype(np.int64)
    probs = significance.object_probabilities(
        near.column("pair").to_numpy().astype(np.int64),
        codes,
        near.column("oid").to_numpy(),
        near.column("d").to_numpy(),
        s.w[codes],
        s.jit[codes],
        presorted=True,
    )
    if saturated is not None and saturated.num_rows:
        s_codes = saturated.column("code").to_numpy().astype(np.int64)
        probs = significance.with_saturated(
            probs,
            saturated.column("pair").to_numpy().astype(np.int64),
            s_codes,
            saturated.column("oid").to_numpy(),
            saturated.column("coact").to_numpy(),
            s.jit[s_codes],
        )
    return probs
