"""Narratives at scale on simulated data: embedding throughput, clustering time, the
cached second run, and whether the planted copy-paste campaigns come out as their own
narratives linked to their coordination clusters.

    .venv/bin/python bench/bench_narratives.py --posts 1000000          # figures into docs/benchmarks.md
    .venv/bin/python bench/bench_narratives.py --posts 200000 --detect  # + coordination clusters

The workspace and the simulated files stay in --workdir, so a rerun reuses them (and the
embedding cache: delete the folder to measure a cold run again).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rich.progress import (  # noqa: E402  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import civicsentry  # noqa: E402
from civicsentry.service.narratives import build_narratives  # noqa: E402
from civicsentry.simulate import simulate  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- narratives:start -->", "<!-- narratives:end -->"
_WORD = re.compile(r"\w+")


def words(s: str) -> set[str]:
    return set(_WORD.findall(s.lower()))


def run_build(ws: civicsentry.Workspace) -> tuple[object, dict[str, float]]:
    """One narratives build with a progress bar; seconds per stage."""
    marks: dict[str, float] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(stage: str, done: int, total: int) -> None:
            now = time.time()
            marks.setdefault(f"{stage}:start", now)
            marks[f"{stage}:end"] = now
            marks.setdefault(f"{stage}:cpu0", time.process_time())
            marks[f"{stage}:cpu1"] = time.process_time()
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        t0 = time.time()
        summary = build_narratives(ws, progress=progress)
        marks["total"] = time.time() - t0
    stages = {"total": marks["total"]}
    if "embedding:start" in marks:
        stages["embedding"] = marks["embedding:end"] - marks["embedding:start"]
        stages["embedding_cpu"] = marks["embedding:cpu1"] - marks["embedding:cpu0"]
    if "clustering:start" in marks:
        stages["clustering"] = (
            marks.get("neighbours:end", marks["clustering:start"]) - marks["clustering:start"]
        )
    return summary, stages


def campaign_recovery(
    ws: civicsentry.Workspace,
    run_id: int,
    campaigns: list[dict],  # type: ignore[type-arg]
    planted: set[str],
) -> list[str]:
    """Per copy-paste campaign: where its copies went, how much of those narratives the
    planted campaigns wrote, and which coordination clusters they are linked to."""
    lines = []
    narr = dict(
        ws.con.execute(
            "SELECT post_id, narrative_id FROM narrative_posts WHERE run_id = ?", [run_id]
        ).fetchall()
    )
    for c in campaigns:
        if c["kind"] != "copy_paste":
            continue
        members = set(c["accounts"])
        templates = [words(t) for t in c["objects"]["texts"]]
        posts = ws.con.execute(
            "SELECT post_id, account_id, text FROM posts WHERE kind <> 'repost' "
            "AND list_contains(?, account_id)",
            [sorted(members)],
        ).fetchall()
        copies = [
            p
            for p, _a, t in posts
            if t and max(len(words(t) & w) / len(words(t) | w) for w in templates) >= 0.5
        ]
        where = Counter(narr.get(p, 0) for p in copies)
        kept = [n for n in where if n]
        found = sum(where[n] for n in kept)
        purity = []
        linked = Counter()
        for n in kept:
            row = ws.con.execute(
                "SELECT coordinated_share, coordinated_clusters FROM narratives "
                "WHERE run_id = ? AND narrative_id = ?",
                [run_id, n],
            ).fetchone()
            by_campaigns = ws.scalar(
                "SELECT avg(CASE WHEN list_contains(?, p.account_id) THEN 1 ELSE 0 END) "
                "FROM narrative_posts n JOIN posts p USING (post_id) "
                "WHERE n.run_id = ? AND n.narrative_id = ? AND p.kind <> 'repost'",
                [sorted(planted), run_id, n],
            )
            purity.append((by_campaigns or 0.0, row[0] or 0.0))
            for cl in json.loads(row[1] or "[]"):
                held = ws.con.execute(
                    "SELECT account_id FROM cluster_members WHERE run_id = ? AND cluster_id = ?",
                    [cl["run_id"], cl["cluster_id"]],
                ).fetchall()
                if {a for (a,) in held} & members:
                    linked[cl["cluster_id"]] += 1
        lines.append(
            f"| {c['campaign_id']} | {len(c['objects']['texts'])} | {len(copies)} | "
            f"{found / max(len(copies), 1):.0%} | {len(kept)} | "
            f"{(min(p for p, _ in purity) if purity else 0):.0%} | "
            f"{(min(q for _, q in purity) if purity else 0):.0%} | "
            f"{', '.join(str(k) for k in sorted(linked)) or '-'} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/civicsentry-bench-narratives")
    ap.add_argument("--detect", action="store_true", help="detect and cluster coordination first")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir) / str(args.posts)
    data = work / "data"
    if not (data / "posts.parquet").exists():
        simulate(data, posts=args.posts, seed=args.seed, fmt="parquet")
    ws_path = work / "ws.duckdb"
    fresh = not ws_path.exists()
    ws = civicsentry.open(ws_path)
    if fresh:
        ws.ingest([data / "posts.parquet", data / "accounts.parquet"])
    if args.detect and not ws.scalar("SELECT count(*) FROM runs WHERE step = 'cluster'"):
        ws.detect(object_types=["repost", "url", "hashtag", "simtext"])
    cold_cached = ws.scalar("SELECT count(*) FROM text_embeddings")
    first, s1 = run_build(ws)
    second, s2 = run_build(ws)
    campaigns = json.loads((data / "campaigns.json").read_text())["campaigns"]
    with (data / "truth.csv").open() as fh:
        planted = {r["account_id"] for r in csv.DictReader(fh)}
    recovery = campaign_recovery(ws, second.run_id, campaigns, planted)  # type: ignore[attr-defined]
    ws.close()
    emb_s = s1.get("embedding", 0.0)
    cpu = s1.get("embedding_cpu", 0.0)
    f = first  # type: ignore[assignment]
    lines = [
        START,
        "### Narratives at scale (issue #6)",
        "",
        f"`.venv/bin/python bench/bench_narratives.py --posts {args.posts}"
        + (" --detect" if args.detect else "")
        + f"` — simulated data (seed {args.seed}), USE m3 embeddings, 2 encoder threads "
        "with one BLAS thread each. Machine shared with other jobs (load average above 10 "
        "during the runs): figures are upper bounds of a quiet machine's times.",
        "",
        "| | value |",
        "| --- | --- |",
        f"| posts with text considered (reposts join their parent's narrative) | {f.posts:,} |",  # type: ignore[attr-defined]
        f"| distinct texts | {f.texts:,} |",  # type: ignore[attr-defined]
        f"| texts embedded in the first run (cache held {cold_cached:,} before) | {f.embedded:,} |",  # type: ignore[attr-defined]
        f"| embedding time | {emb_s:.0f} s |",
        f"| embedding throughput, distinct texts | {f.embedded / max(emb_s, 1e-9):,.0f} texts/s |",  # type: ignore[attr-defined]
        f"| embedding throughput, posts covered | {f.posts / max(emb_s, 1e-9):,.0f} posts/s |",  # type: ignore[attr-defined]
        f"| embedding CPU time (both threads) | {cpu:.0f} s = {cpu / max(f.embedded, 1) * 1e3:.2f} ms per text |",  # type: ignore[attr-defined]
        f"| the same on 2 dedicated cores (CPU time / 2) | {f.embedded / max(cpu / 2, 1e-9):,.0f} texts/s, {f.posts / max(cpu / 2, 1e-9):,.0f} posts/s |",  # type: ignore[attr-defined]
        f"| neighbour search | {s1.get('clustering', 0):.0f} s ({f.graph.get('search')}) |",  # type: ignore[attr-defined]
        f"| first build, total | {s1['total']:.0f} s |",
        f"| second build (embeddings cached), total | {s2['total']:.0f} s, embedded {second.embedded} |",  # type: ignore[attr-defined]
        f"| narratives / posts in them | {f.narratives:,} / {f.assigned_posts:,} |",  # type: ignore[attr-defined]
        "",
        "Copy-paste campaigns (planted by the simulator) in the second run: templates, "
        "copies by members, share of copies in a narrative, narratives holding them, the "
        "lowest share of posts by planted campaign accounts (any campaign: the simulator's "
        "campaigns push overlapping messages) and the lowest `coordinated_share` among "
        "those narratives, and the coordination clusters holding campaign members among "
        "their `coordinated_clusters`.",
        "",
        "| campaign | templates | copies | in narratives | narratives | min campaign share "
        "| min coordinated share | linked clusters |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *recovery,
        END,
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_doc:
        doc = DOC.read_text(encoding="utf-8")
        if START in doc:
            doc = doc[: doc.index(START)] + body + doc[doc.index(END) + len(END) :]
        else:
            doc = doc.rstrip("\n") + "\n\n" + body + "\n"
        DOC.write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
