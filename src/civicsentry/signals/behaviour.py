"""Behavioural signals: what an account posts, how regularly, how fast after others,
and how much of it repeats or co-acts inside a cluster.

Per-post work is vectorised numpy over the integer frames of ``frames`` (sorted once,
then differences, bincounts and group offsets); duplicate texts and cluster membership
are set-based DuckDB aggregations. Every function returns float arrays over all
accounts in idx order, NaN where an account has too little activity for the signal
(``min_posts``), so that it neither scores nor skews the percentiles.
"""

from __future__ import annotations

import duckdb
import numpy as np

from ..arrays import sorted_unique, unique_inverse
from .frames import TIMED, Posts, Shares, Texts, by_idx, group_bounds
from .params import SignalParams

#: Gap bins are floor(log2(gap seconds + 1)); a week spans about 20 of them, which is
#: also the most distinct bins gap_entropy is normalised by.
GAP_BINS = 20
#: Consecutive gaps this close (seconds, or this share of the larger) are "the same".
SAME_GAP_S, SAME_GAP_SHARE = 1.0, 0.05
DAY_S = 86_400.0


def posting(f: Posts, n: int, p: SignalParams) -> dict[str, np.ndarray]:
    """Volume, rate, kinds, links and the regularity of the gaps between consecutive
    posts (``f`` sorted by account and time)."""
    idx = f.idx
    posts = np.bincount(idx, minlength=n).astype(np.float64)
    first = np.ones(len(f), bool)
    first[1:] = idx[1:] != idx[:-1]
    day = np.floor(f.t / DAY_S)
    new_day = first.copy()
    new_day[1:] |= day[1:] != day[:-1]
    active_days = np.bincount(idx, weights=new_day, minlength=n)
    start, count = group_bounds(idx, n)
    has = count > 0
    first_t = np.where(has, f.t[np.minimum(start, len(f) - 1)] if len(f) else 0.0, np.nan)
    last_t = np.where(has, f.t[np.maximum(start + count - 1, 0)] if len(f) else 0.0, np.nan)

    # Gaps: between consecutive posts of one account.
    g_ok = ~first[1:]
    gap = np.diff(f.t)[g_ok]
    g_idx = idx[1:][g_ok]
    gaps = np.bincount(g_idx, minlength=n).astype(np.float64)
    g_sum = np.bincount(g_idx, weights=gap, minlength=n)
    g_sq = np.bincount(g_idx, weights=gap * gap, minlength=n)
    # Consecutive gap pairs (three consecutive posts of one account).
    pair_ok = g_idx[1:] == g_idx[:-1]
    a, b = gap[:-1][pair_ok], gap[1:][pair_ok]
    same = np.abs(a - b) <= np.maximum(SAME_GAP_S, SAME_GAP_SHARE * np.maximum(a, b))
    pairs = np.bincount(g_idx[1:][pair_ok], minlength=n).astype(np.float64)
    same_pairs = np.bincount(g_idx[1:][pair_ok], weights=same, minlength=n)
    # Entropy of the log2 gap bins, per account.
    bins = np.floor(np.log2(gap + 1.0)).astype(np.int64)
    keys, counts = np.unique(g_idx * 64 + np.minimum(bins, 63), return_counts=True)
    k_idx = keys // 64
    share = counts / gaps[k_idx]
    entropy = np.bincount(k_idx, weights=-share * np.log2(share), minlength=n)

    enough = posts >= p.min_posts
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = g_sum / gaps
        sd = np.sqrt(np.maximum(g_sq / gaps - mean * mean, 0.0))
        out = {
            "posts": posts,
            "active_days": np.where(has, active_days, np.nan),
            "first_t": first_t,
            "last_t": last_t,
            "gaps": gaps,
            "rate": np.where(has, posts / active_days, np.nan),
            "repost_share": _share(f.kind == 1, idx, posts, enough, n),
            "reply_share": _share(f.kind == 2, idx, posts, enough, n),
            "link_share": _share(f.link, idx, posts, enough, n),
            "gap_cv": np.where(enough & (mean > 0), sd / mean, np.nan),
            "burstiness": np.where(enough & (sd + mean > 0), (sd - mean) / (sd + mean), np.nan),
            "gap_entropy": np.where(
                enough & (gaps >= 2),
                np.minimum(1.0, entropy / np.log2(np.clip(gaps, 2, GAP_BINS))),
                np.nan,
            ),
            "regular_gaps": np.where(enough & (pairs > 0), same_pairs / pairs, np.nan),
        }
    return out


