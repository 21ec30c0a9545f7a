"""Compact integer frames of the workspace, fetched once from DuckDB.

Accounts are numbered 0..n-1 in account-id order (``_sig_universe.idx``); the posts and
the shares become a few numpy columns keyed by that number, so the per-account work
(gaps, pile-ons, medians, population sums) is sorts and bincounts over integers
instead of SQL windows over strings. Objects travel as 64-bit hashes of (type, id) (DuckDB's
``hash``; two distinct objects sharing one among millions is a ~1e-6 event, and would
merely merge their pile-on and population figures), renumbered 0..m-1 here.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from ..arrays import unique_inverse

KINDS = ("post", "repost", "reply", "quote")
#: Object types fetched as shares: the first four are timed; all five say whom an
#: account addresses (``population``).
SHARE_TYPES = ("repost", "reply", "quote", "url", "hashtag")
TIMED = (0, 1, 2, 3)  # codes of the timed types in SHARE_TYPES
PARENTED = (0, 1, 2)  # codes whose object is a post id


def create_universe(con: duckdb.DuckDBPyConnection) -> int:
    """``_sig_universe``: every account of ``accounts`` or ``posts``, numbered in
    account-id order. Returns how many."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _sig_universe AS
        WITH ids AS (
            SELECT account_id, any_value(platform) AS platform FROM (
                SELECT account_id, platform FROM accounts
                UNION ALL SELECT DISTINCT account_id, platform FROM posts
            ) GROUP BY account_id
        )
        SELECT account_id, platform, row_number() OVER (ORDER BY account_id) - 1 AS idx
        FROM ids
        """
    )
    return int(con.execute("SELECT count(*) FROM _sig_universe").fetchone()[0])  # type: ignore[index]


def _case(column: str, values: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values))
    return f"CAST(CASE {column} {whens} ELSE 0 END AS TINYINT)"


@dataclass
class Posts:
    """Every post, sorted by (account, time)."""

    idx: np.ndarray  # int64 account number
    t: np.ndarray  # float64 Unix seconds
    kind: np.ndarray  # int8 index into KINDS
    link: np.ndarray  # bool: carries a URL

    def __len__(self) -> int:
        return len(self.idx)


def fetch_posts(con: duckdb.DuckDBPyConnection) -> Posts:
    d = con.execute(
        f"""
        SELECT u.idx, epoch(p.created_at) AS t, {_case("p.kind", KINDS)} AS kind,
               coalesce(len(p.urls) > 0, false) AS link
        FROM posts p JOIN _sig_universe u USING (account_id)
        """
    ).fetchnumpy()
    idx = np.asarray(d["idx"], np.int64)
    t = np.asarray(d["t"], np.float64)
    order = np.argsort((idx << 40) | _ms(t))
    return Posts(
        idx[order],
        t[order],
        np.asarray(d["kind"], np.int8)[order],
        np.asarray(d["link"], bool)[order],
    )


@dataclass
class Shares:
    """Every action on a post (repost, reply, quote), a URL or a hashtag, sorted by
    (object, time)."""

    idx: np.ndarray  # int64 account number
    kind: np.ndarray  # int8 index into SHARE_TYPES
    obj: np.ndarray  # int64 object number 0..m-1
    t: np.ndarray  # float64 Unix seconds
    parent_t: np.ndarray  # float64 time of the parent post (NaN: not a post, or not here)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def objects(self) -> int:
        return int(self.obj[-1]) + 1 if len(self.obj) else 0


@dataclass
class Texts:
    """Every ``text`` action (one per post with text, not reposts) and ``simtext``
    action (near-duplicate groups, when detection made them)."""

    idx: np.ndarray  # int64 account number
    simtext: np.ndarray  # bool: a simtext action (else text)
    obj: np.ndarray  # uint64 hash of (object_type, object_id)
    post: np.ndarray  # uint64 hash of post_id


def _ms(t: np.ndarray) -> np.ndarray:
    """Milliseconds since the earliest time, as a 40-bit sort key (35 years)."""
    if not len(t):
        return np.zeros(0, np.int64)
    out: np.ndarray = np.minimum(np.round((t - t.min()) * 1000), (1 << 40) - 1).astype(np.int64)
    return out


def fetch_actions(con: duckdb.DuckDBPyConnection) -> tuple[Shares, Texts]:
    """The shares and the texts, in one scan of ``actions``; plus the time of each
    parent post that is in the workspace."""
    kinds = (*SHARE_TYPES, "text", "simtext")
    d = con.execute(
        f"""
        SELECT u.idx, {_case("a.object_type", kinds)} AS kind,
               hash(a.object_type, a.object_id) AS obj, epoch(a.t) AS t,
               CASE WHEN a.object_type IN ('text', 'simtext') THEN hash(a.post_id)
                    ELSE CAST(0 AS UBIGINT) END AS post
        FROM actions a JOIN _sig_universe u USING (account_id)
        WHERE a.object_type IN ({", ".join(f"'{k}'" for k in kinds)})
        """
    ).fetchnumpy()
    idx = np.asarray(d["idx"], np.int64)
    kind = np.asarray(d["kind"], np.int8)
    obj = np.asarray(d["obj"], np.uint64)
    t = np.asarray(d["t"], np.float64)
    is_share = kind < len(SHARE_TYPES)
    txt = ~is_share
    texts = Texts(
        idx[txt],
        kind[txt] == len(SHARE_TYPES) + 1,
        obj[txt],
        np.asarray(d["post"], np.uint64)[txt],
    )
    del d
    keys, dense = unique_inverse(obj[is_share])
    t = t[is_share]
    # One int64 sort key: object number, then milliseconds since the first share.
    order = np.argsort((dense << 40) | _ms(t))
    parent_t = _parent_times(con, keys)[dense]
    shares = Shares(
        idx[is_share][order], kind[is_share][order], dense[order], t[order], parent_t[order]
    )
    return shares, texts


def _parent_times(con: duckdb.DuckDBPyConnection, keys: np.ndarray) -> np.ndarray:
    """The creation time of the post behind each object key (NaN: not a post, or not
    in the workspace). A repost/reply/quote object is its parent's id, so its key is
    ``hash(kind, parent_post_id)`` of the posts that share it."""
    parented = ", ".join(f"'{SHARE_TYPES[i]}'" for i in PARENTED)
    d = con.execute(
        f"""
        SELECT hash(c.kind, c.parent_post_id) AS obj, min(epoch(p.created_at)) AS t
        FROM posts c JOIN posts p ON p.post_id = c.parent_post_id
        WHERE c.kind IN ({parented}) GROUP BY 1
        """
    ).fetchnumpy()
    out = np.full(len(keys), np.nan)
    have = np.asarray(d["obj"], np.uint64)
    if len(have) and len(keys):
        order = np.argsort(have)
        have, times = have[order], np.asarray(d["t"], np.float64)[order]
        pos = np.minimum(np.searchsorted(have, keys), len(have) - 1)
        hit = have[pos] == keys
        out[hit] = times[pos[hit]]
    return out


def by_idx(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], n: int
) -> dict[str, np.ndarray]:
    """Columns of a table keyed by ``account_id`` as float arrays over all n accounts in
    idx order (NaN where the table has no row or a NULL)."""
    d = con.execute(
        f"SELECT u.idx, {', '.join(f't.{c}' for c in columns)} "
        f"FROM {table} t JOIN _sig_universe u USING (account_id)"
    ).fetchnumpy()
    idx = np.asarray(d["idx"], np.int64)
    out = {}
    for c in columns:
        col = np.full(n, np.nan)
        col[idx] = np.ma.filled(np.ma.asarray(d[c]).astype(np.float64), np.nan)
        out[c] = col
    return out


def group_bounds(sorted_idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, count) of each account 0..n-1 in an array sorted by account."""
    start = np.searchsorted(sorted_idx, np.arange(n))
    count = np.bincount(sorted_idx, minlength=n)
    return start, count
