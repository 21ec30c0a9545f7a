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

The build of 10M posts takes long; make it once (``--build-only``, e.g. under
``nice``), then measure on a quiet machine with ``--reuse``:

    nice -n 19 .venv/bin/python bench/bench_web.py --posts 10000000 --build-only
    .venv/bin/python bench/bench_web.py --reuse bench/out/web-10000000.duckdb --write

``--dump FILE`` writes the status and body of every path of the mix, and of more pages,
filters and ids (the HTML account pages, the largest clusters, the accounts with most
posts), into one JSON file, and stops: run it before and after a change to prove the
answers unchanged.

    .venv/bin/python bench/bench_web.py --reuse bench/out/web-10000000.duckdb --dump before.json

Besides the latency the client sees, it reports the server process's CPU time per
request (user + system, from /proc), the figure that decides how many clients two
cores can serve. Every request goes to 127.0.0.1 only; the load stops by itself after
``--seconds``.
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
FIGURES_END = "<!-- web:figures-end -->"  # --write replaces the section up to here


def run(*args: str) -> None:
    subprocess.run([*CLI, *args], check=True, stdout=subprocess.DEVNULL)


def build(posts: int, seed: int) -> Path:
    done = OUT / f"web-{posts}.duckdb"
    if done.exists():
        return done
    # Built under another name and renamed at the end: an interrupted build is never
    # taken for a finished one.
    ws = OUT / f"web-{posts}.partial.duckdb"
    for stale in (ws, ws.with_name(ws.name + ".wal")):
        stale.unlink(missing_ok=True)
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
    wal = ws.with_name(ws.name + ".wal")
    if wal.exists():  # closing checkpoints, so normally there is none
        wal.rename(done.with_name(done.name + ".wal"))
    ws.rename(done)
    print(f"built {done} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return done


def posts_in(ws: Path) -> int:
    import civicsentry

    with civicsentry.open(ws) as w:  # also migrates an older workspace, before timing
        return int(w.scalar("SELECT count(*) FROM posts"))


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


def largest(ws: Path) -> tuple[list[int], list[str]]:
    """The three largest clusters of the latest run and the two accounts with most posts
    (read before the server opens the workspace)."""
    import civicsentry

    with civicsentry.open(ws) as w:
        big = [c for (c,) in w.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = (SELECT max(run_id) FROM clusters) "
            "ORDER BY size DESC, cluster_id LIMIT 3"
        ).fetchall()]  # fmt: skip
        busiest = [a for (a,) in w.con.execute(
            "SELECT account_id FROM posts GROUP BY ALL ORDER BY count(*) DESC, account_id LIMIT 2"
        ).fetchall()]  # fmt: skip
    return big, busiest


def dump_paths(
    base: str, token: str, mix: dict[str, list[str]], big: list[int], busiest: list[str]
) -> list[str]:
    """The mix's paths, then other pages, filters and ids of the same endpoints."""
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}) as c:
        clusters = [x["cluster_id"] for x in c.get("/api/clusters?limit=20").json()["items"]]
        accts = [a["account_id"] for a in c.get("/api/accounts?limit=20").json()["items"]]
    paths = [p for ps in mix.values() for p in ps]
    paths += [
        "/api/accounts?limit=50&offset=1000",
        "/api/accounts?foreign_only=true&limit=20",
        "/api/accounts?min_score=0.5&platform=x&limit=7&offset=3",
        "/api/posts?q=election&limit=20",
        "/api/posts?platform=telegram&limit=10",
        "/api/clusters/99999/delays",
        "/api/accounts/no-such-account",
        "/accounts/no-such-account",
    ]
    for x in [*clusters, *big]:
        paths += [
            f"/api/clusters/{x}/delays",
            f"/api/clusters/{x}/network?max_edges=5",
            f"/api/clusters/{x}/members?limit=7&offset=2",
        ]
    paths += [f"/api/clusters/{x}" for x in big] + [f"/api/clusters/{x}/network" for x in big]
    for a in [*accts, *busiest]:
        paths += [
            f"/api/accounts/{a}",
            f"/api/accounts/{a}?limit=5&offset=3",
            f"/api/accounts/{a}?limit=5",
            f"/api/accounts/{a}?limit=500",
            f"/accounts/{a}",
            f"/api/posts?account_id={a}",
            f"/api/posts?account_id={a}&limit=3&offset=2",
        ]
    return list(dict.fromkeys(paths))


def dump(base: str, token: str, paths: list[str], out: Path) -> None:
    """Status and body of every path, as sent (compare the bytes, not parsed JSON)."""
    res: dict[str, list[object]] = {}
    with httpx.Client(
        base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=600
    ) as c:
        for path in paths:
            r = c.get(path)
            res[path] = [r.status_code, r.text]
    out.write_text(json.dumps(res, indent=0, sort_keys=False), encoding="utf-8")
    print(f"{len(paths)} paths written to {out}", file=sys.stderr)


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


