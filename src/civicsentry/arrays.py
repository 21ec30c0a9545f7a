"""NumPy helpers shared by the detection, signals, simulation and claims code.

Why not ``np.unique``: since NumPy 2.3 a plain ``np.unique(x)`` goes through a hash
table that is superlinear on millions of distinct 64-bit integers (measured with NumPy
2.4.6: 1M distinct values 1.1 s, 4M 7.9 s, against 0.02 s and 0.09 s by sorting). These
sort instead; they take integer arrays only (no NaN to fold).
"""

from __future__ import annotations

import numpy as np


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array (what ``np.unique(x)`` returns)."""
    xs = np.sort(np.ravel(x))
    keep = np.ones(len(xs), bool)
    keep[1:] = xs[1:] != xs[:-1]
    out: np.ndarray = xs[keep]
    return out


def unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of an integer array and each element's position among
    them (like ``np.unique(x, return_inverse=True)``)."""
    order = np.argsort(x)
    xs = x[order]
    first = np.ones(len(xs), bool)
    first[1:] = xs[1:] != xs[:-1]
    inv = np.empty(len(x), np.int64)
    inv[order] = np.cumsum(first) - 1
    return xs[first], inv
