"""Data protection (admins): retention policy, purge, export and erasure of one account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...service import privacy as _privacy
from ..auth import Admin
from ..deps import WS

router = APIRouter(tags=["privacy"])


@router.get("/privacy", summary="The retention policy and what it would purge now")
def policy(ws: WS, user: Admin) -> dict[str, Any]:
    return _privacy.policy(ws)


class Retention(BaseModel):
    days: int | None = Field(ge=1, description="Days raw post content is kept; null: no limit.")


@router.put("/privacy/retention", summary="Set the retention period")
def set_retention(body: Retention, ws: WS, user: Admin) -> dict[str, Any]:
    return _privacy.set_retention(ws, body.days, actor=user.username)


@router.post("/privacy/purge", summary="Redact the content of posts past the retention period")
def purge(ws: WS, user: Admin) -> dict[str, Any]:
    return _privacy.purge_expired(ws, actor=user.username)


@router.get("/privacy/accounts/{account_id:path}", summary="Everything held about one account")
def export_account(account_id: str, ws: WS, user: Admin) -> dict[str, Any]:
    return _privacy.account_data(ws, account_id, actor=user.username)


@router.delete("/privacy/accounts/{account_id:path}", summary="Erase one account's data")
def erase_account(account_id: str, ws: WS, user: Admin) -> dict[str, Any]:
    """Posts, actions, profile, signals, memberships, edges, pseudonym mapping; the audit
    log keeps a SHA-256 of the id."""
    return {
        "account_id": account_id,
        "removed": _privacy.erase_account(ws, account_id, actor=user.username),
    }
