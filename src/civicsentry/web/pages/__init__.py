"""The dashboard: server-rendered pages over the same view data as the API."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from .render import render
from .routes import login_form, router


def error_page(request: Request, status: int, kind: str, message: str) -> HTMLResponse:
    """An error page; when not logged in (401), the log-in form, with that status."""
    if status == 401:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return login_form(request, next_url=here, status=401)
    data = {"status": status, "type": kind, "message": message}
    return render(request, "error.html", data, status=status, twin=False)


__all__ = ["error_page", "router"]
