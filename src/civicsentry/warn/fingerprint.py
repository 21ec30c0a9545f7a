"""Stable fingerprints: the same situation found again maps to the same alert.

A cluster found by the next detection run has another cluster id and a few members
more or less; a spike still running an hour later has grown by an hour. So identity is
not a hash of today's numbers:

- ``members`` findings (clusters) reuse the fingerprint of the rule's earlier alert
  whose accounts overlap most, when the overlap |A ∩ B| / min(|A|, |B|) reaches the
  rule's ``min_overlap``; otherwise the fingerprint hashes the sorted members.
- ``episode`` findings (bursts, spikes, claims) reuse the fingerprint of the rule's
  alert with the same ``key`` whose time range overlaps theirs, or lies less than the
  rule's ``gap`` away; otherwise they hash key and start.

Each fingerprint is claimed by at most one finding per evaluation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

import duckdb

from .base import Finding, Rule


def fingerprint(rule_id: str, *parts: object) -> str:
    digest = hashlib.sha256(json.dumps([rule_id, *parts], default=str).encode()).hexdigest()
    return f"{rule_id}:{digest[:24]}"


def overlap(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def _has_alerts(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'alerts'"
        ).fetchall()[0][0]
    )


class Resolver:
    """Resolves the findings of one rule evaluation against the rule's earlier alerts."""

    def __init__(self, con: duckdb.DuckDBPyConnection, rule: Rule) -> None:
        self.rule = rule
        self.claimed: set[str] = set()
        self._members: list[tuple[str, set[str]]] | None = None
        self._con = con

    def _member_alerts(self) -> list[tuple[str, set[str]]]:
        if self._members is None:
            rows = []
            if _has_alerts(self._con):
                rows = self._con.execute(
                    "SELECT fingerprint, json_extract(evidence, '$.accounts')::VARCHAR "
                    "FROM alerts WHERE rule = ? ORDER BY alert_id",
                    [self.rule.id],
                ).fetchall()
            self._members = [(fp, set(json.loads(acc or "[]"))) for fp, acc in rows]
        return self._members

    def resolve(self, finding: Finding) -> str:
        fp = (
            self._by_members(finding)
            if finding.identity == "members"
            else self._by_episode(finding)
        )
        self.claimed.add(fp)
        return fp

    def _by_members(self, finding: Finding) -> str:
        need = float(self.rule.params.get("min_overlap", 0.5))
        best, best_fp = 0.0, None
        for fp, accounts in self._member_alerts():
            if fp in self.claimed:
                continue
            o = overlap(finding.members, accounts)
            if o > best:
                best, best_fp = o, fp
        if best_fp is not None and best >= need:
            return best_fp
        fp = fingerprint(self.rule.id, "members", sorted(finding.members))
        self._member_alerts().append((fp, set(finding.members)))
        return fp

    def _by_episode(self, finding: Finding) -> str:
        tr = finding.evidence.get("time_range") or {}
        start, end = tr.get("from"), tr.get("to") or tr.get("from")
        gap = timedelta(seconds=float(self.rule.params.get("gap", 0) or 0))
        rows = []
        if _has_alerts(self._con) and isinstance(start, datetime) and isinstance(end, datetime):
            rows = self._con.execute(
                "SELECT fingerprint, evidence_from, evidence_to FROM alerts WHERE rule = ? "
                "AND json_extract_string(evidence, '$.key') = ? ORDER BY evidence_to DESC",
                [self.rule.id, finding.key],
            ).fetchall()
        for fp, s0, e0 in rows:
            if fp in self.claimed or s0 is None or e0 is None:
                continue
            if start <= e0 + gap and end >= s0 - gap:  # the same episode, grown
                return str(fp)
        return fingerprint(self.rule.id, finding.key, start)
