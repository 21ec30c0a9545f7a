"""Shared fixtures: a fresh workspace per test, fixture paths, the shared real data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import civicsentry
from civicsentry.store import Workspace

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = civicsentry.open(tmp_path / "ws.duckdb")
    yield w
    w.close()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repository; tests using it skip where it is absent."""
    if not (SHARED / "russian_coord_tweets.parquet").exists():
        pytest.skip(f"real datasets not found at {SHARED} (a clone without ../shared)")
    return SHARED


def rows(ws: Workspace, query: str) -> list[dict]:
    rel = ws.sql(query)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def assert_counts_add_up(report) -> None:  # type: ignore[no-untyped-def]
    for f in report.files:
        assert f.rows_read == f.rows_stored + f.rows_duplicate + f.rows_quarantined, f


def stored_posts(ws: Workspace) -> dict[str, dict]:
    """Every stored post by id."""
    return {p["post_id"]: p for p in rows(ws, "SELECT * FROM posts")}


def file_counts(report) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """(read, stored, duplicate, quarantined) of a one-file report that did not fail."""
    f = report.files[0]
    assert f.error is None, f.error
    return f.rows_read, f.rows_stored, f.rows_duplicate, f.rows_quarantined
