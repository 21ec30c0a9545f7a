"""The TAXII 2.1 server: discovery at ``/taxii2/``, one API root (``/taxii2/api/``), one
collection per partner group, served from the workspace's ``collection_objects``.

Every request needs a partner's API token (``Authorization: Bearer <token>``, ``Token
<token>`` as taxii2-client's TokenAuth sends it, or HTTP Basic with the partner id and the
token). A partner sees the collections it may read or write, reads only objects at or
below its TLP clearance (TLP:RED is never stored nor served), and adds objects only where
it may write. Every response, errors included, is ``application/taxii+json;version=2.1``.
Pulls are recorded as shares (what went to whom) and in the audit log.

``taxii_router(path)`` is included by the dashboard's app; ``create_taxii_app(path)``
serves it alone (``civicsentry share serve``). Each request opens the workspace for its
own duration, so the CLI can work on it between requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from ..errors import CivicSentryError
from ..store import Workspace
from . import collections as colls
from . import records, tlp
from .collections import Partner, Query

MEDIA_TYPE = "application/taxii+json;version=2.1"
API_ROOT = "api"
MAX_CONTENT_LENGTH = 10 * 1024 * 1024
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


class TaxiiError(Exception):
    def __init__(self, status: int, title: str, description: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.description = status, title, description


def _respond(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _error(e: TaxiiError) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="taxii", Bearer'} if e.status == 401 else None
    body = {"title": e.title, "http_status": str(e.status)}
    if e.description:
        body["description"] = e.description
    return _respond(body, e.status, headers)


def _token(request: Request) -> tuple[str | None, str]:
    """(Basic user name or None, token)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme in ("bearer", "token") and value.strip():
        return None, value.strip()
    if scheme == "basic":
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise TaxiiError(401, "Unauthorized", "Malformed Basic credentials.") from None
        return user, password
    raise TaxiiError(401, "Unauthorized", "Send a partner API token.")


def _check_accept(request: Request) -> None:
    accept = request.headers.get("accept", "")
    if accept and "*/*" not in accept and "application/taxii+json" not in accept:
        raise TaxiiError(406, "Not Acceptable", f"This server speaks {MEDIA_TYPE}.")
    if "application/taxii+json" in accept and "version=" in accept and "version=2.1" not in accept:
        raise TaxiiError(406, "Not Acceptable", f"This server speaks {MEDIA_TYPE}.")


