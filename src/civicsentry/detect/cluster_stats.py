"""What describes a cluster: its members' co-actions, degrees and strengths, its
statistics (modalities, top objects, timeline, delays) and its suspicion score — the
SQL and the formula behind ``clusters.find_clusters`` (docs/clusters.md).

The suspicion score is a weighted mean of six components, each in [0, 1] and each shown
with the raw figure it comes from, so an analyst can see *why* a cluster ranks high. It
orders clusters for triage; it is not evidence of intent: a high score is a reason to
read the cluster's objects and timeline, not a verdict.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import InvalidParams

#: Object types whose most shared objects are listed per cluster.
TOP_TYPES = ("repost", "quote", "reply", "url", "domain", "hashtag", "text")
DEFAULT_WINDOW_S = 60.0
LABEL_CHARS = 280
DELAY_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: Component -> weight (they sum to 1, so the score stays in [0, 1]).
WEIGHTS: dict[str, float] = {
    "density": 0.20,  # members all linked to each other, not a chain of pairs
    "speed": 0.20,  # co-actions much faster than the window allows by chance
    "coaction_share": 0.20,  # members do little else than act together
    "breadth": 0.15,  # many distinct objects, not one coincidence
    "significance": 0.15,  # edges far beyond what the null model explains
    "size": 0.10,  # bigger operations matter more for triage
}

#: Saturation constants of the components (see ``suspicion_components``).
BREADTH_HALF = 10  # distinct co-acted objects at which breadth is 0.5
SIGNIFICANCE_FULL = 10.0  # −log10(q) at which significance is 1 (q = 1e-10)
SIZE_FULL = 64  # members at which size is 1 (log scale from 1)


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def suspicion_components(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The components from a cluster's raw statistics.

    ``raw`` holds ``density``, ``speed`` (median over internal edges of
    1 − median delay / window), ``coaction_share`` (mean over members), ``objects``
    (distinct objects co-acted on inside the cluster), ``median_neglog_q`` (median
    −log10 q over internal edges) and ``size``. A missing figure (None: e.g. no
    significance test for peer semantics) scores 0 and is shown as None.
    """
    objects = raw.get("objects")
    neglog_q = raw.get("median_neglog_q")
    size = raw.get("size")
    values: dict[str, float | None] = {
        "density": _none_or(raw.get("density"), _clip),
        "speed": _none_or(raw.get("speed"), _clip),
        "coaction_share": _none_or(raw.get("coaction_share"), _clip),
        "breadth": None if objects is None else objects / (objects + BREADTH_HALF),
        "significance": None if neglog_q is None else _clip(neglog_q / SIGNIFICANCE_FULL),
        "size": None if not size else _clip(math.log2(size) / math.log2(SIZE_FULL)),
    }
    shown_raw = {
        "density": raw.get("density"),
        "speed": raw.get("median_delay_s"),
        "coaction_share": raw.get("coaction_share"),
        "breadth": objects,
        "significance": raw.get("median_q"),
        "size": size,
    }
    units = {
        "density": "internal edges / possible pairs",
        "speed": "median co-action delay, s (score: 1 − delay / window)",
        "coaction_share": "members' actions co-acted with a cluster mate within the window",
        "breadth": f"distinct co-acted objects (score: n / (n + {BREADTH_HALF}))",
        "significance": f"median q-value of internal edges (score: −log10 q / {SIGNIFICANCE_FULL:g})",
        "size": f"members (score: log2 n / log2 {SIZE_FULL})",
    }
    out = {}
    for name, weight in WEIGHTS.items():
        v = values[name]
        out[name] = {
            "value": None if v is None else round(v, 4),
            "weight": weight,
            "contribution": round((v or 0.0) * weight, 4),
            "raw": _round(shown_raw[name]),
            "means": units[name],
        }
    return out


def suspicion_score(comps: Mapping[str, Mapping[str, Any]]) -> float:
    """Σ weight × value over the components (a missing value counts 0)."""
    return round(sum(float(c["contribution"]) for c in comps.values()), 4)


def _none_or(x: Any, f: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else f(float(x))


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.4g}") if math.isfinite(x) else None
    return x


# -- per member and per cluster ---------------------------------------------------------


def default_window(windows: Mapping[str, float]) -> float:
    return float(windows.get("*", DEFAULT_WINDOW_S))


