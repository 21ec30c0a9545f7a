"""REST API latency under concurrent clients, on loopback.

Builds (or reuses) a workspace of ``--posts`` simulated posts — simulate → ingest →
detect (default semantics, clusters) → account signals → a few alerts — starts
``civicsentry serve`` on a free loopback port in its own process, and lets ``--clients``
threads (one httpx client and one API token each) request a fixed mix of list and
detail endpoints for ``--seconds``. Reports the median and 90th percentile per endpoint
and over the mix, and writes them between the ``web`` markers of docs/benchmarks.md
with ``--write``.

    .venv/bin/python bench/bench_web.py --posts 10000000 --clients 20 --write
    .venv/bin/python bench/bench_web.py --posts 200000 --seconds 10     # a quick look

Every request goes to 127.0.0.1 only; the load stops by itself after ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
CLI = [sys.executable, "-m", "civicsentry"]


def run(*args: str) -> None:
    subprocess.run([*CLI, *args], check=True, stdout=subprocess.DEVNULL)


def build(posts: int, seed: int) -> Path:
    ws = OUT / f"web-{posts}.duckdb"
    if ws.exists():
        return ws
    data = OUT / f"web-{posts}-data"
    t0 = time.perf_counter()
    run("simulate", str(data), "--posts", str(posts), "--seed", str(seed))
    files = [str(p) for p in sorted(data.glob("*.parquet"))]
    run("ingest", *files, "-w", str(ws))
    run("detect", "-w", str(ws))
    import civicsentry
    from civicsentry.service import accounts, alerts, clusters

    with civicsentry.open(ws) as w:
        accounts.compute_signals(w)
        for c in clusters.top_clusters(w, limit=50):
            alerts.raise_alert(
                w,
                rule="new_cluster",
                fingerprint=f"bench-{c['run_id']}-{c['cluster_id']}",
                severity="high" if c["suspicion"] > 0.5 else "medium",
                title=f"cluster {c['cluster_id']} ({c['size']} accounts)",
                evidence={"cluster_id": c["cluster_id"], "run_id": c["run_id"]},
            )
    print(f"built {ws} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return ws


def tokens(ws: Path, n: int) -> list[str]:
    import civicsentry
    from civicsentry.service import users

    with civicsentry.open(ws) as w:
        if not users.list_users(w, role="analyst"):
            users.add_user(w, "bench", role="analyst", password="benchmark-password")
        name = users.list_users(w, role="analyst")[0]["username"]
        return [users.create_token(w, name, name="bench")[0] for _ in range(n)]


def targets(base: str, token: str) -> dict[str, list[str]]:
    """Paths per endpoint kind, from the workspace itself (first pages, real ids)."""
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}) as c:
        clusters = c.get("/api/clusters?limit=20").json()["items"]
        alerts_ = c.get("/api/alerts?limit=20").json()["items"]
        accts = c.get("/api/accounts?limit=20").json()["items"]
    cids = [x["cluster_id"] for x in clusters]
    return {
        "GET /api/alerts (list)": ["/api/alerts?limit=50", "/api/alerts?status=new&limit=50"],
        "GET /api/alerts/{id}": [f"/api/alerts/{a['alert_id']}" for a in alerts_],
        "GET /api/clusters (list)": ["/api/clusters?limit=50", "/api/clusters?min_size=5"],
        "GET /api/clusters/{id}": [f"/api/clusters/{i}" for i in cids],
        "GET /api/clusters/{id}/network": [f"/api/clusters/{i}/network" for i in cids],
        "GET /api/accounts (list)": ["/api/accounts?limit=50"],
        "GET /api/accounts/{id}": [f"/api/accounts/{a['account_id']}" for a in accts],
        "GET /api/posts?account_id=": [f"/api/posts?account_id={a['account_id']}" for a in accts],
    }


def load(
    base: str, toks: list[str], mix: dict[str, list[str]], seconds: float
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in mix}
    errors: list[str] = []
    kinds = [k for k, paths in mix.items() if paths]  # round robin over endpoint kinds
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(i: int) -> None:
        with httpx.Client(
            base_url=base, headers={"authorization": f"Bearer {toks[i]}"}, timeout=60
        ) as c:
            j = i
            while time.monotonic() < stop:
                kind = kinds[j % len(kinds)]
                path = mix[kind][(j // len(kinds)) % len(mix[kind])]
                j += 1
                t = time.perf_counter()
                r = c.get(path)
                dt = time.perf_counter() - t
                with lock:
                    if r.status_code == 200:
                        times[kind].append(dt)
                    else:
                        errors.append(f"{r.status_code} {path}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(toks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"{len(errors)} failed requests, e.g. {errors[:3]}", file=sys.stderr)
    return times


def serve(ws: Path) -> tuple[subprocess.Popen[str], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*CLI, "serve", "-w", str(ws), "--port", str(port)], text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/me", timeout=2)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def table(times: dict[str, list[float]]) -> list[str]:
    rows = ["| endpoint | requests | median | p90 |", "| --- | --- | --- | --- |"]
    everything: list[float] = []
    for kind, ts in times.items():
        if not ts:
            continue
        everything += ts
        q = statistics.quantiles(ts, n=10) if len(ts) > 1 else ts * 9
        rows.append(
            f"| {kind} | {len(ts):,} | {statistics.median(ts) * 1000:.0f} ms | {q[8] * 1000:.0f} ms |"
        )
    q = statistics.quantiles(everything, n=10)
    rows.append(
        f"| **all of the above** | {len(everything):,} | "
        f"**{statistics.median(everything) * 1000:.0f} ms** | {q[8] * 1000:.0f} ms |"
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--posts", type=int, default=10_000_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ws = build(args.posts, args.seed)
    toks = tokens(ws, args.clients)
    proc, base = serve(ws)
    try:
        mix = targets(base, toks[0])
        load(base, toks[:2], mix, 3)  # warm up
        times = load(base, toks, mix, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load_avg = os.getloadavg()[0]
    rows = table(times)
    print("\n".join(rows))
    if args.write:
        cmd = f".venv/bin/python bench/bench_web.py --posts {args.posts} --clients {args.clients} --seconds {args.seconds:g} --write"
        text = "\n".join(
            [
                "<!-- web:start -->",
                "## REST API latency",
                "",
                f"`{cmd}`: {args.posts:,} simulated posts (simulate → ingest → detect → signals, "
                f"{sum(len(v) for v in mix.values())} distinct paths), `civicsentry serve` on loopback, "
                f"{args.clients} concurrent clients with their own API tokens for {args.seconds:g} s "
                f"after a warm-up, each cycling through list and detail endpoints. "
                f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at the end "
                f"{load_avg:.1f} (the machine was shared with other work).",
                "",
                *rows,
                "",
                "Each latency is the whole request as the client sees it (authentication, the DuckDB "
                "queries, an audit-log insert for detail views, JSON). Full-text post search and "
                "the overview's volume chart scan every post and are not in this mix.",
                "<!-- web:end -->",
            ]
        )
        doc = DOC.read_text(encoding="utf-8")
        if "<!-- web:start -->" in doc:
            doc = re.sub(r"<!-- web:start -->.*?<!-- web:end -->", lambda _: text, doc, flags=re.S)
        else:
            doc = doc.rstrip("\n") + "\n\n" + text + "\n"
        DOC.write_text(doc, encoding="utf-8")
    print(json.dumps({k: len(v) for k, v in times.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
