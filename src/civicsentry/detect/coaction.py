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
"""

from __future__ import annotations

from .dialect import Dialect
from .edges import edge_select
from .sweep import lit, pairs_sql


def level1_sql(
    shares: str, stats: str, object_type: str, dialect: Dialect, *, window_us: int,
    cap: int | None, viral_accounts: int,
) -> str:
    """One row per (object, account pair) that co-acted on it, with the object's
    popularity discount and flags; the pair rows themselves are never stored."""
    pairs = pairs_sql(shares, dialect, window_us=window_us, cap=cap)
    return f"""
    SELECT {lit(object_type)} AS otype, p.oid, p.acc_a, p.acc_b, p.n_pairs, p.min_delay,
           p.first_ts, p.last_ts,
           1.0 / log2(CAST(greatest(2, s.n_accounts) AS DOUBLE)) AS pop,
           CASE WHEN s.shares_capped > 0 THEN 1 ELSE 0 END AS is_capped,
           CASE WHEN s.n_accounts >= {int(viral_accounts)} THEN 1 ELSE 0 END AS is_viral
    FROM (
      SELECT oid, least(aid1, aid2) AS acc_a, greatest(aid1, aid2) AS acc_b,
             count(*) AS n_pairs, min(ts2 - ts1) AS min_delay,
             min(ts1) AS first_ts, max(ts2) AS last_ts
      FROM ({pairs}) x
      GROUP BY oid, least(aid1, aid2), greatest(aid1, aid2)
    ) p JOIN {stats} s ON p.oid = s.oid
    """


def _participants(level1: str, k: int, *, multi: bool) -> str:
    """Accounts co-acting on ≥ k distinct objects (per type, or over all types)."""
    key = "" if multi else "otype, "
    return f"""
    SELECT {key}aid FROM (
      SELECT otype, oid, acc_a AS aid FROM {level1}
      UNION SELECT otype, oid, acc_b AS aid FROM {level1}
    ) u GROUP BY {key}aid HAVING count(*) >= {int(k)}
    """


def edges_sql(
    level1: str, dialect: Dialect, *, min_participation: int, multi: bool, min_weight: int = 1
) -> str:
    """Edges of every per-type network (``multi=False``) or of the multi-modal one."""
    group = "acc_a, acc_b" if multi else "otype, acc_a, acc_b"
    cols = edge_select(
        otype="'multi'" if multi else "otype",
        acc_a="acc_a",
        acc_b="acc_b",
        weight="count(*)",
        pairs="sum(n_pairs)",
        weight_pop="sum(pop)",
        min_delay_us="min(min_delay)",
        median_delay_us=dialect.quantile("min_delay", 0.5),
        first_ts="min(first_ts)",
        last_ts="max(last_ts)",
        object_types=dialect.sorted_distinct_join("otype") if multi else "otype",
        capped_objects="sum(is_capped)",
        downweighted_objects="sum(is_viral)",
    )
    having = f" HAVING count(*) >= {int(min_weight)}" if min_weight > 1 else ""
    grouped = f"SELECT {cols} FROM {level1} GROUP BY {group}{having}"
    if min_participation <= 1:
        return grouped
    part = _participants(level1, min_participation, multi=multi)
    on_type = "" if multi else " AND pa.otype = e.otype"
    on_type_b = "" if multi else " AND pb.otype = e.otype"
    return f"""
    SELECT e.* FROM ({grouped}) e
    JOIN ({part}) pa ON pa.aid = e.acc_a{on_type}
    JOIN ({part}) pb ON pb.aid = e.acc_b{on_type_b}
    """
