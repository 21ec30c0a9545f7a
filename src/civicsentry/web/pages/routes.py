"""Page routes: each calls the view function its JSON twin calls and renders it; forms
post back here (CSRF-checked by ``auth.current_user``) and redirect (303)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ...errors import InvalidParams
from ...service import privacy as _privacy
from ...service import users as _users
from .. import auth, views
from ..auth import Admin, CurrentUser, Staff
from ..deps import WS, PagingDep, audited
from .render import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _local(url: str | None) -> str:
    """Only same-site paths as redirect targets (no open redirect)."""
    if url and url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return "/"


def login_form(
    request: Request, *, next_url: str = "/", status: int = 200, message: str | None = None
) -> HTMLResponse:
    token = auth.login_token(request)
    data = {"next": _local(next_url), "message": message, "login_token": token}
    response = render(request, "login.html", data, status=status, twin=False)
    auth.set_login_cookie(request, response, token)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return login_form(request, next_url=next)


@router.post("/login")
async def login(
    request: Request,
    ws: WS,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    login_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    auth.check_login_token(request, login_token)
    try:
        cookie, _ = await run_in_threadpool(auth.log_in, request, ws, username, password)
    except _users.AuthenticationFailed as e:
        return login_form(request, next_url=next, status=401, message=str(e))
    response = RedirectResponse(_local(next), status_code=303)
    auth.set_session_cookie(request, response, cookie)
    return response


@router.post("/logout")
def logout(request: Request, ws: WS, user: CurrentUser) -> Response:
    _users.end_session(ws, request.cookies.get(auth.SESSION_COOKIE, ""))
    ws.audit("logout", {}, user.username)
    response = RedirectResponse("/login", status_code=303)
    auth.clear_session_cookie(response)
    return response


@router.get("/")
def home(request: Request, ws: WS, user: CurrentUser, p: PagingDep) -> Response:
    if user.is_partner:  # partners have one view: what is shared with them
        return render(request, "sharing.html", views.sharing(request, ws, p, user))
    return render(request, "overview.html", views.overview(ws))


@router.get("/alerts")
def alerts(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    status: Annotated[list[str] | None, Query()] = None,
    severity: Annotated[list[str] | None, Query()] = None,
    rule: str | None = None,
) -> Response:
    status = [s for s in status or [] if s] or None
    severity = [s for s in severity or [] if s] or None
    data = views.alert_list(request, ws, p, status=status, severity=severity, rule=rule or None)
    return render(request, "alerts.html", data)


@router.get("/alerts/{alert_id}")
def alert(request: Request, alert_id: int, ws: WS, user: CurrentUser) -> Response:
    with audited(ws, "view.alert", {"alert_id": alert_id}, user.username):
        data = views.alert_detail(ws, alert_id, user)
    return render(request, "alert.html", data)


@router.post("/alerts/{alert_id}/triage")
def triage(
    alert_id: int,
    ws: WS,
    user: Staff,
    status: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    views.triage(ws, alert_id, user, status, note)
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/share")
def share(
    ws: WS,
    user: Staff,
    kind: Annotated[str, Form(max_length=16)],
    object_id: Annotated[int, Form()],
    collection: Annotated[str, Form(max_length=200)],
    tlp: Annotated[str, Form(max_length=16)] = "amber",
    run_id: Annotated[int | None, Form()] = None,
) -> Response:
    views.share(
        ws, user, kind=kind, object_id=object_id, run_id=run_id, collection=collection, tlp=tlp
    )
    return RedirectResponse("/sharing", status_code=303)


@router.get("/clusters")
def clusters(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    run_id: int | None = None,
    min_size: int = 0,
    min_suspicion: float = 0.0,
    modality: str | None = None,
) -> Response:
    data = views.cluster_list(
        request,
        ws,
        p,
        run_id=run_id,
        min_size=min_size,
        min_suspicion=min_suspicion,
        modality=modality or None,
    )
    return render(request, "clusters.html", data)


@router.get("/clusters/{cluster_id}")
def cluster(
    request: Request,
    cluster_id: int,
    ws: WS,
    user: CurrentUser,
    p: PagingDep,
    run_id: int | None = None,
) -> Response:
    data = views.cluster_detail(request, ws, cluster_id, run_id, p, user)
    return render(request, "cluster.html", data)


@router.get("/accounts")
def accounts(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    min_score: float | None = None,
    platform: str | None = None,
    foreign_only: bool = False,
) -> Response:
    data = views.account_list(
        request, ws, p, min_score=min_score, platform=platform or None, foreign_only=foreign_only
    )
    return render(request, "accounts.html", data)


@router.get("/accounts/{account_id:path}")
def account(request: Request, account_id: str, ws: WS, user: Staff, p: PagingDep) -> Response:
    return render(request, "account.html", views.account_detail(request, ws, account_id, p, user))


@router.get("/search")
def search(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    q: Annotated[str | None, Query(max_length=500)] = None,
    account_id: str | None = None,
    platform: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    f: dict[str, Any] = {
        "q": q or None,
        "account_id": account_id or None,
        "platform": platform or None,
        "since": since,
        "until": until,
    }
    data = views.search(request, ws, p, user, **f)
    return render(request, "search.html", data)


@router.get("/narratives")
def narratives(
    request: Request, ws: WS, user: Staff, p: PagingDep, sort: str = "posts"
) -> Response:
    return render(request, "narratives.html", views.narrative_list(request, ws, p, sort=sort))


@router.get("/narratives/{narrative_id}")
def narrative(
    request: Request, narrative_id: int, ws: WS, user: Staff, run_id: int | None = None
) -> Response:
    return render(request, "narrative.html", views.narrative_detail(ws, narrative_id, run_id))


@router.get("/claims")
def claims(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    claim_id: str | None = None,
    method: str | None = None,
) -> Response:
    data = views.claim_list(request, ws, p, claim_id=claim_id or None, method=method or None)
    return render(request, "claims.html", data)


@router.get("/sharing")
def sharing(request: Request, ws: WS, user: CurrentUser, p: PagingDep) -> Response:
    return render(request, "sharing.html", views.sharing(request, ws, p, user))


# -- administration ----------------------------------------------------------------------


@router.get("/admin/users")
def users(request: Request, ws: WS, user: Admin, p: PagingDep) -> Response:
    return render(request, "users.html", views.users_page(request, ws, p))


@router.post("/admin/users")
def add_user(
    ws: WS,
    user: Admin,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1024)],
    partner_group: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    _users.add_user(
        ws,
        username,
        role=role,
        password=password,
        partner_group=partner_group or None,
        actor=user.username,
    )
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/{action}")
def change_user(username: str, action: str, ws: WS, user: Admin) -> Response:
    if action not in ("disable", "enable"):
        raise _users.NotFound(f"No action {action!r}: use disable or enable.")
    _users.set_disabled(ws, username, action == "disable", actor=user.username)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit")
def audit(
    request: Request,
    ws: WS,
    user: Admin,
    p: PagingDep,
    actor: str | None = None,
    action: str | None = None,
) -> Response:
    data = views.audit_page(request, ws, p, actor=actor or None, action=action or None)
    return render(request, "audit.html", data)


@router.get("/admin/privacy")
def privacy(request: Request, ws: WS, user: Admin) -> Response:
    return render(request, "privacy.html", _privacy.policy(ws))


@router.post("/admin/privacy/{action}")
def privacy_action(
    request: Request,
    action: str,
    ws: WS,
    user: Admin,
    days: Annotated[str, Form(max_length=10)] = "",
    account_id: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    if action == "retention":
        if days.strip() and not days.strip().isdigit():
            raise InvalidParams(f"Retention is a number of days, not {days!r}.")
        _privacy.set_retention(ws, int(days) if days.strip() else None, actor=user.username)
    elif action == "purge":
        _privacy.purge_expired(ws, actor=user.username)
    elif action == "erase":
        removed = _privacy.erase_account(ws, account_id, actor=user.username)
        data = _privacy.policy(ws) | {"erased": {"account_id": account_id, "removed": removed}}
        return render(request, "privacy.html", data, twin=False)
    else:
        raise _users.NotFound(f"No action {action!r}.")
    return RedirectResponse("/admin/privacy", status_code=303)


@router.get("/me/tokens")
def tokens(request: Request, ws: WS, user: CurrentUser) -> Response:
    return render(request, "tokens.html", views.my_tokens(ws, user) | {"new_token": None})


@router.post("/me/tokens")
def create_token(
    request: Request,
    ws: WS,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=200)] = "",
    expires_days: Annotated[int | None, Form(ge=1, le=3650)] = None,
) -> Response:
    token, _ = _users.create_token(
        ws, user.username, name=name, expires_days=expires_days, actor=user.username
    )
    # Shown once, on this answer only (never stored, never in a URL).
    data = views.my_tokens(ws, user) | {"new_token": token}
    return render(request, "tokens.html", data, twin=False)


@router.post("/me/tokens/{token_id}/revoke")
def revoke_token(token_id: int, ws: WS, user: CurrentUser) -> Response:
    views.own_token(ws, user, token_id)
    _users.revoke_token(ws, token_id, actor=user.username)
    return RedirectResponse("/me/tokens", status_code=303)


@router.get("/api/docs")
def api_docs(request: Request, user: CurrentUser) -> Response:
    """The API reference, rendered here from the OpenAPI document (no CDN scripts)."""
    spec = request.app.openapi()
    ops = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "params": [
                (q["name"], q.get("in", ""), (q.get("description") or ""))
                for q in op.get("parameters", [])
            ],
            "tag": (op.get("tags") or ["other"])[0],
        }
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    data = {"info": spec["info"], "operations": ops}
    return render(request, "api_docs.html", data, twin=False)
