"""Time windows per object type: parsing ``url=60s,repost=10s`` and estimating a window
from the data (the CooRnet approach) when asked for ``auto``.

A window is inclusive: two shares co-act when |Δt| ≤ window. Internally windows are whole
microseconds, the resolution of a TIMESTAMPTZ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import InvalidParams
from .dialect import Dialect

AUTO: Literal["auto"] = "auto"
ALL = "*"

_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")

WindowValue = float | Literal["auto"]


def parse_duration(text: str | float | int) -> float:
    """``"60s"``, ``"1.5m"``, ``"500ms"``, ``"2h"``, ``"1d"`` or a bare number of seconds → seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise InvalidParams(f"A duration cannot be negative: {text}.")
        return float(text)
    m = _DURATION.match(str(text).lower())
    if not m or m.group(2) not in ("", *_UNITS):
        raise InvalidParams(
            f"Cannot read the duration {text!r}: write a number with a unit, e.g. 60s, 1.5m, "
            "500ms, 2h, 1d (a bare number means seconds)."
        )
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1.0)


def parse_windows(
    spec: str | Sequence[str] | Mapping[str, WindowValue] | None,
) -> dict[str, WindowValue]:
    """Parse window specs into {object_type or "*": seconds or "auto"}.

    ``"60s"`` applies to every type; ``"url=60s,repost=10s"`` per type; several specs (a
    repeated CLI option) merge, later ones winning; ``auto`` estimates from the data.

    >>> parse_windows("url=60s,repost=10s")
    {'url': 60.0, 'repost': 10.0}
    >>> parse_windows(["30s", "hashtag=auto"])
    {'*': 30.0, 'hashtag': 'auto'}
    """
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {k: (AUTO if v == AUTO else parse_duration(v)) for k, v in spec.items()}
    parts: list[str] = []
    for s in [spec] if isinstance(spec, str) else spec:
        parts += [p.strip() for p in str(s).split(",") if p.strip()]
    out: dict[str, WindowValue] = {}
    for part in parts:
        key, _, value = part.rpartition("=")
        key = key.strip().lower() or ALL
        value = value.strip()
        out[key] = AUTO if value.lower() == AUTO else parse_duration(value)
    return out


def resolve(
    parsed: Mapping[str, WindowValue], types: Iterable[str], default: WindowValue
) -> dict[str, WindowValue]:
    """The window of each type in ``types``; unknown type names are an error, not ignored."""
    types = list(types)
    unknown = sorted(set(parsed) - set(types) - {ALL})
    if unknown:
        raise InvalidParams(
            f"--window names {', '.join(unknown)}, which is not among the object types being "
            f"detected ({', '.join(types)}); add it to --types or fix the name."
        )
    base = parsed.get(ALL, default)
    return {t: parsed.get(t, base) for t in types}


def to_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


@dataclass(frozen=True)
class WindowChoice:
    """The window used for one object type, and why."""

    object_type: str
    seconds: float
    source: str  # "given", "default" or "estimated"
    reason: str
    stats: dict[str, float] = field(default_factory=dict)


def estimate_sql(shares: str, dialect: Dialect, *, q: float, p: float) -> str:
    """CooRnet's ``estimate_coord_interval`` as one query over ``shares(oid, ts, rn)``.

    Per object with ≥ 2 shares: the delay of its second share (objects ranked by time).
    Keep the quickest objects: second-share delay ≤ the q-quantile of those delays. For
    each, the time its shares take to pass the fraction p of all its shares (the first
    share with rank/n > p). The window is the p-quantile of those times (type-7
    quantiles, as R's default). CooRnet sets a 0 s result to 1 s.
    """
    return f"""
    WITH ranked AS (
      SELECT oid, rn, ts - min(ts) OVER (PARTITION BY oid) AS since_first,
             count(*) OVER (PARTITION BY oid) AS n
      FROM {shares}
    ),
    second AS (SELECT oid, since_first AS d2 FROM ranked WHERE n > 1 AND rn = 2),
    cut AS (SELECT {dialect.quantile("d2", q)} AS d2_cut, count(*) AS n_objects FROM second),
    quick AS (SELECT s.oid FROM second s, cut WHERE s.d2 <= cut.d2_cut),
    reach AS (
      SELECT r.oid, min(r.since_first) AS t_reach
      FROM ranked r JOIN quick k ON r.oid = k.oid
      WHERE CAST(r.rn AS DOUBLE) / r.n > {p!r}
      GROUP BY r.oid
    )
    SELECT (SELECT n_objects FROM cut) AS n_objects,
           (SELECT d2_cut FROM cut) AS d2_cut_us,
           count(*) AS n_quick,
           {dialect.quantile("t_reach", p)} AS window_us,
           min(t_reach) AS min_us, max(t_reach) AS max_us
    FROM reach
    """
