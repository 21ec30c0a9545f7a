"""Partners' findings against ours: the same pseudonymised account (computed under the
community key the partner used, if we hold it), the same URL or domain, the same DISARM
technique. Pseudonyms only match when both sides hold the same community key: with a
different key nothing matches, which is the point.

Matches are grouped by the partner's container (the report or grouping that lists the
matched object, else the pull), and each match says which of our clusters, if any, holds
the account.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..normalise import normalise_url, registered_domain
from ..store import Workspace
from . import records
from .stix import ACCOUNT_EXTENSION, ACCOUNT_TYPES

_URL = re.compile(r"url:value\s*=\s*'((?:[^'\\]|\\.)*)'")
_DOMAIN = re.compile(r"domain-name:value\s*=\s*'((?:[^'\\]|\\.)*)'")
PLATFORMS = {v: k for k, v in ACCOUNT_TYPES.items() if k != "twitter"}


@dataclass
class Match:
    kind: str  # account, url, domain, technique
    remote_ref: str
    local_ref: str
    container_id: str
    local_run_id: int | None = None
    local_cluster_id: int | None = None


@dataclass
class Correlation:
    partner_id: str
    container_id: str
    matches: list[Match] = field(default_factory=list)

    def of(self, kind: str) -> list[Match]:
        return [m for m in self.matches if m.kind == kind]

    @property
    def strong(self) -> bool:
        """Worth an alert: an account, URL or domain in common (a technique alone is not)."""
        return any(m.kind != "technique" for m in self.matches)


def correlate(ws: Workspace, run_id: int, partner_id: str) -> list[Correlation]:
    """Matches of the valid objects imported by ``run_id`` from ``partner_id``."""
    rows = ws.con.execute(
        "SELECT object FROM imported_objects WHERE run_id = ? AND partner_id = ? AND valid",
        [run_id, partner_id],
    ).fetchall()
    objects = [json.loads(r[0]) for r in rows]
    containers = _containers(ws, partner_id)
    matches: list[Match] = []
    matches += _accounts(ws, objects)
    matches += _observables(ws, objects)
    matches += _techniques(ws, objects)
    for m in matches:
        m.container_id = containers.get(m.remote_ref, f"pull:{run_id}")
    _locate_clusters(ws, matches)
    grouped: dict[str, Correlation] = {}
    for m in matches:
        grouped.setdefault(m.container_id, Correlation(partner_id, m.container_id)).matches.append(
            m
        )
    return list(grouped.values())


def _containers(ws: Workspace, partner_id: str) -> dict[str, str]:
    """object id -> the partner's report/grouping that lists it (every import so far)."""
    out: dict[str, str] = {}
    for (obj,) in ws.con.execute(
        "SELECT object FROM imported_objects WHERE partner_id = ? "
        "AND object_type IN ('report', 'grouping') ORDER BY imported_at",
        [partner_id],
    ).fetchall():
        o = json.loads(obj)
        for ref in o.get("object_refs") or []:
            out.setdefault(ref, o["id"])
    return out


def _accounts(ws: Workspace, objects: list[dict[str, Any]]) -> list[Match]:
    out = []
    by_key: dict[tuple[str, int], list[dict[str, Any]]] = {}
    raw = []
    for o in objects:
        if o.get("type") != "user-account" or not o.get("user_id"):
            continue
        ext = (o.get("extensions") or {}).get(ACCOUNT_EXTENSION) or {}
        if ext.get("pseudonymised") and ext.get("community") and ext.get("key_version"):
            by_key.setdefault((str(ext["community"]), int(ext["key_version"])), []).append(o)
        elif not ext.get("pseudonymised"):
            raw.append(o)
    held = {(c, v): k for c, v, k in records.all_keys(ws)}
    for (community, version), accounts in by_key.items():
        key = held.get((community, version))
        if key is None:
            continue  # not our community, or a key version we never had
        reverse = {
            p: a for a, p in records.pseudonyms_for(ws, community, version, key, None).items()
        }
        for o in accounts:
            local = reverse.get(str(o["user_id"]))
            if local:
                out.append(Match("account", o["id"], local, ""))
    for o in raw:  # public figures and state media are shared as themselves
        platform = PLATFORMS.get(str(o.get("account_type")), str(o.get("account_type")))
        local = f"{platform}:{o['user_id']}"
        if ws.scalar("SELECT count(*) FROM accounts WHERE account_id = ?", [local]):
            out.append(Match("account", o["id"], local, ""))
    return out


def _observables(ws: Workspace, objects: list[dict[str, Any]]) -> list[Match]:
    urls: dict[str, str] = {}
    domains: dict[str, str] = {}
    for o in objects:
        if o.get("type") == "url" and o.get("value"):
            urls.setdefault(str(o["value"]), o["id"])
        elif o.get("type") == "domain-name" and o.get("value"):
            domains.setdefault(str(o["value"]), o["id"])
        elif o.get("type") == "indicator" and o.get("pattern_type") == "stix":
            for v in _URL.findall(o.get("pattern", "")):
                urls.setdefault(_unescape(v), o["id"])
            for v in _DOMAIN.findall(o.get("pattern", "")):
                domains.setdefault(_unescape(v), o["id"])
    out = []
    for kind, values, norm in (
        ("url", urls, normalise_url),
        ("domain", domains, registered_domain),
    ):
        wanted = {}
        for value, ref in values.items():
            n = norm(value)
            if n:
                wanted.setdefault(n, ref)
        if not wanted:
            continue
        found = ws.con.execute(
            "SELECT DISTINCT object_id FROM actions WHERE object_type = ? "
            "AND object_id IN (SELECT unnest(?::VARCHAR[]))",
            [kind, list(wanted)],
        ).fetchall()
        out += [Match(kind, wanted[v], v, "") for (v,) in found]
    return out


def _techniques(ws: Workspace, objects: list[dict[str, Any]]) -> list[Match]:
    ours = {
        r[0].split(":", 1)[1]
        for r in ws.con.execute(
            "SELECT local_key FROM stix_ids WHERE local_key LIKE 'attack-pattern:%'"
        ).fetchall()
    }
    out = []
    for o in objects:
        if o.get("type") != "attack-pattern":
            continue
        for ref in o.get("external_references") or []:
            tid = ref.get("external_id")
            if ref.get("source_name") in ("mitre-attack", "DISARM") and tid in ours:
                out.append(Match("technique", o["id"], tid, ""))
                break
    return out


def _locate_clusters(ws: Workspace, matches: list[Match]) -> None:
    """Our latest clustered detection run's cluster holding each matched account, or
    sharing each matched URL/domain."""
    latest = ws.scalar("SELECT max(run_id) FROM cluster_members")
    if latest is None:
        return
    for m in matches:
        if m.kind == "account":
            sql = "SELECT cluster_id FROM cluster_members WHERE run_id = ? AND account_id = ?"
            params = [latest, m.local_ref]
        elif m.kind in ("url", "domain"):
            sql = """SELECT c.cluster_id FROM cluster_members c JOIN actions a USING (account_id)
                     WHERE c.run_id = ? AND a.object_type = ? AND a.object_id = ?
                     GROUP BY c.cluster_id ORDER BY count(*) DESC LIMIT 1"""
            params = [latest, m.kind, m.local_ref]
        else:
            continue
        cid = ws.scalar(sql, params)
        if cid is not None:
            m.local_run_id, m.local_cluster_id = int(latest), int(cid)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
