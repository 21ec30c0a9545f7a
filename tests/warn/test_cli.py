"""civicsentry warn / alerts as a user runs them: real processes, exit codes, output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import civicsentry
from tests.warn.scenario import add_clustered_run, add_posts, at


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The console entry point, in this process (starting Python for each call is slow);
    `test_errors_...` runs a real process too."""
    import contextlib
    import io

    from civicsentry.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, code = sys.argv, 0
    sys.argv = ["civicsentry", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsentry", *args], capture_output=True, text=True
    )


def test_warn_then_list_show_and_triage(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with civicsentry.open(path) as ws:
        add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
        add_clustered_run(
            ws,
            [
                {
                    "members": ["x:a", "x:b", "x:c"],
                    "suspicion": 0.6,
                    "top_objects": {
                        "url": [
                            {
                                "object": "http://e.org/=1+1",
                                "members": 3,
                                "shares": 3,
                                "label": "[bold]=cmd|' /C calc'!A0",
                            }
                        ]
                    },
                }
            ],
        )
    w = str(path)
    r = cli("warn", "-w", w)
    assert r.returncode == 0, r.stderr
    assert "1 new alerts" in r.stdout and "skipped: no claim matches yet" in r.stdout
    assert "[bold]=cmd" in r.stdout  # hostile text printed as text, not as markup
    listed = json.loads(cli("alerts", "list", "-w", w, "--json").stdout)
    assert listed["total"] == 1 and listed["alerts"][0]["rule"] == "cluster-new"
    aid = str(listed["alerts"][0]["alert_id"])
    r = cli("alerts", "show", aid, "-w", w)
    assert r.returncode == 0 and "DISARM T0049: Flood Information Space" in r.stdout
    assert "x:a, x:b, x:c" in r.stdout
    r = cli("alerts", "triage", aid, "escalated", "-w", w, "--note", "bot net", "--actor", "ana")
    assert r.returncode == 0 and "new -> escalated by ana" in r.stdout
    shown = json.loads(cli("alerts", "show", aid, "-w", w, "--json").stdout)
    assert [e["event"] for e in shown["events"]] == ["raised", "status"]
    assert shown["events"][1]["note"] == "bot net"
    r = cli("warn", "-w", w, "--json")  # again: updated, not raised twice
    assert json.loads(r.stdout)["raised"] == 0
    assert json.loads(cli("alerts", "list", "-w", w, "--json", "--status", "escalated").stdout)["total"] == 1  # fmt: skip


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    w = str(tmp_path / "ws.duckdb")
    civicsentry.open(w).close()
    r = process("alerts", "show", "7", "-w", w)
    assert r.returncode == 2
    assert r.stderr.strip() == "Error: No alert 7; `civicsentry alerts list` shows them."
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{id: cluster-new, params: {min_sise: 3}}]\n", encoding="utf-8")
    r = cli("warn", "-w", w, "--rules", str(bad))
    assert r.returncode == 2 and "has no parameter 'min_sise'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("alerts", "list", "-w", w, "--status", "open")
    assert r.returncode == 2 and "Unknown status 'open'" in r.stderr
    r = cli("alerts", "rules", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["rules"]) == 7
