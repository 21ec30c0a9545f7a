"""Narratives as communities of a nearest-neighbour graph of text embeddings.

Method (docs/narratives.md, "Clustering"):

1. Units: near-duplicate groups of texts (``simtext`` MinHash/LSH, the coordination
   engine's own) are one unit each, their vector the normalised, post-weighted mean
   of their texts' embeddings; every other distinct text is a unit of its own. A
   copy-paste campaign therefore enters as one heavy unit and cannot be split.
2. Neighbours: each unit's ``k`` most similar units by cosine, kept when ≥
   ``min_similarity``. Exact (blocked matrix products) up to ``exact_limit`` units;
   beyond it an inverted-file search: spherical k-means puts the units into
   √n cells, each unit is compared with the members of its ``probes`` nearest cells.
   Cost O(n·√n·d) instead of O(n²·d), and a pair of near-identical texts nearly
   always shares a cell.
3. Edges touching a copy-paste group (a near-duplicate unit posted by ≥ 2 accounts)
   are kept only at ≥ ``copy_similarity``: the campaign's message may gather its
   rewordings and translations, not the topical chatter around it.
4. Leiden (modularity, weights = cosine) on that graph; communities whose units hold
   at least ``min_posts`` posts are the narratives, the rest stay unassigned.

Why not k-means alone: it assigns every text somewhere (organic chatter would be
glued to campaign messages) and needs the number of narratives in advance; the
thresholded graph leaves unrelated texts alone and finds the number itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import igraph as ig
import leidenalg
import numpy as np

from ..errors import InvalidParams


@dataclass(frozen=True)
class ClusterParams:
    """Parameters of narrative clustering; the defaults suit USE m3 vectors (on which
    unrelated sentences score ~0.1 and translations ~0.8; docs/narratives.md)."""

    k: int = 10
    min_similarity: float = 0.65
    min_posts: int = 5
    copy_similarity: float = 0.8
    resolution: float = 1.0
    exact_limit: int = 5_000
    probes: int = 3
    seed: int = 0

    def check(self) -> ClusterParams:
        if not 0 < self.min_similarity < 1 or not 0 < self.copy_similarity <= 1:
            raise InvalidParams(
                "--min-similarity and --copy-similarity must be in (0, 1), not "
                f"{self.min_similarity} and {self.copy_similarity}."
            )
        if self.k < 1 or self.min_posts < 1 or self.probes < 1:
            raise InvalidParams("k, min_posts and probes must be at least 1.")
        if self.resolution <= 0:
            raise InvalidParams(f"--resolution must be positive, not {self.resolution}.")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, int, int], None]


def unit_vectors(
    vectors: np.ndarray, unit: np.ndarray, weight: np.ndarray, n_units: int
) -> np.ndarray:
    """Normalised, weighted mean vector per unit (``unit[i]`` is row i's unit)."""
    from scipy import sparse

    pick = sparse.csr_matrix(
        (weight.astype(np.float32), (unit, np.arange(len(unit)))), shape=(n_units, len(unit))
    )
    out = np.asarray(pick @ vectors, dtype=np.float32)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norm > 0, norm, 1)


