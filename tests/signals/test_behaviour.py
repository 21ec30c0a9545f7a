"""Behavioural signals on hand-built timelines; the expected values are worked out
beside each case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from civicsentry.signals import behaviour
from civicsentry.signals.frames import Posts, Shares, Texts
from civicsentry.signals.params import SignalParams

P = SignalParams(min_posts=3, pile_on_seconds=10, viral_shares=5)
T0 = 1_730_073_600.0  # Monday 2024-10-28 00:00 UTC


def posts(rows: list[tuple[int, float, int, bool]]) -> Posts:
    """(account, seconds after T0, kind 0 post/1 repost/2 reply/3 quote, has link)."""
    rows = sorted(rows)
    a = np.array(rows, dtype=float)
    return Posts(a[:, 0].astype(np.int64), T0 + a[:, 1], a[:, 2].astype(np.int8), a[:, 3] > 0)


def test_a_clockwork_account() -> None:
    # Account 0 posts every 60 s, six times: five equal gaps.
    f = posts([(0, 60.0 * i, 0, False) for i in range(6)])
    v = behaviour.posting(f, 1, P)
    assert v["posts"][0] == 6 and v["gaps"][0] == 5
    assert v["gap_cv"][0] == 0.0  # no spread at all
    assert v["burstiness"][0] == -1.0  # (σ − μ)/(σ + μ) with σ = 0: perfectly periodic
    assert v["regular_gaps"][0] == 1.0  # 4 consecutive gap pairs, all the same
    assert v["gap_entropy"][0] == 0.0  # every gap in one log2 bin
    assert v["rate"][0] == 6.0  # six posts on one active day


def test_known_gaps_give_known_statistics() -> None:
    # Gaps 10, 100, 1000, 10000 s: μ = 2777.5, σ = population sd of those.
    times = np.cumsum([0, 10, 100, 1000, 10000])
    f = posts([(0, float(t), 0, False) for t in times])
    v = behaviour.posting(f, 1, P)
    gaps = np.array([10, 100, 1000, 10000.0])
    cv = gaps.std() / gaps.mean()
    assert v["gap_cv"][0] == pytest.approx(cv)
    assert v["burstiness"][0] == pytest.approx((cv - 1) / (cv + 1))
    assert v["regular_gaps"][0] == 0.0  # no two consecutive gaps alike
    # Bins floor(log2(g + 1)): 3, 6, 9, 13 -> four bins, entropy 2 bits, max log2(4).
    assert v["gap_entropy"][0] == pytest.approx(1.0)


def test_near_identical_gaps_count_within_one_second_or_five_percent() -> None:
    # Gaps 100, 100.5 (same: 0.5 s), 200 (not), 205 (same: 2.5% of 205).
    times = np.cumsum([0, 100, 100.5, 200, 205])
    v = behaviour.posting(posts([(0, float(t), 0, False) for t in times]), 1, P)
    assert v["regular_gaps"][0] == pytest.approx(2 / 3)


def test_kinds_links_rate_and_the_minimum_of_posts() -> None:
    f = posts(
        [
            # Account 0: 4 posts on day 0, 2 on day 1: 3 reposts, 1 reply, 2 links.
            (0, 0, 1, False), (0, 10, 1, False), (0, 20, 1, True), (0, 30, 2, False),
            (0, 30, 0, True), (0, 86_400 + 5, 0, False),
            # Account 1: two posts only, under min_posts = 3.
            (1, 0, 1, False), (1, 100, 1, False),
        ]
    )  # fmt: skip
    v = behaviour.posting(f, 3, P)  # account 2 has no posts
    assert v["repost_share"][0] == pytest.approx(3 / 6)
    assert v["reply_share"][0] == pytest.approx(1 / 6)
    assert v["link_share"][0] == pytest.approx(2 / 6)
    assert v["active_days"][0] == 2 and v["rate"][0] == 3.0
    assert v["posts"][1] == 2 and math.isnan(v["repost_share"][1])  # too few to say
    assert v["rate"][1] == 2.0  # volume and rate need no minimum
    assert v["posts"][2] == 0 and math.isnan(v["rate"][2])
    assert v["first_t"][0] == T0 and v["last_t"][0] == T0 + 86_405


def shares(rows: list[tuple[int, int, int, float, float]]) -> Shares:
    """(account, kind 0 repost..3 url/4 hashtag, object, seconds after T0, parent time
    in seconds after T0 or NaN), sorted by (object, time) as fetch_actions sorts them."""
    rows = sorted(rows, key=lambda r: (r[2], r[3]))
    a = np.array(rows, dtype=float)
    return Shares(
        a[:, 0].astype(np.int64), a[:, 1].astype(np.int8), a[:, 2].astype(np.int64),
        T0 + a[:, 3], T0 + a[:, 4],
    )  # fmt: skip


def test_sharing_speed_and_pile_ons() -> None:
    nan = float("nan")
    s = shares(
        [
            # Object 0: a post created at t=0, reposted by 1 at 30 s, by 0 at 35 s (5 s
            # after 1: a pile-on), by 2 at 300 s.
            (1, 0, 0, 30, 0), (0, 0, 0, 35, 0), (2, 0, 0, 300, 0),
            # Object 1: a URL first shared by 2 at 1000 s, by 0 at 1008 s (pile-on) and by
            # 1 at 5000 s. No parent: delays count from the first share.
            (2, 3, 1, 1000, nan), (0, 3, 1, 1008, nan), (1, 3, 1, 5000, nan),
            # Object 2: a post whose parent is not in the workspace: 0 at 2000 s, 1 at 2001 s.
            (0, 0, 2, 2000, nan), (1, 0, 2, 2001, nan),
        ]
    )  # fmt: skip
    v = behaviour.speed(s, 3, SignalParams(min_posts=2, pile_on_seconds=10, viral_shares=5))
    # Account 0: delays 35 (object 0), 8 (object 1); first on object 2 (no delay).
    # Followed shares: object 0 (prev 30 s), object 1 (prev 1000 s): both within 10 s.
    assert v["timed_shares"][0] == 2 and v["followed_shares"][0] == 2 and v["pile_ons"][0] == 2
    assert v["pile_on_share"][0] == 1.0
    assert v["share_delay_s"][0] == pytest.approx((35 + 8) / 2)
    # Account 1: delays 30, 4000, 1 -> median 30; first on object 0, so followed 2
    # (objects 1 and 2), a pile-on on object 2 only.
    assert v["share_delay_s"][1] == pytest.approx(30.0)
    assert v["pile_on_share"][1] == pytest.approx(1 / 2)
    # Account 2: delay 300 on object 0, none on object 1 (the first share): too few.
    assert v["timed_shares"][2] == 1 and math.isnan(v["share_delay_s"][2])
    assert math.isnan(behaviour.speed(s, 3, P)["pile_on_share"][0])  # 2 < min_posts 3


def test_viral_objects_are_left_out_of_pile_ons() -> None:
    # Five accounts share one object a second apart: viral at viral_shares = 5.
    s = shares([(i, 0, 0, float(i), 0.0) for i in range(5)])
    v = behaviour.speed(s, 5, P)
    assert v["followed_shares"].sum() == 0 and v["pile_ons"].sum() == 0
    assert v["timed_shares"].sum() == 4  # delays still count (account 0 shared at t=0)


def test_group_median() -> None:
    idx = np.array([0, 0, 0, 2, 2, 2, 2])
    val = np.array([5.0, 1.0, 3.0, 10.0, 2.0, 4.0, 8.0])
    med = behaviour.group_median(idx, val, 3)
    assert med[0] == 3.0 and math.isnan(med[1]) and med[2] == 6.0


def test_duplicate_texts_exact_and_near() -> None:
    h = np.uint64
    x = Texts(
        idx=np.array([0, 0, 0, 1, 1, 1, 0]),
        simtext=np.array([False, False, False, False, False, False, True]),
        # Texts: account 0 posts A, A (a self-copy), C; account 1 posts A, D, E. C is in
        # a simtext group of its own (one post): not a copy.
        obj=np.array([1, 1, 3, 1, 4, 5, 9], dtype=h),
        post=np.array([10, 11, 12, 20, 21, 22, 12], dtype=h),
    )
    v = behaviour.texts(x, 2, P)
    assert v["texts"].tolist() == [3, 3]
    assert v["dup_texts"].tolist() == [2, 1]  # A, A | A
    assert v["dup_text_share"][0] == pytest.approx(2 / 3)
    # Now D (post 21) and C (post 12) are near-duplicates: one simtext object, two posts.
    x2 = Texts(
        idx=np.array([0, 0, 0, 1, 1, 1, 1, 0]),
        simtext=np.array([False, False, False, False, False, False, True, True]),
        obj=np.array([1, 1, 3, 1, 4, 5, 9, 9], dtype=h),
        post=np.array([10, 11, 12, 20, 21, 22, 21, 12], dtype=h),
    )
    v = behaviour.texts(x2, 2, P)
    assert v["dup_texts"].tolist() == [3, 2]  # + C | + D
