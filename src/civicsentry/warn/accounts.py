"""Account creation bursts: many accounts in the workspace created in the same day (or
bucket), far above the creation rate of the days before.

Campaigns buy or make their accounts in batches, so their creation dates cluster. The
baseline of a bucket is the buckets just before it (account creation has no weekly
rhythm worth modelling), scored robustly (``baseline``). Only the accounts the workspace
holds count: this is "accounts active here, created together", not a platform-wide
figure. Real sign-up waves (a viral app moment, an election-day registration push)
look the same: read the accounts before acting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from .base import Context, Family, Finding, Param, Rule, Skipped
from .baseline import seasonal_baseline
from .clusters import MAX_ACCOUNTS, latest_clustered_run


def evaluate(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    p = rule.params
    bucket = int(p["bucket"])
    if bucket <= 0:
        raise Skipped("bucket must be positive")
    rows = con.execute(
        f"""SELECT (epoch(created_at)::BIGINT // {bucket}) * {bucket} AS b, count(*)
            FROM accounts WHERE created_at IS NOT NULL AND created_at <= ?
            GROUP BY b ORDER BY b""",
        [ctx.now],
    ).fetchall()
    if not rows:
        raise Skipped("no account has a creation date (the sources gave none)")
    counts = {int(b): int(n) for b, n in rows}
    first = min(counts)
    history = int(p["history"] // bucket)
    fired = []
    for b, n in counts.items():
        if n < p["min_accounts"]:
            continue
        base = seasonal_baseline(
            counts,
            b,
            bucket_s=bucket,
            first=first,
            min_history=p["min_history"],
            weeks=0,
            days=0,
            trailing=history,
        )
        if base is None:
            continue
        z = base.z(n)
        if z >= p["z"] and n >= p["min_ratio"] * max(base.median, 1.0):
            fired.append((b, n, base, z))
    if not fired:
        return []
    episodes: list[list[tuple[int, int, Any, float]]] = []
    for f in fired:  # adjacent (or within `gap`) firing buckets are one burst
        if episodes and f[0] - (episodes[-1][-1][0] + bucket) <= p["gap"]:
            episodes[-1].append(f)
        else:
            episodes.append([f])
    run_id = latest_clustered_run(con)
    return [_finding(con, e, bucket, run_id, ctx) for e in episodes]


def _finding(
    con: duckdb.DuckDBPyConnection,
    episode: list[tuple[int, int, Any, float]],
    bucket: int,
    run_id: int | None,
    ctx: Context,
) -> Finding:
    lo = datetime.fromtimestamp(episode[0][0], UTC)
    hi = datetime.fromtimestamp(episode[-1][0] + bucket, UTC)
    _, peak, base, z = max(episode, key=lambda e: e[3])
    accounts = [
        r[0]
        for r in con.execute(
            "SELECT account_id FROM accounts WHERE created_at >= ? AND created_at < ? "
            "ORDER BY created_at, account_id",
            [lo, hi],
        ).fetchall()
    ]
    in_clusters = 0
    if run_id is not None:
        in_clusters = int(
            con.execute(
                "SELECT count(DISTINCT m.account_id) FROM cluster_members m "
                "JOIN accounts a USING (account_id) "
                "WHERE m.run_id = ? AND a.created_at >= ? AND a.created_at < ?",
                [run_id, lo, hi],
            ).fetchall()[0][0]
        )
    posts = [  # their latest posts of the last day (a scan of the recent posts only)
        r[0]
        for r in con.execute(
            """SELECT post_id FROM posts WHERE account_id IN (
                   SELECT account_id FROM accounts WHERE created_at >= ? AND created_at < ?)
               AND created_at > ? AND created_at <= ? ORDER BY created_at DESC, post_id LIMIT 20""",
            [lo, hi, ctx.now - timedelta(days=1), ctx.now],
        ).fetchall()
    ]
    ratio = peak / max(base.median, 1.0)
    numbers: dict[str, Any] = {
        "accounts": len(accounts),
        "peak": peak,
        "baseline_median": base.median,
        "z": round(z, 3),
        "ratio": round(ratio, 3),
        "buckets": len(episode),
        "in_clusters": in_clusters,
    }
    ev = {
        "key": f"created:{lo.isoformat()}",
        "bucket_s": bucket,
        "accounts": accounts[:MAX_ACCOUNTS],
        "accounts_total": len(accounts),
        "posts": posts,
        "objects": [],
        "series": [{"t": datetime.fromtimestamp(b, UTC), "accounts": n} for b, n, _, _ in episode],
        "baseline": base.as_dict(),
        "time_range": {"from": lo, "to": hi},
        "numbers": numbers,
        "detection_run_id": run_id,
    }
    span = f"{len(episode)} day(s)" if bucket == 86_400 else f"{len(episode)} × {bucket:g} s"
    title = (
        f"{len(accounts)} accounts created in {span} from {lo:%Y-%m-%d %H:%M} UTC "
        f"(peak {ratio:.1f}× the usual)"
        + (f"; {in_clusters} in coordinated clusters" if in_clusters else "")
    )
    return Finding(title, str(ev["key"]), ev)


ACCOUNT_BURST = Family(
    name="account_creation_burst",
    doc="Many of the workspace's accounts created in one bucket (day), far above the "
    "creation rate of the buckets before.",
    params={
        "bucket": Param("1d", "duration", "bucket of creation times"),
        "history": Param("28d", "duration", "how far back the baseline looks"),
        "min_history": Param(7, "int", "buckets of history needed"),
        "z": Param(4.0, "float", "robust z-score to fire"),
        "min_accounts": Param(10, "int", "accounts in the bucket to fire"),
        "min_ratio": Param(3.0, "float", "accounts / baseline median to fire"),
        "gap": Param("0s", "duration", "firing buckets this close are one burst (0: adjacent)"),
    },
    metrics=("accounts", "peak", "z", "ratio", "buckets", "in_clusters"),
    requires=("accounts",),
    evaluate=evaluate,
)
