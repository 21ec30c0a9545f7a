"""Shared pieces of the simulator: the numeric post skeleton, clocks, samplers, ids.

Posts are generated as a *skeleton* of integer columns (who, when, which kind, which
text segments, which url/hashtags/mention) and only turned into strings, in chunks, by
``_render``. Every random draw comes from a generator keyed on (seed, stream, index),
so a chunk's content does not depend on which chunks were generated before it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

#: Kind codes; order matches civicsentry.schema.POST_KINDS.
POST, REPOST, REPLY, QUOTE = 0, 1, 2, 3
KINDS = ("post", "repost", "reply", "quote")
PLATFORM = "x"
#: X/Twitter snowflake epoch (ms): ids then sort by time, as real ones do.
TWITTER_EPOCH_MS = 1288834974657
SEED_FLAG = 1 << 21  # low-bit flag separating planned (seed) ids from chunk ids
#: Ids of campaign URLs start here; smaller ids are organic URLs built from a hash.
CAMPAIGN_URL_BASE = 1 << 40

# Relative posting intensity by local hour (0-23): night trough, lunch and evening peaks.
DIURNAL = np.array(
    [0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0,
     1.05, 1.0, 0.95, 0.95, 1.0, 1.05, 1.1, 1.2, 1.25, 1.2, 0.95, 0.6]
)  # fmt: skip
NORMAL, WORKDAY, ALWAYS = 0, 1, 2  # schedule profiles


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator for one stream of the simulation."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def intensity(profile: int, abs_hours: np.ndarray, offset: int) -> np.ndarray:
    """Activity weight of a schedule at absolute UTC hours (hours since the Unix epoch)."""
    local = abs_hours + offset
    hour = local % 24
    weekday = (local // 24 + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if profile == WORKDAY:  # office hours Mon-Fri 09-18, a little overtime
        on = (weekday < 5) & (hour >= 9) & (hour < 18)
        w: np.ndarray = np.where(on, 1.0, 0.01)
    elif profile == ALWAYS:  # automation does not sleep, a little less at night
        w = 0.6 + 0.4 * DIURNAL[hour] / DIURNAL.max()
    else:
        w = DIURNAL[hour] * np.where(weekday >= 5, 0.85, 1.0)
    return w


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A fast integer hash, for per-object choices that must not consume the generator."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def snowflake(t: np.ndarray, ms: np.ndarray, low: np.ndarray) -> np.ndarray:
    ids: np.ndarray = ((t * 1000 + ms - TWITTER_EPOCH_MS) << 22) | low
    return ids


def power_index(rng: np.random.Generator, n: int, size: int, a: float, q: float) -> np.ndarray:
    """Indices in [0, size) with P(r) ~ (r + q)^-a (Zipf-Mandelbrot): heavy-tailed popularity
    whose top item is not absurdly dominant (the offset q flattens the head)."""
    e = 1.0 - a
    lo, hi = q**e, (size + q) ** e
    r = (lo + rng.random(n) * (hi - lo)) ** (1.0 / e) - q
    idx: np.ndarray = np.clip(r.astype(np.int64), 0, max(size - 1, 0))
    return idx


class Sampler:
    """Draws items with probability proportional to a weight, within one part of a partition.

    Items are sorted by part once; a draw is a binary search in the cumulative weights of
    the part, so drawing a million items costs one vectorised searchsorted.
    """

    def __init__(self, part: np.ndarray, weight: np.ndarray, n_parts: int) -> None:
        self.order = np.argsort(part, kind="stable")
        self.cum = np.concatenate([[0.0], np.cumsum(weight[self.order])])
        self.bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=n_parts))])

    def total(self) -> np.ndarray:
        """Total weight of each part."""
        tot: np.ndarray = self.cum[self.bounds[1:]] - self.cum[self.bounds[:-1]]
        return tot

    def draw(self, rng: np.random.Generator, parts: np.ndarray) -> np.ndarray:
        lo_i, hi_i = self.bounds[parts], self.bounds[parts + 1]
        lo, hi = self.cum[lo_i], self.cum[hi_i]
        u = lo + rng.random(len(parts)) * (hi - lo)
        pos = np.clip(
            np.searchsorted(self.cum, u, side="right") - 1, lo_i, np.maximum(hi_i - 1, lo_i)
        )
        picked: np.ndarray = self.order[pos]
        return picked


@dataclass
class Skeleton:
    """Numeric columns of a set of posts (see the module docstring)."""

    t: np.ndarray  # int64 Unix seconds
    ms: np.ndarray  # int64 sub-second part of the id's clock
    account: np.ndarray  # int64 account index
    kind: np.ndarray  # int8 kind code
    parent: np.ndarray  # int64 seed index of the parent, -1 for none
    seed: np.ndarray  # int64 seed index when this post is a planned seed, else -1
    lang: np.ndarray  # int8 index in _vocab.LANGS
    s0: np.ndarray  # int64 opener index (or campaign text index, see _render)
    s1: np.ndarray  # int64 subject
    s2: np.ndarray  # int64 verb
    s3: np.ndarray  # int64 object
    s4: np.ndarray  # int64 closer
    h1: np.ndarray  # int64 hashtag index or -1
    h2: np.ndarray  # int64 hashtag index or -1
    hc: np.ndarray  # int8 hashtag case: 0 as listed, 1 lower, 2 upper
    url: np.ndarray  # int64 url id or -1
    uv: np.ndarray  # int8 url variant (tracking parameters, host case)
    m: np.ndarray  # int64 mentioned account or -1
    camp: np.ndarray  # int64 campaign index or -1 (provenance only)

    @classmethod
    def empty(cls, n: int) -> Skeleton:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            small = f.name in ("kind", "lang", "hc", "uv")
            kw[f.name] = np.zeros(n, np.int8 if small else np.int64)
        sk = cls(**kw)
        for name in ("parent", "seed", "h1", "h2", "url", "m", "camp"):
            getattr(sk, name).fill(-1)
        return sk

    def __len__(self) -> int:
        return len(self.t)

    def take(self, idx: np.ndarray | slice) -> Skeleton:
        return Skeleton(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[Skeleton]) -> Skeleton:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )
