"""The population an account (or cluster) posts into, and its dominant UTC offset.

"Population" means the *other* accounts acting on the same objects: the posts it
reposts, replies to or quotes, the links and hashtags it uses. Every one of them with
an inferred schedule votes for its offset, a point θ on the 24-hour clock, weighted by
its schedule confidence. The votes on an object form a distribution on the circle;
the account's population is the average of its objects' distributions (so a viral post
counts as one object, not as thousands of votes). Its **mode** is the population's
offset, and the share of the population within ±1 h of the account's own offset says
whether anyone there keeps the same clock.

A distribution on the circle is summed exactly by its Fourier coefficients
(Σ w·cos kθ, Σ w·sin kθ), which add up over voters and subtract back out, so the whole
computation is linear in the number of (account, object) pairs: bincounts per object,
minus the account's own part, averaged per account; then the density is evaluated at
the 24 whole-hour offsets through a von Mises-like kernel of about 1.5 h
(``HARMONICS`` terms). A mean direction would not do: half the votes at UTC±0 and half
at UTC−5 average to UTC−2.5, where nobody lives.

The account's own vote is left out, and so are the votes of its own cluster in the
detection run used: a troll farm must not vouch for itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..arrays import sorted_unique, unique_inverse
from .frames import Shares

HARMONICS = 6
BANDWIDTH_H = 1.5  # kernel width (hours) of the smoothed population density
CLOCK = np.arange(-11, 13)  # the 24 whole-hour offsets a population can have
#: Other voters weighing less than this together are no population (it also absorbs the
#: float32 rounding of the per-object sums).
MIN_WEIGHT = 1e-3
_K = np.arange(1, HARMONICS + 1)


def vote_coefficients(offset: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(rows, 1 + 2·HARMONICS): weight, then weight·cos kθ, then weight·sin kθ."""
    theta = np.radians(15.0 * np.asarray(offset, np.float64))
    w = np.asarray(weight, np.float64)
    kt = np.outer(theta, _K)
    return np.column_stack([w, w[:, None] * np.cos(kt), w[:, None] * np.sin(kt)])


@dataclass(frozen=True)
class Populations:
    """Mean normalised coefficients of the other voters on each row's objects."""

    objects: np.ndarray  # objects with other voters
    coefs: np.ndarray  # (rows, 2·HARMONICS), cos terms then sin terms


def populations(
    s: Shares, votes: np.ndarray, cluster_of: np.ndarray
) -> tuple[Populations, np.ndarray, Populations]:
    """Per account (all accounts), and per cluster (returned with the cluster ids):
    the population on the objects they act on, without their own (cluster's) votes.
    ``votes`` is ``vote_coefficients`` per account (weight 0 = no vote)."""
    n, d = votes.shape
    cols = [np.ascontiguousarray(votes[:, j]) for j in range(d)]  # gathers stay contiguous
    # Distinct (object, account) pairs, by object.
    pair = sorted_unique(s.obj * max(n, 1) + s.idx)
    og, idx = pair // max(n, 1), pair % max(n, 1)
    m = s.objects
    total = [np.bincount(og, weights=c[idx], minlength=m).astype(np.float32) for c in cols]
    # Votes of each (object, cluster), for clustered accounts.
    cl = cluster_of[idx]
    clustered = cl >= 0
    ids = sorted_unique(cluster_of[cluster_of >= 0])
    k = max(len(ids), 1)
    ckey = og[clustered] * k + np.searchsorted(ids, cl[clustered])
    ukeys, inv = unique_inverse(ckey)
    c_idx = idx[clustered]
    csum = [np.bincount(inv, weights=c[c_idx], minlength=len(ukeys)) for c in cols]

    # Each pair: the object's votes minus the account's own (or its cluster's) — one
    # coefficient at a time, so memory stays at a few columns of pairs.
    def pair_others(j: int) -> np.ndarray:
        own = cols[j][idx]
        own[clustered] = csum[j][inv]
        out: np.ndarray = total[j][og] - own
        return out

    per_account = _average(idx, pair_others, d, n)
    # Each (cluster, object): the object's votes minus the cluster's.
    k_og, k_cl = ukeys // k, ukeys % k
    per_cluster = _average(k_cl, lambda j: total[j][k_og] - csum[j], d, len(ids))
    return per_account, ids, per_cluster


