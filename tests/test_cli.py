"""The command line as a user runs it: real processes, exit codes, stdout/stderr."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsentry", *args], capture_output=True, text=True
    )


def test_ingest_prints_counts_that_add_up(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    r = cli("ingest", str(DATA / "table" / "bad.csv"), "-w", ws)
    assert r.returncode == 0, r.stderr
    assert "rows read 6 = stored 2 + duplicate 1 + quarantined 3" in r.stdout
    assert "record 3: missing account_id" in r.stdout
    j = cli("ingest", str(DATA / "table" / "bad.csv"), "-w", ws, "--json")
    data = json.loads(j.stdout)
    assert (
        data["rows_read"],
        data["rows_stored"],
        data["rows_duplicate"],
        data["rows_quarantined"],
    ) == (6, 0, 3, 3)


def test_info_json(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    cli("ingest", str(DATA / "table" / "posts.csv"), str(DATA / "cnt" / "messages.csv"), "-w", ws)
    info = json.loads(cli("info", "-w", ws, "--json").stdout)
    assert info["posts"] == 9
    assert {p["platform"]: p["posts"] for p in info["platforms"]} == {"x": 4, "cnt": 5}
    assert info["kinds"]["repost"] == 3
    assert len(info["sources"]) == 2


def test_errors_are_one_line_with_meaningful_exit_codes(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    r = cli("ingest", str(tmp_path / "absent.csv"), "-w", ws)
    assert (
        r.returncode == 2
        and r.stderr.strip() == f"Error: No such file or folder: {tmp_path / 'absent.csv'}"
    )
    r = cli("ingest", str(DATA / "table" / "mapped.csv"), "-w", ws)
    assert r.returncode == 2 and "format not recognised" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    r = cli("ingest", str(DATA / "table" / "posts.csv"), "-w", ws, "--map", "oops")
    assert r.returncode == 2 and "--map takes canonical=column" in r.stderr
    r = cli("ingest", str(DATA / "table" / "posts.csv"), "-w", ws, "--format", "nope")
    assert r.returncode == 2 and "Unknown format 'nope'" in r.stderr
    r = cli("ingest", str(DATA / "table" / "bad.csv"), "-w", ws, "--strict")
    assert r.returncode == 2 and "--strict" in r.stderr
    r = cli("info", "-w", str(tmp_path / "none.duckdb"))
    assert r.returncode == 3 and "No workspace" in r.stderr
    r = cli("frobnicate")
    assert r.returncode == 2


def test_quarantine_export_neutralises_formulas(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    bad = tmp_path / "evil.csv"
    bad.write_text(
        'post_id,account_id,created_at,text\n1,u,=cmd|" /C calc"!A0,x\n', encoding="utf-8"
    )
    cli("ingest", str(bad), "-w", ws, "--platform", "x")
    listed = json.loads(cli("quarantine", "-w", ws, "--json").stdout)
    assert listed[0]["position"] == 2 and "not a date/time" in listed[0]["reason"]
    out = tmp_path / "q.csv"
    r = cli("quarantine", "-w", ws, "--export", str(out))
    assert r.returncode == 0
    with open(out, newline="") as f:
        row = next(iter(csv.DictReader(f)))
    assert row["raw"].startswith("{") or row["raw"].startswith("'")
    assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values())


def test_simulate_then_ingest(tmp_path: Path) -> None:
    data = tmp_path / "sim"
    r = cli("simulate", str(data), "--posts", "3000", "--seed", "5", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["posts"] == 3000 and summary["campaigns"] >= 1
    ws = str(tmp_path / "ws.duckdb")
    j = cli(
        "ingest", str(data / "posts.parquet"), str(data / "accounts.parquet"), "-w", ws, "--json"
    )
    report = json.loads(j.stdout)
    assert report["rows_read"] == report["rows_stored"] == 3000
    assert report["files"][1]["format"] == "accounts"
    assert report["files"][1]["accounts"] == summary["accounts"]


def test_main_job_end_to_end(tmp_path: Path) -> None:
    """The README's main job on a small simulation: ingest, detect (with clusters), export."""
    import networkx as nx

    data, ws = tmp_path / "sim", str(tmp_path / "ws.duckdb")
    assert cli("simulate", str(data), "--posts", "30000", "--seed", "3").returncode == 0
    assert cli("ingest", str(data / "posts.parquet"), "-w", ws).returncode == 0
    r = cli("detect", "-w", ws, "--json")
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert run["networks"]["multi"]["edges"] > 0 and run["clusters"]["clusters"] >= 1
    listed = json.loads(cli("clusters", "list", "-w", ws, "--json").stdout)
    assert listed and all(0 <= c["suspicion"] <= 1 for c in listed)
    out = tmp_path / "net.graphml"
    assert cli("network", "export", str(out), "-w", ws).returncode == 0
    g = nx.read_graphml(out)
    assert g.number_of_edges() == run["networks"]["multi"]["significant"]
    assert all("cluster" in attrs for _, attrs in g.nodes(data=True))


def test_starting_the_cli_does_not_load_pandas() -> None:
    # pyarrow loads pandas (~0.2 s) the first time any array is built: arrays that
    # modules built at import made every command start that much slower.
    code = "import sys, civicsentry.cli.commands; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
