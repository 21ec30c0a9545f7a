"""Rules over detected clusters: a new coordinated cluster, a cluster growing or
accelerating between detection runs, a cluster on a foreign work-day schedule.

They read ``clusters`` and ``cluster_members`` of the latest clustered detection run
(and ``cluster_schedules`` from the account-signals stage). Coordination can be
coincidence: a cluster is a lead for an analyst, not proof (docs/clusters.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb

from .base import Context, Family, Finding, Param, Rule, Skipped
from .fingerprint import overlap

MAX_ACCOUNTS = 1000  # accounts listed in an alert's evidence (the total is always given)
MAX_POSTS = 50
CAVEAT = "Coordination can be coincidence: a lead for an analyst, not proof (docs/clusters.md)."


def latest_clustered_run(con: duckdb.DuckDBPyConnection) -> int | None:
    value = con.execute(
        "SELECT max(CAST(json_extract(params, '$.detection_run_id') AS BIGINT)) "
        "FROM runs WHERE step = 'cluster'"
    ).fetchall()[0][0]
    return int(value) if value is not None else None


def _scope(con: duckdb.DuckDBPyConnection, run_id: int) -> str:
    # Incremental (watch) runs cover a recent window; only runs of the same scope compare.
    value = con.execute(
        "SELECT coalesce(json_extract(params, '$.scope.lookback_s')::VARCHAR, 'all') "
        "FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()
    return str(value[0][0]) if value else "all"


def current_runs(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The latest clustered run and, when watch made it, the other clustered watch runs
    of the same pass (same ``scope.until``, longer look-backs): shortest window first."""
    latest = latest_clustered_run(con)
    if latest is None:
        return []
    rows = con.execute(
        """WITH w AS (
             SELECT run_id, json_extract_string(params, '$.scope.until') AS until,
                    CAST(json_extract(params, '$.scope.lookback_s') AS DOUBLE) AS lookback
             FROM runs WHERE step = 'detect'
               AND json_extract_string(params, '$.scope.trigger') = 'watch'
               AND run_id IN (SELECT CAST(json_extract(params, '$.detection_run_id') AS BIGINT)
                              FROM runs WHERE step = 'cluster'))
           SELECT max(run_id) FROM w
           WHERE until = (SELECT until FROM w WHERE run_id = ?) AND lookback IS NOT NULL
           GROUP BY lookback ORDER BY lookback""",
        [latest],
    ).fetchall()
    runs = [int(r[0]) for r in rows]
    return runs if latest in runs else [latest]


