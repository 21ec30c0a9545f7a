"""Data protection: a retention policy for raw posts, erasure of one account's data on
request, and an export of everything held about one account (docs/web.md#data-protection).

- Retention: with ``retention_days`` set, ``purge_expired`` redacts the content of posts
  older than that (text, URLs, domains, hashtags, mentions, media hashes, source) and
  keeps their ids, authors, times and kinds: counts, volumes, coordination edges,
  clusters and the post ids cited as evidence stay, the words do not.
- Erasure: every row about the account goes — in every table with an ``account_id`` (its
  posts, actions, profile, signals, memberships, pseudonym mapping), every table keyed by
  one of its posts, and every edge it is part of (from the tables behind the
  ``coordination_edges`` view, its keys in cnt runs included); alert evidence names it
  no more. The audit log records the erasure with a SHA-256 of the id, not the id.
- Export: every row about the account, as JSON; its edges once, from the view.

Tables are found by their columns, so stages added later are covered without a change
here. Nothing here runs on its own: the limits are visible (``policy``) and every
change is an audit entry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import InvalidParams, NotFound
from ..schema import COORDINATION_EDGES, EDGE_ACCOUNTS, EDGES_CNT, EDGES_WIDE
from ..store import Workspace

RETENTION_KEY = "privacy.retention_days"
LAST_PURGE_KEY = "privacy.last_purge"
#: Columns of `posts` that carry content; ids, author, time and kind stay.
CONTENT_COLUMNS = ("text", "urls", "domains", "hashtags", "mentions", "media_hashes", "source")
#: Tables never touched: the log of what was done, and workspace facts.
KEEP = ("audit_log", "meta")


def _meta(ws: Workspace, key: str) -> str | None:
    value = ws.scalar("SELECT value FROM meta WHERE key = ?", [key])
    return None if value is None else str(value)


def _set_meta(ws: Workspace, key: str, value: str | None) -> None:
    ws.con.execute("DELETE FROM meta WHERE key = ?", [key])
    if value is not None:
        ws.con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])


def policy(ws: Workspace) -> dict[str, Any]:
    """The retention policy and what it would purge now."""
    days = _meta(ws, RETENTION_KEY)
    out: dict[str, Any] = {
        "retention_days": int(days) if days else None,
        "last_purge": json.loads(_meta(ws, LAST_PURGE_KEY) or "null"),
        "posts": int(ws.scalar("SELECT count(*) FROM posts")),
        "oldest_post": ws.scalar("SELECT min(created_at) FROM posts"),
    }
    if days:
        cutoff = datetime.now(UTC) - timedelta(days=int(days))
        out["cutoff"] = cutoff
        out["due"] = int(
            ws.scalar(
                "SELECT count(*) FROM posts WHERE created_at < ? AND text IS NOT NULL", [cutoff]
            )
        )
    return out


def set_retention(ws: Workspace, days: int | None, *, actor: str | None = None) -> dict[str, Any]:
    """Keep raw post content ``days`` days (None: keep it until erased by hand)."""
    if days is not None and days < 1:
        raise InvalidParams("Retention is a number of days ≥ 1 (or none).")
    with ws.transaction():
        _set_meta(ws, RETENTION_KEY, None if days is None else str(int(days)))
        ws.audit("privacy.retention", {"retention_days": days}, actor)
    return policy(ws)


def purge_expired(
    ws: Workspace, *, now: datetime | None = None, actor: str | None = None
) -> dict[str, Any]:
    """Redact the content of posts older than the retention period; returns how many."""
    days = _meta(ws, RETENTION_KEY)
    if not days:
        raise InvalidParams(
            "No retention period set: `civicsentry privacy retention --days N` first."
        )
    cutoff = (now or datetime.now(UTC)) - timedelta(days=int(days))
    sets = ", ".join(f"{c} = NULL" for c in CONTENT_COLUMNS)
    with ws.transaction() as con:
        n = int(
            ws.scalar(
                "SELECT count(*) FROM posts WHERE created_at < ? AND "
                f"({' OR '.join(f'{c} IS NOT NULL' for c in CONTENT_COLUMNS)})",
                [cutoff],
            )
        )
        con.execute(f"UPDATE posts SET {sets} WHERE created_at < ?", [cutoff])
        done = {"at": datetime.now(UTC).isoformat(), "cutoff": cutoff.isoformat(), "posts": n}
        _set_meta(ws, LAST_PURGE_KEY, json.dumps(done))
        ws.audit("privacy.purge", done | {"retention_days": int(days)}, actor)
    return done


def _tables_with(ws: Workspace, column: str, *, views: bool = False) -> list[str]:
    """The tables (and with ``views``, the views) with ``column``. Deletes go to tables
    only: a view such as ``coordination_edges`` shows rows stored elsewhere."""
    kinds = ("BASE TABLE", "VIEW") if views else ("BASE TABLE",)
    return [
        t
        for (t,) in ws.con.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.column_name = ? AND c.table_schema = 'main' "
            "AND list_contains(?, t.table_type) ORDER BY 1",
            [column, list(kinds)],
        ).fetchall()
        if t not in KEEP and not t.startswith("_")
    ]


#: The tables behind ``coordination_edges``: an export reads the edges from the view
#: (once, with account ids), an erasure deletes from these.
EDGE_STORAGE = (EDGES_WIDE.name, EDGES_CNT.name, EDGE_ACCOUNTS.name)
#: ``edges_cnt`` rows with the account on either side, by its key in their run.
_CNT_OF_ACCOUNT = (
    f"EXISTS (SELECT 1 FROM {EDGE_ACCOUNTS.name} k WHERE k.account_id = ? "
    f"AND k.run_id = {EDGES_CNT.name}.run_id "
    f"AND k.acc IN ({EDGES_CNT.name}.acc_a, {EDGES_CNT.name}.acc_b))"
)


def _check_account(ws: Workspace, account_id: str) -> None:
    known = ws.scalar(
        "SELECT (SELECT count(*) FROM accounts WHERE account_id = ?) "
        "+ (SELECT count(*) FROM posts WHERE account_id = ?)",
        [account_id, account_id],
    )
    if not known:
        raise NotFound(f"No account {account_id!r} in this workspace.")


def _rows(ws: Workspace, query: str, params: list[Any]) -> list[dict[str, Any]]:
    return ws.dicts(query, params)


def account_data(ws: Workspace, account_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """Everything held about one account, table by table (for a subject access request)."""
    _check_account(ws, account_id)
    out: dict[str, Any] = {"account_id": account_id, "tables": {}}
    post_ids = "(SELECT post_id FROM posts WHERE account_id = ?)"
    for t in _tables_with(ws, "account_id"):
        if t not in EDGE_STORAGE:
            out["tables"][t] = _rows(ws, f'SELECT * FROM "{t}" WHERE account_id = ?', [account_id])
    for t in _tables_with(ws, "post_id"):
        if t in out["tables"] or t == "posts":
            continue
        rows = _rows(ws, f'SELECT * FROM "{t}" WHERE post_id IN {post_ids}', [account_id])
        if rows:
            out["tables"][t] = rows
    for t in _tables_with(ws, "account_a", views=True):
        if t in EDGE_STORAGE:
            continue  # their rows are in coordination_edges
        out["tables"][t] = _rows(
            ws, f'SELECT * FROM "{t}" WHERE account_a = ? OR account_b = ?', [account_id] * 2
        )
    if _tables_with(ws, "evidence"):
        out["tables"]["alerts"] = _rows(
            ws, "SELECT * FROM alerts WHERE contains(evidence, ?)", [json.dumps(account_id)]
        )
    ws.audit("privacy.export", {"account_sha256": _sha(account_id)}, actor)
    return out


def export_account(
    ws: Workspace, account_id: str, path: str | Path, *, actor: str | None = None
) -> dict[str, int]:
    """Write ``account_data`` as JSON; returns rows per table."""
    data = account_data(ws, account_id, actor=actor)
    Path(path).write_text(
        json.dumps(data, default=str, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return {t: len(rows) for t, rows in data["tables"].items()}


def erase_account(ws: Workspace, account_id: str, *, actor: str | None = None) -> dict[str, int]:
    """Delete every row about the account in one transaction; returns rows per table."""
    _check_account(ws, account_id)
    removed: dict[str, int] = {}
    with ws.transaction() as con:
        con.execute(
            "CREATE TEMP TABLE _erase_posts AS SELECT post_id FROM posts WHERE account_id = ?",
            [account_id],
        )
        try:
            for t in _tables_with(ws, "post_id"):
                if t in _tables_with(ws, "account_id"):
                    continue  # handled below, by author
                removed[t] = _delete(con, t, "post_id IN (SELECT post_id FROM _erase_posts)", [])
            # The account's cnt edges while its keys are there to find them; its key rows
            # go with the tables that have an account_id, next.
            edges = _delete(con, EDGES_CNT.name, _CNT_OF_ACCOUNT, [account_id])
            for t in _tables_with(ws, "account_id"):
                removed[t] = _delete(con, t, "account_id = ?", [account_id])
            for t in _tables_with(ws, "account_a"):
                n = _delete(con, t, "account_a = ? OR account_b = ?", [account_id] * 2)
                if t == EDGES_WIDE.name:
                    edges += n
                else:
                    removed[t] = n
            removed[COORDINATION_EDGES.name] = edges  # counted as the view showed them
            if _tables_with(ws, "evidence"):
                # Alert evidence names accounts inside JSON: the name goes, the alert stays.
                removed["alerts (evidence redacted)"] = _count(
                    con, "alerts", "contains(evidence, ?)", [json.dumps(account_id)]
                )
                con.execute(
                    "UPDATE alerts SET evidence = replace(evidence, ?, '\"[erased]\"') "
                    "WHERE contains(evidence, ?)",
                    [json.dumps(account_id), json.dumps(account_id)],
                )
        finally:
            con.execute("DROP TABLE IF EXISTS _erase_posts")
        removed = {t: n for t, n in removed.items() if n}
        ws.audit("privacy.erase", {"account_sha256": _sha(account_id), "rows": removed}, actor)
    return removed


def _count(con: Any, table: str, where: str, params: list[Any]) -> int:
    return int(
        con.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', params).fetchall()[0][0]
    )


def _delete(con: Any, table: str, where: str, params: list[Any]) -> int:
    n = _count(con, table, where, params)
    if n:
        con.execute(f'DELETE FROM "{table}" WHERE {where}', params)
    return n


def _sha(account_id: str) -> str:
    return hashlib.sha256(account_id.encode()).hexdigest()