def window_case(x: str, windows: Mapping[str, float]) -> str:
    """SQL: the co-action window (s) of the object type in ``x``."""
    whens = "".join(f" WHEN {lit(k)} THEN {float(v)!r}" for k, v in windows.items())
    return (
        f"(CASE {x}{whens} ELSE {default_window(windows)!r} END)"
        if whens
        else repr(default_window(windows))
    )


def member_actions_sql(
    actions: str, members: str, types: list[str], windows: Mapping[str, float]
) -> str:
    """Members' actions of the detection's types, each flagged ``coact`` when another
    member of the same cluster acted on the same object at most the type's window apart.

    The nearest share by *another* account is found exactly: shares of an object are
    cut into runs of consecutive shares by one account, and a share's neighbours by
    other accounts are the last share before its run and the first one after it.
    """
    in_types = ", ".join(lit(x) for x in types)
    part = "cluster_id, object_type, object_id"
    return f"""
    WITH a AS (
      SELECT m.cluster_id, x.account_id, x.object_type, x.object_id, epoch_us(x.t) AS ts,
             CAST(1e6 * {window_case("x.object_type", windows)} AS BIGINT) AS w
      FROM {rel(actions)} x JOIN {members} m ON m.account_id = x.account_id
      WHERE x.object_type IN ({in_types})
    ), o AS (
      -- `k` fixes the order once: with (ts, account_id) alone, an account's two shares
      -- of an object in the same microsecond could be ordered one way here and the
      -- other way in the windows below, and the share then looked like its own
      -- neighbour by another account.
      SELECT *, lag(account_id) OVER w AS pa, lag(ts) OVER w AS pt, lead(ts) OVER w AS nt,
             lead(account_id) OVER w AS na, row_number() OVER w AS k
      FROM a WINDOW w AS (PARTITION BY {part} ORDER BY ts, account_id)
    ), r AS (
      SELECT *, sum(CASE WHEN pa IS DISTINCT FROM account_id THEN 1 ELSE 0 END)
                  OVER (PARTITION BY {part} ORDER BY k
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
      FROM o
    ), b AS (
      SELECT *,
        first_value(pt) OVER (PARTITION BY {part}, run ORDER BY k) AS prev_other,
        last_value(nt) OVER (PARTITION BY {part}, run ORDER BY k
                             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
          AS next_other
      FROM r
    )
    SELECT cluster_id, account_id, object_type, object_id,
           coalesce(ts - prev_other <= w, false) OR coalesce(next_other - ts <= w, false) AS coact
    FROM b
    """


def members_sql(e: str, internal: str, members: str, mact: str) -> str:
    return f"""
    WITH inside AS (
      SELECT cluster_id, account_a AS account_id, weight FROM {internal}
      UNION ALL SELECT cluster_id, account_b, weight FROM {internal}
    ), d AS (SELECT cluster_id, account_id, count(*) AS degree, sum(weight) AS strength
             FROM inside GROUP BY ALL),
    allx AS (SELECT account_a AS account_id, weight FROM {e}
             UNION ALL SELECT account_b, weight FROM {e}),
    t AS (SELECT account_id, count(*) AS degree_total, sum(weight) AS strength_total
          FROM allx GROUP BY ALL),
    act AS (SELECT account_id, count(*) AS actions,
                   sum(CASE WHEN coact THEN 1 ELSE 0 END) AS coactions
            FROM {mact} GROUP BY ALL)
    SELECT m.cluster_id, m.account_id,
           CAST(coalesce(d.degree, 0) AS BIGINT) AS degree,
           CAST(coalesce(d.strength, 0) AS DOUBLE) AS strength,
           CAST(t.degree_total AS BIGINT) AS degree_total,
           CAST(t.strength_total AS DOUBLE) AS strength_total,
           CAST(coalesce(act.actions, 0) AS BIGINT) AS actions,
           CAST(coalesce(act.coactions, 0) AS BIGINT) AS coactions,
           CASE WHEN act.actions > 0 THEN act.coactions / act.actions END AS coaction_share
    FROM {members} m LEFT JOIN d USING (cluster_id, account_id)
    LEFT JOIN t USING (account_id) LEFT JOIN act USING (account_id)
    """