def recent_since(con: duckdb.DuckDBPyConnection, run_id: int) -> datetime | None:
    """For a watch run with a recent window (``scope.recent_s``): its start. Such a run
    detects on days of evidence, but a cluster is new only if it co-acted since then."""
    rows = con.execute(
        "SELECT CAST(json_extract_string(params, '$.scope.until') AS TIMESTAMPTZ), "
        "CAST(json_extract(params, '$.scope.recent_s') AS DOUBLE) FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()
    if not rows or rows[0][0] is None or not rows[0][1]:
        return None
    return rows[0][0] - timedelta(seconds=float(rows[0][1]))


def previous_clustered_run(con: duckdb.DuckDBPyConnection, run_id: int) -> int | None:
    scope = _scope(con, run_id)
    rows = con.execute(
        """SELECT DISTINCT CAST(json_extract(c.params, '$.detection_run_id') AS BIGINT) AS rid
           FROM runs c WHERE c.step = 'cluster'
             AND CAST(json_extract(c.params, '$.detection_run_id') AS BIGINT) < ?
           ORDER BY rid DESC""",
        [run_id],
    ).fetchall()
    for (rid,) in rows:
        if _scope(con, int(rid)) == scope:
            return int(rid)
    return None


def _clusters(
    con: duckdb.DuckDBPyConnection, run_id: int, min_size: int, min_suspicion: float
) -> list[dict[str, Any]]:
    rel = con.execute(
        """SELECT cluster_id, size, suspicion, density, objects, n_modalities, modalities,
                  median_delay_s, coaction_share, first_t, last_t, top_objects
           FROM clusters WHERE run_id = ? AND size >= ? AND coalesce(suspicion, 0) >= ?
           ORDER BY suspicion DESC, cluster_id""",
        [run_id, min_size, min_suspicion],
    )
    cols = [d[0] for d in rel.description]
    out = []
    for r in rel.fetchall():
        d = dict(zip(cols, r, strict=True))
        for k in ("modalities", "top_objects"):
            d[k] = json.loads(d[k]) if isinstance(d[k], str) else (d[k] or {})
        out.append(d)
    return out


def _members(
    con: duckdb.DuckDBPyConnection, run_id: int, cluster_ids: Sequence[int] | None = None
) -> dict[int, list[str]]:
    """Members of a run's clusters, most connected first."""
    where = ""
    params: list[Any] = [run_id]
    if cluster_ids is not None:
        if not cluster_ids:
            return {}
        where = f" AND cluster_id IN ({', '.join('?' for _ in cluster_ids)})"
        params += list(cluster_ids)
    rows = con.execute(
        "SELECT cluster_id, list(account_id ORDER BY strength DESC, account_id) "
        f"FROM cluster_members WHERE run_id = ?{where} GROUP BY cluster_id",
        params,
    ).fetchall()
    return {int(c): list(m) for c, m in rows}


def _top_objects(top: dict[str, Any], k: int = 10) -> list[dict[str, Any]]:
    items = [
        {"type": t, "id": o.get("object"), "members": o.get("members"), "label": o.get("label")}
        for t, objs in (top or {}).items()
        for o in objs or []
    ]
    items.sort(key=lambda o: (-(o["members"] or 0), str(o["id"])))
    return items[:k]


def _sample_posts(
    con: duckdb.DuckDBPyConnection,
    members: dict[int, list[str]],
    objects: dict[int, list[dict[str, Any]]],
    ranges: dict[int, tuple[Any, Any]],
) -> dict[int, list[str]]:
    """Up to MAX_POSTS posts per cluster: members acting on the cluster's top objects
    within its time range, in one pass over ``actions``."""
    m = [(c, a) for c, accs in members.items() for a in accs]
    o = [(c, ob["type"], ob["id"]) for c, obs in objects.items() for ob in obs if ob["id"]]
    if not m or not o:
        return {}
    r = [(c, lo, hi) for c, (lo, hi) in ranges.items() if lo is not None and hi is not None]
    con.execute("CREATE OR REPLACE TEMP TABLE _warn_m (cluster_id BIGINT, account_id VARCHAR)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _warn_o (cluster_id BIGINT, object_type VARCHAR, object_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _warn_r (cluster_id BIGINT, lo TIMESTAMPTZ, hi TIMESTAMPTZ)"
    )
    try:
        con.executemany("INSERT INTO _warn_m VALUES (?, ?)", m)
        con.executemany("INSERT INTO _warn_o VALUES (?, ?, ?)", o)
        if r:
            con.executemany("INSERT INTO _warn_r VALUES (?, ?, ?)", r)
        rows = con.execute(
            f"""SELECT cluster_id, list(post_id ORDER BY t, post_id)[1:{MAX_POSTS}] FROM (
                  SELECT DISTINCT m.cluster_id, a.post_id, a.t
                  FROM actions a
                  JOIN _warn_m m ON a.account_id = m.account_id
                  JOIN _warn_o o ON o.cluster_id = m.cluster_id AND a.object_type = o.object_type
                                 AND a.object_id = o.object_id
                  JOIN _warn_r r ON r.cluster_id = m.cluster_id AND a.t BETWEEN r.lo AND r.hi
                  WHERE a.t BETWEEN ? AND ?)
                GROUP BY cluster_id""",
            # The clusters' overall time span: lets the scan skip the rest of `actions`.
            [min(x[1] for x in r), max(x[2] for x in r)] if r else [None, None],
        ).fetchall()
    finally:
        for t in ("_warn_m", "_warn_o", "_warn_r"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return {int(c): list(p) for c, p in rows}


def _cluster_evidence(
    run_id: int, c: dict[str, Any], members: list[str], posts: list[str]
) -> dict[str, Any]:
    return {
        "key": "cluster",
        "detection_run_id": run_id,
        "cluster_id": c["cluster_id"],
        "accounts": members[:MAX_ACCOUNTS],
        "accounts_total": len(members),
        "objects": _top_objects(c["top_objects"]),
        "posts": posts,
        "modalities": c["modalities"],
        "time_range": {"from": c["first_t"], "to": c["last_t"]},
        "caveat": CAVEAT,
    }


def _label(objects: list[dict[str, Any]]) -> str:
    if not objects:
        return ""
    o = objects[0]
    text = str(o.get("label") or o.get("id") or "")
    return f" on {o['type']} {text[:80]!r}"


# -- cluster_new ------------------------------------------------------------------------


def evaluate_new(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    p = rule.params
    runs = current_runs(con)
    if not runs:
        raise Skipped("no clustered detection run yet (`civicsentry detect`)")
    out: list[Finding] = []
    for run_id in runs:
        # A cluster a shorter window of the same pass found already is not found twice.
        out += [
            f
            for f in _new_in_run(con, run_id, p)
            if not any(overlap(f.members, g.members) >= p["min_overlap"] for g in out)
        ]
    return out


def _new_in_run(con: duckdb.DuckDBPyConnection, run_id: int, p: dict[str, Any]) -> list[Finding]:
    found = _clusters(con, run_id, p["min_size"], p["min_suspicion"])
    since = recent_since(con, run_id)
    if since is not None:  # older evidence counts, but only recent activity is new
        found = [c for c in found if c["last_t"] is not None and c["last_t"] >= since]
    members = _members(con, run_id, [c["cluster_id"] for c in found])
    objects = {c["cluster_id"]: _top_objects(c["top_objects"]) for c in found}
    ranges = {c["cluster_id"]: (c["first_t"], c["last_t"]) for c in found}
    posts = _sample_posts(con, members, objects, ranges)
    out = []
    for c in found:
        cid = c["cluster_id"]
        ev = _cluster_evidence(run_id, c, members.get(cid, []), posts.get(cid, []))
        ev["numbers"] = {
            "size": c["size"],
            "suspicion": round(float(c["suspicion"] or 0), 4),
            "density": round(float(c["density"] or 0), 4),
            "objects": c["objects"],
            "modalities": c["n_modalities"],
            "median_delay_s": c["median_delay_s"],
        }
        title = (
            f"Coordinated cluster of {c['size']} accounts (suspicion {float(c['suspicion'] or 0):.2f})"
            + _label(ev["objects"])
        )
        out.append(
            Finding(title, "cluster", ev, identity="members", members=tuple(members.get(cid, [])))
        )
    return out


CLUSTER_NEW = Family(
    name="cluster_new",
    doc="A coordinated cluster in the latest detection run (in watch, in any of the "
    "pass's windows, having co-acted within the recent one), not alerted before.",
    params={
        "min_size": Param(3, "int", "smallest cluster that raises an alert"),
        "min_suspicion": Param(0.5, "float", "lowest suspicion score (docs/clusters.md)"),
        "min_overlap": Param(0.5, "float", "member overlap that makes it the same cluster"),
    },
    metrics=("size", "suspicion", "density", "objects", "modalities", "median_delay_s"),
    requires=("clusters", "cluster_members"),
    evaluate=evaluate_new,
    identity="members",
)


# -- cluster_growth ---------------------------------------------------------------------


def _per_hour(c: dict[str, Any]) -> float | None:
    if c.get("first_t") is None or c.get("last_t") is None:
        return None
    hours = max((c["last_t"] - c["first_t"]).total_seconds() / 3600, 1.0)
    return float(c["objects"] or 0) / hours


def evaluate_growth(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    p = rule.params
    run_id = latest_clustered_run(con)
    if run_id is None:
        raise Skipped("no clustered detection run yet (`civicsentry detect`)")
    prev_id = previous_clustered_run(con, run_id)
    if prev_id is None:
        raise Skipped(f"run {run_id} has no earlier clustered run of the same scope to compare")
    now = _clusters(con, run_id, p["min_size"], p["min_suspicion"])
    before = _clusters(con, prev_id, 2, 0.0)
    m_now = _members(con, run_id, [c["cluster_id"] for c in now])
    m_before = _members(con, prev_id)
    by_id = {c["cluster_id"]: c for c in before}
    out = []
    for c in now:
        cid = c["cluster_id"]
        members = m_now.get(cid, [])
        best, match = 0.0, None
        for pid, pm in m_before.items():
            o = overlap(members, pm)
            if o > best:
                best, match = o, pid
        if match is None or best < p["min_match"] or match not in by_id:
            continue  # a new cluster: cluster_new's business
        prev = by_id[match]
        prev_members = set(m_before[match])
        new = [a for a in members if a not in prev_members]
        growth = len(members) / max(len(prev_members), 1)
        rate, prev_rate = _per_hour(c), _per_hour(prev)
        accel = rate / prev_rate if rate is not None and prev_rate else None
        grew = len(new) >= p["min_new_members"] and growth >= p["min_growth"]
        sped = (
            accel is not None
            and accel >= p["min_acceleration"]
            and (c["objects"] or 0) >= p["min_objects"]
        )
        if not (grew or sped):
            continue
        ev = _cluster_evidence(run_id, c, members, [])
        ev |= {
            "previous_run_id": prev_id,
            "previous_cluster_id": match,
            "accounts_new": new[:MAX_ACCOUNTS],
            "match_overlap": round(best, 4),
        }
        ev["numbers"] = {
            "size": len(members),
            "previous_size": len(prev_members),
            "new_members": len(new),
            "growth": round(growth, 4),
            "objects_per_hour": None if rate is None else round(rate, 4),
            "previous_objects_per_hour": None if prev_rate is None else round(prev_rate, 4),
            "acceleration": None if accel is None else round(accel, 4),
            "suspicion": round(float(c["suspicion"] or 0), 4),
        }
        what = (
            f"grew from {len(prev_members)} to {len(members)} accounts"
            if grew
            else f"acts {accel:.1f}× faster ({rate:.2f} objects/h)"
        )
        out.append(
            Finding(
                f"Coordinated cluster {what}" + _label(ev["objects"]),
                "cluster",
                ev,
                identity="members",
                members=tuple(members),
            )
        )
    return out


CLUSTER_GROWTH = Family(
    name="cluster_growth",
    doc="A coordinated cluster that grew or sped up since the previous detection run of the same scope.",
    params={
        "min_size": Param(3, "int", "smallest cluster considered"),
        "min_suspicion": Param(0.5, "float", "lowest suspicion score"),
        "min_match": Param(0.3, "float", "member overlap with the earlier cluster it continues"),
        "min_new_members": Param(5, "int", "new accounts needed to call it growth"),
        "min_growth": Param(1.5, "float", "size now / size before"),
        "min_acceleration": Param(3.0, "float", "objects per hour now / before"),
        "min_objects": Param(10, "int", "objects co-acted on, for acceleration"),
        "min_overlap": Param(0.5, "float", "member overlap that makes it the same alert"),
    },
    metrics=(
        "size",
        "previous_size",
        "new_members",
        "growth",
        "objects_per_hour",
        "acceleration",
        "suspicion",
    ),
    requires=("clusters", "cluster_members"),
    evaluate=evaluate_growth,
    identity="members",
)


# -- foreign_schedule -------------------------------------------------------------------

_SCHEDULE_COLUMNS = ("signals_run_id", "run_id", "cluster_id", "utc_offset", "foreign")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


def evaluate_foreign(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    p = rule.params
    cols = _columns(con, "cluster_schedules")
    missing = [c for c in _SCHEDULE_COLUMNS if c not in cols]
    if missing:
        raise Skipped(f"cluster_schedules lacks {', '.join(missing)}")
    if not con.execute("SELECT count(*) FROM cluster_schedules").fetchall()[0][0]:
        raise Skipped("no cluster schedules yet (the account-signals stage has not run)")
    optional = [
        c
        for c in (
            "members",
            "confidence",
            "workday_share",
            "population_offset",
            "offset_gap",
            "explanation",
        )
        if c in cols
    ]
    select = ", ".join(f'"{c}"' for c in [*_SCHEDULE_COLUMNS, *optional])
    rel = con.execute(
        f"""SELECT {select} FROM cluster_schedules
            WHERE signals_run_id = (SELECT max(signals_run_id) FROM cluster_schedules)
              AND "foreign" {"AND coalesce(confidence, 1) >= ?" if "confidence" in cols else ""}
            ORDER BY cluster_id""",
        [p["min_confidence"]] if "confidence" in cols else [],
    )
    names = [d[0] for d in rel.description]
    rows = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    out = []
    for r in rows:
        members = _members(con, int(r["run_id"]), [int(r["cluster_id"])]).get(int(r["cluster_id"]))
        if not members and isinstance(r.get("members"), list):
            members = [str(a) for a in r["members"]]
        members = members or []
        if len(members) < p["min_members"]:
            continue
        c = con.execute(
            "SELECT first_t, last_t, top_objects, suspicion FROM clusters WHERE run_id = ? AND cluster_id = ?",
            [r["run_id"], r["cluster_id"]],
        ).fetchall()
        first_t, last_t, top, suspicion = c[0] if c else (None, None, None, None)
        objects = _top_objects(json.loads(top) if isinstance(top, str) else (top or {}))
        offset, pop = r.get("utc_offset"), r.get("population_offset")
        gap = r.get("offset_gap")  # the signals stage's (circular) distance, else ours
        if gap is None and offset is not None and pop is not None:
            gap = abs(float(offset) - float(pop))
        ev = {
            "key": "cluster",
            "signals_run_id": r["signals_run_id"],
            "detection_run_id": r["run_id"],
            "cluster_id": r["cluster_id"],
            "accounts": members[:MAX_ACCOUNTS],
            "accounts_total": len(members),
            "objects": objects,
            "posts": [],
            "time_range": {"from": first_t, "to": last_t},
            "explanation": r.get("explanation"),
            "numbers": {
                "members": len(members),
                "utc_offset": offset,
                "population_offset": pop,
                "offset_gap_h": gap,
                "confidence": r.get("confidence"),
                "workday_share": r.get("workday_share"),
                "suspicion": suspicion,
            },
            "caveat": "A schedule is a statistical estimate; people travel, work nights and "
            "live abroad (docs/alerts.md).",
        }
        where = f"UTC{float(offset):+g}" if offset is not None else "a foreign"
        pop_s = f" (population UTC{float(pop):+g})" if pop is not None else ""
        out.append(
            Finding(
                f"Cluster of {len(members)} accounts keeps office hours at {where}{pop_s}",
                "cluster",
                ev,
                identity="members",
                members=tuple(members),
            )
        )
    return out


FOREIGN_SCHEDULE = Family(
    name="foreign_schedule",
    doc="A coordinated cluster whose activity follows a work-day schedule in a time zone "
    "foreign to the population it posts into (from the account-signals stage).",
    params={
        "min_members": Param(3, "int", "smallest cluster"),
        "min_confidence": Param(0.5, "float", "lowest confidence of the schedule estimate"),
        "min_overlap": Param(0.5, "float", "member overlap that makes it the same alert"),
    },
    metrics=("members", "offset_gap_h", "confidence", "workday_share", "suspicion"),
    requires=("cluster_schedules", "clusters", "cluster_members"),
    evaluate=evaluate_foreign,
    identity="members",
)
