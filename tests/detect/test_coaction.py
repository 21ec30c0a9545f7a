"""Our own semantics on tiny scenarios, each with its expected edges beside it.

These use min_weight=1 to see every edge; significance is exercised in
test_significance.py.
"""

from __future__ import annotations

import math

import duckdb
import pytest

from civicsentry.detect import parse_duration, parse_windows
from civicsentry.errors import InvalidParams

from .conftest import edges, load, run, shares


def test_window_is_inclusive(con: duckdb.DuckDBPyConnection) -> None:
    # o1: A@0, B@60 (Δ = w: linked) · o2: C@0, D@61 (Δ = w + 1: not linked)
    load(con, shares([("A", "o1", 0), ("B", "o1", 60), ("C", "o2", 0), ("D", "o2", 61)]))
    r = run(con, windows="60s", min_weight=1)
    assert edges(con, r) == {("A", "B", 1)}


def test_subsecond_resolution(con: duckdb.DuckDBPyConnection) -> None:
    # Δ = 60.5 s misses a 60 s window, Δ = 59.999 s makes it.
    load(con, shares([("A", "o1", 0), ("B", "o1", 60.5), ("C", "o2", 0), ("D", "o2", 59.999)]))
    assert edges(con, run(con, windows="60s", min_weight=1)) == {("C", "D", 1)}


def test_self_pairs_and_repeated_shares(con: duckdb.DuckDBPyConnection) -> None:
    # o1: A@0, A@5, B@10 → A–B weight 1 (one object), pairs 2 (both A shares with B);
    # A with itself is no edge. o2: E@0, E@1 → nothing.
    load(
        con,
        shares([("A", "o1", 0), ("A", "o1", 5), ("B", "o1", 10), ("E", "o2", 0), ("E", "o2", 1)]),
    )
    r = run(con, windows="60s", min_weight=1)
    assert edges(con, r, columns="weight, pairs, min_delay_s") == {("A", "B", 1, 2, 5.0)}


def test_edge_attributes(con: duckdb.DuckDBPyConnection) -> None:
    # A–B co-act on o1 (Δ 4 s), o2 (Δ 10 s), o3 (Δ 30 s): weight 3, median of the per-object
    # smallest delays 10 s, first share at 0 s, last co-acting share at 1030 s.
    load(
        con,
        shares(
            [
                ("A", "o1", 0),
                ("B", "o1", 4),
                ("B", "o2", 500),
                ("A", "o2", 510),
                ("A", "o3", 1000),
                ("B", "o3", 1030),
            ]
        ),
    )
    r = run(con, windows="60s", min_weight=1)
    row = con.execute(
        f"SELECT weight, pairs, min_delay_s, median_delay_s, epoch(first_t), epoch(last_t), "
        f"object_types FROM {r.edges} WHERE object_type = 'repost'"
    ).fetchall()
    t0 = con.execute("SELECT epoch(min(t)) FROM actions").fetchall()[0][0]
    w, pairs, mn, med, first, last, types = row[0]
    assert (w, pairs, mn, med, types) == (3, 3, 4.0, 10.0, "repost")
    assert (first - t0, last - t0) == (0, 1030)
    # weight_pop: each object has two accounts, so each counts 1/log2(2) = 1.
    assert con.execute(f"SELECT weight_pop FROM {r.edges} LIMIT 1").fetchall()[0][0] == 3.0


def test_per_type_windows_and_multi(con: duckdb.DuckDBPyConnection) -> None:
    # url u1: A@0, B@50 · repost r1: A@0, B@50 · hashtag h1: A@0, B@5
    rows = [
        ("A", "url", "u1", 0, "p1"),
        ("B", "url", "u1", 50, "p2"),
        ("A", "repost", "r1", 0, "p3"),
        ("B", "repost", "r1", 50, "p4"),
        ("A", "hashtag", "h1", 0, "p5"),
        ("B", "hashtag", "h1", 5, "p6"),
    ]
    load(con, rows)
    r = run(con, windows="url=60s,repost=10s,hashtag=10s", min_weight=1)
    assert edges(con, r, "url") == {("A", "B", 1)}
    assert edges(con, r, "repost") == set()  # 50 s > 10 s
    assert edges(con, r, "hashtag") == {("A", "B", 1)}
    # multi: distinct (type, object) co-acted on, each type with its own window.
    assert edges(con, r, "multi", "weight, object_types") == {("A", "B", 2, "hashtag,url")}
    assert {w.object_type: w.seconds for w in r.windows} == {
        "repost": 10.0,
        "url": 60.0,
        "hashtag": 10.0,
    }


