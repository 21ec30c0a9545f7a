"""The explained score: each signal's percentile, what it contributes, and the total.

For a signal with value v among the N accounts where it is defined, the percentile is
the mid-rank ``(accounts below v + half of those equal to v) / N`` (ties share one
percentile, the same read from either end). Turned towards suspicion (``1 − pct`` for
signals where *low* is suspicious), only the part above the median counts:

    component = max(0, 2 · pct_towards_suspicion − 1)          in [0, 1]
    contribution = weight · component / Σ weights of the signals the account has
    score = Σ contributions                                      in [0, 1]

So an account as ordinary as the median on every signal scores 0, one at the top of
every signal scores 1, and an account whose profile is unknown is scored on what is
known (``coverage`` says how much of the total weight that was). Percentiles are
relative to the workspace: the same account scores differently among other accounts.

Vectorised numpy over columns (one sort per signal): ranking a million accounts on two
dozen signals takes a second or two, where SQL window functions took minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .catalogue import SIGNALS

TOP_SIGNALS = 3


def mid_rank(values: np.ndarray) -> np.ndarray:
    """Mid-rank percentile in [0, 1] of every non-NaN value among the non-NaN values
    (NaN stays NaN): (values below + half the values equal) / count."""
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    out = np.full(len(v), np.nan)
    x = v[ok]
    if len(x):
        order = np.argsort(x, kind="stable")
        xs = x[order]
        new = np.ones(len(xs), bool)
        new[1:] = xs[1:] != xs[:-1]
        starts = np.flatnonzero(new)
        counts = np.diff(np.append(starts, len(xs)))
        mid = (starts + counts / 2.0) / len(xs)
        pct = np.empty(len(xs))
        pct[order] = mid[np.cumsum(new) - 1]
        out[ok] = pct
    return out


@dataclass(frozen=True)
class Scores:
    pct: dict[str, np.ndarray]
    contrib: dict[str, np.ndarray]
    score: np.ndarray
    coverage: np.ndarray
    rank: np.ndarray  # 1 = highest score; ties by row order
    top_signals: pa.Array  # the largest contributions, comma-separated

    def arrow(self) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {
            "score": pa.array(self.score),
            "rank": pa.array(self.rank),
            "coverage": pa.array(self.coverage),
            "top_signals": self.top_signals,
        }
        for s in SIGNALS:
            for suffix, arr in (("pct", self.pct[s.name]), ("contrib", self.contrib[s.name])):
                cols[f"{s.name}_{suffix}"] = pa.array(arr, mask=np.isnan(arr))
        return cols


def score_accounts(values: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> Scores:
    """Score rows whose signal values are ``values`` (name -> float array, NaN = no
    value). Rows should be in account-id order: ties in score keep that order."""
    n = len(next(iter(values.values()))) if values else 0
    scored = [s for s in SIGNALS if s.direction != 0 and weights[s.name] > 0]
    total = sum(weights[s.name] for s in scored) or 1.0
    pct = {s.name: mid_rank(values[s.name]) for s in SIGNALS}
    avail = np.zeros(n)
    for s in scored:
        avail += np.where(np.isnan(pct[s.name]), 0.0, weights[s.name])
    contrib: dict[str, np.ndarray] = {}
    for s in SIGNALS:
        p = pct[s.name]
        w = weights[s.name] if s.direction != 0 else 0.0
        towards = p if s.direction >= 0 else 1.0 - p
        comp = np.maximum(0.0, 2.0 * towards - 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(avail > 0, w * comp / np.where(avail > 0, avail, 1.0), 0.0)
        contrib[s.name] = np.where(np.isnan(p), np.nan, c)
    score = np.zeros(n)
    for s in scored:
        c = contrib[s.name]
        score += np.where(np.isnan(c), 0.0, c)
    rank = np.empty(n, np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(1, n + 1)
    return Scores(pct, contrib, score, avail / total, rank, _top(scored, contrib, n))


def _top(scored: list, contrib: dict[str, np.ndarray], n: int) -> pa.Array:  # type: ignore[type-arg]
    """The names of each row's largest positive contributions, largest first (ties: the
    catalogue's order), comma-separated."""
    if not scored or not n:
        return pa.array([""] * n, pa.string())
    names = np.array([s.name for s in scored], dtype=object)
    m = np.empty((n, len(scored)))
    for j, s in enumerate(scored):
        c = contrib[s.name]
        m[:, j] = np.where(np.isnan(c), 0.0, c)
    rows = np.arange(n)
    k = len(scored)
    # Each row's top signals as one integer (base k + 1; k = none), spelled out once per
    # distinct combination rather than once per row.
    code = np.zeros(n, np.int64)
    for _ in range(min(TOP_SIGNALS, k)):
        j = m.argmax(axis=1)  # the first of equal maxima: catalogue order
        shown = m[rows, j] > 0
        code = code * (k + 1) + np.where(shown, j, k)
        m[rows, j] = -1.0
    combos, inv = np.unique(code, return_inverse=True)
    spelled = []
    for c in combos.tolist():
        parts = []
        for _ in range(min(TOP_SIGNALS, k)):
            c, j = divmod(c, k + 1)
            parts.append(names[j] if j < k else "")
        spelled.append(",".join(x for x in reversed(parts) if x))
    return pa.DictionaryArray.from_arrays(pa.array(inv.astype(np.int32)), pa.array(spelled))
