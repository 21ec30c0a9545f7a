"""civicsentry users / report / audit / serve as a user runs them: real processes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from civicsentry.cli import commands  # noqa: F401  (registers the commands)
from civicsentry.cli.app import app
from civicsentry.errors import CivicSentryError

from .scenario import CLUSTER_SIZE


def run(*args: str, stdin: str | None = None) -> tuple[int, str, BaseException | None]:
    """In-process (fast): exit code, stdout, and the CivicSentry error if one was raised
    (``main()`` turns those into one line on stderr; tested once below, as a process)."""
    r = CliRunner().invoke(app, list(args), input=stdin)
    error = r.exception if isinstance(r.exception, CivicSentryError) else None
    if r.exception is not None and error is None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, error


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsentry", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


@pytest.fixture
def case(scenario_path: Path, tmp_path: Path) -> str:
    path = tmp_path / "case.duckdb"
    shutil.copy(scenario_path, path)
    return str(path)


def test_users_add_token_revoke(case: str) -> None:
    code, out, _ = run(
        "users",
        "add",
        "root",
        "--role",
        "admin",
        "--password-stdin",
        "-w",
        case,
        stdin="a long enough password\n",
    )
    assert code == 0 and out.strip() == "user root (admin) created"
    users = json.loads(run("users", "list", "-w", case, "--json")[1])
    assert [u["username"] for u in users] == ["admin", "ana", "pat", "olga", "root"]
    assert "password_hash" not in users[0]
    code, token, _ = run("users", "token", "root", "--name", "script", "-w", case)
    assert code == 0 and token.startswith("cs_")
    rows = json.loads(run("users", "tokens", "root", "-w", case, "--json")[1])
    assert len(rows) == 1 and token.startswith(rows[0]["prefix"])
    assert run("users", "revoke", str(rows[0]["token_id"]), "-w", case)[0] == 0
    actions = [e["action"] for e in json.loads(run("audit", "-w", case, "--json")[1])]
    assert actions[:3] == ["token.revoke", "token.create", "user.add"]


def test_cli_errors_are_one_line_with_exit_codes(case: str) -> None:
    r = cli(
        "users",
        "add",
        "x",
        "--role",
        "partner",
        "--password-stdin",
        "-w",
        case,
        stdin="a long enough password\n",
    )
    assert (r.returncode, r.stderr) == (
        2,
        "Error: A partner needs a partner group (--group NAME).\n",
    )
    _, _, error = run("users", "token", "nobody", "-w", case)
    assert str(error) == "No user 'nobody'; `civicsentry users list` shows them."
    assert error is not None and error.exit_code == 2
    _, _, error = run("report", "out.html", "-w", case)
    assert str(error) == "Give --cluster ID or --alert ID."


def test_report_html(case: str, tmp_path: Path) -> None:
    out = tmp_path / "r" / "cluster.html"
    code, stdout, _ = run(
        "report", str(out), "--cluster", "1", "--tlp", "green", "-w", case, "--json"
    )
    assert code == 0
    summary = json.loads(stdout)
    assert summary["subject"] == "cluster 1 of run 1" and summary["format"] == "html"
    html = out.read_text()
    assert "TLP:GREEN" in html and html.count('class="node"') == CLUSTER_SIZE
    assert "<script" not in html


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PDF needs chromium")
def test_report_pdf(case: str, tmp_path: Path) -> None:
    out = tmp_path / "alert.pdf"
    assert run("report", str(out), "--alert", "1", "-w", case)[0] == 0
    assert out.read_bytes().startswith(b"%PDF-")


def test_serve_listens_on_loopback_only_by_default(case: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicsentry", "serve", "-w", case, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/me", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.1)
        assert r.status_code == 401
        assert "server" not in r.headers  # no software banner
        bound = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        if bound.returncode == 0:
            assert f"127.0.0.1:{port}" in bound.stdout and f"0.0.0.0:{port}" not in bound.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=20)
