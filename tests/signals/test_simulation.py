"""End to end on simulated data: the planted foreign-schedule campaigns are found on
their UTC offsets and flagged, and fast bots outrank organic heavy users.

One seeded run with two office-hours campaigns (UTC+9 and the default UTC+3) among
fast bots and a troll farm; bench/bench_signals.py measures the same over seeds at a
larger size (docs/benchmarks.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import civicsentry
from civicsentry.service.ingest import ingest_files
from civicsentry.simulate import CampaignSpec, simulate

CAMPAIGNS = [
    CampaignSpec("foreign_schedule", utc_offset=9),
    CampaignSpec("foreign_schedule"),  # UTC+3
    CampaignSpec("fast_bots"),
    CampaignSpec("troll_farm"),
]


def hours(a: int, b: int) -> int:
    return min((a - b) % 24, (b - a) % 24)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("signals-sim")
    sim = simulate(tmp / "data", posts=40_000, seed=5, campaigns=CAMPAIGNS)
    with civicsentry.open(tmp / "ws.duckdb") as ws:
        ingest_files(ws, [sim.paths["posts"], sim.paths["accounts"]])
        ws.detect()
        s = ws.signals()
        members: dict[int, set[str]] = {}
        for cid, aid in ws.con.execute(
            "SELECT cluster_id, account_id FROM cluster_members WHERE run_id = ?",
            [s.detection_run_id],
        ).fetchall():
            members.setdefault(cid, set()).add(aid)
        return {
            "truth": json.loads(sim.paths["campaigns"].read_text(encoding="utf-8")),
            "summary": s,
            "accounts": {a["account_id"]: a for a in ws.accounts(limit=None)},
            "schedules": ws.sql(
                "SELECT * FROM cluster_schedules WHERE signals_run_id = ?", params=[s.run_id]
            ).fetchall(),
            "columns": ws.sql("SELECT * FROM cluster_schedules LIMIT 0").columns,
            "members": members,
        }


def test_foreign_schedule_campaigns_are_found_on_their_offsets(run: dict) -> None:
    schedules = [dict(zip(run["columns"], r, strict=True)) for r in run["schedules"]]
    foreign = [c for c in run["truth"]["campaigns"] if c["kind"] == "foreign_schedule"]
    assert sorted(c["schedule_utc_offset"] for c in foreign) == [3, 9]
    for c in foreign:
        planted, accounts = c["schedule_utc_offset"], set(c["accounts"])
        # The cluster holding most of the campaign: its pooled rhythm gives the offset.
        best = max(schedules, key=lambda r: len(run["members"][r["cluster_id"]] & accounts))
        assert len(run["members"][best["cluster_id"]] & accounts) >= len(accounts) - 1
        assert hours(best["utc_offset"], planted) <= 1, (c["campaign_id"], best)
        assert best["template"] == "office" and best["foreign"], best["explanation"]
        # Its members are flagged one by one too, on the right offset.
        right = [
            a for a in accounts
            if run["accounts"][a]["foreign_schedule"]
            and hours(run["accounts"][a]["utc_offset"], planted) <= 1
        ]  # fmt: skip
        assert len(right) >= 0.8 * len(accounts)
    flagged_clusters = {r["cluster_id"] for r in schedules if r["foreign"]}
    assert len(flagged_clusters) == 2  # nothing else
    assert {f["utc_offset"] for f in run["summary"].foreign_clusters} == {3, 9}


def test_few_organic_accounts_are_flagged(run: dict) -> None:
    campaign = {a for c in run["truth"]["campaigns"] for a in c["accounts"]}
    organic = [
        a for a in run["accounts"].values() if a["account_id"] not in campaign and a["posts"]
    ]
    flagged = sum(bool(a["foreign_schedule"]) for a in organic)
    assert flagged <= 0.01 * len(organic)


def test_fast_bots_rank_above_organic_heavy_users(run: dict) -> None:
    campaign = {a for c in run["truth"]["campaigns"] for a in c["accounts"]}
    organic = [
        a for a in run["accounts"].values() if a["account_id"] not in campaign and a["posts"]
    ]
    cut = np.quantile([a["posts"] for a in organic], 0.99)
    heavy = [a["score"] for a in organic if a["posts"] >= cut]
    bots = [
        run["accounts"][a]["score"]
        for c in run["truth"]["campaigns"]
        if c["kind"] == "fast_bots"
        for a in c["accounts"]
    ]
    assert heavy and bots
    assert min(bots) > max(heavy)