def _topk_rows(
    q: np.ndarray, qi: np.ndarray, db: np.ndarray, di: np.ndarray, k: int, tau: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j, cos) from each query row to its k most similar db rows (≥ tau)."""
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    sim: list[np.ndarray] = []
    kk = min(k + 1, len(di))  # + 1: a row meets itself
    for s in range(0, len(qi), 1024):
        s_block = q[s : s + 1024] @ db.T
        top = np.argpartition(-s_block, kk - 1, axis=1)[:, :kk]
        vals = np.take_along_axis(s_block, top, axis=1)
        rows = np.repeat(qi[s : s + 1024], kk)
        cols = di[top.ravel()]
        v = vals.ravel()
        keep = (v >= tau) & (rows != cols)
        src.append(rows[keep])
        dst.append(cols[keep])
        sim.append(v[keep])
    if not src:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    return np.concatenate(src), np.concatenate(dst), np.concatenate(sim)


def coarse_centroids(v: np.ndarray, cells: int, seed: int = 0, iters: int = 8) -> np.ndarray:
    """Spherical k-means on a sample of 32 rows per cell: the cells of the inverted-file
    search only need to put near texts together, not to be optimal."""
    rng = np.random.default_rng(seed)
    sample = v[rng.choice(len(v), min(len(v), 32 * cells), replace=False)]
    c = sample[rng.choice(len(sample), cells, replace=False)].copy()
    for _ in range(iters):
        label = np.argmax(sample @ c.T, axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, label, sample)
        norm = np.linalg.norm(sums, axis=1, keepdims=True)
        c = np.where(norm > 0, sums / np.where(norm > 0, norm, 1), c)  # empty cell: keep
    return c.astype(np.float32)


def neighbour_edges(
    v: np.ndarray, p: ClusterParams, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (i < j, unique) between each unit and its nearest neighbours."""
    n = len(v)
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    every = np.arange(n)
    if n <= p.exact_limit:
        i, j, s = _topk_rows(v, every, v, every, p.k, p.min_similarity)
    else:
        cells = int(np.sqrt(n))
        centroids = coarse_centroids(v, cells, p.seed)
        probes = min(p.probes, cells)
        near = np.empty((n, probes), np.int64)
        for b0 in range(0, n, 8192):
            sc = v[b0 : b0 + 8192] @ centroids.T
            near[b0 : b0 + 8192] = np.argsort(-sc, axis=1)[:, :probes]
        home = near[:, 0]
        order = np.argsort(home, kind="stable")
        starts = np.searchsorted(home[order], np.arange(cells + 1))
        probe_cell = near.ravel()
        probe_order = np.argsort(probe_cell, kind="stable")
        probe_starts = np.searchsorted(probe_cell[probe_order], np.arange(cells + 1))
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for c in range(cells):
            members = order[starts[c] : starts[c + 1]]
            # Queries: units that probe this cell; database: the cell's home members.
            q = probe_order[probe_starts[c] : probe_starts[c + 1]] // probes
            if len(members) and len(q):
                parts.append(_topk_rows(v[q], q, v[members], members, p.k, p.min_similarity))
            if progress and c % 50 == 0:
                progress("neighbours", c, cells)
        i = np.concatenate([x[0] for x in parts]) if parts else np.empty(0, np.int64)
        j = np.concatenate([x[1] for x in parts]) if parts else np.empty(0, np.int64)
        s = np.concatenate([x[2] for x in parts]) if parts else np.empty(0, np.float32)
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a.astype(np.int64) * n + b
    key, first = np.unique(key, return_index=True)
    return a[first], b[first], s[first]


def cluster_units(
    v: np.ndarray,
    posts: np.ndarray,
    p: ClusterParams,
    copies: np.ndarray | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A narrative id per unit (0 = none), numbered 1, 2, ... by posts (most first,
    ties by smallest unit index), and a summary of the graph. ``copies`` marks the
    units that are copy-paste groups (near-duplicates posted by several accounts)."""
    p = p.check()
    n = len(v)
    if n == 0:
        return np.zeros(0, np.int64), {"units": 0, "edges": 0, "communities": 0}
    a, b, s = neighbour_edges(v, p, progress)
    if copies is not None and copies.any():
        # A copy-paste group joins only texts that say nearly the same (rewordings,
        # translations), never the looser topical neighbourhood around it.
        loose = (copies[a] | copies[b]) & (s < p.copy_similarity)
        a, b, s = a[~loose], b[~loose], s[~loose]
    g = ig.Graph(n=n, edges=np.column_stack([a, b]).tolist(), directed=False)
    part = leidenalg.find_partition(
        g,
        leidenalg.RBConfigurationVertexPartition,
        weights=s.astype(float).tolist(),
        resolution_parameter=p.resolution,
        n_iterations=2,
        seed=p.seed,
    )
    membership = np.asarray(part.membership, np.int64)
    mass = np.bincount(membership, weights=posts.astype(float))
    first = np.full(len(mass), n, np.int64)
    np.minimum.at(first, membership, np.arange(n))
    kept = np.flatnonzero(mass >= p.min_posts)
    order = kept[np.lexsort((first[kept], -mass[kept]))]
    new_id = np.zeros(len(mass), np.int64)
    new_id[order] = np.arange(1, len(order) + 1)
    return new_id[membership], {
        "units": n,
        "edges": len(a),
        "communities": len(mass),
        "narratives": len(order),
        "search": "exact" if n <= p.exact_limit else f"ivf({int(np.sqrt(n))} cells)",
    }