def test_min_participation(con: duckdb.DuckDBPyConnection) -> None:
    # A–B co-act on o1 and o2; A–C only on o3. With k = 2, C co-acts on one object
    # only and drops out; A (3 objects) and B (2) stay.
    rows = shares(
        [
            ("A", "o1", 0),
            ("B", "o1", 1),
            ("A", "o2", 100),
            ("B", "o2", 101),
            ("A", "o3", 200),
            ("C", "o3", 201),
        ]
    )
    load(con, rows)
    assert edges(con, run(con, windows="60s", min_weight=1)) == {("A", "B", 2), ("A", "C", 1)}
    assert edges(con, run(con, windows="60s", min_weight=1, min_participation=2)) == {("A", "B", 2)}


def test_min_weight(con: duckdb.DuckDBPyConnection) -> None:
    rows = shares(
        [
            ("A", "o1", 0),
            ("B", "o1", 1),
            ("A", "o2", 100),
            ("B", "o2", 101),
            ("A", "o3", 200),
            ("C", "o3", 201),
        ]
    )
    load(con, rows)
    r = run(con, windows="60s", min_weight=2)
    assert edges(con, r) == {("A", "B", 2)}
    # The weight-1 edge is not stored but still counts among the hypotheses; m counts
    # (object, pair) co-actions (3 here), an upper bound of the edges (2).
    assert r.networks["repost"]["hypotheses"] == 3


