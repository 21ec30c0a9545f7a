"""Narratives on a small hand-built set with known groups (tests/narratives/data/posts.csv):

- a copy-paste campaign: 6 accounts post edited copies of one message (posts 1-6; post
  5 without punctuation), and an ordinary account reposts one (7);
- one claim in four languages (10-14, English twice, French, Spanish, German);
- one claim reworded four times in English (20-23);
- four unrelated posts (30-33), which belong to no narrative.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.service.narratives import build_narratives, list_narratives, narrative_detail
from tests.conftest import rows

DATA = Path(__file__).parent / "data"
CAMPAIGN = {f"x:{i}" for i in range(1, 8)}
FIVE_G = {f"x:{i}" for i in range(10, 15)}
CHIP = {f"x:{i}" for i in range(20, 24)}


@pytest.fixture
def built(ws):  # type: ignore[no-untyped-def]
    ws.ingest(DATA / "posts.csv", platform="x")
    return ws, ws.build_narratives(min_posts=3)  # the Python API: the same service verb


def groups(ws, run_id: int) -> list[set[str]]:  # type: ignore[no-untyped-def]
    out: dict[int, set[str]] = {}
    for r in rows(ws, f"SELECT narrative_id, post_id FROM narrative_posts WHERE run_id = {run_id}"):
        out.setdefault(r["narrative_id"], set()).add(r["post_id"])
    return [out[k] for k in sorted(out)]


def test_known_groups_are_recovered(built) -> None:  # type: ignore[no-untyped-def]
    ws, s = built
    assert groups(ws, s.run_id) == [CAMPAIGN, FIVE_G, CHIP]  # numbered by posts, most first
    assert s.narratives == 3 and s.assigned_posts == 16
    assert s.near_duplicate_groups == 1  # the campaign's copies, by simtext MinHash/LSH


def test_narrative_columns(built) -> None:  # type: ignore[no-untyped-def]
    ws, _ = built
    campaign, five_g, chip = ws.narratives(limit=0)
    assert (campaign["posts"], campaign["texts"], campaign["accounts"]) == (7, 6, 7)
    # simtext (word 2-grams) groups five copies; post 5, its punctuation stripped, shares
    # too few 2-grams and joins the narrative by its embedding instead
    assert campaign["copy_paste_posts"] == 5
    assert campaign["coordinated_share"] is None  # no clustered detection run yet
    assert {"recount", "harbor", "lake"} <= {t for t, _ in campaign["top_terms"]}
    assert campaign["representatives"][0]["post_id"] in CAMPAIGN
    assert five_g["languages"] == {"en": 2, "de": 1, "es": 1, "fr": 1}
    assert "microchip" in chip["label"]
    # growth: the data end at 2024-11-03T10:00Z; the last 24 h hold all of the campaign
    # (recent 7, prior 0: (7 + 1) / (0 + 1) - 1 = 7) and two 5G posts (13, 14; 11 and 12
    # are in the 24 h before, 10 earlier still: (2 + 1) / (2 + 1) - 1 = 0)
    assert (campaign["recent_posts"], campaign["prior_posts"], campaign["growth_rate"]) == (
        7,
        0,
        7.0,
    )
    assert (five_g["recent_posts"], five_g["prior_posts"], five_g["growth_rate"]) == (2, 2, 0.0)
    detail = narrative_detail(ws, 2)
    # the narratives span 2 days (≤ 3): hourly buckets
    assert detail["timeline"] == {
        "2024-11-01T08:00Z": 1,
        "2024-11-01T12:00Z": 1,
        "2024-11-02T08:00Z": 1,
        "2024-11-02T12:00Z": 1,
        "2024-11-03T08:00Z": 1,
    }
    assert {p["post_id"] for p in detail["sample_posts"]} == FIVE_G
    assert list_narratives(ws, sort="growth", limit=1)[0]["narrative_id"] == 1


def test_coordinated_share_from_latest_clusters(built) -> None:  # type: ignore[no-untyped-def]
    ws, _ = built
    # A clustered detection run whose cluster 1 holds four of the campaign's accounts.
    ws.con.execute(
        "INSERT INTO runs VALUES (90, 'detect', 'coordination', '{}', '', now(), now(), '{}')"
    )
    ws.con.execute(
        "INSERT INTO runs VALUES (91, 'cluster', 'leiden', '{\"detection_run_id\": 90}', '', now(), now(), '{}')"
    )
    for a in ("a1", "a2", "a3", "a4"):
        ws.con.execute(
            f"INSERT INTO cluster_members (run_id, cluster_id, account_id) VALUES (90, 1, 'x:{a}')"
        )
    s = build_narratives(ws, min_posts=3)
    campaign = list_narratives(ws, s.run_id, limit=1)[0]
    assert s.coordination_run_id == 90
    assert campaign["coordinated_share"] == pytest.approx(4 / 7, abs=1e-4)
    assert campaign["coordinated_clusters"] == [
        {"run_id": 90, "cluster_id": 1, "posts": 4, "accounts": 4}
    ]
    assert list_narratives(ws, s.run_id, limit=0)[1]["coordinated_share"] == 0.0
    assert s.embedded == 0  # every text came from the cache of the first build
    params = json.loads(rows(ws, f"SELECT params FROM runs WHERE run_id = {s.run_id}")[0]["params"])
    assert params["coordination_run_id"] == 90 and params["min_posts"] == 3


def test_errors(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkspaceError, match="ingest posts first"):
        build_narratives(ws)
    with pytest.raises(InvalidParams, match="min-similarity"):
        build_narratives(ws, min_similarity=1.5)
    with pytest.raises(WorkspaceError, match="narratives build"):
        list_narratives(ws)
