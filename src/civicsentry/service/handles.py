"""Account handles for lists of account ids (cluster members, a page of accounts or
of posts).

Read in a query of their own and merged by the caller: joined to a few dozen rows,
``accounts`` is hashed whole (15–20 ms at 500,000 accounts), where a filter on the ids
reads two columns of it (~2 ms; docs/benchmarks.md, `web`). The filter compares each
row with every id, so long lists (exports) are joined instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..store import Workspace

#: Ids looked up by a filter at most; more are joined (measured crossover ~1,000).
LIST_FILTER_MAX = 1000


def handles(ws: Workspace, account_ids: Iterable[str]) -> dict[str, str | None]:
    """Account id -> handle for the ids that have an ``accounts`` row."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    if len(ids) == 1:  # the primary key's index
        sql = "SELECT account_id, handle FROM accounts WHERE account_id = ?"
        params: list[Any] = ids
    elif len(ids) <= LIST_FILTER_MAX:
        sql = "SELECT account_id, handle FROM accounts WHERE list_contains(?, account_id)"
        params = [ids]
    else:
        sql = (
            "SELECT a.account_id, a.handle FROM (SELECT unnest(?) AS account_id) i "
            "JOIN accounts a USING (account_id)"
        )
        params = [ids]
    return dict(ws.con.execute(sql, params).fetchall())


def with_handles(
    ws: Workspace, rows: list[dict[str, Any]], *, names: Mapping[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """Each row with the handle of its ``account_id`` right after that key (None when
    the account has no ``accounts`` row), as a join would have given it. ``names``: the
    handles when the caller has read them (then nothing is looked up)."""
    if names is None:
        names = handles(ws, (r["account_id"] for r in rows))
    out = []
    for r in rows:
        d: dict[str, Any] = {}
        for k, v in r.items():
            d[k] = v
            if k == "account_id":
                d["handle"] = names.get(v)
        out.append(d)
    return out
