"""Volume anomalies on a watch-list: posts per hour mentioning a term, carrying a
hashtag, linking a domain or URL, or written by an account, against a seasonality-aware
baseline (``baseline``: the same hour in earlier weeks, or earlier days).

A bucket fires when its count reaches ``min_count``, its robust z-score ``z`` and
``min_ratio`` × the baseline median; firing buckets of one item closer than ``gap`` form
one episode, one alert. Only buckets in the last ``recent`` before now are examined;
the baseline reaches back up to ``weeks`` weeks. Counts include reposts: amplification
is the point. A spike is not a campaign: news breaks, debates happen (docs/alerts.md).

The counts per item and bucket are cached in ``watchlist_counts`` and brought up to date
from the ingest batches not counted yet, so evaluating after each batch reads the batch,
not the workspace; the evidence of a firing episode reads that episode's hours only.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import duckdb

from ..normalise import normalise_handle, normalise_hashtag, normalise_url, registered_domain
from ..schema import WATCH_CHECKPOINTS, WATCHLIST_COUNTS
from .base import Context, Family, Finding, Param, Rule, Skipped
from .baseline import DAY_S, WEEK_S, Baseline, seasonal_baseline
from .clusters import latest_clustered_run

SAMPLE = 20


def _items(watch: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(type, normalised value) pairs, as the canonical tables spell them."""
    out: list[tuple[str, str]] = []
    for v in watch.get("hashtags", []):
        if h := normalise_hashtag(v):
            out.append(("hashtag", h))
    for v in watch.get("domains", []):
        if d := registered_domain(v.strip().lower()):
            out.append(("domain", d))
    for v in watch.get("urls", []):
        if u := normalise_url(v):
            out.append(("url", u))
    for v in watch.get("accounts", []):
        if v.startswith("@"):
            if h := normalise_handle(v):
                out.append(("handle", h))
        else:
            out.append(("account", v.strip()))
    for v in watch.get("terms", []):
        if v.strip():
            out.append(("term", v.strip().casefold()))
    return list(dict.fromkeys(out))


def _term_regex(term: str) -> str:
    # Whole words, case-insensitive; the term is data, never a pattern.
    return r"(?i)(^|\W)" + re.escape(term) + r"($|\W)"


def _hits_sql(kind: str, where: str) -> str:
    """A SELECT of (type, value, post_id, account_id, t, root) over the posts matching
    ``where``, for the watched values of one type in ``_vals``; ``root`` is the post a
    post spreads (its parent, or itself)."""
    cols = "post_id, account_id, created_at, coalesce(parent_post_id, post_id) AS root"
    if kind in ("hashtag", "domain", "url"):
        lists = {"hashtag": "hashtags", "domain": "domains", "url": "urls"}[kind]
        return f"""SELECT '{kind}', v, post_id, account_id, created_at, root FROM (
                       SELECT {cols}, unnest({lists}) AS v FROM posts WHERE {where})
                   WHERE v IN (SELECT value FROM _vals)"""
    if kind == "account":
        return f"""SELECT 'account', account_id, post_id, account_id, created_at, root FROM (
                       SELECT {cols} FROM posts WHERE {where}
                         AND account_id IN (SELECT value FROM _vals))"""
    if kind == "handle":
        return f"""SELECT 'handle', lower(a.handle), p.post_id, p.account_id, p.created_at, p.root
                   FROM (SELECT {cols} FROM posts WHERE {where}) p JOIN accounts a USING (account_id)
                   WHERE lower(a.handle) IN (SELECT value FROM _vals)"""
    raise AssertionError(kind)


def _fill_hits(
    con: duckdb.DuckDBPyConnection, items: list[tuple[str, str]], where: str, params: list[Any]
) -> None:
    """The temp table ``_warn_hits`` (type, value, post_id, account_id, t, root): the
    posts matching ``where`` (a condition on ``posts``) that carry a watched item."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _warn_hits (type VARCHAR, value VARCHAR, "
        "post_id VARCHAR, account_id VARCHAR, t TIMESTAMPTZ, root VARCHAR)"
    )
    by_type: dict[str, list[str]] = {}
    for kind, value in items:
        by_type.setdefault(kind, []).append(value)
    for kind, values in by_type.items():
        con.execute("CREATE OR REPLACE TEMP TABLE _vals (value VARCHAR)")
        con.executemany("INSERT INTO _vals VALUES (?)", [[v] for v in values])
        if kind == "term":
            # One pass with all terms together keeps the few matching posts; then one
            # query per term (a constant pattern is compiled once, a column one per row).
            any_term = "(?i)" + "|".join(f"(?:{re.escape(v)})" for v in values)
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _warn_text AS
                    SELECT post_id, account_id, created_at, coalesce(parent_post_id, post_id) AS root,
                           text FROM posts WHERE ({where}) AND regexp_matches(text, ?)""",
                [*params, any_term],
            )
            for v in values:
                con.execute(
                    "INSERT INTO _warn_hits SELECT 'term', ?, post_id, account_id, created_at, "
                    "root FROM _warn_text WHERE regexp_matches(text, ?)",
                    [v, _term_regex(v)],
                )
            con.execute("DROP TABLE _warn_text")
        else:
            con.execute(f"INSERT INTO _warn_hits {_hits_sql(kind, where)}", params)
    con.execute("DROP TABLE IF EXISTS _vals")


