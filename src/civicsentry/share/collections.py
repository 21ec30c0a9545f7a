"""Partners, their rights and tokens, and the TAXII collections' contents.

A collection holds every version of every object added to it; ``date_added`` is strictly
increasing with microsecond precision so that ``added_after`` paging never skips or
repeats (ties break it), and ``seq`` is the paging cursor. TLP:RED is never stored; each
partner only ever receives objects at or below its clearance.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import InvalidParams
from ..store import Workspace
from . import tlp

MEDIA_TYPE_STIX = "application/stix+json;version=2.1"


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str | None
    community: str | None
    max_tlp: str


# -- partners and tokens ---------------------------------------------------------------


def hash_token(token: str) -> str:
    # Tokens are 32 random bytes: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "cst_" + secrets.token_urlsafe(32)


def partner(ws: Workspace, partner_id: str) -> Partner:
    row = ws.con.execute(
        "SELECT partner_id, name, community, max_tlp FROM partners WHERE partner_id = ?",
        [partner_id],
    ).fetchall()
    row = row[0] if row else None
    if row is None:
        raise InvalidParams(f"No partner {partner_id!r}; `civicsentry partners list` shows them.")
    return Partner(*row)


def partner_by_token(ws: Workspace, token: str) -> Partner | None:
    row = ws.con.execute(
        "SELECT partner_id, name, community, max_tlp FROM partners WHERE token_hash = ?",
        [hash_token(token)],
    ).fetchall()
    row = row[0] if row else None
    return Partner(*row) if row else None


def collection(ws: Workspace, ref: str) -> dict[str, Any]:
    """A collection by id or alias."""
    rel = ws.sql(
        "SELECT * FROM collections WHERE collection_id = ? OR alias = ?", params=[ref, ref]
    )
    rows = rel.fetchall()
    if not rows:
        raise InvalidParams(
            f"No collection {ref!r}; create it with `civicsentry share collections add`."
        )
    return dict(zip(rel.columns, rows[0], strict=True))


def add_collection(
    ws: Workspace, alias: str, title: str, *, description: str | None, community: str | None
) -> dict[str, Any]:
    if ws.scalar("SELECT count(*) FROM collections WHERE alias = ?", [alias]):
        raise InvalidParams(f"Collection {alias!r} exists already.")
    cid = str(uuid.uuid4())
    ws.con.execute(
        "INSERT INTO collections VALUES (?, ?, ?, ?, ?, now())",
        [cid, alias, title, description, community],
    )
    return collection(ws, cid)


def grant(ws: Workspace, partner_id: str, collection_ref: str, *, read: bool, write: bool) -> None:
    partner(ws, partner_id)
    cid = collection(ws, collection_ref)["collection_id"]
    ws.con.execute(
        "DELETE FROM collection_access WHERE partner_id = ? AND collection_id = ?",
        [partner_id, cid],
    )
    if read or write:
        ws.con.execute(
            "INSERT INTO collection_access VALUES (?, ?, ?, ?)", [partner_id, cid, read, write]
        )


def rights(ws: Workspace, partner_id: str) -> dict[str, tuple[bool, bool]]:
    """collection id -> (can_read, can_write) for a partner."""
    return {
        cid: (bool(r), bool(w))
        for cid, r, w in ws.con.execute(
            "SELECT collection_id, can_read, can_write FROM collection_access WHERE partner_id = ?",
            [partner_id],
        ).fetchall()
    }


# -- contents --------------------------------------------------------------------------


def version_of(obj: dict[str, Any]) -> str | None:
    return obj.get("modified") or obj.get("created")


def add_objects(
    ws: Workspace, collection_id: str, objects: Iterable[tuple[dict[str, Any], str]], source: str
) -> list[dict[str, Any]]:
    """Add (object, tlp) pairs; a version already present is skipped, as is an observable
    already present (observables have no version: they are immutable). Returns what was
    added: id, version, date_added."""
    added = []
    last = ws.scalar("SELECT max(date_added) FROM collection_objects")
    seq = int(ws.scalar("SELECT coalesce(max(seq), 0) FROM collection_objects") or 0)
    at = datetime.now(UTC)
    for obj, level in objects:
        if level == "red":
            raise InvalidParams("TLP:RED never enters a collection.")
        version = version_of(obj)
        exists = ws.scalar(
            "SELECT count(*) FROM collection_objects WHERE collection_id = ? AND object_id = ? "
            + ("AND version = ?" if version else ""),
            [collection_id, obj["id"], *([version] if version else [])],
        )
        if exists:
            continue
        at = max(at, last + timedelta(microseconds=1)) if last else at
        last, seq = at, seq + 1
        v = version or _ts(at)
        ws.con.execute(
            "INSERT INTO collection_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                collection_id,
                seq,
                obj["id"],
                obj["type"],
                v,
                obj.get("spec_version", "2.1"),
                at,
                level,
                source,
                json.dumps(obj, sort_keys=True),
            ],
        )
        added.append({"id": obj["id"], "version": v, "date_added": _ts(at)})
    return added


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    try:
        v = value.strip().replace("Z", "+00:00")
        t = datetime.fromisoformat(v)
    except ValueError:
        raise InvalidParams(f"Not a timestamp: {value!r}.") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Query:
    """The filters of a TAXII objects/manifest/versions request."""

    added_after: datetime | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()
    after_seq: int = 0
    limit: int = 100


def select(
    ws: Workspace, collection_id: str, clearance: str, q: Query
) -> tuple[list[dict[str, Any]], bool]:
    """Rows (seq, id, type, version, date_added, spec_version, object) matching ``q``,
    in date_added order, at most ``q.limit``; and whether more remain."""
    allowed = [lv for lv in tlp.LEVELS if tlp.allows(clearance, lv)]
    where = ["collection_id = ?", "tlp IN (SELECT unnest(?::VARCHAR[]))", "tlp <> 'red'"]
    params: list[Any] = [collection_id, allowed]
    if q.added_after:
        where.append("date_added > ?")
        params.append(q.added_after)
    if q.ids:
        where.append("object_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(q.ids))
    if q.types:
        where.append("object_type IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(q.types))
    if q.spec_versions:
        where.append("spec_version IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(q.spec_versions))
    version_filter = _version_filter(q.versions)
    sql = f"""WITH c AS (
                SELECT *,
                  row_number() OVER (PARTITION BY object_id ORDER BY CAST(version AS TIMESTAMPTZ) DESC, seq DESC) AS newest,
                  row_number() OVER (PARTITION BY object_id ORDER BY CAST(version AS TIMESTAMPTZ), seq) AS oldest
                FROM collection_objects WHERE {" AND ".join(where)})
              SELECT seq, object_id, object_type, version, date_added, spec_version, object
              FROM c WHERE seq > ? AND ({version_filter[0]})
              ORDER BY date_added, seq LIMIT ?"""
    rel = ws.sql(sql, params=[*params, q.after_seq, *version_filter[1], q.limit + 1])
    rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    return rows[: q.limit], len(rows) > q.limit


def _version_filter(versions: tuple[str, ...]) -> tuple[str, list[Any]]:
    parts, params = [], []
    for v in versions or ("last",):
        if v == "all":
            return "true", []
        if v == "last":
            parts.append("newest = 1")
        elif v == "first":
            parts.append("oldest = 1")
        else:  # a timestamp, however the client formats it
            parts.append("CAST(version AS TIMESTAMPTZ) = ?")
            params.append(parse_ts(v))
    return " OR ".join(parts), params
