"""`civicsentry claims` as a user runs it: real processes, exit codes, JSON output."""

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


def test_import_match_list(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    assert cli("ingest", str(DATA / "posts.csv"), "--platform", "x", "-w", ws).returncode == 0
    r = cli("claims", "import", str(DATA / "factchecks"), "-w", ws)
    assert r.returncode == 0, r.stderr
    assert (
        "factcheck_api.json (factcheck-api): 3 claim reviews, 3 new, 0 updated, 1 skipped"
        in r.stdout
    )
    assert "skipped script[2]: invalid JSON-LD" in r.stdout
    again = json.loads(cli("claims", "import", str(DATA / "factchecks"), "-w", ws, "--json").stdout)
    assert (again["records"], again["new"], again["updated"]) == (8, 0, 8)

    r = cli("claims", "match", "-w", ws)
    assert r.returncode == 0, r.stderr
    assert "7 posts repeat 5 of 8 claims (5 text matches, 2 URL matches, 1 via reposts)" in r.stdout

    urls = json.loads(cli("claims", "matches", "--method", "url", "-w", ws, "--json").stdout)
    assert sorted(u["post_id"] for u in urls) == ["x:6", "x:7"]
    listed = json.loads(cli("claims", "list", "--search", "river", "-w", ws, "--json").stdout)
    assert [(c["rating"], c["matched_posts"]) for c in listed] == [("False", 3)]
    r = cli("claims", "list", "-w", ws)
    assert r.returncode == 0 and "=HYPERLINK" not in r.stdout  # claimant not shown; text escaped


def test_errors_exit_non_zero(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    r = cli("claims", "match", "-w", ws)
    assert r.returncode == 3
    assert r.stderr == (
        "Error: No claims to match against: import fact-checks first (`civicsentry claims import`).\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    r = cli("claims", "import", str(bad), "-w", ws)
    assert r.returncode == 2 and "error: " in r.stdout and "neither JSON" in r.stdout
    r = cli("claims", "match", "--method", "magic", "-w", ws)
    assert r.returncode == 2 and "hybrid, lexical, embedding" in r.stderr
