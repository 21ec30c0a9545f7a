"""Seasonality-aware baselines for counts, and a robust z-score against them.

Posting follows the clock: a hashtag that gets 40 posts at 20:00 on a weekday may get 5
at 04:00, so "40 is a spike" depends on when. The baseline of a bucket is therefore the
same bucket of the week in earlier weeks (hour-of-week), or, while the workspace holds
fewer weeks than that needs, the same hour of earlier days (hour-of-day), or, with less
history still, the buckets just before (trailing). Which one was used is reported.

Against the baseline values the score is robust: z = (x − median) / scale with
scale = max(1.4826 · MAD, √max(median, 1)). The MAD ignores earlier spikes; the Poisson
floor √median keeps a flat, quiet history (MAD 0) from turning 3 posts into a "spike".

Buckets before the workspace's first data are unknown, not zero, and never used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

WEEK_S = 7 * 86_400
DAY_S = 86_400


@dataclass(frozen=True)
class Baseline:
    kind: str  # hour_of_week, hour_of_day or trailing
    values: tuple[float, ...]
    median: float
    mad: float
    scale: float

    def z(self, x: float) -> float:
        return (x - self.median) / self.scale

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "n": len(self.values),
            "median": self.median,
            "mad": self.mad,
            "scale": round(self.scale, 4),
        }


def robust(values: list[float] | tuple[float, ...], kind: str) -> Baseline:
    arr = np.asarray(values, dtype=float)
    med = float(np.median(arr))
    mad = float(np.median(np.abs(arr - med)))
    scale = max(1.4826 * mad, math.sqrt(max(med, 1.0)))
    return Baseline(kind, tuple(float(v) for v in values), med, mad, scale)


def seasonal_baseline(
    counts: Mapping[int, float],
    t: int,
    *,
    bucket_s: int,
    first: int,
    min_history: int = 3,
    weeks: int = 4,
    days: int = 14,
    trailing: int = 24,
) -> Baseline | None:
    """The baseline of the bucket starting at ``t`` (epoch seconds) from ``counts``
    (bucket start -> count; absent buckets count 0) using only buckets in
    [``first``, t). None when even the trailing baseline has fewer than
    ``min_history`` buckets."""

    def past(step: int, k: int) -> list[float]:
        starts = [t - i * step for i in range(1, k + 1)]
        return [float(counts.get(s, 0)) for s in starts if s >= first]

    if WEEK_S % bucket_s == 0:
        values = past(WEEK_S, weeks)
        if len(values) >= min_history:
            return robust(values, "hour_of_week")
    if DAY_S % bucket_s == 0:
        values = past(DAY_S, days)
        if len(values) >= min_history:
            return robust(values, "hour_of_day")
    values = past(bucket_s, trailing)
    if len(values) >= min_history:
        return robust(values, "trailing")
    return None