def test_viral_object_is_capped_and_reported(con: duckdb.DuckDBPyConnection) -> None:
    # 200 accounts share object v, one every 0.5 s (100 s in all); window 60 s, so a
    # share has up to 120 followers in its window but meets only the next 10.
    rows = shares([(f"a{i:03d}", "v", i * 0.5) for i in range(200)])
    rows += shares([("X", "quiet", 0), ("Y", "quiet", 3)])
    load(con, rows)
    r = run(con, windows="60s", min_weight=1, max_partners=10, viral_accounts=150, viral_partners=4)
    caps = con.execute(
        f"SELECT object_id, n_shares, n_accounts, max_partners, shares_capped, "
        f"pairs_within_window, pairs_kept, action FROM {r.caps}"
    ).fetchall()
    exact = sum(min(120, 199 - i) for i in range(200))  # followers within 60 s, exactly
    kept = sum(min(4, 199 - i) for i in range(200))
    # viral (≥ 150 accounts): capped at 4 partners and down-weighted.
    # Capped: the shares with a 5th follower inside the window (the first 195).
    assert caps == [("v", 200, 200, 4, 195, exact, kept, "capped,downweighted")]
    assert len(edges(con, r)) == kept + 1  # every kept pair is a distinct account pair, + X–Y
    flags = con.execute(
        f"SELECT capped, downweighted, count(*) FROM {r.edges} "
        "WHERE object_type = 'repost' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert flags == [(False, False, 1), (True, True, kept)]
    # Without a cap the same data gives every pair within the window.
    full = run(con, windows="60s", min_weight=1, max_partners=0)
    assert len(edges(con, full)) == exact + 1


def test_hundred_thousand_shares_in_an_hour(con: duckdb.DuckDBPyConnection) -> None:
    # The viral case: 100,000 accounts share one post within an hour, beside
    # ordinary data. Each share meets at most 5 followers (viral cap): ≤ 500,000 pairs
    # instead of the ~5.5 million inside a 2-minute window; the cap is reported.
    n = 100_000
    rows = shares([(f"v{i:06d}", "viral", i * 3600 / n) for i in range(n)])
    rows += shares([("A", "o1", 0), ("B", "o1", 5), ("A", "o2", 500), ("B", "o2", 505)])
    load(con, rows)
    r = run(con, object_types=["repost"], min_weight=1)
    cap = con.execute(
        f"SELECT n_shares, max_partners, pairs_within_window, pairs_kept, action "
        f"FROM {r.caps} WHERE object_id = 'viral'"
    ).fetchall()
    assert cap == [
        (
            n,
            5,
            sum(min(3333, n - 1 - i) for i in range(n)),
            sum(min(5, n - 1 - i) for i in range(n)),
            "capped,downweighted",
        )
    ]
    assert r.networks["repost"]["edges"] == sum(min(5, n - 1 - i) for i in range(n)) + 1
    # The pair that met on ordinary posts is there; meeting on the viral post proves nothing.
    assert ("A", "B", 2) in edges(con, r)
    assert r.networks["repost"]["significant"] == 0


def test_popular_but_uncapped_object_is_reported(con: duckdb.DuckDBPyConnection) -> None:
    rows = shares([(f"a{i}", "big", i * 100.0) for i in range(5)])
    load(con, rows)
    r = run(con, windows="60s", min_weight=1, viral_accounts=5)
    assert con.execute(f"SELECT object_id, shares_capped, action FROM {r.caps}").fetchall() == [
        ("big", 0, "downweighted")
    ]


def test_empty_input(con: duckdb.DuckDBPyConnection) -> None:
    load(con, [])
    r = run(con)
    assert con.execute(f"SELECT count(*) FROM {r.edges}").fetchall() == [(0,)]
    assert r.shares == {"repost": 0, "url": 0, "hashtag": 0}


def test_parse_windows() -> None:
    assert parse_windows("60s") == {"*": 60.0}
    assert parse_windows("url=60s,repost=10s") == {"url": 60.0, "repost": 10.0}
    assert parse_windows(["1m", "hashtag=auto", "url=500ms"]) == {
        "*": 60.0,
        "hashtag": "auto",
        "url": 0.5,
    }
    assert parse_duration("2h") == 7200.0
    assert parse_duration(15) == 15.0
    with pytest.raises(InvalidParams, match="Cannot read the duration"):
        parse_windows("url=fast")


def test_unknown_window_type_is_an_error(con: duckdb.DuckDBPyConnection) -> None:
    load(con, shares([("A", "o1", 0)]))
    with pytest.raises(InvalidParams, match="not among the object types"):
        run(con, windows="media=10s")


def test_automatic_window(con: duckdb.DuckDBPyConnection) -> None:
    # Ten objects, each shared 4 times; object i's second share comes i+1 s after the
    # first and its shares pass half (the 3rd share) at 10·(i+1) s. q = 0.1 keeps the
    # quickest object(s) by second-share delay: the 0.1 quantile of 1..10 s is 1.9 s, so
    # object 0 alone (1 s), which passes half its shares at 10 s: the window is 10 s.
    rows = []
    for i in range(10):
        for j, dt in enumerate([0, i + 1, 10 * (i + 1), 100 * (i + 1)]):
            rows.append((f"acc{j}", f"o{i}", float(dt)))
    load(con, shares(rows))
    r = run(con, windows="auto", min_weight=1, object_types=["repost"])
    (w,) = r.windows
    assert (w.source, w.seconds) == ("estimated", 10.0)
    assert "CooRnet" in w.reason and w.stats["objects"] == 10


def test_weight_pop_does_not_depend_on_row_order() -> None:
    # A and B co-share 40 objects; object i also has i % 9 other accounts (a day later,
    # outside the window), so the 40 terms 1/log2(accounts) differ. A float sum in
    # arrival order gives different last bits for a different row order; the same input
    # must give the same edge, bit for bit, however it is stored.
    rows = []
    for i in range(40):
        rows += [("A", f"o{i}", 10 * i), ("B", f"o{i}", 10 * i + 3)]
        rows += [(f"X{j}", f"o{i}", 86_400 + j) for j in range(i % 9)]
    expected = sum(1 / math.log2(max(2, 2 + i % 9)) for i in range(40))
    got = []
    for order in (rows, rows[::-1], rows[1::2] + rows[::2]):
        c = duckdb.connect()
        c.execute("SET TimeZone = 'UTC'")
        load(c, shares(order))
        r = run(c, windows="60s", min_weight=1)
        got.append(edges(c, r, columns="weight, weight_pop", where="account_a = 'A'"))
        c.close()
    assert got[0] == got[1] == got[2]
    ((_, b, weight, weight_pop),) = got[0]
    assert (b, weight) == ("B", 40) and weight_pop == pytest.approx(expected, abs=1e-9)
