"""The explained score: mid-rank percentiles, components above the median, weights of
the signals an account has, contributions that add up to the score."""

from __future__ import annotations

import numpy as np
import pytest

from civicsentry.errors import InvalidParams
from civicsentry.signals.catalogue import SIGNALS, weights
from civicsentry.signals.flags import counts, counts_array, is_foreign, is_foreign_array
from civicsentry.signals.params import SignalParams
from civicsentry.signals.score import mid_rank, score_accounts

NAN = float("nan")


def test_mid_rank_shares_ties_and_keeps_nan() -> None:
    # Values 1, 1, 2, 3, 3, 3 (and a NaN): below + half of equal, over 6.
    pct = mid_rank(np.array([1, 1, NAN, 2, 3, 3, 3]))
    assert pct[[0, 1, 3, 4]] == pytest.approx([1 / 6, 1 / 6, 2.5 / 6, 4.5 / 6])
    assert np.isnan(pct[2])


def only(**columns: list[float]) -> dict[str, np.ndarray]:
    n = len(next(iter(columns.values())))
    values = {s.name: np.full(n, NAN) for s in SIGNALS}
    values |= {k: np.array(v, dtype=float) for k, v in columns.items()}
    return values


def test_scores_from_two_signals_with_known_contributions() -> None:
    # Four accounts; pile_on_share (weight 2.5, high is suspicious) and follower_ratio
    # (weight 1, low is suspicious). Account 3 has no follower_ratio.
    v = only(pile_on_share=[0.0, 0.2, 0.9, 1.0], follower_ratio=[2.0, 1.0, -2.0, NAN])
    s = score_accounts(v, weights())
    # pile_on pct: 1/8, 3/8, 5/8, 7/8 -> components 0, 0, 0.25, 0.75.
    # follower_ratio pct among 3: 5/6, 3/6, 1/6 -> towards suspicion 1/6, 1/2, 5/6 ->
    # components 0, 0, 2/3.
    assert s.contrib["pile_on_share"] == pytest.approx([0, 0, 2.5 * 0.25 / 3.5, 2.5 * 0.75 / 2.5])
    assert s.contrib["follower_ratio"][:3] == pytest.approx([0, 0, (2 / 3) / 3.5])
    assert np.isnan(s.contrib["follower_ratio"][3])
    assert s.score == pytest.approx(
        [0, 0, (2.5 * 0.25 + 2 / 3) / 3.5, 0.75]
    )  # contributions add up; account 3 is scored on what it has
    assert s.coverage[3] == pytest.approx(2.5 / sum(w for w in weights().values()))
    assert s.rank.tolist() == [3, 4, 2, 1]
    # Account 2: follower_ratio (0.190) before pile_on_share (0.179).
    assert s.top_signals.to_pylist() == ["", "", "follower_ratio,pile_on_share", "pile_on_share"]


def test_two_sided_signals_are_shown_not_scored() -> None:
    s = score_accounts(only(burstiness=[-1.0, 0.0, 1.0]), weights())
    assert s.pct["burstiness"] == pytest.approx([1 / 6, 0.5, 5 / 6])
    assert s.contrib["burstiness"].tolist() == [0, 0, 0] and s.score.tolist() == [0, 0, 0]


def test_weights_can_be_overridden_within_reason() -> None:
    w = SignalParams(weights={"posts": 3}).weights
    assert w["posts"] == 3 and w["rate"] == 1.0
    with pytest.raises(InvalidParams, match="No signal called 'bogus'"):
        SignalParams(weights={"bogus": 1})
    with pytest.raises(InvalidParams, match="≥ 0"):
        SignalParams(weights={"posts": -1})
    with pytest.raises(InvalidParams, match="two-sided"):
        SignalParams(weights={"burstiness": 1})
    with pytest.raises(InvalidParams, match="min_confidence"):
        SignalParams(min_confidence=2)


@pytest.mark.parametrize(
    ("gap", "confidence", "rhythm", "share", "expected"),
    [
        (8, 0.95, 0.5, 0.02, True),  # far, confident, a rhythm, nobody on its clock
        (2, 0.95, 0.5, 0.02, False),  # too close
        (8, 0.50, 0.5, 0.02, False),  # not confident
        (8, 0.95, -0.1, 0.02, False),  # round the clock: no human rhythm, no schedule
        (8, 0.95, 0.5, 0.30, False),  # many in its population keep the same clock
        (None, 0.95, 0.5, 0.02, False),  # no population offset
    ],
)
def test_the_foreign_rule(
    gap: int | None, confidence: float, rhythm: float, share: float, expected: bool
) -> None:
    p = SignalParams()
    ok = counts(confidence, rhythm, p)
    assert is_foreign(gap if ok else None, share, p) is expected
    # The array form (gap NaN unless rule 1 holds) agrees.
    ok_a = counts_array(np.array([confidence]), np.array([rhythm]), p)
    g = np.where(ok_a, np.nan if gap is None else gap, np.nan)
    assert bool(is_foreign_array(g, np.array([share]), p)[0]) is expected