def one_client(
    base: str, token: str, mix: dict[str, list[str]], pid: int, n: int
) -> dict[str, tuple[float, float]]:
    """Per endpoint kind, one client alone: (median latency, server CPU per request)."""
    out: dict[str, tuple[float, float]] = {}
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}) as c:
        for kind, paths in mix.items():
            if not paths or n <= 0:
                continue
            times = []
            cpu0 = cpu_seconds(pid)
            for i in range(n):
                t = time.perf_counter()
                c.get(paths[i % len(paths)]).raise_for_status()
                times.append(time.perf_counter() - t)
            out[kind] = (statistics.median(times), (cpu_seconds(pid) - cpu0) / n)
    return out


def serve(ws: Path) -> tuple[subprocess.Popen[str], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*CLI, "serve", "-w", str(ws), "--port", str(port)], text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900  # opening an older workspace migrates it first
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/me", timeout=2)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table(times: dict[str, list[float]], alone: dict[str, tuple[float, float]]) -> list[str]:
    rows = [
        "| endpoint | requests | median | p90 | one client alone: median | server CPU per request |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    everything: list[float] = []
    for kind, ts in times.items():
        if not ts:
            continue
        everything += ts
        q = statistics.quantiles(ts, n=10) if len(ts) > 1 else ts * 9
        solo, cpu = alone.get(kind, (float("nan"), float("nan")))
        rows.append(
            f"| {kind} | {len(ts):,} | {statistics.median(ts) * 1000:.0f} ms | "
            f"{q[8] * 1000:.0f} ms | {solo * 1000:.0f} ms | {cpu * 1000:.1f} ms |"
        )
    q = statistics.quantiles(everything, n=10)
    rows.append(
        f"| **all of the above** | {len(everything):,} | "
        f"**{statistics.median(everything) * 1000:.0f} ms** | {q[8] * 1000:.0f} ms | | |"
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
    ap.add_argument(
        "--reuse", type=Path, metavar="PATH", help="measure this built workspace (no build)"
    )
    ap.add_argument("--build-only", action="store_true", help="build the workspace and stop")
    ap.add_argument(
        "--alone", type=int, default=20, help="requests per endpoint by one client first"
    )
    ap.add_argument(
        "--dump", type=Path, metavar="FILE", help="write every answer to FILE (JSON) and stop"
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.reuse is not None:
        if not args.reuse.exists():
            raise SystemExit(f"no workspace at {args.reuse}; build one with --build-only")
        ws = args.reuse
    else:
        ws = build(args.posts, args.seed)
    if args.build_only:
        print(ws)
        return
    toks = tokens(ws, args.clients)
    posts = posts_in(ws)
    extra = largest(ws) if args.dump is not None else ([], [])
    proc, base = serve(ws)
    try:
        mix = targets(base, toks[0])
        if args.dump is not None:
            dump(base, toks[0], dump_paths(base, toks[0], mix, *extra), args.dump)
            return
        load(base, toks[:2], mix, 3)  # warm up
        alone = one_client(base, toks[0], mix, proc.pid, args.alone)
        cpu0 = cpu_seconds(proc.pid)
        times = load(base, toks, mix, args.seconds)
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load_avg = os.getloadavg()[0]
    rows = table(times, alone)
    served = sum(len(v) for v in times.values())
    per_request = f"{cpu / served * 1000:.1f} ms" if served else "n/a"
    rate = served / args.seconds
    print("\n".join(rows))
    print(f"{rate:.0f} requests/s; server CPU {per_request} per request", file=sys.stderr)
    if args.write:
        source = f"--reuse {ws.relative_to(ROOT) if ws.is_relative_to(ROOT) else ws}"
        if args.reuse is None:
            source = f"--posts {args.posts}"
        cmd = (
            f".venv/bin/python bench/bench_web.py {source} --clients {args.clients} "
            f"--seconds {args.seconds:g} --write"
        )
        text = "\n".join(
            [
                "<!-- web:start -->",
                "## REST API latency",
                "",
                f"`{cmd}`: {posts:,} simulated posts (simulate → ingest → detect → signals, "
                f"{sum(len(v) for v in mix.values())} distinct paths), `civicsentry serve` on loopback, "
                f"{args.clients} concurrent clients with their own API tokens for {args.seconds:g} s "
                f"after a warm-up, each cycling through list and detail endpoints. "
                f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at the end "
                f"{load_avg:.1f} (the benchmark's own clients and server included).",
                "",
                *rows,
                "",
                f"Throughput {rate:.0f} requests/s; under load the server process used "
                f"{per_request} of CPU per request (user + system, all its threads). The last two "
                f"columns come from {args.alone} requests per endpoint by one client before the "
                "load. The load generator runs on the same cores.",
                "",
                "Each latency is the whole request as the client sees it (authentication, the DuckDB "
                "queries, the audit-log entry of detail views, JSON). Full-text post search and "
                "the overview's volume chart scan every post and are not in this mix.",
                FIGURES_END,
            ]
        )
        doc = DOC.read_text(encoding="utf-8")
        section = re.search(r"<!-- web:start -->.*?<!-- web:end -->", doc, flags=re.S)
        if section:  # notes written by hand after the figures stay
            notes = section.group(0).partition(FIGURES_END)[2] or "\n<!-- web:end -->"
            doc = doc[: section.start()] + text + notes + doc[section.end() :]
        else:
            doc = doc.rstrip("\n") + "\n\n" + text + "\n<!-- web:end -->\n"
        DOC.write_text(doc, encoding="utf-8")
    print(json.dumps({k: len(v) for k, v in times.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
