"""Coordination benchmark: the coordination-network-toolkit (PyPI 1.5.2) and CivicSentry
with ``semantics="cnt"`` side by side, on the same raw input, in one run.

For each input both tools go from the toolkit's CSV to stored co_retweet edges, each in
its own process (whole-process wall time, as a user would see it), after an ``os.sync()``
so that neither is timed while the kernel writes back the other's files:

- toolkit: ``python -m coordination_network_toolkit DB preprocess CSV`` then
  ``... DB compute co_retweet --time_window W --min_edge_weight 1 --n_cpus 2``;
- ours: ``ingest`` (the toolkit-CSV adapter) then ``detect --semantics cnt --window W``
  into a fresh workspace; its own ingest and detect times are reported too.

The directed edges (source, target, weight) must be identical, or the script fails.
Each is timed ``--runs`` times (median reported), wall time and CPU seconds (user +
system of each tool's processes, children included: on a shared machine the CPU figures
compare better than the wall times). With ``--default`` it also times our
default detection (semantics civicsentry: repost + url + hashtag, significance) on the
simulated input, with peak memory.

    .venv/bin/python bench/bench_coordination.py                 # russian + 1M simulated
    .venv/bin/python bench/bench_coordination.py --sim-posts 0   # russian only
    .venv/bin/python bench/bench_coordination.py --default --sim-posts 10000000

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PY = sys.executable

OURS = """
import json, sys, time
import civicsentry
from civicsentry.service.ingest import ingest_files
from civicsentry.service.detect import detect_coordination
csv, ws_path, window = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
ws = civicsentry.open(ws_path)
ingest_files(ws, [csv], format="cnt")
t1 = time.perf_counter()
s = detect_coordination(ws, semantics="cnt", windows=window + "s", threads=2)
t2 = time.perf_counter()
ws.close()
print(json.dumps({"ingest": t1 - t0, "detect": t2 - t1, "run_id": s.run_id}))
"""

DEFAULT = """
import json, os, sys, threading, time
import psutil
import civicsentry
from civicsentry.service.detect import detect_coordination
proc, peak, stop = psutil.Process(os.getpid()), [0], [False]
def watch():
    while not stop[0]:
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
ws = civicsentry.open(sys.argv[1])
t0 = time.perf_counter()
s = detect_coordination(ws, threads=2)
t1 = time.perf_counter()
stop[0] = True
print(json.dumps({"detect": t1 - t0, "peak_rss": peak[0], "networks": s.networks,
                  "caps": s.caps}))
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the process and the processes it
    waited for: on a shared machine these compare better than wall time) and stdout."""
    t, c = time.perf_counter(), _children_cpu()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t, _children_cpu() - c
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return dt, cpu, p.stdout


# -- inputs in the toolkit's CSV -------------------------------------------------------------


def csv_from_russian(out: Path) -> Path:
    duckdb.execute(f"""
        COPY (SELECT content_id AS message_id, account_id AS user_id, account_id AS username,
                     object_id AS repost_id, '' AS reply_id, '' AS message,
                     timestamp_share AS timestamp, '' AS urls
              FROM read_parquet('{SHARED / "russian_coord_tweets.parquet"}'))
        TO '{out}' (FORMAT csv, HEADER true)""")
    return out


def csv_from_posts(posts: Path, out: Path) -> Path:
    """Canonical posts (the simulator's posts.parquet) as the toolkit's CSV."""
    duckdb.execute(f"""
        COPY (SELECT post_id AS message_id, account_id AS user_id, account_id AS username,
                     CASE WHEN kind = 'repost' THEN parent_post_id ELSE '' END AS repost_id,
                     CASE WHEN kind = 'reply' THEN parent_post_id ELSE '' END AS reply_id,
                     '' AS message, CAST(epoch(created_at) AS BIGINT) AS timestamp,
                     array_to_string(coalesce(urls, []), ' ') AS urls
              FROM read_parquet('{posts}'))
        TO '{out}' (FORMAT csv, HEADER true)""")
    return out


def simulated(n: int, work: Path) -> Path:
    out = work / f"sim_{n}"
    posts = out / "posts.parquet"
    if not posts.exists():
        from civicsentry.simulate import simulate

        simulate(out, posts=n, seed=0)
    return posts


# -- the two tools ----------------------------------------------------------------------------


def toolkit(csv: Path, window: int, work: Path) -> tuple[float, float, Path]:
    db = work / "cnt.db"
    db.unlink(missing_ok=True)
    mod = [PY, "-m", "coordination_network_toolkit", str(db)]
    t1, c1, _ = run([*mod, "preprocess", "--format", "csv", str(csv)])
    t2, c2, _ = run(
        [
            *mod,
            "compute",
            "co_retweet",
            "--time_window",
            str(window),
            "--min_edge_weight",
            "1",
            "--n_cpus",
            "2",
        ]
    )
    return t1 + t2, c1 + c2, db


def toolkit_edges(db: Path) -> set[tuple[str, str, int]]:
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT user_1, user_2, weight FROM co_retweet_network WHERE user_1 != user_2"
        ).fetchall()
    return {(str(a), str(b), int(w)) for a, b, w in rows}


def ours(csv: Path, window: int, work: Path) -> tuple[float, float, dict[str, float], Path]:
    ws = work / "ours.duckdb"
    for p in (ws, Path(str(ws) + ".wal")):
        p.unlink(missing_ok=True)
    dt, cpu, out = run([PY, "-c", OURS, str(csv), str(ws), str(window)])
    return dt, cpu, json.loads(out.strip().splitlines()[-1]), ws


def our_edges(ws: Path) -> set[tuple[str, str, int]]:
    con = duckdb.connect(str(ws), read_only=True)
    rows = con.execute("""
        SELECT account_a, account_b, weight_ab FROM coordination_edges WHERE weight_ab IS NOT NULL
        UNION ALL
        SELECT account_b, account_a, weight_ba FROM coordination_edges WHERE weight_ba IS NOT NULL
    """).fetchall()
    con.close()
    return {(a.removeprefix("cnt:"), b.removeprefix("cnt:"), int(w)) for a, b, w in rows}


def compare(name: str, csv: Path, window: int, runs: int, work: Path) -> dict[str, object]:
    theirs_t, ours_t, theirs_cpu, ours_cpu, parts = [], [], [], [], []
    for _ in range(runs):
        # Each tool starts with none of the other's writes pending: the toolkit leaves a
        # 1.3 GB SQLite file, whose write-back by the kernel would otherwise run during
        # the next timed process (and ours a 0.3 GB workspace).
        os.sync()
        t, cpu, db = toolkit(csv, window, work)
        theirs_t.append(t)
        theirs_cpu.append(cpu)
        os.sync()
        t, cpu, inner, ws = ours(csv, window, work)
        ours_t.append(t)
        ours_cpu.append(cpu)
        parts.append(inner)
    a, b = toolkit_edges(db), our_edges(ws)
    if a != b:
        raise SystemExit(f"{name}: edges differ: {len(a - b)} only toolkit, {len(b - a)} only ours")
    with open(csv, encoding="utf-8") as f:
        rows = sum(1 for _ in f) - 1
    return {
        "input": name,
        "rows": rows,
        "window": window,
        "directed_edges": len(a),
        "toolkit_s": statistics.median(theirs_t),
        "ours_s": statistics.median(ours_t),
        "toolkit_cpu_s": statistics.median(theirs_cpu),
        "ours_cpu_s": statistics.median(ours_cpu),
        "ours_ingest_s": statistics.median(p["ingest"] for p in parts),
        "ours_detect_s": statistics.median(p["detect"] for p in parts),
    }


def default_detection(posts: Path, work: Path, runs: int) -> dict[str, object]:
    ws = work / f"default_{posts.parent.name}.duckdb"
    if not ws.exists():
        from civicsentry import open as open_ws
        from civicsentry.service.ingest import ingest_files

        w = open_ws(ws)
        ingest_files(w, [posts])
        w.close()
    results = [
        json.loads(run([PY, "-c", DEFAULT, str(ws)])[2].strip().splitlines()[-1])
        for _ in range(runs)
    ]
    return {
        "input": posts.parent.name,
        "detect_s": statistics.median(r["detect"] for r in results),
        "peak_rss_gib": max(r["peak_rss"] for r in results) / 2**30,
        "networks": results[-1]["networks"],
        "caps": results[-1]["caps"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--sim-posts", type=int, default=1_000_000, help="0 to skip")
    ap.add_argument("--default", action="store_true", help="also time default detection")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/civicsentry-bench"))
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    results = []
    if (SHARED / "russian_coord_tweets.parquet").exists():
        csv = csv_from_russian(work / "russian.csv")
        results.append(compare("russian_coord_tweets", csv, args.window, args.runs, work))
    else:
        print(f"(skipping russian_coord_tweets: {SHARED} not found)", file=sys.stderr)
    posts = None
    if args.sim_posts:
        posts = simulated(args.sim_posts, work)
        csv = csv_from_posts(posts, work / f"sim_{args.sim_posts}.csv")
        results.append(
            compare(f"simulated {args.sim_posts:,} posts", csv, args.window, args.runs, work)
        )
    print(f"\n#### co_retweet, window {args.window} s, toolkit vs CivicSentry (semantics cnt)\n")
    print(
        f"median of {args.runs} runs, whole process, 2 cores ({os.cpu_count()} visible); "
        "edges identical in every case\n"
    )
    print(
        "| input | rows | directed edges | toolkit (preprocess + compute) | CivicSentry "
        "(ingest + detect + store) | of which detect | speed-up | CPU s toolkit / ours |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['input']} | {r['rows']:,} | {r['directed_edges']:,} | {r['toolkit_s']:.2f} s "
            f"| {r['ours_s']:.2f} s | {r['ours_detect_s']:.2f} s "
            f"| {r['toolkit_s'] / r['ours_s']:.1f}× "
            f"| {r['toolkit_cpu_s']:.1f} / {r['ours_cpu_s']:.1f} |"
        )
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.default and posts is not None:
        d = default_detection(posts, work, args.runs)
        print("\n#### default detection (repost + url + hashtag, significance)\n")
        print(
            "| input | detect (median) | peak RSS | significant multi edges | capped/viral objects |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        multi = d["networks"].get("multi", {})  # type: ignore[union-attr]
        print(
            f"| {d['input']} | {d['detect_s']:.1f} s | {d['peak_rss_gib']:.2f} GiB "
            f"| {multi.get('significant', 0):,} of {multi.get('edges', 0):,} | {d['caps']:,} |"
        )
    if work == Path("/tmp/civicsentry-bench") and os.environ.get("BENCH_CLEAN"):
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
