"""Overview, post search, accounts, narratives, claims, sharing, reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...service import explore as _explore
from .. import exports, views
from ..auth import CurrentUser, Staff
from ..deps import WS, PagingDep

router = APIRouter()
MAX_EXPORT = 100_000


@router.get("/me", tags=["users"], summary="Who you are")
def me(user: CurrentUser) -> dict[str, Any]:
    return user.as_dict()


@router.get("/overview", tags=["explore"], summary="The overview page's data")
def overview(ws: WS, user: Staff) -> dict[str, Any]:
    """Workspace counts, posts per platform over time, open alerts, top clusters."""
    return views.overview(ws)


Q = Annotated[str | None, Query(max_length=500, description="Substring of the text (any case).")]
Account = Annotated[str | None, Query(description="Author's account id.")]
Platform = Annotated[str | None, Query(description="Platform code (x, telegram, ...).")]
Since = Annotated[datetime | None, Query(description="Posted at or after (ISO 8601).")]
Until = Annotated[datetime | None, Query(description="Posted before (ISO 8601).")]


@router.get("/posts", tags=["explore"], summary="Search posts")
def posts(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    q: Q = None,
    account_id: Account = None,
    platform: Platform = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Posts matching every filter, newest first."""
    f = {"q": q, "account_id": account_id, "platform": platform, "since": since, "until": until}
    return views.search(request, ws, p, user, **f)


@router.get(
    "/posts.{fmt}",
    tags=["explore"],
    summary="Search results as CSV or XLSX (formulas neutralised)",
    response_class=Response,
)
def posts_export(
    fmt: str,
    ws: WS,
    user: Staff,
    q: Q = None,
    account_id: Account = None,
    platform: Platform = None,
    since: Since = None,
    until: Until = None,
) -> Response:
    f = {"q": q, "account_id": account_id, "platform": platform, "since": since, "until": until}
    rows = _explore.search_posts(ws, **f, limit=MAX_EXPORT)
    return exports.posts(rows, fmt, ws, user.username, {k: v for k, v in f.items() if v})


@router.get("/accounts", tags=["accounts"], summary="Accounts by their signals")
def accounts(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    min_score: Annotated[float | None, Query(ge=0, le=1, description="Lowest score.")] = None,
    platform: Platform = None,
    foreign_only: Annotated[bool, Query(description="Foreign work-day schedule only.")] = False,
) -> dict[str, Any]:
    """Accounts of the latest signals run, highest score first, with the signals that
    made each score."""
    return views.account_list(
        request, ws, p, min_score=min_score, platform=platform, foreign_only=foreign_only
    )


@router.get("/accounts/{account_id:path}", tags=["accounts"], summary="One account")
def account(request: Request, account_id: str, ws: WS, user: Staff, p: PagingDep) -> dict[str, Any]:
    """Profile, activity, hour × weekday rhythm (UTC), clusters, signals with their
    explanations (when computed) and one page of posts."""
    return views.account_detail(request, ws, account_id, p, user)


@router.get("/narratives", tags=["narratives"], summary="Narratives")
def narratives(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    sort: Annotated[str, Query(pattern="^(posts|growth|coordinated)$")] = "posts",
) -> dict[str, Any]:
    """Narratives of the latest run: biggest, fastest-growing or most coordinated first."""
    return views.narrative_list(request, ws, p, sort=sort)


@router.get("/narratives/{narrative_id}", tags=["narratives"], summary="One narrative")
def narrative(
    narrative_id: int,
    ws: WS,
    user: Staff,
    run_id: Annotated[int | None, Query(description="Narratives run.")] = None,
) -> dict[str, Any]:
    return views.narrative_detail(ws, narrative_id, run_id)


@router.get("/claims", tags=["narratives"], summary="Posts matched to fact-checked claims")
def claims(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    claim_id: Annotated[str | None, Query(description="One claim.")] = None,
    method: Annotated[str | None, Query(description="Match method.")] = None,
) -> dict[str, Any]:
    """Matches of the latest matching run, best first, with the post and the claim."""
    return views.claim_list(request, ws, p, claim_id=claim_id, method=method)


@router.get("/sharing", tags=["sharing"], summary="What was shared with whom, under which TLP")
def sharing(request: Request, ws: WS, user: CurrentUser, p: PagingDep) -> dict[str, Any]:
    """Partners see only what was shared with their group, never TLP:RED."""
    return views.sharing(request, ws, p, user)


class ShareRequest(BaseModel):
    kind: str = Field(description="cluster or alert")
    id: int = Field(description="Cluster id or alert id.")
    run_id: int | None = Field(default=None, description="Detection run of a cluster.")
    collection: str = Field(description="Alias of the partner collection.")
    tlp: str = Field(default="amber", description="clear, green, amber or amber+strict.")


@router.post("/shares", tags=["sharing"], summary="Share a cluster or alert with partners")
def create_share(body: ShareRequest, ws: WS, user: Staff) -> dict[str, Any]:
    """Publishes STIX 2.1 (pseudonymised, TLP-marked) to a partner collection served over
    TAXII; recorded in the share log and the audit log. TLP:RED is refused."""
    return views.share(
        ws,
        user,
        kind=body.kind,
        object_id=body.id,
        run_id=body.run_id,
        collection=body.collection,
        tlp=body.tlp,
    )


@router.get(
    "/reports/{kind}/{object_id}",
    tags=["reports"],
    summary="A self-contained incident report (HTML, or PDF with format=pdf)",
    response_class=Response,
)
def report(
    kind: str,
    object_id: int,
    ws: WS,
    user: Staff,
    run_id: Annotated[int | None, Query(description="Detection run (clusters).")] = None,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
) -> Response:
    return views.report_response(ws, kind, object_id, run_id, format, user)