def taxii_router(workspace_path: str | Path) -> APIRouter:
    """The TAXII 2.1 endpoints over the workspace at ``workspace_path``."""
    path = str(workspace_path)
    router = APIRouter()

    def handle(request: Request, fn: Callable[[Workspace, Partner], Response]) -> Response:
        try:
            _check_accept(request)
            user, token = _token(request)
            try:
                ws = Workspace(path)
            except CivicSentryError as e:
                raise TaxiiError(503, "Service Unavailable", str(e)) from None
            try:
                partner = colls.partner_by_token(ws, token)
                if partner is None or (user and user != partner.partner_id):
                    raise TaxiiError(401, "Unauthorized", "Unknown or revoked token.")
                return fn(ws, partner)
            finally:
                ws.close()
        except TaxiiError as e:
            return _error(e)
        except CivicSentryError as e:
            return _error(TaxiiError(e.http_status, type(e).__name__, str(e)))

    def collection_for(
        ws: Workspace, partner: Partner, collection_id: str, need: str
    ) -> dict[str, Any]:
        rows = ws.sql(
            "SELECT * FROM collections WHERE collection_id = ?", params=[collection_id]
        ).fetchall()
        if not rows:
            raise TaxiiError(404, "Not Found", f"No collection {collection_id}.")
        can_read, can_write = colls.rights(ws, partner.partner_id).get(
            collection_id, (False, False)
        )
        if (need == "read" and not can_read) or (need == "write" and not can_write):
            raise TaxiiError(403, "Forbidden", f"No {need} access to collection {collection_id}.")
        return _collection_resource(ws, partner, collection_id)

    @router.get("/taxii2/")
    def discovery(request: Request) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            base = str(request.url).split("?")[0]
            name = records.setting(ws, "producer_name", "CivicSentry") or "CivicSentry"
            return _respond(
                {
                    "title": f"{name} TAXII 2.1 server",
                    "description": "Coordinated-inauthentic-behaviour findings, pseudonymised, "
                    "under TLP 2.0 markings.",
                    "default": f"{base}{API_ROOT}/",
                    "api_roots": [f"{base}{API_ROOT}/"],
                }
            )

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/")
    def api_root(request: Request) -> Response:
        return handle(
            request,
            lambda ws, p: _respond(
                {
                    "title": "CivicSentry sharing",
                    "description": "One collection per partner group.",
                    "versions": [MEDIA_TYPE],
                    "max_content_length": MAX_CONTENT_LENGTH,
                }
            ),
        )

    @router.get(f"/taxii2/{API_ROOT}/status/{{status_id}}/")
    def status(request: Request, status_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            rows = ws.con.execute(
                "SELECT status FROM taxii_status WHERE status_id = ? AND partner_id = ?",
                [status_id, partner.partner_id],
            ).fetchall()
            if not rows:
                raise TaxiiError(404, "Not Found", f"No status {status_id}.")
            return _respond(json.loads(rows[0][0]))

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/collections/")
    def list_collections(request: Request) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            ids = sorted(colls.rights(ws, partner.partner_id))
            found = [_collection_resource(ws, partner, cid) for cid in ids]
            return _respond({"collections": [c for c in found if c]} if found else {})

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/")
    def get_collection(request: Request, collection_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            c = collection_for(ws, partner, collection_id, "read")
            return _respond(c)

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/objects/")
    def get_objects(request: Request, collection_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            collection_for(ws, partner, collection_id, "read")
            q = _query(request, object_id=None)
            rows, more = colls.select(ws, collection_id, partner.max_tlp, q)
            _record_pull(ws, partner, collection_id, rows, q)
            body: dict[str, Any] = {"more": more}
            if more and rows:
                body["next"] = _cursor(rows[-1]["seq"])
            if rows:
                body["objects"] = [json.loads(r["object"]) for r in rows]
            return _respond(body, headers=_date_headers(rows))

        return handle(request, run)

    @router.post(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/objects/")
    async def add_objects(request: Request, collection_id: str) -> Response:
        raw = await request.body()

        def run(ws: Workspace, partner: Partner) -> Response:
            collection_for(ws, partner, collection_id, "write")
            ctype = request.headers.get("content-type", "")
            if not ctype.startswith("application/taxii+json") or (
                "version=" in ctype and "version=2.1" not in ctype
            ):
                raise TaxiiError(415, "Unsupported Media Type", f"Send {MEDIA_TYPE}.")
            if len(raw) > MAX_CONTENT_LENGTH:
                raise TaxiiError(413, "Payload Too Large", f"At most {MAX_CONTENT_LENGTH} bytes.")
            try:
                envelope = json.loads(raw)
                objects = envelope["objects"]
                assert isinstance(objects, list)
            except (ValueError, KeyError, TypeError, AssertionError):
                raise TaxiiError(
                    422, "Unprocessable Entity", 'Send an envelope {"objects": [...]}.'
                ) from None
            from .exchange import receive_objects

            status_body = receive_objects(ws, partner.partner_id, collection_id, objects)
            return _respond(status_body, 202)

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/")
    def get_object(request: Request, collection_id: str, object_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            collection_for(ws, partner, collection_id, "read")
            q = _query(request, object_id=object_id)
            rows, more = colls.select(ws, collection_id, partner.max_tlp, q)
            if not rows and not q.after_seq:
                raise TaxiiError(404, "Not Found", f"No object {object_id} here.")
            _record_pull(ws, partner, collection_id, rows, q)
            body: dict[str, Any] = {
                "more": more,
                "objects": [json.loads(r["object"]) for r in rows],
            }
            if more and rows:
                body["next"] = _cursor(rows[-1]["seq"])
            return _respond(body, headers=_date_headers(rows))

        return handle(request, run)

    @router.delete(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/")
    def delete_object(request: Request, collection_id: str, object_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            collection_for(ws, partner, collection_id, "read")
            collection_for(ws, partner, collection_id, "write")
            q = _query(request, object_id=object_id)
            rows, _ = colls.select(ws, collection_id, partner.max_tlp, replace(q, limit=MAX_LIMIT))
            if not rows:
                raise TaxiiError(404, "Not Found", f"No object {object_id} here.")
            with ws.transaction():
                ws.con.execute(
                    "DELETE FROM collection_objects WHERE collection_id = ? "
                    "AND seq IN (SELECT unnest(?::BIGINT[]))",
                    [collection_id, [r["seq"] for r in rows]],
                )
                ws.audit("taxii.delete", {"collection_id": collection_id, "object_id": object_id,
                                          "versions": len(rows)}, actor=f"partner:{partner.partner_id}")  # fmt: skip
            return _respond({})

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/")
    def versions(request: Request, collection_id: str, object_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            collection_for(ws, partner, collection_id, "read")
            q = _query(request, object_id=object_id, versions=("all",))
            rows, more = colls.select(ws, collection_id, partner.max_tlp, q)
            if not rows and not q.after_seq:
                raise TaxiiError(404, "Not Found", f"No object {object_id} here.")
            body: dict[str, Any] = {"more": more, "versions": [r["version"] for r in rows]}
            if more and rows:
                body["next"] = _cursor(rows[-1]["seq"])
            return _respond(body, headers=_date_headers(rows))

        return handle(request, run)

    @router.get(f"/taxii2/{API_ROOT}/collections/{{collection_id}}/manifest/")
    def manifest(request: Request, collection_id: str) -> Response:
        def run(ws: Workspace, partner: Partner) -> Response:
            collection_for(ws, partner, collection_id, "read")
            q = _query(request, object_id=None)
            rows, more = colls.select(ws, collection_id, partner.max_tlp, q)
            body: dict[str, Any] = {"more": more}
            if rows:
                body["objects"] = [
                    {
                        "id": r["object_id"],
                        "date_added": _ts(r["date_added"]),
                        "version": r["version"],
                        "media_type": f"application/stix+json;version={r['spec_version']}",
                    }
                    for r in rows
                ]
            if more and rows:
                body["next"] = _cursor(rows[-1]["seq"])
            return _respond(body, headers=_date_headers(rows))

        return handle(request, run)

    return router


def create_taxii_app(workspace_path: str | Path) -> FastAPI:
    """A FastAPI app serving only the TAXII endpoints (tests, ``civicsentry share serve``)."""
    app = FastAPI(title="CivicSentry TAXII 2.1", redirect_slashes=False, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.include_router(taxii_router(workspace_path))
    return app


# -- helpers -----------------------------------------------------------------------------


def _collection_resource(ws: Workspace, partner: Partner, collection_id: str) -> dict[str, Any]:
    c = colls.collection(ws, collection_id)
    can_read, can_write = colls.rights(ws, partner.partner_id).get(collection_id, (False, False))
    out = {
        "id": c["collection_id"],
        "title": c["title"],
        "alias": c["alias"],
        "can_read": can_read,
        "can_write": can_write,
        "media_types": [colls.MEDIA_TYPE_STIX],
    }
    if c.get("description"):
        out["description"] = c["description"]
    return out


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": int(seq)}).encode()).decode().rstrip("=")


def _uncursor(value: str) -> int:
    try:
        pad = "=" * (-len(value) % 4)
        return int(json.loads(base64.urlsafe_b64decode(value + pad))["s"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise TaxiiError(400, "Bad Request", "Invalid next parameter.") from None


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _query(
    request: Request, *, object_id: str | None, versions: tuple[str, ...] | None = None
) -> Query:
    p = request.query_params
    allowed = {"added_after", "limit", "next", "match[id]", "match[type]", "match[version]",
               "match[spec_version]"}  # fmt: skip
    unknown = [k for k in p if k not in allowed]
    if unknown:
        raise TaxiiError(400, "Bad Request", f"Unsupported parameter(s): {', '.join(unknown)}.")
    try:
        limit = int(p.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise TaxiiError(400, "Bad Request", "limit is a positive integer.") from None
    if limit < 1:
        raise TaxiiError(400, "Bad Request", "limit is a positive integer.")
    added_after = None
    if p.get("added_after"):
        try:
            added_after = colls.parse_ts(p["added_after"])
        except CivicSentryError:
            raise TaxiiError(400, "Bad Request", "added_after is a timestamp.") from None
    vers = versions or _split(p.get("match[version]")) or ("last",)
    for v in vers:
        if v not in ("all", "last", "first"):
            try:
                colls.parse_ts(v)
            except CivicSentryError:
                raise TaxiiError(400, "Bad Request", f"Bad match[version] {v!r}.") from None
    ids = (object_id,) if object_id else _split(p.get("match[id]"))
    return Query(
        added_after=added_after,
        ids=ids,
        types=_split(p.get("match[type]")),
        versions=vers,
        spec_versions=_split(p.get("match[spec_version]")),
        after_seq=_uncursor(p["next"]) if p.get("next") else 0,
        limit=min(limit, MAX_LIMIT),
    )


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date_headers(rows: list[dict[str, Any]]) -> dict[str, str]:
    if not rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": _ts(rows[0]["date_added"]),
        "X-TAXII-Date-Added-Last": _ts(rows[-1]["date_added"]),
    }


def _record_pull(ws: Workspace, partner: Partner, collection_id: str, rows: list[dict[str, Any]],
                 q: Query) -> None:  # fmt: skip
    """What a partner received: a ``shares`` row with the object versions, and an audit
    entry (who pulled what, when)."""
    if not rows:
        return
    with ws.transaction():
        share_id = ws.next_id("shares", "share_id")
        ws.con.execute(
            "INSERT INTO shares VALUES (?, NULL, 'taxii-pull', 'stix', 'collection', ?, NULL, "
            "NULL, NULL, ?, ?, NULL, now(), ?)",
            [share_id, f"collection {collection_id}", partner.partner_id, len(rows),
             f"partner:{partner.partner_id}"],
        )  # fmt: skip
        tlps = {r["object_id"]: None for r in rows}
        for r in rows:
            obj = json.loads(r["object"])
            tlps[r["object_id"]] = tlp.level_of_refs(obj.get("object_marking_refs") or []) or (
                "clear" if obj.get("type") == "marking-definition" else None
            )
        records.insert_rows(
            ws,
            "shared_objects",
            [
                (share_id, r["object_id"], r["object_type"], r["version"], tlps[r["object_id"]])
                for r in rows
            ],
        )
        ws.audit(
            "taxii.pull",
            {"share_id": share_id, "collection_id": collection_id, "objects": len(rows),
             "added_after": q.added_after, "types": list(q.types), "ids": list(q.ids)[:10]},
            actor=f"partner:{partner.partner_id}",
        )  # fmt: skip


def new_status_id() -> str:
    return str(uuid.uuid4())
