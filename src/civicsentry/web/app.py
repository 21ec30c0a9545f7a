"""The web application: REST API under ``/api``, the dashboard pages, and the TAXII 2.1
server of the sharing stage under ``/taxii2/`` when it is installed.

    app = create_app("case.duckdb")      # uvicorn.run(app, host="127.0.0.1")

Secure by default: strict Content-Security-Policy (``default-src 'self'``, no inline
script or style), no framing, no referrer, no caching of pages, HttpOnly SameSite=Strict
session cookies, CSRF tokens on every form post, and one JSON error shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from .. import open as open_workspace
from ..errors import CivicSentryError
from . import pages
from .api import router as api_router
from .audit import AuditWriter
from .auth import LoginThrottle
from .deps import utc_cursors

log = logging.getLogger("civicsentry")

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


class SecurityHeaders:
    """Adds the security headers to every response (a response that sets its own
    Content-Security-Policy, like a served report, keeps it); pages and API answers are
    not cached, since they hold sensitive data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith((".json", ".csv", ".xlsx"))


def error_response(request: Request, status: int, kind: str, message: str) -> Response:
    """The one error shape as JSON for the API, or an error page for the dashboard
    (the log-in form, with status 401, when not logged in)."""
    if wants_json(request):
        body = {"ok": False, "status": status, "type": kind, "error": message}
        return JSONResponse(body, status_code=status)
    return pages.error_page(request, status, kind, message)


def create_app(
    workspace_path: str | Path,
    *,
    secure_cookies: bool = False,
    taxii: bool = True,
) -> FastAPI:
    """The FastAPI app over the workspace at ``workspace_path`` (opened read-write for
    the app's lifetime; DuckDB allows one writing process, so stop the server before
    using the CLI on the same file). ``secure_cookies`` forces the Secure flag (set it
    behind a TLS-terminating proxy; over https it is set anyway)."""
    ws = utc_cursors(open_workspace(workspace_path))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.workspace is None:  # started again after a shutdown
            app.state.workspace = utc_cursors(open_workspace(workspace_path))
        app.state.audit = AuditWriter(app.state.workspace.con)
        yield
        app.state.audit.close()  # commits what is pending
        app.state.audit = None
        app.state.workspace.close()
        app.state.workspace = None

    app = FastAPI(
        title="CivicSentry",
        version=__version__,
        description=(
            "REST API of CivicSentry. Authenticate with `Authorization: Bearer <token>` "
            "(`civicsentry users token NAME`) or a dashboard session (then unsafe requests "
            "need the `X-CSRF-Token` header). Lists take `limit` and `offset` and answer "
            "`{items, total, limit, offset, next, prev}`; errors answer "
            "`{ok: false, status, type, error}`."
        ),
        docs_url=None,  # the stock docs pages load scripts from a CDN; ours is /api/docs
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.workspace = ws
    app.state.audit = None  # the lifespan starts the audit writer
    app.state.secure_cookies = secure_cookies
    app.state.login_throttle = LoginThrottle()

    @app.exception_handler(CivicSentryError)
    async def _civicsentry_error(request: Request, exc: CivicSentryError) -> Response:
        return error_response(request, exc.http_status, type(exc).__name__, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/taxii2"):  # TAXII has its own error format
            return await http_exception_handler(request, exc)
        return error_response(request, exc.status_code, "HTTPError", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return error_response(request, 400, "InvalidParams", f"Invalid request: {problems}")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api_router)
    app.include_router(pages.router)
    if taxii:
        _include_taxii(app, workspace_path)
    app.add_middleware(SecurityHeaders)
    return app


def _include_taxii(app: FastAPI, workspace_path: str | Path) -> None:
    try:
        from ..share.taxii_server import taxii_router
    except ImportError:
        return  # the sharing stage is not installed in this version
    router: Any = taxii_router(workspace_path)
    app.include_router(router)
