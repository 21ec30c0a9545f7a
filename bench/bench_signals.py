"""Account signals: quality on simulated data, speed at 10M posts / 1M accounts.

Quality, per seed: simulate ``--posts`` posts with the default campaign mix, ingest,
compute the signals once before detection (accounts only) and once after the default
``detect`` (with clusters), and score them against the simulator's truth:

- each ``foreign_schedule`` campaign: the inferred UTC offset of the cluster holding
  most of its members and whether ``cluster_schedules`` flags it; the share of its
  members flagged ``foreign_schedule`` with an offset within 1 h of the planted one;
- organic accounts flagged ``foreign_schedule``;
- fast bots against organic heavy users (the 1% of organic accounts with most posts):
  the chance that a bot outscores a heavy user (AUC) and the bots above every one;
- calibration of the schedule confidence: organic accounts' inferred offsets against
  their true ones (the simulator's plan), by confidence band.

Speed: a synthetic workspace of ``--scale-posts`` posts by ``--scale-accounts``
accounts (heavy-tailed authorship, half reposts/replies/quotes of popular posts, links,
hashtags, texts; a detection run with 1% of the accounts in clusters of 20) generated
directly in DuckDB, then ``compute_signals`` (storing every row) in a fresh process with
two DuckDB threads: wall and CPU seconds per step, peak RSS.

Writes the tables into docs/benchmarks.md between the ``signals`` markers.

    .venv/bin/python bench/bench_signals.py --posts 200000 --seeds 1 2 3 \
        --scale-posts 10000000 --scale-accounts 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

import civicsentry
from civicsentry.service.accounts import compute_signals, top_accounts
from civicsentry.service.ingest import ingest_files
from civicsentry.signals import SignalParams
from civicsentry.simulate import DEFAULT_START, simulate

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- signals:start -->", "<!-- signals:end -->"
BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.95), (0.95, 1.01))
#: max_population_share values whose flags are recomputed from the stored columns.
SHARES = (0.05, 0.1, 0.15, 0.2, 0.3)


# -- quality ----------------------------------------------------------------------------


def true_offsets(posts: int, seed: int) -> dict[str, int]:
    """Every simulated account's home UTC offset, from the simulator's plan (private:
    the simulator does not write organic offsets, only campaign ones)."""
    from civicsentry.simulate._plan import build_plan

    plan = build_plan(posts, seed, int(DEFAULT_START.timestamp()), 7, None)
    ids = plan.pop.account_id.to_pylist()
    return dict(zip(ids, plan.pop.d.offset.tolist(), strict=True))


def hours(a: int, b: int) -> int:
    d = (a - b) % 24
    return min(d, 24 - d)


def evaluate(
    ws: Any, run_id: int, truth: dict[str, Any], offsets: dict[str, int]
) -> dict[str, Any]:
    accs = {a["account_id"]: a for a in top_accounts(ws, signals_run_id=run_id, limit=None)}
    conf = {
        r[0]: r[1]
        for r in ws.con.execute(
            "SELECT account_id, schedule_confidence FROM account_signals WHERE run_id = ?", [run_id]
        ).fetchall()
    }
    members = set()
    out: dict[str, Any] = {"campaigns": []}
    sched = ws.sql(
        'SELECT cluster_id, utc_offset, "foreign", population_offset, population_share, run_id, '
        "offset_gap, confidence >= 0.8 AND rhythm_fit > 0 FROM cluster_schedules "
        "WHERE signals_run_id = ?",
        params=[run_id],
    ).fetchall()
    cm: dict[int, set[str]] = {}
    if sched:
        for cid, aid in ws.con.execute(
            "SELECT cluster_id, account_id FROM cluster_members WHERE run_id = ?", [sched[0][5]]
        ).fetchall():
            cm.setdefault(cid, set()).add(aid)
    for c in truth["campaigns"]:
        m = set(c["accounts"])
        members |= m
        if c["kind"] != "foreign_schedule":
            continue
        planted = c["schedule_utc_offset"]
        best = max(sched, key=lambda r: len(cm.get(r[0], set()) & m), default=None)
        overlap = len(cm.get(best[0], set()) & m) if best else 0
        right = [
            a for a in m
            if accs[a]["foreign_schedule"] and hours(accs[a]["utc_offset"], planted) <= 1
        ]  # fmt: skip
        offset_right = [
            a for a in m
            if accs[a]["utc_offset"] is not None and hours(accs[a]["utc_offset"], planted) <= 1
        ]  # fmt: skip
        out["campaigns"].append(
            {
                "campaign": c["campaign_id"],
                "planted": planted,
                "members": len(m),
                "cluster_overlap": overlap,
                "cluster_offset": best[1] if best and overlap else None,
                "cluster_error": hours(best[1], planted)
                if best and overlap and best[1] is not None
                else None,
                "cluster_foreign": bool(best[2]) if best and overlap else None,
                "cluster_population": best[3] if best and overlap else None,
                "cluster_population_share": best[4] if best and overlap else None,
                "cluster_gap": best[6] if best and overlap else None,
                "cluster_counts": bool(best[7]) if best and overlap else None,
                "members_flagged_right": len(right),
                "members_offset_right": len(offset_right),
            }
        )
    organic = [a for a in accs.values() if a["account_id"] not in members and a["posts"]]
    out["organic"] = len(organic)
    out["organic_flagged"] = sum(bool(a["foreign_schedule"]) for a in organic)
    cut = float(np.quantile([a["posts"] for a in organic], 0.99))
    heavy = np.array([a["score"] for a in organic if a["posts"] >= cut])
    bots = np.array(
        [
            accs[a]["score"]
            for c in truth["campaigns"]
            if c["kind"] == "fast_bots"
            for a in c["accounts"]
        ]
    )
    out["heavy"], out["heavy_min_posts"], out["bots"] = len(heavy), cut, len(bots)
    out["auc"] = (
        float((bots[:, None] > heavy[None, :]).mean()) if len(bots) and len(heavy) else None
    )
    out["bots_above_all_heavy"] = int((bots > heavy.max()).sum()) if len(heavy) else None
    out["bot_median_rank"] = statistics.median(
        accs[a]["rank"]
        for c in truth["campaigns"]
        if c["kind"] == "fast_bots"
        for a in c["accounts"]
    )
    out["heavy_median_rank"] = statistics.median(a["rank"] for a in organic if a["posts"] >= cut)
    # Calibration: organic accounts with a schedule, by confidence band.
    cal = []
    for lo, hi in BANDS:
        sel = [
            a for a in organic
            if a["utc_offset"] is not None and lo <= (conf[a["account_id"]] or 0) < hi
        ]  # fmt: skip
        ok = sum(hours(a["utc_offset"], offsets[a["account_id"]]) <= 1 for a in sel)
        ok2 = sum(hours(a["utc_offset"], offsets[a["account_id"]]) <= 2 for a in sel)
        cal.append((lo, hi, len(sel), ok, ok2))
    out["calibration"] = cal
    out["sensitivity"] = sensitivity(ws, run_id, truth, members)
    return out


def sensitivity(ws: Any, run_id: int, truth: dict[str, Any], campaign: set[str]) -> list[Any]:
    """Flags at other ``max_population_share`` values, from the stored gap, confidence
    and population share (the rule of signals/flags.py): (share, organic flagged,
    foreign-campaign members flagged, foreign-campaign clusters flagged)."""
    acc = ws.con.execute(
        "SELECT account_id, offset_gap, population_share FROM account_signals "
        "WHERE run_id = ? AND offset_gap >= 3",
        [run_id],
    ).fetchall()  # offset_gap is NULL unless the schedule is confident
    foreign = {
        a for c in truth["campaigns"] if c["kind"] == "foreign_schedule" for a in c["accounts"]
    }
    clusters = ws.con.execute(
        "SELECT cluster_id, population_share FROM cluster_schedules WHERE signals_run_id = ? "
        "AND offset_gap >= 3 AND confidence >= 0.8 AND rhythm_fit > 0",
        [run_id],
    ).fetchall()
    out = []
    for share in SHARES:
        flagged = {a for a, _, s in acc if s is not None and s < share}
        out.append(
            (
                share,
                len(flagged - campaign),
                len(flagged & foreign),
                sum(1 for _, s in clusters if s is not None and s < share),
            )
        )
    return out


def run_quality(posts: int, seed: int, work: Path) -> dict[str, Any]:
    sim = simulate(work / f"sim-{posts}-{seed}", posts=posts, seed=seed)
    truth = json.loads(sim.paths["campaigns"].read_text(encoding="utf-8"))
    offsets = true_offsets(posts, seed)
    path = work / f"ws-{posts}-{seed}.duckdb"
    path.unlink(missing_ok=True)
    with civicsentry.open(path) as ws:
        ingest_files(ws, [sim.paths["posts"], sim.paths["accounts"]])
        before = compute_signals(ws)  # no detection yet: accounts only
        t0 = time.perf_counter()
        ws.detect()
        t_detect = time.perf_counter() - t0
        after = compute_signals(ws)
        res = {
            "posts": posts,
            "seed": seed,
            "accounts": sim.accounts,
            "detect_s": t_detect,
            "signals_s": after.seconds,
            "population": after.population["offset"],
            "before": evaluate(ws, before.run_id, truth, offsets),
            "after": evaluate(ws, after.run_id, truth, offsets),
        }
    path.unlink(missing_ok=True)
    return res


# -- speed ------------------------------------------------------------------------------


def generate(path: Path, posts: int, accounts: int) -> float:
    """A synthetic workspace (see the module docstring); returns seconds taken."""
    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    with civicsentry.open(path) as ws:
        con = ws.con
        con.execute("SELECT setseed(0.42)")
        con.execute(
            f"""INSERT INTO accounts (account_id, platform, handle, created_at, followers,
                                      following, description, location)
            SELECT printf('x:u%07d', i), 'x',
                   CASE WHEN i % 8 = 0 THEN 'Jennife' || lpad(CAST(hash(i) % 100000000 AS VARCHAR), 8, '0')
                        ELSE 'user_' || CAST(hash(i * 7) % 100000 AS VARCHAR) END,
                   TIMESTAMPTZ '2024-10-28' - to_days(CAST(1 + hash(i) % 3000 AS INTEGER)),
                   CAST(hash(i * 3) % 5000 AS BIGINT), CAST(hash(i * 5) % 2000 AS BIGINT),
                   CASE WHEN i % 3 = 0 THEN NULL ELSE 'bio' END,
                   CASE WHEN i % 4 = 0 THEN NULL ELSE 'Ohio' END
            FROM range({accounts}) t(i)"""
        )
        # Heavy-tailed authorship; each account lives at UTC−5..−8 and posts 06-24 local.
        con.execute(
            f"""CREATE TEMP TABLE g AS
            SELECT i, CAST(floor({accounts} * pow(random(), 2.2)) AS BIGINT) AS a,
                   CAST(floor(7 * random()) AS INTEGER) AS d, 6 + 18 * random() AS h,
                   random() AS r, random() AS r2
            FROM range({posts}) t(i)"""
        )
        con.execute(
            f"""INSERT INTO posts (post_id, platform, account_id, created_at, kind,
                                   parent_post_id, text, urls, domains, hashtags)
            SELECT printf('x:%09d', i), 'x', printf('x:u%07d', a),
                   TIMESTAMPTZ '2024-10-28' + to_seconds(CAST((d * 24 + h + 5 + a % 4) * 3600 AS BIGINT)),
                   CASE WHEN r < 0.5 THEN 'post' WHEN r < 0.88 THEN 'repost'
                        WHEN r < 0.96 THEN 'reply' ELSE 'quote' END,
                   CASE WHEN r >= 0.5 THEN printf('x:%09d', CAST(floor({posts} * pow(r2, 3)) AS BIGINT)) END,
                   'text ' || CAST(hash(i) % 1000000 AS VARCHAR),
                   CASE WHEN r2 < 0.2 THEN ['https://news' || CAST(hash(i) % 50000 AS VARCHAR) || '.com/a'] ELSE [] END,
                   CASE WHEN r2 < 0.2 THEN ['news' || CAST(hash(i) % 50000 AS VARCHAR) || '.com'] ELSE [] END,
                   CASE WHEN r2 > 0.75 THEN ['tag' || CAST(floor(2000 * pow(random(), 3)) AS VARCHAR)] ELSE [] END
            FROM g"""
        )
        # Actions as ingest derives them (derive.py).
        con.execute(
            """INSERT INTO actions
            SELECT account_id, a.t, a.o, created_at, post_id FROM (
              SELECT account_id, created_at, post_id, unnest(list_concat(
                CASE WHEN kind IN ('repost', 'reply', 'quote') THEN [{'t': kind, 'o': parent_post_id}] ELSE [] END,
                CASE WHEN kind <> 'repost' THEN list_concat(
                    list_transform(urls, lambda x: {'t': 'url', 'o': x}),
                    list_transform(domains, lambda x: {'t': 'domain', 'o': x}),
                    list_transform(hashtags, lambda x: {'t': 'hashtag', 'o': x}),
                    [{'t': 'text', 'o': md5(text)}]) ELSE [] END,
                [{'t': 'post', 'o': 'any'}])) AS a FROM posts)"""
        )
        con.execute(
            "INSERT INTO runs VALUES (1, 'detect', 'coordination', '{}', 'bench', now(), now(), '{}')"
        )
        con.execute(
            f"""INSERT INTO cluster_members (run_id, cluster_id, account_id, coaction_share)
            SELECT 1, 1 + i // 20, printf('x:u%07d', i * 97 % {accounts}), random()
            FROM range({accounts // 100}) t(i)"""
        )
        con.execute(
            "INSERT INTO runs VALUES (2, 'cluster', 'leiden', '{\"detection_run_id\": 1}', "
            "'bench', now(), now(), '{}')"
        )
        con.execute("DROP TABLE g")
        con.execute("CHECKPOINT")
    return time.perf_counter() - t0


def time_signals(path: Path, threads: int) -> dict[str, Any]:
    """compute_signals on the workspace, storing the rows; run in a fresh process."""
    with civicsentry.open(path) as ws:
        t0, c0 = time.perf_counter(), time.process_time()
        s = compute_signals(ws, threads=threads)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        run = json.loads(ws.scalar("SELECT summary FROM runs WHERE run_id = ?", [s.run_id]))
        rows = ws.scalar("SELECT count(*) FROM account_signals WHERE run_id = ?", [s.run_id])
        posts = ws.scalar("SELECT count(*) FROM posts")
    return {
        "wall": wall,
        "cpu": cpu,
        "steps": run["seconds"],
        "cpu_steps": run["cpu_seconds"],
        "rows": rows,
        "posts": posts,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg(),
    }


def child(*args: str) -> Any:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report -----------------------------------------------------------------------------


def markdown(
    quality: list[dict[str, Any]], speed: list[dict[str, Any]], scale: tuple[int, int], command: str
) -> str:
    lines = [f"    {command}", ""]
    if quality:
        lines += [
            "| seed | accounts | signals | planted offset | cluster offset (error) | cluster flagged | "
            "members on the right offset (±1 h): inferred · flagged | organic flagged | fast bots vs heavy users: AUC · above all · median ranks |",
            "| --- | ---: | --- | ---: | --- | --- | --- | --- | --- |",
        ]
        for q in quality:
            for stage in ("before", "after"):
                e = q[stage]
                label = "accounts only" if stage == "before" else "with clusters"
                for c in e["campaigns"]:
                    cl = (
                        "-" if c["cluster_offset"] is None
                        else f"{c['cluster_offset']:+d} ({c['cluster_error']} h)"
                    )  # fmt: skip
                    flag = "-" if c["cluster_foreign"] is None else (
                        "yes" if c["cluster_foreign"] else
                        f"no (population {c['cluster_population']:+d}, "
                        f"{c['cluster_population_share']:.0%} on its clock)"
                    )  # fmt: skip
                    lines.append(
                        f"| {q['seed']} | {q['accounts']:,} | {label} | {c['planted']:+d} | {cl} | {flag} | "
                        f"{c['members_offset_right']} · {c['members_flagged_right']} of {c['members']} | "
                        f"{e['organic_flagged']}/{e['organic']:,} ({e['organic_flagged'] / max(e['organic'], 1):.2%}) | "
                        f"{e['auc']:.3f} · {e['bots_above_all_heavy']}/{e['bots']} · "
                        f"{e['bot_median_rank']:.0f} vs {e['heavy_median_rank']:.0f} |"
                    )
        cal: dict[tuple[float, float], list[int]] = {}
        per_seed: dict[tuple[float, float], list[str]] = {}
        for q in quality:
            for lo, hi, n, ok, ok2 in q["after"]["calibration"]:
                cal.setdefault((lo, hi), [0, 0, 0])
                cal[(lo, hi)][0] += n
                cal[(lo, hi)][1] += ok
                cal[(lo, hi)][2] += ok2
                per_seed.setdefault((lo, hi), []).append(f"{ok / max(n, 1):.0%}")
        lines += [
            "",
            "Schedule calibration, organic accounts with ≥ 10 posts: the share whose inferred "
            "offset is within 1 h (and 2 h) of their true home offset, by confidence.",
            "",
            "| confidence | accounts | within 1 h | within 1 h, per seed | within 2 h |",
            "| --- | ---: | ---: | --- | ---: |",
        ]
        for (lo, hi), (n, ok, ok2) in cal.items():
            lines.append(
                f"| {lo:.2f}–{min(hi, 1.0):.2f} | {n:,} | {ok / max(n, 1):.1%} | "
                f"{', '.join(per_seed[(lo, hi)])} | {ok2 / max(n, 1):.1%} |"
            )
        organic = sum(q["after"]["organic"] for q in quality)
        foreign = sum(c["members"] for q in quality for c in q["after"]["campaigns"])
        n_camp = sum(len(q["after"]["campaigns"]) for q in quality)
        lines += [
            "",
            "The flag's third rule at other `max_population_share` values (recomputed from the "
            "stored gap, confidence and population share, with clusters; all seeds; the "
            "default in bold):",
            "",
            "| max_population_share | organic accounts flagged | foreign-schedule members flagged | clusters flagged | planted campaigns whose cluster is flagged |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for i, share in enumerate(SHARES):
            org = sum(q["after"]["sensitivity"][i][1] for q in quality)
            mem = sum(q["after"]["sensitivity"][i][2] for q in quality)
            clu = sum(q["after"]["sensitivity"][i][3] for q in quality)
            camp = sum(
                1
                for q in quality
                for c in q["after"]["campaigns"]
                if c["cluster_counts"]
                and (c["cluster_gap"] or 0) >= 3
                and c["cluster_population_share"] is not None
                and c["cluster_population_share"] < share
            )
            bold = "**" if abs(share - SignalParams().max_population_share) < 1e-9 else ""
            lines.append(
                f"| {bold}{share}{bold} | {org} ({org / max(organic, 1):.2%}) | {mem}/{foreign} | "
                f"{clu} | {camp}/{n_camp} |"
            )
    if speed:
        posts, accounts = scale
        steps = list(speed[0]["steps"])
        lines += [
            "",
            f"Speed: {posts:,} posts by {accounts:,} accounts (synthetic, generated in DuckDB), "
            f"`compute_signals` storing every row, 2 DuckDB threads, each run in a fresh "
            f"process. Load is the 1-minute load average as the run ended (the run itself "
            f"adds about 1–2): the machine is shared, so wall time follows the other jobs; "
            f"CPU seconds (all threads) much less.",
            "",
            "| run | wall s | CPU s | " + " | ".join(steps) + " | peak RSS | load |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in steps) + " | ---: | ---: |",
        ]
        for i, r in enumerate(speed, 1):
            lines.append(
                f"| {i} | {r['wall']:.1f} | {r['cpu']:.1f} | "
                + " | ".join(f"{r['steps'][k]:.1f}" for k in steps)
                + f" | {r['rss_mb'] / 1024:.2f} GiB | {r['load'][0]:.1f} |"
            )
        med = lambda k: statistics.median(r[k] for r in speed)  # noqa: E731
        cpu_med = [statistics.median(r["cpu_steps"][k] for r in speed) for k in steps]
        lines.append(
            f"| **median** | **{med('wall'):.1f}** | **{med('cpu'):.1f}** | "
            + " | ".join(f"{statistics.median(r['steps'][k] for r in speed):.1f}" for k in steps)
            + f" | {med('rss_mb') / 1024:.2f} GiB | |"
        )
        lines.append(
            "| CPU s per step (median) | | | " + " | ".join(f"{x:.1f}" for x in cpu_med) + " | | |"
        )
    lines += [
        "",
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, NumPy {np.__version__}.",
    ]
    return "\n".join(lines)


def write_doc(body: str) -> None:
    block = f"{START}\n{body}\n{END}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Account signals\n\n" + INTRO + block + "\n"
    DOC.write_text(text, encoding="utf-8")


INTRO = """\
`bench/bench_signals.py` scores the account signals against the simulator's planted
campaigns (is the `foreign_schedule` campaign found on its UTC offset, do fast bots
outrank organic heavy users) and times them at 10M posts / 1M accounts
(method: [signals.md](signals.md)).

"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--scale-posts", type=int, default=10_000_000)
    ap.add_argument("--scale-accounts", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="Timed runs at scale.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="Folder for data (default: temp).")
    ap.add_argument("--keep", action="store_true", help="Reuse the scale workspace if present.")
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="Print only; leave the docs.")
    ap.add_argument("--child-generate", nargs=3, metavar=("PATH", "POSTS", "ACCOUNTS"))
    ap.add_argument("--child-time", nargs=2, metavar=("PATH", "THREADS"))
    args = ap.parse_args()
    if args.child_generate:
        p, n, a = args.child_generate
        print(json.dumps({"seconds": generate(Path(p), int(n), int(a))}))
        return
    if args.child_time:
        print(json.dumps(time_signals(Path(args.child_time[0]), int(args.child_time[1]))))
        return
    command = " ".join(["    .venv/bin/python bench/bench_signals.py", *sys.argv[1:]]).strip()
    with tempfile.TemporaryDirectory(prefix="cs-signals-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        speed = []  # timed first, while nothing else of ours runs
        if not args.no_scale:
            path = work / f"scale-{args.scale_posts}-{args.scale_accounts}.duckdb"
            if not (args.keep and path.exists()):
                g = child(
                    "--child-generate", str(path), str(args.scale_posts), str(args.scale_accounts)
                )
                print(f"generated in {g['seconds']:.0f} s", file=sys.stderr)
            for _ in range(args.repeat):
                r = child("--child-time", str(path), str(args.threads))
                print(json.dumps(r), file=sys.stderr)
                speed.append(r)
        quality = []
        for seed in args.seeds:
            q = run_quality(args.posts, seed, work)
            print(json.dumps(q, default=str), file=sys.stderr)
            quality.append(q)
    body = markdown(quality, speed, (args.scale_posts, args.scale_accounts), command.strip())
    print(body)
    if not args.no_write:
        write_doc(body)


if __name__ == "__main__":
    main()
