"""The account signals: family, which direction is suspicious, and weight.

The names and meanings are the columns of ``account_signals`` (``schema.ACCOUNT_SIGNALS``);
this table adds how each one scores. The weights are set by hand, not trained (see
docs/signals.md, "Why these weights"): the strongest and most specific evidence of
automation or coordination weighs most, traits that many ordinary users share weigh
least, and two-sided figures (``burstiness``, ``hour_entropy``, ``handle_entropy``) are
shown but weigh nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidParams
from ..schema import ACCOUNT_SIGNALS

BEHAVIOUR, TIMING, RHYTHM, PROFILE = "behaviour", "timing", "rhythm", "profile"


@dataclass(frozen=True)
class Signal:
    name: str
    family: str
    #: +1: higher values are more suspicious; -1: lower ones; 0: shown, not scored.
    direction: int
    weight: float
    unit: str = ""

    @property
    def means(self) -> str:
        return _DOCS[self.name]


_DOCS = dict(ACCOUNT_SIGNALS)

SIGNALS: tuple[Signal, ...] = (
    Signal("posts", BEHAVIOUR, +1, 0.5, "posts"),
    Signal("rate", BEHAVIOUR, +1, 1.0, "posts/day"),
    Signal("repost_share", BEHAVIOUR, +1, 1.0),
    Signal("reply_share", BEHAVIOUR, +1, 0.5),
    Signal("link_share", BEHAVIOUR, +1, 0.5),
    Signal("dup_text_share", BEHAVIOUR, +1, 1.5),
    Signal("share_delay_s", BEHAVIOUR, -1, 0.5, "s"),
    Signal("pile_on_share", BEHAVIOUR, +1, 2.5),
    Signal("coordinated_share", BEHAVIOUR, +1, 3.0),
    Signal("gap_cv", TIMING, -1, 0.5),
    Signal("burstiness", TIMING, 0, 0.0),
    Signal("gap_entropy", TIMING, -1, 1.0),
    Signal("regular_gaps", TIMING, +1, 1.5),
    Signal("hour_entropy", RHYTHM, 0, 0.0),
    Signal("night_activity", RHYTHM, +1, 1.5),
    Signal("workday_share", RHYTHM, +1, 0.5),
    Signal("offset_gap", RHYTHM, +1, 2.0, "h"),
    Signal("account_age_days", PROFILE, -1, 1.0, "days"),
    Signal("creation_burst", PROFILE, +1, 1.5, "×"),
    Signal("handle_digits", PROFILE, +1, 1.0, "digits"),
    Signal("handle_consonants", PROFILE, +1, 0.5, "letters"),
    Signal("handle_entropy", PROFILE, 0, 0.0, "bits"),
    Signal("empty_profile", PROFILE, +1, 0.5),
    Signal("follower_ratio", PROFILE, -1, 1.0, "log10"),
)

BY_NAME: dict[str, Signal] = {s.name: s for s in SIGNALS}
if [s.name for s in SIGNALS] != [name for name, _ in ACCOUNT_SIGNALS]:  # pragma: no cover
    raise RuntimeError("signals.catalogue and schema.ACCOUNT_SIGNALS list different signals")


def weights(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every signal's weight, with ``overrides`` (name -> weight ≥ 0) applied."""
    out = {s.name: s.weight for s in SIGNALS}
    for name, w in (overrides or {}).items():
        if name not in out:
            raise InvalidParams(
                f"No signal called {name!r}. Signals: {', '.join(out)} (docs/signals.md)."
            )
        try:
            value = float(w)
        except (TypeError, ValueError):
            raise InvalidParams(f"Weight of {name} must be a number, not {w!r}.") from None
        if not value >= 0:
            raise InvalidParams(f"Weight of {name} must be ≥ 0, not {w!r}.")
        if BY_NAME[name].direction == 0 and value:
            raise InvalidParams(f"{name} is two-sided and shown only; it cannot carry a weight.")
        out[name] = value
    return out
