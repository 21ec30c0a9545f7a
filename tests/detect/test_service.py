"""detect as the user runs it: from files through ingest to stored runs, exports and the
command line (real processes, exit codes)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import civicsentry
from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.service import detect as service
from civicsentry.service.ingest import ingest_files
from civicsentry.store import Workspace

# The SEMANTICS.md toy in CooRTweet's input format (object_id, account_id, content_id,
# timestamp_share). Expected at 60 s: cnt A–B (2, 2), D–E (2, 1), F–G, F–H, G–H (1, 1).
TOY = [
    ("o1", "A", "c1", 0),
    ("o1", "B", "c2", 60),
    ("o2", "A", "c3", 100),
    ("o2", "C", "c4", 161),
    ("o3", "D", "c5", 200),
    ("o3", "D", "c6", 210),
    ("o3", "E", "c7", 230),
    ("o4", "F", "c8", 300),
    ("o4", "G", "c9", 300),
    ("o4", "H", "c10", 300),
    ("o5", "A", "c11", 400),
    ("o5", "B", "c12", 410),
]
T0 = 1_700_000_000


@pytest.fixture
def toy_ws(tmp_path: Path) -> Workspace:
    path = tmp_path / "toy.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["object_id", "account_id", "content_id", "timestamp_share"])
        w.writerows((o, a, c, T0 + t) for o, a, c, t in TOY)
    ws = civicsentry.open(tmp_path / "ws.duckdb")
    ingest_files(ws, [path])
    return ws


def _edges(ws: Workspace, run_id: int, network: str = "repost") -> set[tuple[object, ...]]:
    rel = service.edges(ws, run_id=run_id, network=network, all_edges=True)
    cols = rel.columns
    return {
        (
            r["account_a"].removeprefix("coortweet:"),
            r["account_b"].removeprefix("coortweet:"),
            r["weight"],
            r["weight_ab"],
            r["weight_ba"],
        )
        for r in (dict(zip(cols, row, strict=True)) for row in rel.fetchall())
    }


def test_runs_are_stored_side_by_side(toy_ws: Workspace) -> None:
    first = service.detect_coordination(toy_ws, semantics="cnt", windows="60s")
    second = service.detect_coordination(toy_ws, semantics="cnt", windows="60s", min_weight=2)
    assert (first.run_id, second.run_id) == (1, 2)
    assert _edges(toy_ws, 1) == {
        ("A", "B", 2, 2, 2),
        ("D", "E", 2, 2, 1),
        ("F", "G", 1, 1, 1),
        ("F", "H", 1, 1, 1),
        ("G", "H", 1, 1, 1),
    }
    assert _edges(toy_ws, 2) == {("A", "B", 2, 2, 2), ("D", "E", 2, 2, None)}
    step, name, params, summary = toy_ws.con.execute(
        "SELECT step, name, params, summary FROM runs WHERE run_id = 2"
    ).fetchall()[0]
    assert (step, name) == ("detect", "coordination")
    assert json.loads(params)["min_weight"] == 2 and json.loads(params)["semantics"] == "cnt"
    assert json.loads(summary)["windows"]["repost"]["seconds"] == 60.0
    assert service.latest_run_id(toy_ws) == 2


def test_our_semantics_stores_everything_and_flags_significance(toy_ws: Workspace) -> None:
    s = service.detect_coordination(toy_ws, windows="60s", object_types=["repost"], min_weight=1)
    assert s.networks["repost"]["edges"] == 5 and s.networks["multi"]["edges"] == 5
    stored = toy_ws.scalar(f"SELECT count(*) FROM coordination_edges WHERE run_id = {s.run_id}")
    assert stored == 10  # repost + multi, each with its flag
    # Five edges on a dozen shares: nothing is surprising, so the default output is empty.
    assert (
        toy_ws.scalar(
            f"SELECT count(*) FROM coordination_edges WHERE run_id = {s.run_id} AND significant"
        )
        == 0
    )
    assert service.edges(toy_ws).fetchall() == []


def test_export_csv_and_parquet(toy_ws: Workspace, tmp_path: Path) -> None:
    service.detect_coordination(toy_ws, semantics="cnt", windows="60s")
    res = service.export_network(toy_ws, tmp_path / "net.csv")
    assert (res.edges, res.network) == (5, "repost")
    with open(tmp_path / "net.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["account_a", "account_b", "weight"]
    assert {"weight_ab", "weight_ba"} <= set(rows[0])
    assert all(r["account_a"] < r["account_b"] for r in rows)
    res = service.export_network(toy_ws, tmp_path / "net.parquet", fmt="parquet")
    n = duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'net.parquet'}'").fetchall()[0][0]
    assert n == res.edges == 5


def test_errors_say_what_to_do(tmp_path: Path, toy_ws: Workspace) -> None:
    empty = civicsentry.open(tmp_path / "empty.duckdb")
    with pytest.raises(WorkspaceError, match="ingest posts first"):
        service.detect_coordination(empty)
    with pytest.raises(InvalidParams, match="run `civicsentry detect` first"):
        service.export_network(toy_ws, tmp_path / "x.csv")
    with pytest.raises(InvalidParams, match="Unknown semantics"):
        service.detect_coordination(toy_ws, semantics="gephi")


@pytest.mark.shared_data
def test_through_ingest_matches_the_toolkit(shared_data: Path, tmp_path: Path) -> None:
    """The whole way: the CooRTweet-format file, our ingest, cnt semantics, the toolkit's
    reference edges at 60 s."""
    ws = civicsentry.open(tmp_path / "ws.duckdb")
    ingest_files(ws, [shared_data / "russian_coord_tweets.parquet"])
    run = service.detect_coordination(ws, semantics="cnt", windows="60s")
    ours = set(
        ws.sql(
            "SELECT replace(account_a, 'coortweet:', ''), replace(account_b, 'coortweet:', ''), "
            f"weight, weight_ab, weight_ba FROM coordination_edges WHERE run_id = {run.run_id}"
        ).fetchall()
    )
    ref = shared_data / "reference" / "cnt_russian_coord_tweets_60s.csv"
    theirs = set(
        duckdb.sql(
            f"SELECT account_a, account_b, weight, weight_ab, weight_ba "
            f"FROM read_csv('{ref}', header=true)"
        ).fetchall()
    )
    assert ours == theirs


# -- the command line -----------------------------------------------------------------------

RUN_CLI = (
    "import sys; from civicsentry.cli import detect; from civicsentry.cli.app import main; "
    "sys.argv[0] = 'civicsentry'; main()"
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUN_CLI, *args], capture_output=True, text=True)


def test_cli_detect_and_export(toy_ws: Workspace, tmp_path: Path) -> None:
    path = toy_ws.path
    toy_ws.close()
    r = cli("detect", "-w", path, "--semantics", "cnt", "--window", "60s", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["networks"]["repost"]["edges"] == 5
    r = cli("detect", "-w", path, "--window", "repost=60s", "--types", "repost")
    assert r.returncode == 0, r.stderr
    assert "window repost: 60 s (set by --window)" in r.stdout
    r = cli("network", "export", str(tmp_path / "e.csv"), "-w", path, "--run", "1")
    assert r.returncode == 0, r.stderr
    assert "5 edges of run 1 (repost)" in r.stdout


def test_cli_errors_exit_nonzero_with_the_fix(toy_ws: Workspace) -> None:
    path = toy_ws.path
    toy_ws.close()
    r = cli("detect", "-w", path, "--semantics", "cnt", "--alpha", "0.01")
    assert r.returncode == 2
    assert "only apply to --semantics civicsentry" in r.stderr
    r = cli("detect", "-w", path, "--window", "soon")
    assert r.returncode == 2 and "Cannot read the duration" in r.stderr
