"""`civicsentry narratives` as a user runs it: real processes, exit codes, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsentry", *args], capture_output=True, text=True
    )


def test_build_list_show(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    assert cli("ingest", str(DATA / "posts.csv"), "--platform", "x", "-w", ws).returncode == 0
    r = cli("narratives", "build", "--min-posts", "3", "-w", ws)
    assert r.returncode == 0, r.stderr
    assert "run 1: 3 narratives holding 16 posts; 19 distinct texts (19 embedded now" in r.stdout

    rows = json.loads(cli("narratives", "list", "-w", ws, "--json").stdout)
    assert [(n["narrative_id"], n["posts"], n["copy_paste_posts"]) for n in rows] == [
        (1, 7, 5),
        (2, 5, 0),
        (3, 4, 0),
    ]
    r = cli("narratives", "list", "--sort", "growth", "-w", ws)
    assert r.returncode == 0 and "harbor" in r.stdout
    shown = json.loads(cli("narratives", "show", "2", "-w", ws, "--json").stdout)
    assert shown["languages"] == {"en": 2, "de": 1, "es": 1, "fr": 1}
    assert len(shown["sample_posts"]) == 5
    r = cli("narratives", "show", "1", "--run", "1", "-w", ws)
    assert r.returncode == 0 and "representative posts:" in r.stdout
    r = cli("narratives", "show", "9", "-w", ws)
    assert r.returncode == 2 and "has no narrative 9" in r.stderr


def test_errors_exit_non_zero(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    assert cli("ingest", str(DATA / "posts.csv"), "--platform", "x", "-w", ws).returncode == 0
    r = cli("narratives", "list", "-w", ws)
    assert r.returncode == 3
    assert r.stderr == "Error: No narratives run yet: run `civicsentry narratives build` first.\n"
    r = cli("narratives", "build", "--min-similarity", "2", "-w", ws)
    assert r.returncode == 2 and "--min-similarity" in r.stderr
    r = cli("narratives", "list", "--sort", "size", "-w", ws)
    assert r.returncode == 2 and "--sort is one of posts, growth, coordinated" in r.stderr
