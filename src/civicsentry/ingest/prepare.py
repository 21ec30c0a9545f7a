"""Turn an adapter's raw batch into Arrow tables ready to store: URLs, domains, hashtags
and mentions normalised (each distinct value once, so a batch of retweets of the same
link costs one normalisation), missing languages detected, bad values flagged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..normalise import (
    detect_language,
    normalise_handle,
    normalise_hashtag,
    normalise_url,
    registered_domains,
    text_keys,
)
from .base import RAW_ACCOUNTS, RAW_POSTS, truncate


def to_table(rows: list[dict[str, Any]] | pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows (dicts) or a partial table → a table with exactly ``schema``'s columns.

    A row whose values do not fit the schema (an adapter bug or a hostile record) is not
    allowed to sink the batch: it is kept with ``problem`` set, so it is quarantined."""
    if isinstance(rows, pa.Table):
        cols = []
        for f in schema:
            if f.name in rows.column_names:
                cols.append(rows.column(f.name).cast(f.type))
            else:
                cols.append(pa.nulls(rows.num_rows, f.type))
        return pa.Table.from_arrays(cols, schema=schema)
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return pa.Table.from_pylist([_fit_row(r, schema) for r in rows], schema=schema)


def _fit_row(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    try:
        pa.Table.from_pylist([row], schema=schema)
        return row
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as e:
        if "problem" not in schema.names:
            return {k: row.get(k) for k in ("platform", "account_id")}
        keep = {
            k: row.get(k)
            for k in ("position", "platform", "post_id")
            if isinstance(row.get(k), int | str)
        }
        return {**keep, "problem": f"field of the wrong type: {e}", "raw": truncate(repr(row))}


def _map_list(
    col: pa.ChunkedArray | pa.Array,
    fn: Callable[[str], str | None],
    *then: Callable[[pa.Array], pa.Array],
) -> list[pa.Array]:
    """Apply ``fn`` to every string inside a list<string> column, once per distinct
    value, and each vectorised ``then`` to ``fn``'s distinct results; one output column
    per function. Values mapped to None stay as nulls inside the lists (the store drops
    them)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return [arr for _ in range(1 + len(then))]
    encoded = pc.dictionary_encode(arr.values)  # one hashing pass: distinct values, where
    distinct = encoded.dictionary.to_pylist()
    mapped = pa.array([None if v is None else fn(v) for v in distinct], pa.string())
    return [
        pa.ListArray.from_arrays(arr.offsets, m.take(encoded.indices), mask=arr.is_null())
        for m in (mapped, *(f(mapped) for f in then))
    ]


def prepare_posts(rows: list[dict[str, Any]] | pa.Table, *, detect_lang: bool = True) -> pa.Table:
    table = to_table(rows, RAW_POSTS)
    urls, domains = _map_list(table.column("urls"), normalise_url, registered_domains)
    table = table.set_column(table.schema.get_field_index("urls"), "urls", urls)
    table = table.append_column("domains", domains)
    for name, fn in (("hashtags", normalise_hashtag), ("mentions", normalise_handle)):
        table = table.set_column(
            table.schema.get_field_index(name), name, _map_list(table.column(name), fn)[0]
        )
    if detect_lang:
        table = _fill_languages(table)
    # Keyed here, in the reading thread, so that DuckDB's derive step does no Python.
    return table.append_column("text_key", text_keys(table.column("text")))


def _fill_languages(table: pa.Table) -> pa.Table:
    lang = table.column("lang")
    missing = pc.and_(pc.is_null(lang), pc.is_valid(table.column("text")))
    if not pc.any(missing).as_py():
        return table
    texts = table.column("text").to_pylist()
    flags = missing.to_pylist()
    filled = [
        detect_language(t) if need else given
        for t, need, given in zip(texts, flags, lang.to_pylist(), strict=True)
    ]
    return table.set_column(
        table.schema.get_field_index("lang"), "lang", pa.array(filled, pa.string())
    )


def prepare_accounts(rows: list[dict[str, Any]] | pa.Table) -> pa.Table:
    return to_table(rows, RAW_ACCOUNTS)
