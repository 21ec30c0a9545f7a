"""Planted coordinated campaigns: their kinds, parameters and generated activity.

Every campaign pushes a list of *objects* (posts to repost/reply/quote, URLs, hashtags,
texts) at trigger times; for each object a random subset of members acts within a short,
kind-specific lag of the trigger. That is what coordination detectors look for: the same
accounts co-acting within a window, again and again, on many objects.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from civicsentry.errors import InvalidParams

from . import _vocab as V
from ._content import ContentModel, organic_content
from ._core import (
    ALWAYS,
    CAMPAIGN_URL_BASE,
    NORMAL,
    POST,
    QUOTE,
    REPLY,
    REPOST,
    WORKDAY,
    Skeleton,
    intensity,
)

#: The offset campaigns pretend to live in (the organic population's main one).
LOCAL_OFFSET = -5
FOREIGN_OFFSET = 3


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign to plant. ``None`` fields get the kind's defaults, scaled to the run."""

    kind: str
    accounts: int | None = None
    targets: int | None = None
    utc_offset: int | None = None  # schedule offset; used by foreign_schedule


class Kind(NamedTuple):
    doc: str
    size: tuple[int, int]  # members, at full scale
    min_size: int  # floor when the population is small
    instances: int  # in the default mix at full scale
    targets: tuple[int, int]  # objects pushed per 7 days
    participation: tuple[float, float]  # share of members acting on each object
    objects: tuple[float, float, float, float]  # P(post, url, hashtag, text) objects
    reactions: tuple[float, float, float]  # P(repost, reply, quote) on a post object
    lag: tuple[str, float, float]  # how long after the trigger members act (s)
    schedule: int  # when triggers happen
    source_member: float  # P(a pushed post is written by a member, not an organic account)
    default_handles: float  # share of name+8-digit handles
    created: tuple[tuple[float, float], float]  # creation burst: centre range, spread (days)
    followers: float  # median
    empty_bio: float
    activity: float  # organic-looking activity relative to a median user


KINDS: dict[str, Kind] = {
    "fast_bots": Kind(
        "automated accounts reposting the same posts within seconds, in the same order",
        (10, 40), 4, 3, (30, 80), (0.75, 0.95), (0.8, 0.2, 0, 0), (1, 0, 0),
        ("ranked", 1, 0.6), ALWAYS, 0.3, 0.9, ((20, 120), 2), 8, 0.8, 0.3,
    ),
    "troll_farm": Kind(
        "operators acting on a shared tasking list with minutes of jitter, mixing originals",
        (15, 50), 5, 2, (25, 60), (0.5, 0.8), (0.5, 0.2, 0.3, 0), (0.6, 0.25, 0.15),
        ("exp", 120, 900), NORMAL, 0.5, 0.2, ((200, 1500), 180), 400, 0.2, 1.0,
    ),
    "copy_paste": Kind(
        "the same text posted by many accounts with small edits, emoji and varying links",
        (10, 30), 4, 2, (12, 30), (0.6, 0.9), (0, 0, 0, 1), (1, 0, 0),
        ("uniform", 0, 240), NORMAL, 0.0, 0.5, ((30, 365), 10), 40, 0.5, 0.6,
    ),
    "small_cell": Kind(
        "a handful of accounts (3-6) amplifying each other and a few links",
        (3, 6), 3, 3, (20, 50), (0.85, 1.0), (0.6, 0.4, 0, 0), (0.85, 0.1, 0.05),
        ("uniform", 5, 90), NORMAL, 0.3, 0.3, ((30, 700), 60), 150, 0.3, 1.0,
    ),
    "large_network": Kind(
        "hundreds of accounts, each object pushed by a different random subset",
        (200, 400), 20, 1, (60, 150), (0.12, 0.3), (0.75, 0, 0.25, 0), (0.9, 0.05, 0.05),
        ("exp", 90, 600), NORMAL, 0.3, 0.7, ((15, 200), 3), 20, 0.6, 0.4,
    ),
    "foreign_schedule": Kind(
        "a cluster working office hours (Mon-Fri 09-18) of a foreign UTC offset",
        (20, 60), 5, 1, (30, 70), (0.5, 0.75), (0.5, 0.25, 0.25, 0), (0.8, 0.1, 0.1),
        ("uniform", 0, 300), WORKDAY, 0.4, 0.3, ((300, 800), 5), 300, 0.2, 1.0,
    ),
}  # fmt: skip
_MEAN_MIX = sum(k.instances * sum(k.size) / 2 for k in KINDS.values())
CAMPAIGN_SHARE = 0.02  # of all accounts, in the default mix


