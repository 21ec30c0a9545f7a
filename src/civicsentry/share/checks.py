"""Checks every bundle passes before it leaves the workspace: stix2-validator 3.2.0 (no
errors), and what the validator does not check (it accepts a "TLP:AMBER" marking with any
id, dangling references and unknown techniques):

- every object but marking definitions carries exactly one official TLP 2.0 marking,
  every marking it references is in the bundle, and nothing is TLP:RED;
- every ``*_ref``/``*_refs`` resolves inside the bundle;
- every attack-pattern is a known DISARM v1.6 technique (by external id) with its name;
- observables have the deterministic id of their contributing properties;
- no identifier of an ordinary (not exempt) account appears anywhere: not its
  platform-qualified id, not its platform id, not its handle.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import disarm, tlp

#: stix2-validator check codes we accept as warnings (documented in docs/sharing.md).
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
ID_CONTRIBUTING = {
    "url": ("value",),
    "domain-name": ("value",),
    "user-account": ("account_type", "user_id", "account_login"),
}
TOKEN = re.compile(r"[A-Za-z0-9_]+")
#: Identifiers with punctuation: platform-qualified ids (x:123), Bluesky/Mastodon handles.
PHRASE = re.compile(
    r"[a-z0-9_][a-z0-9_.@-]*:[a-z0-9_.@-]+|[a-z0-9_][a-z0-9_-]*(?:[.@][a-z0-9_-]+)+"
)
#: Handles shorter than this are not searched as words (too many false hits: "news").
MIN_HANDLE = 5
#: Numeric platform ids shorter than this are not searched (counts would match them).
MIN_DIGITS = 6


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    objects: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "objects": self.objects,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def validate(bundle: dict[str, Any]) -> tuple[list[str], list[str]]:
    """stix2-validator's errors and warnings (version 2.1, default checks)."""
    from stix2validator import ValidationOptions, validate_parsed_json

    result = validate_parsed_json(bundle, ValidationOptions(version="2.1", silent=True))
    results = result if isinstance(result, list) else [result]
    errors, warnings = [], []
    for r in results:
        errors += [str(e) for e in (r.errors or [])]
        warnings += [str(w) for w in (r.warnings or [])]
    return errors, warnings


def check_bundle(
    bundle: dict[str, Any], *, forbidden: Iterable[str] = (), validator: bool = True
) -> CheckReport:
    """All checks; ``forbidden`` are raw identifiers of ordinary accounts."""
    report = CheckReport(objects=len(bundle.get("objects") or []))
    if bundle.get("type") != "bundle":
        report.errors.append("not a STIX bundle")
        return report
    if validator:
        errors, warnings = validate(bundle)
        report.errors += [f"stix2-validator: {e}" for e in errors]
        report.warnings += [f"stix2-validator: {w}" for w in warnings]
    objects = bundle.get("objects") or []
    report.errors += check_tlp(objects)
    report.errors += check_refs(objects)
    report.errors += check_disarm(objects)
    report.errors += check_sco_ids(objects)
    report.errors += check_pseudonymity(bundle, forbidden)
    return report


def check_tlp(objects: list[dict[str, Any]]) -> list[str]:
    out = []
    present = {o["id"]: o for o in objects if o.get("type") == "marking-definition"}
    for mid, m in present.items():
        lv = tlp.level_of_marking(m)
        if lv is None:
            out.append(f"{mid}: marking definition that is not TLP")
        elif mid != tlp.MARKING_IDS[lv]:
            out.append(f"{mid}: TLP:{lv.upper()} marking with a non-official id")
        elif {k: m.get(k) for k in ("name", "extensions")} != {
            k: tlp.marking_definition(lv)[k] for k in ("name", "extensions")
        }:
            out.append(f"{mid}: TLP:{lv.upper()} marking differs from the official object")
    for o in objects:
        if o.get("type") == "marking-definition":
            continue
        refs = o.get("object_marking_refs") or []
        levels = [tlp.LEVEL_OF_ID.get(r) for r in refs]
        official = [r for r in refs if r in tlp.MARKING_IDS.values()]
        if len(official) != 1 or len(refs) != 1:
            out.append(f"{o.get('id')}: needs exactly one official TLP 2.0 marking, has {refs}")
        if "red" in levels:
            out.append(f"{o.get('id')}: TLP:RED must never be exported")
        out += [
            f"{o.get('id')}: marking {r} is not in the bundle" for r in refs if r not in present
        ]
    return out


def _refs(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("_ref") and isinstance(v, str):
                yield v
            elif k.endswith("_refs") and isinstance(v, list):
                yield from (x for x in v if isinstance(x, str))
            else:
                yield from _refs(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v, key)


def check_refs(objects: list[dict[str, Any]]) -> list[str]:
    ids = {o.get("id") for o in objects}
    out = []
    for o in objects:
        for ref in _refs({k: v for k, v in o.items() if k != "id"}):
            if ref not in ids:
                out.append(f"{o.get('id')}: dangling reference {ref}")
    return out


def check_disarm(objects: list[dict[str, Any]]) -> list[str]:
    out = []
    for o in objects:
        if o.get("type") != "attack-pattern":
            continue
        ext = [
            r
            for r in o.get("external_references") or []
            if r.get("source_name") == "mitre-attack" and r.get("external_id")
        ]
        if not ext:
            out.append(f"{o['id']}: attack-pattern without a DISARM external id")
            continue
        tid = ext[0]["external_id"]
        if not disarm.is_known(tid):
            out.append(f"{o['id']}: {tid} is not a DISARM v{disarm.version()} technique")
        elif o.get("name") != disarm.technique(tid).name:
            out.append(
                f"{o['id']}: {tid} is named {disarm.technique(tid).name!r}, not {o.get('name')!r}"
            )
    return out


def sco_id(obj: dict[str, Any]) -> str | None:
    """The deterministic id of an observable (STIX 2.1 §2.9), None for other types."""
    props = ID_CONTRIBUTING.get(str(obj.get("type")))
    if props is None:
        return None
    contributing = {p: obj[p] for p in props if p in obj}
    if not contributing:
        return None
    canonical = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{obj['type']}--{uuid.uuid5(SCO_NAMESPACE, canonical)}"


def check_sco_ids(objects: list[dict[str, Any]]) -> list[str]:
    out = []
    for o in objects:
        expected = sco_id(o)
        if expected and o.get("id") != expected:
            out.append(f"{o.get('id')}: observable id should be {expected}")
    return out


def check_pseudonymity(bundle: dict[str, Any], forbidden: Iterable[str]) -> list[str]:
    """Raw identifiers of ordinary accounts found anywhere in the bundle's text. Linear in
    the bundle: its words and ``platform:id`` phrases are looked up in the forbidden set,
    never the other way round (a workspace has millions of accounts)."""
    words: set[str] = set()
    phrases: set[str] = set()
    for f in forbidden:
        if not f:
            continue
        if TOKEN.fullmatch(f):
            if len(f) >= (MIN_DIGITS if f.isdigit() else MIN_HANDLE):
                words.add(f.casefold())
        else:
            phrases.add(f.casefold())
    if not words and not phrases:
        return []
    text = json.dumps(bundle, ensure_ascii=False).casefold()
    hits = {t for t in TOKEN.findall(text) if t in words}
    hits |= {p for p in PHRASE.findall(text) if p in phrases}
    return [
        f"raw identifier of an ordinary account in the bundle: {h!r}" for h in sorted(hits)[:20]
    ]
