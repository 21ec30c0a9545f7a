"""Two workspaces in one test: A shares a cluster over TAXII; B, holding the same
community key, pulls it and recognises accounts it also saw, which raises an alert. With
a different key the accounts do not match (URLs, being public, still do)."""

from __future__ import annotations

from pathlib import Path

import pytest

import civicsentry
from civicsentry.service import share
from civicsentry.share.taxii_server import create_taxii_app
from tests.share.conftest import serve, url_cluster, workspace_copy


def test_same_key_correlates_accounts_a_different_key_does_not(
    detected_path: Path, tmp_path: Path
) -> None:
    a = civicsentry.open(workspace_copy(detected_path, tmp_path / "a.duckdb"))
    b = civicsentry.open(workspace_copy(detected_path, tmp_path / "b.duckdb"))
    other = civicsentry.open(workspace_copy(detected_path, tmp_path / "other.duckdb"))
    try:
        share.create_community(a, "eu")
        key = share.export_community_key(a, "eu")
        share.create_community(b, "eu", key=key["key"], version=key["key_version"])
        share.create_community(other, "eu")  # same name, its own key
        coll = share.add_collection(a, "eu-partners", community="eu")
        tokens = {
            p: share.add_partner(a, p, read=["eu-partners"])["token"]
            for p in ("b-unit", "other-unit")
        }
        c = url_cluster(a)
        members = sorted(r[0] for r in a.sql(
            "SELECT account_id FROM cluster_members WHERE cluster_id = ? AND run_id = "
            "(SELECT max(run_id) FROM cluster_members)", params=[c["cluster_id"]]).fetchall())  # fmt: skip
        share.export_share(a, cluster=c["cluster_id"], community="eu", collection="eu-partners")
        with serve(create_taxii_app(a.path)) as base:
            url = f"{base}/taxii2/api/collections/{coll['collection_id']}/"
            share.add_partner(b, "a-unit", feeds=[url], feed_token=tokens["b-unit"])
            share.add_partner(other, "a-unit", feeds=[url], feed_token=tokens["other-unit"])
            (pulled,) = share.pull_partners(b)
            (again,) = share.pull_partners(b)
            (elsewhere,) = share.pull_partners(other)
    finally:
        a.close()
    try:
        assert pulled.objects > 0 and pulled.new == pulled.objects and pulled.invalid == 0
        (found,) = pulled.correlations
        assert found["accounts"] == members
        assert found["urls"] and found["domains"]
        assert {cid for _, cid in found["local_clusters"]} == {c["cluster_id"]}
        assert found["alert_id"] is not None
        alert = b.sql("SELECT rule, severity, evidence FROM alerts WHERE alert_id = ?",
                      params=[found["alert_id"]]).fetchall()[0]  # fmt: skip
        assert alert[:2] == ("partner_correlation", "high")
        assert b.scalar("SELECT count(*) FROM share_correlations WHERE kind = 'account'") == len(
            members
        )
        # Incremental: nothing new the second time, no new alert.
        assert (again.objects, again.correlations) == (0, [])
        assert b.scalar("SELECT count(*) FROM alerts WHERE rule = 'partner_correlation'") == 1
        # Provenance and TLP of what came in.
        row = b.sql(
            "SELECT partner_id, source, tlp FROM imported_objects WHERE object_type = 'campaign'"
        ).fetchall()
        assert row == [("a-unit", url, "amber")]
        assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'partners.pull'") == 2
        # A different key: the same accounts are not recognised.
        assert all(m["accounts"] == [] for m in elsewhere.correlations)
        assert other.scalar("SELECT count(*) FROM share_correlations WHERE kind = 'account'") == 0
    finally:
        b.close()
        other.close()


def test_a_pull_from_nowhere_fails_cleanly(detected_path: Path, tmp_path: Path) -> None:
    with civicsentry.open(workspace_copy(detected_path, tmp_path / "b.duckdb")) as b:
        with pytest.raises(civicsentry.InvalidParams, match="No partner feeds"):
            share.pull_partners(b)
        share.add_partner(b, "gone", feeds=["http://127.0.0.1:9/taxii2/api/collections/x/"])
        from civicsentry.share.taxii_client import PullFailed

        with pytest.raises(PullFailed, match="Cannot pull"):
            share.pull_partners(b)
