"""Organic posts of one hour, and the assembly of a chunk of posts with their ids."""

from __future__ import annotations

import numpy as np

from ._content import organic_content
from ._core import QUOTE, REPLY, REPOST, SEED_FLAG, Skeleton, rng_for, snowflake
from ._plan import Plan


def hour_posts(plan: Plan, h: int) -> Skeleton:
    """The organic originals and organic reshares (repost/reply/quote) of hour ``h``."""
    rng = rng_for(plan.seed, 10, h)
    pop = plan.pop
    h0 = plan.start + h * 3600
    # Originals: counts per schedule group were fixed by the plan; pick writers by activity.
    counts = plan.orig_counts[h]
    orig = Skeleton.empty(int(counts.sum()))
    orig.account = pop.originals.draw(rng, np.repeat(np.arange(len(counts)), counts))
    orig.t = h0 + rng.integers(0, 3600, len(orig))
    orig.ms = rng.integers(0, 1000, len(orig))
    organic_content(rng, orig, plan.content)

    # Reshares: pick (seed, component) by expected count, then a time from the component's
    # exponential delay truncated to this hour (inverse CDF), then a resharer.
    n = int(plan.reshare_counts[h])
    sh = Skeleton.empty(n)
    if n:
        s, c, a, w = plan.cascade(h)
        cum = np.cumsum(w)
        e = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), len(cum) - 1)
        s, ts, tau = s[e], plan.seeds.t[s[e]], plan.casc_tau[c[e], s[e]]
        ea, eb = np.exp(-(a[e] - ts) / tau), np.exp(-(h0 + 3600 - ts) / tau)
        d = -tau * np.log(ea - rng.random(n) * (ea - eb))
        sh.t = np.clip(ts + d.astype(np.int64), a[e], h0 + 3599)
        sh.ms = rng.integers(0, 1000, n)
        sh.parent = s
        author = plan.seeds.account[s]
        home = pop.d.community[author]
        comm = np.where(
            rng.random(n) < 0.8,
            home,
            rng.choice(pop.n_comm, n, p=pop.comm_size / pop.comm_size.sum()),
        )
        empty = pop.resharers.total() <= 0
        comm = np.where(empty[comm], home, comm)
        # Resharers are people awake at that hour in their own time zone (up to three redraws),
        # and rarely the author.
        sh.account = pop.resharers.draw(rng, comm)
        awake = plan.awake[h]
        for _ in range(3):
            redo = (sh.account == author) | (rng.random(n) > awake[pop.group[sh.account]])
            sh.account[redo] = pop.resharers.draw(rng, comm[redo])
        sh.kind = rng.choice([REPOST, REPLY, QUOTE], n, p=[0.76, 0.16, 0.08]).astype(np.int8)
        organic_content(rng, sh, plan.content, p_url=0.04, p_tag=0.12)
    return Skeleton.concat([orig, sh])


def chunk_posts(plan: Plan, h_lo: int, h_hi: int) -> tuple[Skeleton, np.ndarray]:
    """All posts of hours [h_lo, h_hi), sorted by time, with their numeric ids."""
    t0, t1 = plan.start + h_lo * 3600, plan.start + h_hi * 3600
    parts = [hour_posts(plan, h) for h in range(h_lo, h_hi)]
    i, j = np.searchsorted(plan.seeds.t, [t0, t1])
    parts.append(plan.seeds.take(slice(i, j)))
    i, j = np.searchsorted(plan.fixed.t, [t0, t1])
    parts.append(plan.fixed.take(slice(i, j)))
    sk = Skeleton.concat(parts)
    sk = sk.take(np.argsort(sk.t * 1000 + sk.ms, kind="stable"))
    # Seeds keep their planned ids; the others are numbered in time order within the chunk.
    low = np.where(
        sk.seed >= 0, sk.seed & (SEED_FLAG - 1), SEED_FLAG | (np.arange(len(sk)) & (SEED_FLAG - 1))
    )
    ids = snowflake(sk.t, sk.ms, low)
    order = np.argsort(ids, kind="stable")
    return sk.take(order), ids[order]
