"""Derive ``actions`` from ``posts``: every post becomes zero or more
(account, object type, object id, time, post) rows — what coordination is computed on.

| object_type | object_id | from |
| --- | --- | --- |
| repost, reply, quote | the parent post id | posts of that kind with a parent |
| url | each distinct normalised URL | original posts, replies and quotes |
| domain | each distinct registered domain | same |
| hashtag | each distinct hashtag | same |
| text | md5 of the exact-text key (``normalise.text_key``) | same, when the key is not empty |
| post | ``any`` (co-posting: acting at the same time at all) | every post |

A repost carries its parent's text, links and hashtags; counting them again would
make every co-repost also a co-link, co-hashtag and co-text, so reposts yield only
their ``repost`` (and ``post``) action.
"""

from __future__ import annotations

import duckdb

from .detect.dialect import DUCKDB, Dialect


def derive_actions(con: duckdb.DuckDBPyConnection, posts: str, into: str = "actions") -> int:
    """Insert the actions of table ``posts`` (canonical post columns plus the
    ``text_key`` computed at ingest) into table ``into``; returns how many."""
    return con.execute(f"INSERT INTO {into} {actions_sql(posts)}").fetchone()[0]


def actions_sql(source: str, dialect: Dialect = DUCKDB) -> str:
    """The table above as one scan of ``source`` (canonical post columns plus
    ``text_key``): each post's (type, object) pairs are built as one list and unnested
    once. Rendered per engine (the Spark engine derives from Parquet posts with it)."""
    d = dialect
    none = d.list_of()

    def objects(column: str, kind: str) -> str:
        return d.list_distinct_map(column, "x", d.struct(t=f"'{kind}'", o="x"))

    parent = d.list_of(d.struct(t="kind", o="parent_post_id"))
    text = d.list_of(d.struct(t="'text'", o="md5(text_key)"))
    content = d.list_concat(
        objects("urls", "url"),
        objects("domains", "domain"),
        objects("hashtags", "hashtag"),
        f"CASE WHEN text IS NOT NULL AND text_key <> '' THEN {text} ELSE {none} END",
    )
    every = d.list_concat(
        f"CASE WHEN kind IN ('repost', 'reply', 'quote') AND parent_post_id IS NOT NULL "
        f"THEN {parent} ELSE {none} END",
        f"CASE WHEN kind <> 'repost' THEN {content} ELSE {none} END",
        d.list_of(d.struct(t="'post'", o="'any'")),
    )
    return f"""
SELECT account_id, a.t AS object_type, a.o AS object_id, created_at AS t, post_id FROM (
    SELECT account_id, created_at, post_id, {d.unnest(every)} AS a
    FROM {source})
"""


# `text_key` is computed while reading (``normalise.text_keys``).
_ONE_PASS = actions_sql("_new")
