"""Read-only views for exploring a workspace: post volume over time, post search, one
account's activity and rhythm, and a cluster's network as nodes and edges.

The dashboard, the REST API and the report call these; they never compute what the
detect stage should have stored, they only read and aggregate the stored tables.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import InvalidParams, NotFound
from ..store import Workspace
from . import clusters as _clusters
from . import detect as _detect
from .handles import with_handles

#: Edges drawn at most for one cluster (the heaviest are kept and the cut is reported).
MAX_NETWORK_EDGES = 20_000
BUCKETS = ("hour", "day", "week")


def _rows(ws: Workspace, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return ws.dicts(query, params)


def has_rows(ws: Workspace, table: str) -> bool:
    """True when the schema table ``table`` holds at least one row (views degrade
    otherwise). Opening a workspace creates or migrates every schema table, so only
    emptiness is a real case here."""
    return bool(ws.scalar(f'SELECT EXISTS (SELECT 1 FROM "{table}")'))


def volume(ws: Workspace, *, bucket: str | None = None) -> dict[str, Any]:
    """Posts per platform per time bucket (hour, day or week; by default the finest that
    gives at most ~400 buckets over the data's span)."""
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidParams(f"bucket is one of {', '.join(BUCKETS)}, not {bucket!r}.")
    span = ws.con.execute("SELECT min(created_at), max(created_at) FROM posts").fetchall()[0]
    if not span or span[0] is None:
        return {"bucket": bucket or "day", "platforms": [], "series": {}, "totals": {}}
    if bucket is None:
        hours = (span[1] - span[0]).total_seconds() / 3600
        bucket = "hour" if hours <= 400 else "day" if hours <= 400 * 24 else "week"
    rows = ws.sql(
        f"SELECT platform, date_trunc('{bucket}', created_at) AS t, count(*) AS n "
        "FROM posts GROUP BY ALL ORDER BY t, platform"
    ).fetchall()
    series: dict[str, list[list[Any]]] = {}
    for platform, t, n in rows:
        series.setdefault(platform, []).append([t.isoformat(), int(n)])
    totals = {p: sum(n for _, n in pts) for p, pts in series.items()}
    return {
        "bucket": bucket,
        "platforms": sorted(series, key=lambda p: -totals[p]),
        "series": series,
        "totals": totals,
    }


def _post_where(
    q: str | None,
    account_id: str | None,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, list[Any]]:
    conds, params = [], []
    if q:
        # A plain substring (no LIKE wildcards to escape), case-insensitive.
        conds.append("contains(lower(p.text), lower(?))")
        params.append(q)
    if account_id:
        conds.append("p.account_id = ?")
        params.append(account_id)
    if platform:
        conds.append("p.platform = ?")
        params.append(platform)
    if since:
        conds.append("p.created_at >= ?")
        params.append(since)
    if until:
        conds.append("p.created_at < ?")
        params.append(until)
    return ("WHERE " + " AND ".join(conds)) if conds else "", params


_POST_COLUMNS = (
    "post_id, platform, account_id, created_at, kind, parent_post_id, text, lang, urls, hashtags"
)


def search_posts(
    ws: Workspace,
    *,
    q: str | None = None,
    account_id: str | None = None,
    platform: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Posts matching every filter given (``q``: a case-insensitive substring of the
    text), newest first, with the author's handle."""
    return with_handles(ws, _posts(ws, q, account_id, platform, since, until, limit, offset))


def _posts(
    ws: Workspace,
    q: str | None,
    account_id: str | None,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """``search_posts`` without the handles."""
    where, params = _post_where(q, None, platform, since, until)
    source = "posts p"
    if account_id:
        # One account's posts come through the posts.account_id index (a lone equality
        # filter, materialised first): under ORDER BY ... LIMIT or next to other
        # filters, DuckDB plans a scan of the whole table instead. Rows found by the
        # index are fetched column by column, so only the columns shown are read.
        source = (
            f"(WITH m AS MATERIALIZED (SELECT {_POST_COLUMNS} FROM posts WHERE account_id = ?) "
            "SELECT * FROM m) p"
        )
        params = [account_id, *params]
    return _rows(
        ws,
        f"SELECT {_POST_COLUMNS} FROM {source} {where} "
        f"ORDER BY p.created_at DESC, p.post_id LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )


def count_posts(
    ws: Workspace,
    *,
    q: str | None = None,
    account_id: str | None = None,
    platform: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    where, params = _post_where(q, account_id, platform, since, until)
    return int(ws.scalar(f"SELECT count(*) FROM posts p {where}", params))


def account_overview(
    ws: Workspace,
    account_id: str,
    *,
    posts_limit: int | None = None,
    posts_offset: int = 0,
    runs: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One account: its profile, activity figures, hour × weekday rhythm (UTC), the
    clusters it belongs to in the latest clustered run, and its object types. With
    ``posts_limit``, also ``posts``: one page of its posts, newest first, as
    ``search_posts(account_id=...)`` gives them. ``runs``: the detect and cluster rows
    of ``runs``, when the caller has read them (``read_runs``)."""
    rows = _rows(ws, "SELECT * FROM accounts WHERE account_id = ?", [account_id])
    if not rows:
        raise NotFound(f"No account {account_id!r} in this workspace.")
    page, every_post = None, False
    if posts_limit is not None:
        page = with_handles(  # the handle is the account row's: no look-up of its own
            ws,
            _posts(ws, None, account_id, None, None, None, posts_limit, posts_offset),
            names={account_id: rows[0]["handle"]},
        )
        # A first page that is not full holds every post of the account.
        every_post = posts_offset == 0 and len(page) < posts_limit
    # (kind, ISO weekday 1 = Monday ... 7, hour, posts, first, last) per group of posts.
    groups: list[tuple[Any, ...]]
    if page is not None and every_post:
        # Counted from the page rather than fetched from the index a second time.
        groups = [
            (p["kind"], t.isoweekday(), t.hour, 1, t, t) for p in page for t in [p["created_at"]]
        ]
    else:
        groups = ws.con.execute(
            "SELECT kind, isodow(created_at), hour(created_at), count(*), min(created_at), "
            "max(created_at) FROM posts WHERE account_id = ? GROUP BY ALL",
            [account_id],
        ).fetchall()
    # The grid is [weekday 0..6][hour 0..23].
    grid = [[0] * 24 for _ in range(7)]
    kinds: dict[str, int] = {}
    first = last = None
    for kind, dow, hour, n, t0, t1 in groups:
        grid[int(dow) - 1][int(hour)] += int(n)
        kinds[kind] = kinds.get(kind, 0) + int(n)
        first = t0 if first is None or t0 < first else first
        last = t1 if last is None or t1 > last else last
    # Most posts first; ties by name (the groups come in no set order).
    kinds = dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    stats = {"posts": sum(kinds.values()), "first_post": first, "last_post": last}
    out = {
        "account": rows[0],
        "activity": stats | {"kinds": kinds},
        "rhythm": {
            "timezone": "UTC",
            "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            "counts": grid,
        },
        "clusters": account_clusters(ws, account_id, runs=runs),
    }
    return out if page is None else out | {"posts": page}


def read_runs(ws: Workspace, steps: Sequence[str]) -> list[dict[str, Any]]:
    """The current ``runs`` rows of ``steps``, newest first, params and summary parsed:
    the latest run of each (step, name), and the clusterings of the latest coordination
    run. Not every run: ``watch`` adds runs on every pass, and a view would parse all of
    them on every request (two plain statements: one with subqueries costs ~3x more; at
    8,000 runs this read takes ~11 ms of CPU, all of them parsed ~160 ms)."""
    marks = ", ".join("?" for _ in steps)
    heads = ws.con.execute(
        "SELECT run_id, step, name, CASE WHEN step = ? THEN "
        "json_extract_string(params, '$.detection_run_id') END "
        f"FROM runs WHERE step IN ({marks})",
        [_clusters.RUN_STEP, *steps],
    ).fetchall()
    latest: dict[tuple[str, str], int] = {}
    for rid, step, name, _ in heads:
        latest[(step, name)] = max(rid, latest.get((step, name), rid))
    wanted = set(latest.values())
    detection = latest.get(("detect", _detect.RUN_NAME))
    # Its clusterings are picked loosely here (the id as any JSON number or text), exactly
    # by clusters.clusterings afterwards.
    wanted.update(rid for rid, _, _, of in heads if of is not None and _number(of) == detection)
    if not wanted:
        return []
    rows = ws.dicts(
        f"SELECT * FROM runs WHERE run_id IN ({', '.join('?' for _ in wanted)})", list(wanted)
    )
    rows.sort(key=lambda r: -r["run_id"])  # not ORDER BY: its sort costs ~0.4 ms more
    for r in rows:
        r["params"] = json.loads(r["params"] or "{}")
        r["summary"] = json.loads(r["summary"] or "{}")
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def clustered_run_of(runs: Sequence[dict[str, Any]]) -> int | None:
    """``clusters.clustered_run_id(ws)`` from rows of ``read_runs(ws, ("detect",
    "cluster"))``: the latest detection run when it has been clustered, else None."""
    detections = [r for r in runs if r["step"] == "detect" and r["name"] == _detect.RUN_NAME]
    if not detections:
        return None
    rid = max(int(r["run_id"]) for r in detections)
    return rid if _clusters.clusterings(runs, rid) else None


def account_clusters(
    ws: Workspace, account_id: str, *, runs: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The clusters of the latest clustered run that hold the account (``runs``: as
    ``read_runs`` gives them, steps detect and cluster at least, when already read;
    otherwise they are read here)."""
    if runs is None:
        runs = read_runs(ws, ("detect", _clusters.RUN_STEP))
    rid = clustered_run_of(runs)
    if rid is None:
        return []
    rows = _rows(
        ws,
        "SELECT c.run_id, c.cluster_id, c.size, c.suspicion, m.degree, m.strength, "
        "m.coaction_share FROM cluster_members m JOIN clusters c USING (run_id, cluster_id) "
        "WHERE m.run_id = ? AND m.account_id = ?",
        [rid, account_id],
    )
    # ORDER BY suspicion DESC (ties by id), sorted here: a few rows, and DuckDB's sort
    # operator costs ~0.4 ms a statement.
    rows.sort(key=lambda r: (_clusters.desc_key(r["suspicion"]), r["cluster_id"]))
    return rows


def cluster_summary(ws: Workspace, cluster_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Run, id, size and suspicion of one cluster (InvalidParams when there is none): the
    cluster as a link, without reading its members."""
    rid = _clusters.clustered_run_id(ws, run_id)
    rows = _rows(
        ws,
        "SELECT run_id, cluster_id, size, suspicion FROM clusters "
        "WHERE run_id = ? AND cluster_id = ?",
        [rid, int(cluster_id)],
    )
    if not rows:
        raise InvalidParams(
            f"Run {rid} has no cluster {cluster_id}; `civicsentry clusters list` shows them."
        )
    return rows[0]


def clustered_network(ws: Workspace, run_id: int) -> str:
    """The network (``multi`` or an object type) the latest clustering of a run used."""
    value = ws.scalar(
        "SELECT json_extract_string(params, '$.network') FROM runs WHERE step = 'cluster' "
        "AND CAST(json_extract(params, '$.detection_run_id') AS BIGINT) = ? "
        "ORDER BY run_id DESC LIMIT 1",
        [run_id],
    )
    return str(value or "multi")


def _network_of(clusterings: list[dict[str, Any]]) -> str | None:
    """``clustered_network`` from the run's clustering rows (``clusters.clusterings``),
    or None when the latest one's ``network`` is neither text nor absent (then the SQL
    answers, as it always did)."""
    params = json.loads(clusterings[-1]["params"] or "{}") if clusterings else {}
    value = params.get("network") if isinstance(params, dict) else None
    if value is None or isinstance(value, str):
        return str(value or "multi")
    return None


#: Upper bounds (seconds) of the delay histogram's bins; the last bin is open.
DELAY_BINS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
#: Delays of one cluster binned in Python at most (more are grouped by DuckDB).
BIN_IN_PYTHON = 2000


def cluster_delays(ws: Workspace, cluster_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Histogram of the typical delay of a cluster's internal edges (the edge's median
    delay for our semantics, its mean delay for the peers'), in seconds."""
    return delay_histogram(ws, _clusters.clustered_run_id(ws, run_id), cluster_id)


def delay_histogram(ws: Workspace, rid: int, cluster_id: int) -> dict[str, Any]:
    """``cluster_delays`` of a run already checked by ``clusters.clustered_run_id``,
    from the cluster's stored edges (``cluster_edges``)."""
    # Bin i holds delays < DELAY_BINS[i] and ≥ the bound before; NaN sorts last in
    # DuckDB, so it falls in the open bin, as it does by comparison in Python (bisect).
    counts = [0] * (len(DELAY_BINS) + 1)
    # A cluster's few hundred delays are binned here faster than DuckDB groups them
    # (its hash aggregate costs ~0.7 ms a statement); more are grouped in SQL.
    delays = ws.con.execute(
        "SELECT delay_s FROM cluster_edges WHERE run_id = ? AND cluster_id = ? "
        f"AND delay_s IS NOT NULL LIMIT {BIN_IN_PYTHON + 1}",
        [rid, int(cluster_id)],
    ).fetchall()
    if len(delays) <= BIN_IN_PYTHON:
        for (d,) in delays:
            counts[bisect_right(DELAY_BINS, d)] += 1
    else:
        case = " ".join(f"WHEN delay_s < {b} THEN {i}" for i, b in enumerate(DELAY_BINS))
        for i, n in ws.con.execute(
            f"SELECT CASE {case} ELSE {len(DELAY_BINS)} END AS bin, count(*) "
            "FROM cluster_edges WHERE run_id = ? AND cluster_id = ? AND delay_s IS NOT NULL "
            "GROUP BY ALL",
            [rid, int(cluster_id)],
        ).fetchall():
            counts[int(i)] = int(n)
    labels = [f"<{b}s" for b in DELAY_BINS] + [f"≥{DELAY_BINS[-1]}s"]
    return {
        "edges": sum(counts),
        "bins": [[lab, n] for lab, n in zip(labels, counts, strict=True)],
    }


def cluster_network(
    ws: Workspace,
    cluster_id: int,
    run_id: int | None = None,
    *,
    max_edges: int = MAX_NETWORK_EDGES,
) -> dict[str, Any]:
    """A cluster's coordination network for drawing: members as nodes (strength, degree,
    co-action share, handle) and the heaviest ``max_edges`` internal edges of the
    clustered network (significant edges of the ``multi`` network for our semantics)."""
    rid, read = _clusters.clustered_runs(ws, run_id)
    members = _clusters.members_of(ws, rid, cluster_id)
    if not members:  # a cluster has two members or more
        cluster_summary(ws, cluster_id, rid)  # says so when there is no such cluster
    network = _network_of(_clusters.clusterings(read, rid))
    if network is None:
        network = clustered_network(ws, rid)
    nodes = [
        {
            "id": m["account_id"],
            "handle": m["handle"],
            "degree": m["degree"],
            "strength": m["strength"],
            "coaction_share": m["coaction_share"],
        }
        for m in members
    ]
    rows = ws.con.execute(  # one pass over the edges gives the heaviest and how many in all
        "SELECT account_a, account_b, weight, object_types, count(*) OVER () FROM cluster_edges "
        "WHERE run_id = ? AND cluster_id = ? "
        f"ORDER BY weight DESC, account_a, account_b LIMIT {int(max_edges)}",
        [rid, int(cluster_id)],
    ).fetchall()
    edges = [{"source": a, "target": b, "weight": w, "types": t} for a, b, w, t, _ in rows]
    total = int(rows[0][4]) if rows else 0
    return {
        "run_id": rid,
        "cluster_id": int(cluster_id),
        "network": network,
        "nodes": nodes,
        "edges": edges,
        "edges_total": total,
        "edges_capped": total > len(edges),
    }


def runs(
    ws: Workspace, run_ids: list[int], *, read: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The ``runs`` rows of ``run_ids`` with their parameters and summary parsed: what
    made a result, for the methods section of a view or report. ``read``: rows of
    ``runs`` as stored (e.g. from ``clusters.clustered_runs``) to take them from when
    they hold every one asked for; otherwise they are read."""
    if not run_ids:
        return []
    have = {int(r["run_id"]): r for r in read or ()}
    if all(int(i) in have for i in run_ids):
        out = [dict(have[i]) for i in sorted({int(i) for i in run_ids})]
    else:
        out = _rows(
            ws,
            f"SELECT * FROM runs WHERE run_id IN ({', '.join('?' for _ in run_ids)}) "
            "ORDER BY run_id",
            list(run_ids),
        )
    for r in out:
        for k in ("params", "summary"):
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
    return out


def cluster_posts(
    ws: Workspace, cluster_id: int, run_id: int | None = None, *, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """Posts by a cluster's members inside the cluster's active time range, oldest first."""
    rid = _clusters.clustered_run_id(ws, run_id)
    return _rows(
        ws,
        "SELECT p.post_id, p.platform, p.account_id, a.handle, p.created_at, p.kind, "
        "p.parent_post_id, p.text, p.urls FROM cluster_members m "
        "JOIN clusters c USING (run_id, cluster_id) "
        "JOIN posts p ON p.account_id = m.account_id "
        "AND p.created_at BETWEEN c.first_t AND c.last_t "
        "LEFT JOIN accounts a ON a.account_id = p.account_id "
        "WHERE m.run_id = ? AND m.cluster_id = ? "
        f"ORDER BY p.created_at, p.post_id LIMIT {int(limit)} OFFSET {int(offset)}",
        [rid, int(cluster_id)],
    )


def count_signals(
    ws: Workspace,
    run_id: int | None,
    *,
    min_score: float | None = None,
    platform: str | None = None,
    foreign_only: bool = False,
) -> int:
    """Accounts of a signals run matching the filters of ``accounts.top_accounts``."""
    where, params = _signals_where(run_id, min_score, platform, foreign_only)
    return int(ws.scalar(f"SELECT count(*) FROM account_signals WHERE {where}", params))


def signals_page(
    ws: Workspace,
    run_id: int | None,
    *,
    min_score: float | None = None,
    platform: str | None = None,
    foreign_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[tuple[str, float | None]]:
    """(account id, score) of one page of ``accounts.top_accounts`` (highest score
    first), read from two columns: sorting these and reading whole rows for one page
    beats reading every signal of every account of the run, which grows with it."""
    where, params = _signals_where(run_id, min_score, platform, foreign_only)
    return [
        (a, s)
        for a, s in ws.con.execute(
            f"SELECT account_id, score FROM account_signals WHERE {where} "
            f"ORDER BY score DESC NULLS LAST, rank LIMIT {int(limit)} OFFSET {int(offset)}",
            params,
        ).fetchall()
    ]


def _signals_where(
    run_id: int | None, min_score: float | None, platform: str | None, foreign_only: bool
) -> tuple[str, list[Any]]:
    conds, params = ["run_id = ?"], [run_id]
    if min_score is not None:
        conds.append("score >= ?")
        params.append(min_score)
    if platform:
        conds.append("platform = ?")
        params.append(platform)
    if foreign_only:
        conds.append("foreign_schedule")
    return " AND ".join(conds), params


def count_matches(
    ws: Workspace, run_id: int, *, claim_id: str | None = None, method: str | None = None
) -> int:
    """Claim matches of a run with the filters of ``claims.list_matches``."""
    conds, params = ["run_id = ?"], [run_id]
    if claim_id:
        conds.append("claim_id = ?")
        params.append(claim_id)
    if method:
        conds.append("method = ?")
        params.append(method)
    return int(ws.scalar(f"SELECT count(*) FROM claim_matches WHERE {' AND '.join(conds)}", params))
