"""Exact reproductions of the two peer tools, one object type at a time.

- ``coortweet``: CooRTweet 2.1.3 ``detect_groups`` + ``generate_coordinated_network``.
- ``cnt``: coordination-network-toolkit 1.5.2 ``compute co_retweet`` / ``co_link``.

Their definitions (from their source, checked on toy inputs) are in
``../shared/data/reference/SEMANTICS.md`` and docs/coordination.md. Neither has caps or
significance, so these run the exact sweep (no partner cap). Self-pairs are excluded as
both tools' exports do.
"""

from __future__ import annotations

from ..schema import CNT_WEIGHT
from .dialect import PAIR_SHIFT
from .edges import edge_select
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
    min_weight: int = 1,
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

    CooRTweet has no minimum weight; ``min_weight`` > 1 keeps only heavier edges after
    everything else (the median flag still refers to all edges).
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
            x,
            engine.dialect,
            window_us=window_us,
            cap=None,
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
    d = engine.dialect
    g = engine.name(f"ct_grouped_{object_type}")
    kept = (
        f"SELECT least(aid1, aid2) * {PAIR_SHIFT} + greatest(aid1, aid2) AS pair, ts1, ts2, c1, c2 "
        f"FROM {p} WHERE c1 IN (SELECT content FROM {f}) OR c2 IN (SELECT content FROM {f})"
    )
    # Distinct contents per side as plain aggregates (they spill; COUNT(DISTINCT) may not).
    engine.create(
        g,
        f"""
        WITH k AS ({kept})
        SELECT s.pair, s.n, s.min_d, s.avg_d, s.first_ts, s.last_ts, o.n1, y.n2
        FROM (SELECT pair, count(*) AS n, min(ts2 - ts1) AS min_d, avg(ts2 - ts1) AS avg_d,
                     min(ts1) AS first_ts, max(ts2) AS last_ts FROM k GROUP BY pair) s
        JOIN (SELECT pair, count(*) AS n1 FROM (SELECT DISTINCT pair, c1 FROM k) a GROUP BY pair) o
          ON o.pair = s.pair
        JOIN (SELECT pair, count(*) AS n2 FROM (SELECT DISTINCT pair, c2 FROM k) b GROUP BY pair) y
          ON y.pair = s.pair
        """,
    )
    # weight_threshold: the percentile flag of generate_coordinated_network
    # (edge_weight = 0.5, type-7 quantile, strictly above).
    cols = edge_select(
        otype=f"'{object_type}'",
        acc_a=d.pair_a("g.pair"),
        acc_b=d.pair_b("g.pair"),
        weight="g.n",
        pairs="g.n",
        min_delay_us="g.min_d",
        avg_delay_us="g.avg_d",
        first_ts="g.first_ts",
        last_ts="g.last_ts",
        object_types=f"'{object_type}'",
        n_content_id="g.n1",
        n_content_id_y="g.n2",
        edge_symmetry_score="CAST(least(g.n1, g.n2) AS DOUBLE) / greatest(g.n1, g.n2)",
        weight_threshold="g.n > t.cut",
    )
    engine.create(
        out,
        f"SELECT {cols} FROM {g} g CROSS JOIN (SELECT {d.quantile('n', 0.5)} AS cut FROM {g}) t "
        f"WHERE g.n >= {int(min_weight)}",
    )
    engine.drop(g)
    engine.drop(x, p, f)


