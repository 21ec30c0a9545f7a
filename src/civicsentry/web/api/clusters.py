"""Clusters: the list, one cluster, its members, network, delays and posts, exports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...service import explore
from .. import exports, views
from ..auth import CurrentUser, Staff
from ..deps import WS, PagingDep, page

router = APIRouter(tags=["clusters"])
RunQ = Annotated[int | None, Query(description="Detection run id (default: the latest).")]


@router.get("/clusters", summary="Clusters, most suspicious first")
def list_clusters(
    request: Request,
    ws: WS,
    user: Staff,
    p: PagingDep,
    run_id: RunQ = None,
    min_size: Annotated[int, Query(ge=0, description="Smallest size.")] = 0,
    min_suspicion: Annotated[float, Query(ge=0, le=1, description="Lowest suspicion.")] = 0.0,
    modality: Annotated[str | None, Query(description="Has this object type.")] = None,
) -> dict[str, Any]:
    return views.cluster_list(
        request,
        ws,
        p,
        run_id=run_id,
        min_size=min_size,
        min_suspicion=min_suspicion,
        modality=modality,
    )


@router.get("/clusters/{cluster_id}", summary="One cluster, its methods and members")
def get_cluster(
    request: Request, cluster_id: int, ws: WS, user: CurrentUser, p: PagingDep, run_id: RunQ = None
) -> dict[str, Any]:
    """Statistics, explained suspicion, top objects, timeline, the runs that made it and
    one page of members. Partners see it only when it was shared with their group."""
    return views.cluster_detail(request, ws, cluster_id, run_id, p, user)


@router.get("/clusters/{cluster_id}/members", summary="Members of a cluster")
def members(
    request: Request, cluster_id: int, ws: WS, user: CurrentUser, p: PagingDep, run_id: RunQ = None
) -> dict[str, Any]:
    return views.cluster_detail(request, ws, cluster_id, run_id, p, user)["members"]


@router.get("/clusters/{cluster_id}/network", summary="A cluster's network, for drawing")
def network(
    cluster_id: int,
    ws: WS,
    user: CurrentUser,
    run_id: RunQ = None,
    max_edges: Annotated[int, Query(ge=1, le=100_000, description="Heaviest edges kept.")] = (
        explore.MAX_NETWORK_EDGES
    ),
) -> dict[str, Any]:
    """Members as nodes and the heaviest internal edges (``edges_capped`` says when
    some were left out)."""
    views.cluster_access(ws, cluster_id, run_id, user)
    return explore.cluster_network(ws, cluster_id, run_id, max_edges=max_edges)


@router.get("/clusters/{cluster_id}/delays", summary="Histogram of a cluster's delays")
def delays(cluster_id: int, ws: WS, user: CurrentUser, run_id: RunQ = None) -> dict[str, Any]:
    views.cluster_access(ws, cluster_id, run_id, user)
    return explore.cluster_delays(ws, cluster_id, run_id)


@router.get("/clusters/{cluster_id}/posts", summary="Posts by members while it was active")
def posts(
    request: Request, cluster_id: int, ws: WS, user: Staff, p: PagingDep, run_id: RunQ = None
) -> dict[str, Any]:
    items = explore.cluster_posts(ws, cluster_id, run_id, limit=p.limit + 1, offset=p.offset)
    total = p.offset + len(items)  # a lower bound past this page: posts are many
    return page(request, items[: p.limit], total, p)


@router.get(
    "/clusters/{cluster_id}/members.{fmt}",
    summary="Members as CSV or XLSX (formulas neutralised)",
    response_class=Response,
)
def export_members(cluster_id: int, fmt: str, ws: WS, user: Staff, run_id: RunQ = None) -> Response:
    return exports.members(ws, cluster_id, run_id, fmt, user.username)
