"""Data protection on the scenario: retention purge, export and erasure of one account."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.errors import InvalidParams
from civicsentry.service import detect as detect_service
from civicsentry.service import privacy
from civicsentry.service.users import NotFound

from .conftest import bearer
from .scenario import POSTS, T0


@pytest.fixture
def case(scenario_path: Path, tmp_path: Path) -> Any:
    path = tmp_path / "case.duckdb"
    shutil.copy(scenario_path, path)
    with civicsentry.open(path) as ws:
        yield ws


def test_retention_redacts_content_and_keeps_ids(case: Any) -> None:
    with pytest.raises(InvalidParams, match="No retention period set"):
        privacy.purge_expired(case)
    assert privacy.set_retention(case, 1)["retention_days"] == 1
    # cutoff 11:00 UTC: p1, p2, their 8 reposts, x:r99, x:h1, x:h2 are older
    done = privacy.purge_expired(case, now=T0 + timedelta(days=1, hours=3))
    assert done["posts"] == 13
    assert case.scalar("SELECT count(*) FROM posts") == POSTS
    assert case.scalar("SELECT count(*) FROM posts WHERE text IS NULL") == 13
    assert case.scalar("SELECT count(*) FROM posts WHERE post_id = 'x:h1' AND urls IS NULL") == 1
    assert case.scalar("SELECT count(*) FROM coordination_edges") == 6  # networks stay
    assert privacy.policy(case)["last_purge"]["posts"] == 13
    assert privacy.purge_expired(case, now=T0 + timedelta(days=1, hours=3))["posts"] == 0


def test_export_then_erase_one_account(case: Any, tmp_path: Path) -> None:
    counts = privacy.export_account(case, "x:c2", tmp_path / "c2.json")
    assert counts["posts"] == 7 and counts["accounts"] == 1
    assert counts["coordination_edges"] == 3 and counts["cluster_members"] == 1
    assert counts["alerts"] == 1  # alert 1 names it in its evidence
    data = json.loads((tmp_path / "c2.json").read_text())
    assert {p["post_id"] for p in data["tables"]["posts"]} >= {"x:h1", "x:h2"}
    removed = privacy.erase_account(case, "x:c2")
    assert removed["posts"] == 7 and removed["accounts"] == 1
    assert removed["actions"] > 0
    for table, column in (
        ("posts", "account_id"),
        ("actions", "account_id"),
        ("accounts", "account_id"),
        ("cluster_members", "account_id"),
    ):
        assert case.scalar(f"SELECT count(*) FROM {table} WHERE {column} = 'x:c2'") == 0
    assert (
        case.scalar(
            "SELECT count(*) FROM coordination_edges WHERE 'x:c2' IN (account_a, account_b)"
        )
        == 0
    )
    assert case.scalar("SELECT count(*) FROM alerts WHERE contains(evidence, 'x:c2')") == 0
    assert case.scalar("SELECT count(*) FROM alerts") == 3  # the alerts stay
    detail = case.scalar("SELECT detail FROM audit_log WHERE action = 'privacy.erase'")
    assert "x:c2" not in detail and json.loads(detail)["rows"]["posts"] == 7
    with pytest.raises(NotFound):
        privacy.erase_account(case, "x:c2")


def test_erasure_reaches_cnt_edges_stored_narrow(case: Any, tmp_path: Path) -> None:
    """A cnt run stores its edges with account keys (edges_cnt, edge_accounts): the export
    shows them once, as edges, and the erasure deletes them and the account's key."""
    run = detect_service.detect_coordination(
        case, semantics="cnt", windows="60s", object_types=["repost"]
    )
    in_run = f"FROM coordination_edges WHERE run_id = {run.run_id}"
    assert case.scalar(f"SELECT count(*) {in_run}") == 6  # the four reposters, pairwise
    assert case.scalar(f"SELECT count(*) FROM edges_cnt WHERE run_id = {run.run_id}") == 6
    counts = privacy.export_account(case, "x:c2", tmp_path / "c2.json")
    assert counts["coordination_edges"] == 3 + 3  # run 1 (coortweet) and the cnt run
    assert not set(counts) & {"edges_wide", "edges_cnt", "edge_accounts"}
    removed = privacy.erase_account(case, "x:c2")
    assert removed["coordination_edges"] == 6 and removed["edge_accounts"] == 1
    assert case.scalar(f"SELECT count(*) {in_run}") == 3  # x:c1, x:c3, x:c4 pairwise
    assert case.scalar("SELECT count(*) FROM edges_cnt") == 3
    assert case.scalar("SELECT count(*) FROM edge_accounts WHERE account_id = 'x:c2'") == 0
    assert (
        case.scalar(
            "SELECT count(*) FROM coordination_edges WHERE 'x:c2' IN (account_a, account_b)"
        )
        == 0
    )
    detail = case.scalar("SELECT detail FROM audit_log WHERE action = 'privacy.erase'")
    assert json.loads(detail)["rows"]["coordination_edges"] == 6


def test_privacy_api_is_for_admins(client: Any, token_for: Any) -> None:
    assert client.get("/api/privacy", headers=bearer(token_for("ana"))).status_code == 403
    admin = bearer(token_for("admin"))
    r = client.put("/api/privacy/retention", json={"days": 30}, headers=admin)
    assert r.status_code == 200 and r.json()["retention_days"] == 30
    exported = client.get("/api/privacy/accounts/x:o2", headers=admin).json()
    assert [p["post_id"] for p in exported["tables"]["posts"]] == ["x:r99"]
    r = client.delete("/api/privacy/accounts/x:o2", headers=admin).json()
    assert r["removed"]["posts"] == 1
    assert client.get("/api/privacy/accounts/x:o2", headers=admin).status_code == 404


def test_python_api(case: Any, tmp_path: Path) -> None:
    """The same verbs from a notebook."""
    assert [p["post_id"] for p in case.search_posts("<script>")] == ["x:h1"]
    case.add_user("nb", role="analyst", password="a long enough password")
    assert case.create_token("nb").startswith("cs_")
    assert [e["action"] for e in case.audit_log(actor=None, limit=2)] == [
        "token.create",
        "user.add",
    ]
    summary = case.report(tmp_path / "c.html", cluster=1)
    assert summary.subject == "cluster 1 of run 1"
