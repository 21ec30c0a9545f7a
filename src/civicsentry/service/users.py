"""Users, roles, API tokens, log-in sessions and the audit trail of the dashboard.

Roles (docs/web.md): ``admin`` manages users and reads the audit log; ``analyst`` reads
everything and triages, exports and shares; ``partner`` belongs to a ``partner_group``
and sees only what was shared with that group below TLP:RED.

Secrets are never stored: passwords as argon2id hashes (argon2-cffi), API tokens and
session cookies as SHA-256 digests. Tokens and cookies are 256-bit random values, so a
fast digest is enough to make a stolen table useless; passwords are low-entropy and get
the slow, salted hash.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import AuthenticationFailed, InvalidParams, NotFound
from ..store import Workspace

ROLES = ("admin", "analyst", "partner")
TOKEN_PREFIX = "cs_"
SESSION_HOURS = 12
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a
    wrong password (no user enumeration by timing). Made on first use, not at import:
    hashing costs ~0.2 s, which every CLI command would otherwise pay."""
    return _hasher.hash(secrets.token_hex(16))


USER_COLUMNS = "user_id, username, role, partner_group, created_at, disabled, last_login"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _rows(ws: Workspace, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return ws.dicts(query, params)


# -- users ---------------------------------------------------------------------------


def add_user(
    ws: Workspace,
    username: str,
    *,
    role: str,
    password: str,
    partner_group: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Create a user. Partners need a ``partner_group``; others must not have one."""
    if not _USERNAME.match(username):
        raise InvalidParams(
            f"Invalid user name {username!r}: use 1-64 letters, digits and . _ @ - "
            "(starting with a letter or digit)."
        )
    if role not in ROLES:
        raise InvalidParams(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    if role == "partner" and not partner_group:
        raise InvalidParams("A partner needs a partner group (--group NAME).")
    if role != "partner" and partner_group:
        raise InvalidParams("Only partners belong to a partner group; drop --group.")
    if partner_group and not _GROUP.match(partner_group):
        raise InvalidParams(f"Invalid partner group {partner_group!r}: letters, digits, . _ -.")
    _check_password(password)
    if ws.scalar("SELECT count(*) FROM users WHERE username = ?", [username]):
        raise InvalidParams(f"User {username!r} exists already; `civicsentry users list`.")
    with ws.transaction() as con:
        uid = ws.next_id("users", "user_id")
        con.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, now(), false, NULL)",
            [uid, username, role, partner_group, _hasher.hash(password)],
        )
        ws.audit(
            "user.add",
            {"username": username, "role": role, "partner_group": partner_group},
            actor,
        )
    return get_user(ws, username)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidParams(f"The password is too short: use at least {MIN_PASSWORD} characters.")


def get_user(ws: Workspace, username: str) -> dict[str, Any]:
    rows = _rows(ws, f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", [username])
    if not rows:
        raise NotFound(f"No user {username!r}; `civicsentry users list` shows them.")
    return rows[0]


def list_users(
    ws: Workspace, *, role: str | None = None, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Users without their hashes, in the order created."""
    where, params = ("WHERE role = ?", [role]) if role else ("", [])
    lim = f"LIMIT {int(limit)} OFFSET {int(offset)}" if limit else ""
    return _rows(ws, f"SELECT {USER_COLUMNS} FROM users {where} ORDER BY user_id {lim}", params)


def count_users(ws: Workspace, *, role: str | None = None) -> int:
    where, params = ("WHERE role = ?", [role]) if role else ("", [])
    return int(ws.scalar(f"SELECT count(*) FROM users {where}", params))


def set_disabled(
    ws: Workspace, username: str, disabled: bool, *, actor: str | None = None
) -> dict[str, Any]:
    """Disable (or re-enable) a user; disabling also ends their sessions."""
    user = get_user(ws, username)
    with ws.transaction() as con:
        con.execute("UPDATE users SET disabled = ? WHERE user_id = ?", [disabled, user["user_id"]])
        if disabled:
            con.execute("DELETE FROM sessions WHERE user_id = ?", [user["user_id"]])
        ws.audit("user.disable" if disabled else "user.enable", {"username": username}, actor)
    return get_user(ws, username)


def set_password(ws: Workspace, username: str, password: str, *, actor: str | None = None) -> None:
    """Change a password; the user's sessions end."""
    _check_password(password)
    user = get_user(ws, username)
    with ws.transaction() as con:
        con.execute(
            "UPDATE users SET password_hash = ? WHERE user_id = ?",
            [_hasher.hash(password), user["user_id"]],
        )
        con.execute("DELETE FROM sessions WHERE user_id = ?", [user["user_id"]])
        ws.audit("user.password", {"username": username}, actor)


def authenticate(ws: Workspace, username: str, password: str) -> dict[str, Any]:
    """The user, when the password is right and the user enabled; else
    AuthenticationFailed with one message for every reason (no user enumeration)."""
    rows = ws.con.execute(
        "SELECT user_id, password_hash, disabled FROM users WHERE username = ?", [username]
    ).fetchall()
    stored = rows[0][1] if rows and rows[0][1] else _dummy_hash()
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not rows or not ok or rows[0][2]:
        ws.audit("login.failed", {"username": username}, username)
        raise AuthenticationFailed("Wrong user name or password.")
    uid = rows[0][0]
    with ws.transaction() as con:
        if _hasher.check_needs_rehash(stored):  # parameters raised since it was hashed
            con.execute(
                "UPDATE users SET password_hash = ? WHERE user_id = ?",
                [_hasher.hash(password), uid],
            )
        con.execute("UPDATE users SET last_login = now() WHERE user_id = ?", [uid])
        ws.audit("login", {"username": username}, username)
    return get_user(ws, username)


# -- API tokens ----------------------------------------------------------------------


def create_token(
    ws: Workspace,
    username: str,
    *,
    name: str = "",
    expires_days: int | None = None,
    actor: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A new API token for ``username``: (the token, shown only now; its stored row)."""
    user = get_user(ws, username)
    if expires_days is not None and expires_days <= 0:
        raise InvalidParams("--expires-days must be a positive number of days.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days is not None else None
    with ws.transaction() as con:
        tid = ws.next_id("api_tokens", "token_id")
        con.execute(
            "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, now(), ?, NULL)",
            [tid, user["user_id"], name[:200], _digest(token), token[:7], expires],
        )
        ws.audit("token.create", {"username": username, "token_id": tid, "name": name}, actor)
    return token, list_tokens(ws, token_id=tid)[0]


def list_tokens(
    ws: Workspace, *, username: str | None = None, token_id: int | None = None
) -> list[dict[str, Any]]:
    """Tokens (never their hashes), newest first."""
    conds, params = [], []
    if username is not None:
        conds.append("u.username = ?")
        params.append(username)
    if token_id is not None:
        conds.append("t.token_id = ?")
        params.append(token_id)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    return _rows(
        ws,
        "SELECT t.token_id, u.username, t.name, t.prefix, t.created_at, t.expires_at, "
        "t.revoked_at FROM api_tokens t JOIN users u USING (user_id) "
        f"{where} ORDER BY t.token_id DESC",
        params,
    )


def revoke_token(ws: Workspace, token_id: int, *, actor: str | None = None) -> dict[str, Any]:
    rows = list_tokens(ws, token_id=token_id)
    if not rows:
        raise NotFound(f"No token {token_id}; `civicsentry users tokens` lists them.")
    with ws.transaction() as con:
        con.execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = ?",
            [token_id],
        )
        ws.audit("token.revoke", {"token_id": token_id, "username": rows[0]["username"]}, actor)
    return list_tokens(ws, token_id=token_id)[0]


def user_for_token(ws: Workspace, token: str) -> dict[str, Any]:
    """The enabled user a valid (not revoked, not expired) token belongs to."""
    rows = _rows(
        ws,
        f"SELECT {', '.join('u.' + c for c in USER_COLUMNS.split(', '))} FROM api_tokens t "
        "JOIN users u USING (user_id) WHERE t.token_hash = ? AND t.revoked_at IS NULL "
        "AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT coalesce(u.disabled, false)",
        [_digest(token)],
    )
    if not rows:
        raise AuthenticationFailed("Invalid, revoked or expired API token.")
    return rows[0]


# -- sessions ------------------------------------------------------------------------


def create_session(ws: Workspace, user_id: int, *, hours: float = SESSION_HOURS) -> tuple[str, str]:
    """A new log-in session: (the cookie value, its CSRF token)."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ws.con.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, now(), ?)",
        [_digest(cookie), user_id, csrf, datetime.now(UTC) + timedelta(hours=hours)],
    )
    return cookie, csrf


def session_user(ws: Workspace, cookie: str) -> tuple[dict[str, Any], str]:
    """(user, CSRF token) of a live session of an enabled user."""
    rows = _rows(
        ws,
        f"SELECT {', '.join('u.' + c for c in USER_COLUMNS.split(', '))}, s.csrf_token "
        "FROM sessions s JOIN users u USING (user_id) WHERE s.session_hash = ? "
        "AND s.expires_at > now() AND NOT coalesce(u.disabled, false)",
        [_digest(cookie)],
    )
    if not rows:
        raise AuthenticationFailed("Not logged in, or the session expired: log in again.")
    user = rows[0]
    return user, user.pop("csrf_token")


def end_session(ws: Workspace, cookie: str) -> None:
    ws.con.execute(
        "DELETE FROM sessions WHERE session_hash = ? OR expires_at <= now()", [_digest(cookie)]
    )


# -- audit trail ---------------------------------------------------------------------


def _audit_where(
    actor: str | None, action: str | None, since: datetime | None
) -> tuple[str, list[Any]]:
    conds, params = [], []
    if actor:
        conds.append("actor = ?")
        params.append(actor)
    if action:  # a prefix: `user` matches user.add, user.disable, ...
        conds.append("starts_with(action, ?)")
        params.append(action)
    if since:
        conds.append("ts >= ?")
        params.append(since)
    return ("WHERE " + " AND ".join(conds)) if conds else "", params


def audit_entries(
    ws: Workspace,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The audit log, newest first; ``action`` matches as a prefix."""
    where, params = _audit_where(actor, action, since)
    rows = _rows(
        ws,
        f"SELECT ts, actor, action, detail FROM audit_log {where} "
        f"ORDER BY ts DESC LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    for r in rows:
        # Not JSON when written by hand or an older version: shown as it is.
        with contextlib.suppress(ValueError):
            r["detail"] = json.loads(r["detail"]) if r["detail"] else {}
    return rows


def count_audit(
    ws: Workspace,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> int:
    where, params = _audit_where(actor, action, since)
    return int(ws.scalar(f"SELECT count(*) FROM audit_log {where}", params))
