"""Rules in YAML: the shipped defaults load, user files override by id, mistakes are
caught before anything runs, with a message that says what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsentry.errors import InvalidParams
from civicsentry.warn import REGISTRY, load_rules
from civicsentry.warn.rules import DISARM_NAMES
from tests.conftest import SHARED

EXPECTED_DEFAULTS = {
    "cluster-new": "cluster_new",
    "cluster-growth": "cluster_growth",
    "account-creation-burst": "account_creation_burst",
    "watchlist-volume": "volume_anomaly",
    "foreign-schedule-cluster": "foreign_schedule",
    "debunked-claim-spreading": "claim_spreading",
    "narrative-accelerating": "narrative_accelerating",
}


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_the_shipped_rules_cover_every_family() -> None:
    rs = load_rules()
    assert {r.id: r.kind for r in rs.rules} == EXPECTED_DEFAULTS
    assert set(EXPECTED_DEFAULTS.values()) == set(REGISTRY)
    for r in rs.rules:
        assert r.enabled and r.origin == "default" and r.disarm
        assert all(t in DISARM_NAMES for t in r.disarm), r.id
    burst = rs.get("account-creation-burst")
    assert burst.params["bucket"] == 86_400.0  # "1d" parsed
    assert burst.params["min_accounts"] == 10


def test_a_user_file_overrides_by_id_and_merges_params(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """
rules:
  - id: watchlist-volume
    severity: medium
    params:
      z: 3
      watch: {hashtags: ["#Candidate"], terms: [ballot box]}
  - id: cluster-growth
    enabled: false
  - id: my-domains
    kind: volume_anomaly
    params: {watch: {domains: [www.Example.org]}}
channels:
  ops: {type: webhook, url: "http://127.0.0.1:9/hook", secret_env: HOOK_SECRET, rate_limit: 2/30m}
""",
    )
    rs = load_rules([p])
    w = rs.get("watchlist-volume")
    assert w.severity == "medium" and w.origin == str(p)
    assert w.params["z"] == 3.0 and w.params["min_count"] == 10  # merged, not replaced
    assert w.params["watch"]["hashtags"] == ["#Candidate"]
    assert w.disarm == rs.get("watchlist-volume").disarm  # kept from the default
    assert not rs.get("cluster-growth").enabled
    assert "cluster-growth" not in {r.id for r in rs.enabled}
    assert rs.get("my-domains").params["watch"]["domains"] == ["www.Example.org"]
    assert rs.channels["ops"].rate_max == 2 and rs.channels["ops"].rate_per_s == 1800.0
    assert rs.sources == ("default", str(p))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{id: x}]", "unknown kind None"),
        ("rules: [{id: x, kind: nope}]", "unknown kind 'nope'"),
        ("rules: [{kind: cluster_new}]", "every rule needs an `id`"),
        ("rules: [{id: cluster-new, colour: red}]", "unknown key 'colour'"),
        ("rules: [{id: cluster-new, severity: urgent}]", "severity is one of low, medium"),
        ("rules: [{id: cluster-new, params: {min_sise: 3}}]", "has no parameter 'min_sise'"),
        ("rules: [{id: cluster-new, params: {min_size: big}}]", "must be a number"),
        ("rules: [{id: cluster-new, params: {min_size: 2.5}}]", "must be a whole number"),
        ("rules: [{id: cluster-new, escalate: {high: {speed: 3}}}]", "reports no metric 'speed'"),
        ("rules: [{id: cluster-new, disarm: [Flooding]}]", "DISARM technique ids"),
        ("rules: [{id: cluster-new, notify: [ops]}]", "channel 'ops', which is not defined"),
        (
            "rules: [{id: account-creation-burst, params: {bucket: soon}}]",
            "Cannot read the duration",
        ),
        ("rulez: []", "unknown top-level key 'rulez'"),
        ("rules: [unclosed", "not valid YAML"),
        ("channels: {ops: {type: pager}}", "needs `type: webhook` or `type: email`"),
        ("channels: {ops: {type: webhook, url: 'http://x'}}", "set `secret_env`"),
        ("channels: {ops: {type: email, host: h}}", "needs `host`, `from` and `to`"),
        (
            "channels: {ops: {type: webhook, url: 'http://x', secret_env: S, rate_limit: lots}}",
            "rate_limit is COUNT/DURATION",
        ),
        (
            "rules: [{id: watchlist-volume, params: {watch: {people: [x]}}}]",
            "unknown list 'people'",
        ),
        (
            "rules: [{id: watchlist-volume, params: {one_post_severity: urgent}}]",
            "params.one_post_severity is one of low, medium",
        ),
    ],
)
def test_mistakes_are_caught_with_a_message(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(InvalidParams) as e:
        load_rules([p])
    assert message in str(e.value)
    assert str(p) in str(e.value) or "Cannot read the duration" in str(e.value)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="No rules file"):
        load_rules([tmp_path / "absent.yaml"])


def test_escalation_takes_the_highest_severity_reached() -> None:
    rule = load_rules().get(
        "cluster-new"
    )  # medium; high at suspicion 0.75 or size 25; critical at 100
    assert rule.severity_for({"size": 5, "suspicion": 0.6}) == "medium"
    assert rule.severity_for({"size": 5, "suspicion": 0.8}) == "high"
    assert rule.severity_for({"size": 30, "suspicion": 0.1}) == "high"
    assert rule.severity_for({"size": 150, "suspicion": 0.1}) == "critical"
    assert rule.severity_for({"size": None}) == "medium"


def test_disarm_ids_and_names_match_the_framework() -> None:
    path = SHARED / "disarm" / "DISARM.json"
    if not path.exists():
        pytest.skip(f"DISARM framework not found at {path} (a clone without ../shared)")
    names = {}
    for o in json.loads(path.read_text(encoding="utf-8"))["objects"]:
        if o.get("type") == "attack-pattern":
            for ref in o.get("external_references", []):
                if "external_id" in ref:
                    names[ref["external_id"]] = o["name"]
    for technique, name in DISARM_NAMES.items():
        assert names.get(technique) == name, technique