def _bucket_counts(con: duckdb.DuckDBPyConnection, bucket: int) -> list[tuple[str, int, int]]:
    return [
        (f"{k}:{v}", int(b), int(n))
        for k, v, b, n in con.execute(
            f"""SELECT type, value, (epoch(t)::BIGINT // {bucket}) * {bucket} AS b,
                       count(DISTINCT post_id)
                FROM _warn_hits GROUP BY ALL"""
        ).fetchall()
    ]


def _counts(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    items: list[tuple[str, str]],
    bucket: int,
    lo: datetime,
    now: datetime,
) -> dict[str, dict[int, int]]:
    """Posts per item and bucket from ``lo`` to ``now``.

    Monitoring asks again after every batch: the counts are kept in
    ``watchlist_counts`` and only the posts of ingest batches not counted yet are read
    (the checkpoint ``counts:<rule>`` holds the last one), so the cost follows the
    batch, not the workspace. A backtest (``now`` before the newest post) counts
    directly, without the cache."""
    newest = con.execute("SELECT max(created_at) FROM posts").fetchall()[0][0]
    out: dict[str, dict[int, int]] = {}
    if newest is not None and now < newest:
        _fill_hits(con, items, "created_at >= ? AND created_at <= ?", [lo, now])
        rows = _bucket_counts(con, bucket)
    else:
        _update_cache(con, rule, items, bucket)
        rows = [
            (str(i), int(b), int(n))
            for i, b, n in con.execute(
                "SELECT item, bucket, sum(posts) FROM watchlist_counts "
                "WHERE rule = ? AND bucket >= ? GROUP BY ALL",
                [rule.id, int(lo.timestamp())],
            ).fetchall()
        ]
    for item, b, n in rows:
        out.setdefault(item, {})[b] = n
    return out


