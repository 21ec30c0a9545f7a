"""The population an account posts into: its dominant offset, on hand-built votes."""

from __future__ import annotations

import numpy as np
import pytest

from civicsentry.signals.frames import Shares
from civicsentry.signals.population import (
    CLOCK,
    density,
    modes,
    near_share,
    populations,
    vote_coefficients,
    workspace_population,
)


def mean_coefs(offsets: list[int], weights: list[float] | None = None) -> np.ndarray:
    v = vote_coefficients(np.array(offsets), np.array(weights or [1.0] * len(offsets)))
    return (v[:, 1:].sum(axis=0) / v[:, 0].sum())[None, :]


def test_one_vote_peaks_at_its_offset() -> None:
    d = density(mean_coefs([-5]))[0]
    assert CLOCK[d.argmax()] == -5
    assert d.sum() == pytest.approx(1.0)
    assert near_share(d[None, :], np.array([-5]))[0] > 0.5
    assert near_share(d[None, :], np.array([3]))[0] < 0.01


def test_the_mode_of_a_mixture_is_where_most_live_not_the_mean() -> None:
    # 60% at UTC−5, 40% at UTC±0: the circular mean would be about UTC−3, where nobody is.
    d = density(mean_coefs([-5] * 6 + [0] * 4))
    mode, mode_share, own = modes(mean_coefs([-5] * 6 + [0] * 4), np.array([0]))
    assert mode[0] == -5 and CLOCK[d[0].argmax()] == -5
    assert own[0] > 0.25  # UTC±0 keeps a real share: an expatriate community, not foreign
    assert mode_share[0] > own[0]


def test_offsets_wrap_around_the_clock() -> None:
    mode, _, _ = modes(mean_coefs([12, 11, -11]), np.array([0]))  # 12 ≡ −12
    assert mode[0] in (12, -11, 11)


def test_populations_leave_out_the_account_and_its_cluster() -> None:
    # Accounts 0-3 live at UTC−5; accounts 4-5 at UTC+3 and form cluster 7.
    # Everyone acts on objects 0 and 1; accounts 4-5 also on object 2, alone.
    offsets = np.array([-5, -5, -5, -5, 3, 3])
    votes = vote_coefficients(offsets, np.ones(6))
    cluster_of = np.array([-1, -1, -1, -1, 7, 7])
    rows = [(a, o) for o in (0, 1) for a in range(6)] + [(4, 2), (5, 2)]
    rows.sort(key=lambda r: r[1])
    s = Shares(
        idx=np.array([a for a, _ in rows]),
        kind=np.zeros(len(rows), np.int8),
        obj=np.array([o for _, o in rows]),
        t=np.arange(len(rows), dtype=float),
        parent_t=np.full(len(rows), np.nan),
    )
    per_account, ids, per_cluster = populations(s, votes, cluster_of)
    assert ids.tolist() == [7]
    # Account 4's population: objects 0, 1 without cluster 7 -> only UTC−5 voters;
    # object 2 has nobody outside the cluster, so it does not count.
    assert per_account.objects.tolist() == [2, 2, 2, 2, 2, 2]
    mode, _, own = modes(per_account.coefs, offsets)
    assert mode[4] == -5 and own[4] < 0.05
    # Account 0's population: the other three at −5 and the two at +3, on each object.
    assert mode[0] == -5 and own[0] > 0.4
    c_mode, _, c_own = modes(per_cluster.coefs, np.array([3]))
    assert per_cluster.objects.tolist() == [2] and c_mode[0] == -5 and c_own[0] < 0.05


def test_workspace_population_weights_by_confidence() -> None:
    votes = vote_coefficients(np.array([-5, -5, 2, 2, 2]), np.array([0.9, 0.9, 0.1, 0.1, 0.1]))
    pop = workspace_population(votes)
    assert pop.offset == -5 and pop.voters == 5
    assert pop.own_share(2) < pop.own_share(-5)
    nobody = workspace_population(vote_coefficients(np.array([1]), np.array([0.0])))
    assert nobody.offset is None and nobody.voters == 0
