"""The share, partners and communities commands: in-process for speed, one real process
for the error path and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from civicsentry.cli import commands  # noqa: F401  (registers the commands)
from civicsentry.cli.app import app
from tests.share.conftest import workspace_copy

runner = CliRunner()


def run(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, (r.output, r.exception)
    return r.stdout


def test_share_commands(detected_path: Path, tmp_path: Path) -> None:
    ws = str(workspace_copy(detected_path, tmp_path / "ws.duckdb"))
    cluster = json.loads(run("clusters", "list", "-w", ws, "--json"))[0]["cluster_id"]
    assert json.loads(run("communities", "create", "eu", "-w", ws, "--json"))["key_version"] == 1
    assert json.loads(run("communities", "rotate", "eu", "-w", ws, "--json"))["key_version"] == 2
    run("share", "collections", "add", "eu-partners", "--community", "eu", "-w", ws)
    token = json.loads(run("partners", "add", "ee-cert", "--read", "eu-partners", "--max-tlp", "green",
                           "-w", ws, "--json"))["token"]  # fmt: skip
    assert token.startswith("cst_")
    (p,) = json.loads(run("partners", "list", "-w", ws, "--json"))
    assert (p["partner_id"], p["max_tlp"], p["collections"]) == (
        "ee-cert",
        "green",
        ["eu-partners:r"],
    )
    out = tmp_path / "bundle.json"
    result = json.loads(run("share", "export", "--cluster", str(cluster), "--community", "eu",
                            "--tlp", "green", "--out", str(out), "-w", ws, "--json"))  # fmt: skip
    assert result["checks"]["ok"] and result["key_version"] == 2 and out.exists()
    assert json.loads(run("share", "check", str(out), "-w", ws, "--json"))["errors"] == []
    run("share", "export", "--cluster", str(cluster), "--community", "eu", "--collection",
        "eu-partners", "-w", ws)  # fmt: skip
    log = json.loads(run("share", "log", "-w", ws, "--json", "--partner", "ee-cert"))
    assert [r["channel"] for r in log] == ["collection"] and log[0]["readers"] == ["ee-cert"]
    stdout = run(
        "share",
        "export",
        "--cluster",
        str(cluster),
        "--community",
        "eu",
        "--format",
        "misp",
        "-w",
        ws,
    )
    assert json.loads(stdout)["Event"]["Tag"][0]["name"] == "tlp:amber"
    assert "T0049.003" in run("share", "disarm", "list", "-w", ws)
    run("share", "disarm", "set", "co-repost", "T0049.001", "-w", ws)
    assert json.loads(run("share", "disarm", "list", "-w", ws, "--json"))["co-repost"][
        "techniques"
    ] == ["T0049.001"]
    key = run("communities", "export", "eu", "-w", ws).strip()
    assert len(key) == 64


def test_errors_are_one_line_with_an_exit_code(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "civicsentry", "share", "export", "--cluster", "1", "--tlp", "red",
         "--community", "eu", "-w", str(tmp_path / "ws.duckdb")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == "Error: TLP:RED never leaves the workspace; choose clear, green or amber."
    )
