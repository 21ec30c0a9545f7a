"""CivicSentry's own co-action networks: one per object type plus the multi-modal one.

Two distinct accounts co-act on an object when a share of each is at most the type's
window apart (inclusive). Per account pair and network:

- ``weight``: distinct objects co-acted on (the multi-modal network counts distinct
  (type, object) pairs, each type with its own window);
- ``pairs``: co-acting share pairs (repeated shares multiply them, not the weight);
- ``weight_pop``: popularity-discounted weight, Σ 1 / log2(max(2, accounts on the
  object)) — an object two accounts share counts 1, one a thousand accounts share ~0.1;
- ``min_delay_us`` and ``median_delay_us``: the smallest delay on each co-acted object,
  then its minimum and median over the objects (the pair's typical reaction time);
- ``first_ts`` / ``last_ts``: the first and last co-acting share;
- ``capped_objects`` / ``downweighted_objects``: co-acted objects whose sweep was capped
  (the pair count is then a lower bound) or that are viral (≥ ``viral_accounts``).

``min_participation`` keeps accounts that co-act on ≥ k objects in that network (with
anyone); ``min_weight`` keeps edges with weight ≥ m.

An account pair travels as one BIGINT key, ``pair = acc_a · 2^32 + acc_b`` (account keys
are below 2^31), so grouping by pair is a single-column hash aggregate.
"""

from __future__ import annotations

from .dialect import PAIR_SHIFT, Dialect
from .edges import edge_select
from .significance import popularity_class
from .sweep import Cap, lit, pairs_sql


def level1_sql(
    shares: str,
    stats: str,
    object_type: str,
    dialect: Dialect,
    *,
    window_us: int,
    cap: Cap | None,
    viral_accounts: int,
) -> str:
    """One row per (object, account pair) that co-acted on it, with the object's
    popularity discount, class and flags; the share pairs themselves are never stored."""
    pairs = pairs_sql(shares, dialect, window_us=window_us, cap=cap)
    key = f"least(aid1, aid2) * {PAIR_SHIFT} + greatest(aid1, aid2)"
    return f"""
    SELECT {lit(object_type)} AS otype, p.oid, p.pair, p.n_pairs, p.min_delay,
           p.first_ts, p.last_ts,
           1.0 / log2(CAST(greatest(2, s.n_accounts) AS DOUBLE)) AS pop,
           CASE WHEN s.shares_capped > 0 THEN 1 ELSE 0 END AS is_capped,
           CASE WHEN s.n_accounts >= {int(viral_accounts)} THEN 1 ELSE 0 END AS is_viral,
           {popularity_class("s.n_accounts")} AS cls
    FROM (
      SELECT oid, {key} AS pair, count(*) AS n_pairs, min(ts2 - ts1) AS min_delay,
             min(ts1) AS first_ts, max(ts2) AS last_ts
      FROM ({pairs}) x
      GROUP BY oid, {key}
    ) p JOIN {stats} s ON p.oid = s.oid
    """


def _participants(level1: str, k: int, dialect: Dialect, *, multi: bool) -> str:
    """Accounts co-acting on ≥ k distinct objects (per type, or over all types)."""
    key = "" if multi else "otype, "
    return f"""
    SELECT {key}aid FROM (
      SELECT otype, oid, {dialect.pair_a("pair")} AS aid FROM {level1}
      UNION SELECT otype, oid, {dialect.pair_b("pair")} AS aid FROM {level1}
    ) u GROUP BY {key}aid HAVING count(*) >= {int(k)}
    """


def rows_sql(level1: str, k: int, dialect: Dialect, *, multi: bool) -> str:
    """The co-action rows of one network family after the participation filter."""
    if k <= 1:
        return level1
    part = _participants(level1, k, dialect, multi=multi)
    on_a = "" if multi else " AND pa.otype = l.otype"
    on_b = "" if multi else " AND pb.otype = l.otype"
    return f"""(
    SELECT l.* FROM {level1} l
    JOIN ({part}) pa ON pa.aid = {dialect.pair_a("l.pair")}{on_a}
    JOIN ({part}) pb ON pb.aid = {dialect.pair_b("l.pair")}{on_b}
    )"""


def hypotheses_sql(level1: str, dialect: Dialect, *, min_participation: int) -> str:
    """m per network for the multiple-testing correction: the co-actions (object, account
    pair) after the participation filter. That is at least the number of edges (equal
    when no pair co-acts twice), so using it keeps Benjamini–Hochberg's guarantee, and it
    costs a count instead of grouping every pair."""
    k = int(min_participation)
    per_type = f"SELECT otype, count(*) AS m FROM {rows_sql(level1, k, dialect, multi=False)} t GROUP BY otype"
    multi = (
        f"SELECT 'multi' AS otype, count(*) AS m FROM {rows_sql(level1, k, dialect, multi=True)} u"
    )
    return f"{per_type}\nUNION ALL\n{multi}"


def candidate_rows_sql(
    level1: str, dialect: Dialect, *, min_participation: int, min_weight: int
) -> str:
    """The co-action rows of pairs with ≥ min_weight co-actions over all types: a pair
    that reaches the weight in one type reaches it in ``multi``, so every kept edge of
    every network is among these (usually a few percent of the rows)."""
    rows = rows_sql(level1, int(min_participation), dialect, multi=True)
    return f"""
    SELECT l.* FROM {rows} l
    WHERE l.pair IN (SELECT pair FROM {rows} r GROUP BY pair HAVING count(*) >= {int(min_weight)})
    """


def kept_sql(rows: str, dialect: Dialect, *, min_participation: int, min_weight: int) -> str:
    """The (network, pair) edges with weight ≥ min_weight, from the candidate rows."""
    k, m = int(min_participation), int(min_weight)
    return f"""
    SELECT otype, pair FROM {rows_sql(rows, k, dialect, multi=False)} t
    GROUP BY otype, pair HAVING count(*) >= {m}
    UNION ALL
    SELECT DISTINCT 'multi' AS otype, pair FROM {rows} u
    """


#: Fixed-point scale of ``weight_pop``'s terms (each ≤ 1; exact in binary).
_POP_SCALE = 1 << 40


def edges_sql(rows: str, kept: str, dialect: Dialect, *, multi: bool) -> str:
    """The full attributes of the kept edges of every per-type network (``multi=False``)
    or of the multi-modal one."""
    group = "l.pair" if multi else "l.otype, l.pair"
    on_type = "k.otype = 'multi'" if multi else "k.otype = l.otype"
    cols = edge_select(
        otype="'multi'" if multi else "l.otype",
        acc_a=dialect.pair_a("l.pair"),
        acc_b=dialect.pair_b("l.pair"),
        weight="count(*)",
        pairs="sum(n_pairs)",
        # Summed in fixed point (2^-40): a float sum depends on the order rows arrive in
        # (threads, storage), and the same input must give the same edge bit for bit.
        weight_pop=f"sum(CAST(round(pop * {_POP_SCALE}) AS BIGINT)) / {_POP_SCALE}.0",
        min_delay_us="min(min_delay)",
        median_delay_us=dialect.quantile("min_delay", 0.5),
        first_ts="min(first_ts)",
        last_ts="max(last_ts)",
        object_types=dialect.sorted_distinct_join("l.otype") if multi else "l.otype",
        capped_objects="sum(is_capped)",
        downweighted_objects="sum(is_viral)",
    )
    return f"""
    SELECT {cols}
    FROM {rows} l JOIN {kept} k ON {on_type} AND k.pair = l.pair
    GROUP BY {group}
    """
