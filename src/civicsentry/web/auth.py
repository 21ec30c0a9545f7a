"""Who is asking: session cookies for the dashboard, bearer tokens for scripts, roles,
and CSRF protection for everything a logged-in browser posts.

- Session cookie ``cs_session``: 256 random bits, HttpOnly, SameSite=Strict, Secure when
  the app is served over https; only its SHA-256 is stored (``sessions``).
- CSRF: every unsafe request (POST, PUT, PATCH, DELETE) authenticated by the cookie must
  carry the session's CSRF token, as the form field ``csrf_token`` or the header
  ``X-CSRF-Token``. Bearer-token requests carry no ambient credentials and need none.
  The log-in form uses a double-submit cookie, since there is no session yet.
- Roles: ``require("admin")`` etc. as route dependencies; partners are further limited
  to what is shared with their group (``views.partner_*``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import AuthenticationFailed, PermissionDenied
from ..service import users as _users
from ..store import Workspace
from .deps import WS

SESSION_COOKIE = "cs_session"
LOGIN_CSRF_COOKIE = "cs_login_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    role: str
    partner_group: str | None
    via: str  # "session" or "token"
    csrf: str | None = None  # the session's CSRF token (sessions only)

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "role": self.role,
            "partner_group": self.partner_group,
            "via": self.via,
        }


def _user(row: dict[str, Any], via: str, csrf: str | None = None) -> User:
    return User(row["user_id"], row["username"], row["role"], row["partner_group"], via, csrf)


async def _csrf_sent(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # starlette caches it for the route
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else ""
    return sent


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def _authenticate(request: Request, ws: Workspace) -> User:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return _user(_users.user_for_token(ws, header[7:].strip()), "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise AuthenticationFailed("Log in first (or send `Authorization: Bearer <token>`).")
    row, csrf = _users.session_user(ws, cookie)
    return _user(row, "session", csrf)


async def current_user(request: Request, ws: WS) -> User:
    """The authenticated user of the request, or AuthenticationFailed (401); a
    cookie-authenticated unsafe request without the session's CSRF token is refused (403)."""
    user = await run_in_threadpool(_authenticate, request, ws)  # DuckDB work off the loop
    if (
        user.via == "session"
        and request.method in UNSAFE
        and not same(await _csrf_sent(request), user.csrf)
    ):
        raise PermissionDenied("Missing or wrong CSRF token: reload the page and try again.")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: str) -> Callable[..., User]:
    """A dependency allowing only ``roles`` (403 for the others)."""

    # async: no DuckDB work, so no hop to a worker thread (FastAPI runs sync ones there)
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise PermissionDenied(
                f"This needs the role {' or '.join(roles)}; you are {user.role}."
            )
        return user

    return check


Staff = Annotated[User, Depends(require("admin", "analyst"))]
Admin = Annotated[User, Depends(require("admin"))]


# -- cookies -------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or bool(request.app.state.secure_cookies)


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(_users.SESSION_HOURS * 3600),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def login_token(request: Request) -> str:
    """The double-submit token of the log-in form (reused while its cookie lives)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )


def check_login_token(request: Request, sent: str) -> None:
    if not same(request.cookies.get(LOGIN_CSRF_COOKIE), sent):
        raise PermissionDenied("The log-in form expired: reload the page and log in again.")


# -- throttling of failed log-ins ----------------------------------------------------


class LoginThrottle:
    """At most ``attempts`` failed log-ins per user name within ``seconds``; argon2 makes
    each guess slow, this caps how many a guesser gets (per process, in memory)."""

    def __init__(self, attempts: int = 10, seconds: float = 300.0) -> None:
        self.attempts, self.seconds = attempts, seconds
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, username: str) -> bool:
        q = self._failures.get(username.lower())
        now = time.monotonic()
        while q and now - q[0] > self.seconds:
            q.popleft()
        return bool(q) and len(q) >= self.attempts

    def failed(self, username: str) -> None:
        self._failures.setdefault(username.lower(), deque()).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        self._failures.pop(username.lower(), None)


def log_in(request: Request, ws: Workspace, username: str, password: str) -> tuple[str, User]:
    """Check the password (throttled) and open a session: (cookie value, user)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    if throttle.blocked(username):
        ws.audit("login.throttled", {"username": username}, username)
        raise AuthenticationFailed("Too many failed log-ins for this user: wait a few minutes.")
    try:
        row = _users.authenticate(ws, username, password)
    except AuthenticationFailed:
        throttle.failed(username)
        raise
    throttle.succeeded(username)
    cookie, csrf = _users.create_session(ws, row["user_id"])
    return cookie, _user(row, "session", csrf)
