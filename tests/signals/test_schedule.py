"""Schedule inference on hand-built hour-of-week matrices with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from civicsentry.signals.schedule import (
    HOURS,
    TEMPLATES,
    fit_schedules,
    fit_sparse,
    how_of_epoch_hour,
    office_hours,
    offset_distance,
    templates,
)


def week(local: np.ndarray, offset: int) -> np.ndarray:
    """UTC hour-of-week counts of an activity given in local time at ``offset``."""
    return np.roll(local, -offset)  # local hour h happens at UTC hour h - offset


def test_hour_of_week_starts_on_monday_utc() -> None:
    monday = datetime(1970, 1, 5, tzinfo=UTC).timestamp() // 3600  # the first Monday
    assert how_of_epoch_hour(np.array([monday, monday + 25, monday - 1])).tolist() == [0, 25, 167]


@pytest.mark.parametrize(("a", "b", "hours"), [(3, -5, 8), (-11, 12, 1), (14, -10, 0), (0, 0, 0)])
def test_offset_distance_is_on_the_24_hour_clock(a: int, b: int, hours: int) -> None:
    assert offset_distance(a, b) == hours


@pytest.mark.parametrize("offset", [3, -5, 8])
def test_office_hours_are_recovered_with_their_offset(offset: int) -> None:
    # 20 posts in every office hour (Mon-Fri 09-18 local) of a foreign office.
    local = np.where(office_hours(), 20.0, 0.0)
    fit = fit_schedules(week(local, offset)[None, :])
    assert fit.offset[0] == offset
    assert TEMPLATES[fit.template[0]] == "office"
    assert fit.confidence[0] > 0.99
    assert fit.workday_share[0] == pytest.approx(1.0)
    assert fit.night_activity[0] == 0.0  # nobody posts at night


def test_an_everyday_rhythm_is_recovered_with_its_offset() -> None:
    day = templates()[0] * 5000  # expected counts of the `day` template, local time
    fit = fit_schedules(week(day, -5)[None, :])
    assert (fit.offset[0], TEMPLATES[fit.template[0]]) == (-5, "day")
    assert fit.confidence[0] > 0.99
    assert fit.rhythm_fit[0] > 0.1  # a clear human rhythm


def test_round_the_clock_activity_has_no_human_rhythm() -> None:
    fit = fit_schedules(np.full((1, HOURS), 10.0))
    assert fit.rhythm_fit[0] < 0  # a flat week fits better than any template
    assert fit.night_activity[0] == pytest.approx(5 / 24)
    assert fit.hour_entropy[0] == pytest.approx(1.0)


def test_few_posts_give_no_offset_but_rhythm_figures() -> None:
    counts = np.zeros((2, HOURS))
    counts[0, [10, 11, 12]] = 1  # 3 posts
    counts[1, 10] = 4  # 4 posts in one hour
    fit = fit_schedules(counts, min_posts=5)
    assert fit.confidence.tolist() == [0.0, 0.0]
    assert np.isnan(fit.rhythm_fit).all()
    assert fit.hour_entropy[0] == pytest.approx(1.0)  # 3 posts in 3 different hours
    assert fit.hour_entropy[1] == 0.0


def test_confidence_grows_with_evidence() -> None:
    day = templates()[0]
    few, many = (week(day * n, 2) for n in (15, 3000))
    fit = fit_schedules(np.stack([few, many]))
    assert fit.confidence[0] < fit.confidence[1]
    assert fit.offset[1] == 2


def test_sparse_fit_in_chunks_equals_the_dense_fit() -> None:
    rng = np.random.default_rng(1)
    dense = rng.poisson(0.4, (7, HOURS)).astype(float)
    rows, hows = np.nonzero(dense)
    sparse = fit_sparse(rows, hows, 7, count=dense[rows, hows], chunk=3)
    whole = fit_schedules(dense)
    assert sparse.offset.tolist() == whole.offset.tolist()
    np.testing.assert_allclose(sparse.confidence, whole.confidence)
    # One entry per post (no counts) gives the same.
    per_post = np.repeat(np.arange(len(rows)), dense[rows, hows].astype(int))
    again = fit_sparse(rows[per_post], hows[per_post], 7, chunk=4)
    np.testing.assert_allclose(again.confidence, whole.confidence)
