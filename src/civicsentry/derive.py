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


def derive_actions(con: duckdb.DuckDBPyConnection, posts: str, into: str = "actions") -> int:
    """Insert the actions of table ``posts`` (canonical post columns plus the
    ``text_key`` computed at ingest) into table ``into``; returns how many."""
    sql = _ONE_PASS.replace("__POSTS__", posts)
    return con.execute(f"INSERT INTO {into} {sql}").fetchone()[0]


def _objects(column: str, kind: str) -> str:
    return (
        f"list_transform(list_filter(list_distinct({column}), lambda x: x IS NOT NULL), "
        f"lambda x: {{'t': '{kind}', 'o': x}})"
    )


# The table above as one scan: each post's (type, object) pairs are built as one list and
# unnested once. `text_key` is computed while reading (``normalise.text_keys``).
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
    FROM __POSTS__)
"""
