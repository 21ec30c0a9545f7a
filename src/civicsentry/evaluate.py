"""Score a detection against the simulator's planted truth (docs/clusters.md, "Scorer").

An account is *flagged* when it is a member of a stored cluster of the run. Against
``truth.csv`` (account_id, campaign_id, campaign_kind; organic accounts absent):

- precision = flagged campaign accounts / flagged accounts; recall = flagged campaign
  accounts / campaign accounts; F1 their harmonic mean — overall, and recall per
  campaign kind and per campaign (precision has no per-kind meaning: a flagged organic
  account belongs to no kind);
- organic flagged = flagged organic accounts / organic accounts (organic = accounts in
  the workspace that are not in the truth);
- organic clusters: clusters whose members are mostly (> 50%) organic; a viral burst
  *turned into a cluster* when, in such a cluster, the simulator's innocent viral posts
  (``campaigns.json``'s ``viral_posts``) reposted by two or more members make up at
  least half of the objects its members co-acted on (a pair of heavy users who also
  both reposted a viral post is an organic cluster, not a viral one);
- purity = Σ over clusters of its largest group (one campaign, or organic) / Σ sizes;
  fragments = clusters holding members of a campaign, averaged over found campaigns.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .service.clusters import clustered_run_id
from .store import Workspace

ORGANIC = "organic"


@dataclass(frozen=True)
class KindScore:
    kind: str
    campaigns: int
    accounts: int
    flagged: int
    campaigns_found: int  # campaigns with at least half their members flagged

    @property
    def recall(self) -> float:
        return self.flagged / self.accounts if self.accounts else 0.0


@dataclass(frozen=True)
class DetectionScore:
    run_id: int
    accounts: int  # in the workspace
    campaign_accounts: int
    flagged: int
    true_positives: int
    organic_flagged: int
    organic_accounts: int
    clusters: int
    organic_clusters: int
    organic_cluster_accounts: int
    largest_organic_cluster: int
    viral_clusters: int
    purity: float
    fragments: float
    kinds: tuple[KindScore, ...]
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    organic_cluster_ids: tuple[int, ...] = ()

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.campaign_accounts if self.campaign_accounts else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def organic_flagged_share(self) -> float:
        return self.organic_flagged / self.organic_accounts if self.organic_accounts else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kinds"] = [asdict(k) | {"recall": k.recall} for k in self.kinds]
        d |= {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "organic_flagged_share": self.organic_flagged_share,
        }
        return d

    def markdown(self) -> str:
        """A Markdown table: overall figures, then recall per campaign kind."""
        lines = [
            "| measure | value |",
            "| --- | --- |",
            f"| precision | {self.precision:.3f} ({self.true_positives}/{self.flagged}) |",
            f"| recall | {self.recall:.3f} ({self.true_positives}/{self.campaign_accounts}) |",
            f"| F1 | {self.f1:.3f} |",
            f"| organic accounts flagged | {self.organic_flagged_share:.2%} "
            f"({self.organic_flagged}/{self.organic_accounts}) |",
            f"| clusters (mostly organic) | {self.clusters} ({self.organic_clusters}, "
            f"largest {self.largest_organic_cluster}) |",
            f"| viral bursts turned into clusters | {self.viral_clusters} |",
            f"| purity · fragments per campaign | {self.purity:.3f} · {self.fragments:.2f} |",
            "",
            "| campaign kind | campaigns (found) | accounts | flagged | recall |",
            "| --- | --- | --- | --- | --- |",
        ]
        for k in self.kinds:
            lines.append(
                f"| {k.kind} | {k.campaigns} ({k.campaigns_found}) | {k.accounts} | "
                f"{k.flagged} | {k.recall:.3f} |"
            )
        return "\n".join(lines)


def read_truth(path: str | Path) -> dict[str, tuple[str, str]]:
    """account_id -> (campaign_id, campaign_kind) from the simulator's truth.csv."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise InputError(f"Cannot read the truth file {path}: {e}") from e
    need = {"account_id", "campaign_id", "campaign_kind"}
    if rows and not need <= set(rows[0]):
        raise InputError(f"{path} needs the columns {', '.join(sorted(need))}.")
    return {r["account_id"]: (r["campaign_id"], r["campaign_kind"]) for r in rows}


