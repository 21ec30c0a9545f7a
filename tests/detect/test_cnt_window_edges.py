"""cnt semantics at the edge of the window: the toolkit's window is inclusive, and a
message is counted once per partner account however many of that account's shares fall
inside its window (peers.cnt_edges counts the partner's *first* share inside it, using
the share's ``prev_end`` and ``solo_ts`` from sweep.shares_sql).
"""

from __future__ import annotations

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import edges, load, run, shares
from .test_peers import cnt_detected_and_defined


def test_previous_share_exactly_a_window_earlier(con: duckdb.DuckDBPyConnection) -> None:
    # Window 10 s. A@20; B@10 and B@25 are both inside A's window [10, 30], B@10 exactly
    # on its edge, so A's one message has a partner in B once: A→B 1. Each of B's two
    # messages has A within 10 s: B→A 2.
    load(con, shares([("B", "o", 10), ("A", "o", 20), ("B", "o", 25)]))
    r = run(con, semantics="cnt", windows="10s")
    assert edges(con, r, columns="weight_ab, weight_ba, pairs") == {("A", "B", 1, 2, 2)}


def test_window_of_zero_seconds(con: duckdb.DuckDBPyConnection) -> None:
    # Window 0 s: only equal times pair. A@5, B@5 twice (two posts), C@6: A→B 1, B→A 2;
    # C pairs with nobody.
    load(con, shares([("A", "o", 5), ("B", "o", 5), ("B", "o", 5), ("C", "o", 6)]))
    r = run(con, semantics="cnt", windows="0s")
    assert edges(con, r, columns="weight_ab, weight_ba, pairs") == {("A", "B", 1, 2, 2)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from("ABC"),
            st.lists(st.sampled_from(["u1", "u2"]), min_size=1, max_size=2, unique=True),
            st.integers(0, 12),
        ),
        min_size=2,
        max_size=12,
    ),
    st.sampled_from([0, 2]),
)
def test_cnt_small_windows_match_the_definition(
    posts: list[tuple[str, list[str], int]], window: int
) -> None:
    # Times that fall exactly on window edges often (small integers, windows 0 and 2 s).
    got, want = cnt_detected_and_defined(posts, window)
    assert got == want