def cnt_edges(
    engine: Engine,
    shares: str,
    *,
    object_type: str,
    window_us: int,
    min_weight: int,
    out: str,
    stream: bool = False,
) -> list[str]:
    """coordination-network-toolkit (``compute_networks.py``): a directed weight
    A→B = the number of distinct messages of A with at least one message of B on the same
    object within ±window; ``min_edge_weight`` applies to each direction on its own; the
    undirected row carries both directions (NULL where one fell below the minimum) and
    weight = the larger. A message is a post: the toolkit keys messages by id and keeps
    the first row of a repeated id, which our ingest does when it deduplicates posts.

    ``out`` is a view; returns the tables and views it reads, to be dropped with it. With
    ``stream`` nothing is computed here: ``out`` aggregates the share pairs when it is
    read, for a caller that copies it once (the service's insert into ``edges_cnt``);
    materialising 8.6M edges in a temporary table first cost ~1 s more.
    """
    m = int(min_weight)
    d = engine.dialect
    # Each share pair seen from its account pair (account_a < account_b). ``f_ab``: the
    # share of account_b is the first of that account's shares of the object inside the
    # window of account_a's share (its previous share came earlier than that window), so
    # account_a's message has a partner in account_b on exactly this one row of the
    # object: counting the flag counts each message once, without a distinct count.
    # Messages with several objects of the type (``multi``) are counted below instead:
    # their ``solo_ts`` is sweep.NEVER, so no flag is set for them (sweep.shares_sql).
    lo = "a.aid < b.aid"
    later_first = "b.prev_end < a.solo_ts"
    earlier_first = "a.prev_end < b.solo_ts"
    pair = f"least(a.aid, b.aid) * {PAIR_SHIFT} + greatest(a.aid, b.aid) AS pair"
    f_ab = f"(CASE WHEN {lo} THEN {later_first} ELSE {earlier_first} END)"
    f_ba = f"(CASE WHEN {lo} THEN {earlier_first} ELSE {later_first} END)"
    rows = pairs_sql(
        shares,
        d,
        window_us=window_us,
        cap=None,
        columns=f"{pair}, CASE WHEN {f_ab} THEN 1 END AS c_ab, "
        f"CASE WHEN {f_ba} THEN 1 END AS c_ba, a.ts AS ts1, b.ts AS ts2",
    )
    # The share pairs are aggregated as they are made, never stored: they outnumber the
    # edges several times over. DuckDB sums and averages integers in 128 bits, so flags
    # that are 1 or NULL are counted, and the delays are summed as doubles (exact: whole
    # microseconds, far below 2^53 per edge) and divided by the count at the end; each
    # saved ~5-10% of this step on 30M share pairs.
    directed = f"""
        SELECT pair, count(c_ab) AS w_ab, count(c_ba) AS w_ba, count(*) AS pairs,
               min(ts2 - ts1) AS min_d, sum(CAST(ts2 - ts1 AS DOUBLE)) AS sum_d,
               min(ts1) AS first_ts, max(ts2) AS last_ts
        FROM ({rows}) r GROUP BY pair
    """
    cx = None
    if engine.scalar(f"SELECT count(*) FROM {shares} WHERE multi"):
        # A message carrying several objects of the type (URLs of one post) can find the
        # same partner account on several objects: only those messages are counted
        # distinctly, from the share pairs that involve one.
        cx = engine.name(f"cnt_multi_{object_type}")
        side = "CASE WHEN {lo} THEN {x} ELSE {y} END AS {name}"
        multi = pairs_sql(
            shares,
            d,
            window_us=window_us,
            cap=None,
            columns=", ".join(
                [
                    pair,
                    side.format(lo=lo, x="a.pk", y="b.pk", name="pk_a"),
                    side.format(lo=lo, x="b.pk", y="a.pk", name="pk_b"),
                    side.format(lo=lo, x="a.multi", y="b.multi", name="multi_a"),
                    side.format(lo=lo, x="b.multi", y="a.multi", name="multi_b"),
                ]
            ),
            where="a.multi OR b.multi",
        )
        engine.create(
            cx,
            f"SELECT pair, count(DISTINCT CASE WHEN multi_a THEN pk_a END) AS ca, "
            f"count(DISTINCT CASE WHEN multi_b THEN pk_b END) AS cb FROM ({multi}) r GROUP BY pair",
        )
        directed = f"""
        SELECT s.pair, s.w_ab + coalesce(c.ca, 0) AS w_ab, s.w_ba + coalesce(c.cb, 0) AS w_ba,
               s.pairs, s.min_d, s.sum_d, s.first_ts, s.last_ts
        FROM ({directed}) s LEFT JOIN {cx} c ON c.pair = s.pair
        """
    # Narrow, widened by a view: materialising the edge shape's NULL columns costs as much
    # as the real ones (millions of rows for this semantics). A table unless streamed, so
    # that the planner knows its size: streamed into the account-id joins of the wide
    # edges, the aggregate was taken for their small side (2x slower).
    core = engine.name(f"edges_{object_type}_core")
    (engine.view if stream else engine.create)(
        core,
        f"SELECT {d.pair_a('pair')} AS acc_a, {d.pair_b('pair')} AS acc_b, "
        f"CASE WHEN w_ab >= {m} THEN w_ab END AS w_ab, "
        f"CASE WHEN w_ba >= {m} THEN w_ba END AS w_ba, pairs, min_d, sum_d / pairs AS avg_d, "
        f"first_ts, last_ts "
        f"FROM ({directed}) d WHERE w_ab >= {m} OR w_ba >= {m}",
    )
    reads = [core]
    if cx and stream:
        reads.append(cx)  # still to be read by the view
    elif cx:
        engine.drop(cx)
    cols = edge_select(
        otype=f"'{object_type}'",
        acc_a="acc_a",
        acc_b="acc_b",
        weight=CNT_WEIGHT.format(ab="w_ab", ba="w_ba"),
        weight_ab="w_ab",
        weight_ba="w_ba",
        pairs="pairs",
        min_delay_us="min_d",
        avg_delay_us="avg_d",
        first_ts="first_ts",
        last_ts="last_ts",
        object_types=f"'{object_type}'",
    )
    engine.view(out, f"SELECT {cols} FROM {core}")
    return reads