def parse_specs(campaigns: str | Sequence[CampaignSpec] | None) -> list[CampaignSpec] | None:
    """``"fast_bots:3,small_cell"`` -> specs; None -> None (the default mix); "none" -> []."""
    if campaigns is None:
        return None
    if isinstance(campaigns, str):
        text = campaigns.strip().lower()
        if text in ("", "none"):
            return []
        specs: list[CampaignSpec] = []
        for part in text.split(","):
            m = re.fullmatch(r"\s*([a-z_]+)\s*(?::\s*(\d+))?\s*", part)
            if not m:
                raise InvalidParams(
                    f"Bad campaign spec {part!r}: use KIND or KIND:COUNT, e.g. 'fast_bots:3'."
                )
            specs += [CampaignSpec(m.group(1))] * int(m.group(2) or 1)
    else:
        specs = list(campaigns)
    for s in specs:
        if not isinstance(s, CampaignSpec) or s.kind not in KINDS:
            kind = getattr(s, "kind", s)
            raise InvalidParams(f"Unknown campaign kind {kind!r}. Available: {', '.join(KINDS)}.")
        if (s.accounts is not None and s.accounts < 2) or (s.targets is not None and s.targets < 1):
            raise InvalidParams(f"Campaign {s}: needs at least 2 accounts and 1 target.")
    return specs


def resolve(
    rng: np.random.Generator, specs: list[CampaignSpec] | None, n_accounts: int, days: int
) -> list[CampaignSpec]:
    """Fill in sizes, target counts and offsets, scaled so campaigns are ~2% of accounts."""
    f = CAMPAIGN_SHARE * n_accounts / _MEAN_MIX
    if specs is None:
        reps = max(f, 1.0) if f >= 1 else np.sqrt(f)
        specs = [
            CampaignSpec(name)
            for name, k in KINDS.items()
            for _ in range(max(1, round(k.instances * reps)))
        ]
    out = []
    for s in specs:
        k = KINDS[s.kind]
        size = s.accounts or max(
            k.min_size, round(rng.integers(k.size[0], k.size[1] + 1) * min(f, 1.0))
        )
        targets = s.targets or max(5, round(rng.integers(*k.targets) * days / 7))
        offset = (
            s.utc_offset
            if s.utc_offset is not None
            else (FOREIGN_OFFSET if k.schedule == WORKDAY else LOCAL_OFFSET)
        )
        out.append(replace(s, accounts=int(size), targets=int(targets), utc_offset=int(offset)))
    return out


@dataclass
class Planted:
    """What one campaign did; ``seeds`` are indices into the returned seed skeleton."""

    spec: CampaignSpec
    start: int
    end: int
    seeds: list[int]
    urls: list[int]
    hashtags: list[str]
    texts: list[str]


