"""Schema migrations, one registered step per version.

A workspace records its schema version in ``meta``. Opening an older workspace runs
each step from its version up to ``schema.SCHEMA_VERSION`` inside one transaction.
Add a step with ``@step(n)``: it upgrades a workspace from version n - 1 to n.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from . import schema
from .errors import SchemaVersionMismatch

Migration = Callable[[duckdb.DuckDBPyConnection], None]
STEPS: dict[int, Migration] = {}


def step(version: int) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        STEPS[version] = fn
        return fn

    return register


def migrate(con: duckdb.DuckDBPyConnection, current: int, target: int) -> None:
    """Upgrade from ``current`` to ``target``: per version, create the tables it
    introduced, then run its registered step, if any."""
    for version in range(current + 1, target + 1):
        new_tables = [t for t in schema.TABLES if t.since == version]
        if version not in STEPS and not new_tables:
            raise SchemaVersionMismatch(
                f"No migration to schema {version}; this workspace cannot be upgraded by this "
                "version of civicsentry."
            )
        for table in new_tables:
            con.execute(table.ddl())
        if version in STEPS:
            STEPS[version](con)


# Schema 1 is the first; a workspace is created at the current version directly, so
# there is no step 1. Future steps go here, e.g.:
#
# @step(2)
# def _add_posts_metrics(con):
#     con.execute("ALTER TABLE posts ADD COLUMN IF NOT EXISTS likes BIGINT")


@step(3)
def _index_posts_by_account(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3: an index on ``posts.account_id``. The dashboard's account view and
    ``/api/posts?account_id=`` read one account's posts; without it every such read
    scans the whole table (docs/benchmarks.md, `web`, has the measurements)."""
    for ddl in schema.POSTS.index_ddl():
        con.execute(ddl)


@step(4)
def _store_cluster_edges(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 4: ``cluster_edges`` (created before this step) filled for every stored
    clustering, so a cluster's network and delay histogram stop scanning the run's
    whole ``coordination_edges``; and an index on ``account_signals.account_id`` for
    the account view (docs/benchmarks.md, `web`, has the measurements)."""
    from .detect.cluster_stats import cluster_edges_sql

    # The network each detection run was clustered on: that of its latest clustering.
    clustered = con.execute(
        """SELECT CAST(json_extract(params, '$.detection_run_id') AS BIGINT) AS rid,
                  arg_max(coalesce(json_extract_string(params, '$.network'), 'multi'), run_id)
           FROM runs WHERE step = 'cluster' GROUP BY ALL HAVING rid IS NOT NULL ORDER BY rid"""
    ).fetchall()
    con.execute("DELETE FROM cluster_edges")
    for rid, network in clustered:
        con.execute(f"INSERT INTO cluster_edges {cluster_edges_sql(int(rid), str(network))}")
    for ddl in schema.ACCOUNT_SIGNALS_TABLE.index_ddl():
        con.execute(ddl)


@step(5)
def _store_post_urls_uncompressed(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 5: ``posts.urls`` stored uncompressed. Fetching one post's list through
    the account_id index decoded the dictionary of its row group's whole DICT_FSST
    segment (~0.2 ms a post, 7-8 ms of the account view's ~40 at 10M posts); DuckDB
    cannot change a column's storage in place, so the table is rewritten, rows in their
    order, and its index built again (docs/benchmarks.md, `web`, has the figures)."""
    _rewrite(con, schema.POSTS, "posts_before_schema_5")


@step(6)
def _store_account_signals_as_alp(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 6: the DOUBLE columns of ``account_signals`` stored as ALP. DuckDB chose
    RLE for 50 of them, and fetching one row of an RLE column through the account_id
    index walks its runs from the segment's start: the account view's one row of 90
    columns cost ~5 ms, ~2.7 ms as ALP (docs/benchmarks.md, `web`). Rewritten as for
    schema 5."""
    _rewrite(con, schema.ACCOUNT_SIGNALS_TABLE, "account_signals_before_schema_6")


@step(7)
def _store_cnt_edges_narrow(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 7: ``coordination_edges`` becomes a view. Its rows stay where they are, in
    the table renamed ``edges_wide``; new cnt runs of the DuckDB engine store their edges
    in ``edges_cnt`` and ``edge_accounts`` (created before this step), and the view shows
    both with the same columns (storing the 8.6M cnt edges of 1M posts took ~5-6 s wide
    with account names, ~2 s narrow with integer account keys)."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = ?",
        [schema.COORDINATION_EDGES.name],
    ).fetchall()
    if kind and kind[0][0] == "BASE TABLE":
        con.execute(
            f"ALTER TABLE {schema.COORDINATION_EDGES.name} RENAME TO {schema.EDGES_WIDE.name}"
        )
    else:  # a workspace from before the table existed (the detect service made it then)
        con.execute(schema.EDGES_WIDE.ddl())
    con.execute(schema.COORDINATION_EDGES.ddl())


def _rewrite(con: duckdb.DuckDBPyConnection, table: schema.Table, old: str) -> None:
    """Store ``table`` again as its ``ddl`` now says (DuckDB cannot change a column's
    storage in place): renamed to ``old``, created anew, rows copied in their order,
    ``old`` dropped, indexes built again."""
    for name in table.index_names():  # an index would block the rename
        con.execute(f"DROP INDEX IF EXISTS {name}")
    con.execute(f"ALTER TABLE {table.name} RENAME TO {old}")
    create, *indexes = table.ddl().split(";\n")
    con.execute(create)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    keep = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = true")  # the rows keep their order
    try:
        con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {old}")
    finally:
        con.execute(f"SET preserve_insertion_order = {bool(keep and keep[0])}")
    con.execute(f"DROP TABLE {old}")
    for ddl in indexes:
        con.execute(ddl)
