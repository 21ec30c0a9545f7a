"""Notifications against real servers on loopback: an HTTP server that checks the
HMAC signature and fails the first attempt, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from civicsentry.service import alerts as service
from civicsentry.service.notifications import deliver_pending, notifications
from civicsentry.store import Workspace
from civicsentry.warn import load_rules
from civicsentry.warn.notify import deliver, parse_channel, verify_signature
from tests.warn.scenario import add_clustered_run, add_posts, at

SECRET = "s3cret-for-tests"


class Hook:
    """A webhook receiver: answers the queued status codes in turn (then 200) and keeps
    every request with whether its signature verified."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-CivicSentry-Timestamp"]
                sig = self.headers["X-CivicSentry-Signature"]
                expected = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()  # fmt: skip
                hook.received.append(
                    {"body": json.loads(body), "valid": hmac.compare_digest(sig, expected)}
                )
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook([500])  # the first delivery fails with a server error
    yield h
    h.close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as s:  # a free port (the controller checks readiness on its port)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _cluster_workspace(ws: Workspace) -> None:
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    add_clustered_run(ws, [{"members": ["x:a", "x:b", "x:c"], "suspicion": 0.9}])


def _rules(tmp_path: Path, hook_url: str, smtp_port: int, extra: str = "") -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(
        f"""
rules:
  - id: cluster-new
    notify: [analysts, mail]
  - id: account-creation-burst
    notify: [analysts]
channels:
  analysts:
    type: webhook
    url: {hook_url}
    secret_env: TEST_HOOK_SECRET
    backoff: 0.01
    rate_limit: 1/1h
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    from: civicsentry@example.org
    to: [desk@example.org]
    min_severity: high
{extra}""",
        encoding="utf-8",
    )
    return p


def test_a_new_alert_is_signed_retried_and_mailed(
    ws: Workspace,
    tmp_path: Path,
    hook: Hook,
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    inbox, port = smtp
    _cluster_workspace(ws)
    rules = _rules(tmp_path, hook.url, port)
    s = service.evaluate(ws, rules=[rules], only=["cluster-new"], sleep=lambda s: None)
    assert s.raised == 1 and s.notifications == {"queued": 2, "sent": 2, "failed": 0}
    # The webhook: the first attempt got a 500, the retry went through; both signed.
    assert [r["valid"] for r in hook.received] == [True, True]
    body = hook.received[-1]["body"]
    assert body["type"] == "civicsentry.alert" and body["event"] == "raised"
    assert body["alert"]["rule"] == "cluster-new" and body["alert"]["severity"] == "high"
    assert body["alert"]["evidence"]["numbers"]["size"] == 3
    assert "accounts" not in body["alert"]["evidence"]  # figures only, unless include_evidence
    # The e-mail (the alert is high, the channel's minimum).
    (msg,) = inbox.messages
    assert msg.rcpt_tos == ["desk@example.org"]
    text = msg.content.decode()
    assert "Subject: [CivicSentry] HIGH cluster-new: Coordinated cluster of 3 accounts" in text
    assert "civicsentry alerts show 1" in text
    sent = notifications(ws)
    assert sorted((n["channel"], n["status"], n["attempts"]) for n in sent) == [
        ("analysts", "sent", 2),
        ("mail", "sent", 1),
    ]
    # Raised again (same situation, nothing new): no second notification.
    s = service.evaluate(ws, rules=[rules], only=["cluster-new"], sleep=lambda s: None)
    assert s.notifications == {"queued": 0, "sent": 0, "failed": 0}
    assert len(hook.received) == 2 and len(inbox.messages) == 1


def test_routing_minimum_severity_and_rate_limit(
    ws: Workspace,
    tmp_path: Path,
    hook: Hook,
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    hook.statuses.clear()
    inbox, port = smtp
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    # Two different clusters, both medium (suspicion 0.6): the webhook takes one per hour
    # for the rule, the mail channel wants high and above.
    add_clustered_run(
        ws,
        [
            {"members": ["x:a", "x:b", "x:c"], "suspicion": 0.6},
            {"members": ["x:d", "x:e", "x:f"], "suspicion": 0.6},
        ],
    )
    rules = _rules(tmp_path, hook.url, port)
    s = service.evaluate(ws, rules=[rules], only=["cluster-new"])
    assert s.raised == 2
    assert sorted(n["status"] for n in notifications(ws)) == ["rate_limited", "sent"]
    assert len(hook.received) == 1 and inbox.messages == []


def test_a_crash_before_delivery_leaves_notifications_queued(
    ws: Workspace,
    tmp_path: Path,
    hook: Hook,
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    hook.statuses.clear()
    _cluster_workspace(ws)
    rules = load_rules([_rules(tmp_path, hook.url, smtp[1])])

    def crash(*a: object, **k: object) -> dict[str, int]:
        raise KeyboardInterrupt

    import civicsentry.service.notifications as outbox

    monkeypatch.setattr(outbox, "deliver_pending", crash)
    with pytest.raises(KeyboardInterrupt):
        service.evaluate(ws, rules=rules, only=["cluster-new"])
    assert [n["status"] for n in notifications(ws)] == ["pending", "pending"]
    monkeypatch.undo()
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    assert deliver_pending(ws, rules) == {"sent": 2, "failed": 0}
    assert len(hook.received) == 1 and len(smtp[0].messages) == 1


def test_permanent_failures_are_not_retried_and_missing_secrets_are_reported(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = {"type": "civicsentry.alert", "alert": {"alert_id": 1}}
    hook.statuses[:] = [400]
    ch = parse_channel("h", {"type": "webhook", "url": hook.url, "secret_env": "TEST_HOOK_SECRET", "backoff": 0.01}, "t")  # fmt: skip
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    d = deliver(ch, message)
    assert (d.ok, d.attempts) == (False, 1) and "HTTP 400" in (d.error or "")
    hook.statuses[:] = [503, 503, 503, 503]
    waits: list[float] = []
    d = deliver(ch, message, sleep=waits.append)
    assert (d.ok, d.attempts, waits) == (False, 4, [0.01, 0.02, 0.04])  # 3 retries, doubling
    monkeypatch.delenv("TEST_HOOK_SECRET")
    d = deliver(ch, message)
    assert not d.ok and "TEST_HOOK_SECRET" in (d.error or "")


def test_signature_verification_rejects_tampering_and_old_requests() -> None:
    from civicsentry.warn.notify import sign

    body = b'{"a": 1}'
    sig = sign(SECRET.encode(), "1000", body)
    assert verify_signature(SECRET.encode(), body, "1000", sig, now=1100)
    assert not verify_signature(SECRET.encode(), b'{"a": 2}', "1000", sig, now=1100)
    assert not verify_signature(b"other", body, "1000", sig, now=1100)
    assert not verify_signature(SECRET.encode(), body, "1000", sig, now=5000)  # too old
