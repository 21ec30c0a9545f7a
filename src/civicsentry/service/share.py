"""civicsentry share / partners / communities: export clusters, cases and alerts as STIX
2.1 or MISP under TLP 2.0 with pseudonymised accounts, publish them to TAXII collections,
pull partners' collections and correlate them with local findings.

Every export adds a ``runs`` row (step ``share``) with its parameters, a ``shares`` row
and the object versions it carried (``shared_objects``), and an audit entry, in one
transaction with the export itself; a bundle that fails a check (share.checks) is never
written or published. The CLI, the Python API and the web app call these functions.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import InvalidParams, ShareCheckFailed
from ..share import checks, collections, disarm, pseudonym, records, tlp
from ..share.evidence import Account, ClusterEvidence, Evidence, cluster_evidence
from ..share.stix import ACCOUNT_EXTENSION, Producer, Rendering, account_type, build_bundle
from ..store import Workspace

log = logging.getLogger("civicsentry")

FORMATS = ("stix", "misp")


@dataclass(frozen=True)
class ShareResult:
    share_id: int
    run_id: int
    format: str
    scope: str
    subject: str
    tlp: str
    community: str
    key_version: int
    channel: str
    recipient: str | None
    objects: int
    published: int  # object versions newly added to the collection
    path: str | None
    checks: dict[str, Any]
    document: dict[str, Any] = field(repr=False)

    def as_dict(self, *, document: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not document:
            d.pop("document")
        return d


# -- export ------------------------------------------------------------------------------


def export_share(
    ws: Workspace,
    *,
    fmt: str = "stix",
    cluster: int | None = None,
    run_id: int | None = None,
    case: str | None = None,
    alert: int | None = None,
    tlp_level: str = "amber",
    community: str | None = None,
    include_text: bool = False,
    collection: str | None = None,
    out: str | Path | None = None,
    techniques: Sequence[str] = (),
    title: str | None = None,
    min_members: int = 2,
    min_member_share: float = 0.5,
    actor: str | None = None,
) -> ShareResult:
    """Export one cluster (``cluster``, of run ``run_id`` or the latest), a case (``case``;
    ``cluster`` then adds to it) or an alert (``alert``) as a STIX bundle or MISP event;
    write it to ``out`` and/or publish it to the TAXII ``collection``."""
    started = time.time()
    if fmt not in FORMATS:
        raise InvalidParams(f"Format is one of {', '.join(FORMATS)}, not {fmt!r}.")
    level = tlp.exportable(tlp_level)
    extra = disarm.check_ids(list(techniques))
    coll = collections.collection(ws, collection) if collection else None
    if coll and fmt != "stix":
        raise InvalidParams("Only STIX bundles go to TAXII collections; write MISP to a file.")
    community = community or (coll or {}).get("community")
    if not community:
        raise InvalidParams("Choose the sharing community whose key pseudonymises: --community.")
    if coll and coll.get("community") and coll["community"] != community:
        raise InvalidParams(
            f"Collection {coll['alias']!r} belongs to community {coll['community']!r}, "
            f"not {community!r}."
        )
    with ws.transaction():
        ev = gather(
            ws,
            cluster=cluster,
            run_id=run_id,
            case=case,
            alert=alert,
            include_text=include_text,
            title=title,
            min_members=min_members,
            min_member_share=min_member_share,
        )
        for tid in extra:
            ev.techniques.setdefault(tid, []).append("analyst")
        version, key = records.current_key(ws, community)
        forbidden = records.forbidden_identifiers(ws)
        render = _rendering(ws, ev, level, community, version, key, include_text, forbidden)
        params = {
            "format": fmt,
            "scope": ev.scope,
            "subject": ev.subject,
            "tlp": level,
            "community": community,
            "key_version": version,
            "include_text": include_text,
            "collection": coll["alias"] if coll else None,
            "techniques": sorted(ev.techniques),
            "min_members": min_members,
            "min_member_share": min_member_share,
            "disarm_version": disarm.version(),
        }
        rid = ws.next_id("runs", "run_id")
        ws.con.execute(
            "INSERT INTO runs VALUES (?, 'share', ?, ?, ?, to_timestamp(?), NULL, NULL)",
            [rid, f"{fmt}-export", json.dumps(params, sort_keys=True), __version__, started],
        )
        if fmt == "stix":
            document = build_bundle(
                ev, producer=producer(ws), render=render, mint=records.StixIds(ws)
            )
            report = checks.check_bundle(document, forbidden=forbidden)
            shared = [
                (o["id"], o["type"], collections.version_of(o), _object_tlp(o))
                for o in document["objects"]
            ]
        else:
            from ..share import misp

            document = misp.build_event(ev, producer=producer(ws), render=render)
            report = misp.check_event(document, forbidden=forbidden)
            shared = [(document["Event"]["uuid"], "misp-event", None, level)]
        if not report.ok:
            raise ShareCheckFailed(
                f"The {fmt} export failed {len(report.errors)} check(s), nothing was shared: "
                + "; ".join(report.errors[:5])
            )
        channel = "collection" if coll else "file" if out else "api"
        recipient = coll["alias"] if coll else str(out) if out else None
        published = 0
        if coll:
            added = collections.add_objects(
                ws,
                coll["collection_id"],
                [(o, _object_tlp(o)) for o in document["objects"]],
                source=f"share:{rid}",
            )
            published = len(added)
        share_id = ws.next_id("shares", "share_id")
        ws.con.execute(
            "INSERT INTO shares VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
            [
                share_id,
                rid,
                channel,
                fmt,
                ev.scope,
                ev.subject,
                level,
                community,
                version,
                recipient,
                len(shared),
                include_text,
                actor or _actor(),
            ],
        )
        records.insert_rows(ws, "shared_objects", [(share_id, *s) for s in shared])
        summary = {"objects": len(shared), "published": published, "warnings": len(report.warnings)}
        ws.con.execute(
            "UPDATE runs SET finished_at = now(), summary = ? WHERE run_id = ?",
            [json.dumps(summary), rid],
        )
        ws.audit(
            "share.export",
            {"share_id": share_id, "run_id": rid, **params, "channel": channel,
             "recipient": recipient, "objects": len(shared), "published": published},
            actor=actor,
        )  # fmt: skip
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return ShareResult(
        share_id=share_id,
        run_id=rid,
        format=fmt,
        scope=ev.scope,
        subject=ev.subject,
        tlp=level,
        community=community,
        key_version=version,
        channel=channel,
        recipient=recipient,
        objects=len(shared),
        published=published,
        path=str(out) if out else None,
        checks=report.as_dict(),
        document=document,
    )


def _object_tlp(obj: dict[str, Any]) -> str:
    if obj.get("type") == "marking-definition":
        return "clear"
    return tlp.level_of_refs(obj.get("object_marking_refs") or []) or "amber"


def _actor() -> str:
    from ..store import _os_user

    return _os_user()


def producer(ws: Workspace) -> Producer:
    ids = records.StixIds(ws)
    sid, _, _ = ids("identity:producer", "identity", None)
    name = records.setting(ws, "producer_name", "CivicSentry workspace") or ""
    return Producer(sid, name, records.setting(ws, "producer_contact"))


def set_producer(ws: Workspace, *, name: str, contact: str | None = None) -> dict[str, Any]:
    with ws.transaction():
        records.set_setting(ws, "producer_name", name)
        if contact is not None:
            records.set_setting(ws, "producer_contact", contact)
        ws.audit("share.producer", {"name": name, "contact": contact})
    return {"name": name, "contact": contact}


def _rendering(
    ws: Workspace,
    ev: Evidence,
    level: str,
    community: str,
    version: int,
    key: bytes,
    include_text: bool,
    forbidden: set[str],
) -> Rendering:
    members = ev.members()
    pseudo = records.pseudonyms_for(
        ws, community, version, key, [m.account_id for m in members if not m.exempt]
    )
    keep = records.exempt_handles(ws)
    lowered = {f.casefold() for f in forbidden}
    platform = members[0].platform if members else "x"
    _drop_identifying_objects(ev, lowered)

    def account(m: Account) -> dict[str, Any]:
        ext: dict[str, Any] = {"extension_type": "property-extension", "platform": m.platform}
        props: dict[str, Any] = {"account_type": account_type(m.platform)}
        if m.exempt:
            props["user_id"] = pseudonym.native_id(m.account_id)
            if m.handle:
                props["account_login"] = m.handle.lstrip("@")
            if m.display_name:
                props["display_name"] = m.display_name
            if m.created_at:
                props["account_created"] = m.created_at
            ext |= {"pseudonymised": False, "exemption": m.exempt}
        else:
            props["user_id"] = pseudo[m.account_id]
            ext |= {"pseudonymised": True, "community": community, "key_version": version}
            if m.handle:
                ext["login_pseudonym"] = pseudonym.handle(key, m.platform, m.handle)
        props["extensions"] = {ACCOUNT_EXTENSION: ext}
        return props

    def text(value: str) -> str:
        value = pseudonym.redact_mentions(value, key, platform, keep)
        return checks.TOKEN.sub(
            lambda t: "[account]" if t.group(0).casefold() in lowered else t.group(0), value
        )

    return Rendering(level, community, version, account, text, include_text)


def _drop_identifying_objects(ev: Evidence, lowered: set[str]) -> None:
    """URLs, domains and hashtags that name an ordinary account (a profile link, a
    handle as hashtag) are withheld: they would identify it."""
    for c in ev.clusters:
        kept = []
        for o in c.objects:
            value = o.value.casefold()
            names = set(checks.TOKEN.findall(value)) | set(checks.PHRASE.findall(value))
            if names & lowered:
                log.info("withheld %s %r: it names an account", o.kind, o.value)
                continue
            kept.append(o)
        c.objects = kept


# -- what a share is about ---------------------------------------------------------------


def gather(
    ws: Workspace,
    *,
    cluster: int | None,
    run_id: int | None,
    case: str | None,
    alert: int | None,
    include_text: bool,
    title: str | None = None,
    min_members: int = 2,
    min_member_share: float = 0.5,
) -> Evidence:
    """The evidence of one scope; adds ``cluster`` to ``case`` when both are given."""
    from .clusters import cluster_detail, clustered_run_id

    if sum(x is not None for x in (case, alert)) > 1 or (
        case is None and alert is None and cluster is None
    ):
        raise InvalidParams(
            "Share one of: --cluster ID, --case NAME (with --cluster to add), --alert ID."
        )
    kw = {
        "include_text": include_text,
        "min_members": min_members,
        "min_member_share": min_member_share,
    }
    if alert is not None:
        return _alert_evidence(ws, alert, title, kw)
    if case is None:
        assert cluster is not None
        rid = clustered_run_id(ws, run_id)
        c = cluster_evidence(ws, cluster_detail(ws, cluster, rid), **kw)
        return Evidence(
            key=c.key,
            scope="cluster",
            subject=f"cluster {cluster} of run {rid}",
            title=title or f"Coordinated campaign: cluster {cluster} of detection run {rid}",
            description=_describe([c]),
            clusters=[c],
            techniques=records.techniques_for(ws, c.detections),
        )
    if not case or not case.replace("-", "").replace("_", "").isalnum():
        raise InvalidParams(f"A case name is letters, digits, - and _, not {case!r}.")
    if not ws.scalar("SELECT count(*) FROM share_cases WHERE case_id = ?", [case]):
        ws.con.execute("INSERT INTO share_cases VALUES (?, ?, NULL, now(), now())", [case, title])
    elif title:
        ws.con.execute("UPDATE share_cases SET title = ? WHERE case_id = ?", [title, case])
    if cluster is not None:
        rid = clustered_run_id(ws, run_id)
        if not ws.scalar(
            "SELECT count(*) FROM share_case_items WHERE case_id = ? AND kind = 'cluster' "
            "AND run_id = ? AND ref_id = ?",
            [case, rid, cluster],
        ):
            cluster_detail(ws, cluster, rid)  # checks it exists
            ws.con.execute(
                "INSERT INTO share_case_items VALUES (?, 'cluster', ?, ?, now())",
                [case, rid, cluster],
            )
    items = ws.con.execute(
        "SELECT kind, run_id, ref_id FROM share_case_items WHERE case_id = ? ORDER BY added_at",
        [case],
    ).fetchall()
    if not items:
        raise InvalidParams(f"Case {case!r} is empty: add a cluster with --cluster ID.")
    clusters = [
        cluster_evidence(ws, cluster_detail(ws, int(c), int(r)), **kw)
        for k, r, c in items
        if k == "cluster"
    ]
    case_title = ws.scalar("SELECT title FROM share_cases WHERE case_id = ?", [case])
    detections = sorted({d for c in clusters for d in c.detections})
    return Evidence(
        key=f"case:{case}",
        scope="case",
        subject=f"case {case}",
        title=case_title or f"Case {case}",
        description=_describe(clusters),
        clusters=clusters,
        techniques=records.techniques_for(ws, detections),
    )


#: Alert rules (issue 7) named as the DISARM mapping knows them.
RULE_DETECTIONS = {
    "cluster-new": "new-cluster",
    "cluster_new": "new-cluster",
    "cluster-growth": "cluster-growth",
    "cluster_growth": "cluster-growth",
    "account-creation-burst": "account-creation-burst",
    "account_creation_burst": "account-creation-burst",
    "watchlist-volume": "watchlist-spike",
    "volume_anomaly": "watchlist-spike",
    "foreign-schedule-cluster": "foreign-schedule",
    "foreign_schedule": "foreign-schedule",
    "debunked-claim-spreading": "claim-spreading",
    "claim_spreading": "claim-spreading",
    "narrative-accelerating": "narrative-acceleration",
    "narrative_accelerating": "narrative-acceleration",
}


def _alert_evidence(
    ws: Workspace, alert_id: int, title: str | None, kw: dict[str, Any]
) -> Evidence:
    from . import alerts as alerts_service
    from .clusters import cluster_detail

    a = alerts_service.get_alert(ws, alert_id)
    evidence = a.get("evidence") or {}
    rid, cid = evidence.get("detection_run_id"), evidence.get("cluster_id")
    if rid is None or cid is None:
        raise InvalidParams(
            f"Alert {alert_id} ({a.get('rule')}) names no cluster; share the cluster its "
            "accounts belong to, or a case."
        )
    c = cluster_evidence(ws, cluster_detail(ws, int(cid), int(rid)), **kw)
    rule = str(a.get("rule") or "")
    c.detections.append(RULE_DETECTIONS.get(rule, rule.replace("_", "-")))
    techniques = records.techniques_for(ws, c.detections)
    for tid in a.get("disarm") or []:
        if disarm.is_known(tid):
            techniques.setdefault(tid, []).append(f"alert {alert_id}")
    return Evidence(
        key=f"alert:{alert_id}",
        scope="alert",
        subject=f"alert {alert_id}",
        title=title or f"Alert {alert_id}: {a.get('title') or rule}",
        description=_describe([c]),
        clusters=[c],
        techniques=techniques,
        alerts=[{"alert_id": alert_id, "rule": rule, "severity": a.get("severity")}],
    )


def _describe(clusters: list[ClusterEvidence]) -> str:
    n = sum(c.size for c in clusters)
    urls = sum(len(c.of_kind("url")) for c in clusters)
    domains = sum(len(c.of_kind("domain")) for c in clusters)
    return (
        f"{len(clusters)} coordinated network(s) of {n} accounts in all, which repeatedly "
        f"acted on the same objects within seconds to minutes of each other; {urls} URLs "
        f"and {domains} domains they pushed. Detected by CivicSentry {__version__}; "
        "coordination can be coincidence, see the method note."
    )


# -- share log ---------------------------------------------------------------------------


def share_log(
    ws: Workspace, *, partner: str | None = None, limit: int | None = 50
) -> list[dict[str, Any]]:
    """What went to whom: exports (with the partners that can read the collection) and
    TAXII pulls, newest first."""
    where, params = "", []
    if partner:
        where = """WHERE s.recipient = ? OR (s.channel = 'collection' AND s.recipient IN (
                     SELECT c.alias FROM collection_access a JOIN collections c USING (collection_id)
                     WHERE a.partner_id = ? AND a.can_read))"""
        params = [partner, partner]
    lim = f"LIMIT {int(limit)}" if limit else ""
    rel = ws.sql(
        f"""SELECT s.*, (SELECT list(a.partner_id ORDER BY a.partner_id)
                         FROM collection_access a JOIN collections c USING (collection_id)
                         WHERE s.channel = 'collection' AND c.alias = s.recipient AND a.can_read)
                        AS readers
            FROM shares s {where} ORDER BY s.created_at DESC, s.share_id DESC {lim}""",
        params=params,
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


# -- communities -------------------------------------------------------------------------


def create_community(ws: Workspace, community: str, *, key: str | None = None,
                     version: int | None = None) -> dict[str, Any]:  # fmt: skip
    """A new community key (generated, or ``key`` as given by a partner: every member of
    a community must hold the same key to correlate). An existing community's key is
    rotated."""
    with ws.transaction():
        origin = "imported" if key else "generated"
        v = records.add_key(ws, community, key or pseudonym.new_key(), origin, version)
        ws.audit("community.key", {"community": community, "key_version": v, "origin": origin})
    return {"community": community, "key_version": v, "origin": origin}


def rotate_community(ws: Workspace, community: str) -> dict[str, Any]:
    records.current_key(ws, community)
    return create_community(ws, community)


def export_community_key(ws: Workspace, community: str) -> dict[str, Any]:
    """The current key, to hand to the community's other members out of band (audited)."""
    with ws.transaction():
        v, key = records.current_key(ws, community)
        ws.audit("community.key.export", {"community": community, "key_version": v})
    return {"community": community, "key_version": v, "key": key.hex()}


