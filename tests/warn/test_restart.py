"""Simulated data replayed in time order through ``watch``: the planted campaigns are
alerted; and a ``watch`` process killed mid-way and restarted ingests every post
exactly once and raises every alert exactly once (the same alerts as a run that was
never interrupted)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import civicsentry
from civicsentry.service.alerts import list_alerts
from civicsentry.service.watch import watch
from civicsentry.simulate import simulate
from tests.conftest import rows


@pytest.fixture(scope="module")
def days(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, list[str]], Path, dict[str, set[str]]]:
    """8,000 simulated posts (a fast-bot net, a small cell, a troll farm) as JSON Lines
    by day, the accounts file, and the planted campaigns' members."""
    out = tmp_path_factory.mktemp("sim")
    simulate(
        out, posts=8000, seed=5, fmt="jsonl", campaigns="fast_bots:1,small_cell:1,troll_farm:1"
    )
    by_day: dict[str, list[str]] = defaultdict(list)
    for line in (out / "posts.jsonl").read_text(encoding="utf-8").splitlines():
        by_day[json.loads(line)["created_at"][:10]].append(line)
    truth: dict[str, set[str]] = defaultdict(set)
    with (out / "truth.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            truth[r["campaign_id"]].add(r["account_id"])
    return dict(by_day), out / "accounts.jsonl", dict(truth)


def write_day(folder: Path, day: str, lines: list[str]) -> None:
    (folder / f"{day}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_replayed_day_by_day_the_planted_networks_are_alerted(days, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    by_day, accounts, truth = days
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "accounts.jsonl").write_bytes(accounts.read_bytes())
    first_alert: dict[str, str] = {}
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        for day in sorted(by_day):
            write_day(folder, day, by_day[day])
            watch(ws, folders=[folder], once=True, notify=False)
            for a in list_alerts(ws, rule="cluster-new", limit=None):
                members = set(a["evidence"]["accounts"])
                for campaign, planted in truth.items():
                    if len(members & planted) >= len(planted) / 2:
                        first_alert.setdefault(campaign, day)
        assert int(ws.scalar("SELECT count(*) FROM posts")) == sum(map(len, by_day.values()))
        windows = rows(ws, "SELECT params FROM runs WHERE step = 'detect' ORDER BY run_id")
    # Known answer for this seed: the bot net and the cell are found the day after they
    # start (their start: 2024-10-29 13:52 and 23:53 UTC). The 5-account troll farm
    # (start 10-29 13:21), acting with minutes of jitter, is found on 10-31: in that
    # pass's 72-hour evidence window only two of its members share a significant edge,
    # a cluster of 2 (under cluster-new's min_size 3, and under half the farm), but the
    # attachment step (on by default, docs/coordination.md) adds two more members that
    # act with that pair as a group: 4 of 5 members, suspicion 0.60. Without attachment
    # (`clusters build --no-attach`) it takes until 11-01, when four members have
    # significant edges of their own.
    assert first_alert == {
        "fast_bots-01": "2024-10-29",
        "small_cell-02": "2024-10-30",
        "troll_farm-03": "2024-10-31",
    }
    # The first detection covered everything; each pass after it (a day apart) detects
    # on the 72-hour evidence window, then on the recent 24 hours.
    scopes = [json.loads(r["params"]).get("scope", {}).get("lookback_s") for r in windows]
    assert scopes == [None] + [259200.0, 86400.0] * (len(by_day) - 1)


def _watch_cmd(folder: Path, ws: Path) -> list[str]:
    return [sys.executable, "-m", "civicsentry", "watch", str(folder), "-w", str(ws), "--once", "--no-notify"]  # fmt: skip


def test_killed_and_restarted_watch_repeats_and_loses_nothing(days, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    by_day, accounts, _ = days
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "accounts.jsonl").write_bytes(accounts.read_bytes())
    by_day = {d: by_day[d] for d in sorted(by_day)[:4]}  # four days are enough here
    for day in sorted(by_day):
        write_day(folder, day, by_day[day])
    killed, reference = tmp_path / "killed.duckdb", tmp_path / "reference.duckdb"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _watch_cmd(folder, killed),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen = 0
    for out_line in proc.stdout:  # kill it after its third chunk was ingested
        seen += out_line.startswith("ingested")
        if seen == 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with civicsentry.open(killed, read_only=True) as ws:  # killed mid-way: part of the data
        assert 0 < int(ws.scalar("SELECT count(*) FROM posts")) < sum(map(len, by_day.values()))
    r = subprocess.run(_watch_cmd(folder, killed), capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    with civicsentry.open(reference) as ws:  # never interrupted
        watch(ws, folders=[folder], once=True, notify=False)
    results = {}
    for target in (killed, reference):
        with civicsentry.open(target, read_only=True) as ws:
            posts = rows(ws, "SELECT count(*) AS n, count(DISTINCT post_id) AS d FROM posts")[0]
            sources = rows(ws, "SELECT count(*) AS n, count(DISTINCT source) AS d FROM ingest_log")[
                0
            ]
            raised = rows(
                ws,
                "SELECT a.fingerprint, count(*) AS n FROM alerts a JOIN alert_events e USING (alert_id) "
                "WHERE e.event = 'raised' GROUP BY a.fingerprint",
            )
            results[target] = (posts, sources, {r["fingerprint"] for r in raised})
            assert posts["n"] == posts["d"] == sum(map(len, by_day.values()))
            assert sources["n"] == sources["d"] == len(by_day) + 1  # one chunk per file
            assert all(r["n"] == 1 for r in raised)  # each alert raised once
    assert results[killed][2] == results[reference][2]  # the same alerts
    assert len(results[reference][2]) >= 2
