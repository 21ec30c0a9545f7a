"""The REST API: every dashboard page's JSON twin, plus exports and administration.
Every list is paginated (``limit``, ``offset``) and filterable; every error has the
shape ``deps.ErrorBody``."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import ERROR_RESPONSES
from . import admin, alerts, clusters, explore, privacy

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
for module in (explore, alerts, clusters, admin, privacy):
    router.include_router(module.router)

__all__ = ["router"]
