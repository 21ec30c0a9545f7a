"""Account signals as the service computes, stores and reads them, on a hand-built
workspace ingested through the real path. Expected values are worked out beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import civicsentry
from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.service import accounts as service
from civicsentry.store import Workspace
from tests.conftest import rows
from tests.signals.conftest import at, ingest

HOUR = 3600


def build(ws: Workspace, tmp: Path) -> None:
    posts = []
    # x:bot posts a link every 60 s for 20 minutes, Monday 03:00 UTC: clockwork.
    posts += [(f"b{i}", "x:bot", at(3 * HOUR + 60 * i), "post", "", f"buy now {i}",
               "https://shop.example/p", "") for i in range(20)]  # fmt: skip
    # x:human posts 12 times over the week at irregular hours, with replies.
    for i, h in enumerate([9, 13, 20, 33, 40, 57, 61, 80, 85, 105, 130, 150]):
        kind, parent = ("reply", "b0") if i % 4 == 0 else ("post", "")
        posts.append((f"h{i}", "x:human", at(h * HOUR + 17 * i), kind, parent,
                      f"thoughts number {i} about {h}", "", "election"))  # fmt: skip
    # x:copy posts the same text three times and reposts the bot's first post.
    posts += [(f"c{i}", "x:copy", at(HOUR * (10 + i)), "post", "", "=VOTE TUESDAY!", "", "")
              for i in range(3)]  # fmt: skip
    posts.append(("c3", "x:copy", at(3 * HOUR + 5), "repost", "b0", "RT: buy now 0", "", ""))
    accounts = [
        # The bot: default-style handle (8 digits), created 8 days before its first post,
        # 9 followers for 99 followed (log10(10/100) = −1), empty profile.
        ("x:bot", "Jennife48213377", "2024-10-20T03:00:00Z", 9, 99, "", ""),
        ("x:human", "abcd", "2015-01-01T00:00:00Z", 500, 400, "reader", "Ohio"),
        ("x:copy", "xkcdqrstv", "2024-06-01T12:00:00Z", 0, 10, "", "Ohio"),
    ]
    # A creation burst: ten profile-only accounts made on 2024-06-01 (x:copy's day too),
    # against one a week around it.
    accounts += [
        (f"x:burst{i}", f"aaaa{i}", "2024-06-01T08:00:00Z", 1, 1, "", "") for i in range(10)
    ]
    accounts += [(f"x:old{i}", f"old{i}", f"2024-06-{8 + 7 * i:02d}T08:00:00Z", 1, 1, "x", "y")
                 for i in range(3)]  # fmt: skip
    ingest(ws, tmp, posts, accounts)


@pytest.fixture
def built(ws: Workspace, tmp_path: Path) -> Workspace:
    build(ws, tmp_path)
    return ws


def by_id(ws: Workspace, run_id: int) -> dict[str, dict]:
    return {
        r["account_id"]: r
        for r in rows(ws, f"SELECT * FROM account_signals WHERE run_id = {run_id}")
    }


def test_signals_are_stored_with_their_run(built: Workspace) -> None:
    s = built.signals(min_posts=3, schedule_min_posts=10)
    run = rows(built, f"SELECT * FROM runs WHERE run_id = {s.run_id}")[0]
    assert (run["step"], run["name"]) == ("score", "account_signals")
    params = json.loads(run["params"])
    assert params["min_posts"] == 3 and params["weights"]["pile_on_share"] == 2.5
    assert params["detection_run_id"] is None
    assert s.detection_run_id is None and "no detection run" in s.notes[0]
    assert s.accounts == 16 and s.posting_accounts == 3
    r = by_id(built, s.run_id)
    assert len(r) == 16
    bot, human, copy = r["x:bot"], r["x:human"], r["x:copy"]
    # Behaviour.
    assert bot["posts"] == 20 and bot["rate"] == 20 and bot["link_share"] == 1.0
    assert bot["regular_gaps"] == 1.0 and bot["gap_cv"] == 0.0 and bot["burstiness"] == -1.0
    assert human["reply_share"] == pytest.approx(3 / 12) and human["repost_share"] == 0.0
    assert copy["dup_text_share"] == 1.0  # three copies of one text
    assert copy["repost_share"] == pytest.approx(1 / 4)
    assert bot["coordinated_share"] is None  # no detection run
    # Profile.
    assert bot["handle_digits"] == 8 and bot["account_age_days"] == pytest.approx(8.0)
    assert bot["follower_ratio"] == pytest.approx(-1.0) and bot["empty_profile"] == 1.0
    assert human["handle_entropy"] == pytest.approx(2.0)  # 4 distinct letters
    assert copy["handle_consonants"] == 9  # x k c d q r s t v
    assert human["empty_profile"] == 0.0
    # 11 accounts created 2024-06-01; the 3 others within ±30 days: baseline 3/60.
    assert copy["creation_burst"] == pytest.approx(11 / (3 / 60 + 1))
    assert r["x:burst0"]["posts"] == 0 and r["x:burst0"]["rate"] is None
    # Schedules need 10 posts: x:copy has 4.
    assert human["utc_offset"] is not None and copy["utc_offset"] is None
    # The explanation carries the raw figures.
    figures = json.loads(copy["explanation"])
    assert figures["created_same_day"] == 11 and figures["texts"] == 3
    assert figures["duplicate_texts"] == 3
    # Contributions add up to the score, and ranks follow scores.
    for a in r.values():
        total = sum(a[f"{n}_contrib"] or 0 for n in service.BY_NAME)
        assert a["score"] == pytest.approx(total)
    ranked = sorted(r.values(), key=lambda a: a["rank"])
    assert [a["score"] for a in ranked] == sorted((a["score"] for a in ranked), reverse=True)
    assert built.scalar("SELECT count(*) FROM cluster_schedules") == 0
    assert rows(built, "SELECT action FROM audit_log WHERE action = 'signals'")


def test_reading_accounts_with_filters_and_order(built: Workspace) -> None:
    s = built.signals(min_posts=3)
    top = built.accounts(limit=3)
    assert [a["rank"] for a in top] == [1, 2, 3]
    assert top[0]["top_signals"] and {"name", "value", "percentile", "weight",
                                      "contribution"} <= set(top[0]["top_signals"][0])  # fmt: skip
    posting = built.accounts(min_posts=1, limit=0)
    assert {a["account_id"] for a in posting} == {"x:bot", "x:human", "x:copy"}
    digits = built.accounts(order_by="handle_digits", limit=1)
    assert digits[0]["account_id"] == "x:bot"
    young = built.accounts(order_by="account_age_days", ascending=True, min_posts=1, limit=1)
    assert young[0]["account_id"] == "x:bot"
    assert built.accounts(foreign_only=True) == []
    assert built.accounts(signals_run_id=s.run_id, offset=15, limit=5)[0]["rank"] == 16
    with pytest.raises(InvalidParams, match="Cannot order by 'score; DROP'"):
        built.accounts(order_by="score; DROP")


def test_one_account_explained(built: Workspace) -> None:
    built.signals(min_posts=3)
    a = built.account("x:human", posts=5)
    assert a["account"]["handle"] == "abcd" and a["run"]["accounts"] == 16
    names = [s["name"] for s in a["signals"]]
    assert names == list(service.BY_NAME)
    pile = next(s for s in a["signals"] if s["name"] == "pile_on_share")
    assert pile["weight"] == 2.5 and pile["direction"] == "high"
    assert sum(map(sum, a["rhythm"]["utc"])) == 12  # every post in the weekday × hour grid
    assert a["rhythm"]["local"] is not None
    recent = a["timeline"]["posts"]  # the page is picked by row id, then read: same order
    assert [p["post_id"] for p in recent] == ["x:h11", "x:h10", "x:h9", "x:h8", "x:h7"]
    assert [p["hashtags"] for p in recent] == [["election"]] * 5
    assert sum(d["posts"] for d in a["timeline"]["days"]) == 12
    assert "it posts" in a["schedule"]["reason"]
    with pytest.raises(InvalidParams, match="No account 'x:nobody' in signals run"):
        built.account("x:nobody")


def test_errors_say_what_to_do(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="ingest first"):
        ws.signals()
    build(ws, tmp_path)
    with pytest.raises(InvalidParams, match="accounts build"):
        ws.accounts()
    with pytest.raises(InvalidParams, match="Unknown signals parameter"):
        ws.signals(min_post=3)
    with pytest.raises(InvalidParams, match="not a detection run"):
        ws.signals(run_id=99)


def test_a_workspace_made_before_the_tables_existed(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with civicsentry.open(path) as ws:
        build(ws, tmp_path)
        ws.con.execute("DROP TABLE account_signals")
        ws.con.execute("DROP TABLE cluster_schedules")
        assert ws.signals().accounts == 16
