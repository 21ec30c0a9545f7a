"""Significance: the exact tails against brute force and Monte Carlo, and a planted pair
told apart from accounts that merely met on a viral object."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pytest

from civicsentry.detect import benjamini_hochberg, poisson_binomial_sf

from .conftest import Action, load, run

DAY = 86400.0


def test_poisson_binomial_against_enumeration() -> None:
    rng = np.random.default_rng(3)
    groups, ps, ks, expected = [], [], [], []
    for g in range(40):
        n = int(rng.integers(1, 8))
        p = rng.random(n)
        k = int(rng.integers(0, n + 2))
        tail = sum(
            np.prod([p[i] if bit else 1 - p[i] for i, bit in enumerate(bits)])
            for bits in itertools.product([0, 1], repeat=n)
            if sum(bits) >= k
        )
        groups += [g] * n
        ps += p.tolist()
        ks.append(k)
        expected.append(tail)
    got = poisson_binomial_sf(np.array(groups), np.array(ps), np.array(ks))
    assert np.allclose(got, expected, rtol=1e-10, atol=1e-15)
    # Conditional on at least one success, as edges are only looked at when they exist.
    p1 = poisson_binomial_sf(np.array(groups), np.array(ps), np.ones(40, dtype=int))
    cond = poisson_binomial_sf(np.array(groups), np.array(ps), np.array(ks), given_one=True)
    assert np.allclose(cond, np.minimum(1, np.array(expected) / p1), rtol=1e-10)


def test_benjamini_hochberg() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 → ×4/rank: 0.04, 0.06, 0.0533, 0.2 → monotone from the end
    assert np.allclose(benjamini_hochberg(p), [0.04, 0.0533333, 0.0533333, 0.2])
    # Hypotheses screened out untested count in m (as p = 1).
    assert np.allclose(benjamini_hochberg(np.array([0.01]), m=10), [0.1])


def scenario(seed: int = 7) -> list[Action]:
    """400 ordinary accounts each repost 15 of 600 posts at random times over a week; 300
    of them also repost one viral post within half an hour. P1 and P2 repost 10 niche
    posts, P2 at most 20 s after P1, besides their own ordinary activity."""
    rng = np.random.default_rng(seed)
    rows: list[Action] = []
    for a in range(400):
        for o in rng.choice(600, 15, replace=False):
            rows.append((f"u{a:03d}", "repost", f"post{o}", float(rng.uniform(0, 7 * DAY)), ""))
    for a in rng.choice(400, 300, replace=False):
        rows.append((f"u{a:03d}", "repost", "viral", float(3 * DAY + rng.uniform(0, 1800)), ""))
    for who in ("P1", "P2"):
        for o in rng.choice(600, 15, replace=False):
            rows.append((who, "repost", f"post{o}", float(rng.uniform(0, 7 * DAY)), ""))
    for i in range(10):
        t = float(rng.uniform(0, 7 * DAY))
        rows.append(("P1", "repost", f"niche{i}", t, ""))
        rows.append(("P2", "repost", f"niche{i}", t + float(rng.uniform(0, 20)), ""))
    return [(a, ty, o, s, f"m{i}") for i, (a, ty, o, s, _) in enumerate(rows)]


@pytest.fixture
def planted(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    load(con, scenario())
    return con


def test_planted_pair_is_significant_and_viral_pairs_are_not(
    planted: duckdb.DuckDBPyConnection,
) -> None:
    r = run(planted, object_types=["repost"], windows="60s", min_weight=1)
    rows = planted.execute(
        f"SELECT account_a, account_b, weight, p_value, q_value, significant FROM {r.edges} "
        "WHERE object_type = 'repost'"
    ).fetchall()
    by_pair = {(a, b): (w, p, q, s) for a, b, w, p, q, s in rows}
    w, p, q, sig = by_pair[("P1", "P2")]
    assert w == 10 and sig and p < 1e-6 and q <= 0.05
    # Hundreds of pairs met on the viral post (some twice, with an ordinary post): none
    # is significant, and a weight-1 edge has p = 1 (an edge is conditioned on existing).
    viral = [v for k, v in by_pair.items() if k != ("P1", "P2")]
    assert len(viral) > 100
    assert not any(s for *_, s in viral)
    assert all(p == 1.0 for w, p, _, _ in viral if w == 1 and p is not None)
    assert r.networks["repost"]["significant"] == 1


def test_default_output_is_significant_edges_and_everything_is_stored(
    planted: duckdb.DuckDBPyConnection,
) -> None:
    r = run(planted, object_types=["repost"], windows="60s")  # default min_weight 2
    counts = planted.execute(
        f"SELECT significant, count(*) FROM {r.edges} WHERE object_type = 'repost' "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert counts[-1] == (True, 1)
    assert sum(n for _, n in counts) == r.networks["repost"]["edges"] >= 1


def test_monte_carlo_agrees_with_the_exact_tail(con: duckdb.DuckDBPyConnection) -> None:
    # Q1 and Q2 both repost 8 posts; on 3 they act within 60 s, on the others 2–15 min
    # apart: the timing null finds that moderately surprising.
    rows: list[Action] = []
    gaps = [10, 30, 50, 200, 400, 600, 750, 900]
    for i, g in enumerate(gaps):
        rows += [
            ("Q1", "repost", f"x{i}", i * DAY, f"a{i}"),
            ("Q2", "repost", f"x{i}", i * DAY + g, f"b{i}"),
        ]
    load(con, rows)
    kw = {"object_types": ["repost"], "windows": "60s", "alpha": 1.0}
    exact = run(con, **kw)
    mc = run(con, **kw, n_null=20000, seed=11)
    sql = "SELECT p_timing FROM {} WHERE object_type = 'repost'"
    (p_exact,) = con.execute(sql.format(exact.edges)).fetchall()[0]
    (p_mc,) = con.execute(sql.format(mc.edges)).fetchall()[0]
    assert 0.005 < p_exact < 0.5
    assert p_mc == pytest.approx(p_exact, rel=0.15)
    # Same seed, same p-values.
    again = run(con, **kw, n_null=20000, seed=11)
    assert con.execute(sql.format(again.edges)).fetchall()[0][0] == p_mc