def score_detection(
    ws: Workspace,
    truth: str | Path | dict[str, tuple[str, str]],
    *,
    run_id: int | None = None,
    viral_posts: list[str] | None = None,
) -> DetectionScore:
    """Score the clusters of a run (default: the latest) against the planted truth.
    ``viral_posts`` default to those of the campaigns.json beside truth.csv, if any."""
    rid = clustered_run_id(ws, run_id)
    if not isinstance(truth, dict):
        if viral_posts is None:
            meta = Path(truth).with_name("campaigns.json")
            if meta.exists():
                viral_posts = json.loads(meta.read_text(encoding="utf-8")).get("viral_posts")
        truth = read_truth(truth)
    members = ws.con.execute(
        "SELECT cluster_id, account_id FROM cluster_members WHERE run_id = ?", [rid]
    ).fetchall()
    universe = {
        r[0]
        for r in ws.con.execute(
            "SELECT account_id FROM accounts UNION SELECT DISTINCT account_id FROM posts"
        ).fetchall()
    }
    universe |= truth.keys()
    clusters: dict[int, list[str]] = defaultdict(list)
    for cid, acc in members:
        clusters[cid].append(acc)
    flagged = {acc for _, acc in members}
    label = {acc: truth[acc][0] if acc in truth else ORGANIC for acc in flagged}

    purity_hits, organic, fragments = 0, [], defaultdict(set)
    for cid, accs in clusters.items():
        counts = Counter(label[a] for a in accs)
        purity_hits += counts.most_common(1)[0][1]
        if counts[ORGANIC] * 2 > len(accs):
            organic.append(cid)
        for lab in counts:
            if lab != ORGANIC:
                fragments[lab].add(cid)

    by_campaign: dict[str, dict[str, Any]] = {}
    for acc, (camp, kind) in truth.items():
        c = by_campaign.setdefault(camp, {"kind": kind, "accounts": 0, "flagged": 0})
        c["accounts"] += 1
        c["flagged"] += acc in flagged
    for camp, c in by_campaign.items():
        c["recall"] = c["flagged"] / c["accounts"]
        c["clusters"] = len(fragments.get(camp, ()))
    kinds = []
    for kind in sorted({c["kind"] for c in by_campaign.values()}):
        cs = [c for c in by_campaign.values() if c["kind"] == kind]
        kinds.append(
            KindScore(
                kind=kind,
                campaigns=len(cs),
                accounts=sum(c["accounts"] for c in cs),
                flagged=sum(c["flagged"] for c in cs),
                campaigns_found=sum(1 for c in cs if c["flagged"] * 2 >= c["accounts"]),
            )
        )
    tp = len(flagged & truth.keys())
    return DetectionScore(
        run_id=rid,
        accounts=len(universe),
        campaign_accounts=len(truth),
        flagged=len(flagged),
        true_positives=tp,
        organic_flagged=len(flagged) - tp,
        organic_accounts=len(universe) - len(truth),
        clusters=len(clusters),
        organic_clusters=len(organic),
        organic_cluster_accounts=sum(len(clusters[c]) for c in organic),
        largest_organic_cluster=max((len(clusters[c]) for c in organic), default=0),
        viral_clusters=_viral_clusters(ws, rid, organic, viral_posts or []),
        purity=purity_hits / len(members) if members else 1.0,
        fragments=(sum(len(v) for v in fragments.values()) / len(fragments)) if fragments else 0.0,
        kinds=tuple(kinds),
        campaigns=by_campaign,
        organic_cluster_ids=tuple(sorted(organic)),
    )


def _viral_clusters(ws: Workspace, run_id: int, organic: list[int], viral: list[str]) -> int:
    """Mostly-organic clusters whose co-acted objects are at least half viral posts."""
    if not organic or not viral:
        return 0
    rows = ws.con.execute(
        """WITH v AS (
             SELECT m.cluster_id, a.object_id FROM cluster_members m
             JOIN actions a ON a.account_id = m.account_id
             WHERE m.run_id = ? AND list_contains(?, m.cluster_id)
               AND a.object_type = 'repost' AND list_contains(?, a.object_id)
             GROUP BY ALL HAVING count(DISTINCT m.account_id) >= 2)
           SELECT c.cluster_id, count(v.object_id) AS viral, c.objects FROM clusters c
           JOIN v USING (cluster_id) WHERE c.run_id = ? GROUP BY ALL""",
        [run_id, organic, viral, run_id],
    ).fetchall()
    return sum(1 for _, n_viral, objects in rows if 2 * n_viral >= max(objects or 0, 1))
