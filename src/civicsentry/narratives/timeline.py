"""Timelines and growth of narratives, from (narrative, post time) pairs.

Growth compares the last ``window_h`` hours of the data (ending at the latest post of
the workspace, not at the wall clock: an archive analysed next year still has a
"recent" period) with the ``window_h`` hours before:
``growth_rate = (recent + 1) / (prior + 1) − 1``. The +1 keeps a narrative born in the
recent window finite (10 new posts, none before: growth 10) and damps tiny counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np


@dataclass(frozen=True)
class Growth:
    recent: np.ndarray  # posts per narrative (index = narrative id) in the last window
    prior: np.ndarray  # and in the window before
    rate: np.ndarray

    @staticmethod
    def of(narrative: np.ndarray, t: np.ndarray, n: int, end: float, window_h: float) -> Growth:
        w = window_h * 3600.0
        recent = np.bincount(narrative[(t > end - w) & (t <= end)], minlength=n + 1)
        prior = np.bincount(narrative[(t > end - 2 * w) & (t <= end - w)], minlength=n + 1)
        rate = (recent + 1.0) / (prior + 1.0) - 1.0
        return Growth(recent, prior, rate)


def bucket_seconds(span_s: float) -> int:
    """Timeline buckets: hours for data spanning up to three days, days beyond."""
    return 3600 if span_s <= 3 * 86400 else 86400


def timelines(narrative: np.ndarray, t: np.ndarray, n: int, bucket_s: int) -> list[dict[str, int]]:
    """Per narrative 1..n: bucket start (ISO 8601, UTC) -> posts, in time order."""
    out: list[dict[str, int]] = [{} for _ in range(n + 1)]
    if not len(t):
        return out[1:]
    b = (t // bucket_s).astype(np.int64)
    key = narrative.astype(np.int64) * (1 << 40) + b
    uniq, counts = np.unique(key, return_counts=True)
    fmt = "%Y-%m-%dT%H:00Z" if bucket_s < 86400 else "%Y-%m-%d"
    for k, c in zip(uniq.tolist(), counts.tolist(), strict=True):
        nid, bucket = divmod(k, 1 << 40)
        out[nid][datetime.fromtimestamp(bucket * bucket_s, UTC).strftime(fmt)] = c
    return out[1:]
