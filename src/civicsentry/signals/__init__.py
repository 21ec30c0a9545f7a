"""Account signals: automation, inauthenticity and foreign schedules, explained.

One small module per family of signals, each a set-based DuckDB query (or, for the
activity rhythm, a vectorised numpy fit over an accounts × 168-hour matrix):

- ``behaviour``: volume, rate, reposts/replies/links, duplicate texts, sharing speed,
  pile-ons, co-action inside coordinated clusters, and the regularity of the gaps;
- ``rhythm`` / ``schedule``: hour-of-week profiles, night activity, and the inferred
  UTC offset and work pattern (``day`` or ``office``) with its confidence;
- ``population``: the offset of the population an account or cluster posts into;
- ``profile``: account age at first post, creation-day bursts, handle patterns, empty
  profiles, follower/following ratio;
- ``score``: percentiles in the workspace, contributions, the explained score.

``catalogue.SIGNALS`` lists every signal with its direction and weight; the method and
its caveats are in docs/signals.md. The service (``service.accounts``) records runs and
stores the results in ``account_signals`` and ``cluster_schedules``.
"""

from __future__ import annotations

from .catalogue import BY_NAME, SIGNALS, Signal
from .params import SignalParams
from .pipeline import CLUSTERS, RESULT, SignalsResult, compute_account_signals, drop_temp

__all__ = [
    "BY_NAME",
    "CLUSTERS",
    "RESULT",
    "SIGNALS",
    "Signal",
    "SignalParams",
    "SignalsResult",
    "compute_account_signals",
    "drop_temp",
]
