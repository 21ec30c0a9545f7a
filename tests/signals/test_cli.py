"""civicsentry accounts as a user runs it: real processes, exit codes, escaped output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import civicsentry
from tests.signals.conftest import at, ingest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsentry", "accounts", *args], capture_output=True, text=True
    )


def test_build_list_show_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with civicsentry.open(path) as ws:
        # A hostile handle and text: rich markup and a formula must come out as text.
        posts = [(f"p{i}", "x:a", at(600 * i), "post", "", "[bold]=1+1[/bold]", "", "")
                 for i in range(12)]  # fmt: skip
        posts += [(f"q{i}", "x:b", at(900 * i + 7), "post", "", "hello", "", "") for i in range(6)]
        ingest(ws, tmp_path, posts, [("x:a", "[red]evil[/red]", "", "", "", "", "")])
    w = ["-w", str(path)]
    none = cli("list", *w)
    assert none.returncode == 2
    assert none.stderr.strip() == (
        "Error: No account signals yet: run `civicsentry accounts build` first."
    )
    built = cli("build", *w, "--min-posts", "3", "--weight", "posts=2", "--json")
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout)
    assert summary["accounts"] == 2 and summary["params"]["weights"]["posts"] == 2.0
    listed = json.loads(cli("top", *w, "--json").stdout)  # `top` is `list`
    assert [a["account_id"] for a in listed] == ["x:a", "x:b"]  # x:a posts more, faster
    shown = cli("show", "x:a", *w, "--posts", "3")
    assert shown.returncode == 0, shown.stderr
    assert "[red]evil[/red]" in shown.stdout and "[bold]=1+1[/bold]" in shown.stdout
    assert "posts by weekday × hour" in shown.stdout
    missing = cli("show", "x:zz", *w)
    assert missing.returncode == 2 and "No account 'x:zz'" in missing.stderr
    weight = cli("build", *w, "--weight", "posts")
    assert weight.returncode == 2 and "NAME=VALUE" in weight.stderr