def describe(
    con: duckdb.DuckDBPyConnection,
    t: Mapping[str, str],
    members: str,
    actions: str,
    posts: str,
    top_k: int,
) -> pa.Table:
    """One row per cluster, JSON columns assembled here (a few rows per cluster)."""
    q = ", ".join(repr(x) for x in DELAY_QUANTILES)
    base = dicts(
        con,
        f"""
        WITH m AS (SELECT cluster_id, count(*) AS size, avg(coaction_share) AS coaction_share,
                          sum(degree_total - degree) AS external_edges
                   FROM {members} GROUP BY ALL),
        i AS (SELECT cluster_id, count(*) AS edges, sum(weight) AS weight,
                     median(greatest(0, least(1, 1 - median_delay_s / nullif(window_s, 0))))
                       AS speed,
                     median(CASE WHEN q_value IS NOT NULL THEN -log10(greatest(q_value, 1e-300)) END) AS median_neglog_q,
                     median(q_value) AS median_q, median(median_delay_s) AS median_delay_s,
                     min(min_delay_s) AS min_delay_s, max(median_delay_s) AS max_delay_s,
                     quantile_cont(median_delay_s, [{q}]) AS dq,
                     min(first_t) AS first_t, max(last_t) AS last_t
              FROM {t["internal"]} GROUP BY ALL),
        o AS (SELECT cluster_id, count(DISTINCT (object_type, object_id)) AS objects
              FROM {t["mact"]} WHERE coact GROUP BY ALL)
        SELECT m.*, i.* EXCLUDE (cluster_id), coalesce(o.objects, 0) AS objects
        FROM m JOIN i USING (cluster_id) LEFT JOIN o USING (cluster_id) ORDER BY cluster_id
        """,
    )
    modalities = grouped(
        con,
        f"""SELECT cluster_id, ty, count(*) AS n FROM (
              SELECT cluster_id, unnest(string_split(object_types, ',')) AS ty
              FROM {t["internal"]} WHERE object_types IS NOT NULL)
            GROUP BY ALL ORDER BY cluster_id, n DESC, ty""",
    )
    timeline = grouped(
        con,
        f"""SELECT m.cluster_id, strftime(make_timestamp(epoch_us(x.created_at) // 3600000000 * 3600000000),
                              '%Y-%m-%dT%H:00Z')
                     AS hour, count(*) AS n
            FROM {rel(posts)} x JOIN {t["members0"]} m ON m.account_id = x.account_id
            GROUP BY ALL ORDER BY m.cluster_id, hour""",
    )
    tops = top_objects(con, t["members0"], actions, posts, top_k)
    rows = []
    for b in base:
        cid = b["cluster_id"]
        size, edges = int(b["size"]), int(b["edges"])
        b["density"] = 2 * edges / (size * (size - 1))
        comps = suspicion_components(b)
        dq = b["dq"] or [None] * len(DELAY_QUANTILES)
        delays = {
            "edges": edges,
            "of": "per-edge median delay between co-acting shares, seconds",
            "min": b["min_delay_s"],
            **{f"p{round(x * 100)}": v for x, v in zip(DELAY_QUANTILES, dq, strict=True)},
            "max": b["max_delay_s"],
        }
        rows.append(
            {
                "cluster_id": cid,
                "size": size,
                "edges": edges,
                "density": b["density"],
                "weight": float(b["weight"]),
                "external_edges": int(b["external_edges"] or 0),
                "modalities": json.dumps(dict(modalities.get(cid, []))),
                "n_modalities": len(modalities.get(cid, [])),
                "objects": int(b["objects"]),
                "coaction_share": b["coaction_share"],
                "median_delay_s": b["median_delay_s"],
                "median_q": b["median_q"],
                "first_t": b["first_t"],
                "last_t": b["last_t"],
                "top_objects": json.dumps(tops.get(cid, {}), ensure_ascii=False),
                "timeline": json.dumps(dict(timeline.get(cid, []))),
                "delays": json.dumps(delays),
                "suspicion": suspicion_score(comps),
                "suspicion_components": json.dumps(comps, ensure_ascii=False),
            }
        )
    return pa.Table.from_pylist(rows, schema=CLUSTER_SCHEMA)


CLUSTER_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("size", pa.int64()),
        ("edges", pa.int64()),
        ("density", pa.float64()),
        ("weight", pa.float64()),
        ("external_edges", pa.int64()),
        ("modalities", pa.string()),
        ("n_modalities", pa.int64()),
        ("objects", pa.int64()),
        ("coaction_share", pa.float64()),
        ("median_delay_s", pa.float64()),
        ("median_q", pa.float64()),
        ("first_t", pa.timestamp("us", tz="UTC")),
        ("last_t", pa.timestamp("us", tz="UTC")),
        ("top_objects", pa.string()),
        ("timeline", pa.string()),
        ("delays", pa.string()),
        ("suspicion", pa.float64()),
        ("suspicion_components", pa.string()),
    ]
)


