"""What every route shares: the workspace of the request, pagination and list pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import duckdb
from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from ..api import Workspace
from .audit import AuditWriter

MAX_LIMIT = 500


class RequestWorkspace(Workspace):
    """The app's workspace seen through a cursor of its own: DuckDB connections are not
    shared between threads, and FastAPI runs each request in a worker thread. Audit
    entries written outside a transaction go through the app's ``AuditWriter`` (group
    commit) when it has one. The cursor's time zone is UTC: ``utc_cursors`` made it
    the default of the app's database (a cursor starts from the defaults, not from
    its connection's settings), which spares each request a statement."""

    def __init__(self, base: Workspace, audit: AuditWriter | None = None) -> None:
        # no super().__init__: nothing to open
        self.path = base.path
        self.con = base.con.cursor()
        self._writer = audit
        self._transactions = 0

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self._transactions += 1
        try:
            with super().transaction() as con:
                yield con
        finally:
            self._transactions -= 1

    def audit(self, action: str, detail: dict[str, Any], actor: str | None = None) -> None:
        if self._writer is None or self._transactions or actor is None:
            super().audit(action, detail, actor)  # atomic with the change it records
        else:
            self._writer.write(action, detail, actor)


@contextmanager
def audited(ws: Workspace, action: str, detail: dict[str, Any], actor: str) -> Iterator[None]:
    """Record a view while the block builds its answer: the app's audit writer commits
    the entry meanwhile, and leaving the block waits for that commit, so an answered
    request is still always in the log but no longer waits for the commit after its
    own reads (a view waited ~50 ms for it at 20 clients). Without a writer, or
    inside a transaction, the entry is written at once."""
    writer = ws._writer if isinstance(ws, RequestWorkspace) and not ws._transactions else None
    if writer is None:
        ws.audit(action, detail, actor)
        yield
        return
    entry = writer.submit(action, detail, actor)
    try:
        yield
    finally:
        # A failed look-up (404) is answered too: it also waits for its entry, or the
        # answer could leave before the entry is in the log. A failed commit then
        # replaces the block's error (chained to it).
        entry.wait()


def utc_cursors(ws: Workspace) -> Workspace:
    """``ws`` with UTC as the time zone of every cursor made from it (``SET GLOBAL``:
    the database's default, for this process)."""
    ws.con.execute("SET GLOBAL TimeZone = 'UTC'")
    return ws


# async: making and closing a cursor runs no statement, so no hop to a worker thread
# (FastAPI runs sync dependencies there, two hops a request for one with yield).
async def get_ws(request: Request) -> AsyncIterator[Workspace]:
    ws = RequestWorkspace(request.app.state.workspace, getattr(request.app.state, "audit", None))
    try:
        yield ws
    finally:
        ws.close()


WS = Annotated[Workspace, Depends(get_ws)]


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(  # async: nothing to wait for, so no hop to a worker thread
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]


class Page(BaseModel):
    """One page of a list: ``items``, how many match in all, and the next page's URL."""

    items: list[dict[str, Any]]
    total: int = Field(description="Items matching the filters, on every page.")
    limit: int
    offset: int
    next: str | None = Field(description="URL of the next page; null on the last one.")
    prev: str | None = Field(description="URL of the previous page; null on the first one.")


class ErrorBody(BaseModel):
    """The one error shape of the API (and of every failing JSON request)."""

    ok: bool = False
    status: int
    type: str = Field(description="The CivicSentry error class, or HTTPError.")
    error: str = Field(description="What went wrong and what to do about it.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Invalid parameters"),
        (401, "Not logged in, or the token is invalid, revoked or expired"),
        (403, "The role or partner group does not allow it (or a missing CSRF token)"),
        (404, "Not found, or not visible to you"),
    )
}


def page(request: Request, items: list[dict[str, Any]], total: int, p: Paging) -> dict[str, Any]:
    """A ``Page`` of ``items`` with next/prev links that keep the request's filters."""

    def link(offset: int) -> str:
        q = dict(request.query_params) | {"offset": str(offset), "limit": str(p.limit)}
        return f"{request.url.path}?{urlencode(q)}"

    return {
        "items": items,
        "total": total,
        "limit": p.limit,
        "offset": p.offset,
        "next": link(p.offset + p.limit) if p.offset + p.limit < total else None,
        "prev": link(max(0, p.offset - p.limit)) if p.offset > 0 else None,
    }


def window(rows: list[dict[str, Any]], p: Paging) -> list[dict[str, Any]]:
    """One page of a list the service returns whole (clusters, members: small lists)."""
    return rows[p.offset : p.offset + p.limit]
