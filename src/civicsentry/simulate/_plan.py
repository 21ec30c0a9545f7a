"""The plan of a simulation: everything decided before any post is written.

The plan holds the accounts, the *seeds* (original posts that others will repost, reply
to or quote: organic ones with a heavy-tailed popularity, the posts campaigns push, the
posts that go viral), the campaign and viral activity (materialised: a few percent of the
posts), and how many organic posts fall into each hour. Organic posts themselves are
generated hour by hour from the plan (``_organic``), so memory stays bounded by the
largest chunk, and any hour can be generated on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civicsentry.errors import InvalidParams

from ..arrays import sorted_unique
from . import _campaigns as C
from ._content import ContentModel, organic_content
from ._core import (
    DIURNAL,
    NORMAL,
    QUOTE,
    REPLY,
    REPOST,
    SEED_FLAG,
    WORKDAY,
    Skeleton,
    intensity,
    rng_for,
    snowflake,
)
from ._population import ORGANIC_OFFSET_P, ORGANIC_OFFSETS, Population, draft_members, draft_organic

CASCADE_WINDOW = 72 * 3600  # organic reshares of a post come within three days
SLOW_TAU = 8 * 3600.0  # the long tail of reshares
CHUNK_ROWS = 250_000
VIRAL_TAU = 12 * 60.0  # viral reshares: most within the hour
_DIURNAL_NORM = DIURNAL / DIURNAL.mean()


@dataclass
class Plan:
    seed: int
    start: int
    hours: int
    pop: Population
    content: ContentModel
    pools: C.CampaignPools
    planted: list[C.Planted]
    viral: list[int]  # seed indices of the posts that go viral
    seeds: Skeleton  # sorted by time; seeds.seed is the index itself
    seed_ids: np.ndarray
    fixed: Skeleton  # campaign and viral activity, sorted by time
    orig_counts: np.ndarray  # (hours, groups) organic original posts
    awake: np.ndarray  # (hours, groups) activity of each schedule group, 1 at its peak
    reshare_counts: np.ndarray  # (hours,) organic reposts, replies and quotes
    casc_k: np.ndarray  # (2, seeds) expected reshares: fast and slow component
    casc_tau: np.ndarray  # (2, seeds) time constants, s
    casc_off: np.ndarray  # (seeds,) UTC offset of the seed's community
    chunks: list[tuple[int, int]]  # hour ranges written together
    total: int

    @property
    def end(self) -> int:
        return self.start + self.hours * 3600

    def cascade(self, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Seeds reshared in hour h: (seed index, component, lower bound a, expected count)."""
        h0, h1 = self.start + h * 3600, self.start + (h + 1) * 3600
        lo, hi = np.searchsorted(self.seeds.t, [h1 - CASCADE_WINDOW, h1 - 1])
        s = np.arange(lo, hi)
        ts = self.seeds.t[s]
        a = np.maximum(h0, ts + 1)
        d = _DIURNAL_NORM[(self.start // 3600 + h + self.casc_off[s]) % 24]
        out_s, out_c, out_a, out_w = [], [], [], []
        for c in (0, 1):
            tau = self.casc_tau[c, s]
            w = self.casc_k[c, s] * (np.exp(-(a - ts) / tau) - np.exp(-(h1 - ts) / tau)) * d
            out_s.append(s)
            out_c.append(np.full(len(s), c))
            out_a.append(a)
            out_w.append(w)
        return (
            np.concatenate(out_s),
            np.concatenate(out_c),
            np.concatenate(out_a),
            np.concatenate(out_w),
        )


def build_plan(
    posts: int, seed: int, start: int, days: int, specs: list[C.CampaignSpec] | None
) -> Plan:
    rng = rng_for(seed, 1)
    hours = days * 24
    end = start + hours * 3600
    n_accounts = max(100, posts // 20)
    resolved = C.resolve(rng, specs, n_accounts, days)
    n_members = sum(s.accounts or 0 for s in resolved)
    n_org = n_accounts - n_members
    if n_org < max(50, n_members):
        raise InvalidParams(
            f"{posts} posts give {n_accounts} accounts, too few for campaigns of {n_members} "
            "accounts: raise posts or plant fewer/smaller campaigns."
        )
    n_comm = int(np.clip(n_org // 2000, 4, 60))
    home = rng.choice(ORGANIC_OFFSETS, n_comm, p=ORGANIC_OFFSET_P)
    drafts = [draft_organic(rng, n_org, home, start)]
    for i, s in enumerate(resolved):
        k = C.KINDS[s.kind]
        foreign = k.schedule == WORKDAY
        drafts.append(
            draft_members(
                rng,
                s.accounts or 0,
                campaign=i,
                start=start,
                default_handles=k.default_handles,
                created_days_ago=(rng.uniform(*k.created[0]), k.created[1]),
                followers=k.followers,
                empty_bio=k.empty_bio,
                community=int(rng.integers(n_comm)),
                offset=int(s.utc_offset or 0) if foreign else C.LOCAL_OFFSET,
                profile=WORKDAY if foreign else NORMAL,
                activity=k.activity,
            )
        )
    pop = Population(rng_for(seed, 2), drafts, n_comm)
    cm = ContentModel(pop, start, posts / days)
    organic = np.arange(n_org)
    stars = organic[pop.d.followers[:n_org] >= np.quantile(pop.d.followers[:n_org], 0.98)]

    # Campaigns and viral bursts are materialised now: they are a few percent of the posts.
    pools = C.CampaignPools()
    seed_parts, fixed_parts, planted = [], [], []
    n_seeds = 0
    member_start = n_org
    for i, s in enumerate(resolved):
        members = np.arange(member_start, member_start + (s.accounts or 0))
        member_start += len(members)
        sk, acts, pl = C.plant(
            rng_for(seed, 3, i), i, s, members, stars, pools, cm.text_base, start, hours, cm
        )
        acts.parent = np.where(acts.parent >= 0, acts.parent + n_seeds, -1)
        pl.seeds = [x + n_seeds for x in pl.seeds]
        n_seeds += len(sk)
        seed_parts.append(sk)
        fixed_parts.append(acts)
        planted.append(pl)
    n_viral = max(1, round(posts / 300_000))
    viral = []
    for v in range(n_viral):
        sk, acts = _viral(rng_for(seed, 4, v), pop, cm, n_org, stars, start, end, posts)
        acts.parent[:] = n_seeds
        viral.append(n_seeds)
        n_seeds += 1
        seed_parts.append(sk)
        fixed_parts.append(acts)
    fixed = Skeleton.concat(fixed_parts)

    # Organic seeds and the budget of organic posts left for the hours.
    n_org_seeds = max(20, round(0.035 * posts))
    remaining = posts - len(fixed) - n_seeds - n_org_seeds
    if remaining < 0.3 * posts:
        raise InvalidParams(
            f"{posts} posts leave too little room for organic activity next to "
            f"{len(fixed)} campaign/viral posts: raise posts or plant fewer campaigns."
        )
    org_seeds = _organic_seeds(rng_for(seed, 5), pop, cm, n_org, n_org_seeds, start, hours)
    seeds = Skeleton.concat([org_seeds, *seed_parts])
    # Expected organic reshares of each seed: heavy-tailed, more for followed authors.
    reach = rng.pareto(1.2, len(seeds)) + 1.0
    reach *= np.sqrt(pop.d.followers[seeds.account] / np.median(pop.d.followers) + 0.1)
    reach[len(org_seeds) :] *= 0.5
    reach[np.array(viral) + len(org_seeds)] = 0.0  # their burst is planted
    fixed.parent = np.where(fixed.parent >= 0, fixed.parent + len(org_seeds), -1)
    viral = [v + len(org_seeds) for v in viral]
    for pl in planted:
        pl.seeds = [x + len(org_seeds) for x in pl.seeds]

    # Sort seeds by time; their index is their identity from here on.
    order = np.argsort(seeds.t * 1000 + seeds.ms, kind="stable")
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    seeds, reach = seeds.take(order), reach[order]
    seeds.seed = np.arange(len(seeds))
    fixed.parent = np.where(fixed.parent >= 0, inv[np.maximum(fixed.parent, 0)], -1)
    viral = [int(inv[v]) for v in viral]
    for pl in planted:
        pl.seeds = [int(inv[x]) for x in pl.seeds]
    seed_ids = snowflake(seeds.t, seeds.ms, seeds.seed & (SEED_FLAG - 1))
    while len(sorted_unique(seed_ids)) < len(seed_ids):  # > 2M seeds: ids may repeat; move 1 ms
        dup = np.ones(len(seed_ids), bool)
        dup[np.unique(seed_ids, return_index=True)[1]] = False
        seeds.ms[dup] = np.where(seeds.ms[dup] < 999, seeds.ms[dup] + 1, 0)
        seed_ids = snowflake(seeds.t, seeds.ms, seeds.seed & (SEED_FLAG - 1))
    fixed = fixed.take(np.argsort(fixed.t * 1000 + fixed.ms, kind="stable"))

    n_original = round(0.52 * remaining)
    n_reshare = remaining - n_original
    tau_fast = rng.lognormal(np.log(1800.0), 0.8, len(seeds))
    plan = Plan(
        seed=seed,
        start=start,
        hours=hours,
        pop=pop,
        content=cm,
        pools=pools,
        planted=planted,
        viral=viral,
        seeds=seeds,
        seed_ids=seed_ids,
        fixed=fixed,
        orig_counts=np.zeros((hours, pop.n_groups), np.int64),
        reshare_counts=np.zeros(hours, np.int64),
        casc_k=np.vstack([0.8 * reach, 0.2 * reach]),
        casc_tau=np.vstack([tau_fast, np.full(len(seeds), SLOW_TAU)]),
        casc_off=home[pop.d.community[seeds.account]],
        chunks=[],
        awake=np.ones((hours, pop.n_groups)),
        total=posts,
    )
    abs_h = start // 3600 + np.arange(hours)
    awake = np.stack(
        [intensity(pop.group_profile(g), abs_h, pop.group_offset(g)) for g in range(pop.n_groups)],
        axis=1,
    )
    plan.awake = awake / awake.max(axis=0)
    cell = awake * pop.originals.total()
    plan.orig_counts = rng.multinomial(n_original, (cell / cell.sum()).ravel()).reshape(cell.shape)
    lam = np.array([plan.cascade(h)[3].sum() for h in range(hours)])
    plan.reshare_counts = rng.multinomial(n_reshare, lam / lam.sum())
    plan.chunks = _chunks(plan)
    return plan


def _organic_seeds(
    rng: np.random.Generator,
    pop: Population,
    cm: ContentModel,
    n_org: int,
    n: int,
    start: int,
    hours: int,
) -> Skeleton:
    """Original posts that will spread, by the accounts people follow, at their active hours."""
    w = pop.d.activity[:n_org] * np.sqrt(pop.d.followers[:n_org] + 1.0)
    sk = Skeleton.empty(n)
    sk.account = rng.choice(n_org, n, p=w / w.sum())
    abs_h = start // 3600 + np.arange(hours)
    groups = pop.group[sk.account]
    for g in np.unique(groups):
        sel = np.nonzero(groups == g)[0]
        p = intensity(pop.group_profile(g), abs_h, pop.group_offset(g))
        sk.t[sel] = (
            start
            + rng.choice(hours, len(sel), p=p / p.sum()) * 3600
            + rng.integers(0, 3600, len(sel))
        )
    sk.ms = rng.integers(0, 1000, n)
    organic_content(rng, sk, cm, p_url=0.45, p_tag=0.3)
    return sk


def _viral(
    rng: np.random.Generator,
    pop: Population,
    cm: ContentModel,
    n_org: int,
    stars: np.ndarray,
    start: int,
    end: int,
    posts: int,
) -> tuple[Skeleton, Skeleton]:
    """An innocent burst: one post reshared by thousands of organic accounts within an hour."""
    sk = Skeleton.empty(1)
    sk.account[0] = rng.choice(stars) if rng.random() < 0.5 else rng.integers(n_org)
    hours = (end - start) // 3600
    abs_h = start // 3600 + np.arange(hours)
    p = intensity(NORMAL, abs_h, C.LOCAL_OFFSET)
    p[-3:] = 0  # leave the burst room to happen
    sk.t[0] = start + rng.choice(hours, p=p / p.sum()) * 3600 + rng.integers(0, 3600)
    sk.ms[0] = rng.integers(1000)
    organic_content(rng, sk, cm, p_url=0.3)
    size = int(min(0.25 * n_org, rng.uniform(2000, 8000), max(50, 0.03 * posts)))
    # Without replacement, weighted by how much each account reshares (Gumbel top-k).
    w = pop.d.share[:n_org] * np.where(
        pop.d.community[:n_org] == pop.d.community[sk.account[0]], 3.0, 1.0
    )
    keys = np.log(w + 1e-12) - np.log(-np.log(rng.random(n_org)))
    keys[sk.account[0]] = -np.inf
    who = np.argpartition(-keys, size)[:size]
    acts = Skeleton.empty(size)
    acts.account = np.sort(who)
    rng.shuffle(acts.account)
    acts.t = sk.t[0] + 5 + rng.exponential(VIRAL_TAU, size).astype(np.int64)
    acts.ms = rng.integers(0, 1000, size)
    organic_content(rng, acts, cm, p_url=0.02)
    acts.kind = rng.choice([REPOST, QUOTE, REPLY], size, p=[0.9, 0.06, 0.04]).astype(np.int8)
    return sk, acts.take(acts.t < end)


def _chunks(plan: Plan) -> list[tuple[int, int]]:
    """Consecutive hour ranges of about CHUNK_ROWS posts each."""
    edges = plan.start + np.arange(plan.hours + 1) * 3600
    per_hour = plan.orig_counts.sum(axis=1) + plan.reshare_counts
    per_hour += np.diff(np.searchsorted(plan.seeds.t, edges)) + np.diff(
        np.searchsorted(plan.fixed.t, edges)
    )
    chunks, lo, acc = [], 0, 0
    for h, n in enumerate(per_hour):
        if acc and acc + n > CHUNK_ROWS:
            chunks.append((lo, h))
            lo, acc = h, 0
        acc += int(n)
    chunks.append((lo, plan.hours))
    return chunks
