"""The arithmetic of the significance step, network by network (each object type and
``multi``): screening, exact p-values under both nulls, Benjamini–Hochberg.

Engine-neutral: it receives Arrow tables of delays and counts that the SQL side
computed, so DuckDB and Spark share it (the methods are in significance.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

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


class EdgeTester:
    def __init__(
        self,
        types: list[str],
        w_us: dict[str, int],
        jit_us: dict[str, int],
        p: ResolvedParams,
        hypotheses: dict[str, int],
        choice: list[ChoiceTotals],
    ) -> None:
        self.types = types
        self.names = [*types, "multi"]
        self.w = np.array([w_us[t] for t in types] + [0], dtype=float)
        self.jit = np.array([jit_us[t] for t in types] + [1], dtype=float)
        self.p = p
        self.hypotheses = hypotheses
        self.choice = choice
        self.edge_keys: dict[int, np.ndarray] = {}  # network -> sorted pair keys
        self.p_choice: dict[int, np.ndarray] = {}  # network -> p per edge key
        self.lam_choice: dict[int, np.ndarray] = {}  # network -> expected share pairs

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _codes(t: pa.Table) -> np.ndarray:
        """Network codes: index into ``names`` (the types, then multi)."""
        return t.column("code").to_numpy().astype(np.int64)

    @staticmethod
    def _pairs(t: pa.Table) -> np.ndarray:
        """Pair keys acc_a · 2^32 + acc_b."""
        return t.column("pair").to_numpy().astype(np.int64)

    def _rows(self, net: int, codes: np.ndarray, pairs: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Indices of the rows of network ``net`` whose pair is one of ``keys`` (sorted)."""
        cand = np.arange(len(pairs)) if self.names[net] == "multi" else np.flatnonzero(codes == net)
        if len(keys) == 0:
            return cand[:0]
        at = np.minimum(np.searchsorted(keys, pairs[cand]), len(keys) - 1)
        return cand[keys[at] == pairs[cand]]

    def _m(self, net: int, n: int) -> int:
        return max(self.hypotheses.get(self.names[net], n), n)

    # -- choice null -------------------------------------------------------------------
    def _choice(
        self,
        net: int,
        keys: np.ndarray,
        codes: np.ndarray,
        pairs: np.ndarray,
        cls: np.ndarray,
        rows: np.ndarray,
    ) -> None:
        """p-value and expected co-acting share pairs of every edge under the choice null,
        from its co-acted objects (one row each)."""
        a, b = keys >> 32, keys & 0xFFFFFFFF
        types = range(len(self.types)) if self.names[net] == "multi" else [net]
        lam_total = np.zeros(len(keys))
        group = np.searchsorted(keys, pairs[rows])
        lam_rows = np.zeros(len(group))
        n_strata = 0
        for t in types:
            ct = self.choice[t]
            if ct.shares < 2:
                continue
            scale = 2.0 / (float(ct.shares) * (ct.shares - 1))
            na, nb = ct.activity[a], ct.activity[b]
            lam_total += scale * sum(ct.aligned.values()) * na * nb
            n_strata += sum(1 for v in ct.aligned.values() if v > 0)
            sel = codes[rows] == t
            by_class = np.zeros(_CLASSES)
            for c, v in ct.aligned.items():
                by_class[c] = v
            aligned = by_class[cls[rows][sel]]
            lam_rows[sel] = scale * aligned * na[group[sel]] * nb[group[sel]]
        stratum = codes[rows] * _CLASSES + cls[rows]
        self.p_choice[net] = significance.choice_pvalues(
            group, stratum, lam_rows, len(keys), n_strata
        )
        self.lam_choice[net] = lam_total

    # -- the two stages ------------------------------------------------------------------
    def screen(self, co: pa.Table, edges: pa.Table) -> np.ndarray:
        """Pair keys worth an exact test (``co``: code, pair, min_delay, cls per co-acted
        object of a candidate pair, best sorted by pair, code, cls; ``edges``: code, pair
        of every edge). An edge's p-value is at least its choice p-value and at least the
        timing tail computed with each co-acted object's chance from its closest share
        pair alone (a lower bound). If that already exceeds
        α · (edges tested) / m, Benjamini–Hochberg can never reject it, so the exact
        value would change no verdict."""
        e_codes, e_pairs = self._codes(edges), self._pairs(edges)
        codes, pairs = self._codes(co), self._pairs(co)
        cls = co.column("cls").to_numpy().astype(np.int64)
        low = significance.closest_pair_probability(
            co.column("min_delay").to_numpy(), self.w[codes], self.jit[codes]
        )
        keep = []
        for net in (int(n) for n in np.unique(e_codes)):
            keys = np.sort(e_pairs[e_codes == net])  # one edge per (network, pair)
            self.edge_keys[net] = keys
            rows = self._rows(net, codes, pairs, keys)
            self._choice(net, keys, codes, pairs, cls, rows)
            group = np.searchsorted(keys, pairs[rows])
            k = np.bincount(group, minlength=len(keys))
            bound = np.maximum(
                significance.poisson_binomial_sf(group, low[rows], k), self.p_choice[net]
            )
            keep.append(keys[bound <= self.p.alpha * len(keys) / self._m(net, len(keys))])
        return np.unique(np.concatenate(keep)) if keep else np.zeros(0, np.int64)

    def test(self, near: pa.Table, saturated: pa.Table | None = None) -> pa.Table:
        """Exact (or Monte-Carlo) timing p-values of the survivors, combined with their
        choice p-values, and BH q-values over each network's m hypotheses. ``near``
        (code, pair, oid, d) comes sorted by pair, oid and descending d; ``saturated``
        (code, pair, oid, coact) lists the objects not enumerated (p_o = 1)."""
        codes, pairs = self._codes(near), self._pairs(near)
        probs = significance.object_probabilities(
            pairs,
            codes,
            near.column("oid").to_numpy(),
            near.column("d").to_numpy(),
            self.w[codes],
            self.jit[codes],
            presorted=True,
        )
        if saturated is not None and saturated.num_rows:
            s_codes = self._codes(saturated)
            probs = significance.with_saturated(
                probs,
                self._pairs(saturated),
                s_codes,
                saturated.column("oid").to_numpy(),
                saturated.column("coact").to_numpy(),
                self.jit[s_codes],
            )
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
        for net, all_keys in self.edge_keys.items():
            keys = np.intersect1d(all_keys, np.unique(probs.pair))
            at = np.searchsorted(all_keys, keys)
            rows = self._rows(net, probs.otype, probs.pair, keys)
            group = np.searchsorted(keys, probs.pair[rows])
            k = np.bincount(group, weights=probs.coact[rows], minlength=len(keys)).astype(np.int64)
            expected = np.bincount(group, weights=probs.p[rows], minlength=len(keys))
            if self.p.n_null:
                pt = significance.monte_carlo_sf(
                    probs, rows, group, k, n_null=self.p.n_null, seed=self.p.seed
                )
            else:
                pt = significance.poisson_binomial_sf(group, probs.p[rows], k, given_one=True)
            pc = self.p_choice[net][at]
            pv = np.maximum(pt, pc)
            q = significance.benjamini_hochberg(pv, self._m(net, len(all_keys)))
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
