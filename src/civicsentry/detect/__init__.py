"""Detection: pure functions from tables to tables. They receive a connection (or an
``Engine``) and relation names, and leave result tables on it; they never open a
workspace or write the workspace's own tables (the service layer does).

Coordination (docs/coordination.md): ``detect_coordination`` with
``semantics="civicsentry"`` (ours: per-type windows, partner cap for viral objects,
popularity discount, significance) or ``"coortweet"`` / ``"cnt"`` (the peer tools,
reproduced exactly).
"""

from __future__ import annotations

from .dialect import DUCKDB, SPARK, Dialect
from .engine import DuckDBEngine, Engine
from .params import DEFAULT_MAX_PARTNERS, DEFAULTS, SEMANTICS, CoordinationParams, ResolvedParams
from .pipeline import DetectionResult, detect_coordination
from .significance import benjamini_hochberg, poisson_binomial_sf
from .windows import WindowChoice, parse_duration, parse_windows

__all__ = [
    "DEFAULTS",
    "DEFAULT_MAX_PARTNERS",
    "DUCKDB",
    "SEMANTICS",
    "SPARK",
    "CoordinationParams",
    "DetectionResult",
    "Dialect",
    "DuckDBEngine",
    "Engine",
    "ResolvedParams",
    "WindowChoice",
    "benjamini_hochberg",
    "detect_coordination",
    "parse_duration",
    "parse_windows",
    "poisson_binomial_sf",
]