class CampaignPools:
    """Strings campaigns add to the vocabulary: texts (after the organic openers), URLs."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.urls: list[str] = []

    def add_texts(self, rng: np.random.Generator, n_templates: int, per: int) -> list[list[int]]:
        """Templates with ``per`` edited copies each (word swaps, emoji); returns text ids."""
        out = []
        for t in rng.choice(len(V.TEMPLATES), n_templates, replace=n_templates > len(V.TEMPLATES)):
            base = V.TEMPLATES[t].format(place=V.PLACES[rng.integers(len(V.PLACES))])
            ids = []
            for i in range(per):
                text = base
                for a, b in V.SWAPS:
                    if a in text and i and rng.random() < 0.35:
                        text = text.replace(a, b, 1)
                if i and rng.random() < 0.5:
                    text += " " + V.EMOJI[rng.integers(len(V.EMOJI))] * int(rng.integers(1, 4))
                ids.append(len(self.texts))
                self.texts.append(text)
            out.append(ids)
        return out

    def add_urls(self, rng: np.random.Generator, n: int) -> list[int]:
        dom = V.CAMPAIGN_DOMAINS[rng.integers(len(V.CAMPAIGN_DOMAINS))]
        ids = []
        for _ in range(n):
            w = rng.choice(len(V.CAMPAIGN_WORDS), 2, replace=False)
            section = V.SECTIONS[rng.integers(len(V.SECTIONS))]
            slug = f"{V.CAMPAIGN_WORDS[w[0]]}-{V.CAMPAIGN_WORDS[w[1]]}-{rng.integers(10**5, 10**6)}"
            ids.append(CAMPAIGN_URL_BASE + len(self.urls))
            self.urls.append(f"https://{dom}/{section}/{slug}")
        return ids


def plant(
    rng: np.random.Generator,
    ci: int,
    spec: CampaignSpec,
    members: np.ndarray,
    organic_authors: np.ndarray,
    pools: CampaignPools,
    text_base: int,
    start: int,
    hours: int,
    content: ContentModel,
) -> tuple[Skeleton, Skeleton, Planted]:
    """One campaign's pushed posts (seeds) and members' actions on every object."""
    k = KINDS[spec.kind]
    assert spec.targets is not None and spec.utc_offset is not None
    end_t = start + hours * 3600
    span = end_t - start
    w0 = start + int(span * rng.uniform(0.0, 0.3)) + 7200  # room for the pushed posts' lead
    w1 = end_t - int(span * rng.uniform(0.0, 0.15))
    n_obj = spec.targets
    # Trigger times follow the campaign's schedule within its window.
    h0, h1 = (w0 - start) // 3600, max((w1 - start) // 3600, (w0 - start) // 3600 + 1)
    abs_h = start // 3600 + np.arange(h0, h1)
    w = intensity(k.schedule, abs_h, spec.utc_offset)
    trig = np.sort(
        abs_h[rng.choice(len(abs_h), n_obj, p=w / w.sum())] * 3600 + rng.integers(0, 3600, n_obj)
    )
    trig = np.clip(trig, w0, w1 - 1)
    obj_type = rng.choice(4, n_obj, p=np.array(k.objects) / sum(k.objects))
    texts = pools.add_texts(rng, max(2, n_obj // 4 if k.objects[3] else 3), 6)
    flat_texts = [t for ts in texts for t in ts]
    urls = pools.add_urls(rng, max(2, n_obj // 5))
    tags = list(rng.choice(V.CAMPAIGN_HASHTAGS, 3, replace=False))
    tag_ids = [len(V.HASHTAGS) + V.CAMPAIGN_HASHTAGS.index(t) for t in tags]

    # Pushed posts: written by a member (who then sits out) or an amplified organic account.
    is_post = obj_type == 0
    n_seed = int(is_post.sum())
    seeds = Skeleton.empty(n_seed)
    by_member = rng.random(n_seed) < k.source_member
    seeds.account = np.where(
        by_member, rng.choice(members, n_seed), rng.choice(organic_authors, n_seed)
    )
    seeds.t = trig[is_post] - rng.integers(60, 3600, n_seed)
    seeds.ms = rng.integers(0, 1000, n_seed)
    organic_content(rng, seeds, content, p_url=0.4)
    _campaign_text(rng, seeds, by_member, flat_texts, text_base, urls, tag_ids)
    seeds.camp = np.where(by_member, ci, -1)
    seed_of_obj = np.full(n_obj, -1)
    seed_of_obj[is_post] = np.arange(n_seed)

    # Who acts on which object: a participation draw per (object, member) pair.
    p = rng.uniform(*k.participation, n_obj)
    act = rng.random((n_obj, len(members))) < p[:, None]
    src = np.full(n_obj, -1)
    src[is_post] = seeds.account
    act &= members[None, :] != src[:, None]
    oi, mi = np.nonzero(act)
    n = len(oi)
    lag = _lags(rng, k.lag, mi, n, len(members))
    acts = Skeleton.empty(n)
    acts.account = members[mi]
    acts.t = trig[oi] + lag.astype(np.int64)
    acts.ms = rng.integers(0, 1000, n)
    acts.camp[:] = ci
    organic_content(rng, acts, content, p_url=0.0)
    ot = obj_type[oi]
    # Post objects: repost, reply or quote it.
    react = rng.choice([REPOST, REPLY, QUOTE], n, p=k.reactions)
    acts.kind = np.where(ot == 0, react, POST).astype(np.int8)
    acts.parent = np.where(ot == 0, seed_of_obj[oi], -1)
    narrative = (ot == 0) & (acts.kind != REPOST) & (rng.random(n) < 0.6)
    acts.s0 = np.where(narrative, text_base + rng.choice(flat_texts, n), acts.s0)
    # URL objects: one URL per object, each copy with its own tracking junk.
    obj_url = rng.choice(urls, n_obj)
    acts.url = np.where(ot == 1, obj_url[oi], acts.url)
    acts.uv = np.where(ot == 1, rng.integers(0, 5, n), acts.uv).astype(np.int8)
    link_text = (ot == 1) & (rng.random(n) < 0.7)
    acts.s0 = np.where(link_text, text_base + rng.choice(flat_texts, n), acts.s0)
    # Hashtag objects: everyday-sounding text carrying the campaign's tag, mixed case.
    obj_tag = rng.choice(tag_ids, n_obj)
    acts.h1 = np.where(ot == 2, obj_tag[oi], acts.h1)
    acts.hc = np.where(ot >= 1, rng.choice(3, n, p=[0.6, 0.3, 0.1]), acts.hc).astype(np.int8)
    # Text objects: copies of one template, edited, each with a varying link and mention.
    tmpl = rng.integers(0, len(texts), n_obj)
    variant = np.array([texts[t][0] for t in tmpl])[oi] + rng.integers(0, 6, n)
    acts.s0 = np.where(ot == 3, text_base + variant, acts.s0)
    acts.url = np.where(ot == 3, rng.choice(urls, n), acts.url)
    acts.uv = np.where(ot == 3, rng.integers(0, 5, n), acts.uv).astype(np.int8)
    acts.m = np.where(ot == 3, rng.choice(organic_authors, n), acts.m)
    _blank_segments(acts, acts.s0 >= text_base)
    acts = acts.take(acts.t < end_t)
    # Report the objects as pushed: the URLs, hashtags and templates their posts carry.
    mine = Skeleton.concat([acts, seeds.take(by_member)])
    used_urls = set(np.unique(mine.url[mine.url >= CAMPAIGN_URL_BASE]).tolist())
    used_tags = set(np.unique(np.concatenate([mine.h1, mine.h2])).tolist())
    used_texts = set(np.unique(mine.s0[mine.s0 >= text_base] - text_base).tolist())
    planted = Planted(
        spec,
        w0,
        w1,
        list(range(n_seed)),
        [u for u in urls if u in used_urls],
        [t for t, i in zip(tags, tag_ids, strict=True) if i in used_tags],
        [pools.texts[ids[0]] for ids in texts if used_texts.intersection(ids)],
    )
    return seeds, acts, planted


def _lags(
    rng: np.random.Generator, lag: tuple[str, float, float], mi: np.ndarray, n: int, size: int
) -> np.ndarray:
    how, a, b = lag
    if how == "ranked":  # a scheduler firing the bots in a fixed order, a moment apart
        step = 25.0 / max(size, 1)
        return a + mi * step * b + rng.uniform(0, 2, n)
    if how == "exp":
        return np.minimum(rng.exponential(a, n), b)
    return rng.uniform(a, b, n)


def _campaign_text(
    rng: np.random.Generator,
    sk: Skeleton,
    mask: np.ndarray,
    texts: list[int],
    base: int,
    urls: list[int],
    tags: list[int],
) -> None:
    n = len(sk)
    sk.s0 = np.where(mask, base + rng.choice(texts, n), sk.s0)
    sk.url = np.where(mask & (rng.random(n) < 0.5), rng.choice(urls, n), sk.url)
    sk.h1 = np.where(mask & (rng.random(n) < 0.5), rng.choice(tags, n), sk.h1)
    _blank_segments(sk, mask)


def _blank_segments(sk: Skeleton, mask: np.ndarray) -> None:
    """Campaign texts are whole sentences: the other segments must be empty."""
    for name in ("s1", "s2", "s3", "s4"):
        setattr(sk, name, np.where(mask, 0, getattr(sk, name)))
