"""Partners' STIX objects coming in (pulled from their TAXII collections or pushed to
ours): validated one by one with stix2-validator, their TLP normalised from any of the
known marking id sets (TLP 2.0, TLP 1.0, OpenCTI), stored with their provenance.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from ..store import Workspace
from . import records, tlp
from .stix import ACCOUNT_EXTENSION

_ID = re.compile(r"^([a-z0-9-]+--[0-9a-fA-F-]{36})\b")


def object_tlp(obj: dict[str, Any], markings: dict[str, dict[str, Any]]) -> str | None:
    if obj.get("type") == "marking-definition":
        return tlp.level_of_marking(obj) or "clear"  # the TLP:RED definition counts as red
    return tlp.level_of_refs(obj.get("object_marking_refs") or [], markings)


def validate_objects(objects: list[dict[str, Any]]) -> list[list[str]]:
    """stix2-validator errors per object (empty lists when valid), validated as one
    bundle (much faster than object by object) and attributed by the id each message
    starts with; a message naming no object counts against all of them."""
    out: list[list[str]] = []
    for obj in objects:
        if not isinstance(obj, dict) or not obj.get("id") or not obj.get("type"):
            out.append(["not a STIX object (no id or type)"])
        elif obj.get("spec_version", "2.1") != "2.1":
            out.append([f"spec_version {obj.get('spec_version')!r}: only STIX 2.1 is imported"])
        else:
            out.append([])
    candidates = [o for o, errs in zip(objects, out, strict=True) if not errs]
    if not candidates:
        return out
    from .checks import validate

    errors, _ = validate({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": candidates})
    by_id: dict[str, list[str]] = {}
    general = []
    for e in errors:
        m = _ID.match(e)
        if m:
            by_id.setdefault(m.group(1), []).append(e)
        else:
            general.append(e)
    for obj, errs in zip(objects, out, strict=True):
        if not errs:
            errs += by_id.get(obj["id"], []) + general
    return out


def store(
    ws: Workspace, run_id: int, partner_id: str, source: str, objects: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Store objects not seen before from this partner (same id and version); returns one
    summary per object: id, version, tlp, valid, problems, new."""
    markings = {
        o["id"]: o for o in objects if isinstance(o, dict) and o.get("type") == "marking-definition"
    }
    at = datetime.now(UTC)
    out = []
    rows = []
    for obj, problems in zip(objects, validate_objects(objects), strict=True):
        oid = obj.get("id") if isinstance(obj, dict) else None
        version = (obj.get("modified") or obj.get("created")) if isinstance(obj, dict) else None
        level = object_tlp(obj, markings) if isinstance(obj, dict) else None
        ext = (
            (obj.get("extensions") or {}).get(ACCOUNT_EXTENSION) or {}
            if isinstance(obj, dict)
            else {}
        )
        summary = {"id": oid, "version": version, "tlp": level, "valid": not problems,
                   "problems": problems, "new": False}  # fmt: skip
        out.append(summary)
        if not oid:
            continue
        seen = ws.scalar(
            "SELECT count(*) FROM imported_objects WHERE partner_id = ? AND object_id = ? "
            "AND version IS NOT DISTINCT FROM ?",
            [partner_id, oid, version],
        )
        if seen:
            continue
        summary["new"] = True
        rows.append(
            (run_id, partner_id, source, oid, obj.get("type"), version, level,
             ext.get("community"), ext.get("key_version"), not problems,
             json.dumps(problems) if problems else None, json.dumps(obj, sort_keys=True), at)
        )  # fmt: skip
    records.insert_rows(ws, "imported_objects", rows)
    return out
