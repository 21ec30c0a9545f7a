"""Alerts: the queue, one alert with its history, triage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from .. import views
from ..auth import CurrentUser, Staff
from ..deps import WS, PagingDep, audited

router = APIRouter(tags=["alerts"])


@router.get("/alerts", summary="The alert queue")
def list_alerts(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    status: Annotated[
        list[str] | None, Query(description="new, triaged, escalated, dismissed, closed")
    ] = None,
    severity: Annotated[list[str] | None, Query(description="low, medium, high, critical")] = None,
    rule: Annotated[str | None, Query(description="Rule id.")] = None,
) -> dict[str, Any]:
    """Alerts, most recently raised first, filtered by status, severity and rule
    (repeat a parameter for several values)."""
    return views.alert_list(request, ws, p, status=status, severity=severity, rule=rule)


@router.get("/alerts/{alert_id}", summary="One alert with its evidence and history")
def get_alert(alert_id: int, ws: WS, user: CurrentUser) -> dict[str, Any]:
    """Partners see an alert only when it was shared with their group (below TLP:RED)."""
    with audited(ws, "view.alert", {"alert_id": alert_id}, user.username):
        data = views.alert_detail(ws, alert_id, user)
    return data


class Triage(BaseModel):
    status: str = Field(description="The new status (see the alert's `transitions`).")
    note: str | None = Field(default=None, max_length=4000, description="Why.")


@router.post("/alerts/{alert_id}/triage", summary="Move an alert along its lifecycle")
def triage(alert_id: int, body: Triage, ws: WS, user: Staff) -> dict[str, Any]:
    """Records who, when and why in the alert's history and the audit log."""
    return views.triage(ws, alert_id, user, body.status, body.note)
