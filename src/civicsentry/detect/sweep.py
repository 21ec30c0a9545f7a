"""The bounded sweep: every pair of shares of one object at most a window apart, without a
quadratic self-join per object.

Shares of an object are numbered in time order (``rn``; ties broken by account, then
post). A share is joined only with the shares in its own and the next *time bucket*
(bucket = ⌊t / window⌋), so the work is proportional to the pairs within twice the
window, not to the square of the object's shares. With a partner cap K, shares are also
cut into *rank blocks* of K (⌊(rn − 1) / K⌋) and a share is joined only with its own and
the next block: each share meets at most its K following shares, so a viral object with
10⁵ shares in an hour costs at most K·10⁵ pairs instead of ~10⁸. Both keys are
equalities, so the join is a hash join that DuckDB and Spark partition by (object,
bucket, block) — no worker ever holds a whole viral object's pairs.

Capping changes results only for objects where some share has more than K following
shares inside the window; each such object is reported in the caps table with its exact
number of pairs within the window and the number kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidParams
from .dialect import Dialect

#: A time before any share (microseconds, far below year 1, far from overflow when a
#: window is added): "no previous share", and the time of a share that never counts.
NEVER = -(2**62)

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def check_type_name(t: str) -> str:
    """Object types are inlined in SQL, so they must be plain names."""
    if not _TYPE_NAME.match(t):
        raise InvalidParams(
            f"{t!r} is not an object type name (lowercase letters, digits, underscore)."
        )
    return t


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def accounts_sql(src: str, types: list[str]) -> str:
    """The distinct accounts acting on ``types``. The engine numbers them (``aid``) in
    code-point order of the account id (``Engine.number``), so that ``aid_a < aid_b``
    exactly when ``account_a < account_b``."""
    return f"""
    SELECT DISTINCT account_id FROM {src}
    WHERE object_type IN ({", ".join(lit(t) for t in types)})
    """


def objects_sql(src: str, types: list[str]) -> str:
    """The distinct (object type, object id) pairs; numbered ``oid`` in that order."""
    return f"""
    SELECT DISTINCT object_type, object_id FROM {src}
    WHERE object_type IN ({", ".join(lit(t) for t in types)})
    """


def posts_sql(src: str, object_type: str) -> str:
    """The distinct posts of one object type, numbered ``pk`` (the toolkit counts
    distinct messages; integers keep that cheap)."""
    return f"SELECT DISTINCT post_id FROM {src} WHERE object_type = {lit(object_type)}"


def content_key_sql() -> str:
    """The share's content id for CooRTweet semantics: the post id, except that the
    CooRTweet adapter stores a content id repeated with another object as
    ``<content>@<object>``; CooRTweet counts those rows under one content id, so the
    suffix is taken off again here."""
    raw_obj = "substr(s.object_id, position(':' IN s.object_id) + 1)"
    return (
        f"CASE WHEN right(s.post_id, length({raw_obj}) + 1) = '@' || {raw_obj} "
        f"THEN substr(s.post_id, 1, length(s.post_id) - length({raw_obj}) - 1) "
        "ELSE s.post_id END"
    )


@dataclass(frozen=True)
class Cap:
    """Partner caps of the bounded sweep: a share meets at most ``partners`` following
    shares of its object inside the window, or ``viral_partners`` when the object is
    viral (shared by ≥ ``viral_accounts`` accounts)."""

    partners: int
    viral_partners: int
    viral_accounts: int


def shares_sql(
    src: str,
    accounts: str,
    objects: str,
    object_type: str,
    dialect: Dialect,
    *,
    window_us: int,
    cap: Cap | None,
    posts: str | None = None,
    with_content: bool = False,
) -> str:
    """One object type's shares with integer keys, time rank, bucket and block
    (``posts``: a post dictionary from ``posts_sql``, to carry the post key ``pk``).

    With a cap, ``k`` is the share's partner cap (by its object's popularity) and
    ``capped`` marks a share whose k following partners do not exhaust the window (the
    share k+1 places later is still inside it): only those lose pairs to the cap.
    """
    ts = dialect.epoch_us("s.t")
    post_join = f"\n      JOIN {posts} pd ON pd.post_id = s.post_id" if posts else ""
    extra = ""
    if posts:
        # ``prev_end``: the end of the window of the same account's previous share of
        # this object (``NEVER`` + window without one); ``multi``: the post carries
        # several objects of this type; ``solo_ts``: the time, or ``NEVER`` for such a
        # post. peers.cnt_edges counts a message once per partner account with them,
        # without a distinct count: share b is the first of its account inside the
        # window of a single-object share a exactly when b.prev_end < a.solo_ts.
        # Precomputed once per share, so that each of the (many more) share pairs needs
        # one comparison per direction.
        extra += (
            f", pd.pk, coalesce(lag({ts}) OVER (PARTITION BY o.oid, a.aid "
            f"ORDER BY {ts}, s.post_id), {NEVER}) + {int(window_us)} AS prev_end, "
            "count(*) OVER (PARTITION BY pd.pk) > 1 AS multi"
        )
    if with_content:
        extra += f", {content_key_sql()} AS content, o.object_id AS object_id"
    if cap:
        extra += (
            f", lead({ts}, {cap.partners + 1}) OVER w AS lead_k"
            f", lead({ts}, {cap.viral_partners + 1}) OVER w AS lead_v"
        )
    base = f"""
      SELECT o.oid, a.aid, {ts} AS ts, row_number() OVER w AS rn{extra}
      FROM {src} s
      JOIN {objects} o ON s.object_type = o.object_type AND s.object_id = o.object_id
      JOIN {accounts} a ON s.account_id = a.account_id{post_join}
      WHERE s.object_type = {lit(object_type)}
      WINDOW w AS (PARTITION BY o.oid ORDER BY {ts}, a.aid, s.post_id)
    """
    bucket = dialect.idiv("x.ts", str(max(window_us, 1)))
    solo = f", CASE WHEN x.multi THEN {NEVER} ELSE x.ts END AS solo_ts" if posts else ""
    if not cap:
        return (
            f"SELECT x.*{solo}, CAST(NULL AS BIGINT) AS k, false AS capped, {bucket} AS tb, "
            f"0 AS rb FROM ({base}) x"
        )
    viral = f"p.n_accounts >= {cap.viral_accounts}"
    k = f"(CASE WHEN {viral} THEN {cap.viral_partners} ELSE {cap.partners} END)"
    lead = f"(CASE WHEN {viral} THEN x.lead_v ELSE x.lead_k END)"
    return f"""
    SELECT x.oid, x.aid, x.ts, x.rn{", x.pk, x.prev_end, x.multi" + solo if posts else ""}
           {", x.content, x.object_id" if with_content else ""},
           {k} AS k, coalesce({lead} - x.ts <= {window_us}, false) AS capped,
           {bucket} AS tb, {dialect.idiv("x.rn - 1", k)} AS rb
    FROM ({base}) x
    JOIN (SELECT oid, count(DISTINCT aid) AS n_accounts FROM ({base}) y GROUP BY oid) p
      ON p.oid = x.oid
    """


def pairs_sql(
    shares: str,
    dialect: Dialect,
    *,
    window_us: int,
    cap: Cap | None,
    columns: str = "a.oid, a.aid AS aid1, b.aid AS aid2, a.ts AS ts1, b.ts AS ts2",
    where: str = "",
) -> str:
    """Every pair of shares (a before b in time rank) of one object with
    b.t − a.t ≤ window, of two different accounts; with ``cap``, b at most ``cap`` ranks
    after a. ``columns`` selects from ``a`` and ``b``; ``where`` adds a condition."""
    keys = [(0, 0), (1, 0)] + ([(0, 1), (1, 1)] if cap else [])
    rank_cap = " AND b.rn - a.rn <= a.k" if cap else ""
    if where:
        rank_cap += f" AND ({where})"
    # One equi-join per (bucket, block) offset, not a join with a constant table: the
    # planner must see plain equalities to hash-partition on (object, bucket, block).
    return "\nUNION ALL\n".join(
        f"""
    SELECT {columns}
    FROM {shares} a
    JOIN {shares} b ON b.oid = a.oid AND b.tb = a.tb + {dt} AND b.rb = a.rb + {dr}
    WHERE b.rn > a.rn AND b.ts - a.ts <= {window_us} AND a.aid <> b.aid{rank_cap}
    """
        for dt, dr in keys
    )


def object_stats_sql(shares: str, object_type: str) -> str:
    """Per object: shares, accounts, time span and how many shares the cap truncated."""
    return f"""
    SELECT {lit(object_type)} AS otype, oid, count(*) AS n_shares,
           count(DISTINCT aid) AS n_accounts, min(ts) AS first_ts, max(ts) AS last_ts,
           sum(CASE WHEN capped THEN 1 ELSE 0 END) AS shares_capped
    FROM {shares} GROUP BY oid
    """


def capped_pairs_sql(shares: str, stats: str, *, window_us: int) -> str:
    """For capped objects only: the exact number of share pairs within the window and
    the number the cap kept (each share keeps at most k following partners)."""
    return f"""
    SELECT oid, sum(following) AS pairs_within, sum(least(following, k)) AS pairs_kept
    FROM (
      SELECT oid, k, count(*) OVER (PARTITION BY oid ORDER BY ts
                                 RANGE BETWEEN CURRENT ROW AND {window_us} FOLLOWING)
                  - (rn - rank() OVER (PARTITION BY oid ORDER BY ts) + 1) AS following
      FROM {shares}
      WHERE oid IN (SELECT oid FROM {stats} WHERE shares_capped > 0)
    ) f
    GROUP BY oid
    """
