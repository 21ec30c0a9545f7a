"""Streamed writers for posts and accounts: Parquet, CSV and JSON Lines.

JSON is assembled with pyarrow string kernels (escape, concatenate, join) rather than
per-record ``json.dumps``: the simulator writes millions of rows.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

J = pc.binary_join_element_wise
EXT = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}

POSTS_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("platform", pa.string()),
        ("account_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),
        ("parent_post_id", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("urls", pa.list_(pa.string())),
        ("hashtags", pa.list_(pa.string())),
        ("mentions", pa.list_(pa.string())),
    ]
)
ACCOUNTS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("platform", pa.string()),
        ("handle", pa.string()),
        ("display_name", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("followers", pa.int64()),
        ("following", pa.int64()),
        ("verified", pa.bool_()),
        ("description", pa.string()),
        ("location", pa.string()),
    ]
)


class TableWriter(Protocol):
    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


def open_writer(path: Path, fmt: str, schema: pa.Schema) -> TableWriter:
    if fmt == "parquet":
        return _Parquet(path, schema)
    if fmt == "csv":
        return _Csv(path, schema)
    return _Jsonl(path)


class _Parquet:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        # One row group per chunk; zstd for size. Same input -> same bytes.
        self._w = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self._w.write_table(table, row_group_size=max(len(table), 1))

    def close(self) -> None:
        self._w.close()


# Built on first use: a pyarrow array built at import loads pandas (~0.2 s of every CLI start).
@cache
def _two_digits() -> pa.Array:
    return pa.array([f"{i:02d}" for i in range(60)])


def iso(ts: pa.Array, ms: bool = False) -> pa.Array:
    """ISO 8601 UTC with a Z (the X API writes milliseconds: ``.000Z``).

    Built from a pool of day strings and two-digit strings: several times faster than
    strftime on millions of rows.
    """
    if isinstance(ts, pa.ChunkedArray):
        ts = ts.combine_chunks()
    sec = pc.cast(pc.cast(ts, pa.timestamp("s", tz="UTC")), pa.int64()).to_numpy(
        zero_copy_only=False
    )
    day, tod = np.divmod(sec, 86_400)
    days, inv = np.unique(day, return_inverse=True)
    names = np.datetime_as_string(days.astype("datetime64[D]"))
    date = pc.take(pa.array(names.tolist()), pa.array(inv))
    hh, rest = np.divmod(tod, 3600)
    mm, ss = np.divmod(rest, 60)
    two = [pc.take(_two_digits(), pa.array(x)) for x in (hh, mm, ss)]
    return J(date, "T", two[0], ":", two[1], ":", two[2], ".000Z" if ms else "Z", "")


def _flat(table: pa.Table) -> pa.Table:
    """Lists as space-separated strings and times as ISO text: the CSV convention."""
    cols = []
    for name in table.column_names:
        col = table[name].combine_chunks()
        if pa.types.is_list(col.type):
            col = pc.binary_join(col, " ")
        elif pa.types.is_timestamp(col.type):
            col = iso(col)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


class _Csv:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._path, self._schema = path, schema
        self._w: pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        flat = _flat(table)
        if self._w is None:
            self._w = pacsv.CSVWriter(self._path, flat.schema)
        self._w.write_table(flat)

    def close(self) -> None:
        if self._w is None:  # no rows: still write the header
            empty = _flat(self._schema.empty_table())
            self._w = pacsv.CSVWriter(self._path, empty.schema)
        self._w.close()


def jstr(a: pa.Array) -> pa.Array:
    """JSON string literals (``null`` for nulls). Our text has no other control characters."""
    for raw, esc in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        a = pc.replace_substring(a, raw, esc)
    return pc.fill_null(J('"', a, '"', ""), "null")


def jlist(a: pa.Array) -> pa.Array:
    """JSON arrays of strings from a list<string> column."""
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    lengths = pc.list_value_length(a).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    items = pa.ListArray.from_arrays(pa.array(offsets), jstr(pc.list_flatten(a)))
    return J("[", pc.binary_join(items, ","), "]", "")


def jnum(a: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(a, np.int64)), pa.string())


def json_rows(table: pa.Table) -> pa.Array:
    """One JSON object per row, keys in column order."""
    parts: list[pa.Array | str] = []
    for i, name in enumerate(table.column_names):
        col = table[name].combine_chunks()
        if pa.types.is_list(col.type):
            val = jlist(col)
        elif pa.types.is_timestamp(col.type):
            val = jstr(iso(col))
        elif pa.types.is_string(col.type):
            val = jstr(col)
        else:  # numbers and booleans print as JSON already
            val = pc.fill_null(pc.cast(col, pa.string()), "null")
        parts += [("{" if i == 0 else ",") + f'"{name}":', val]
    return J(*parts, "}", "")


def write_lines(f: BinaryIO, lines: pa.Array, *, terminated: bool = False) -> None:
    """Write strings as lines straight from the Arrow buffer (no Python string per row).

    ``terminated``: the strings already end in a newline (saves a copy of big pages).
    """
    if len(lines) == 0:
        return
    arr = lines if terminated else J(lines, "\n", "")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, offset=arr.offset * 4)
    f.write(memoryview(arr.buffers()[2])[offsets[0] : offsets[-1]])


class _Jsonl:
    def __init__(self, path: Path) -> None:
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, table: pa.Table) -> None:
        write_lines(self._f, json_rows(table))

    def close(self) -> None:
        self._f.close()


def write_table(path: Path, fmt: str, table: pa.Table) -> None:
    w = open_writer(path, fmt, table.schema)
    w.write(table)
    w.close()
