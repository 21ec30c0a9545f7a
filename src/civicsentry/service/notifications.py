"""Notifications of alerts, through an outbox in the workspace: a warn run queues them
(``alert_notifications``, status pending) in the transaction that raises the alerts,
then delivers them; a crash in between leaves them pending, and the next run delivers
them. Per channel: the rules that route to it (``notify:``), a minimum severity, and a
rate limit per rule (over it, the notification is recorded as rate_limited, not sent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import duckdb

from ..store import Workspace
from ..warn import Rule, RuleSet
from ..warn.notify import Delivery, deliver
from .alerts import Raised, get_alert


def queue(con: duckdb.DuckDBPyConnection, ruleset: RuleSet, rule: Rule, r: Raised) -> int:
    """Queue notifications of a raised or escalated alert to the rule's channels, in the
    caller's transaction; over a channel's rate limit for the rule they are recorded as
    rate_limited instead."""
    n = 0
    for name in rule.notify:
        channel = ruleset.channels[name]
        if not channel.wants(r.severity):
            continue
        status = "pending"
        if channel.rate_max is not None:
            recent = con.execute(
                """SELECT count(*) FROM alert_notifications n JOIN alerts a USING (alert_id)
                   WHERE n.channel = ? AND a.rule = ? AND n.status IN ('pending', 'sent')
                     AND n.created_at > now() - to_seconds(?)""",
                [name, rule.id, channel.rate_per_s],
            ).fetchall()[0][0]
            if recent >= channel.rate_max:
                status = "rate_limited"
        nid = con.execute(
            "SELECT coalesce(max(notification_id), 0) + 1 FROM alert_notifications"
        ).fetchall()[0][0]
        con.execute(
            "INSERT INTO alert_notifications VALUES (?, ?, ?, ?, ?, 0, now(), NULL, NULL)",
            [nid, r.alert_id, name, "raised" if r.created else "escalated", status],
        )
        n += status == "pending"
    return n


def notification_message(
    ws: Workspace, alert_id: int, event: str, delivery_id: str, *, evidence: bool
) -> dict[str, Any]:
    """The JSON a webhook receives (and an e-mail is written from)."""
    a = get_alert(ws, alert_id)
    ev = a.get("evidence") or {}
    if not evidence:  # the figures, not the accounts and posts: ask the workspace for those
        ev = {
            k: ev.get(k)
            for k in ("key", "numbers", "time_range", "detection_run_id", "cluster_id")
            if k in ev
        } | {
            "accounts_total": ev.get("accounts_total", len(ev.get("accounts") or [])),
            "posts_total": len(ev.get("posts") or []),
        }
    alert = {k: v for k, v in a.items() if k not in ("events", "evidence")} | {"evidence": ev}
    return {
        "type": "civicsentry.alert",
        "event": event,
        "delivery_id": delivery_id,
        "alert": alert,
    }


def deliver_pending(
    ws: Workspace, ruleset: RuleSet, *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, int]:
    """Deliver queued notifications (also those a crash left queued) and record the
    outcome of each: sent, or failed with the error after the channel's retries."""
    rows = ws.con.execute(
        "SELECT notification_id, alert_id, channel, event, attempts FROM alert_notifications "
        "WHERE status = 'pending' ORDER BY notification_id"
    ).fetchall()
    counts = {"sent": 0, "failed": 0}
    for nid, alert_id, name, event, attempts in rows:
        channel = ruleset.channels.get(name)
        if channel is None:
            result = Delivery(False, 0, f"channel {name!r} is not configured in the rules files")
        else:
            message = notification_message(
                ws,
                alert_id,
                event,
                f"{alert_id}-{nid}",
                evidence=bool(channel.settings.get("include_evidence")),
            )
            result = deliver(channel, message, sleep=sleep)
        with ws.transaction() as con:
            con.execute(
                """UPDATE alert_notifications SET status = ?, attempts = ?, error = ?,
                       sent_at = CASE WHEN ? THEN now() END WHERE notification_id = ?""",
                [
                    "sent" if result.ok else "failed",
                    (attempts or 0) + result.attempts,
                    result.error,
                    result.ok,
                    nid,
                ],
            )
        counts["sent" if result.ok else "failed"] += 1
    return counts


def notifications(ws: Workspace, *, alert_id: int | None = None) -> list[dict[str, Any]]:
    """Notifications, newest first (all, or one alert's)."""
    where, params = ("WHERE alert_id = ?", [int(alert_id)]) if alert_id is not None else ("", [])
    rel = ws.con.execute(
        f"SELECT * FROM alert_notifications {where} ORDER BY notification_id DESC", params
    )
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
