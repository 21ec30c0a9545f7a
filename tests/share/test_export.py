"""Exports of a detected workspace: every bundle validates (stix2-validator 3.2.0, no
errors) and passes our checks; ids are minted once; pseudonyms, exemptions, TLP, audit;
the MISP event round-trips through pymisp with the right galaxy tags."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymisp import MISPEvent

import civicsentry
from civicsentry.api import Workspace
from civicsentry.errors import InvalidParams
from civicsentry.service import share
from civicsentry.share import checks, disarm, records, tlp
from tests.share.conftest import url_cluster, workspace_copy


@pytest.fixture(scope="module")
def ws(detected_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = civicsentry.open(
        workspace_copy(detected_path, tmp_path_factory.mktemp("export") / "ws.duckdb")
    )
    share.create_community(w, "eu")
    yield w
    w.close()


def members(ws: Workspace, cluster_id: int) -> list[dict[str, Any]]:
    rel = ws.sql(
        "SELECT m.account_id, a.handle FROM cluster_members m JOIN accounts a USING (account_id) "
        "WHERE m.cluster_id = ? AND m.run_id = (SELECT max(run_id) FROM cluster_members)",
        params=[cluster_id],
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def test_cluster_bundle_validates_and_hides_ordinary_accounts(ws: Workspace) -> None:
    c = url_cluster(ws)
    r = share.export_share(ws, cluster=c["cluster_id"], tlp_level="amber", community="eu")
    bundle = r.document
    errors, _ = checks.validate(bundle)
    assert errors == []
    assert checks.check_bundle(bundle, forbidden=records.forbidden_identifiers(ws)).errors == []
    types = Counter(o["type"] for o in bundle["objects"])
    assert types["campaign"] == types["intrusion-set"] == types["report"] == 1
    assert types["infrastructure"] == types["observed-data"] == 1
    assert types["user-account"] == c["size"]
    assert types["indicator"] >= 1 and types["url"] >= 1 and types["attack-pattern"] >= 1
    # Every member is there by pseudonym only: neither its id nor its handle appears.
    text = json.dumps(bundle)
    for m in members(ws, c["cluster_id"]):
        assert m["account_id"].split(":", 1)[1] not in text
        assert f'"{m["handle"]}"' not in text
    accounts = [o for o in bundle["objects"] if o["type"] == "user-account"]
    assert all(len(a["user_id"]) == 64 and "account_login" not in a for a in accounts)
    # TLP: amber everywhere except the public CivicSentry definitions (clear).
    marks = Counter(o.get("object_marking_refs", ["-"])[0] for o in bundle["objects"])
    assert set(marks) == {"-", tlp.MARKING_IDS["amber"], tlp.MARKING_IDS["clear"]}
    assert marks[tlp.MARKING_IDS["clear"]] == 2
    # DISARM by external id, with the framework version recorded.
    aps = [o for o in bundle["objects"] if o["type"] == "attack-pattern"]
    assert {a["external_references"][0]["external_id"] for a in aps} >= {"T0049"}
    note = next(o for o in bundle["objects"] if o["type"] == "note")
    assert "DISARM Red Framework v1.6" in note["content"]
    assert r.checks["ok"] and r.share_id >= 1


def test_reexport_updates_and_never_duplicates(ws: Workspace) -> None:
    cid = url_cluster(ws)["cluster_id"]
    first = share.export_share(ws, cluster=cid, community="eu").document
    minted = ws.scalar("SELECT count(*) FROM stix_ids")
    again = share.export_share(ws, cluster=cid, community="eu").document
    version = {o["id"]: o.get("modified") for o in first["objects"]}
    assert {o["id"]: o.get("modified") for o in again["objects"]} == version
    assert ws.scalar("SELECT count(*) FROM stix_ids") == minted
    # An analyst maps co-url to another technique: the campaign keeps its id, the method
    # note gets a new version, the unchanged network does not.
    share.set_disarm_mapping(ws, "co-url", ["T0049.007"], "inauthentic news sites")
    try:
        changed = share.export_share(ws, cluster=cid, community="eu").document
    finally:
        share.reset_disarm_mapping(ws, "co-url")
    by_type = {(o["type"], o.get("abstract")): o for o in changed["objects"]}
    old = {(o["type"], o.get("abstract")): o for o in first["objects"]}
    assert by_type[("campaign", None)]["id"] == old[("campaign", None)]["id"]
    iset = by_type[("intrusion-set", None)]
    assert iset["modified"] == old[("intrusion-set", None)]["modified"]
    note = ("note", "Method, parameters and caveats")
    assert (
        by_type[note]["id"] == old[note]["id"] and by_type[note]["modified"] > old[note]["modified"]
    )
    ext_ids = {
        o["external_references"][0]["external_id"]
        for o in changed["objects"]
        if o["type"] == "attack-pattern"
    }
    assert "T0049.007" in ext_ids


def test_case_exemption_and_text(ws: Workspace) -> None:
    clusters = [c for c in ws.clusters(limit=0) if c["size"] >= 3][:2]
    assert len(clusters) == 2
    a, b = clusters
    state_media = members(ws, a["cluster_id"])[0]
    share.exempt(ws, state_media["account_id"], "state-media", "state broadcaster")
    share.export_share(
        ws, case="op-ballot", cluster=a["cluster_id"], community="eu", title="Operation Ballot"
    )
    r = share.export_share(ws, case="op-ballot", cluster=b["cluster_id"], community="eu",
                           include_text=True, tlp_level="green")  # fmt: skip
    bundle = r.document
    assert r.scope == "case" and r.checks["ok"]
    types = Counter(o["type"] for o in bundle["objects"])
    assert types["intrusion-set"] == 2 and types["campaign"] == 1
    campaign = next(o for o in bundle["objects"] if o["type"] == "campaign")
    assert campaign["name"] == "Operation Ballot"
    exempt = [o for o in bundle["objects"] if o["type"] == "user-account" and "account_login" in o]
    assert [(o["user_id"], o["account_login"]) for o in exempt] == [
        (state_media["account_id"].split(":", 1)[1], state_media["handle"])
    ]
    assert any(o.get("abstract", "").startswith("Example posts") for o in bundle["objects"])
    share.unexempt(ws, state_media["account_id"])


def test_red_never_leaves_and_every_share_is_logged(ws: Workspace) -> None:
    cid = url_cluster(ws)["cluster_id"]
    before = ws.scalar("SELECT count(*) FROM audit_log WHERE action = 'share.export'")
    with pytest.raises(InvalidParams, match="TLP:RED never leaves"):
        share.export_share(ws, cluster=cid, community="eu", tlp_level="red")
    with pytest.raises(InvalidParams, match="No key for community"):
        share.export_share(ws, cluster=cid, community="nowhere")
    share.export_share(ws, cluster=cid, community="eu", tlp_level="clear")
    assert ws.scalar("SELECT count(*) FROM audit_log WHERE action = 'share.export'") == before + 1
    assert ws.scalar("SELECT count(*) FROM shares WHERE tlp = 'red'") == 0
    log = share.share_log(ws, limit=1)[0]
    assert (log["tlp"], log["format"], log["community"], log["channel"]) == (
        "clear",
        "stix",
        "eu",
        "api",
    )
    run = ws.sql(
        "SELECT step, name, params FROM runs WHERE run_id = ?", params=[log["run_id"]]
    ).fetchall()[0]
    assert run[:2] == ("share", "stix-export") and json.loads(run[2])["tlp"] == "clear"
    assert (
        ws.scalar("SELECT count(*) FROM shared_objects WHERE share_id = ?", [log["share_id"]])
        == log["objects"]
    )


def test_misp_event_round_trips_with_galaxy_tags(ws: Workspace, tmp_path: Path) -> None:
    c = url_cluster(ws)
    out = tmp_path / "event.json"
    r = share.export_share(ws, cluster=c["cluster_id"], community="eu", fmt="misp",
                           tlp_level="green", out=out, techniques=["T0150.008"])  # fmt: skip
    event = MISPEvent()
    event.load(out.read_text())
    tags = {t.name for t in event.tags}
    ev = share.gather(ws, cluster=c["cluster_id"], run_id=None, case=None, alert=None,
                      include_text=False)  # fmt: skip
    techniques = ev.techniques.keys() | {"T0150.008"}
    expected = {disarm.misp_tag(t) for t in techniques}
    assert tags == {"tlp:green"} | expected
    # v1.6-only technique: a plain tag; the others: the v1.4 galaxy by name.
    assert 'disarm:technique="T0150.008"' in tags
    assert 'misp-galaxy:disarm-techniques="Flood Information Space"' in tags
    accounts = [o for o in event.objects if o.name == "twitter-account"]
    assert len(accounts) == c["size"]
    urls = {a.value for a in event.attributes if a.type == "url"}
    assert urls == {o.value for o in ev.clusters[0].of_kind("url")} and urls
    text = out.read_text()
    for m in members(ws, c["cluster_id"]):
        assert m["account_id"].split(":", 1)[1] not in text
    assert r.format == "misp" and r.checks["ok"]


def test_an_alert_exports_its_cluster_and_the_python_api(ws: Workspace) -> None:
    from civicsentry.service.alerts import raise_alert

    c = url_cluster(ws)
    run = ws.scalar("SELECT max(run_id) FROM cluster_members")
    alert_id = raise_alert(
        ws, rule="cluster_new", fingerprint=f"test:{c['cluster_id']}", severity="medium",
        title="new cluster", evidence={"detection_run_id": run, "cluster_id": c["cluster_id"]},
        disarm=["T0092"],
    )  # fmt: skip
    r = ws.share(alert=alert_id, community="eu")
    assert (r.scope, r.subject, r.checks["ok"]) == ("alert", f"alert {alert_id}", True)
    techniques = {
        o["external_references"][0]["external_id"]
        for o in r.document["objects"]
        if o["type"] == "attack-pattern"
    }
    assert "T0092" in techniques  # from the alert
    assert ws.share_log(limit=1)[0]["share_id"] == r.share_id
