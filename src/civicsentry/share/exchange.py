"""Partners and collections, and what comes in: partners' TAXII pushes and our pulls of
their feeds, stored with provenance and TLP, correlated with local findings; a
correlation with an account, URL or domain in common raises an alert through early
warning (``service.alerts``, imported lazily: sharing works without it).

``civicsentry.service.share`` re-exports these verbs; the TAXII server calls
``receive_objects``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..errors import InvalidParams
from ..store import Workspace, _os_user
from . import collections, disarm, records, tlp


def _actor() -> str:
    return _os_user()


# -- partners and collections ------------------------------------------------------------


def add_collection(ws: Workspace, alias: str, *, title: str | None = None,
                   description: str | None = None, community: str | None = None) -> dict[str, Any]:  # fmt: skip
    with ws.transaction():
        c = collections.add_collection(
            ws, alias, title or alias, description=description, community=community
        )
        ws.audit("share.collection", {"collection_id": c["collection_id"], "alias": alias})
    return c


def list_collections(ws: Workspace) -> list[dict[str, Any]]:
    rel = ws.sql(
        """SELECT c.*, (SELECT count(*) FROM collection_objects o
                        WHERE o.collection_id = c.collection_id) AS object_versions,
                  (SELECT list(a.partner_id || ':' || CASE WHEN a.can_read AND a.can_write THEN 'rw'
                                 WHEN a.can_read THEN 'r' ELSE 'w' END ORDER BY a.partner_id)
                   FROM collection_access a WHERE a.collection_id = c.collection_id) AS access
           FROM collections c ORDER BY alias"""
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def add_partner(
    ws: Workspace,
    partner_id: str,
    *,
    name: str | None = None,
    community: str | None = None,
    max_tlp: str = "amber",
    contact: str | None = None,
    read: Sequence[str] = (),
    write: Sequence[str] = (),
    feeds: Sequence[str] = (),
    feed_token: str | None = None,
) -> dict[str, Any]:
    """Register a partner; returns its TAXII API token, shown only this once (we keep a
    hash). ``read``/``write`` grant rights on our collections; ``feeds`` are their
    collections that `partners pull` fetches, with ``feed_token`` as credential."""
    if not partner_id or not partner_id.replace("-", "").replace("_", "").isalnum():
        raise InvalidParams(f"A partner id is letters, digits, - and _, not {partner_id!r}.")
    clearance = tlp.exportable(max_tlp)
    token = collections.new_token()
    with ws.transaction():
        if ws.scalar("SELECT count(*) FROM partners WHERE partner_id = ?", [partner_id]):
            raise InvalidParams(f"Partner {partner_id!r} exists; use `partners grant` or `token`.")
        sid, _, _ = records.StixIds(ws)(f"identity:partner:{partner_id}", "identity", None)
        ws.con.execute(
            "INSERT INTO partners VALUES (?, ?, ?, ?, ?, ?, ?, now(), now())",
            [partner_id, name, community, clearance, contact, sid,
             collections.hash_token(token)],
        )  # fmt: skip
        for ref in dict.fromkeys([*read, *write]):
            collections.grant(ws, partner_id, ref, read=ref in read, write=ref in write)
        for url in feeds:
            ws.con.execute(
                "INSERT INTO partner_feeds VALUES (?, ?, ?, NULL, NULL, NULL)",
                [partner_id, url, feed_token],
            )
        ws.audit("partners.add", {"partner_id": partner_id, "max_tlp": clearance,
                                  "read": list(read), "write": list(write), "feeds": list(feeds)})  # fmt: skip
    return {"partner_id": partner_id, "max_tlp": clearance, "token": token}


def grant(ws: Workspace, partner_id: str, collection: str, *, read: bool, write: bool) -> None:
    with ws.transaction():
        collections.grant(ws, partner_id, collection, read=read, write=write)
        ws.audit("partners.grant", {"partner_id": partner_id, "collection": collection,
                                    "read": read, "write": write})  # fmt: skip


def reissue_token(ws: Workspace, partner_id: str) -> dict[str, Any]:
    """A new API token for a partner; the old one stops working at once."""
    token = collections.new_token()
    with ws.transaction():
        collections.partner(ws, partner_id)
        ws.con.execute(
            "UPDATE partners SET token_hash = ?, token_created_at = now() WHERE partner_id = ?",
            [collections.hash_token(token), partner_id],
        )
        ws.audit("partners.token", {"partner_id": partner_id})
    return {"partner_id": partner_id, "token": token}


def list_partners(ws: Workspace) -> list[dict[str, Any]]:
    rel = ws.sql(
        """SELECT p.partner_id, p.name, p.community, p.max_tlp, p.contact, p.created_at,
                  p.token_created_at,
                  (SELECT list(c.alias || ':' || CASE WHEN a.can_read AND a.can_write THEN 'rw'
                                 WHEN a.can_read THEN 'r' ELSE 'w' END ORDER BY c.alias)
                   FROM collection_access a JOIN collections c USING (collection_id)
                   WHERE a.partner_id = p.partner_id) AS collections,
                  (SELECT list(f.url ORDER BY f.url) FROM partner_feeds f
                   WHERE f.partner_id = p.partner_id) AS feeds,
                  (SELECT max(f.last_pull_at) FROM partner_feeds f
                   WHERE f.partner_id = p.partner_id) AS last_pull_at
           FROM partners p ORDER BY p.partner_id"""
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


# -- receiving: TAXII pushes and pulls, correlation ----------------------------------------


def receive_objects(
    ws: Workspace, partner_id: str, collection_id: str, objects: list[Any]
) -> dict[str, Any]:
    """A partner's TAXII add-objects request: each object is validated and its TLP read;
    accepted ones join the collection (readable by the group) and ``imported_objects``
    (then correlated); TLP:RED and invalid objects fail. Returns the status resource."""
    from datetime import UTC, datetime

    from . import imports
    from .taxii_server import new_status_id

    requested = datetime.now(UTC)
    with ws.transaction():
        rid = _run(ws, "taxii-push", {"partner_id": partner_id, "collection_id": collection_id})
        summaries = imports.store(ws, rid, partner_id, f"taxii-push:{collection_id}",
                                  [o for o in objects if isinstance(o, dict)])  # fmt: skip
        successes, failures, accepted = [], [], []
        for obj, s in zip([o for o in objects if isinstance(o, dict)], summaries, strict=True):
            detail = {"id": s["id"], "version": s["version"] or ""}
            if s["problems"]:
                failures.append(detail | {"message": "; ".join(s["problems"])[:500]})
            elif s["tlp"] == "red":
                failures.append(
                    detail | {"message": "TLP:RED is never accepted into a shared collection"}
                )
            else:
                successes.append(detail)
                accepted.append((obj, s["tlp"] or "amber"))
        failures += [{"id": "", "version": "", "message": "not an object"}
                     for o in objects if not isinstance(o, dict)]  # fmt: skip
        collections.add_objects(ws, collection_id, accepted, source=f"partner:{partner_id}")
        status_body = {
            "id": new_status_id(),
            "status": "complete",
            "request_timestamp": requested.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "total_count": len(objects),
            "success_count": len(successes),
            "successes": successes,
            "failure_count": len(failures),
            "failures": failures,
            "pending_count": 0,
            "pendings": [],
        }
        ws.con.execute(
            "INSERT INTO taxii_status VALUES (?, ?, ?, ?, ?)",
            [status_body["id"], partner_id, collection_id, requested, json.dumps(status_body)],
        )
        _finish(ws, rid, {"objects": len(objects), "accepted": len(successes)})
        ws.audit("taxii.push", {"run_id": rid, "collection_id": collection_id,
                                "accepted": len(successes), "failed": len(failures)},
                 actor=f"partner:{partner_id}")  # fmt: skip
    correlate_import(ws, rid, partner_id)
    return status_body


@dataclass(frozen=True)
class PullSummary:
    partner_id: str
    url: str
    run_id: int
    objects: int
    new: int
    invalid: int
    added_after: str | None
    correlations: list[dict[str, Any]]


def pull_partners(ws: Workspace, partner_id: str | None = None) -> list[PullSummary]:
    """Fetch what each partner feed added since the last pull, store it with provenance
    and TLP, correlate it with our findings (an alert per partner finding that matches)."""
    from . import imports, taxii_client

    where = "WHERE partner_id = ?" if partner_id else ""
    feeds = ws.con.execute(
        f"SELECT partner_id, url, token, added_after FROM partner_feeds {where} ORDER BY partner_id, url",
        [partner_id] if partner_id else [],
    ).fetchall()
    if not feeds:
        raise InvalidParams(
            "No partner feeds to pull; add one with `civicsentry partners add ID --feed URL`."
        )
    out = []
    for pid, url, token, cursor in feeds:
        pulled = taxii_client.pull(url, token, cursor)
        with ws.transaction():
            rid = _run(ws, "partner-pull", {"partner_id": pid, "url": url, "added_after": cursor})
            stored = imports.store(ws, rid, pid, url, pulled.objects)
            new_cursor = pulled.added_last or cursor
            ws.con.execute(
                "UPDATE partner_feeds SET added_after = ?, last_pull_at = now(), last_run_id = ? "
                "WHERE partner_id = ? AND url = ?",
                [new_cursor, rid, pid, url],
            )
            counts = {"objects": len(pulled.objects), "new": sum(s["new"] for s in stored),
                      "invalid": sum(not s["valid"] for s in stored), "pages": pulled.pages}  # fmt: skip
            _finish(ws, rid, counts)
            ws.audit("partners.pull", {"partner_id": pid, "url": url, "run_id": rid,
                                       "added_after": cursor, **counts})  # fmt: skip
        found = correlate_import(ws, rid, pid)
        out.append(PullSummary(pid, url, rid, counts["objects"], counts["new"], counts["invalid"],
                               new_cursor, found))  # fmt: skip
    return out


def correlate_import(ws: Workspace, run_id: int, partner_id: str) -> list[dict[str, Any]]:
    """Correlate one import with local findings; store the matches and raise an alert for
    each partner finding with an account, URL or domain in common."""
    from .correlate import correlate

    found = correlate(ws, run_id, partner_id)
    out = []
    with ws.transaction():
        crid = _run(ws, "correlate", {"import_run_id": run_id, "partner_id": partner_id})
        at = records.now()
        records.insert_rows(
            ws,
            "share_correlations",
            [(crid, partner_id, c.container_id, m.kind, m.remote_ref, m.local_ref,
              m.local_run_id, m.local_cluster_id, None, at) for c in found for m in c.matches],
        )  # fmt: skip
        _finish(ws, crid, {"containers": len(found), "matches": sum(len(c.matches) for c in found)})
    for c in found:
        summary = _correlation_summary(c)
        if c.strong:
            summary["alert_id"] = _raise_alert(ws, crid, c)
            if summary["alert_id"] is not None:
                with ws.transaction():
                    ws.con.execute(
                        "UPDATE share_correlations SET alert_id = ? WHERE run_id = ? "
                        "AND container_id = ?",
                        [summary["alert_id"], crid, c.container_id],
                    )
        out.append(summary)
    return out


def _correlation_summary(c: Any) -> dict[str, Any]:
    return {
        "partner_id": c.partner_id,
        "container_id": c.container_id,
        "accounts": sorted({m.local_ref for m in c.of("account")}),
        "urls": sorted({m.local_ref for m in c.of("url")}),
        "domains": sorted({m.local_ref for m in c.of("domain")}),
        "techniques": sorted({m.local_ref for m in c.of("technique")}),
        "local_clusters": sorted(
            {
                (m.local_run_id, m.local_cluster_id)
                for m in c.matches
                if m.local_cluster_id is not None
            }
        ),
    }


def _raise_alert(ws: Workspace, run_id: int, c: Any) -> int | None:
    """An alert through the early-warning service (issue 7), when it is installed."""
    try:
        from ..service.alerts import raise_alert
    except ImportError:
        return None
    s = _correlation_summary(c)
    in_cluster = any(m.local_cluster_id is not None for m in c.of("account"))
    severity = "high" if in_cluster else "medium"
    what = ", ".join(
        f"{len(s[k])} {k}" for k in ("accounts", "urls", "domains", "techniques") if s[k]
    )
    techniques = [t for t in s["techniques"] if disarm.is_known(t)]
    return int(
        raise_alert(
            ws,
            rule="partner_correlation",
            fingerprint=f"partner_correlation:{c.partner_id}:{c.container_id}",
            severity=severity,
            title=f"Partner {c.partner_id} reports what we see: {what} in common",
            evidence={
                "key": "partner_correlation",
                "partner_id": c.partner_id,
                "container_id": c.container_id,
                "accounts": s["accounts"],
                "urls": s["urls"],
                "domains": s["domains"],
                "techniques": s["techniques"],
                "local_clusters": [{"run_id": r, "cluster_id": k} for r, k in s["local_clusters"]],
                "correlation_run_id": run_id,
            },
            disarm=techniques,
            run_id=run_id,
        )
    )


def list_correlations(ws: Workspace, *, partner: str | None = None,
                      limit: int | None = 100) -> list[dict[str, Any]]:  # fmt: skip
    where, params = ("WHERE partner_id = ?", [partner]) if partner else ("", [])
    lim = f"LIMIT {int(limit)}" if limit else ""
    rel = ws.sql(
        f"SELECT * FROM share_correlations {where} ORDER BY created_at DESC, kind, local_ref {lim}",
        params=params,
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def _run(ws: Workspace, name: str, params: dict[str, Any]) -> int:
    rid = ws.next_id("runs", "run_id")
    ws.con.execute(
        "INSERT INTO runs VALUES (?, 'share', ?, ?, ?, now(), NULL, NULL)",
        [rid, name, json.dumps(params, sort_keys=True, default=str), __version__],
    )
    return rid


def _finish(ws: Workspace, run_id: int, summary: dict[str, Any]) -> None:
    ws.con.execute(
        "UPDATE runs SET finished_at = now(), summary = ? WHERE run_id = ?",
        [json.dumps(summary, sort_keys=True, default=str), run_id],
    )
