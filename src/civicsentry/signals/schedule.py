"""Schedule inference: which UTC offset, and which kind of week, explains an activity rhythm.

Input: counts of posts per UTC *hour of the week* (168 bins, Monday 00:00 first) for
many accounts (or clusters) at once. For every candidate offset o (−12..+14 h) and
each of two local-time templates,

- ``day``: everyday life — a sleep trough from about 01:00 to 06:00, a rise through
  the morning, a plateau through the day, a peak in the evening, every day of the week;
- ``office``: shift work — Monday to Friday, 09:00 to 18:00, little outside it,

the counts are scored by their multinomial log-likelihood under the template shifted
by o (local = UTC + o), with 10% of a flat week mixed into each template so that a
few stray posts cost little. Scoring every (template, offset) pair for every row is one
matrix product (rows × 168) · (168 × 54), so a million accounts take seconds.

The best pair gives the offset and the work pattern. Its **confidence** is the
posterior mass within ±1 h of the best offset (templates summed, offsets compared
modulo 24 h), with the log-likelihoods divided by a temperature (default 2) because
real rhythms deviate from any template and plain Bayes is overconfident; the default
was calibrated on simulated accounts (docs/signals.md). **rhythm_fit** is the best
log-likelihood gain per post over a flat week: ≤ 0 means no human rhythm at all
(round-the-clock activity), where the offset means nothing.

Limits, stated once: offsets +13/+14 differ from −11/−10 only in which days are
workdays; daylight-saving changes inside the data blur the rhythm by an hour; an
account that posts only in its evenings fits an offset a few hours off, which is why
flags need a confident fit and a gap of several hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

HOURS = 168
#: Candidate offsets. Offsets 24 h apart score the same under the `day` template; the
#: first in this order wins a tie, so inhabited offsets come first (−12 is last).
OFFSETS = np.array([*range(-11, 13), 13, 14, -12])
TEMPLATES = ("day", "office")
MIX = 0.1  # share of a flat week mixed into each template
NIGHT_HOURS = 5  # the window of night_activity

# Relative activity by local hour (0-23) for `day`: a generic human curve (sleep trough
# 01-06, morning rise, day plateau, evening peak), not fitted to any dataset.
_DAY_CURVE = np.array(
    [0.5, 0.25, 0.12, 0.08, 0.08, 0.12, 0.3, 0.55, 0.75, 0.85, 0.9, 0.95,
     1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.1, 0.95, 0.75]
)  # fmt: skip
OFFICE_FLOOR = 0.02  # relative activity outside office hours in `office`


def local_week() -> tuple[np.ndarray, np.ndarray]:
    """(weekday 0 = Monday, hour) of each of the 168 local hours of the week."""
    h = np.arange(HOURS)
    return h // 24, h % 24


def office_hours() -> np.ndarray:
    """Boolean mask of local Mon–Fri 09:00–18:00."""
    wd, hr = local_week()
    return (wd < 5) & (hr >= 9) & (hr < 18)


def templates() -> np.ndarray:
    """(2, 168) probabilities over the local week: day, office (flat week mixed in)."""
    day = np.tile(_DAY_CURVE, 7)
    office = np.where(office_hours(), 1.0, OFFICE_FLOOR)
    t = np.stack([day / day.sum(), office / office.sum()])
    mixed: np.ndarray = (1 - MIX) * t + MIX / HOURS
    return mixed


def _shift_index() -> np.ndarray:
    """(168, len(OFFSETS)): the local hour of the week of UTC hour h at offset o."""
    h = np.arange(HOURS)[:, None]
    idx: np.ndarray = (h + OFFSETS[None, :]) % HOURS
    return idx


_SHIFT = _shift_index()
#: (168, 2·K): log p_template(local hour of UTC hour h at offset k), template-major.
LOG_TEMPLATES = np.concatenate([np.log(t)[_SHIFT] for t in templates()], axis=1)
#: (168, K): 1 where UTC hour h falls in local office hours at offset k.
OFFICE_AT = office_hours()[_SHIFT].astype(np.float64)
#: (K, K): offsets within one hour of each other, modulo 24 h.
_NEAR = (
    np.minimum(
        (OFFSETS[:, None] - OFFSETS[None, :]) % 24, (OFFSETS[None, :] - OFFSETS[:, None]) % 24
    )
    <= 1
).astype(np.float64)


def how_of_epoch_hour(epoch_hours: np.ndarray) -> np.ndarray:
    """UTC hour of the week (Monday 00:00 = 0) of hours since the Unix epoch (a Thursday)."""
    out: np.ndarray = (np.asarray(epoch_hours) + 72) % HOURS
    return out


def offset_distance(a: Any, b: Any) -> Any:
    """Hours between two offsets on the 24-hour clock (0..12)."""
    d = (np.asarray(a) - np.asarray(b)) % 24
    return np.minimum(d, 24 - d)


@dataclass(frozen=True)
class ScheduleFit:
    """Per row: the best offset and template, and the figures that explain them."""

    posts: np.ndarray  # posts in the row
    offset: np.ndarray  # int: best UTC offset
    template: np.ndarray  # int: index into TEMPLATES
    confidence: np.ndarray  # posterior mass within ±1 h of `offset`
    rhythm_fit: np.ndarray  # log-likelihood gain per post over a flat week
    workday_share: np.ndarray  # share of posts in local office hours at `offset`
    night_activity: np.ndarray  # share of posts in the quietest NIGHT_HOURS of the day
    hour_entropy: np.ndarray  # entropy of the hour-of-day profile over its maximum

    def template_names(self) -> list[str]:
        return [TEMPLATES[int(t)] for t in self.template]


def fit_schedules(
    counts: np.ndarray,
    *,
    temperature: float = 2.0,
    min_posts: int = 1,
    only: np.ndarray | None = None,
) -> ScheduleFit:
    """Fit every row of ``counts`` (rows × 168 UTC hours of the week). The offset is
    fitted only for rows with at least ``min_posts`` posts, and only where ``only`` (a
    boolean mask) is true when given (others get offset 0 and confidence 0, as do rows
    without posts); the other figures need no fit."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != HOURS:
        raise ValueError(f"counts must be (rows, {HOURS}), not {counts.shape}")
    rows = len(counts)
    n = counts.sum(axis=1)
    k = len(OFFSETS)
    wanted = n >= max(min_posts, 1)
    fit = np.nonzero(wanted if only is None else wanted & only)[0]
    c = counts[fit]
    ll = c @ LOG_TEMPLATES  # (fitted rows, 2K)
    best = ll.argmax(axis=1) if len(fit) else np.zeros(0, np.int64)
    r = np.arange(len(fit))
    off_i = best % k
    # Posterior over offsets (templates summed), tempered, then the mass near the best.
    z = ll / temperature
    if len(fit):
        z -= z.max(axis=1, keepdims=True)
    post = np.exp(z).reshape(len(fit), 2, k).sum(axis=1)
    post /= np.maximum(post.sum(axis=1, keepdims=True), 1e-300)
    near = post @ _NEAR  # mass within ±1 h of each offset
    offset = np.zeros(rows, np.int64)
    template = np.zeros(rows, np.int64)
    confidence = np.zeros(rows)
    rhythm_fit = np.full(rows, np.nan)
    workday = np.full(rows, np.nan)
    nf = n[fit]
    offset[fit] = OFFSETS[off_i]
    template[fit] = best // k
    confidence[fit] = near[r, off_i]
    rhythm_fit[fit] = (ll[r, best] - nf * np.log(1.0 / HOURS)) / nf
    workday[fit] = (c @ OFFICE_AT)[r, off_i] / nf
    with np.errstate(invalid="ignore", divide="ignore"):
        hours = counts.reshape(rows, 7, 24).sum(axis=1)
        ring = np.concatenate([np.zeros((rows, 1)), hours, hours[:, : NIGHT_HOURS - 1]], 1)
        cum = ring.cumsum(axis=1)
        windows = cum[:, NIGHT_HOURS:] - cum[:, :-NIGHT_HOURS]
        night = windows.min(axis=1) / n
        p = hours / n[:, None]
        plogp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
        entropy = -plogp.sum(axis=1) / np.log2(np.minimum(n, 24))
    return ScheduleFit(
        posts=n,
        offset=offset,
        template=template,
        confidence=confidence,
        rhythm_fit=rhythm_fit,
        workday_share=workday,
        night_activity=night,
        hour_entropy=np.where(n > 1, entropy, np.nan),
    )


