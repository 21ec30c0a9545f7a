"""Near-duplicate text objects (``simtext``): posts whose normalised texts are nearly the
same (word swaps, an emoji, another link or mention) share one object id.

Method (docs/coordination.md, "Near-duplicate text"):

1. The distinct exact-text keys (``normalise.text_key``) of original posts, replies and
   quotes; reposts carry their parent's text and are left out, as for ``text``.
2. Each key's word ``shingle``-grams, hashed in DuckDB (a repeated shingle is left in:
   it cannot change a minimum, and removing repeats took half the step's SQL time).
3. MinHash signatures in numpy: per permutation ``k`` the minimum over a key's shingles
   of ``(a_k * h + b_k) mod 2**64 >> 32`` (multiply-shift hashing, seeded).
4. LSH: ``bands`` bands of ``num_perm / bands`` rows; keys agreeing on a whole band are
   candidates. Inside a bucket each key meets the bucket's first key and the key before
   it, so a huge bucket (a template) costs O(n) pairs, not O(n²).
5. A candidate pair is kept when its estimated Jaccard (agreeing signature positions)
   is ≥ ``threshold``; connected components of the kept pairs are the clusters.
6. Back to posts: every cluster with ≥ 2 posts (near copies or exact copies) is an
   object, id = md5 of its most-posted key (smallest on ties). Lone posts get none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidParams
from ..normalise import text_keys
from .components import component_labels

OBJECT_TYPE = "simtext"
# Shingles per block of the signature computation: its num_perm × _CHUNK array stays in
# the CPU's cache (1M posts: 3.6 s with 1 << 16 and an array per operation, 1.2 s now).
_CHUNK = 1 << 12
_PAIRS = 1 << 14  # candidate pairs compared per block, for the same reason
_WORKERS = min(4, os.cpu_count() or 1)  # numpy frees the GIL in these blocks


@dataclass(frozen=True)
class SimtextParams:
    """``threshold``: minimum estimated Jaccard similarity of two keys' shingle sets.
    With 128 permutations in 32 bands of 4 rows, a pair at Jaccard 0.6 becomes a
    candidate with probability 0.99 (0.87 at 0.5); the estimate's standard error is
    about 0.04."""

    threshold: float = 0.6
    num_perm: int = 128
    bands: int = 32
    shingle: int = 2
    seed: int = 0

    def check(self) -> SimtextParams:
        if not 0 < self.threshold <= 1:
            raise InvalidParams(f"--simtext-threshold must be in (0, 1], not {self.threshold}.")
        if self.bands < 1 or self.num_perm < 1 or self.num_perm % self.bands:
            raise InvalidParams("simtext num_perm must be a positive multiple of bands.")
        if self.shingle < 1:
            raise InvalidParams("simtext shingle must be at least 1.")
        return self


def signatures(
    owner: np.ndarray, hashes: np.ndarray, n: int, num_perm: int = 128, seed: int = 0
) -> np.ndarray:
    """MinHash signatures (n × num_perm, uint32) of ``n`` sets given as (owner, hash)
    rows sorted by owner; every owner in 0..n-1 must have at least one row."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, num_perm, dtype=np.uint64)
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    if len(starts) != n:
        raise ValueError("every set needs at least one element")
    out = np.empty((n, num_perm), np.uint32)
    # Blocks of whole sets (~_CHUNK shingles each), computed in threads (numpy frees the GIL).
    cuts = np.unique(np.searchsorted(starts, np.arange(0, len(h), _CHUNK), side="right") - 1)
    bounds = list(zip(cuts, [*cuts[1:], n], strict=True))
    a_col, b_col, shift = a[:, None], b[:, None], np.uint64(32)

    def block(lo: int, hi: int) -> None:
        s0 = starts[lo]
        s1 = starts[hi] if hi < n else len(h)
        # In place: one num_perm × block array, not one per operation.
        with np.errstate(over="ignore"):  # per thread: numpy's error state is not shared
            x = np.multiply(a_col, h[None, s0:s1])
            x += b_col
        x >>= shift
        out[lo:hi] = np.minimum.reduceat(x, starts[lo:hi] - s0, axis=1).T

    with ThreadPoolExecutor(_WORKERS) as pool:
        list(pool.map(lambda lh: block(*lh), bounds))
    return out


