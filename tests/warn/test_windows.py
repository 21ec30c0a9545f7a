"""``watch``'s detection windows on a hand-built three-day stream: a copy-paste group
that only near-duplicate texts link (edited copies, a different link in each) and a
3-account cell that co-acts on two posts a day must each raise ``cluster-new``; the
organic crowd around them must not. Without the 72-hour evidence window neither is
alerted: two co-actions a day are too few to be significant among a day's co-actions
(the failures of the first replay benchmark)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.service.alerts import list_alerts
from civicsentry.service.watch import watch
from civicsentry.store import Workspace

T0 = datetime(2024, 11, 4, tzinfo=UTC)
DAYS = 3
ORGANIC = [f"x:o{i:02d}" for i in range(60)]
CELL = ["x:cell1", "x:cell2", "x:cell3"]
COPIERS = ["x:copy1", "x:copy2", "x:copy3", "x:copy4"]
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti") for b in "aeiouyz"]
TEMPLATES = [
    "the county clerk admitted the ballots in {p} were counted twice by the same machine",
    "breaking poll workers in {p} caught throwing away mail-in envelopes behind the school",
    "they moved the {p} polling station overnight and told nobody so you cannot vote there",
    "insiders say the {p} results were decided before a single vote was cast this week",
    "share before it is deleted the {p} recount found thousands of ballots from dead voters",
    "officials in {p} refuse to explain why the voting machines went offline for an hour",
]
PLACES = ["Marion", "Clark", "Dane", "Fulton", "Kent", "Lake"]


def _post(pid: str, account: str, t: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "post_id": f"x:{pid}",
        "platform": "x",
        "account_id": account,
        "created_at": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": kw.get("kind", "post"),
        "parent_post_id": kw.get("parent"),
        "text": kw.get("text", ""),
        "lang": "en",
        "urls": kw.get("urls", []),
        "hashtags": [],
        "mentions": [],
    }


def stream() -> dict[int, list[dict[str, Any]]]:
    """Posts per day. Organic: 60 accounts posting unrelated texts, eight slogans a day
    that five of them each post (edited) at their own time, and six posts a day that 20
    of them repost within half an hour (chance co-actions). The cell reposts two
    otherwise unnoticed posts a day within seconds of each other; the copiers post two
    templates a day, each copy edited and with its own link, within 90 seconds."""
    rng = random.Random(7)
    days: dict[int, list[dict[str, Any]]] = {}
    n = 0

    def pid() -> str:
        nonlocal n
        n += 1
        return f"{n:06d}"

    for day in range(DAYS):
        start = T0 + timedelta(days=day)
        posts = []

        def moment(lo: float = 0, hi: float = 86_000) -> datetime:
            return start + timedelta(seconds=rng.uniform(lo, hi))  # noqa: B023

        for a in ORGANIC:
            for _ in range(3):
                words = " ".join(rng.sample(WORDS, 9))
                posts.append(_post(pid(), a, moment(), text=words))
        for _ in range(8):  # slogans organic accounts repeat, each in their own time
            slogan = rng.sample(WORDS, 10)
            for a in rng.sample(ORGANIC, 5):
                words = list(slogan)
                words[rng.randrange(10)] = rng.choice(WORDS)
                posts.append(_post(pid(), a, moment(), text=" ".join(words)))
        for _ in range(6):  # organic reposts of popular posts
            t = moment(0, 80_000)
            parent = _post(pid(), rng.choice(ORGANIC), t, text=" ".join(rng.sample(WORDS, 9)))
            posts.append(parent)
            for a in rng.sample(ORGANIC, 20):
                posts.append(
                    _post(
                        pid(),
                        a,
                        t + timedelta(seconds=rng.uniform(30, 1800)),
                        kind="repost",
                        parent=parent["post_id"],
                        text=parent["text"],
                    )
                )
        for _ in range(2):  # the cell
            t = moment(0, 80_000)
            parent = _post(pid(), rng.choice(ORGANIC), t, text=" ".join(rng.sample(WORDS, 9)))
            posts.append(parent)
            for i, a in enumerate(CELL):
                posts.append(
                    _post(
                        pid(),
                        a,
                        t + timedelta(seconds=600 + 5 * i + rng.uniform(0, 5)),
                        kind="repost",
                        parent=parent["post_id"],
                        text=parent["text"],
                    )
                )
        for k in range(2):  # the copiers
            template = TEMPLATES[2 * day + k].format(p=PLACES[2 * day + k])
            t = moment(0, 80_000)
            for a in COPIERS:
                words = template.split()
                j = rng.randrange(len(words))
                words[j] = words[j].upper() if rng.random() < 0.5 else words[j] + "!!"
                link = f"https://news{rng.randrange(10**6)}.example/{rng.randrange(10**6)}"
                posts.append(
                    _post(
                        pid(),
                        a,
                        t + timedelta(seconds=rng.uniform(0, 90)),
                        text=" ".join(words) + " " + link,
                        urls=[link],
                    )
                )
        days[day] = sorted(posts, key=lambda p: p["created_at"])
    return days


def _replay(tmp_path: Path, **kw: Any) -> tuple[Workspace, list[dict[str, Any]]]:
    """Each day appended to a followed file, one watch pass per day; the cluster-new
    alerts at the end (the workspace is returned closed)."""
    folder = tmp_path / "in"
    folder.mkdir()
    feed = folder / "posts.jsonl"
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        for _, posts in sorted(stream().items()):
            with feed.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(p) + "\n" for p in posts)
            watch(ws, folders=[folder], once=True, notify=False, spool=tmp_path / "spool", **kw)
        alerts = list_alerts(ws, rule="cluster-new", limit=None)
        scopes = {
            int(r): json.loads(p).get("scope", {}).get("lookback_s")
            for r, p in ws.con.execute(
                "SELECT run_id, params FROM runs WHERE step = 'detect'"
            ).fetchall()
        }
    for a in alerts:
        a["window_s"] = scopes.get(int(a["evidence"]["detection_run_id"]))
    return ws, alerts


def _holding(alerts: list[dict[str, Any]], accounts: list[str]) -> list[dict[str, Any]]:
    return [a for a in alerts if set(accounts) <= set(a["evidence"]["accounts"])]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _replay(tmp_path_factory.mktemp("windows"))[1]


def test_the_copy_paste_group_is_alerted_through_near_duplicate_texts(replayed) -> None:  # type: ignore[no-untyped-def]
    [alert] = _holding(replayed, COPIERS)
    assert sorted(alert["evidence"]["accounts"]) == sorted(COPIERS)
    assert alert["window_s"] == 3 * 86_400.0
    # Edited copies with a link each: no repost, no shared link, only simtext.
    assert set(alert["evidence"]["modalities"]) == {"simtext"}


def test_the_three_account_cell_is_alerted_from_the_evidence_window(replayed) -> None:  # type: ignore[no-untyped-def]
    [alert] = _holding(replayed, CELL)
    assert sorted(alert["evidence"]["accounts"]) == sorted(CELL)
    assert alert["window_s"] == 3 * 86_400.0  # found on 72 h of co-actions


def test_the_organic_crowd_raises_no_cluster_alert(replayed) -> None:  # type: ignore[no-untyped-def]
    organic = set(ORGANIC)
    assert [a["title"] for a in replayed if organic & set(a["evidence"]["accounts"])] == []
    assert len(replayed) == 2


def test_without_the_evidence_window_both_are_missed(tmp_path: Path) -> None:
    # Two co-actions a day: no 24-hour window makes either significant.
    _, alerts = _replay(tmp_path, evidence_s=0)
    assert alerts == []


def test_the_cli_passes_the_evidence_window(tmp_path: Path) -> None:
    # `civicsentry watch --evidence 0` must turn the evidence window off (no alert), and
    # the default must keep it (both groups alerted), as the service does.
    from tests.warn.test_cli import cli

    folder = tmp_path / "in"
    folder.mkdir()
    feed = folder / "posts.jsonl"
    found = {}
    for evidence in ("0", "72h"):
        ws_path = tmp_path / f"ws-{evidence}.duckdb"
        feed.unlink(missing_ok=True)
        for _, posts in sorted(stream().items()):
            with feed.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(p) + "\n" for p in posts)
            args = ["watch", str(folder), "--once", "--no-notify", "-w", str(ws_path)]
            result = cli(
                *args, "--spool", str(tmp_path / f"spool-{evidence}"), "--evidence", evidence
            )
            assert result.returncode == 0, result.stderr
        with civicsentry.open(ws_path) as ws:
            found[evidence] = len(list_alerts(ws, rule="cluster-new", limit=None))
    assert found == {"0": 0, "72h": 2}
