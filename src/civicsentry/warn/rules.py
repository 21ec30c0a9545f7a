"""Alert rules in YAML: the shipped defaults (``default_rules.yaml``), overridden by
the user's files rule by rule (same ``id``), validated before anything runs.

A file holds ``rules`` (a list) and ``channels`` (notification targets by name)::

    rules:
      - id: cluster-new            # a new id needs a kind; an existing one is overridden
        kind: cluster_new
        severity: medium
        escalate: {high: {suspicion: 0.75}}
        disarm: [T0049, T0049.003]
        notify: [analysts]
        params: {min_size: 3}
      - id: account-burst
        enabled: false             # switch a default rule off
    channels:
      analysts: {type: webhook, url: "https://...", secret_env: CIVICSENTRY_WEBHOOK_SECRET}

Overriding merges: keys given replace the default's, ``params`` merge key by key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..detect.windows import parse_duration
from ..errors import InvalidParams
from .base import SEVERITIES, Family, Param, Rule
from .notify import Channel, parse_channel
from .registry import REGISTRY

DEFAULT_RULES = "default_rules.yaml"
_RULE_KEYS = {
    "id",
    "kind",
    "severity",
    "escalate",
    "disarm",
    "notify",
    "description",
    "enabled",
    "params",
}
_DISARM_ID = re.compile(r"^T\d{4}(\.\d{3})?$")

#: Names of the DISARM Red techniques the shipped rules suggest, keyed on their external
#: ids (DISARM framework v1.6, © DISARM Foundation, CC BY-SA 4.0; checked against
#: ../shared/data/disarm/DISARM.json by tests/warn/test_rules.py).
DISARM_NAMES = {
    "T0003": "Leverage Existing Narratives",
    "T0049": "Flood Information Space",
    "T0049.002": "Flood Existing Hashtag",
    "T0049.003": "Bots Amplify via Automated Forwarding and Reposting",
    "T0049.005": "Conduct Swarming",
    "T0060": "Continue to Amplify",
    "T0084": "Reuse Existing Content",
    "T0097.101": "Local Persona",
    "T0118": "Amplify Existing Narrative",
    "T0121": "Manipulate Platform Algorithm",
    "T0143.002": "Fabricated Persona",
    "T0150.001": "Newly Created Asset",
    "T0150.008": "Bulk Created Asset",
}


def disarm_name(technique: str) -> str | None:
    """The name of a DISARM technique the shipped rules use (None for others)."""
    return DISARM_NAMES.get(technique)


@dataclass(frozen=True)
class RuleSet:
    """The effective rules (defaults overridden by the user's files) and channels."""

    rules: tuple[Rule, ...]
    channels: Mapping[str, Channel]
    sources: tuple[str, ...]

    def get(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise InvalidParams(f"No rule {rule_id!r}; rules: {', '.join(r.id for r in self.rules)}.")

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)


def _read(text: str, origin: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidParams(f"{origin}: not valid YAML: {e}") from e
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidParams(f"{origin}: expected a mapping with `rules` and `channels`.")
    unknown = set(doc) - {"rules", "channels"}
    if unknown:
        raise InvalidParams(
            f"{origin}: unknown top-level key {sorted(unknown)[0]!r} (use `rules`, `channels`)."
        )
    return doc


def default_text() -> str:
    return resources.files(__package__).joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(paths: Sequence[str | Path] = (), *, defaults: bool = True) -> RuleSet:
    """The shipped rules (unless ``defaults=False``) overridden by ``paths`` in order."""
    docs: list[tuple[str, dict[str, Any]]] = []
    if defaults:
        docs.append(("default", _read(default_text(), DEFAULT_RULES)))
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InvalidParams(f"No rules file {path}.")
        docs.append((str(path), _read(path.read_text(encoding="utf-8"), str(path))))
    raw: dict[str, dict[str, Any]] = {}
    channels_raw: dict[str, tuple[str, Any]] = {}
    for origin, doc in docs:
        entries = doc.get("rules") or []
        if not isinstance(entries, list):
            raise InvalidParams(f"{origin}: `rules` must be a list of rules.")
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise InvalidParams(f"{origin}: every rule needs an `id` (a string).")
            unknown = set(entry) - _RULE_KEYS
            if unknown:
                raise InvalidParams(
                    f"{origin}: rule {entry['id']!r}: unknown key {sorted(unknown)[0]!r} "
                    f"(keys: {', '.join(sorted(_RULE_KEYS))})."
                )
            rid = entry["id"]
            if rid in raw:
                merged = raw[rid]
                for k, v in entry.items():
                    if k == "params" and isinstance(v, dict):
                        merged["params"] = {**(merged.get("params") or {}), **v}
                    else:
                        merged[k] = copy.deepcopy(v)
                merged["_origin"] = origin
            else:
                raw[rid] = copy.deepcopy(entry) | {"_origin": origin}
        chans = doc.get("channels") or {}
        if not isinstance(chans, dict):
            raise InvalidParams(f"{origin}: `channels` must map names to channel settings.")
        for name, spec in chans.items():
            channels_raw[str(name)] = (origin, spec)
    channels = {
        name: parse_channel(name, spec, origin) for name, (origin, spec) in channels_raw.items()
    }
    rules = tuple(_validate(r, channels) for r in raw.values())
    return RuleSet(rules, channels, tuple(o for o, _ in docs))


def _validate(raw: Mapping[str, Any], channels: Mapping[str, Channel]) -> Rule:
    origin, rid = raw["_origin"], raw["id"]
    where = f"{origin}: rule {rid!r}"
    kind = raw.get("kind")
    if kind not in REGISTRY:
        raise InvalidParams(
            f"{where}: unknown kind {kind!r}; kinds: {', '.join(sorted(REGISTRY))}."
        )
    family = REGISTRY[kind]
    severity = raw.get("severity", "medium")
    if severity not in SEVERITIES:
        raise InvalidParams(
            f"{where}: severity is one of {', '.join(SEVERITIES)}, not {severity!r}."
        )
    escalate = raw.get("escalate") or {}
    if not isinstance(escalate, dict):
        raise InvalidParams(f"{where}: `escalate` maps a severity to {{metric: threshold}}.")
    for sev, thresholds in escalate.items():
        if sev not in SEVERITIES:
            raise InvalidParams(
                f"{where}: escalate to {sev!r}? Use one of {', '.join(SEVERITIES)}."
            )
        if not isinstance(thresholds, dict) or not thresholds:
            raise InvalidParams(f"{where}: escalate.{sev} maps metrics to thresholds.")
        for metric, value in thresholds.items():
            if metric not in family.metrics:
                raise InvalidParams(
                    f"{where}: escalate.{sev}: {kind} reports no metric {metric!r} "
                    f"(it reports {', '.join(family.metrics)})."
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParams(f"{where}: escalate.{sev}.{metric} must be a number.")
    disarm = raw.get("disarm") or []
    if not isinstance(disarm, list) or not all(
        isinstance(t, str) and _DISARM_ID.match(t) for t in disarm
    ):
        raise InvalidParams(
            f"{where}: `disarm` is a list of DISARM technique ids such as T0049 or T0049.003."
        )
    notify = raw.get("notify") or []
    if isinstance(notify, str):
        notify = [notify]
    for name in notify:
        if name not in channels:
            known = ", ".join(sorted(channels)) or "none defined"
            raise InvalidParams(
                f"{where}: notify names channel {name!r}, which is not defined ({known})."
            )
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidParams(f"{where}: `enabled` is true or false.")
    return Rule(
        id=rid,
        kind=kind,
        severity=severity,
        params=_params(family, raw.get("params") or {}, where),
        escalate={k: {m: float(t) for m, t in v.items()} for k, v in escalate.items()},
        disarm=tuple(disarm),
        notify=tuple(notify),
        description=str(raw.get("description") or family.doc),
        enabled=enabled,
        origin=origin,
    )


def _params(family: Family, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise InvalidParams(f"{where}: `params` must be a mapping.")
    unknown = set(given) - set(family.params)
    if unknown:
        raise InvalidParams(
            f"{where}: {family.name} has no parameter {sorted(unknown)[0]!r} "
            f"(it has {', '.join(family.params)})."
        )
    out = {}
    for name, spec in family.params.items():
        value = given.get(name, spec.default)
        out[name] = _coerce(spec, value, f"{where}: params.{name}")
    return out


def _coerce(spec: Param, value: Any, where: str) -> Any:
    kind = spec.kind
    if value is None:
        return None
    if kind == "duration":
        return parse_duration(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidParams(f"{where} is true or false, not {value!r}.")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParams(f"{where} must be a number, not {value!r}.")
        if kind == "int" and not float(value).is_integer():
            raise InvalidParams(f"{where} must be a whole number, not {value!r}.")
        if value < 0:
            raise InvalidParams(f"{where} cannot be negative.")
        return int(value) if kind == "int" else float(value)
    if kind == "str":
        return str(value)
    if kind == "severity":
        if value not in SEVERITIES:
            raise InvalidParams(f"{where} is one of {', '.join(SEVERITIES)}, not {value!r}.")
        return value
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise InvalidParams(f"{where} must be a list of strings.")
        return [str(v) for v in value]
    if kind == "watchlist":
        return _watchlist(value, where)
    raise AssertionError(kind)


WATCH_TYPES = ("terms", "hashtags", "domains", "accounts", "urls")


def _watchlist(value: Any, where: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{where} maps {', '.join(WATCH_TYPES)} to lists.")
    unknown = set(value) - set(WATCH_TYPES)
    if unknown:
        raise InvalidParams(
            f"{where}: unknown list {sorted(unknown)[0]!r} (use {', '.join(WATCH_TYPES)})."
        )
    out = {}
    for k in WATCH_TYPES:
        items = value.get(k) or []
        if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
            raise InvalidParams(f"{where}.{k} must be a list of non-empty strings.")
        out[k] = [v.strip() for v in items]
    return out