def band_candidates(sig: np.ndarray, bands: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per LSH band, candidate pairs (i, j) sharing that band's bucket, in two parts. The
    next band's are found in a thread while the caller checks these (numpy's sort frees
    the GIL)."""
    n, num_perm = sig.shape
    rows = num_perm // bands
    mult = np.random.default_rng(12345).integers(1, 2**63, rows, dtype=np.uint64) * np.uint64(2)
    mult += np.uint64(1)

    def band(b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        # The bucket key: sum of the band's rows times ``mult``, modulo 2**64, one column
        # at a time (an n × rows copy of the band cost more than its sort).
        with np.errstate(over="ignore"):
            key = sig[:, b * rows].astype(np.uint64) * mult[0]
            for r in range(1, rows):
                key += sig[:, b * rows + r].astype(np.uint64) * mult[r]
        order = np.argsort(key, kind="stable")  # within a bucket: ascending index
        sk = key[order]
        same = sk[1:] == sk[:-1]
        if not same.any():
            return None
        # Each member meets its bucket's first member and its predecessor: O(n) pairs
        # even for a bucket of a million texts; near copies have many bands to meet in.
        first = order[np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(n), 0))]
        j = order[1:][same]
        return first[1:][same], order[:-1][same], j

    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(band, 0)
        for b in range(bands):
            found = ahead.result()
            if b + 1 < bands:
                ahead = pool.submit(band, b + 1)
            if found is not None:
                # The pairs with the first member, then those with the predecessor, of
                # which the caller skips those the first joined (1M posts: 3.5% fewer).
                first_i, pred_i, j = found
                yield first_i, j
                yield pred_i, j


def cluster_labels(sig: np.ndarray, params: SimtextParams) -> np.ndarray:
    """A cluster label per row of ``sig``: connected components of the candidate pairs
    whose estimated Jaccard is ≥ the threshold. Pairs already joined by earlier pairs
    are not verified again."""
    n = len(sig)
    labels = np.arange(n)
    need = int(np.ceil(params.threshold * sig.shape[1] - 1e-9))  # agreeing positions
    # Most candidates fail. Equal positions have equal low bytes, so a pair whose low
    # bytes agree too rarely fails for sure, found from a quarter of the bytes; the
    # others are compared in full (1M posts: 9.3M candidates checked, 23% kept or less).
    low = sig.astype(np.uint8)
    with ThreadPoolExecutor(_WORKERS) as pool:
        for i, j in band_candidates(sig, params.bands):
            new = (labels[i] != labels[j]) & (i != j)
            i, j = i[new], j[new]
            keep = np.empty(len(i), bool)

            def verify(
                s: int, i: np.ndarray = i, j: np.ndarray = j, keep: np.ndarray = keep
            ) -> None:
                a, b = i[s : s + _PAIRS], j[s : s + _PAIRS]
                ok = _agree(low, a, b) >= need
                ok[ok] = _agree(sig, a[ok], b[ok]) >= need
                keep[s : s + _PAIRS] = ok

            list(pool.map(verify, range(0, len(i), _PAIRS)))
            if keep.any():
                labels = _joined(labels, labels[i[keep]], labels[j[keep]])
    return labels


def _agree(sig: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair, how many signature positions of rows ``i[k]`` and ``j[k]`` are equal."""
    return np.count_nonzero(sig.take(i, axis=0) == sig.take(j, axis=0), axis=1)


