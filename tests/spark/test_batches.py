"""The pieces that let Spark's executors run the significance arithmetic in batches and
still give the one-machine numbers exactly: Monte-Carlo uniforms found by jumping the
seeded stream, Benjamini–Hochberg in blocks of ranks, and Arrow batches regrouped so
that no edge is split. Pure numpy and Arrow: no Spark needed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from civicsentry.detect import benjamini_hochberg
from civicsentry.detect.significance import bh_scaled, bh_step_up, uniforms


def test_uniforms_jump_to_the_rows_of_one_stream() -> None:
    seed, n_keys = 7, 50
    rng = np.random.default_rng(seed)
    rounds = [rng.random((n_keys, 64)) for _ in range(3)]  # what one machine draws
    keys = np.array([0, 1, 2, 9, 30, 31, 49])  # runs of consecutive keys and lone ones
    for c, full in enumerate(rounds):
        assert np.array_equal(uniforms(seed, c, n_keys, keys), full[keys])
    assert uniforms(seed, 0, n_keys, np.zeros(0, np.int64)).shape == (0, 64)


def test_benjamini_hochberg_in_blocks_equals_one_sort() -> None:
    """Blocks of consecutive ranks, each given the minimum of the blocks after it, give
    the same q-values bit for bit, ties included (known answer: the docstring case)."""
    rng = np.random.default_rng(5)
    p = np.round(rng.random(1000) ** 3, 3)  # many ties
    m = 1500
    whole = benjamini_hochberg(p, m)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    starts = [0, 1, 2, 250, 600, 999]
    ends = [*starts[1:], len(p)]
    mins = [bh_scaled(ps[a:b], m, a + 1).min() for a, b in zip(starts, ends, strict=True)]
    q = np.empty(len(p))
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        later = min(mins[i + 1 :], default=np.inf)
        q[order[a:b]] = bh_step_up(bh_scaled(ps[a:b], m, a + 1), later)
    assert np.array_equal(q, whole)
    assert np.allclose(
        benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.2])), [0.04, 0.0533333, 0.0533333, 0.2]
    )


def test_batches_are_regrouped_whole() -> None:
    from civicsentry.detect.spark_significance import _whole_groups

    code = [0, 0, 0, 0, 1, 1, 1, 1, 1, 2]
    pair = [5, 5, 7, 7, 5, 5, 5, 8, 9, 9]
    t = pa.table({"code": code, "pair": pair, "x": list(range(10))})
    rb = t.combine_chunks().to_batches()[0]
    batches = [rb.slice(0, 3), rb.slice(3, 0), rb.slice(3, 3), rb.slice(6, 4)]  # one empty
    seen: list[list[tuple[int, int]]] = []

    def fn(b: pa.Table) -> pa.RecordBatch:
        seen.append(
            list(zip(b.column("code").to_pylist(), b.column("pair").to_pylist(), strict=True))
        )
        return b.to_batches()[0]

    out = pa.Table.from_batches(list(_whole_groups(fn, ["code", "pair"], iter(batches))))
    assert out.column("x").to_pylist() == list(range(10))  # every row once, in order
    groups = [g for b in seen for g in dict.fromkeys(b)]
    assert len(groups) == len(set(groups)) == 6  # no (code, pair) in two batches
