"""Detection quality on simulated data with planted campaigns, scored by
``civicsentry.evaluate`` against the simulator's truth; plus the clustering speed on a
50k-account network.

For each size: simulate (seeded) -> ingest -> detect with the default settings ->
cluster (default settings) -> score. Prints a Markdown table and writes it into
docs/benchmarks.md between the `detection-quality` markers (other sections untouched).

    .venv/bin/python bench/score_detection.py --posts 200000 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

import civicsentry
from civicsentry.detect.clusters import ClusterParams, find_clusters
from civicsentry.evaluate import DetectionScore, score_detection
from civicsentry.service import clusters as cluster_service
from civicsentry.service.ingest import ingest_files
from civicsentry.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- detection-quality:start -->", "<!-- detection-quality:end -->"


def run_size(
    posts: int, seed: int, work: Path, types: list[str] | None, keep_workspace: bool = False
) -> dict[str, Any]:
    from civicsentry.service import detect as detect_service

    data = work / f"sim-{posts}-{seed}"
    paths = {
        r: data / f"{r}.{x}"
        for r, x in [("posts", "parquet"), ("accounts", "parquet"), ("truth", "csv")]
    }
    if all(p.exists() for p in paths.values()):  # seeded: the same data as simulating again
        n_accounts = duckdb.sql(f"SELECT count(*) FROM '{paths['accounts']}'").fetchall()[0][0]
        print(f"  reusing {data}", file=sys.stderr)
    else:
        sim = simulate(data, posts=posts, seed=seed)
        paths, n_accounts = sim.paths, sim.accounts
    ws_path = work / f"ws-{posts}-{seed}.duckdb"
    ws_path.unlink(missing_ok=True)
    with civicsentry.open(ws_path) as ws:
        t0 = time.perf_counter()
        ingest_files(ws, [paths["posts"], paths["accounts"]])
        t_ingest = time.perf_counter() - t0
        t0 = time.perf_counter()
        det = detect_service.detect_coordination(ws, object_types=types)
        t_detect = time.perf_counter() - t0
        # The same run clustered first without the group test (`--no-attach`), then with
        # the defaults (attachment on), which stay stored: the A/B of the attachment
        # step on one detection.
        cluster_service.cluster_run(ws, det.run_id, attach=False)
        no_attach = score_detection(ws, paths["truth"])
        t0 = time.perf_counter()
        grouped = cluster_service.cluster_run(ws, det.run_id)
        t_cluster = time.perf_counter() - t0
        attach = _attached(grouped.params, ws, det.run_id, paths["truth"])
        score = score_detection(ws, paths["truth"])
        clusters = cluster_service.top_clusters(ws, det.run_id, limit=None)
    if keep_workspace:
        print(f"  kept {ws_path}", file=sys.stderr)
    else:
        ws_path.unlink(missing_ok=True)
    return {
        "posts": posts,
        "accounts": n_accounts,
        "ingest_s": t_ingest,
        "detect_s": t_detect,
        "cluster_s": t_cluster,
        "significant_multi": det.networks.get("multi", {}).get("significant"),
        "score": score,
        "no_attach": no_attach,
        "attach": attach,
        "suspicion": _suspicion_split(clusters, score),
    }


def _attached(params: dict[str, Any], ws: Any, run_id: int, truth: Path) -> dict[str, Any]:
    """What the attachment step did: candidates, attached campaign/organic accounts and
    its seconds (from the clustering's runs row)."""
    row = ws.con.execute(
        "SELECT summary FROM runs WHERE step = 'cluster' "
        "AND CAST(json_extract(params, '$.detection_run_id') AS BIGINT) = ? "
        "ORDER BY run_id DESC LIMIT 1",
        [run_id],
    ).fetchall()
    info = json.loads(row[0][0]).get("attach") or {}
    planted = {r["account_id"] for r in csv.DictReader(truth.open(encoding="utf-8"))}
    won = [m["account_id"] for m in info.get("members", [])]
    return {
        "candidates": info.get("candidates", 0),
        "campaign": sum(a in planted for a in won),
        "organic": sum(a not in planted for a in won),
        "seconds": info.get("seconds"),
        "enabled": params.get("attach") is not None,
    }


def _suspicion_split(clusters: list[dict[str, Any]], score: DetectionScore) -> str:
    """Median suspicion of campaign clusters vs mostly-organic ones (is the ranking right?)."""
    organic_ids = set(score.organic_cluster_ids)
    camp = [c["suspicion"] for c in clusters if c["cluster_id"] not in organic_ids]
    org = [c["suspicion"] for c in clusters if c["cluster_id"] in organic_ids]

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):.2f}" if xs else "-"

    return f"{med(camp)} / {med(org)}"


