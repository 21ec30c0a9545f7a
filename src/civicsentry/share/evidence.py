"""What a share is made of, read from the workspace: clusters with their members, the
URLs, domains and hashtags they pushed, the detections that found them and the runs that
hold the parameters. The STIX and MISP builders turn one ``Evidence`` into their format;
neither reads the workspace.

A URL or domain counts as the campaign's when at least ``min_members`` members shared it
and members are at least ``min_member_share`` of everyone who shared it, so a news site
that members also share with thousands of ordinary users is not turned into an indicator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..store import Workspace

#: Object types whose co-action becomes the detection ``co-<type>``.
OBJECT_CAP = 100


@dataclass(frozen=True)
class Account:
    account_id: str
    platform: str
    handle: str | None
    display_name: str | None
    created_at: datetime | None
    exempt: str | None  # exemption category, None for an ordinary account


@dataclass(frozen=True)
class ObjectStat:
    kind: str  # url, domain, hashtag
    value: str
    members: int
    shares: int
    accounts: int  # everyone in the workspace who shared it
    first_t: datetime
    last_t: datetime


@dataclass
class ClusterEvidence:
    run_id: int
    cluster_id: int
    size: int
    suspicion: float | None
    components: dict[str, Any]
    modalities: dict[str, int]
    first_t: datetime | None
    last_t: datetime | None
    coacted_objects: int | None
    median_delay_s: float | None
    density: float | None
    members: list[Account]
    member_posts: int
    objects: list[ObjectStat]
    texts: list[str]
    detections: list[str]
    runs: dict[str, Any]  # detection and clustering parameters

    @property
    def key(self) -> str:
        return f"cluster:{self.run_id}:{self.cluster_id}"

    def of_kind(self, kind: str) -> list[ObjectStat]:
        return [o for o in self.objects if o.kind == kind]


@dataclass
class Evidence:
    key: str  # local key of the scope: cluster:1:4, case:<name>, alert:<id>
    scope: str  # cluster, case, alert
    subject: str
    title: str
    description: str
    clusters: list[ClusterEvidence]
    techniques: dict[str, list[str]]  # technique id -> detections that suggest it
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_t(self) -> datetime | None:
        ts = [c.first_t for c in self.clusters if c.first_t]
        return min(ts) if ts else None

    @property
    def last_t(self) -> datetime | None:
        ts = [c.last_t for c in self.clusters if c.last_t]
        return max(ts) if ts else None

    def members(self) -> list[Account]:
        seen: dict[str, Account] = {}
        for c in self.clusters:
            for m in c.members:
                seen.setdefault(m.account_id, m)
        return list(seen.values())


def cluster_evidence(
    ws: Workspace,
    c: dict[str, Any],
    *,
    include_text: bool,
    min_members: int = 2,
    min_member_share: float = 0.5,
) -> ClusterEvidence:
    """Everything shareable about one stored cluster, from its detail (as
    ``service.clusters.cluster_detail`` reads it) and the workspace; its members' raw ids
    are included: pseudonymisation happens when the evidence is rendered."""
    run_id, cluster_id = int(c["run_id"]), int(c["cluster_id"])
    ids = [m["account_id"] for m in c["members"]]
    members = _accounts(ws, ids)
    members_sql = "SELECT account_id FROM cluster_members WHERE run_id = ? AND cluster_id = ?"
    objects = _campaign_objects(
        ws, members_sql, [run_id, cluster_id], min_members, min_member_share
    )
    member_posts = int(
        ws.scalar(
            f"SELECT count(*) FROM posts WHERE account_id IN ({members_sql}) "
            "AND created_at BETWEEN ? AND ?",
            [run_id, cluster_id, c["first_t"], c["last_t"]],
        )
        or 0
    )
    texts: list[str] = []
    if include_text:
        for kind in ("text", "simtext", "repost", "quote", "reply"):
            for item in (c.get("top_objects") or {}).get(kind, []):
                if item.get("label") and item["label"] not in texts:
                    texts.append(str(item["label"]))
    detections = [f"co-{t}" for t in sorted(c.get("modalities") or {})]
    detections += _signal_detections(ws, run_id, cluster_id, ids)
    return ClusterEvidence(
        run_id=run_id,
        cluster_id=cluster_id,
        size=int(c["size"]),
        suspicion=c.get("suspicion"),
        components=c.get("suspicion_components") or {},
        modalities=dict(c.get("modalities") or {}),
        first_t=c.get("first_t"),
        last_t=c.get("last_t"),
        coacted_objects=c.get("objects"),
        median_delay_s=c.get("median_delay_s"),
        density=c.get("density"),
        members=members,
        member_posts=max(member_posts, 1),
        objects=objects,
        texts=texts[:10],
        detections=detections,
        runs=_run_params(ws, run_id, c.get("clustering_run_id")),
    )


def _accounts(ws: Workspace, ids: list[str]) -> list[Account]:
    if not ids:
        return []
    rel = ws.sql(
        """SELECT i.account_id, coalesce(a.platform, split_part(i.account_id, ':', 1)),
                  a.handle, a.display_name, a.created_at, e.category
           FROM (SELECT unnest(?::VARCHAR[]) AS account_id) i
           LEFT JOIN accounts a USING (account_id)
           LEFT JOIN share_exemptions e USING (account_id)
           ORDER BY i.account_id""",
        params=[ids],
    )
    return [Account(*r) for r in rel.fetchall()]


def _campaign_objects(
    ws: Workspace, members_sql: str, params: list[Any], min_members: int, min_share: float
) -> list[ObjectStat]:
    rel = ws.sql(
        f"""WITH m AS ({members_sql}),
            agg AS (
                SELECT object_type, object_id, count(DISTINCT account_id) AS members,
                       count(*) AS shares, min(t) AS first_t, max(t) AS last_t
                FROM actions
                WHERE object_type IN ('url', 'domain', 'hashtag')
                  AND account_id IN (SELECT account_id FROM m)
                GROUP BY ALL HAVING count(DISTINCT account_id) >= ?),
            tot AS (
                SELECT x.object_type, x.object_id, count(DISTINCT x.account_id) AS accounts
                FROM actions x JOIN agg USING (object_type, object_id) GROUP BY ALL)
            SELECT object_type, object_id, members, shares, accounts, first_t, last_t
            FROM agg JOIN tot USING (object_type, object_id)
            WHERE members >= ? * accounts
            ORDER BY object_type, members DESC, shares DESC, object_id""",
        params=[*params, min_members, min_share],
    )
    out: list[ObjectStat] = []
    counts: dict[str, int] = {}
    for kind, value, members, shares, accounts, first_t, last_t in rel.fetchall():
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= OBJECT_CAP:
            out.append(ObjectStat(kind, value, members, shares, accounts, first_t, last_t))
    return out


#: Account signals (issue 5) that become detections when at least half the members have
#: them: (detection, column, threshold).
SIGNAL_RULES = (
    ("account-creation-burst", "creation_burst", 3.0),  # 3x the platform's daily mean
    ("default-handles", "handle_digits", 6.0),  # name + 6 or more digits
)


def _signal_detections(ws: Workspace, run_id: int, cluster_id: int, ids: list[str]) -> list[str]:
    """Detections from the latest account-signals run, when there is one: a cluster on a
    foreign work-day schedule (``cluster_schedules.foreign``) and signals held by at
    least half the members (``SIGNAL_RULES``)."""
    out = []
    foreign = ws.scalar(
        """SELECT "foreign" FROM cluster_schedules WHERE run_id = ? AND cluster_id = ?
           ORDER BY signals_run_id DESC LIMIT 1""",
        [run_id, cluster_id],
    )
    if foreign:
        out.append("foreign-schedule")
    latest = ws.scalar("SELECT max(run_id) FROM account_signals") if ids else None
    if latest is not None:
        for name, col, threshold in SIGNAL_RULES:
            n = ws.scalar(
                f"""SELECT count(DISTINCT account_id) FROM account_signals
                    WHERE run_id = ? AND {col} >= ? AND account_id IN (SELECT unnest(?::VARCHAR[]))""",
                [latest, threshold, ids],
            )
            if n and n * 2 >= len(ids):
                out.append(name)
    return out


def _run_params(ws: Workspace, run_id: int, clustering_run_id: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, rid in (("detection", run_id), ("clustering", clustering_run_id)):
        if rid is None:
            continue
        row = ws.con.execute(
            "SELECT step, name, params, civicsentry_version FROM runs WHERE run_id = ?", [rid]
        ).fetchall()
        row = row[0] if row else None
        if row:
            out[label] = {
                "run_id": rid,
                "step": row[0],
                "name": row[1],
                "params": json.loads(row[2] or "{}"),
                "civicsentry_version": row[3],
            }
    return out