def _share(
    mask: np.ndarray, idx: np.ndarray, posts: np.ndarray, enough: np.ndarray, n: int
) -> np.ndarray:
    k = np.bincount(idx, weights=mask, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(enough, k / posts, np.nan)


def speed(s: Shares, n: int, p: SignalParams) -> dict[str, np.ndarray]:
    """How soon an account shares an object after its first appearance (the parent
    post's time for reposts, replies and quotes; the first share of a URL), and how
    often it piles on within ``pile_on_seconds`` of the previous share of the same
    object. Viral objects (``viral_shares`` shares or more) are left out of the pile-on:
    there, strangers follow each other within seconds by sheer numbers."""
    timed = np.isin(s.kind, TIMED)  # `s` is sorted by (object, time); so is this subset
    idx, obj, t, parent_t = s.idx[timed], s.obj[timed], s.t[timed], s.parent_t[timed]
    start = np.ones(len(obj), bool)
    start[1:] = obj[1:] != obj[:-1]
    group = np.cumsum(start) - 1
    first_share = t[start][group]
    shares = np.bincount(group)[group]
    first_t = np.fmin(first_share, parent_t)  # fmin: NaN (no parent here) is ignored
    delay = t - first_t
    late = delay > 0
    prev_gap = np.full(len(t), np.inf)
    prev_gap[1:] = np.where(start[1:], np.inf, np.diff(t))
    followed = ~start & (shares < p.viral_shares)
    pile = followed & (prev_gap <= p.pile_on_seconds)

    timed_shares = np.bincount(idx[late], minlength=n).astype(np.float64)
    followed_n = np.bincount(idx[followed], minlength=n).astype(np.float64)
    pile_ons = np.bincount(idx[pile], minlength=n).astype(np.float64)
    med = group_median(idx[late], delay[late], n)
    m = p.min_posts
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "timed_shares": timed_shares,
            "followed_shares": followed_n,
            "pile_ons": pile_ons,
            "share_delay_s": np.where(timed_shares >= m, med, np.nan),
            "pile_on_share": np.where(followed_n >= m, pile_ons / followed_n, np.nan),
        }


def group_median(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The median per account 0..n-1 (NaN for none) of non-negative ``values``, at a
    resolution of 1/1000 (one int64 sort of account << 40 | value·1000)."""
    milli = np.minimum(np.round(np.asarray(values) * 1000), (1 << 40) - 1).astype(np.int64)
    key = np.sort((np.asarray(idx, np.int64) << 40) | milli)
    i, v = key >> 40, (key & ((1 << 40) - 1)) / 1000.0
    start, count = group_bounds(i, n)
    has = count > 0
    if not len(v):
        return np.full(n, np.nan)
    lo = np.where(has, start + (count - 1) // 2, 0)
    hi = np.where(has, start + count // 2, 0)
    return np.where(has, (v[lo] + v[hi]) / 2.0, np.nan)


def texts(x: Texts, n: int, p: SignalParams) -> dict[str, np.ndarray]:
    """The share of an account's texts that repeat another post exactly (same ``text``
    object) or nearly (same ``simtext`` object, when detection made them). A repeat of
    its own earlier text counts too: a copy is a copy."""
    _, inv = unique_inverse(x.obj)
    copies = np.bincount(inv)[inv] > 1
    near = sorted_unique(x.post[x.simtext & copies])  # posts with a near-duplicate
    text = ~x.simtext
    dup = copies[text]
    if len(near):
        pos = np.minimum(np.searchsorted(near, x.post[text]), len(near) - 1)
        dup |= near[pos] == x.post[text]
    t_idx = x.idx[text]
    n_texts = np.bincount(t_idx, minlength=n).astype(np.float64)
    dup_texts = np.bincount(t_idx, weights=dup, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_texts >= p.min_posts, np.minimum(1.0, dup_texts / n_texts), np.nan)
    return {"texts": n_texts, "dup_texts": dup_texts, "dup_text_share": share}


def coordination(
    con: duckdb.DuckDBPyConnection, detection_run: int | None, n: int
) -> dict[str, np.ndarray]:
    """Each account's cluster (-1: none) and co-action share in the detection run:
    0 outside clusters, NaN for everyone without a run."""
    if detection_run is None:
        return {"cluster_id": np.full(n, -1, np.int64), "coordinated_share": np.full(n, np.nan)}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _sig_coord AS
        SELECT account_id, min(cluster_id) AS cluster_id,
               max(coalesce(coaction_share, 0.0)) AS coordinated_share
        FROM cluster_members WHERE run_id = {int(detection_run)} GROUP BY account_id
        """
    )
    d = by_idx(con, "_sig_coord", ["cluster_id", "coordinated_share"], n)
    return {
        "cluster_id": np.where(np.isnan(d["cluster_id"]), -1, d["cluster_id"]).astype(np.int64),
        "coordinated_share": np.nan_to_num(d["coordinated_share"], nan=0.0),
    }
