"""Users, API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ...service import users as _users
from .. import views
from ..auth import Admin, CurrentUser
from ..deps import WS, PagingDep, page, window

router = APIRouter()


@router.get("/users", tags=["users"], summary="Users (admins)")
def list_users(
    request: Request,
    ws: WS,
    user: Admin,
    p: PagingDep,
    role: Annotated[str | None, Query(description="admin, analyst or partner")] = None,
) -> dict[str, Any]:
    items = _users.list_users(ws, role=role, limit=p.limit, offset=p.offset)
    return page(request, items, _users.count_users(ws, role=role), p)


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    role: str = Field(description="admin, analyst or partner")
    password: str = Field(min_length=_users.MIN_PASSWORD, max_length=1024)
    partner_group: str | None = Field(default=None, description="Partners only.")


@router.post("/users", tags=["users"], summary="Create a user (admins)", status_code=201)
def add_user(body: NewUser, ws: WS, user: Admin) -> dict[str, Any]:
    return _users.add_user(
        ws,
        body.username,
        role=body.role,
        password=body.password,
        partner_group=body.partner_group,
        actor=user.username,
    )


class UserChange(BaseModel):
    disabled: bool


@router.patch("/users/{username}", tags=["users"], summary="Disable or enable a user (admins)")
def change_user(username: str, body: UserChange, ws: WS, user: Admin) -> dict[str, Any]:
    return _users.set_disabled(ws, username, body.disabled, actor=user.username)


@router.get("/tokens", tags=["users"], summary="Your API tokens (admins: everyone's)")
def list_tokens(request: Request, ws: WS, user: CurrentUser, p: PagingDep) -> dict[str, Any]:
    rows = _users.list_tokens(ws, username=None if user.role == "admin" else user.username)
    return page(request, window(rows, p), len(rows), p)


class NewToken(BaseModel):
    name: str = Field(default="", max_length=200)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


@router.post("/tokens", tags=["users"], summary="Create an API token for yourself", status_code=201)
def create_token(body: NewToken, ws: WS, user: CurrentUser) -> dict[str, Any]:
    """The token is in the answer once; only its hash is stored."""
    token, row = _users.create_token(
        ws, user.username, name=body.name, expires_days=body.expires_days, actor=user.username
    )
    return row | {"token": token}


@router.delete("/tokens/{token_id}", tags=["users"], summary="Revoke a token")
def revoke_token(token_id: int, ws: WS, user: CurrentUser) -> dict[str, Any]:
    views.own_token(ws, user, token_id)
    return _users.revoke_token(ws, token_id, actor=user.username)


@router.get("/audit", tags=["audit"], summary="The audit log (admins)")
def audit(
    request: Request,
    ws: WS,
    user: Admin,
    p: PagingDep,
    actor: Annotated[str | None, Query(description="Who.")] = None,
    action: Annotated[str | None, Query(description="Action prefix, e.g. `export`.")] = None,
    since: Annotated[datetime | None, Query(description="At or after (ISO 8601).")] = None,
) -> dict[str, Any]:
    """Who viewed, changed, exported or shared what, newest first."""
    return views.audit_page(request, ws, p, actor=actor, action=action, since=since)
