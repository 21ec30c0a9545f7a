"""The workspace: one DuckDB file holding every canonical table.

This is the only module that opens DuckDB connections. Everything else receives a
``Workspace`` (or its ``con``) from the service layer.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from . import __version__
from .errors import SchemaVersionMismatch, WorkspaceError
from .migrations import migrate
from .schema import SCHEMA_VERSION, TABLES, Table

log = logging.getLogger("civicsentry")

DEFAULT_WORKSPACE = "civicsentry.duckdb"


class Workspace:
    """An open workspace. Use ``civicsentry.open(path)`` to get one; close it when done
    (it is also a context manager)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        is_memory = self.path == ":memory:"
        if not is_memory and read_only and not Path(self.path).exists():
            raise WorkspaceError(
                f"No workspace at {self.path}. Create one with `civicsentry ingest`."
            )
        if not is_memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as e:
            raise WorkspaceError(
                f"Cannot open workspace {self.path}: {e}. Is another civicsentry process using it?"
            ) from e
        except duckdb.Error as e:
            raise WorkspaceError(f"{self.path} is not a CivicSentry workspace: {e}") from e
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(
            "SET enable_progress_bar = false"
        )  # ours are on stderr; its own is on stdout
        # Results that need an order ask for one; not keeping it lets big inserts stream.
        self.con.execute("SET preserve_insertion_order = false")
        self._check_and_create(read_only)

    # -- lifecycle ---------------------------------------------------------------
    def _check_and_create(self, read_only: bool) -> None:
        has_meta = self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
        )
        if not has_meta:
            other = self.scalar("SELECT count(*) FROM information_schema.tables")
            if other:
                raise WorkspaceError(
                    f"{self.path} is a DuckDB file but not a CivicSentry workspace (no `meta` table)."
                )
            if read_only:
                raise WorkspaceError(f"{self.path} is empty; ingest something first.")
            with self.transaction():
                for table in TABLES:
                    self.con.execute(table.ddl())
                self.con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?), ('created_by', ?), ('created_at', ?)",
                    [str(SCHEMA_VERSION), __version__, datetime.now(UTC).isoformat()],
                )
            return
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise SchemaVersionMismatch(
                f"{self.path} was written by a newer CivicSentry (schema {version}; this is "
                f"civicsentry {__version__}, schema {SCHEMA_VERSION}). Upgrade with "
                "`pip install -U civicsentry`."
            )
        if version < SCHEMA_VERSION:
            if read_only:
                raise SchemaVersionMismatch(
                    f"{self.path} has schema {version}; run `civicsentry migrate` to upgrade it "
                    f"to {SCHEMA_VERSION}."
                )
            with self.transaction():
                migrate(self.con, version, SCHEMA_VERSION)
                self.con.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
                )
            log.info("migrated %s from schema %s to %s", self.path, version, SCHEMA_VERSION)
        if not read_only:
            ensure_indexes(self)

    @property
    def schema_version(self) -> int:
        value = self.scalar("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(value) if value is not None else 0

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Workspace {self.path}>"

    # -- helpers used by the service layer ---------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: a crash or kill inside leaves the workspace as it was before."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def next_id(self, table: str, column: str) -> int:
        return int(self.scalar(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))

    def dicts(
        self, query: str, params: list[Any] | None = None, *, json_columns: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Every row as a dict, with the named JSON-text columns decoded. Run as a plain
        statement: a relation (``sql``) binds (plans) the query once more before running
        it, ~0.4 ms for a point look-up and ~3 ms of server CPU per web request."""
        cur = self.con.execute(query, params or [])
        found = cur.fetchall()
        names = [d[0] for d in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in found]
        for d in rows:
            for k in json_columns:
                if isinstance(d.get(k), str):
                    d[k] = json.loads(d[k])
        return rows

    def scalar(self, query: str, params: list[Any] | None = None) -> Any:
        """The first value of the first row (None when there is no row). Fetches the whole
        result, since DuckDB refuses new work on a connection with a result left open."""
        rows = self.con.execute(query, params or []).fetchall()
        return rows[0][0] if rows else None

    def audit(self, action: str, detail: dict[str, Any], actor: str | None = None) -> None:
        self.con.execute(
            "INSERT INTO audit_log VALUES (now(), ?, ?, ?)",
            [actor or _os_user(), action, json.dumps(detail, default=str, sort_keys=True)],
        )

    def sql(self, query: str, params: list[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run a read query and return a relation (``.df()``, ``.arrow()``, ``.fetchall()``)."""
        return self.con.sql(query, params=params)

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.con.table(name)


def ensure_indexes(ws: Workspace) -> list[str]:
    """Build the schema's indexes that are missing, in one transaction; returns their
    names. Ingest drops the index of ``posts`` to publish a large file and builds it
    again after the file's commit; a crash in between leaves it missing, and opening the
    workspace for writing builds it (readers would otherwise scan the table)."""
    present = {r[0] for r in ws.con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    missing = [
        (name, ddl)
        for table in TABLES
        for name, ddl in zip(table.index_names(), table.index_ddl(), strict=True)
        if name not in present
    ]
    if missing:
        with ws.transaction():
            for _, ddl in missing:
                ws.con.execute(ddl)
        log.info("built missing indexes: %s", ", ".join(n for n, _ in missing))
    return [n for n, _ in missing]


def drop_indexes(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Drop ``table``'s own indexes (not its keys); ``ensure_indexes`` builds them again."""
    for name in table.index_names():
        con.execute(f"DROP INDEX IF EXISTS {name}")


@contextmanager
def duckdb_settings(
    con: duckdb.DuckDBPyConnection, settings: Mapping[str, object]
) -> Iterator[None]:
    """DuckDB ``settings`` for the length of a block, the previous values back afterwards.

    DuckDB reports sizes rounded down ('2.7 GiB'), so setting a reported value back loses
    a little each time (a `watch` loop ingesting every cycle shrank its memory limit by
    0.1 GiB per cycle). A setting that was at its default is RESET instead, which
    restores it exactly; a value someone set is set again from its report, to the middle
    of the report's rounding step, so that repeated restores keep the same report."""
    old = {k: _setting(con, k) for k in settings}
    try:
        for k, v in settings.items():
            con.execute(f"SET {k} = {_literal(v)}")
        yield
    finally:
        for k, v in old.items():
            with suppress(duckdb.Error):  # e.g. threads above what this build allows
                con.execute(f"RESET {k}")
                if _setting(con, k) != v:
                    con.execute(f"SET {k} = {_literal(_mid_step(v))}")


def _mid_step(reported: Any) -> Any:
    """'2.7 GiB' (DuckDB's report of a size, one decimal, rounded down) -> '2.75 GiB'."""
    m = _SIZE.match(reported) if isinstance(reported, str) else None
    if not m:
        return reported
    return f"{m['n']}{'' if m['d'] else '.0'}{m['d'] or ''}5 {m['unit']}"


_SIZE = re.compile(r"^(?P<n>\d+)(?P<d>\.\d)? (?P<unit>[KMGTP]i?B)$")


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> Any:
    return con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]


def _literal(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def _os_user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
