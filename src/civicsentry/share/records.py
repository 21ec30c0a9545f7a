"""The sharing tables that hold state between exports: minted STIX ids, community keys
and pseudonyms, exemptions, the DISARM mapping, the producer identity, cases.

Functions take a ``Workspace`` and run inside the caller's transaction where they write.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidParams
from ..store import Workspace
from . import disarm, pseudonym
from .stix import content_hash


def insert_rows(ws: Workspace, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Append rows (in the table's column order) in one statement: DuckDB's executemany
    runs one statement per row, which is slow beyond a few dozen."""
    if not rows:
        return
    import pyarrow as pa

    from .. import schema

    t = next(t for t in schema.TABLES if t.name == table)
    cols = {c.name: [r[i] for r in rows] for i, c in enumerate(t.columns)}
    arrow = pa.table(cols)  # noqa: F841  (read by DuckDB's replacement scan)
    ws.con.execute(f"INSERT INTO {table} SELECT * FROM arrow")


def now() -> datetime:
    return datetime.now(UTC)


# -- minted STIX ids -------------------------------------------------------------------


class StixIds:
    """Mints SDO/SRO ids once per local key (UUIDv4) and bumps ``modified`` only when
    the object's content changes, so re-exports update rather than duplicate."""

    def __init__(self, ws: Workspace, at: datetime | None = None) -> None:
        self.ws = ws
        self.at = _ms(at or now())

    def __call__(
        self, local_key: str, stix_type: str, content: dict[str, Any] | None
    ) -> tuple[str, datetime, datetime]:
        row = self.ws.con.execute(
            "SELECT stix_id, created, modified, content_hash FROM stix_ids WHERE local_key = ?",
            [local_key],
        ).fetchall()
        row = row[0] if row else None
        digest = None if content is None else content_hash(content)
        if row is None:
            sid = f"{stix_type}--{uuid.uuid4()}"
            self.ws.con.execute(
                "INSERT INTO stix_ids VALUES (?, ?, ?, ?, ?)",
                [local_key, sid, self.at, self.at, digest],
            )
            return sid, self.at, self.at
        sid, created, modified, old = row
        if digest is not None and digest != old:
            modified = self.at if old is not None else modified
            modified = max(modified, _ms(created))
            self.ws.con.execute(
                "UPDATE stix_ids SET modified = ?, content_hash = ? WHERE local_key = ?",
                [modified, digest, local_key],
            )
        return sid, _ms(created), _ms(modified)


