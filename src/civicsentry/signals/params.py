"""The parameters of a signals run, checked once; every one is recorded in ``runs``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidParams
from .catalogue import weights as resolve_weights


@dataclass(frozen=True)
class SignalParams:
    #: Ratio, timing and rhythm signals need this many posts (fewer: NULL, not scored).
    min_posts: int = 5
    #: An account's schedule (UTC offset) is inferred from this many posts.
    schedule_min_posts: int = 10
    #: A schedule is confident (may be flagged, may speak for a population) from here.
    min_confidence: float = 0.8
    #: Hours between an account's (or cluster's) offset and its population's that flag it.
    foreign_gap: int = 3
    #: ... and fewer than this share of its population keeps its clock (±1 h) (chosen
    #: on simulated seeds 1-6, docs/benchmarks.md shows its sensitivity).
    max_population_share: float = 0.2
    #: A schedule needs a human rhythm: log-likelihood gain per post over a flat week.
    min_rhythm_fit: float = 0.0
    #: Likelihood tempering of the schedule posterior (calibrated on simulated data,
    #: docs/signals.md): 1 is plain Bayes, which is overconfident on real rhythms.
    temperature: float = 2.0
    #: A share "piles on" when it comes this soon after the previous share of the object.
    pile_on_seconds: float = 10.0
    #: Objects with this many shares or more are viral: ignored by the pile-on signal.
    viral_shares: int = 1000
    #: Objects with other actors needed before the population of an account's objects is
    #: used; with fewer, the workspace population is.
    population_min_objects: int = 3
    #: Weight overrides, signal -> weight (docs/signals.md lists the defaults).
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, want: str) -> None:
            if not ok:
                raise InvalidParams(f"{name} must be {want}, not {getattr(self, name)!r}.")

        check("min_posts", _is_int(self.min_posts) and self.min_posts >= 2, "an integer ≥ 2")
        check(
            "schedule_min_posts",
            _is_int(self.schedule_min_posts) and self.schedule_min_posts >= 2,
            "an integer ≥ 2",
        )
        check("min_confidence", _num(self.min_confidence, 0.0, 1.0), "a number in [0, 1]")
        check(
            "foreign_gap",
            _is_int(self.foreign_gap) and 1 <= self.foreign_gap <= 12,
            "an integer from 1 to 12 (hours)",
        )
        check(
            "max_population_share",
            _num(self.max_population_share, 0.0, 1.0),
            "a number in [0, 1]",
        )
        check("min_rhythm_fit", _num(self.min_rhythm_fit, -10.0, 10.0), "a number in [-10, 10]")
        check("temperature", _num(self.temperature, 0.1, 100.0), "a number in [0.1, 100]")
        check("pile_on_seconds", _num(self.pile_on_seconds, 0.0, 86_400.0), "seconds ≥ 0")
        check("viral_shares", _is_int(self.viral_shares) and self.viral_shares >= 2, "≥ 2")
        check(
            "population_min_objects",
            _is_int(self.population_min_objects) and self.population_min_objects >= 1,
            "an integer ≥ 1",
        )
        object.__setattr__(self, "weights", resolve_weights(self.weights))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"weights": dict(self.weights)}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: object, lo: float, hi: float) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi
