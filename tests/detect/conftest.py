"""Helpers for detection tests: tiny action tables built in memory, edge sets read back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from civicsentry.detect import CoordinationParams, DetectionResult, detect_coordination

T0 = datetime(2024, 1, 1, tzinfo=UTC)

#: (account, object_type, object_id, seconds after T0, post_id)
Action = tuple[str, str, str, float, str]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    yield c
    c.close()


def load(con: duckdb.DuckDBPyConnection, rows: Iterable[Action], table: str = "actions") -> str:
    """Create ``table`` in the actions shape from (account, type, object, seconds, post)."""
    rows = list(rows)
    data = pa.table(
        {
            "account_id": pa.array([r[0] for r in rows], pa.string()),
            "object_type": pa.array([r[1] for r in rows], pa.string()),
            "object_id": pa.array([r[2] for r in rows], pa.string()),
            "t": pa.array([T0 + timedelta(seconds=r[3]) for r in rows], pa.timestamp("us", "UTC")),
            "post_id": pa.array([r[4] for r in rows], pa.string()),
        }
    )
    con.register("_rows", data)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _rows")
    con.unregister("_rows")
    return table


def shares(rows: Iterable[tuple[str, str, float]], object_type: str = "repost") -> list[Action]:
    """(account, object, seconds) shares of one type, each in its own post."""
    return [(a, object_type, o, s, f"p{i}") for i, (a, o, s) in enumerate(rows)]


def run(con: duckdb.DuckDBPyConnection, **params: object) -> DetectionResult:
    return detect_coordination(con, "actions", CoordinationParams(**params))  # type: ignore[arg-type]


def edges(
    con: duckdb.DuckDBPyConnection,
    result: DetectionResult,
    network: str = "repost",
    columns: str = "weight",
    where: str = "true",
) -> set[tuple[object, ...]]:
    """{(account_a, account_b, *columns)} of one network."""
    rows = con.execute(
        f"SELECT account_a, account_b, {columns} FROM {result.edges} "
        f"WHERE object_type = ? AND ({where})",
        [network],
    ).fetchall()
    return {tuple(r) for r in rows}
