"""The shapes every rule family shares: a rule, a family, what a family finds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Rule:
    """One rule: a family (``kind``) with its parameters, as loaded from YAML."""

    id: str
    kind: str
    severity: str
    params: Mapping[str, Any]
    #: severity -> {metric: threshold}: the alert takes the highest severity whose
    #: thresholds any of the finding's numbers reaches.
    escalate: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    disarm: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    description: str = ""
    enabled: bool = True
    origin: str = "default"

    def severity_for(self, numbers: Mapping[str, Any], cap: str | None = None) -> str:
        level = self._severity(numbers)
        if cap is not None and SEVERITIES.index(level) > SEVERITIES.index(cap):
            return cap
        return level

    def _severity(self, numbers: Mapping[str, Any]) -> str:
        level = self.severity
        for sev, thresholds in self.escalate.items():
            hit = any(
                isinstance(numbers.get(m), int | float) and numbers[m] >= t
                for m, t in thresholds.items()
            )
            if hit and SEVERITIES.index(sev) > SEVERITIES.index(level):
                level = sev
        return level

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "escalate": {k: dict(v) for k, v in self.escalate.items()},
            "disarm": list(self.disarm),
            "notify": list(self.notify),
            "description": self.description,
            "enabled": self.enabled,
            "origin": self.origin,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Finding:
    """A situation a rule found. ``evidence`` holds the post ids, accounts, objects,
    ``time_range`` and ``numbers`` (the figures that fired the rule).

    Identity, so that the same situation updates one alert: ``members`` findings (a
    cluster) are the same situation as an earlier alert of the rule whose accounts
    overlap enough; ``episode`` findings are the same as an earlier alert with the same
    ``key`` whose time range ends less than the rule's ``gap`` before this one starts."""

    title: str
    key: str
    evidence: dict[str, Any]
    identity: str = "episode"  # or "members"
    members: tuple[str, ...] = ()
    #: The highest severity this finding may get, whatever its numbers (None: no cap).
    severity_cap: str | None = None


@dataclass(frozen=True)
class Context:
    """What a rule evaluation may know besides the tables."""

    now: datetime  # data time: the newest post (or as asked); rules look back from here


class Skipped(Exception):
    """A rule cannot run on this workspace (a table it needs is absent); the reason is
    reported, the other rules go on."""


@dataclass(frozen=True)
class Param:
    default: Any
    kind: str  # int, float, bool, str, severity, duration (seconds), list (of strings), watchlist
    doc: str = ""


Evaluate = Callable[[duckdb.DuckDBPyConnection, Rule, Context], list[Finding]]


@dataclass(frozen=True)
class Family:
    """A kind of rule: what it looks at, its parameters and the numbers it reports
    (the metrics ``escalate`` may name)."""

    name: str
    doc: str
    params: Mapping[str, Param]
    metrics: tuple[str, ...]
    requires: tuple[str, ...]
    evaluate: Evaluate
    identity: str = "episode"
