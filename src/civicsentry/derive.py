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
import pyarrow as pa

from .normalise import text_keys

_UDF = "cs_text_key"


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.create_function(_UDF, text_keys, ["VARCHAR"], "VARCHAR", type="arrow")
    except duckdb.NotImplementedException:
        pass  # already registered on this connection
    except duckdb.CatalogException:
        pass


def actions_sql(source: str = "posts", where: str = "true", text_key: str = f"{_UDF}(text)") -> str:
    """The INSERT deriving actions from the posts of table ``source`` selected by ``where``.
    ``text_key`` is the SQL giving a post's exact-text key (a precomputed column, or the
    function that computes it)."""
    return "INSERT INTO actions " + actions_select(source, where, text_key)


def actions_select(
    source: str = "posts", where: str = "true", text_key: str = f"{_UDF}(text)"
) -> str:
    """The SELECT of ``actions_sql``: actions rows in the table's column order."""
    return f"""
    WITH p AS (SELECT * FROM {source} WHERE {where}),
    orig AS (SELECT * FROM p WHERE kind <> 'repost')
    SELECT account_id, kind, parent_post_id, created_at, post_id
      FROM p WHERE kind IN ('repost', 'reply', 'quote') AND parent_post_id IS NOT NULL
    UNION ALL
    SELECT account_id, 'url', u, created_at, post_id
      FROM (SELECT *, unnest(list_distinct(urls)) AS u FROM orig) WHERE u IS NOT NULL
    UNION ALL
    SELECT account_id, 'domain', d, created_at, post_id
      FROM (SELECT *, unnest(list_distinct(domains)) AS d FROM orig) WHERE d IS NOT NULL
    UNION ALL
    SELECT account_id, 'hashtag', h, created_at, post_id
      FROM (SELECT *, unnest(list_distinct(hashtags)) AS h FROM orig) WHERE h IS NOT NULL
    UNION ALL
    SELECT account_id, 'text', md5(k), created_at, post_id
      FROM (SELECT *, {text_key} AS k FROM orig WHERE text IS NOT NULL) WHERE k <> ''
    UNION ALL
    SELECT account_id, 'post', 'any', created_at, post_id FROM p
    """


def derive_actions(
    con: duckdb.DuckDBPyConnection,
    source: str = "posts",
    where: str = "true",
    text_key_column: str | None = None,
) -> int:
    """Insert the actions of the posts in table ``source`` (canonical post columns)
    selected by ``where``; returns how many. Ingest passes ``text_key_column``, computed
    while reading (off DuckDB's critical path); otherwise keys are computed here."""
    if text_key_column:
        sql = actions_sql(source, where, text_key_column)
    else:
        register_functions(con)
        sql = actions_sql(source, where)
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows else 0


def derive_actions_arrow(
    con: duckdb.DuckDBPyConnection, posts: pa.Table, into: str = "actions"
) -> None:
    """Insert the actions of ``posts`` (an Arrow table of canonical post columns plus a
    precomputed ``text_key``) into table ``into``. Reads the table through a relation,
    not a registered view, for the reason given in ``service.ingest.insert_arrow``."""
    con.from_arrow(posts).query("_new", _ONE_PASS).insert_into(into)


def _objects(column: str, kind: str) -> str:
    return (
        f"list_transform(list_filter(list_distinct({column}), lambda x: x IS NOT NULL), "
        f"lambda x: {{'t': '{kind}', 'o': x}})"
    )


# The actions of ``actions_select`` in one scan: each post's (type, object) pairs are built
# as one list and unnested once, instead of six scans joined by UNION ALL.
_ONE_PASS = f"""
SELECT account_id, a.t, a.o, created_at, post_id FROM (
    SELECT account_id, created_at, post_id, unnest(list_concat(
        CASE WHEN kind IN ('repost', 'reply', 'quote') AND parent_post_id IS NOT NULL
             THEN [{{'t': kind, 'o': parent_post_id}}] ELSE [] END,
        CASE WHEN kind <> 'repost' THEN list_concat(
            {_objects("urls", "url")}, {_objects("domains", "domain")},
            {_objects("hashtags", "hashtag")},
            CASE WHEN text IS NOT NULL AND text_key <> ''
                 THEN [{{'t': 'text', 'o': md5(text_key)}}] ELSE [] END) ELSE [] END,
        [{{'t': 'post', 'o': 'any'}}])) AS a
    FROM _new)
"""
