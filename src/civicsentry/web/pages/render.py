"""Templates (Jinja2, autoescape on for every template) and what every page gets:
the user, the CSRF token for its forms, the navigation for the role, the URL of the
page's JSON twin, and chart helpers that return escaped SVG."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ...service import charts

HERE = Path(__file__).parent
NAV = (
    ("/", "Overview", ("admin", "analyst")),
    ("/alerts", "Alerts", ("admin", "analyst")),
    ("/clusters", "Clusters", ("admin", "analyst")),
    ("/accounts", "Accounts", ("admin", "analyst")),
    ("/narratives", "Narratives", ("admin", "analyst")),
    ("/claims", "Claims", ("admin", "analyst")),
    ("/search", "Search", ("admin", "analyst")),
    ("/sharing", "Sharing", ("admin", "analyst", "partner")),
    ("/admin/users", "Users", ("admin",)),
    ("/admin/audit", "Audit log", ("admin",)),
    ("/admin/privacy", "Privacy", ("admin",)),
    ("/me/tokens", "API tokens", ("admin", "analyst", "partner")),
)


def _when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _volume_svg(volume: dict[str, Any]) -> Markup:
    series = {p: [(t, n) for t, n in volume["series"][p]] for p in volume["platforms"]}
    return Markup(charts.line_chart(series, title=f"posts per {volume['bucket']} and platform"))


def _bars_svg(points: list[Any], title: str, color: int = 0) -> Markup:
    pts = [(str(k)[:13].replace("T", " "), float(v)) for k, v in points]
    return Markup(charts.bar_chart(pts, title=title, color=charts.PALETTE[color], max_labels=12))


def _heat_svg(rhythm: dict[str, Any]) -> Markup:
    return Markup(charts.heatmap(rhythm["counts"], rhythm["weekdays"], title="activity rhythm"))


def _with_query(request: Request, **changes: Any) -> str:
    q = dict(request.query_params) | {k: str(v) for k, v in changes.items()}
    return f"{request.url.path}?{urlencode(q)}"


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters |= {"when": _when, "num": _num}
env.globals |= {
    "volume_svg": _volume_svg,
    "bars_svg": _bars_svg,
    "heat_svg": _heat_svg,
    "signal_color": charts.signal_color,
}
templates = Jinja2Templates(env=env)


def json_twin(request: Request) -> str:
    path = request.url.path
    twin = "/api/overview" if path == "/" else f"/api{path}"
    return twin + (f"?{request.url.query}" if request.url.query else "")


def render(
    request: Request, template: str, data: dict[str, Any], *, status: int = 200, twin: bool = True
) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    context = {
        "request": request,
        "user": user,
        "csrf": user.csrf if user is not None else None,
        "nav": [(href, label) for href, label, roles in NAV if user and user.role in roles],
        "json_url": json_twin(request) if twin else None,
        "with_query": lambda **kw: _with_query(request, **kw),
        "data": data,
    }
    return templates.TemplateResponse(request, template, context, status_code=status)
