"""Notification channels: webhooks (JSON signed with HMAC-SHA256, retried with
exponential backoff) and e-mail (SMTP). Which alerts go where is the rules' business
(``notify:`` on a rule, ``min_severity`` and ``rate_limit`` on a channel); this module
only parses channel settings and delivers one message.

Webhook requests carry two headers::

    X-CivicSentry-Timestamp: 1730794200
    X-CivicSentry-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the secret>

A receiver recomputes the HMAC over the raw body (``verify_signature``) and rejects old
timestamps, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from ..detect.windows import parse_duration
from ..errors import InvalidParams
from .base import SEVERITIES

log = logging.getLogger("civicsentry")

SIGNATURE_HEADER = "X-CivicSentry-Signature"
TIMESTAMP_HEADER = "X-CivicSentry-Timestamp"
CHANNEL_TYPES = ("webhook", "email")
_KEYS = {
    "webhook": {"url", "secret_env", "secret", "include_evidence"},
    "email": {"host", "port", "to", "from", "starttls", "ssl", "username", "password_env"},
}
_COMMON = {"type", "min_severity", "rate_limit", "retries", "backoff", "timeout"}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


@dataclass(frozen=True)
class Channel:
    """A notification target. Secrets are named by environment variable, read when
    sending, never stored in the workspace."""

    name: str
    type: str
    min_severity: str = "low"
    rate_max: int | None = None  # at most this many notifications per rule ...
    rate_per_s: float = 3600.0  # ... in this many seconds
    retries: int = 3
    backoff_s: float = 1.0  # first wait; doubles each retry, capped at 60 s
    timeout_s: float = 10.0
    settings: Mapping[str, Any] = field(default_factory=dict)

    def wants(self, severity: str) -> bool:
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)


def parse_channel(name: str, spec: Any, origin: str) -> Channel:
    where = f"{origin}: channel {name!r}"
    if not isinstance(spec, dict) or spec.get("type") not in CHANNEL_TYPES:
        raise InvalidParams(f"{where}: needs `type: webhook` or `type: email`.")
    kind = spec["type"]
    unknown = set(spec) - _COMMON - _KEYS[kind]
    if unknown:
        raise InvalidParams(
            f"{where}: unknown key {sorted(unknown)[0]!r} for a {kind} channel "
            f"(keys: {', '.join(sorted(_COMMON | _KEYS[kind]))})."
        )
    sev = spec.get("min_severity", "low")
    if sev not in SEVERITIES:
        raise InvalidParams(f"{where}: min_severity is one of {', '.join(SEVERITIES)}.")
    rate_max, rate_per = None, 3600.0
    rate = spec.get("rate_limit")
    if rate is not None:
        m = _RATE.match(str(rate))
        if not m:
            raise InvalidParams(f"{where}: rate_limit is COUNT/DURATION, e.g. 10/1h, not {rate!r}.")
        rate_max, rate_per = int(m.group(1)), parse_duration(m.group(2))
    settings = {k: v for k, v in spec.items() if k in _KEYS[kind]}
    if kind == "webhook":
        url = str(settings.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise InvalidParams(f"{where}: `url` must be an http(s) URL.")
        if not (settings.get("secret_env") or settings.get("secret")):
            raise InvalidParams(
                f"{where}: webhooks are signed: set `secret_env` to the environment variable "
                "holding the shared secret."
            )
    else:
        to = settings.get("to")
        if isinstance(to, str):
            settings["to"] = [to]
        if not settings.get("host") or not settings.get("to") or not settings.get("from"):
            raise InvalidParams(f"{where}: an email channel needs `host`, `from` and `to`.")
    try:
        retries = int(spec.get("retries", 3))
        backoff = parse_duration(spec.get("backoff", 1.0))
        timeout = parse_duration(spec.get("timeout", 10.0))
    except (TypeError, ValueError) as e:
        raise InvalidParams(f"{where}: {e}") from e
    return Channel(
        name=name,
        type=kind,
        min_severity=sev,
        rate_max=rate_max,
        rate_per_s=rate_per,
        retries=max(0, retries),
        backoff_s=backoff,
        timeout_s=timeout,
        settings=settings,
    )


# -- delivery ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


class _Retry(Exception):
    """A failure worth retrying (network error, 5xx, 429); ``wait`` from Retry-After."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


