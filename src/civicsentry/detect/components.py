"""Connected components of an undirected graph given as index pairs: the grouping step
shared by near-duplicate texts (``simtext``) and near-identical media (``media``)."""

from __future__ import annotations

import numpy as np


def component_labels(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A label per node 0..n-1: nodes joined by some chain of (i[k], j[k]) edges share
    one. scipy is imported here, not at module load: it costs every CLI command ~0.2 s."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]
