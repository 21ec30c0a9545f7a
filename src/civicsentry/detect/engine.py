"""Where the detection SQL runs.

Detection modules build SQL text; an ``Engine`` materialises it as named intermediate
tables and hands small results back as Arrow. ``DuckDBEngine`` wraps a DuckDB connection;
``spark_engine.SparkEngine`` implements the same methods with Spark SQL (tables kept as
local checkpoints or Parquet), so the SQL itself is shared, not copied.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import duckdb
import pyarrow as pa

from ..store import duckdb_settings
from .dialect import DUCKDB, Dialect

_counter = itertools.count(1)


class Engine(Protocol):
    dialect: Dialect

    def name(self, base: str) -> str:
        """A collision-free name for an intermediate table."""

    def scalar(self, sql: str) -> object:
        """The first value of the first row of ``sql``."""

    def create(self, name: str, sql: str) -> None:
        """Materialise ``sql`` (a SELECT) as the intermediate table ``name``."""

    def view(self, name: str, sql: str) -> None:
        """Define ``name`` as ``sql`` without materialising it."""

    def number(self, name: str, sql: str, order: list[str], column: str) -> None:
        """Materialise the (distinct) rows of ``sql`` plus ``column``, numbering them
        1..n in the order of the columns ``order``."""

    def fetch(self, sql: str) -> pa.Table:
        """Run ``sql`` and return the whole (small) result."""

    def put(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table available to later SQL as ``name``."""

    def drop(self, *names: str) -> None:
        """Forget intermediate tables."""


class DuckDBEngine:
    """Runs detection SQL on a DuckDB connection, as temporary tables that never touch the
    workspace's own tables."""

    dialect = DUCKDB

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.prefix = f"_cs{next(_counter)}_"
        self._views: set[str] = set()

    def name(self, base: str) -> str:
        """A collision-free name for an intermediate table of this run."""
        return self.prefix + base

    def create(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        self._views.add(name)

    def number(self, name: str, sql: str, order: list[str], column: str) -> None:
        self.create(
            name,
            f"SELECT *, row_number() OVER (ORDER BY {', '.join(order)}) AS {column} FROM ({sql})",
        )

    def fetch(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def scalar(self, sql: str) -> object:
        rows = self.con.execute(sql).fetchall()
        return rows[0][0] if rows else None

    def put(self, name: str, table: pa.Table) -> None:
        view = name + "_arrow"
        self.con.register(view, table)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def drop(self, *names: str) -> None:
        for n in names:
            kind = "VIEW" if n in self._views else "TABLE"
            self.con.execute(f"DROP {kind} IF EXISTS {n}")
            self._views.discard(n)

    @contextmanager
    def settings(
        self, *, threads: int | None = None, memory_limit: str | None = None
    ) -> Iterator[None]:
        """Tune the connection for one large detection and restore it afterwards.

        ``preserve_insertion_order = false`` lets DuckDB stream and spill big joins and
        aggregates (nothing here depends on row order: every result is keyed); a temp
        directory is set when the database has none (in-memory), so spilling can happen.
        """
        wanted: dict[str, object] = {"preserve_insertion_order": False}
        if threads:
            wanted["threads"] = int(threads)
        if memory_limit:
            wanted["memory_limit"] = memory_limit
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if not self.scalar("SELECT current_setting('temp_directory')"):
            tmp = tempfile.TemporaryDirectory(prefix="civicsentry-spill-")
            wanted["temp_directory"] = tmp.name
        try:
            with duckdb_settings(self.con, wanted):
                yield
        finally:
            if tmp is not None:
                tmp.cleanup()


def as_engine(con: duckdb.DuckDBPyConnection | Engine) -> Engine:
    return DuckDBEngine(con) if isinstance(con, duckdb.DuckDBPyConnection) else con