def communities(ws: Workspace) -> list[dict[str, Any]]:
    rel = ws.sql(
        """SELECT community, key_version, origin, created_at, retired_at
           FROM community_keys ORDER BY community, key_version"""
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


# -- exemptions and the DISARM mapping ---------------------------------------------------


def exempt(
    ws: Workspace, account_id: str, category: str, note: str | None = None
) -> dict[str, Any]:
    if category not in records.EXEMPTION_CATEGORIES:
        raise InvalidParams(
            f"Category is one of {', '.join(records.EXEMPTION_CATEGORIES)}, not {category!r}."
        )
    with ws.transaction():
        ws.con.execute(
            "INSERT OR REPLACE INTO share_exemptions VALUES (?, ?, ?, now(), ?)",
            [account_id, category, note, _actor()],
        )
        ws.audit("share.exempt", {"account_id": account_id, "category": category})
    return {"account_id": account_id, "category": category, "note": note}


def unexempt(ws: Workspace, account_id: str) -> None:
    with ws.transaction():
        ws.con.execute("DELETE FROM share_exemptions WHERE account_id = ?", [account_id])
        ws.audit("share.unexempt", {"account_id": account_id})


def exemptions(ws: Workspace) -> list[dict[str, Any]]:
    rel = ws.sql("SELECT * FROM share_exemptions ORDER BY account_id")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def disarm_mapping(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Detection -> techniques in force, with names and where it comes from."""
    out = records.mapping(ws)
    for row in out.values():
        row["names"] = [disarm.technique(t).name for t in row["techniques"]]
    return out


def set_disarm_mapping(
    ws: Workspace, detection: str, techniques: Sequence[str], note: str | None = None
) -> dict[str, Any]:
    ids = disarm.check_ids(list(techniques))
    with ws.transaction():
        ws.con.execute(
            "INSERT OR REPLACE INTO disarm_mapping VALUES (?, ?, ?, now(), ?)",
            [detection, json.dumps(ids), note, _actor()],
        )
        ws.audit("share.disarm", {"detection": detection, "techniques": ids})
    return disarm_mapping(ws)[detection]


def reset_disarm_mapping(ws: Workspace, detection: str) -> None:
    with ws.transaction():
        ws.con.execute("DELETE FROM disarm_mapping WHERE detection = ?", [detection])
        ws.audit("share.disarm.reset", {"detection": detection})


# -- checking a file ---------------------------------------------------------------------


def check_file(ws: Workspace | None, path: str | Path) -> dict[str, Any]:
    """Validate a STIX bundle file: stix2-validator plus our checks (with a workspace,
    also that no ordinary account of it appears)."""
    try:
        bundle = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidParams(f"Cannot read {path}: {e}") from None
    forbidden = records.forbidden_identifiers(ws) if ws is not None else set()
    return checks.check_bundle(bundle, forbidden=forbidden).as_dict()


# Partners, collections, pushes, pulls and correlation live in share.exchange.
from ..share.exchange import (  # noqa: E402
    PullSummary,
    add_collection,
    add_partner,
    correlate_import,
    grant,
    list_collections,
    list_correlations,
    list_partners,
    pull_partners,
    receive_objects,
    reissue_token,
)

__all__ = [
    "PullSummary",
    "ShareCheckFailed",
    "ShareResult",
    "add_collection",
    "add_partner",
    "check_file",
    "communities",
    "correlate_import",
    "create_community",
    "disarm_mapping",
    "exempt",
    "exemptions",
    "export_community_key",
    "export_share",
    "gather",
    "grant",
    "list_collections",
    "list_correlations",
    "list_partners",
    "producer",
    "pull_partners",
    "receive_objects",
    "reissue_token",
    "reset_disarm_mapping",
    "rotate_community",
    "set_disarm_mapping",
    "set_producer",
    "share_log",
    "unexempt",
]