def deliver(
    channel: Channel, message: Mapping[str, Any], *, sleep: Callable[[float], None] = time.sleep
) -> Delivery:
    """Send one notification (the webhook's JSON body; for e-mail, rendered as text),
    retrying transient failures with exponential backoff. Never raises for a delivery
    failure: the result says what happened."""
    send = _send_webhook if channel.type == "webhook" else _send_email
    attempt = 0
    while True:
        attempt += 1
        try:
            send(channel, message)
            return Delivery(True, attempt)
        except _Retry as e:
            if attempt > channel.retries:
                return Delivery(False, attempt, str(e))
            wait = e.wait if e.wait is not None else channel.backoff_s * 2 ** (attempt - 1)
            log.info("%s: %s; retrying in %.1f s", channel.name, e, wait)
            sleep(min(wait, 60.0))
        except Exception as e:  # permanent: bad request, refused credentials, bad secret
            return Delivery(False, attempt, f"{type(e).__name__}: {e}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


def verify_signature(
    secret: bytes,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _secret(channel: Channel) -> bytes:
    env = channel.settings.get("secret_env")
    if env:
        value = os.environ.get(str(env))
        if not value:
            raise InvalidParams(
                f"channel {channel.name!r}: the environment variable {env} (the webhook secret) is not set."
            )
        return value.encode()
    return str(channel.settings["secret"]).encode()


def _send_webhook(channel: Channel, message: Mapping[str, Any]) -> None:
    body = json.dumps(message, default=str, sort_keys=True, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    req = urllib.request.Request(
        str(channel.settings["url"]),
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "civicsentry",
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(_secret(channel), ts, body),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=channel.timeout_s) as resp:
            resp.read()
    except urllib.error.HTTPError as e:
        if e.code >= 500 or e.code == 429:
            raise _Retry(f"HTTP {e.code}", _retry_after(e.headers.get("Retry-After"))) from e
        raise RuntimeError(f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise _Retry(str(getattr(e, "reason", e))) from e


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(text: Any, limit: int = 200) -> str:
    # Post text can end up in a title: no header injection, no multi-line subjects.
    return _CONTROL.sub(" ", str(text or "")).strip()[:limit]


def email_text(message: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of an alert notification."""
    a = message["alert"]
    subject = f"[CivicSentry] {a['severity'].upper()} {a['rule']}: {_one_line(a['title'])}"
    lines = [
        f"Alert {a['alert_id']} ({message['event']}): {_one_line(a['title'], 1000)}",
        f"Rule: {a['rule']}    Severity: {a['severity']}    Status: {a['status']}",
        f"Data time: {a.get('evidence_from')} .. {a.get('evidence_to')}",
        f"Raised {a['count']} time(s); first {a['first_seen']}, last {a['last_seen']}.",
    ]
    if a.get("disarm"):
        lines.append("DISARM: " + ", ".join(a["disarm"]))
    numbers = (a.get("evidence") or {}).get("numbers") or {}
    if numbers:
        lines.append("Numbers: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))
    lines += ["", f"civicsentry alerts show {a['alert_id']}", ""]
    return _one_line(subject, 250), "\n".join(lines)


def _send_email(channel: Channel, message: Mapping[str, Any]) -> None:
    s = channel.settings
    subject, body = email_text(message)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = str(s["from"])
    msg["To"] = ", ".join(s["to"])
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="civicsentry")
    msg.set_content(body)
    port = int(s.get("port") or (465 if s.get("ssl") else 25))
    try:
        smtp_class = smtplib.SMTP_SSL if s.get("ssl") else smtplib.SMTP
        with smtp_class(str(s["host"]), port, timeout=channel.timeout_s) as smtp:
            if s.get("starttls"):
                smtp.starttls(context=ssl.create_default_context())
            if s.get("username"):
                password = os.environ.get(str(s.get("password_env") or ""), "")
                smtp.login(str(s["username"]), password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as e:
        if 400 <= e.smtp_code < 500:  # transient by definition (RFC 5321)
            raise _Retry(f"SMTP {e.smtp_code}") from e
        raise
    except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError, OSError) as e:
        if isinstance(e, smtplib.SMTPException) and not isinstance(
            e, smtplib.SMTPServerDisconnected
        ):
            raise
        raise _Retry(f"{type(e).__name__}: {e}") from e
