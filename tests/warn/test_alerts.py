"""The alerts contract: raise (upsert by fingerprint), list/count/get, triage with its
lifecycle, history and audit log."""

from __future__ import annotations

import json

import pytest

import civicsentry
from civicsentry.errors import InvalidParams, SchemaVersionMismatch
from civicsentry.service import alerts as service
from civicsentry.store import Workspace
from tests.conftest import rows


def raise_one(ws: Workspace, fp: str = "fp-1", **kw: object) -> int:
    args: dict = {
        "rule": "cluster-new",
        "fingerprint": fp,
        "severity": "medium",
        "title": "Cluster of 4",
        "evidence": {
            "accounts": ["x:a", "x:b"],
            "time_range": {"from": "2024-10-28T10:00:00Z", "to": "2024-10-28T12:00:00Z"},
            "numbers": {"size": 4},
        },
        "disarm": ["T0049"],
    }
    return service.raise_alert(ws, **(args | kw))


def test_the_same_fingerprint_updates_and_never_raises_twice(ws: Workspace) -> None:
    first = raise_one(ws)
    again = raise_one(ws)  # the same situation, the same evidence
    assert again == first and service.count_alerts(ws) == 1
    a = service.get_alert(ws, first)
    assert a["count"] == 2 and a["status"] == "new"
    assert [e["event"] for e in a["events"]] == ["raised"]  # nothing changed: no event
    assert str(a["evidence_from"]) == "2024-10-28 10:00:00+00:00"

    bigger = {"accounts": ["x:a", "x:b", "x:c"], "numbers": {"size": 6}, "time_range": {"from": "2024-10-28T10:00:00Z", "to": "2024-10-28T18:00:00Z"}}  # fmt: skip
    raise_one(ws, severity="high", evidence=bigger, disarm=["T0049.003"])
    raise_one(ws, severity="low", evidence=bigger)  # severity never goes down
    a = service.get_alert(ws, first)
    assert a["count"] == 4 and a["severity"] == "high"
    assert a["evidence"]["numbers"] == {"size": 6}
    assert a["disarm"] == ["T0049", "T0049.003"]
    assert a["disarm_names"]["T0049"] == "Flood Information Space"
    assert str(a["evidence_to"]) == "2024-10-28 18:00:00+00:00"
    assert [(e["event"], e["note"]) for e in a["events"]] == [
        ("raised", "cluster-new: medium"),
        ("updated", "severity medium -> high"),
    ]
    assert raise_one(ws, fp="fp-2") == first + 1


def test_a_fingerprint_belongs_to_one_rule(ws: Workspace) -> None:
    raise_one(ws)
    with pytest.raises(InvalidParams, match="belongs to an alert of rule 'cluster-new'"):
        raise_one(ws, rule="account-creation-burst")
    with pytest.raises(InvalidParams, match="Severity is one of"):
        raise_one(ws, fp="other", severity="urgent")


def test_list_filters_pages_and_counts(ws: Workspace) -> None:
    ids = [
        raise_one(ws, fp="a", severity="low"),
        raise_one(ws, fp="b", severity="high"),
        raise_one(ws, fp="c", severity="high", rule="watchlist-volume"),
    ]
    assert [a["alert_id"] for a in service.list_alerts(ws)] == ids[::-1]  # newest first
    assert [a["alert_id"] for a in service.list_alerts(ws, severity="high")] == [ids[2], ids[1]]
    assert [a["alert_id"] for a in service.list_alerts(ws, rule="cluster-new", severity=["low", "high"])] == [ids[1], ids[0]]  # fmt: skip
    assert [a["alert_id"] for a in service.list_alerts(ws, limit=1, offset=1)] == [ids[1]]
    assert service.count_alerts(ws, severity="high") == 2
    assert service.count_alerts(ws, status="new", rule="watchlist-volume") == 1
    assert service.list_alerts(ws)[0]["evidence"]["numbers"] == {"size": 4}  # parsed JSON
    with pytest.raises(InvalidParams, match="Unknown status 'open'"):
        service.list_alerts(ws, status="open")


def test_triage_follows_the_lifecycle_and_records_who_and_why(ws: Workspace) -> None:
    aid = raise_one(ws)
    with pytest.raises(
        InvalidParams, match="is new; it can move to triaged, escalated, dismissed, not closed"
    ):
        service.triage(ws, aid, status="closed", actor="ana")
    service.triage(ws, aid, status="triaged", actor="ana", note="looks like a bot net")
    service.triage(ws, aid, status="escalated", actor="ben")
    a = service.triage(ws, aid, status="closed", actor="ana", note="handed to the platform")
    assert a["status"] == "closed"
    assert [(e["actor"], e["from_status"], e["to_status"], e["note"]) for e in a["events"][1:]] == [
        ("ana", "new", "triaged", "looks like a bot net"),
        ("ben", "triaged", "escalated", None),
        ("ana", "escalated", "closed", "handed to the platform"),
    ]
    a = service.triage(ws, aid, status="triaged", actor="ana", note="it is back")  # reopen
    assert a["status"] == "triaged"
    raise_one(ws)  # re-raising never changes the status
    assert service.get_alert(ws, aid)["status"] == "triaged"
    audit = rows(
        ws, "SELECT actor, detail FROM audit_log WHERE action = 'alert.triage' ORDER BY ts"
    )
    assert [a["actor"] for a in audit] == ["ana", "ben", "ana", "ana"]
    assert json.loads(audit[0]["detail"]) == {"alert_id": aid, "from": "new", "to": "triaged", "note": "looks like a bot net"}  # fmt: skip
    with pytest.raises(InvalidParams, match="No alert 99"):
        service.triage(ws, 99, status="triaged", actor="ana")
    with pytest.raises(InvalidParams, match="No alert 99"):
        service.get_alert(ws, 99)
    with pytest.raises(InvalidParams, match="Unknown status 'done'"):
        service.triage(ws, aid, status="done", actor="ana")


def test_a_workspace_from_before_alerts_gets_them_on_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The service reads the alert tables without asking whether they exist: opening a
    # schema-1 workspace (made before them) creates them, and a read-only open refuses it.
    path = tmp_path / "old.duckdb"
    with civicsentry.open(path) as ws:
        for table in ("alert_notifications", "alert_events", "alerts"):
            ws.con.execute(f"DROP TABLE {table}")
        ws.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionMismatch, match="civicsentry migrate"):
        civicsentry.open(path, read_only=True)
    with civicsentry.open(path) as ws:
        assert service.list_alerts(ws) == [] and service.count_alerts(ws) == 0
        assert raise_one(ws) == 1


def test_the_python_api_has_the_same_verbs(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.warn.scenario import add_clustered_run, add_posts, at

    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    add_clustered_run(ws, [{"members": ["x:a", "x:b", "x:c"], "suspicion": 0.9}])
    s = ws.warn(notify=False)
    assert s.raised == 1 and s.run_id is not None
    (a,) = ws.alerts()
    assert ws.alert(a["alert_id"])["rule"] == "cluster-new"
    assert ws.triage(a["alert_id"], "dismissed", actor="ana")["status"] == "dismissed"
    run = rows(
        ws, "SELECT step, name, params FROM runs WHERE run_id = ?".replace("?", str(s.run_id))
    )
    assert (
        run[0]["step"] == "warn" and json.loads(run[0]["params"])["rules"][0]["id"] == "cluster-new"
    )
