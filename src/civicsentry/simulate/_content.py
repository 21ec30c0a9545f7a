"""What an organic post says: text segments, hashtags, a link, a mention."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _vocab as V
from ._core import Skeleton, power_index

if TYPE_CHECKING:
    from ._population import Population

_DAILY = 10_000_000  # organic url ids: day * _DAILY + rank (today's news) ...
_EVERGREEN = 5_000_000_000  # ... or _EVERGREEN + rank (links shared all week)


class ContentModel:
    """Offsets of each language's segment pools in the combined pools, and link pool sizes."""

    def __init__(self, pop: Population, start: int, posts_per_day: float) -> None:
        self.pop = pop
        self.start = start
        sizes = np.array([[len(seg) for seg in lang] for lang in V.SEGMENTS])  # (lang, segment)
        self.size = sizes
        self.base = np.vstack([np.zeros(5, np.int64), np.cumsum(sizes, axis=0)[:-1]])
        #: Campaign texts are appended after all openers: s0 >= text_base is a campaign text.
        self.text_base = int(sizes[:, 0].sum())
        self.daily_pool = max(200, int(posts_per_day / 40))
        self.evergreen_pool = max(500, int(posts_per_day / 10))


def organic_content(
    rng: np.random.Generator,
    sk: Skeleton,
    cm: ContentModel,
    *,
    p_url: float = 0.22,
    p_tag: float = 0.25,
    p_mention: float = 0.12,
) -> None:
    """Fill the content columns of ``sk`` in place for posts written by ``sk.account``."""
    n = len(sk)
    if n == 0:
        return
    lang = cm.pop.d.lang[sk.account]
    sk.lang = lang.astype(np.int8)
    size, base = cm.size[lang], cm.base[lang]
    empty_opener = rng.random(n) < 0.55
    sk.s0 = base[:, 0] + np.where(
        empty_opener, 0, 1 + (rng.random(n) * (size[:, 0] - 1)).astype(np.int64)
    )
    for i, name in ((1, "s1"), (2, "s2"), (3, "s3")):  # never empty: no double spaces
        setattr(sk, name, base[:, i] + 1 + (rng.random(n) * (size[:, i] - 1)).astype(np.int64))
    sk.s4 = base[:, 4] + np.where(
        rng.random(n) < 0.3, 0, (rng.random(n) * size[:, 4]).astype(np.int64)
    )
    tag = rng.random(n) < p_tag
    sk.h1 = np.where(tag, power_index(rng, n, len(V.HASHTAGS), 1.6, 2.0), -1)
    sk.h2 = np.where(
        tag & (rng.random(n) < 0.3), power_index(rng, n, len(V.HASHTAGS), 1.3, 4.0), -1
    )
    sk.h2 = np.where(sk.h2 == sk.h1, -1, sk.h2)
    sk.hc = rng.choice(3, n, p=[0.7, 0.25, 0.05]).astype(np.int8)
    day = (sk.t - cm.start) // 86_400
    daily = day * _DAILY + power_index(rng, n, cm.daily_pool, 1.15, 8.0)
    evergreen = _EVERGREEN + power_index(rng, n, cm.evergreen_pool, 1.1, 10.0)
    link = rng.random(n) < p_url
    sk.url = np.where(link, np.where(rng.random(n) < 0.7, daily, evergreen), -1)
    # 0 clean, 1 utm_*, 2 fbclid, 3 mixed-case host, 4 both: normalisation must undo 1-4.
    sk.uv = rng.choice(5, n, p=[0.55, 0.2, 0.08, 0.1, 0.07]).astype(np.int8)
    mention = rng.random(n) < p_mention
    sk.m = np.where(mention, cm.pop.influence.draw(rng, np.zeros(n, np.int64)), -1)
