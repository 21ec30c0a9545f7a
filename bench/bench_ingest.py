"""Ingest speed and memory on simulated data: Parquet and X API v2 JSON (twarc2 pages).

Each run is a whole `civicsentry ingest` process into a fresh workspace (so start-up,
format detection, normalisation, deduplication, derivation of actions and the commit
are all counted); peak memory is the process's peak RSS, sampled every 20 ms.

    .venv/bin/python bench/bench_ingest.py --sizes 1000000 10000000 --repeat 3

writes its table into docs/benchmarks.md between the `ingest` markers (the text after the
table is kept). ``--work /tmp/ing`` reuses simulated inputs kept there (``parquet-1000000``,
...); ``--file cnt=/tmp/cb/sim_1000000.csv:cnt`` adds an existing file (label=path, and
``:format`` to force one), such as the toolkit CSV of the coordination benchmark.
``--compare OLD_SRC`` also runs each input with the package found in ``OLD_SRC`` (a copy
of an earlier ``src``, put first on ``PYTHONPATH``), old and new runs interleaved, and
reports both: under load, compare their CPU seconds and peak RSS rather than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "civicsentry"
START, END = "<!-- ingest:start -->", "<!-- ingest:end -->"


def run(cmd: list[str], pythonpath: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (bytes, the process and its
    children) of a command. CPU seconds hardly depend on what else the machine runs."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    while proc.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(
                c.memory_info().rss for c in proc.children(recursive=True)
            )
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command has been waited for
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu, peak


def bench(
    size: int, fmt: str, repeat: int, work: Path, old: Path | None = None
) -> list[dict[str, object]]:
    data = work / f"{fmt}-{size}"
    if not data.exists():
        subprocess.run(
            [str(BIN), "simulate", str(data), "--posts", str(size), "--seed", "1", "--format", fmt],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    posts = next(data.glob("tweets.jsonl" if fmt == "twitter-v2" else "posts.*"))
    return bench_file(fmt, posts, size, None, repeat, work, old)


def bench_file(
    label: str,
    posts: Path,
    size: int | None,
    fmt: str | None,
    repeat: int,
    work: Path,
    old: Path | None = None,
) -> list[dict[str, object]]:
    """Ingest ``posts`` ``repeat`` times, each into a fresh workspace in ``work``; ``size``
    is the posts counted for posts/s (None: the rows the ingest read). With ``old``, each
    run is preceded by one of the package in ``old`` (interleaved: the same load)."""
    versions: list[Path | None] = [old, None] if old else [None]
    runs: dict[Path | None, list[tuple[float, float, int]]] = {v: [] for v in versions}
    for _ in range(repeat):
        for version in versions:
            ws = work / "ws.duckdb"
            for f in work.glob("ws.duckdb*"):
                shutil.rmtree(f) if f.is_dir() else f.unlink()
            forced = ["--format", fmt] if fmt else []
            cmd = [sys.executable, "-m", "civicsentry", "ingest", str(posts), "-w", str(ws)]
            runs[version].append(run([*cmd, *forced], version))
    if size is None:
        with duckdb.connect(str(work / "ws.duckdb"), read_only=True) as con:
            size = int(con.execute("SELECT count(*) FROM posts").fetchall()[0][0])
    rows = []
    for version, measured in runs.items():
        times, cpus, peaks = zip(*measured, strict=True)
        median = statistics.median(times)
        rows.append(
            {
                "format": label + (" (old)" if version else ""),
                "posts": size,
                "file_mb": posts.stat().st_size / 1e6,
                "runs": repeat,
                "median_s": median,
                "posts_per_s": size / median,
                "median_cpu_s": statistics.median(cpus),
                "peak_rss_mb": max(peaks) / 1e6,
            }
        )
    return rows


def markdown(rows: list[dict[str, object]], command: str) -> str:
    lines = [
        START,
        "",
        f"Command: `{command}` (machine: {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; median of the runs shown).",
        "",
        "| input | posts | file | runs | median wall time | posts/s | median CPU time | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | {r['posts']:,} | {r['file_mb']:,.0f} MB | {r['runs']} | "
            f"{r['median_s']:.1f} s | {r['posts_per_s']:,.0f} | {r['median_cpu_s']:.1f} s | "
            f"{r['peak_rss_mb']:,.0f} MB |"
        )
    return "\n".join([*lines, "", END])


def write_section(text: str) -> None:
    """Replace the section's command line and (first) table; keep the text after it."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in doc and END in doc:
        old = doc[doc.index(START) + len(START) : doc.index(END)].splitlines()
        rows = [i for i, line in enumerate(old) if line.startswith("|")]
        end = rows[0] if rows else len(old)
        while end < len(old) and old[end].startswith("|"):  # the first table's last row
            end += 1
        rest = "\n".join(old[end:]).strip() if rows else ""
        if rest:
            text = text.replace(END, rest + "\n\n" + END)
        doc = doc[: doc.index(START)] + text + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip() + "\n\n## Ingest\n\n" + text + "\n"
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--formats", nargs="+", default=["parquet", "twitter-v2"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="Keep simulated inputs here.")
    ap.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="LABEL=PATH[:FORMAT]",
        help="Also ingest an existing file (posts/s counts the posts it stores).",
    )
    ap.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md.")
    ap.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="OLD_SRC",
        help="Also run the package in this copy of an earlier src, interleaved.",
    )
    args = ap.parse_args()
    command = "python bench/bench_ingest.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for size in args.sizes:
            for fmt in args.formats:
                for row in bench(size, fmt, args.repeat, work, args.compare):
                    rows.append(row)
                    print(row, flush=True)
        for spec in args.file:
            label, _, target = spec.partition("=")
            file, _, fmt = target.partition(":")
            found = bench_file(
                label, Path(file), None, fmt or None, args.repeat, work, args.compare
            )
            for row in found:
                rows.append(row)
                print(row, flush=True)
    text = markdown(rows, command)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