def _ms(t: datetime) -> datetime:
    """STIX timestamps are serialised to milliseconds; keep stored ones the same."""
    t = t.astimezone(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


# -- producer identity -----------------------------------------------------------------


def setting(ws: Workspace, key: str, default: str | None = None) -> str | None:
    v = ws.scalar("SELECT value FROM share_settings WHERE key = ?", [key])
    return default if v is None else str(v)


def set_setting(ws: Workspace, key: str, value: str) -> None:
    ws.con.execute(
        "INSERT OR REPLACE INTO share_settings VALUES (?, ?)",
        [key, value],
    )


# -- community keys --------------------------------------------------------------------


def current_key(ws: Workspace, community: str) -> tuple[int, bytes]:
    row = ws.con.execute(
        """SELECT key_version, key FROM community_keys
           WHERE community = ? AND retired_at IS NULL ORDER BY key_version DESC LIMIT 1""",
        [community],
    ).fetchall()
    row = row[0] if row else None
    if row is None:
        raise InvalidParams(
            f"No key for community {community!r}: create one with "
            f"`civicsentry communities create {community}` (or import the partners' key)."
        )
    return int(row[0]), bytes.fromhex(row[1])


def all_keys(ws: Workspace, community: str | None = None) -> list[tuple[str, int, bytes]]:
    """Every key, retired ones too (older imports were pseudonymised with them)."""
    rows = ws.con.execute(
        "SELECT community, key_version, key FROM community_keys "
        + ("WHERE community = ? " if community else "")
        + "ORDER BY community, key_version",
        [community] if community else [],
    ).fetchall()
    return [(c, int(v), bytes.fromhex(k)) for c, v, k in rows]


def add_key(ws: Workspace, community: str, key_hex: str, origin: str, version: int | None) -> int:
    """Store a key as the community's current one (retiring the previous); returns its
    version."""
    if not community or not community.replace("-", "").replace("_", "").isalnum():
        raise InvalidParams(f"A community name is letters, digits, - and _, not {community!r}.")
    try:
        pseudonym.check_key(key_hex)
    except ValueError as e:
        raise InvalidParams(f"Bad community key: {e}.") from None
    latest = ws.scalar(
        "SELECT max(key_version) FROM community_keys WHERE community = ?", [community]
    )
    if version is None:
        version = int(latest or 0) + 1
    elif ws.scalar(
        "SELECT count(*) FROM community_keys WHERE community = ? AND key_version = ?",
        [community, version],
    ):
        raise InvalidParams(f"Community {community!r} already has key version {version}.")
    ws.con.execute(
        "UPDATE community_keys SET retired_at = now() WHERE community = ? AND retired_at IS NULL",
        [community],
    )
    ws.con.execute(
        "INSERT INTO community_keys VALUES (?, ?, ?, ?, now(), NULL)",
        [community, version, key_hex.strip().lower(), origin],
    )
    return version


def pseudonyms_for(
    ws: Workspace, community: str, version: int, key: bytes, account_ids: list[str] | None
) -> dict[str, str]:
    """Pseudonyms of accounts (None: every account in the workspace), computed once and
    kept in ``pseudonyms``."""
    if account_ids is None:
        todo = [
            r[0]
            for r in ws.con.execute(
                """SELECT account_id FROM accounts WHERE account_id NOT IN (
                       SELECT account_id FROM pseudonyms WHERE community = ? AND key_version = ?)""",
                [community, version],
            ).fetchall()
        ]
    else:
        have = {
            r[0]
            for r in ws.con.execute(
                """SELECT account_id FROM pseudonyms WHERE community = ? AND key_version = ?
                   AND account_id IN (SELECT unnest(?::VARCHAR[]))""",
                [community, version, account_ids],
            ).fetchall()
        }
        todo = [a for a in dict.fromkeys(account_ids) if a not in have]
    if todo:
        rows = [(community, version, a, pseudonym.account(key, a)) for a in todo]
        insert_rows(ws, "pseudonyms", rows)
    where = "" if account_ids is None else "AND account_id IN (SELECT unnest(?::VARCHAR[]))"
    params: list[Any] = [community, version] + ([] if account_ids is None else [account_ids])
    return dict(
        ws.con.execute(
            f"SELECT account_id, pseudonym FROM pseudonyms WHERE community = ? "
            f"AND key_version = ? {where}",
            params,
        ).fetchall()
    )


# -- exemptions ------------------------------------------------------------------------

EXEMPTION_CATEGORIES = ("public-figure", "state-media", "official")


def exempt_handles(ws: Workspace) -> set[str]:
    return {
        str(r[0]).casefold()
        for r in ws.sql(
            "SELECT a.handle FROM share_exemptions e JOIN accounts a USING (account_id) "
            "WHERE a.handle IS NOT NULL"
        ).fetchall()
    }


def forbidden_identifiers(ws: Workspace, account_ids: list[str] | None = None) -> set[str]:
    """Raw identifiers of ordinary accounts (every account not exempt, or those given):
    platform-qualified id, platform id and handle."""
    where = "" if account_ids is None else "AND a.account_id IN (SELECT unnest(?::VARCHAR[]))"
    rows = ws.sql(
        f"""SELECT a.account_id, a.handle FROM accounts a
            WHERE a.account_id NOT IN (SELECT account_id FROM share_exemptions) {where}""",
        params=[] if account_ids is None else [account_ids],
    ).fetchall()
    out: set[str] = set()
    for account_id, handle in rows:
        out.add(account_id)
        out.add(pseudonym.native_id(account_id))
        if handle:
            out.add(str(handle).lstrip("@"))
    return out


# -- DISARM mapping ----------------------------------------------------------------------


def mapping(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Detection -> techniques in force (override or shipped suggestion)."""
    out = {
        d: {"techniques": list(s.techniques), "why": s.why, "source": "suggested"}
        for d, s in disarm.SUGGESTIONS.items()
    }
    for d, techniques, note, at, by in ws.con.execute(
        "SELECT detection, techniques, note, updated_at, updated_by FROM disarm_mapping"
    ).fetchall():
        base = out.get(d, {"why": ""})
        out[d] = {
            "techniques": json.loads(techniques),
            "why": note or base.get("why", ""),
            "source": f"override by {by} at {at:%Y-%m-%d %H:%M}",
        }
    return out


def techniques_for(ws: Workspace, detections: list[str]) -> dict[str, list[str]]:
    """Technique id -> the detections that suggest it."""
    table = mapping(ws)
    out: dict[str, list[str]] = {}
    for d in detections:
        for tid in table.get(d, {}).get("techniques", []):
            out.setdefault(tid, [])
            if d not in out[tid]:
                out[tid].append(d)
    return out
