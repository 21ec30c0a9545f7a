"""Media objects (``media``): posts whose images or videos have perceptual hashes within a
Hamming distance share one object id, so a re-encoded, resized or lightly cropped copy
of a campaign's picture is the same object as the original.

Input: ``posts.media_hashes``, as the source or a preprocessing step gives them. A value
of 16 hexadecimal digits (optionally prefixed ``0x``) is read as a 64-bit perceptual hash
(pHash, dHash, aHash and the like, as ``imagehash`` writes them); any other value (a
SHA-256, a platform's media key) only matches itself.

Method (docs/coordination.md, "Media"):

1. The distinct hashes of original posts, replies and quotes (a repost carries its
   parent's media and is its own ``repost`` action).
2. Exact pairs within ``distance`` bits, found with the pigeonhole principle: cut the 64
   bits into ``distance + 1`` blocks; two hashes within ``distance`` agree on at least one
   whole block, so only hashes sharing a block value are compared (popcount of the XOR).
   Nothing within the distance is missed; the work is the number of same-block pairs.
3. Connected components of the pairs within the distance are the clusters (a chain of
   near copies is one object, as for ``simtext``).
4. Every cluster with ≥ 2 posts is an object, id = its most-posted hash (smallest on
   ties). Lone media get none.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import InvalidParams
from .components import component_labels

OBJECT_TYPE = "media"
BITS = 64
_PAIRS_PER_STEP = 1 << 22  # verified pairs held at once


@dataclass(frozen=True)
class MediaParams:
    """``distance``: the most bits two 64-bit perceptual hashes may differ in and still be
    the same medium. 6 of 64 is a common choice for pHash: re-encodings and resizes
    stay within it, unrelated pictures are typically 20 or more bits apart."""

    distance: int = 6

    def check(self) -> MediaParams:
        if not 0 <= self.distance < BITS // 2:
            raise InvalidParams(f"--media-distance must be in 0..31, not {self.distance}.")
        return self


def parse_hashes(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the values that are 64-bit hex hashes, their integer values)."""
    ok = np.zeros(len(values), bool)
    out = np.zeros(len(values), np.uint64)
    for i, v in enumerate(values):
        h = v[2:] if v[:2] in ("0x", "0X") else v
        if len(h) == 16 and h.isascii():
            try:
                out[i] = int(h, 16)
                ok[i] = True
            except ValueError:
                pass
    return ok, out


def _block_pairs(values: np.ndarray, distance: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs (i < j) agreeing on at least one of ``distance + 1`` blocks of bits,
    block by block, in steps of bounded size."""
    n = len(values)
    cuts = np.linspace(0, BITS, distance + 2).astype(int)
    for lo, hi in itertools.pairwise(cuts):
        key = (values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        sizes = np.diff(np.r_[starts, n])
        # Position of each sorted element inside its bucket, and its bucket's size.
        rank = np.arange(n) - np.repeat(starts, sizes)
        size_of = np.repeat(sizes, sizes)
        # Offset k pairs each element with the one k places later in the same bucket.
        for k in range(1, int(sizes.max(initial=1))):
            active = np.flatnonzero(rank + k < size_of)
            for s in range(0, len(active), _PAIRS_PER_STEP):
                a = active[s : s + _PAIRS_PER_STEP]
                yield order[a], order[a + k]


def hash_labels(values: np.ndarray, distance: int) -> np.ndarray:
    """A cluster label per hash: connected components of the pairs within ``distance``."""
    n = len(values)
    if n < 2:
        return np.arange(n)
    kept_i: list[np.ndarray] = []
    kept_j: list[np.ndarray] = []
    for i, j in _block_pairs(values, distance):
        close = np.bitwise_count(values[i] ^ values[j]) <= distance
        kept_i.append(i[close])
        kept_j.append(j[close])
    ii, jj = np.concatenate(kept_i), np.concatenate(kept_j)
    return component_labels(n, ii, jj)


def media_actions(
    con: duckdb.DuckDBPyConnection, posts: str = "posts", params: MediaParams | None = None
) -> pa.Table:
    """The ``media`` actions (account_id, object_type, object_id, t, post_id) of the posts
    in table ``posts`` (canonical post columns)."""
    p = (params or MediaParams()).check()
    # One spelling per hash: lowercase, no 0x, so that copies written either way count
    # as the same hash when choosing the object's name.
    shares = f"""SELECT DISTINCT account_id, created_at, post_id,
               regexp_replace(lower(trim(h)), '^0x', '') AS h
        FROM (SELECT account_id, created_at, post_id, unnest(media_hashes) AS h
              FROM {posts} WHERE kind <> 'repost')
        WHERE h IS NOT NULL AND trim(h) <> ''"""
    distinct = con.sql(f"SELECT DISTINCT h FROM ({shares})").fetchall()
    hashes = [h for (h,) in distinct]
    ok, values = parse_hashes(hashes)
    labels = np.arange(len(hashes))  # a non-perceptual hash is its own cluster
    perceptual = np.flatnonzero(ok)
    if len(perceptual):
        labels[perceptual] = len(hashes) + hash_labels(values[perceptual], p.distance)
    mapping = pa.table({"h": pa.array(hashes, pa.string()), "label": pa.array(labels)})
    return (
        con.from_arrow(mapping)
        .query(
            "_map",
            f"""
        WITH s AS (SELECT s.*, m.label FROM ({shares}) s JOIN _map m USING (h)),
        per_hash AS (SELECT label, h, count(DISTINCT post_id) AS n FROM s GROUP BY label, h),
        shared AS (SELECT label FROM s GROUP BY label HAVING count(DISTINCT post_id) >= 2),
        rep AS (
          SELECT label, first(h ORDER BY n DESC, h) AS oid FROM per_hash
          WHERE label IN (SELECT label FROM shared) GROUP BY label)
        SELECT DISTINCT s.account_id, '{OBJECT_TYPE}' AS object_type, rep.oid AS object_id,
               s.created_at AS t, s.post_id
        FROM s JOIN rep USING (label)
        ORDER BY post_id
        """,
        )
        .to_arrow_table()
    )


def store_media_actions(
    con: duckdb.DuckDBPyConnection,
    params: MediaParams | None = None,
    posts: str = "posts",
    into: str = "actions",
) -> int:
    """Replace the ``media`` rows of ``into`` with those derived from ``posts`` now (so
    reruns never duplicate them); returns how many were stored. The caller owns the
    transaction."""
    rows = media_actions(con, posts, params)
    con.execute(f"DELETE FROM {into} WHERE object_type = '{OBJECT_TYPE}'")
    con.from_arrow(rows).insert_into(into)
    return rows.num_rows