def _joined(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``labels`` with the components of labels ``a[k]`` and ``b[k]`` merged: a graph on
    the labels these pairs touch, not on every pair kept so far (nor on all n rows)."""
    touched, ends = np.unique(np.concatenate([a, b]), return_inverse=True)
    comp = component_labels(len(touched), ends[: len(a)], ends[len(a) :])
    # Each merged component takes the smallest label in it (labels are row numbers).
    smallest = np.full(comp.max() + 1, len(labels))
    np.minimum.at(smallest, comp, touched)
    relabel = np.arange(len(labels))
    relabel[touched] = smallest[comp]
    return relabel[labels]


def key_labels(con: duckdb.DuckDBPyConnection, keys: pa.Array, params: SimtextParams) -> np.ndarray:
    """Cluster labels of distinct, non-empty text keys, whatever their order.

    The keys are taken in sorted order: which candidates LSH compares depends on it
    (bucket members meet their first and previous member), and the order of DuckDB's
    parallel DISTINCT made other clusters from run to run (1M posts: 8% of the
    ``simtext`` actions differed between two runs)."""
    n = len(keys)
    if n == 0:
        return np.empty(0, np.int64)
    order = pc.sort_indices(keys).to_numpy()
    labels = np.empty(n, np.int64)
    labels[order] = _sorted_key_labels(con, keys.take(order), params)
    return labels


def _sorted_key_labels(
    con: duckdb.DuckDBPyConnection, keys: pa.Array, params: SimtextParams
) -> np.ndarray:
    n = len(keys)
    k = params.shingle
    rel = con.from_arrow(pa.table({"kid": pa.array(np.arange(n)), "key": keys}))
    sh = rel.query(
        "_keys",
        f"""
        WITH w AS (SELECT kid, string_split(key, ' ') AS w FROM _keys)
        SELECT kid, hash(list_slice(w, i, i + {k - 1})) AS h
        FROM (SELECT kid, w, unnest(range(1, greatest(len(w) - {k - 1}, 1) + 1)) AS i FROM w)
        ORDER BY kid
        """,
    ).to_arrow_table()
    sig = signatures(
        sh.column("kid").to_numpy(), sh.column("h").to_numpy(), n, params.num_perm, params.seed
    )
    del sh, rel  # the shingles (16 bytes each) are not needed by the candidates' check
    return cluster_labels(sig, params)


def simtext_actions(
    con: duckdb.DuckDBPyConnection, posts: str = "posts", params: SimtextParams | None = None
) -> pa.Table:
    """The ``simtext`` actions (account_id, object_type, object_id, t, post_id) of the
    posts in table ``posts`` (canonical post columns)."""
    p = (params or SimtextParams()).check()
    texts = con.sql(
        f"SELECT DISTINCT text FROM {posts} WHERE kind <> 'repost' AND text IS NOT NULL"
    ).to_arrow_table()
    keys = text_keys(texts.column("text"))
    keep = pc.not_equal(keys, "")
    texts_kept, keys_kept = pc.filter(texts.column("text"), keep), pc.filter(keys, keep)
    del texts, keys, keep  # 10M posts: ~6M texts; memory is tight once the signatures exist
    enc = pc.dictionary_encode(keys_kept)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    labels = key_labels(con, enc.dictionary, p)
    mapping = pa.table(
        {
            "text": texts_kept,
            "key": keys_kept,
            "label": pa.array(labels[enc.indices.to_numpy(zero_copy_only=False)], pa.int64()),
        }
    )
    return (
        con.from_arrow(mapping)
        .query(
            "_map",
            f"""
        WITH p AS (
          SELECT q.account_id, q.created_at, q.post_id, m.key, m.label
          FROM {posts} q JOIN _map m ON q.text = m.text WHERE q.kind <> 'repost'),
        per_key AS (SELECT label, key, count(*) AS n FROM p GROUP BY label, key),
        rep AS (
          SELECT label, md5(first(key ORDER BY n DESC, key)) AS oid, sum(n) AS n
          FROM per_key GROUP BY label HAVING sum(n) >= 2)
        SELECT p.account_id, '{OBJECT_TYPE}' AS object_type, rep.oid AS object_id,
               p.created_at AS t, p.post_id
        FROM p JOIN rep USING (label)
        ORDER BY p.post_id
        """,
        )
        .to_arrow_table()
    )


def store_simtext_actions(
    con: duckdb.DuckDBPyConnection,
    params: SimtextParams | None = None,
    posts: str = "posts",
    into: str = "actions",
) -> int:
    """Replace the ``simtext`` rows of ``into`` with those derived from ``posts`` now
    (so reruns never duplicate them); returns how many were stored. The caller owns the
    transaction."""
    rows = simtext_actions(con, posts, params)
    con.execute(f"DELETE FROM {into} WHERE object_type = '{OBJECT_TYPE}'")
    con.from_arrow(rows).insert_into(into)
    return rows.num_rows
