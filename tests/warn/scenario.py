"""Hand-built workspace contents for rule tests: rows written straight into the
tables the rules read, so each test states its scenario and its expected alerts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from civicsentry.store import Workspace

T0 = datetime(2024, 10, 28, tzinfo=UTC)  # a Monday


def at(hours: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, days=days)


def add_posts(ws: Workspace, posts: Iterable[dict[str, Any]]) -> None:
    """Posts (post_id, account_id, created_at, optional kind, parent_post_id, text,
    hashtags, domains) with their actions (hashtag, domain, repost)."""
    rows, acts = [], []
    for p in posts:
        rows.append(
            [
                p["post_id"],
                p["account_id"],
                p["created_at"],
                p.get("kind", "post"),
                p.get("parent_post_id"),
                p.get("text", ""),
                p.get("domains", []),
                p.get("hashtags", []),
            ]
        )
        objs = [("hashtag", h) for h in p.get("hashtags", [])]
        objs += [("domain", d) for d in p.get("domains", [])]
        if p.get("kind") == "repost":
            objs.append(("repost", p["parent_post_id"]))
        acts += [[p["account_id"], k, o, p["created_at"], p["post_id"]] for k, o in objs]
    if rows:  # through Arrow: row-by-row inserts are slow
        names = ["post_id", "account_id", "created_at", "kind", "parent_post_id", "text"]
        cols = list(zip(*rows, strict=True))
        table = pa.table(
            {n: pa.array(c) for n, c in zip(names, cols[:6], strict=True)}
            | {"domains": pa.array(cols[6], pa.list_(pa.string()))}
            | {"hashtags": pa.array(cols[7], pa.list_(pa.string()))}
        )
        ws.con.from_arrow(table).query(
            "_p",
            "SELECT post_id, 'x', account_id, created_at, kind, parent_post_id, text, NULL, "
            "[]::VARCHAR[], domains, hashtags, []::VARCHAR[], []::VARCHAR[], NULL, NULL FROM _p",
        ).insert_into("posts")
    if acts:
        names = ["account_id", "object_type", "object_id", "t", "post_id"]
        cols = list(zip(*acts, strict=True))
        table = pa.table({n: pa.array(c) for n, c in zip(names, cols, strict=True)})
        ws.con.from_arrow(table).insert_into("actions")


def add_accounts(ws: Workspace, accounts: Iterable[tuple[str, datetime | None]]) -> None:
    for account_id, created in accounts:
        ws.con.execute(
            "INSERT INTO accounts (account_id, platform, created_at) VALUES (?, 'x', ?)",
            [account_id, created],
        )


def add_clustered_run(
    ws: Workspace,
    clusters: Sequence[dict[str, Any]],
    *,
    scope: dict[str, Any] | None = None,
) -> int:
    """A detection run (its `runs` rows, detect and cluster) with the given clusters:
    each {members: [...], suspicion, objects, first_t, last_t, top_objects}."""
    rid = ws.next_id("runs", "run_id")
    params = {"semantics": "civicsentry", "object_types": ["repost"]}
    if scope:
        params["scope"] = scope
    ws.con.execute(
        "INSERT INTO runs VALUES (?, 'detect', 'coordination', ?, '0', now(), now(), '{}')",
        [rid, json.dumps(params)],
    )
    ws.con.execute(
        "INSERT INTO runs VALUES (?, 'cluster', 'leiden', ?, '0', now(), now(), '{}')",
        [rid + 1, json.dumps({"detection_run_id": rid})],
    )
    for i, c in enumerate(clusters, start=1):
        members = c["members"]
        ws.con.execute(
            "INSERT INTO clusters (run_id, cluster_id, clustering_run_id, size, edges, density, "
            "objects, n_modalities, modalities, median_delay_s, coaction_share, first_t, last_t, "
            "top_objects, suspicion) VALUES (?, ?, ?, ?, 1, 1.0, ?, 1, ?, 5.0, 0.9, ?, ?, ?, ?)",
            [
                rid,
                i,
                rid + 1,
                len(members),
                c.get("objects", 5),
                json.dumps({"repost": 3}),
                c.get("first_t", at(0)),
                c.get("last_t", at(5)),
                json.dumps(c.get("top_objects", {})),
                c.get("suspicion", 0.8),
            ],
        )
        for k, a in enumerate(members):
            ws.con.execute(
                "INSERT INTO cluster_members (run_id, cluster_id, account_id, degree, strength) "
                "VALUES (?, ?, ?, 1, ?)",
                [rid, i, a, float(len(members) - k)],
            )
    return rid


def alerts(ws: Workspace, rule: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE rule = ?" if rule else ""
    rel = ws.con.execute(f"SELECT * FROM alerts {where} ORDER BY alert_id", [rule] if rule else [])
    cols = [d[0] for d in rel.description]
    out = []
    for r in rel.fetchall():
        d = dict(zip(cols, r, strict=True))
        d["evidence"] = json.loads(d["evidence"])
        out.append(d)
    return out
