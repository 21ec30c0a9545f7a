"""Activity rhythms: hour-of-week counts per account and per cluster, fitted by
``schedule`` (a chunked numpy fit, so memory stays bounded at any number of accounts)."""

from __future__ import annotations

import numpy as np

from ..arrays import sorted_unique
from .frames import Posts
from .schedule import HOURS, ScheduleFit, fit_schedules, fit_sparse

#: Original posts needed, in multiples of ``schedule_min_posts``, before the schedule is
#: fitted on them alone: fewer give a vaguer fit than all posts do, and on simulated
#: accounts twice the minimum balanced the two (docs/signals.md).
ORIGINALS_FACTOR = 2
#: Posts within one slot of this many seconds count once (see ``fit_accounts``).
SLOT_S = 600

#: UTC hour of the week of a timestamp column (Monday 00:00 = 0; the epoch was a Thursday).
HOW_SQL = "CAST((CAST(floor(epoch({col}) / 3600) AS BIGINT) + 72) % 168 AS INTEGER)"


def how_sql(col: str) -> str:
    return HOW_SQL.format(col=col)


def hour_of_week(t: np.ndarray) -> np.ndarray:
    """UTC hour of the week of Unix seconds (Monday 00:00 = 0)."""
    out: np.ndarray = (np.floor(np.asarray(t) / 3600).astype(np.int64) + 72) % HOURS
    return out


def _new_slot(idx: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """True at the first entry of each (account, slot) run; inputs sorted by both."""
    first = np.ones(len(idx), bool)
    first[1:] = (idx[1:] != idx[:-1]) | (slot[1:] != slot[:-1])
    return first


def fit_accounts(
    f: Posts, n: int, *, temperature: float, min_posts: int
) -> tuple[ScheduleFit, ScheduleFit, np.ndarray]:
    """Fit every account (``f`` sorted by account and time): (the rhythm of all its
    posts, the schedule, whether the schedule comes from its original posts).

    Activity is counted in distinct ``SLOT_S`` slots: a burst of posts (a thread, a
    session, a coordinated push) is one observation of when the account is awake, not
    many, which keeps the likelihood from overclaiming. The schedule is fitted on the
    account's original posts when it has ``ORIGINALS_FACTOR × min_posts`` of them (in
    slots), else on all its posts: reposts, replies and quotes react to other people's
    posts and lag them by minutes to hours, which shifts a daily rhythm later — to the
    west; what an account starts shows its own clock."""
    slot = np.floor(f.t / SLOT_S).astype(np.int64)
    keep = _new_slot(f.idx, slot)
    own = f.kind == 0
    keep_own = _new_slot(f.idx[own], slot[own])
    how = (slot // (3600 // SLOT_S) + 72) % HOURS
    use = np.bincount(f.idx[own][keep_own], minlength=n) >= ORIGINALS_FACTOR * min_posts
    # Each account's offset is fitted once: on its originals, or on all its posts.
    every = fit_sparse(
        f.idx[keep], how[keep], n, temperature=temperature, min_posts=min_posts, only=~use
    )
    originals = fit_sparse(
        f.idx[own][keep_own], how[own][keep_own], n,
        temperature=temperature, min_posts=min_posts, only=use,
    )  # fmt: skip
    return every, pick(use, originals, every), use


def pick(mask: np.ndarray, a: ScheduleFit, b: ScheduleFit) -> ScheduleFit:
    """Row by row: ``a`` where ``mask``, else ``b``."""
    fields = ScheduleFit.__dataclass_fields__
    return ScheduleFit(**{k: np.where(mask, getattr(a, k), getattr(b, k)) for k in fields})


def fit_clusters(
    f: Posts, cluster_of: np.ndarray, *, temperature: float, min_posts: int
) -> tuple[np.ndarray, np.ndarray, ScheduleFit, ScheduleFit, np.ndarray]:
    """The pooled rhythm of each cluster, as for an account (distinct slots of the
    cluster: members acting together within one slot count once — the coordination
    itself must not pass for a rhythm): (cluster ids, members, the rhythm of all their
    posts, the schedule, whether it comes from original posts). ``cluster_of`` gives
    each account's cluster (-1: none)."""
    ids, members = np.unique(cluster_of[cluster_of >= 0], return_counts=True)
    cl = cluster_of[f.idx]
    keep = cl >= 0
    pos = np.searchsorted(ids, cl[keep])
    slot = np.floor(f.t[keep] / SLOT_S).astype(np.int64)  # < 2^40 until the year 22,000
    size = len(ids) * HOURS

    def counts(mask: np.ndarray) -> np.ndarray:
        key = sorted_unique((pos[mask] << 40) | slot[mask])
        hour = (key & ((1 << 40) - 1)) // (3600 // SLOT_S)
        how = (key >> 40) * HOURS + (hour + 72) % HOURS
        return np.bincount(how, minlength=size).reshape(len(ids), HOURS)

    every = counts(np.ones(len(pos), bool))
    own = counts(f.kind[keep] == 0)
    use = own.sum(axis=1) >= ORIGINALS_FACTOR * min_posts
    every_fit = fit_schedules(every, temperature=temperature, min_posts=min_posts)
    fit = pick(use, fit_schedules(own, temperature=temperature, min_posts=min_posts), every_fit)
    return ids, members, every_fit, fit, use