def _average(group: np.ndarray, others: Callable[[int], np.ndarray], d: int, n: int) -> Populations:
    """Mean over each group's objects of the others' normalised coefficients
    (``others(j)``: column j of the others' votes per object row; 0 is the weight)."""
    w = others(0)
    ok = w > MIN_WEIGHT
    g, w = group[ok], w[ok]
    objects = np.bincount(g, minlength=n).astype(np.float64)
    coefs = np.zeros((n, d - 1))
    for j in range(1, d):
        coefs[:, j - 1] = np.bincount(g, weights=others(j)[ok] / w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        coefs = np.where(objects[:, None] > 0, coefs / objects[:, None], 0.0)
    return Populations(objects, coefs)


def density(coefs: np.ndarray) -> np.ndarray:
    """(rows, 2·HARMONICS) mean coefficients (cos terms, then sin terms) -> (rows, 24)
    smoothed shares of the population at each offset of ``CLOCK`` (rows sum to 1)."""
    coefs = np.asarray(coefs, dtype=np.float64).reshape(-1, 2 * HARMONICS)
    bw = np.radians(15 * BANDWIDTH_H)
    lam = np.exp(-0.5 * (_K * bw) ** 2)  # the kernel's Fourier coefficients
    theta = np.radians(15 * CLOCK)
    cos = np.cos(np.outer(_K, theta)) * lam[:, None]  # (K, 24)
    sin = np.sin(np.outer(_K, theta)) * lam[:, None]
    f = 1.0 + 2.0 * (coefs[:, :HARMONICS] @ cos + coefs[:, HARMONICS:] @ sin)
    f = np.clip(f, 0.0, None)
    total = f.sum(axis=1, keepdims=True)
    out: np.ndarray = np.divide(f, total, out=np.full_like(f, 1 / 24), where=total > 0)
    return out


def near_share(dens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Share of each row's population within ±1 h of ``offsets`` (any integers)."""
    pos = (np.asarray(offsets, np.int64) + 11) % 24  # index into CLOCK
    rows = np.arange(len(dens))
    out: np.ndarray = dens[rows, (pos - 1) % 24] + dens[rows, pos] + dens[rows, (pos + 1) % 24]
    return out


def modes(
    coefs: np.ndarray, own: np.ndarray, chunk: int = 200_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the population's mode (offset), the share within ±1 h of it, and the
    share within ±1 h of ``own`` (the row's own offset)."""
    mode = np.zeros(len(coefs), np.int64)
    mode_share = np.zeros(len(coefs))
    own_share = np.zeros(len(coefs))
    for lo in range(0, len(coefs), chunk):
        dens = density(coefs[lo : lo + chunk])
        mo = CLOCK[dens.argmax(axis=1)]
        mode[lo : lo + chunk] = mo
        mode_share[lo : lo + chunk] = near_share(dens, mo)
        own_share[lo : lo + chunk] = near_share(dens, own[lo : lo + chunk])
    return mode, mode_share, own_share


@dataclass(frozen=True)
class Population:
    """The workspace's population: every account with a schedule, weighted by its
    confidence. The fallback for accounts with too few objects, and the run's summary."""

    offset: int | None  # the mode
    mode_share: float | None  # voters within ±1 h of the mode
    voters: int
    density: np.ndarray  # (24,) shares at CLOCK offsets

    def own_share(self, offset: int) -> float:
        return float(near_share(self.density[None, :], np.array([offset]))[0])


def workspace_population(votes: np.ndarray) -> Population:
    """The distribution of every account's vote (``vote_coefficients`` rows)."""
    voters = int((votes[:, 0] > 0).sum())
    total = float(votes[:, 0].sum())
    if not voters or total <= 0:
        return Population(None, None, 0, np.full(24, 1 / 24))
    dens = density(votes[:, 1:].sum(axis=0)[None, :] / total)[0]
    mode = int(CLOCK[dens.argmax()])
    return Population(mode, float(near_share(dens[None, :], np.array([mode]))[0]), voters, dens)
