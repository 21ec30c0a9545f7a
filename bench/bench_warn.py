"""Early warning on simulated data: detection latency and false alarms through
``watch``, and the cost of an incremental update in a large workspace.

``replay``: simulate a week with planted campaigns (and the same week without any),
write the posts in time order to a JSON Lines file hour by hour and run one ``watch``
pass after each hour (the followed file grows, as a live export would). For every
planted campaign: the data time from its start to the first alert whose evidence holds
at least half of its members (or 3), and which rule raised it. Alerts raised on the
campaign-free week, per simulated day, are the false alarms; so are alerts on the
campaign week that hold no campaign members.

``incremental``: a workspace of N posts (default 10M), fully detected; then a batch of
10k newer posts arrives: ingest it, find the near-duplicate texts of the new posts,
detect on the recent window, cluster, evaluate the rules, as a watch pass does. Reports
the time of each step (median of --repeat batches), and the detection on the longer
evidence window that watch adds every 6 hours of data time (on the first batch).

Writes the tables into docs/benchmarks.md between the `alerts-replay` and
`alerts-incremental` markers.

    .venv/bin/python bench/bench_warn.py replay --posts 200000 --seed 1
    .venv/bin/python bench/bench_warn.py incremental --posts 10000000 --batch 10000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

import civicsentry
from civicsentry.service import detect as detect_service
from civicsentry.service.alerts import evaluate
from civicsentry.service.clusters import cluster_run
from civicsentry.service.ingest import ingest_files
from civicsentry.service.watch import (
    EVIDENCE_S,
    RECENT_S,
    SIMTEXT_CONTEXT_S,
    detect_recent,
    refresh_simtext,
    watch,
)
from civicsentry.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
MARKERS = {"replay": "alerts-replay", "incremental": "alerts-incremental"}


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def replay(
    posts: int, seed: int, campaigns: str | None, work: Path, dump: Path | None = None
) -> dict[str, Any]:
    sim = simulate(work / "sim", posts=posts, seed=seed, fmt="jsonl", campaigns=campaigns)
    meta = json.loads(Path(sim.paths["campaigns"]).read_text(encoding="utf-8"))
    truth: dict[str, set[str]] = defaultdict(set)
    kind: dict[str, str] = {}
    with Path(sim.paths["truth"]).open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            truth[r["campaign_id"]].add(r["account_id"])
            kind[r["campaign_id"]] = r["campaign_kind"]
    starts = {c["campaign_id"]: _iso(c["start"]) for c in meta["campaigns"]}
    hours: dict[str, list[str]] = defaultdict(list)
    with Path(sim.paths["posts"]).open(encoding="utf-8") as f:
        for line in f:
            hours[json.loads(line)["created_at"][:13]].append(line)
    folder = work / "in"
    folder.mkdir()
    (folder / "accounts.jsonl").write_bytes(Path(sim.paths["accounts"]).read_bytes())
    feed = folder / "posts.jsonl"
    raised: list[dict[str, Any]] = []  # alert, data time of the pass that raised it
    tick_s: list[float] = []
    loads: list[float] = []
    with civicsentry.open(work / "ws.duckdb") as ws:
        for hour in sorted(hours):
            with feed.open("a", encoding="utf-8") as out:
                out.writelines(hours[hour])
            t0 = time.perf_counter()
            s = watch(ws, folders=[folder], once=True, notify=False, spool=work / "spool")
            tick_s.append(time.perf_counter() - t0)
            loads.append(os.getloadavg()[0])
            for u in s.updates:
                for a in u["warn"]["alerts"]:
                    if a["change"] == "raised":
                        raised.append(a | {"data_time": u["data_until"]})
        evidence = {
            r[0]: json.loads(r[1])
            for r in ws.con.execute("SELECT alert_id, evidence FROM alerts").fetchall()
        }
    # An alert is about a campaign when it holds at least 3 of its members (all of a
    # smaller one) and they are at least half of the alert's accounts; it is organic
    # when it holds no campaign member at all; anything else is "mixed".
    first: dict[str, dict[str, Any]] = {}
    organic: list[dict[str, Any]] = []
    mixed: list[dict[str, Any]] = []
    campaign_accounts = set().union(*truth.values()) if truth else set()
    for a in raised:
        accounts = set(evidence[a["alert_id"]].get("accounts") or [])
        hit = False
        for cid, members in truth.items():
            held = len(accounts & members)
            if held >= min(3, len(members)) and held >= len(accounts) / 2:
                hit = True
                first.setdefault(cid, a)
        if hit:
            continue
        (mixed if accounts & campaign_accounts else organic).append(a)
    days = (max(_iso(h + ":00:00Z") for h in hours) - min(_iso(h + ":00:00Z") for h in hours)).total_seconds() / 86400 + 1 / 24  # fmt: skip
    per_campaign = []
    for cid in sorted(truth):
        a = first.get(cid)
        per_campaign.append(
            {
                "campaign": cid,
                "kind": kind[cid],
                "members": len(truth[cid]),
                "start": starts[cid].isoformat(),
                "latency_h": None
                if a is None
                else round((a["data_time"] - starts[cid]).total_seconds() / 3600, 1),
                "rule": None if a is None else a["rule"],
            }
        )
    by_rule = _count(organic)
    if dump is not None:  # every raised alert with its evidence, for a closer look
        dump.write_text(
            json.dumps(
                [a | {"evidence": evidence[a["alert_id"]]} for a in raised], indent=1, default=str
            ),
            encoding="utf-8",
        )
    return {
        "posts": posts,
        "seed": seed,
        "campaigns": campaigns or "default",
        "days": round(days, 2),
        "passes": len(hours),
        "pass_s_median": round(statistics.median(tick_s), 2),
        "pass_s_max": round(max(tick_s), 2),
        "load": round(statistics.median(loads), 1),
        "alerts": len(raised),
        "campaign_latency": per_campaign,
        "organic_alerts": len(organic),
        "mixed_alerts": len(mixed),
        "mixed_by_rule": dict(_count(mixed)),
        "organic_per_day": round(len(organic) / days, 2),
        "organic_by_rule": dict(by_rule),
        "organic_by_severity": {
            sev: sum(a["severity"] == sev for a in organic)
            for sev in ("low", "medium", "high", "critical")
        },
    }


def _count(alerts: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for a in alerts:
        out[a["rule"]] += 1
    return dict(out)


def incremental(posts: int, batch: int, repeat: int, seed: int, lookback_h: float, work: Path) -> dict[str, Any]:  # fmt: skip
    sim = simulate(work / "sim", posts=posts, seed=seed)
    table = pq.read_table(sim.paths["posts"])  # sorted by time
    n_base = posts - batch * repeat
    base = work / "base.parquet"
    pq.write_table(table.slice(0, n_base), base)
    batches = []
    for i in range(repeat):
        p = work / f"batch{i}.parquet"
        pq.write_table(table.slice(n_base + i * batch, batch), p)
        batches.append(p)
    del table
    out: dict[str, Any] = {"posts": posts, "batch": batch, "repeat": repeat}
    with civicsentry.open(work / "ws.duckdb") as ws:
        t0 = time.perf_counter()
        ingest_files(ws, [base, sim.paths["accounts"]])
        out["base_ingest_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        full = detect_service.detect_coordination(ws)
        cluster_run(ws, full.run_id)
        out["full_detect_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        evaluate(ws, notify=False)
        out["first_warn_s"] = round(time.perf_counter() - t0, 1)
        steps: dict[str, list[float]] = defaultdict(list)
        loads: list[float] = []
        windows = []
        for i, p in enumerate(batches):
            t0 = time.perf_counter()
            r = ingest_files(ws, [p]).files[0]
            t1 = time.perf_counter()
            lo, hi = ws.con.execute(
                "SELECT min(created_at), max(created_at) FROM posts WHERE ingest_batch = ?",
                [r.ingest_batch],
            ).fetchall()[0]
            since = min(lo, hi - timedelta(hours=lookback_h))
            windows.append(
                ws.scalar("SELECT count(*) FROM actions WHERE t >= ? AND t <= ?", [since, hi])
            )
            t2 = time.perf_counter()
            st = refresh_simtext(ws, since=lo - timedelta(seconds=SIMTEXT_CONTEXT_S), until=hi)
            t3 = time.perf_counter()
            d = detect_recent(
                ws, since=since, until=hi, lookback_s=lookback_h * 3600, refresh=False
            )
            t4 = time.perf_counter()
            evaluate(ws, notify=False)
            t5 = time.perf_counter()
            if i == 0:  # the evidence window, as watch runs it every 6 h of data time
                ev_since = min(lo, hi - timedelta(seconds=EVIDENCE_S))
                out["evidence_actions"] = int(
                    ws.scalar(
                        "SELECT count(*) FROM actions WHERE t >= ? AND t <= ?", [ev_since, hi]
                    )
                )
                e0 = time.perf_counter()
                e = detect_recent(
                    ws,
                    since=ev_since,
                    until=hi,
                    lookback_s=EVIDENCE_S,
                    recent_s=RECENT_S,
                    refresh=False,
                )
                out["evidence_detect_s"] = round(e["detect_seconds"] if e else 0.0, 2)
                out["evidence_detect_cluster_s"] = round(time.perf_counter() - e0, 2)
            steps["ingest"].append(t1 - t0)
            steps["simtext"].append(t3 - t2)
            steps["simtext_actions"].append(st["actions"])
            steps["detect_cluster"].append(t4 - t3)
            steps["detect_only"].append(d["detect_seconds"] if d else 0.0)
            steps["warn"].append(t5 - t4)
            steps["total"].append(t5 - t0 - (t2 - t1))  # the window count is not a step
            loads.append(os.getloadavg()[0])
        out["window_actions"] = int(statistics.median(windows))
        out["lookback_h"] = lookback_h
        out["steps_s"] = {k: round(statistics.median(v), 2) for k, v in steps.items()}
        out["load"] = round(statistics.median(loads), 1)
        out["workspace_posts"] = int(ws.scalar("SELECT count(*) FROM posts"))
    return out


def _at_least_medium(r: dict[str, Any]) -> int:
    by = r.get("organic_by_severity") or {}
    return sum(n for sev, n in by.items() if sev != "low")


def markdown(what: str, rep: dict[str, Any]) -> str:
    lines = []
    if what == "replay":
        c, o = rep["campaign"], rep["organic"]
        lines += [
            "## Early warning: detection latency and false alarms",
            "",
            f"    {rep['command']}",
            "",
            f"A simulated week ({c['posts']:,} posts, seed {c['seed']}, every campaign kind) replayed "
            f"in time order: {c['passes']} hourly `watch` passes over a growing JSON Lines file "
            f"(median pass {c['pass_s_median']} s, slowest {c['pass_s_max']} s: ingest, "
            "near-duplicate texts of the new posts, detection on the last 24 h and, every 6 h of "
            "data time, on the last 72 h, clustering, rules). Latency is data time from the campaign's start "
            "(its first planted action) to the end of the hour whose pass raised the first alert "
            "about it: an alert holding at least 3 of its members (all of a smaller one) who are at "
            "least half of the alert's accounts. Negative: alerted before its first coordinated "
            "action (its accounts, created together, were posting already).",
            "",
            "| campaign | kind | members | first alert after (h) | by rule |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        for r in c["campaign_latency"]:
            lat = "not alerted" if r["latency_h"] is None else f"{r['latency_h']:.1f}"
            lines.append(f"| {r['campaign']} | {r['kind']} | {r['members']} | {lat} | {r['rule'] or '-'} |")  # fmt: skip
        lat = [r["latency_h"] for r in c["campaign_latency"] if r["latency_h"] is not None]
        missed = {r["kind"] for r in c["campaign_latency"] if r["latency_h"] is None}
        why = {
            "copy_paste": "copy-paste operations post edited copies with varying links; only "
            "near-duplicate texts (`simtext`) link them, and this one pushed few texts",
            "small_cell": "a 3-account cell co-acts on a few objects a day: even 72 hours of it "
            "were too little to be significant",
        }
        notes = [why[k] for k in sorted(missed) if k in why]
        lines += [
            "",
            f"Alerted: {len(lat)} of {len(c['campaign_latency'])} campaigns; median latency "
            f"{statistics.median(lat):.1f} h."
            if lat
            else "No campaign alerted.",
            *(["", f"Not alerted: {'; '.join(notes)}."] if notes else []),
            "",
            "Copy-paste groups post edited copies with varying links: only near-duplicate texts "
            "(`simtext`) link them. A 3-account cell co-acts on a few objects a day, too few to "
            "be significant among a day's co-actions: the 72-hour evidence window finds it, and "
            '`cluster-new` alerts it only while it is active (docs/alerts.md, "Detection '
            'windows").',
            "",
            "| false alarms | alerts | per simulated day | by rule |",
            "| --- | ---: | ---: | --- |",
            f"| the same week without campaigns ({o['posts']:,} posts) | {o['alerts']} | {o['alerts'] / o['days']:.2f} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(o["organic_by_rule"].items()))
            + " |",
            f"| of these, medium or higher | {_at_least_medium(o)} | {_at_least_medium(o) / o['days']:.2f} | |",
            f"| alerts on the campaign week holding no campaign member | {c['organic_alerts']} | {c['organic_per_day']:.2f} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(c["organic_by_rule"].items()))
            + " |",
            f"| of these, medium or higher | {_at_least_medium(c)} | {_at_least_medium(c) / c['days']:.2f} | |",
            f"| (not false alarms) alerts on the campaign week holding some members, but not as most of their accounts | {c['mixed_alerts']} | {c['mixed_alerts'] / c['days']:.2f} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(c["mixed_by_rule"].items()))
            + " |",
            "",
            "The false alarms are mostly the watch-list rule firing on organic posts on election terms "
            "that went viral (a spike driven by one post's reshares, which the rule keys on that "
            "post and, with no coordinated account behind it, keeps at low severity) and "
            "account-creation days that happen to be busy. None is above low: an analyst who "
            "filters the queue on medium and above sees none of them.",
            "",
        ]
    else:
        inc = rep
        s = inc["steps_s"]
        lines += [
            "## Early warning: incremental update in a large workspace",
            "",
            f"    {inc['command']}",
            "",
            f"A workspace of {inc['workspace_posts']:,} simulated posts (base ingest "
            f"{inc['base_ingest_s']} s, full detection and clustering {inc['full_detect_s']} s, "
            f"first rule evaluation {inc['first_warn_s']} s), then {inc['repeat']} batches of "
            f"{inc['batch']:,} newer posts, each: ingest, detection on the last "
            f"{inc['lookback_h']:g} h (median {inc['window_actions']:,} actions), clustering, "
            "rules. Medians:",
            "",
            "| ingest | near-duplicate texts | detect (+ cluster) | rules | total |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {s['ingest']} s | {s['simtext']} s ({s['simtext_actions']:,.0f} actions) | {s['detect_only']} s ({s['detect_cluster']} s) | {s['warn']} s | {s['total']} s |",
            "",
            "Every 6 hours of data time a pass also detects on the last 72 h (the evidence window "
            f"that lets small cells be significant): {inc['evidence_actions']:,} actions, "
            f"{inc['evidence_detect_s']} s ({inc['evidence_detect_cluster_s']} s with clustering).",
            "",
            f"An update takes {s['total']:.1f} s against {inc['full_detect_s']:.0f} s for detecting "
            f"and clustering the whole workspace again ({inc['full_detect_s'] / s['total']:.0f}× "
            "less), and its detection step follows the window, not the workspace. What does not "
            "yet: clustering a run computes its statistics (co-action shares, top objects) over "
            "every stored action, not the run's window "
            f"({s['detect_cluster'] - s['detect_only']:.1f} s here); and the first rule "
            "evaluation builds the watch-list counts once, after which each evaluation reads the "
            "new batches only.",
            "",
        ]
    stamp = time.strftime("%Y-%m-%d")
    load = rep.get("load") or (rep.get("campaign") or {}).get("load")
    if load:
        stamp += f" (load average ≈ {load:g} from other jobs and this one)"
    lines.append(f"Measured {stamp} on the 2-core machine shared with other jobs; Python {sys.version.split()[0]}, DuckDB {duckdb.__version__}.")  # fmt: skip
    return "\n".join(lines)


def write_doc(what: str, text: str) -> None:
    start, end = f"<!-- {MARKERS[what]}:start -->", f"<!-- {MARKERS[what]}:end -->"
    doc = DOC.read_text(encoding="utf-8")
    block = f"{start}\n\n{text}\n\n{end}"
    if start in doc and end in doc:
        doc = doc[: doc.index(start)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(doc, encoding="utf-8")


def main() -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--work", type=Path, default=None, help="Folder for temporary files.")
    common.add_argument(
        "--no-write", dest="write", action="store_false", help="Leave docs/benchmarks.md alone."
    )
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("replay", parents=[common])
    r.add_argument("--posts", type=int, default=200_000)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument(
        "--alerts-out", type=Path, default=None, help="Write the raised alerts here (JSON)."
    )
    i = sub.add_parser("incremental", parents=[common])
    i.add_argument("--posts", type=int, default=10_000_000)
    i.add_argument("--batch", type=int, default=10_000)
    i.add_argument("--repeat", type=int, default=3)
    i.add_argument("--seed", type=int, default=1)
    i.add_argument("--lookback", type=float, default=24.0, help="hours")
    args = ap.parse_args()
    command = ".venv/bin/python bench/bench_warn.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        if args.what == "replay":
            (work / "a").mkdir()
            (work / "b").mkdir()
            dump = args.alerts_out
            campaign = replay(args.posts, args.seed, None, work / "a", dump)
            print(json.dumps(campaign, default=str), file=sys.stderr, flush=True)  # partial
            organic = replay(
                args.posts,
                args.seed,
                "none",
                work / "b",
                dump and dump.with_suffix(".organic.json"),
            )
            organic["alerts"] = organic["organic_alerts"]
            result = {"command": command, "campaign": campaign, "organic": organic}
        else:
            result = incremental(
                args.posts, args.batch, args.repeat, args.seed, args.lookback, work
            ) | {"command": command}
    print(json.dumps(result, indent=2, default=str), file=sys.stderr)
    text = markdown(args.what, result)
    print(text)
    if args.write:
        write_doc(args.what, text)


if __name__ == "__main__":
    main()
