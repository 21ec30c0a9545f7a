"""Helpers for the signals tests: hand-built timelines written as canonical CSV and
ingested through the real path (ingest derives the actions)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from civicsentry.service.ingest import ingest_files
from civicsentry.store import Workspace

#: Monday 2024-10-28 00:00 UTC.
MONDAY = datetime(2024, 10, 28, tzinfo=UTC)
POST_COLUMNS = ["post_id", "platform", "account_id", "created_at", "kind", "parent_post_id",
                "text", "urls", "hashtags"]  # fmt: skip
ACCOUNT_COLUMNS = ["account_id", "platform", "handle", "created_at", "followers", "following",
                   "description", "location"]  # fmt: skip


def at(seconds: float) -> str:
    """ISO time ``seconds`` after MONDAY."""
    return (MONDAY + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ingest(
    ws: Workspace,
    tmp: Path,
    posts: Iterable[Sequence[object]],
    accounts: Iterable[Sequence[object]] = (),
) -> None:
    """Ingest rows (in POST_COLUMNS / ACCOUNT_COLUMNS order; platform ``x`` prepended)."""
    files = []
    for name, cols, rows in (
        ("posts", POST_COLUMNS, posts),
        ("accounts", ACCOUNT_COLUMNS, accounts),
    ):
        rows = list(rows)
        if not rows:
            continue
        path = tmp / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in rows:
                w.writerow([r[0], "x", *r[1:]])
        files.append(path)
    report = ingest_files(ws, files)
    for f in report.files:
        assert f.error is None and f.rows_quarantined == 0, f
