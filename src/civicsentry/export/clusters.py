"""``civicsentry clusters export``: one CSV row per clustered account."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..service.clusters import clustered_run_id
from ..service.summary import safe_cell
from ..store import Workspace

CLUSTER_CSV_COLUMNS = (
    "account_id",
    "cluster_id",
    "handle",
    "cluster_size",
    "cluster_suspicion",
    "degree",
    "strength",
    "coaction_share",
    "run_id",
)


@dataclass(frozen=True)
class ClusterExport:
    path: str
    run_id: int
    rows: int


def write_clusters_csv(ws: Workspace, path: str | Path, run_id: int | None = None) -> ClusterExport:
    """Every member of every cluster of a run (default: the latest detection run):
    account_id, cluster_id, handle, cluster_size, cluster_suspicion, degree, strength,
    coaction_share, run_id; clusters in id order. Cells that a spreadsheet would run as
    a formula (a handle starting with ``=``) are neutralised."""
    rid = clustered_run_id(ws, run_id)
    rel = ws.sql(
        """SELECT m.account_id, m.cluster_id, a.handle, c.size AS cluster_size,
                  c.suspicion AS cluster_suspicion, m.degree, m.strength, m.coaction_share,
                  m.run_id
           FROM cluster_members m JOIN clusters c USING (run_id, cluster_id)
           LEFT JOIN accounts a ON a.account_id = m.account_id
           WHERE m.run_id = ? ORDER BY m.cluster_id, m.account_id""",
        params=[rid],
    )
    rows = rel.fetchall()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CLUSTER_CSV_COLUMNS)
        for r in rows:
            w.writerow([safe_cell(v) for v in r])
    return ClusterExport(str(out), rid, len(rows))
