"""Exact reproductions of the two peer tools, one object type at a time.

- ``coortweet``: CooRTweet 2.1.3 ``detect_groups`` + ``generate_coordinated_network``.
- ``cnt``: coordination-network-toolkit 1.5.2 ``compute co_retweet`` / ``co_link``.

Their definitions (from their source, checked on toy inputs) are in
``../shared/data/reference/SEMANTICS.md`` and docs/coordination.md. Neither has caps or
significance, so these run the exact sweep (no partner cap). Self-pairs are excluded as
both tools' exports do.
"""

from __future__ import annotations

from .edges import EDGE_COLUMNS, edge_select
from .engine import Engine
from .sweep import pairs_sql


def coortweet_edges(
    engine: Engine,
    shares: str,
    *,
    object_type: str,
    window_us: int,
    min_participation: int,
    out: str,
) -> None:
    """CooRTweet, step by step (``R/detect_groups.R``):

    1. pre-filter: accounts with ≥ min_participation rows of this object type;
    2. every pair of rows of one object with |Δt| ≤ window, each unordered pair once;
    3. remove loops: a row whose content is the object itself, two rows with the same
       content, two rows of the same account;
    4. post-filter: among the rows whose content occurs in a remaining pair, keep the
       accounts with ≥ min_participation such rows; keep a pair if either of its two
       contents belongs to such an account;
    5. per unordered account pair: weight = number of row pairs, avg_time_delta,
       n_content_id / n_content_id_y = distinct contents on the older / newer side,
       edge_symmetry_score = their min / max, weight_threshold = weight > median weight.
    """
    k = int(min_participation)
    x, p, f = (engine.name(f"ct_{s}_{object_type}") for s in ("x", "pairs", "filt"))
    engine.create(
        x,
        f"SELECT * FROM {shares} WHERE aid IN "
        f"(SELECT aid FROM {shares} GROUP BY aid HAVING count(*) >= {k})",
    )
    engine.create(
        p,
        pairs_sql(
            x, engine.dialect, window_us=window_us, cap=None,
            columns="a.oid, a.aid AS aid1, b.aid AS aid2, a.ts AS ts1, b.ts AS ts2, "
            "a.content AS c1, b.content AS c2",
            where="a.content <> a.object_id AND b.content <> b.object_id "
            "AND a.content <> b.content",
        ),
    )
    engine.create(
        f,
        f"""
        WITH involved AS (SELECT c1 AS content FROM {p} UNION SELECT c2 FROM {p}),
        rows_in AS (SELECT x.aid, x.content FROM {x} x JOIN involved i ON x.content = i.content),
        qualified AS (SELECT aid FROM rows_in GROUP BY aid HAVING count(*) >= {k})
        SELECT DISTINCT r.content FROM rows_in r JOIN qualified q ON r.aid = q.aid
        """,
    )
    cols = edge_select(
        otype=f"'{object_type}'",
        acc_a="least(aid1, aid2)",
        acc_b="greatest(aid1, aid2)",
        weight="count(*)",
        pairs="count(*)",
        min_delay_us="min(ts2 - ts1)",
        median_delay_us=engine.dialect.quantile("ts2 - ts1", 0.5),
        avg_delay_us="avg(ts2 - ts1)",
        first_ts="min(ts1)",
        last_ts="max(ts2)",
        object_types=f"'{object_type}'",
        n_content_id="count(DISTINCT c1)",
        n_content_id_y="count(DISTINCT c2)",
        edge_symmetry_score="CAST(least(count(DISTINCT c1), count(DISTINCT c2)) AS DOUBLE)"
        " / greatest(count(DISTINCT c1), count(DISTINCT c2))",
    )
    kept = (
        f"SELECT * FROM {p} WHERE c1 IN (SELECT content FROM {f}) "
        f"OR c2 IN (SELECT content FROM {f})"
    )
    grouped = f"SELECT {cols} FROM ({kept}) k GROUP BY least(aid1, aid2), greatest(aid1, aid2)"
    # The percentile flag of generate_coordinated_network (edge_weight = 0.5, type 7).
    threshold_cols = ", ".join(
        "g.weight > t.cut AS weight_threshold" if c == "weight_threshold" else f"g.{c}"
        for c, _ in EDGE_COLUMNS
    )
    engine.create(
        out,
        f"SELECT {threshold_cols} FROM ({grouped}) g CROSS JOIN "
        f"(SELECT {engine.dialect.quantile('weight', 0.5)} AS cut FROM ({grouped}) q) t",
    )
    engine.drop(x, p, f)


def cnt_edges(
    engine: Engine,
    shares: str,
    *,
    object_type: str,
    window_us: int,
    min_weight: int,
    out: str,
) -> None:
    """coordination-network-toolkit (``compute_networks.py``): a directed weight
    A→B = the number of distinct messages of A with at least one message of B on the same
    object within ±window; ``min_edge_weight`` applies to each direction on its own; the
    undirected row carries both directions (NULL where one fell below the minimum) and
    weight = the larger. A message is a post: the toolkit keys messages by id and keeps
    the first row of a repeated id, which our ingest does when it deduplicates posts.
    """
    m = int(min_weight)
    p = engine.name(f"cnt_pairs_{object_type}")
    engine.create(
        p,
        pairs_sql(
            shares, engine.dialect, window_us=window_us, cap=None,
            columns="least(a.aid, b.aid) AS acc_a, greatest(a.aid, b.aid) AS acc_b, "
            "CASE WHEN a.aid < b.aid THEN a.post_id ELSE b.post_id END AS post_a, "
            "CASE WHEN a.aid < b.aid THEN b.post_id ELSE a.post_id END AS post_b, "
            "a.ts AS ts1, b.ts AS ts2",
        ),
    )
    directed = f"""
        SELECT acc_a, acc_b, count(DISTINCT post_a) AS w_ab, count(DISTINCT post_b) AS w_ba,
               count(*) AS pairs, min(ts2 - ts1) AS min_d,
               {engine.dialect.quantile("ts2 - ts1", 0.5)} AS med_d, avg(ts2 - ts1) AS avg_d,
               min(ts1) AS first_ts, max(ts2) AS last_ts
        FROM {p} GROUP BY acc_a, acc_b
    """
    ab = f"CASE WHEN w_ab >= {m} THEN w_ab END"
    ba = f"CASE WHEN w_ba >= {m} THEN w_ba END"
    cols = edge_select(
        otype=f"'{object_type}'",
        acc_a="acc_a",
        acc_b="acc_b",
        weight=f"greatest(coalesce({ab}, 0), coalesce({ba}, 0))",
        weight_ab=ab,
        weight_ba=ba,
        pairs="pairs",
        min_delay_us="min_d",
        median_delay_us="med_d",
        avg_delay_us="avg_d",
        first_ts="first_ts",
        last_ts="last_ts",
        object_types=f"'{object_type}'",
    )
    engine.create(out, f"SELECT {cols} FROM ({directed}) d WHERE w_ab >= {m} OR w_ba >= {m}")
    engine.drop(p)
