"""What was shared with whom, under which TLP: the read side of the sharing stage's
share log (``shares``, ``shared_objects``, ``collections``, ``collection_access``,
``share_case_items``), for the sharing view and for deciding what a partner user sees.

A dashboard user with the role ``partner`` has a ``partner_group``: the ``partner_id``
of a partner organisation (``civicsentry partners add``). Such a user sees a share when
it went to that partner, or into a collection the partner may read, and only below
TLP:RED (RED never leaves the workspace). A cluster or alert is visible to them when a
visible share carried it (directly, or inside a case). Everything else is answered as
"not found", so a partner cannot learn that it exists.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import NotFound
from ..store import Workspace
from .explore import has_rows

SHARE_COLUMNS = (
    "share_id, created_at, channel, format, scope, subject, tlp, community, recipient, "
    "objects, include_text, actor"
)
_SUBJECT = {
    "cluster": re.compile(r"^cluster (\d+)(?: of run (\d+))?$"),
    "alert": re.compile(r"^alert (\d+)$"),
}


def collections(ws: Workspace) -> list[dict[str, Any]]:
    """Alias, title and community of the partner collections one can publish to (the
    share buttons; ``share.list_collections`` also counts objects and reads access)."""
    return ws.dicts("SELECT alias, title, community FROM collections ORDER BY alias")


def available(ws: Workspace) -> bool:
    """True once the sharing stage has logged a share."""
    return has_rows(ws, "shares")


def _visible(ws: Workspace, group: str | None) -> tuple[str, list[Any]]:
    """WHERE clause of the shares ``group`` may see (all, for staff: ``group`` None)."""
    if group is None:
        return "", []
    readable = ""
    if has_rows(ws, "collection_access"):
        readable = (
            " OR recipient IN (SELECT c.alias FROM collections c JOIN collection_access a "
            "USING (collection_id) WHERE a.partner_id = ? AND a.can_read) "
            "OR recipient IN (SELECT collection_id FROM collection_access "
            "WHERE partner_id = ? AND can_read)"
        )
    where = f"WHERE lower(coalesce(tlp, 'red')) <> 'red' AND (recipient = ?{readable})"
    return where, [group] + ([group, group] if readable else [])


def shared(
    ws: Workspace, *, group: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """The share log, newest first; for a partner ``group`` only what they may see."""
    if not available(ws):
        return []
    where, params = _visible(ws, group)
    readers = "NULL"
    if group is None and has_rows(ws, "collection_access"):  # partners do not see each other
        readers = (
            "(SELECT list(a.partner_id ORDER BY a.partner_id) FROM collection_access a "
            "JOIN collections c USING (collection_id) WHERE shares.channel = 'collection' "
            "AND c.alias = shares.recipient AND a.can_read)"
        )
    rel = ws.sql(
        f"SELECT {SHARE_COLUMNS}, {readers} AS readers FROM shares {where} "
        f"ORDER BY created_at DESC, share_id DESC LIMIT {int(limit)} OFFSET {int(offset)}",
        params=params,
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def count_shared(ws: Workspace, *, group: str | None = None) -> int:
    if not available(ws):
        return 0
    where, params = _visible(ws, group)
    return int(ws.scalar(f"SELECT count(*) FROM shares {where}", params))


def shared_refs(ws: Workspace, group: str) -> set[tuple[str, int, int | None]]:
    """(kind, id, detection run or None) of every cluster and alert a visible share
    carried."""
    if not available(ws):
        return set()
    where, params = _visible(ws, group)
    refs: set[tuple[str, int, int | None]] = set()
    cases: list[str] = []
    for scope, subject in ws.con.execute(
        f"SELECT scope, subject FROM shares {where}", params
    ).fetchall():
        if scope == "case" and subject:
            cases.append(subject.removeprefix("case "))  # subject: `case <case_id>`
            continue
        pattern = _SUBJECT.get(scope or "")
        m = pattern.match(subject or "") if pattern else None
        if m:
            run = m.group(2) if m.re.groups > 1 else None
            refs.add((scope, int(m.group(1)), int(run) if run else None))
    if cases and has_rows(ws, "share_case_items"):
        rows = ws.con.execute(
            f"SELECT kind, ref_id, run_id FROM share_case_items WHERE case_id IN "
            f"({', '.join('?' for _ in cases)})",
            cases,
        ).fetchall()
        refs |= {(k, int(r), None if run is None else int(run)) for k, r, run in rows}
    return refs


def check_partner_access(
    ws: Workspace, group: str | None, kind: str, object_id: Any, run_id: int | None = None
) -> None:
    """NotFound unless the ``kind`` object (an alert, or a cluster of detection run
    ``run_id``) was shared with ``group`` below TLP:RED."""
    if group is not None:
        for k, ref, run in shared_refs(ws, group):
            if k == kind and ref == int(object_id) and (run is None or run == run_id):
                return
    raise NotFound(f"No {kind} {object_id} shared with you.")
