"""Rules over the narratives stage: a debunked claim spreading (again), a narrative
accelerating. They switch on when the workspace has the tables that stage writes
(``claim_matches`` with ``claims``; ``narratives`` with ``narrative_posts``: the latest
run of each) and are reported as skipped, with the reason, until then.

Both compare the posts of the last ``recent`` window with the average of the same-length
windows in the ``baseline`` period before it: a claim matched 40 times today after 2 a
day last week fires; one matched 40 times a day all week does not (it is not new).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import duckdb

from .base import Context, Family, Finding, Param, Rule, Skipped
from .clusters import MAX_ACCOUNTS, latest_clustered_run

SAMPLE = 20


def _spread(
    con: duckdb.DuckDBPyConnection,
    link: str,
    rule: Rule,
    ctx: Context,
    link_params: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Per key of ``link`` (a SELECT of key, post_id): posts in the recent window, the
    baseline per window, and the evidence of the recent window, for keys that fire."""
    p = rule.params
    recent, base = timedelta(seconds=p["recent"]), timedelta(seconds=p["baseline"])
    now = ctx.now
    r0, b0 = now - recent, now - recent - base
    windows = max(base / recent, 1.0)
    rows = con.execute(
        f"""WITH l AS (SELECT DISTINCT k.key, p.post_id, p.account_id, p.created_at AS t
                      FROM ({link}) k JOIN posts p USING (post_id)
                      WHERE p.created_at > ? AND p.created_at <= ?)
            SELECT key,
                   count(*) FILTER (WHERE t > ?) AS recent,
                   count(*) FILTER (WHERE t <= ?) AS before,
                   count(DISTINCT account_id) FILTER (WHERE t > ?) AS accounts,
                   min(t) FILTER (WHERE t > ?) AS first_t, max(t) FILTER (WHERE t > ?) AS last_t,
                   list(post_id ORDER BY t, post_id) FILTER (WHERE t > ?) AS posts,
                   list(DISTINCT account_id) FILTER (WHERE t > ?) AS accs
            FROM l GROUP BY key""",
        [*link_params, b0, now, r0, r0, r0, r0, r0, r0, r0],
    ).fetchall()
    run_id = latest_clustered_run(con)
    clustered: set[str] = set()
    if run_id is not None:
        clustered = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT account_id FROM cluster_members WHERE run_id = ?", [run_id]
            ).fetchall()
        }
    out = []
    for key, n_recent, n_before, n_acc, first_t, last_t, posts, accs in rows:
        per_window = n_before / windows
        ratio = n_recent / max(per_window, 1.0)
        if n_recent < p["min_posts"] or ratio < p["min_ratio"]:
            continue
        accs = sorted(accs or [])
        coordinated = [a for a in accs if a in clustered]
        out.append(
            {
                "key": key,
                "posts": list(posts or [])[:SAMPLE],
                "accounts": accs[:MAX_ACCOUNTS],
                "coordinated_accounts": coordinated[:MAX_ACCOUNTS],
                "time_range": {"from": first_t, "to": last_t},
                "numbers": {
                    "posts": n_recent,
                    "accounts": n_acc,
                    "baseline_per_window": round(per_window, 3),
                    "ratio": round(ratio, 3),
                    "coordinated_accounts": len(coordinated),
                    "coordinated_share": round(len(coordinated) / max(n_acc, 1), 4),
                },
                "detection_run_id": run_id,
            }
        )
    return out


# -- claim_spreading --------------------------------------------------------------------


def _debunked(rule: Rule) -> tuple[str, list[Any]]:
    """A condition on ``claims c``: a rating read as false, by its normalised value
    (1 = true) or, without one, by its words."""
    p = rule.params
    words = " OR ".join("lower(c.rating) LIKE ?" for _ in p["ratings"]) or "false"
    return (
        f"(c.rating_value <= ? OR (c.rating_value IS NULL AND ({words})))",
        [p["max_rating_value"], *(f"%{r.lower()}%" for r in p["ratings"])],
    )