def _update_cache(
    con: duckdb.DuckDBPyConnection, rule: Rule, items: list[tuple[str, str]], bucket: int
) -> None:
    con.execute(WATCHLIST_COUNTS.ddl())
    con.execute(WATCH_CHECKPOINTS.ddl())
    source = f"counts:{rule.id}"
    signature = hashlib.sha256(json.dumps([items, bucket]).encode()).hexdigest()[:16]
    state = con.execute(
        "SELECT cursor, ingest_batch FROM watch_checkpoints WHERE source = ?", [source]
    ).fetchall()
    through = int(state[0][1]) if state and state[0][0] == signature else -1
    top = con.execute("SELECT coalesce(max(ingest_batch), 0) FROM ingest_log").fetchall()[0][0]
    if state and through >= int(top):
        return
    _fill_hits(con, items, "coalesce(ingest_batch, 0) > ?", [through])
    rows = _bucket_counts(con, bucket)
    con.execute("BEGIN TRANSACTION")  # the counts and their position move together
    try:
        if through < 0:
            con.execute("DELETE FROM watchlist_counts WHERE rule = ?", [rule.id])
        if rows:
            con.executemany(
                "INSERT INTO watchlist_counts VALUES (?, ?, ?, ?)",
                [[rule.id, i, b, n] for i, b, n in rows],
            )
        con.execute("DELETE FROM watch_checkpoints WHERE source = ?", [source])
        con.execute(
            "INSERT INTO watch_checkpoints (source, kind, cursor, ingest_batch, updated_at) "
            "VALUES (?, 'counts', ?, ?, now())",
            [source, signature, int(top)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def evaluate(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    p = rule.params
    items = _items(p["watch"])
    if not items:
        raise Skipped("the watch-list is empty (params.watch)")
    bucket = int(p["bucket"])
    if bucket <= 0 or DAY_S % bucket:
        raise Skipped("bucket must divide a day (e.g. 1h, 30m)")
    first_row = con.execute("SELECT min(created_at) FROM posts").fetchall()[0][0]
    if first_row is None:
        raise Skipped("no posts yet")
    now = ctx.now
    now_s = int(now.timestamp())
    first = (int(first_row.timestamp()) // bucket) * bucket
    recent_from = ((now_s - int(p["recent"])) // bucket + 1) * bucket
    history = max(int(p["weeks"]) * WEEK_S, int(p["days"]) * DAY_S, int(p["trailing"]) * bucket)
    lo = datetime.fromtimestamp(max(first, recent_from - history), UTC)
    run_id = latest_clustered_run(con)
    try:
        series = _counts(con, rule, items, bucket, lo, now)
        found = []
        for key, counts in series.items():
            kind, value = key.split(":", 1)
            for episode in _episodes(counts, recent_from, now_s, first, bucket, p):
                found.append(_finding(con, (kind, value), episode, bucket, now, run_id))
        return _by_root(found, p["one_post_share"], p["one_post_severity"])
    finally:
        con.execute("DROP TABLE IF EXISTS _warn_hits")


def _by_root(found: list[Finding], share: float, severity: str) -> list[Finding]:
    """Spikes driven by one post (most hits are it or its reposts, quotes, replies): one
    viral post lights up several watched items at once, and should be one alert, keyed
    on that post so that it stays one alert while it spreads."""
    groups: dict[str, list[Finding]] = {}
    out = []
    for f in found:
        one = f.evidence.get("one_post")
        if one and one["share"] >= share:
            groups.setdefault(str(one["post_id"]), []).append(f)
        else:
            f.evidence.pop("one_post", None)
            out.append(f)
    for root, fs in groups.items():
        out.append(_merge(root, fs, severity))
    return out


def _merge(root: str, fs: list[Finding], severity: str) -> Finding:
    """One finding for the items one post's cascade lit up. Viral posts are news more
    often than operations: unless coordinated accounts (members of the latest
    clusters) drive it, its severity is at most ``severity``."""
    strongest = max(fs, key=lambda f: f.evidence["numbers"]["peak_z"])
    ev = dict(strongest.evidence)
    items = [f.evidence["item"] for f in fs]
    ev["key"] = f"post:{root}"
    ev["items"] = items
    ev["objects"] = [*({"type": "post", "id": root},), *ev["objects"]]
    ev["time_range"] = {
        "from": min(f.evidence["time_range"]["from"] for f in fs),
        "to": max(f.evidence["time_range"]["to"] for f in fs),
    }
    ev["posts"] = sorted({p for f in fs for p in f.evidence["posts"]})[:SAMPLE]
    ev["numbers"] = dict(ev["numbers"]) | {
        "items": len(fs),
        "coordinated_accounts": max(f.evidence["numbers"]["coordinated_accounts"] for f in fs),
    }
    names = ", ".join(_shown(i["type"], i["value"]) for i in items[:5])
    share = ev["one_post"]["share"]
    title = (
        f"{len(fs)} watch-list item(s) spiking with one post ({share:.0%} of the hits are "
        f"{root} or its reshares): {names[:120]}; peak {ev['numbers']['peak_count']} posts/h"
    )
    cap = None if ev["numbers"]["coordinated_accounts"] >= 3 else severity
    return Finding(title, ev["key"], ev, severity_cap=cap)


def _shown(kind: str, value: str) -> str:
    return {"hashtag": "#", "handle": "@"}.get(kind, "") + value


def _episodes(
    counts: dict[int, int], start: int, now_s: int, first: int, bucket: int, p: Any
) -> list[list[tuple[int, int, Baseline, float]]]:
    fired = []
    for b in range(start, now_s + 1, bucket):
        n = counts.get(b, 0)
        if n < p["min_count"]:
            continue
        base = seasonal_baseline(
            counts,
            b,
            bucket_s=bucket,
            first=first,
            min_history=p["min_history"],
            weeks=p["weeks"],
            days=p["days"],
            trailing=p["trailing"],
        )
        if base is None:
            continue
        z = base.z(n)
        if z >= p["z"] and n >= p["min_ratio"] * max(base.median, 1.0):
            fired.append((b, n, base, z))
    episodes: list[list[tuple[int, int, Baseline, float]]] = []
    for f in fired:
        if episodes and f[0] - (episodes[-1][-1][0] + bucket) <= p["gap"]:
            episodes[-1].append(f)
        else:
            episodes.append([f])
    return episodes


def _finding(
    con: duckdb.DuckDBPyConnection,
    item: tuple[str, str],
    episode: list[tuple[int, int, Baseline, float]],
    bucket: int,
    now: datetime,
    run_id: int | None,
) -> Finding:
    kind, value = item
    lo = datetime.fromtimestamp(episode[0][0], UTC)
    hi = min(datetime.fromtimestamp(episode[-1][0] + bucket, UTC), now)
    peak = max(episode, key=lambda e: e[3])
    # The evidence: the episode's posts on this item (a few hours of posts to read).
    _fill_hits(con, [item], "created_at >= ? AND created_at < ?", [lo, hi])
    root = con.execute(
        """SELECT root, count(DISTINCT post_id) AS n, sum(count(DISTINCT post_id)) OVER ()
           FROM _warn_hits GROUP BY root ORDER BY n DESC, root LIMIT 1"""
    ).fetchall()
    top = con.execute(
        """SELECT account_id, count(DISTINCT post_id) AS n FROM _warn_hits
           WHERE type = ? AND value = ? AND t >= ? AND t < ?
           GROUP BY account_id ORDER BY n DESC, account_id LIMIT ?""",
        [kind, value, lo, hi, SAMPLE],
    ).fetchall()
    posts = [
        r[0]
        for r in con.execute(
            """SELECT DISTINCT post_id, t FROM _warn_hits
               WHERE type = ? AND value = ? AND t >= ? AND t < ? ORDER BY t, post_id LIMIT ?""",
            [kind, value, lo, hi, SAMPLE],
        ).fetchall()
    ]
    coordinated = 0
    if run_id is not None:
        coordinated = int(
            con.execute(
                "SELECT count(DISTINCT h.account_id) FROM _warn_hits h JOIN cluster_members m "
                "ON m.account_id = h.account_id AND m.run_id = ?",
                [run_id],
            ).fetchall()[0][0]
        )
    accounts_total = con.execute(
        "SELECT count(DISTINCT account_id) FROM _warn_hits WHERE type = ? AND value = ? "
        "AND t >= ? AND t < ?",
        [kind, value, lo, hi],
    ).fetchall()[0][0]
    total = sum(e[1] for e in episode)
    base = peak[2]
    numbers = {
        "peak_count": peak[1],
        "peak_z": round(peak[3], 3),
        "baseline_median": base.median,
        "ratio": round(peak[1] / max(base.median, 1.0), 3),
        "posts": total,
        "accounts": int(accounts_total),
        "buckets": len(episode),
        "coordinated_accounts": coordinated,
    }
    ev = {
        "key": f"{kind}:{value}",
        "item": {"type": kind, "value": value},
        "objects": [{"type": kind, "id": value}],
        "accounts": [a for a, _ in top],
        "top_accounts": [{"account_id": a, "posts": n} for a, n in top],
        "posts": posts,
        "series": [
            {
                "t": datetime.fromtimestamp(b, UTC),
                "count": n,
                "median": bl.median,
                "z": round(z, 3),
            }
            for b, n, bl, z in episode
        ],
        "baseline": base.as_dict(),
        "bucket_s": bucket,
        "time_range": {"from": lo, "to": hi},
        "numbers": numbers,
    }
    if root and root[0][2]:
        ev["one_post"] = {"post_id": root[0][0], "share": round(root[0][1] / root[0][2], 3)}
    shown = _shown(kind, value)
    title = (
        f"{kind} {shown[:80]!r}: {peak[1]} posts in {bucket // 60} min at "
        f"{datetime.fromtimestamp(peak[0], UTC):%Y-%m-%d %H:%M} UTC, usually "
        f"{base.median:g} ({base.kind.replace('_', '-')} baseline)"
    )
    return Finding(title, ev["key"], ev)


VOLUME_ANOMALY = Family(
    name="volume_anomaly",
    doc="Posts on a watch-list item (term, hashtag, domain, URL, account) far above the "
    "same hour's usual volume.",
    params={
        "watch": Param({}, "watchlist", "terms, hashtags, domains, urls, accounts to watch"),
        "bucket": Param("1h", "duration", "bucket of post times (divides a day)"),
        "recent": Param("24h", "duration", "how far back from now buckets are examined"),
        "weeks": Param(4, "int", "earlier weeks in the hour-of-week baseline"),
        "days": Param(14, "int", "earlier days in the hour-of-day baseline"),
        "trailing": Param(24, "int", "buckets in the trailing baseline"),
        "min_history": Param(3, "int", "baseline values needed"),
        "z": Param(4.0, "float", "robust z-score to fire"),
        "min_count": Param(10, "int", "posts in the bucket to fire"),
        "min_ratio": Param(2.0, "float", "count / baseline median to fire"),
        "gap": Param("3h", "duration", "firing buckets this close are one episode"),
        "one_post_severity": Param(
            "low", "severity", "highest severity of a one-post spike without coordinated accounts"
        ),
        "one_post_share": Param(
            0.5,
            "float",
            "share of a spike's posts that are one post or its reshares to key it on that post",
        ),
    },
    metrics=(
        "peak_count",
        "peak_z",
        "ratio",
        "posts",
        "accounts",
        "buckets",
        "items",
        "coordinated_accounts",
    ),
    requires=("posts",),
    evaluate=evaluate,
)
