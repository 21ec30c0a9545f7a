"""The account view reads the account's posts once: a first page that is not full holds
all of them, and its activity figures and rhythm are counted from that page; other pages
count them in the query they replaced. Both ways are held to the same known answers, and
the page to ``search_posts``. The "signals not computed" check runs only when no signals
row is found, with the messages it gave before."""

from __future__ import annotations

import shutil
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.service import explore
from civicsentry.service import users as users_service
from civicsentry.web.app import create_app

from .conftest import bearer
from .scenario import T0

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from fastapi.testclient import TestClient

UTC = T0.tzinfo
# x:c2 (scenario): reposts of x:p1..x:p5 at T0 + k h + 15 s (k = 1..5) and posts x:h1, x:h2
# at T0 + 2 h 5 and 6 min; T0 is Wednesday 2024-05-01 08:00 UTC. Added here: a reply on
# Thursday 11:00 and a quote on Saturday 23:30, so two kinds tie at one post each.
REPLY_AT = datetime(2024, 5, 2, 11, 0, tzinfo=UTC)
QUOTE_AT = datetime(2024, 5, 4, 23, 30, tzinfo=UTC)
KINDS = [("repost", 5), ("post", 2), ("quote", 1), ("reply", 1)]  # ties by name
WEDNESDAY = {9: 1, 10: 3, 11: 1, 12: 1, 13: 1}  # 10:00: the repost at 10:00:15, x:h1, x:h2


@pytest.fixture
def case(scenario_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "case.duckdb"
    shutil.copy(scenario_path, path)
    with civicsentry.open(path) as ws:
        ws.con.execute(
            "INSERT INTO posts (post_id, platform, account_id, created_at, kind, "
            "parent_post_id, text) VALUES ('x:y1', 'x', 'x:c2', ?, 'reply', 'x:p1', 'no'), "
            "('x:y2', 'x', 'x:c2', ?, 'quote', 'x:p2', 'yes')",
            [REPLY_AT, QUOTE_AT],
        )
    return path


def without_posts(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "posts"}


def test_the_activity_counted_from_the_page_is_the_querys(case: Path) -> None:
    with civicsentry.open(case) as ws:
        ws.con.execute("SET TimeZone = 'UTC'")  # as the web app's cursors
        counted = explore.account_overview(ws, "x:c2")  # the query, no page
        assert list(counted["activity"]["kinds"].items()) == KINDS
        assert counted["activity"]["posts"] == 9
        assert counted["activity"]["first_post"] == T0 + timedelta(hours=1, seconds=15)
        assert counted["activity"]["last_post"] == QUOTE_AT
        grid = counted["rhythm"]["counts"]
        assert {h: n for h, n in enumerate(grid[2]) if n} == WEDNESDAY
        assert grid[3][11] == 1 and grid[5][23] == 1 and sum(map(sum, grid)) == 9
        for limit, offset in ((50, 0), (10, 0), (9, 0), (4, 0), (4, 4), (50, 9)):
            # (50, 0) and (10, 0) count from the page; a full page or a later one cannot
            view = explore.account_overview(ws, "x:c2", posts_limit=limit, posts_offset=offset)
            assert without_posts(view) == counted, (limit, offset)
            assert list(view["activity"]["kinds"]) == [k for k, _ in KINDS]
            page = explore.search_posts(ws, account_id="x:c2", limit=limit, offset=offset)
            assert view["posts"] == page and [list(p) for p in view["posts"]] == [
                list(p) for p in page
            ]
        newest = explore.account_overview(ws, "x:c2", posts_limit=3)["posts"]
        assert [p["post_id"] for p in newest] == ["x:y2", "x:y1", "x:r51"]
        assert {p["handle"] for p in newest} == {"evil\"handle'<b>bold</b>"}


def test_the_api_answers_every_page_with_the_same_figures(client: Any, token_for: Any) -> None:
    h = bearer(token_for("ana"))
    first = client.get("/api/accounts/x:c2", headers=h).json()
    assert first["activity"]["posts"] == first["posts"]["total"] == 7
    assert first["activity"]["kinds"] == {"repost": 5, "post": 2}
    posts = client.get("/api/posts?account_id=x:c2", headers=h).json()
    assert first["posts"]["items"] == posts["items"]
    later = client.get("/api/accounts/x:c2?limit=2&offset=2", headers=h).json()
    assert {k: v for k, v in later.items() if k != "posts"} == {
        k: v for k, v in first.items() if k != "posts"
    }
    page = client.get("/api/posts?account_id=x:c2&limit=2&offset=2", headers=h).json()
    assert later["posts"]["items"] == page["items"] and later["posts"]["total"] == 7
    missing = client.get("/api/accounts/x:nobody", headers=h)
    assert missing.status_code == 404


def test_without_signals_the_views_say_so(case: Path) -> None:
    with civicsentry.open(case) as ws:
        run = ws.scalar("SELECT max(run_id) FROM account_signals")
        ws.con.execute("DELETE FROM account_signals WHERE account_id = 'x:c2'")
    app = create_app(case)
    with TestClient(app) as c:
        h = bearer(users_service.create_token(app.state.workspace, "ana")[0])
        # Rows, but none for this account: the service's message.
        a = c.get("/api/accounts/x:c2", headers=h).json()
        assert a["signals"] == {
            "computed": False,
            "message": f"No account 'x:c2' in signals run {run}; "
            "`civicsentry accounts list` shows the accounts.",
        }
        assert a["posts"]["total"] == 9 and len(a["posts"]["items"]) == 9
        beyond = c.get("/api/accounts?offset=100", headers=h).json()
        assert (beyond["computed"], beyond["total"], beyond["items"]) == (True, 5, [])
        app.state.workspace.con.execute("DELETE FROM account_signals")
        # No rows at all: not computed yet, as before.
        a = c.get("/api/accounts/x:c2", headers=h).json()
        assert a["signals"] == {
            "computed": False,
            "message": "Account signals are not computed yet.",
        }
        assert a["activity"]["posts"] == 9
        r = c.get("/api/accounts", headers=h).json()
        assert (r["computed"], r["total"], r["items"]) == (False, 0, [])
        assert (
            r["message"] == "Account signals are not computed yet (`civicsentry accounts score`)."
        )