def clustering_speed(n: int = 50_000, group: int = 10, seed: int = 0) -> tuple[int, int, float]:
    """find_clusters on a planted network: n accounts in cells of ``group``, ~4 edges per
    account inside its cell plus 5% random edges, with actions and posts to describe."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, 4 * n)
    b = (a // group) * group + rng.integers(0, group, len(a))
    noise = rng.integers(0, n, (len(a) // 20, 2))
    pairs = np.vstack([np.column_stack([a, b]), noise])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    con = duckdb.connect()
    con.register(
        "_e",
        pa.table(
            {
                "a": pairs[:, 0],
                "b": pairs[:, 1],
                "w": rng.integers(2, 30, len(pairs)),
            }
        ),
    )
    con.execute(
        "CREATE TABLE edges AS SELECT printf('x:%07d', a) AS account_a, printf('x:%07d', b) "
        "AS account_b, w AS weight, 'repost' AS object_types, 5.0 AS median_delay_s, "
        "1e-9 AS q_value FROM _e"
    )
    # Each account reposts 20 objects of its cell within seconds of each other.
    con.execute(
        f"""CREATE TABLE actions AS SELECT printf('x:%07d', i) AS account_id,
            'repost' AS object_type, 'o' || (i // {group}) || '-' || k AS object_id,
            TIMESTAMPTZ '2024-01-01' + to_seconds(k * 3600 + i % {group}) AS t,
            'p' || i || '-' || k AS post_id
            FROM range({n}) r(i), range(20) s(k)"""
    )
    con.execute(
        "CREATE TABLE posts AS SELECT post_id, account_id, t AS created_at, "
        "NULL::VARCHAR AS text FROM actions"
    )
    t0 = time.perf_counter()
    res = find_clusters(con, "edges", params=ClusterParams(windows={"repost": 60}))
    seconds = time.perf_counter() - t0
    res.close()
    con.close()
    return n, len(pairs), seconds


def markdown(
    results: list[dict[str, Any]],
    seed: int,
    speed: tuple[int, int, float],
    load: tuple[float, float] | None = None,
) -> str:
    head = "| | " + " | ".join(f"{r['posts']:,} posts" for r in results) + " |"
    sep = "| --- |" + " --- |" * len(results)

    def row(label: str, f: Any) -> str:
        return f"| {label} | " + " | ".join(f(r) for r in results) + " |"

    def sc(r: dict[str, Any]) -> DetectionScore:
        return r["score"]  # type: ignore[no-any-return]

    lines = [
        head,
        sep,
        row("accounts (campaign)", lambda r: f"{r['accounts']:,} ({sc(r).campaign_accounts})"),
        row("detect s · cluster s", lambda r: f"{r['detect_s']:.1f} · {r['cluster_s']:.1f}"),
        row("significant multi-modal edges", lambda r: f"{r['significant_multi']:,}"),
        row(
            "clusters (mostly organic, largest)",
            lambda r: (
                f"{sc(r).clusters} ({sc(r).organic_clusters}, {sc(r).largest_organic_cluster})"
            ),
        ),
        row("**precision**", lambda r: f"**{sc(r).precision:.3f}**"),
        row("**recall**", lambda r: f"**{sc(r).recall:.3f}**"),
        row("**F1** (target ≥ 0.9)", lambda r: f"**{sc(r).f1:.3f}**"),
        row("F1 with `--no-attach` (no group test)", lambda r: f"{r['no_attach'].f1:.3f}"),
        row(
            "attached by the group test: campaign / organic (candidates) · s",
            lambda r: (
                f"{r['attach']['campaign']} / {r['attach']['organic']} "
                f"({r['attach']['candidates']:,}) · {_s(r['attach']['seconds'])}"
            ),
        ),
        row(
            "**organic accounts flagged** (target ≤ 1%)",
            lambda r: f"**{sc(r).organic_flagged_share:.2%}** ({sc(r).organic_flagged})",
        ),
        row(
            "organic flagged with `--no-attach`",
            lambda r: (
                f"{r['no_attach'].organic_flagged_share:.2%} ({r['no_attach'].organic_flagged})"
            ),
        ),
        row("viral bursts turned into clusters", lambda r: str(sc(r).viral_clusters)),
        row(
            "purity · clusters per campaign",
            lambda r: f"{sc(r).purity:.3f} · {sc(r).fragments:.2f}",
        ),
        row("median suspicion: campaign / organic clusters", lambda r: r["suspicion"]),
    ]
    kinds = sorted({k.kind for r in results for k in sc(r).kinds})
    for kind in kinds:

        def recall(r: dict[str, Any], kind: str = kind) -> str:
            k = next((k for k in sc(r).kinds if k.kind == kind), None)
            b = next((k for k in r["no_attach"].kinds if k.kind == kind), None)
            was = f"; {b.recall:.3f} with --no-attach" if b and k and b.flagged != k.flagged else ""
            return "-" if k is None else f"{k.recall:.3f} ({k.flagged}/{k.accounts}{was})"

        lines.append(row(f"recall {kind}", recall))
    n, m, secs = speed
    lines += [
        "",
        f"Seed {seed}; default `detect` and `clusters build` settings (the group test "
        f"on); Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}. Clustering alone "
        f"(Leiden + every statistic) on a planted network of {n:,} accounts and {m:,} "
        f"edges: {secs:.1f} s."
        + (
            f" Run at nice {os.nice(0)}; load average (1 min) at start / end: {load[0]:.1f} / "
            f"{load[1]:.1f} on {os.cpu_count()} cores (timings depend on load, quality does not)."
            if load
            else ""
        ),
    ]
    return "\n".join(lines)


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def write_doc(table: str, posts: list[int], seed: int) -> None:
    sizes = " ".join(str(n) for n in posts)
    command = f"    .venv/bin/python bench/score_detection.py --posts {sizes} --seed {seed}"
    block = f"{START}\n{command}\n\n{table}\n{END}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Detection quality\n\n" + SECTION_INTRO + block + "\n"
    DOC.write_text(text, encoding="utf-8")


SECTION_INTRO = """\
`bench/score_detection.py` simulates data with planted campaigns, runs the default
detection and clustering, and scores the accounts in clusters against the simulator's
truth with `civicsentry.evaluate` (definitions in [clusters.md](clusters.md#the-scorer)).

"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--work",
        type=Path,
        default=None,
        help="Folder for data and workspaces, kept (default: temp); simulated data found there "
        "is reused.",
    )
    ap.add_argument("--no-write", action="store_true", help="Print only; leave the docs.")
    ap.add_argument("--types", help="Object types to detect on (default: the engine's).")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cs-score-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = []
        for n in args.posts:
            print(f"{n:,} posts ...", file=sys.stderr)
            types = args.types.split(",") if args.types else None
            results.append(run_size(n, args.seed, work, types, args.work is not None))
    speed = clustering_speed()
    table = markdown(results, args.seed, speed, (load_start, os.getloadavg()[0]))
    print(table)
    if not args.no_write and not args.types:  # the docs show the default settings
        write_doc(table, args.posts, args.seed)


if __name__ == "__main__":
    main()