def fit_sparse(
    row: np.ndarray,
    how: np.ndarray,
    n_rows: int,
    *,
    count: np.ndarray | None = None,
    temperature: float = 2.0,
    min_posts: int = 1,
    only: np.ndarray | None = None,
    chunk: int = 50_000,
) -> ScheduleFit:
    """``fit_schedules`` over (row, hour of week[, count]) entries sorted by row — one
    entry per post when ``count`` is None — densified ``chunk`` rows at a time so
    memory stays bounded."""
    if n_rows == 0:
        return fit_schedules(np.zeros((0, HOURS)), temperature=temperature)
    parts: list[ScheduleFit] = []
    bounds = np.searchsorted(row, np.arange(0, n_rows + chunk, chunk))
    for i, lo in enumerate(range(0, n_rows, chunk)):
        hi = min(lo + chunk, n_rows)
        a, b = bounds[i], bounds[i + 1]
        flat = (row[a:b] - lo) * HOURS + how[a:b]
        weights = None if count is None else count[a:b]
        dense = np.bincount(flat, weights=weights, minlength=(hi - lo) * HOURS)
        parts.append(
            fit_schedules(
                dense.reshape(hi - lo, HOURS),
                temperature=temperature,
                min_posts=min_posts,
                only=None if only is None else only[lo:hi],
            )
        )
    fields = ScheduleFit.__dataclass_fields__
    return ScheduleFit(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})
