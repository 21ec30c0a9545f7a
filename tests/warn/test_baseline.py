"""Seasonal baselines and the robust z-score, on hand-built hourly series."""

from __future__ import annotations

import math

from civicsentry.warn.baseline import DAY_S, WEEK_S, robust, seasonal_baseline

H = 3600
T = 100 * WEEK_S  # a bucket start far from zero (any multiple of an hour works)


def test_robust_z_with_known_values() -> None:
    b = robust([10, 12, 8, 10, 30], "trailing")
    # median 10; |x - 10| = 0, 2, 2, 0, 20 -> MAD 2; scale max(1.4826 * 2, sqrt(10))
    assert b.median == 10 and b.mad == 2
    assert math.isclose(b.scale, math.sqrt(10))
    assert math.isclose(b.z(30), 20 / math.sqrt(10))
    # A flat quiet history (MAD 0) is floored by sqrt(max(median, 1)): 3 posts are not a spike.
    quiet = robust([0, 0, 0, 0], "trailing")
    assert quiet.scale == 1.0 and quiet.z(3) == 3.0


def test_hour_of_week_when_enough_weeks() -> None:
    counts = {T - k * WEEK_S: 20 + k for k in (1, 2, 3)} | {T - DAY_S: 500}
    b = seasonal_baseline(counts, T, bucket_s=H, first=T - 3 * WEEK_S)
    assert b is not None and b.kind == "hour_of_week"
    assert b.values == (21.0, 22.0, 23.0)  # yesterday's 500 is not the same hour of the week


def test_hour_of_day_while_the_workspace_holds_less_than_three_weeks() -> None:
    # Eight days of data: 40 posts at this hour every day, 2 at the hours around it.
    first = T - 8 * DAY_S
    counts = {T - k * DAY_S: 40 for k in range(1, 9)} | {T - k * H: 2 for k in range(1, 12)}
    b = seasonal_baseline(counts, T, bucket_s=H, first=first)
    assert b is not None and b.kind == "hour_of_day" and b.median == 40
    assert abs(b.z(45)) < 1  # 45 at the busy hour is ordinary ...
    night = seasonal_baseline(counts, T - 6 * H, bucket_s=H, first=first)
    assert night is not None and night.median == 0
    assert night.z(45) > 40  # ... and extraordinary at a quiet one


def test_trailing_then_nothing() -> None:
    counts = {T - k * H: 5 for k in range(1, 6)}
    b = seasonal_baseline(counts, T, bucket_s=H, first=T - 5 * H)
    assert b is not None and b.kind == "trailing" and len(b.values) == 5
    # Buckets before the first data are unknown, not zero: two hours of history is too little.
    assert seasonal_baseline(counts, T, bucket_s=H, first=T - 2 * H) is None
