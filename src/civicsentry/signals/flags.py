"""The foreign-schedule rule, in one place (over arrays for accounts, one by one for
clusters), and the sentence that explains it.

An account or cluster is on a **foreign schedule** when all of these hold:

1. its schedule counts: ``schedule_min_posts`` posts or more, a confidence of at least
   ``min_confidence``, and a human rhythm — the fitted template explains the week
   better than a flat one (``rhythm_fit`` above ``min_rhythm_fit``, default 0);
   round-the-clock automation has an offset in name only;
2. its inferred offset is at least ``foreign_gap`` hours from the dominant offset of
   the population it posts into;
3. fewer than ``max_population_share`` of that population live within an hour of its
   own offset — nobody it addresses keeps its clock.

Rule 3 keeps an expatriate or a cross-community reader from being flagged merely for
posting into a population whose *majority* lives elsewhere.
"""

from __future__ import annotations

import numpy as np

from .params import SignalParams


def counts(confidence: float | None, rhythm_fit: float | None, p: SignalParams) -> bool:
    """Rule 1 for one schedule (None: no schedule, too few posts)."""
    return (
        confidence is not None
        and rhythm_fit is not None
        and confidence >= p.min_confidence
        and rhythm_fit > p.min_rhythm_fit
    )


def counts_array(confidence: np.ndarray, rhythm_fit: np.ndarray, p: SignalParams) -> np.ndarray:
    """Rule 1 for many schedules (NaN: no schedule)."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (np.nan_to_num(confidence) >= p.min_confidence) & (
            np.nan_to_num(rhythm_fit, nan=-np.inf) > p.min_rhythm_fit
        )
    return out


def is_foreign_array(gap: np.ndarray, share: np.ndarray, p: SignalParams) -> np.ndarray:
    """Rules 2-3 for many schedules: ``gap`` is NaN unless rule 1 holds, ``share`` NaN
    without a population."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (
            ~np.isnan(gap)
            & ~np.isnan(share)
            & (np.nan_to_num(gap) >= p.foreign_gap)
            & (np.nan_to_num(share, nan=1.0) < p.max_population_share)
        )
    return out


def is_foreign(gap: int | None, share: float | None, p: SignalParams) -> bool:
    """Rules 2-3 for one schedule; ``gap`` is None unless rule 1 holds."""
    return (
        gap is not None
        and share is not None
        and gap >= p.foreign_gap
        and share < p.max_population_share
    )


def signed(offset: int | None) -> str:
    """UTC+3, UTC−5, UTC±0."""
    if offset is None:
        return "unknown"
    return "UTC±0" if offset == 0 else f"UTC{'+' if offset > 0 else '−'}{abs(offset)}"


def schedule_reason(
    subject: str,
    *,
    posts: int,
    fitted: tuple[int, bool],
    offset: int | None,
    confidence: float | None,
    template: str | None,
    workday: float | None,
    pop_offset: int | None,
    by_objects: bool,
    objects: int,
    mode_share: float | None,
    own_share: float | None,
    gap: int | None,
    rhythm_fit: float | None,
    foreign: bool,
    p: SignalParams,
) -> str:
    """The reasoning behind a schedule and its flag, in words an analyst can check;
    ``subject`` starts the sentence ("members post", "it posts"); ``fitted`` is (the
    10-minute slots with posts it was fitted on, whether those are original posts)."""
    if offset is None:
        return f"{posts} posts: fewer than {p.schedule_min_posts}, no schedule inferred"
    n, originals = fitted
    basis = f"{n} ten-minute slots of {'original ' if originals else ''}posts"
    shape = (
        f"Mon–Fri 09–18 at {signed(offset)} ({workday or 0:.0%} of {basis})"
        if template == "office"
        else f"an everyday rhythm at {signed(offset)} ({basis})"
    )
    if pop_offset is None:
        return f"{subject} {shape}; no other account has a schedule to compare with"
    who = (
        f"the other accounts acting on the same {objects} objects"
        if by_objects
        else "the workspace's accounts"
    )
    where = (
        f"{who} mostly live at {signed(pop_offset)} ({mode_share or 0:.0%} within an hour "
        f"of it; {own_share or 0:.0%} within an hour of {signed(offset)})"
    )
    if foreign:
        verdict = f"{gap} h apart: a foreign schedule"
    elif gap is None:
        verdict = "not compared"
    elif rhythm_fit is None or rhythm_fit <= p.min_rhythm_fit:
        verdict = (
            f"{gap} h apart, but no human rhythm (a flat week fits as well): the offset "
            "means little, not flagged"
        )
    else:
        verdict = (
            f"{gap} h apart, confidence {confidence or 0:.2f}: not flagged (needs ≥ "
            f"{p.foreign_gap} h, confidence ≥ {p.min_confidence} and under "
            f"{p.max_population_share:.0%} of the population on its clock)"
        )
    return f"{subject} {shape}; {where}; {verdict}"
