"""The scorer: account-level precision/recall of detected clusters against planted truth,
on a toy workspace whose figures are worked out by hand below."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import civicsentry
from civicsentry.errors import InputError
from civicsentry.evaluate import read_truth, score_detection
from civicsentry.store import Workspace

# Campaigns: fast_bots-01 = a b c d; small_cell-02 = e f; small_cell-03 = g h.
# Organic: i j k l m n (accounts table).   Clusters of run 1:
#   1 = a b c i   (3 campaign + 1 organic)
#   2 = e j k     (mostly organic; j and k reposted the viral post V, 1 of its 2 objects:
#                  a viral burst turned into a cluster)
#   3 = g h
#   4 = l m       (organic; both reposted V too, but it is 1 of their 5 objects: not viral)
# flagged 11, true positives 6 (a b c e g h): precision 6/11, recall 6/8;
# organic flagged 5/6; purity (3 + 2 + 2 + 2)/11; each campaign sits in one cluster.
TRUTH = {
    **{x: ("fast_bots-01", "fast_bots") for x in "abcd"},
    **{x: ("small_cell-02", "small_cell") for x in "ef"},
    **{x: ("small_cell-03", "small_cell") for x in "gh"},
}
CLUSTERS = {1: "abci", 2: "ejk", 3: "gh", 4: "lm"}
OBJECTS = {1: 10, 2: 2, 3: 8, 4: 5}  # distinct co-acted objects per cluster


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = civicsentry.open(tmp_path / "ws.duckdb")
    for acc in "abcdefghijklmn":
        w.con.execute("INSERT INTO accounts (account_id, platform) VALUES (?, 'x')", [acc])
    for acc in "jklm":
        w.con.execute("INSERT INTO actions VALUES (?, 'repost', 'V', now(), ?)", [acc, "p" + acc])
    w.con.execute(
        "INSERT INTO runs VALUES (1, 'detect', 'coordination', '{}', '0', now(), now(), '{}')"
    )
    w.con.execute(
        "INSERT INTO runs VALUES (2, 'cluster', 'leiden', ?, '0', now(), now(), '{}')",
        [json.dumps({"detection_run_id": 1})],
    )
    for cid, accs in CLUSTERS.items():
        w.con.execute(
            "INSERT INTO clusters (run_id, cluster_id, clustering_run_id, size, objects) "
            "VALUES (1, ?, 2, ?, ?)",
            [cid, len(accs), OBJECTS[cid]],
        )
        for acc in accs:
            w.con.execute(
                "INSERT INTO cluster_members (run_id, cluster_id, account_id) VALUES (1, ?, ?)",
                [cid, acc],
            )
    yield w
    w.close()


def test_scores_against_the_toy_truth(ws: Workspace) -> None:
    s = score_detection(ws, TRUTH, viral_posts=["V"])
    assert (s.flagged, s.true_positives, s.campaign_accounts) == (11, 6, 8)
    assert s.precision == pytest.approx(6 / 11) and s.recall == pytest.approx(6 / 8)
    assert s.f1 == pytest.approx(2 * (6 / 11) * (6 / 8) / (6 / 11 + 6 / 8))
    assert (s.organic_flagged, s.organic_accounts) == (5, 6)
    assert s.organic_flagged_share == pytest.approx(5 / 6)
    assert (s.clusters, s.organic_clusters, s.largest_organic_cluster) == (4, 2, 3)
    assert s.organic_cluster_ids == (2, 4)
    assert s.viral_clusters == 1  # cluster 2 only
    assert s.purity == pytest.approx(9 / 11) and s.fragments == 1.0
    kinds = {k.kind: k for k in s.kinds}
    assert (kinds["fast_bots"].recall, kinds["fast_bots"].campaigns_found) == (0.75, 1)
    assert (kinds["small_cell"].accounts, kinds["small_cell"].flagged) == (4, 3)
    assert kinds["small_cell"].campaigns_found == 2  # half of small_cell-02 counts as found
    assert s.campaigns["small_cell-02"] == {
        "kind": "small_cell", "accounts": 2, "flagged": 1, "recall": 0.5, "clusters": 1
    }  # fmt: skip
    md = s.markdown()
    assert "| F1 | 0.632 |" in md and "| small_cell | 2 (2) | 4 | 3 | 0.750 |" in md
    d = s.as_dict()
    assert d["precision"] == s.precision and d["kinds"][0]["kind"] == "fast_bots"


def test_truth_file_and_campaigns_json(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "campaign_id", "campaign_kind"])
        w.writerows((acc, camp, kind) for acc, (camp, kind) in TRUTH.items())
    (tmp_path / "campaigns.json").write_text(json.dumps({"viral_posts": ["V"]}), encoding="utf-8")
    assert read_truth(path) == TRUTH
    s = score_detection(ws, path)
    assert s.viral_clusters == 1 and s.true_positives == 6
    bad = tmp_path / "bad.csv"
    bad.write_text("account,campaign\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match="campaign_kind"):
        read_truth(bad)
    with pytest.raises(InputError, match="Cannot read"):
        read_truth(tmp_path / "missing.csv")


def test_nothing_flagged(ws: Workspace) -> None:
    ws.con.execute("DELETE FROM cluster_members")
    ws.con.execute("DELETE FROM clusters")
    s = score_detection(ws, TRUTH)
    assert (s.precision, s.recall, s.f1, s.organic_flagged_share) == (0, 0, 0, 0)
    assert s.purity == 1.0 and s.clusters == 0
