"""Alerts: raise (upsert by fingerprint), read, triage.

An alert is one *situation* (a cluster, a burst, a spike), keyed by a stable
fingerprint: raising the same situation again updates its row (evidence, last_seen,
count, severity up to the highest seen), it never makes a second alert. Every change
is an ``alert_events`` row (who, when, from which status to which, note); analysts'
changes also go to the audit log.

Lifecycle (``TRANSITIONS``)::

    new ──▶ triaged ──▶ escalated ──▶ closed
     │         │  ╲          │          ▲
     │         │   ╲─────────┼──▶ dismissed
     ├──▶ escalated          └──────────┘
     └──▶ dismissed                       (dismissed/closed can be reopened: → triaged)

Re-raising never changes the status: a dismissed situation stays dismissed (the
analyst decided), but its count and evidence keep up, so it can be reopened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from .. import __version__
from ..errors import InvalidParams
from ..store import Workspace
from ..warn import Context, RuleSet, evaluate_rules, load_rules
from ..warn.evaluate import data_now
from ..warn.fingerprint import Resolver
from ..warn.rules import disarm_name

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("new", "triaged", "escalated", "dismissed", "closed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("triaged", "escalated", "dismissed"),
    "triaged": ("escalated", "dismissed", "closed"),
    "escalated": ("dismissed", "closed"),
    "dismissed": ("triaged", "closed"),
    "closed": ("triaged",),
}
_JSON = ("evidence", "disarm")


@dataclass(frozen=True)
class Raised:
    """What raising an alert did: ``created`` for a new situation, ``changed`` when an
    existing one got new evidence or a higher severity, ``escalated`` when the severity
    went up (notifications go out on created and escalated)."""

    alert_id: int
    created: bool
    changed: bool
    escalated: bool
    severity: str


def raise_alert(
    ws: Workspace,
    *,
    rule: str,
    fingerprint: str,
    severity: str,
    title: str,
    evidence: Mapping[str, Any],
    disarm: Sequence[str] = (),
    run_id: int | None = None,
    actor: str = "system",
) -> int:
    """Raise an alert, or update the alert with the same fingerprint; returns its id.
    ``evidence`` should hold the post ids, accounts, objects, ``time_range``
    (``{"from": ..., "to": ...}``) and the numbers that fired the rule."""
    with ws.transaction() as con:
        result = upsert_alert(
            con,
            rule=rule,
            fingerprint=fingerprint,
            severity=severity,
            title=title,
            evidence=evidence,
            disarm=disarm,
            run_id=run_id,
            actor=actor,
        )
        if result.created or result.changed:
            ws.audit(
                "alert.raise" if result.created else "alert.update",
                {"alert_id": result.alert_id, "rule": rule, "severity": result.severity},
                actor=actor,
            )
    return result.alert_id


def upsert_alert(
    con: duckdb.DuckDBPyConnection,
    *,
    rule: str,
    fingerprint: str,
    severity: str,
    title: str,
    evidence: Mapping[str, Any],
    disarm: Sequence[str] = (),
    run_id: int | None = None,
    actor: str = "system",
) -> Raised:
    """``raise_alert`` inside the caller's transaction (a warn run raises all its alerts
    in one)."""
    if severity not in SEVERITIES:
        raise InvalidParams(f"Severity is one of {', '.join(SEVERITIES)}, not {severity!r}.")
    if not fingerprint or not rule:
        raise InvalidParams("An alert needs a rule and a fingerprint.")
    ev_json = json.dumps(dict(evidence), sort_keys=True, default=str, ensure_ascii=False)
    disarm_json = json.dumps(list(disarm))
    t_from, t_to = _time_range(evidence)
    row = con.execute(
        "SELECT alert_id, severity, evidence, rule, disarm FROM alerts WHERE fingerprint = ?",
        [fingerprint],
    ).fetchall()
    if not row:
        alert_id = int(
            con.execute("SELECT coalesce(max(alert_id), 0) + 1 FROM alerts").fetchall()[0][0]
        )
        con.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, ?, 'new', ?, ?, ?, now(), now(), now(), 1, ?, ?, ?)",
            [
                alert_id,
                fingerprint,
                rule,
                severity,
                title,
                ev_json,
                disarm_json,
                run_id,
                t_from,
                t_to,
            ],
        )
        _event(con, alert_id, actor, "raised", None, "new", f"{rule}: {severity}")
        return Raised(alert_id, True, True, False, severity)
    alert_id, old_severity, old_evidence, old_rule, old_disarm = row[0]
    techniques = list(dict.fromkeys([*json.loads(old_disarm or "[]"), *disarm]))
    disarm_json = json.dumps(techniques)
    if old_rule != rule:
        raise InvalidParams(
            f"Fingerprint {fingerprint!r} belongs to an alert of rule {old_rule!r}, not {rule!r}."
        )
    new_severity = max(old_severity, severity, key=SEVERITIES.index)
    escalated = new_severity != old_severity
    changed = escalated or old_evidence != ev_json
    con.execute(
        """UPDATE alerts SET severity = ?, title = ?, evidence = ?, disarm = ?, last_seen = now(),
               updated_at = now(), count = count + 1, run_id = coalesce(?, run_id),
               evidence_from = least(evidence_from, ?), evidence_to = greatest(evidence_to, ?)
           WHERE alert_id = ?""",
        [new_severity, title, ev_json, disarm_json, run_id, t_from, t_to, alert_id],
    )
    if changed:
        note = f"severity {old_severity} -> {new_severity}" if escalated else "new evidence"
        _event(con, alert_id, actor, "updated", None, None, note)
    return Raised(int(alert_id), False, changed, escalated, new_severity)


def _time_range(evidence: Mapping[str, Any]) -> tuple[Any, Any]:
    tr = evidence.get("time_range") or {}
    if not isinstance(tr, Mapping):
        return None, None
    return tr.get("from"), tr.get("to")


def _event(
    con: duckdb.DuckDBPyConnection,
    alert_id: int,
    actor: str,
    event: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
) -> None:
    con.execute(
        "INSERT INTO alert_events VALUES (?, now(), ?, ?, ?, ?, ?)",
        [alert_id, actor, event, from_status, to_status, note],
    )


# -- reading -----------------------------------------------------------------------------


def _where(
    status: str | Sequence[str] | None,
    severity: str | Sequence[str] | None,
    rule: str | Sequence[str] | None,
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value, allowed in (
        ("status", status, STATUSES),
        ("severity", severity, SEVERITIES),
        ("rule", rule, None),
    ):
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        if not values:
            continue
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                raise InvalidParams(
                    f"Unknown {column} {bad[0]!r}: use one of {', '.join(allowed)}."
                )
        clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += values
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _rows(ws: Workspace, query: str, params: list[Any]) -> list[dict[str, Any]]:
    return ws.dicts(query, params, json_columns=_JSON)


def list_alerts(
    ws: Workspace,
    *,
    status: str | Sequence[str] | None = None,
    severity: str | Sequence[str] | None = None,
    rule: str | Sequence[str] | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Alerts, most recently raised first; each filter takes one value or a list.
    ``evidence`` and ``disarm`` come back parsed."""
    where, params = _where(status, severity, rule)
    page = ""
    if limit is not None:
        page = " LIMIT ? OFFSET ?"
        params += [int(limit), int(offset)]
    elif offset:
        page = " OFFSET ?"
        params.append(int(offset))
    return _rows(
        ws, f"SELECT * FROM alerts{where} ORDER BY last_seen DESC, alert_id DESC{page}", params
    )