def top_objects(
    con: duckdb.DuckDBPyConnection, members: str, actions: str, posts: str, k: int
) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Per cluster and type, the objects most members acted on (at any time; ≥ 2
    members). Texts are shown by one member's post, reshared posts by their text."""
    if k == 0:
        return {}
    types = ", ".join(lit(x) for x in TOP_TYPES)
    rows = dicts(
        con,
        f"""
        WITH g AS (
          SELECT m.cluster_id, x.object_type, x.object_id,
                 count(DISTINCT x.account_id) AS members, count(*) AS shares,
                 min(x.post_id) AS sample_post
          FROM {rel(actions)} x JOIN {members} m ON m.account_id = x.account_id
          WHERE x.object_type IN ({types}) GROUP BY ALL HAVING count(DISTINCT x.account_id) >= 2
        ), r AS (
          SELECT *, row_number() OVER (PARTITION BY cluster_id, object_type
                                       ORDER BY members DESC, shares DESC, object_id) AS rk
          FROM g QUALIFY rk <= {int(k)}
        )
        SELECT r.cluster_id, r.object_type, r.object_id, r.members, r.shares,
               CASE WHEN r.object_type = 'text' THEN left(sp.text, {LABEL_CHARS})
                    WHEN r.object_type IN ('repost', 'quote', 'reply')
                      THEN left(pp.text, {LABEL_CHARS}) END AS label
        FROM r
        LEFT JOIN {rel(posts)} sp ON r.object_type = 'text' AND sp.post_id = r.sample_post
        LEFT JOIN {rel(posts)} pp
          ON r.object_type IN ('repost', 'quote', 'reply') AND pp.post_id = r.object_id
        ORDER BY r.cluster_id, r.object_type, r.rk
        """,
    )
    out: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for r in rows:
        item = {"object": r["object_id"], "members": r["members"], "shares": r["shares"]}
        if r["label"] is not None:
            item["label"] = r["label"]
        out[r["cluster_id"]].setdefault(r["object_type"], []).append(item)
    return out


# -- stored with the clusters -----------------------------------------------------------


def cluster_edges_sql(run_id: int, network: str) -> str:
    """SQL: the rows of ``cluster_edges`` for a stored clustering of detection run
    ``run_id`` on ``network`` — the run's edges of that network (significant ones where
    it tested them) whose two accounts are members of the same stored cluster, ordered
    by cluster so that reading one cluster's edges skips the other row groups. Reads
    ``coordination_edges`` and ``cluster_members``; the service stores the result when
    it stores the clusters, and the schema 4 migration for older clusterings."""
    return f"""
    SELECT e.run_id, ma.cluster_id, e.account_a, e.account_b, e.weight, e.object_types,
           coalesce(e.median_delay_s, e.avg_delay_s, e.min_delay_s) AS delay_s
    FROM coordination_edges e
    JOIN cluster_members ma ON ma.run_id = e.run_id AND ma.account_id = e.account_a
    JOIN cluster_members mb ON mb.run_id = e.run_id AND mb.account_id = e.account_b
    WHERE e.run_id = {int(run_id)} AND e.object_type = {lit(network)}
      AND coalesce(e.significant, true) AND ma.cluster_id = mb.cluster_id
    ORDER BY ma.cluster_id, e.weight DESC, e.account_a, e.account_b
    """


# -- small helpers ---------------------------------------------------------------------


def dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    rel = con.sql(sql)
    cols = rel.columns
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def grouped(con: duckdb.DuckDBPyConnection, sql: str) -> dict[int, list[tuple[Any, Any]]]:
    """(cluster_id, key, value) rows -> {cluster_id: [(key, value), ...]} in row order."""
    out: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
    for cid, key, value in con.execute(sql).fetchall():
        out[cid].append((key, value))
    return out


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def plain_name(s: str, *, dotted: bool = False) -> str:
    """Relation and type names are inlined in SQL, so they must be plain names."""
    parts = s.split(".") if dotted else [s]
    if not all(x and x.replace("_", "").isalnum() and x.isascii() for x in parts):
        raise InvalidParams(f"{s!r} is not a plain name.")
    return s


def rel(s: str) -> str:
    return s if s.strip().startswith("(") else plain_name(s, dotted=True)
