"""Early warning: rules over the detection tables raise alerts with evidence.

- ``rules``: the YAML rules (shipped defaults, overridden by the user's files), validated.
- ``registry``: the rule families (a rule's ``kind``), one module each: ``clusters``
  (new, growing, foreign schedule), ``accounts`` (creation bursts), ``volume``
  (watch-list anomalies against a seasonal ``baseline``), ``narratives`` (debunked
  claims, accelerating narratives).
- ``evaluate``: runs rules and returns their findings; ``fingerprint`` maps a finding
  to the alert of the same situation.
- ``notify``: webhook and e-mail delivery; ``watch``: following folders and streams.

The service layer (``civicsentry.service.alerts``) stores alerts and drives all of it.
"""

from __future__ import annotations

from .base import Context, Family, Finding, Rule
from .evaluate import Outcome, evaluate_rules
from .registry import REGISTRY
from .rules import RuleSet, load_rules

__all__ = [
    "REGISTRY",
    "Context",
    "Family",
    "Finding",
    "Outcome",
    "Rule",
    "RuleSet",
    "evaluate_rules",
    "load_rules",
]