def evaluate_claims(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    if not con.execute("SELECT count(*) FROM claim_matches").fetchall()[0][0]:
        raise Skipped("no claim matches yet (`civicsentry claims match`)")
    cond, params = _debunked(rule)
    link = f"""SELECT m.claim_id AS key, m.post_id FROM claim_matches m
               JOIN claims c ON c.claim_id = m.claim_id
               WHERE m.run_id = (SELECT max(run_id) FROM claim_matches)
                 AND m.score >= ? AND {cond}"""
    out = []
    for s in _spread(con, link, rule, ctx, [rule.params["min_score"], *params]):
        row = con.execute(
            "SELECT claim_text, claimant, rating, reviewer, review_url, review_date, lang "
            "FROM claims WHERE claim_id = ?",
            [s["key"]],
        ).fetchall()
        cols = ("claim_text", "claimant", "rating", "reviewer", "review_url", "review_date", "lang")
        info = dict(zip(cols, row[0], strict=True)) if row else {}
        text = str(info.get("claim_text") or s["key"])
        ev = {
            "key": f"claim:{s['key']}",
            "claim_id": s["key"],
            "claim": info,
            "objects": [{"type": "claim", "id": s["key"], "label": text[:200]}],
            **{k: s[k] for k in ("posts", "accounts", "coordinated_accounts", "time_range")},
            "numbers": s["numbers"],
            "detection_run_id": s["detection_run_id"],
        }
        n = s["numbers"]
        title = (
            f"Debunked claim spreading: {n['posts']} posts by {n['accounts']} accounts "
            f"({n['ratio']:.1f}× the usual): {text[:100]!r}"
        )
        out.append(Finding(title, ev["key"], ev))
    return out


CLAIM_SPREADING = Family(
    name="claim_spreading",
    doc="Posts matching an already debunked claim, far more in the recent window than before.",
    params={
        "recent": Param("24h", "duration", "the recent window"),
        "baseline": Param("7d", "duration", "the period before it, averaged per window"),
        "min_posts": Param(10, "int", "matched posts in the recent window to fire"),
        "min_ratio": Param(3.0, "float", "recent / baseline per window to fire"),
        "min_score": Param(0.0, "float", "lowest match score counted (0: the stage's own cut)"),
        "max_rating_value": Param(
            0.3, "float", "a normalised rating (1 = true) at or below this is debunked"
        ),
        "ratings": Param(
            ["false", "fake", "pants on fire", "misleading", "incorrect", "fabricated"],
            "list",
            "without a normalised rating: words that mean debunked (case-insensitive)",
        ),
        "gap": Param("24h", "duration", "spread this close to an earlier alert continues it"),
    },
    metrics=("posts", "accounts", "ratio", "coordinated_accounts", "coordinated_share"),
    requires=("claim_matches", "claims", "posts"),
    evaluate=evaluate_claims,
)


# -- narrative_accelerating -------------------------------------------------------------


def evaluate_narratives(con: duckdb.DuckDBPyConnection, rule: Rule, ctx: Context) -> list[Finding]:
    run = con.execute("SELECT max(run_id) FROM narratives").fetchall()[0][0]
    if run is None:
        raise Skipped("no narratives yet (`civicsentry narratives`)")
    link = (
        "SELECT narrative_id::VARCHAR AS key, post_id FROM narrative_posts "
        f"WHERE run_id = {int(run)}"
    )
    out = []
    for s in _spread(con, link, rule, ctx):
        row = con.execute(
            "SELECT label, posts, coordinated_share FROM narratives WHERE run_id = ? AND narrative_id = ?",
            [run, int(s["key"])],
        ).fetchall()
        label, size, stage_share = row[0] if row else (s["key"], None, None)
        label = str(label or s["key"])
        ev = {
            # Narrative ids are per run; the label (its top terms) names it across runs.
            "key": f"narrative:{label}",
            "narratives_run_id": run,
            "narrative_id": int(s["key"]),
            "objects": [{"type": "narrative", "id": s["key"], "label": label[:200]}],
            **{k: s[k] for k in ("posts", "accounts", "coordinated_accounts", "time_range")},
            "numbers": s["numbers"]
            | {"narrative_posts": size, "narrative_coordinated_share": stage_share},
            "detection_run_id": s["detection_run_id"],
        }
        n = s["numbers"]
        title = (
            f"Narrative accelerating: {n['posts']} posts ({n['ratio']:.1f}× the usual), "
            f"{n['coordinated_share']:.0%} of its accounts coordinated: {label[:100]!r}"
        )
        out.append(Finding(title, ev["key"], ev))
    return out


NARRATIVE_ACCELERATING = Family(
    name="narrative_accelerating",
    doc="A narrative with far more posts in the recent window than in the windows before.",
    params={
        "recent": Param("24h", "duration", "the recent window"),
        "baseline": Param("7d", "duration", "the period before it, averaged per window"),
        "min_posts": Param(50, "int", "posts in the recent window to fire"),
        "min_ratio": Param(3.0, "float", "recent / baseline per window to fire"),
        "gap": Param("24h", "duration", "acceleration this close to an earlier alert continues it"),
    },
    metrics=("posts", "accounts", "ratio", "coordinated_accounts", "coordinated_share"),
    requires=("narratives", "narrative_posts", "posts"),
    evaluate=evaluate_narratives,
)
