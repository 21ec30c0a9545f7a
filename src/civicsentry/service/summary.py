"""What a workspace holds, and its quarantined records."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import Workspace


@dataclass(frozen=True)
class WorkspaceInfo:
    path: str
    schema_version: int
    posts: int
    accounts: int
    actions: int
    quarantined: int
    platforms: tuple[dict[str, Any], ...]
    sources: tuple[dict[str, Any], ...]
    kinds: dict[str, int]
    action_types: dict[str, int]


def _dicts(ws: Workspace, query: str) -> tuple[dict[str, Any], ...]:
    rel = ws.sql(query)
    cols = rel.columns
    return tuple(dict(zip(cols, row, strict=True)) for row in rel.fetchall())


def workspace_info(ws: Workspace) -> WorkspaceInfo:
    """Counts per platform, per source file and per kind."""
    return WorkspaceInfo(
        path=ws.path,
        schema_version=ws.schema_version,
        posts=int(ws.scalar("SELECT count(*) FROM posts")),
        accounts=int(ws.scalar("SELECT count(*) FROM accounts")),
        actions=int(ws.scalar("SELECT count(*) FROM actions")),
        quarantined=int(ws.scalar("SELECT count(*) FROM quarantine")),
        platforms=_dicts(
            ws,
            """
            SELECT platform, count(*) AS posts, count(DISTINCT account_id) AS accounts,
                   min(created_at)::VARCHAR AS first, max(created_at)::VARCHAR AS last
            FROM posts GROUP BY platform ORDER BY posts DESC""",
        ),
        sources=_dicts(
            ws,
            """
            SELECT source, format, count(*) AS runs, sum(rows_read) AS rows_read,
                   sum(rows_stored) AS rows_stored, sum(rows_duplicate) AS rows_duplicate,
                   sum(rows_quarantined) AS rows_quarantined, max(finished_at)::VARCHAR AS last_run
            FROM ingest_log GROUP BY source, format ORDER BY source""",
        ),
        kinds=dict(
            ws.sql("SELECT kind, count(*) FROM posts GROUP BY 1 ORDER BY 2 DESC").fetchall()
        ),
        action_types=dict(
            ws.sql(
                "SELECT object_type, count(*) FROM actions GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        ),
    )


def quarantined(
    ws: Workspace, *, source: str | None = None, limit: int | None = 50
) -> list[dict[str, Any]]:
    """Quarantined records, oldest first, optionally for one source."""
    where = "WHERE source = ?" if source else ""
    lim = f"LIMIT {int(limit)}" if limit else ""
    rel = ws.sql(
        f"SELECT * FROM quarantine {where} ORDER BY ingest_batch, position {lim}",
        params=[source] if source else None,
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a
    leading apostrophe, so Excel/LibreOffice show it as text instead of evaluating it."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_quarantine(ws: Workspace, path: str | Path, *, source: str | None = None) -> int:
    rows = quarantined(ws, source=source, limit=None)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source", "position", "reason", "raw", "ingest_batch"])
        for r in rows:
            w.writerow(
                [safe_cell(r[k]) for k in ("source", "position", "reason", "raw", "ingest_batch")]
            )
    return len(rows)