def count_alerts(
    ws: Workspace,
    *,
    status: str | Sequence[str] | None = None,
    severity: str | Sequence[str] | None = None,
    rule: str | Sequence[str] | None = None,
) -> int:
    """How many alerts ``list_alerts`` would give without a limit."""
    where, params = _where(status, severity, rule)
    return int(ws.scalar(f"SELECT count(*) FROM alerts{where}", params))


def get_alert(ws: Workspace, alert_id: int) -> dict[str, Any]:
    """One alert with its ``events`` (oldest first) and the names of its DISARM
    techniques (``disarm_names``)."""
    found = _rows(ws, "SELECT * FROM alerts WHERE alert_id = ?", [int(alert_id)])
    if not found:
        raise InvalidParams(f"No alert {alert_id}; `civicsentry alerts list` shows them.")
    alert = found[0]
    alert["events"] = _rows(
        ws,
        "SELECT ts, actor, event, from_status, to_status, note FROM alert_events "
        "WHERE alert_id = ? ORDER BY ts, rowid",
        [int(alert_id)],
    )
    alert["disarm_names"] = {t: disarm_name(t) for t in alert.get("disarm") or []}
    return alert


def triage(
    ws: Workspace,
    alert_id: int,
    *,
    status: str,
    actor: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Move an alert along its lifecycle (``TRANSITIONS``), recording who, when and why
    in ``alert_events`` and the audit log; returns the updated alert."""
    if status not in STATUSES:
        raise InvalidParams(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")
    if not actor:
        raise InvalidParams("Triage needs an actor (who made the change).")
    with ws.transaction() as con:
        row = con.execute(
            "SELECT status FROM alerts WHERE alert_id = ?", [int(alert_id)]
        ).fetchall()
        if not row:
            raise InvalidParams(f"No alert {alert_id}; `civicsentry alerts list` shows them.")
        current = row[0][0]
        if status not in TRANSITIONS[current]:
            allowed = ", ".join(TRANSITIONS[current])
            raise InvalidParams(
                f"Alert {alert_id} is {current}; it can move to {allowed}, not {status}."
            )
        con.execute(
            "UPDATE alerts SET status = ?, updated_at = now() WHERE alert_id = ?",
            [status, int(alert_id)],
        )
        _event(con, int(alert_id), actor, "status", current, status, note)
        ws.audit(
            "alert.triage",
            {"alert_id": int(alert_id), "from": current, "to": status, "note": note},
            actor=actor,
        )
    return get_alert(ws, alert_id)


# -- evaluating rules: a warn run ----------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    rule: str
    kind: str
    findings: int = 0
    raised: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class WarnSummary:
    """What one evaluation of the rules did. ``alerts``: every alert it raised or
    touched, with ``change`` = raised, updated or unchanged."""

    run_id: int | None
    now: str | None
    rules: tuple[RuleResult, ...]
    alerts: tuple[dict[str, Any], ...]
    notifications: dict[str, int]
    seconds: float

    @property
    def raised(self) -> int:
        return sum(r.raised for r in self.rules)

    @property
    def errors(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.error)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"raised": self.raised}


def evaluate(
    ws: Workspace,
    *,
    rules: RuleSet | Sequence[str | Path] | None = None,
    now: datetime | None = None,
    only: Sequence[str] | None = None,
    notify: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> WarnSummary:
    """Evaluate the rules (the shipped defaults overridden by ``rules`` files, or a
    loaded ``RuleSet``) now, as one ``runs`` row (step warn): raise or update alerts,
    queue their notifications in the same transaction, then deliver them (unless
    ``notify=False``). ``now`` is data time (default: the newest post); ``only``
    restricts to some rule ids."""
    from . import notifications as _notifications  # it reads alerts: imported here

    started = time.time()
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules or ())
    chosen = list(ruleset.enabled)
    if only:
        wanted = set(only)
        unknown = wanted - {r.id for r in ruleset.rules}
        if unknown:
            raise InvalidParams(
                f"No rule {sorted(unknown)[0]!r}; rules: {', '.join(r.id for r in ruleset.rules)}."
            )
        chosen = [r for r in ruleset.rules if r.id in wanted]
    when = now or data_now(ws.con)
    if when is None:
        return WarnSummary(None, None, (), (), {}, 0.0)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    outcomes = evaluate_rules(ws.con, chosen, Context(now=when))
    results: list[RuleResult] = []
    touched: list[dict[str, Any]] = []
    queued = 0
    with ws.transaction() as con:
        run_id = ws.next_id("runs", "run_id")
        for o in outcomes:
            counts = {"raised": 0, "updated": 0, "unchanged": 0}
            resolver = Resolver(con, o.rule)
            for f in o.findings:
                severity = o.rule.severity_for(f.evidence.get("numbers") or {}, f.severity_cap)
                r = upsert_alert(
                    con,
                    rule=o.rule.id,
                    fingerprint=resolver.resolve(f),
                    severity=severity,
                    title=f.title,
                    evidence=f.evidence,
                    disarm=o.rule.disarm,
                    run_id=run_id,
                )
                change = "raised" if r.created else "updated" if r.changed else "unchanged"
                counts[change] += 1
                touched.append(
                    {
                        "alert_id": r.alert_id,
                        "rule": o.rule.id,
                        "severity": r.severity,
                        "title": f.title,
                        "change": change,
                    }
                )
                if notify and (r.created or r.escalated):
                    queued += _notifications.queue(con, ruleset, o.rule, r)
            results.append(
                RuleResult(
                    o.rule.id,
                    o.rule.kind,
                    len(o.findings),
                    skipped=o.skipped,
                    error=o.error,
                    seconds=o.seconds,
                    **counts,
                )
            )
        seconds = round(time.time() - started, 3)
        summary = {
            "rules": {r.rule: {k: v for k, v in asdict(r).items() if k != "rule"} for r in results},
            "alerts": len(touched),
            "seconds": seconds,
        }
        con.execute(
            "INSERT INTO runs VALUES (?, 'warn', 'rules', ?, ?, to_timestamp(?), now(), ?)",
            [
                run_id,
                json.dumps(
                    {
                        "now": when.isoformat(),
                        "sources": list(ruleset.sources),
                        "rules": [r.as_dict() for r in chosen],
                    },
                    sort_keys=True,
                    default=str,
                ),
                __version__,
                started,
                json.dumps(summary, sort_keys=True, default=str),
            ],
        )
        ws.audit(
            "warn",
            {
                "run_id": run_id,
                "raised": sum(r.raised for r in results),
                "updated": sum(r.updated for r in results),
            },
        )
    sent = _notifications.deliver_pending(ws, ruleset, sleep=sleep) if notify else {}
    return WarnSummary(
        run_id=run_id,
        now=when.isoformat(),
        rules=tuple(results),
        alerts=tuple(touched),
        notifications={"queued": queued, **sent},
        seconds=round(time.time() - started, 3),
    )
