"""The vectorised reader of twarc2 response pages: DuckDB's JSON functions (C++) map a
block of pages to the same raw rows ``twitter_v2.post``/``account`` give, without one
Python object per tweet.

Only the common shape takes this path: a page (no top-level ``id``) whose ``data`` is a
non-empty list of tweets with numeric string ids, ISO 8601 ``Z`` times and string
fields where strings are expected. Any other line — a flattened tweet, an error or
users page, a value of an unexpected type, anything the parsers might read differently
(``null`` values, trailing commas, NaN, huge numbers, deep nesting, escaped surrogates)
— is handed back to the Python adapter, which defines the semantics; a line that takes
either path gives the same rows.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

# Lines the JSON parsers may read differently (DuckDB's is more lenient than orjson:
# trailing commas, NaN, deep nesting, escaped lone surrogates), or where a JSON null would
# look like a missing key: the Python adapter reads those. Each test has a literal prefix,
# which keeps it a fast substring search.
_SUSPECT = " OR ".join(
    [
        "contains(line, 'null')",
        "contains(line, 'NaN')",
        "contains(line, 'Infinity')",
        "contains(line, '[[[[[[[[[[[[[[[[')",
        r"regexp_matches(line, ',\s*[\]}]')",
        r"regexp_matches(line, '\\u[dD][89abAB]')",
        r"regexp_matches(line, '\[\s+\[')",
        r"""regexp_matches(line, '\{(\s*"[^"]*"\s*:\s*\{){15}')""",
    ]
)

# Leaves are VARCHAR: json_transform gives a string's value and any other value's JSON text
# (numbers, booleans, objects), which the checks below tell apart where it matters. The
# two leaves where a string and another value give the same text are JSON (their JSON text).
_TWEET = (
    '{"id":"VARCHAR","text":"VARCHAR","author_id":"VARCHAR","author":"VARCHAR",'
    '"username":"VARCHAR","created_at":"VARCHAR","lang":"VARCHAR",'
    '"referenced_tweets":[{"type":"VARCHAR","id":"VARCHAR"}],'
    '"entities":{"urls":[{"unwound_url":"VARCHAR","expanded_url":"VARCHAR","url":"VARCHAR",'
    '"media_key":"VARCHAR"}],"hashtags":[{"tag":"VARCHAR"}],"mentions":[{"username":"VARCHAR"}]}}'
)
_USER = (
    '{"id":"JSON","username":"VARCHAR","name":"VARCHAR","created_at":"VARCHAR",'
    '"verified":"JSON","description":"VARCHAR","location":"VARCHAR",'
    '"public_metrics":{"followers_count":"VARCHAR","following_count":"VARCHAR",'
    '"tweet_count":"VARCHAR"}}'
)
_PAGE = f'{{"id":"VARCHAR","data":[{_TWEET}],"includes":{{"users":[{_USER}],"tweets":[{_TWEET}]}}}}'

# What Python's str.isspace() calls whitespace, for twitter_common.text().
_NOT_SPACE = (
    r"[^\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]"
)
_TIME = r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z"


def _str(x: str) -> str:
    """A JSON leaf (its JSON text) as a string when it is one (NULL otherwise)."""
    return (
        f"(CASE WHEN starts_with({x}, '\"') THEN CASE WHEN contains({x}, '\\') "
        f"THEN {x} ->> '$' ELSE {x}[2:-2] END END)"
    )


def _strlike(x: str) -> str:
    """A VARCHAR leaf that was missing or a JSON string: another value's text is JSON (a
    string that reads as JSON, such as "5", is sent to Python too)."""
    return f"({x} IS NULL OR starts_with({x}, '\"') OR NOT json_valid({x}))"


def _id_ok(x: str) -> str:
    # A JSON string of digits, or an integer: `twitter_common.ident` gives the same for both.
    return f"regexp_full_match({x}, '[0-9]+')"


def _time_ok(x: str) -> str:
    # Missing, or a time both Python's fromisoformat and DuckDB read the same way.
    return (
        f"({x} IS NULL OR (regexp_full_match({x}, '{_TIME}')"
        f" AND TRY_CAST({x} AS TIMESTAMPTZ) IS NOT NULL))"
    )


def _text(v: str) -> str:
    return f"(CASE WHEN regexp_matches({v}, '{_NOT_SPACE}') THEN {v} END)"


def _count_ok(x: str) -> str:
    return (
        f"({x} IS NULL OR (regexp_full_match({x}, '-?[0-9]+') "
        f"AND TRY_CAST({x} AS BIGINT) IS NOT NULL))"
    )


def _all(items: str, var: str, cond: str) -> str:
    return f"coalesce(list_bool_and(list_transform({items}, lambda {var}: {cond})), true)"


def _tweet_ok(t: str) -> str:
    refs = f"list_filter({t}.referenced_tweets, lambda r: r.type IN ('retweeted', 'quoted', 'replied_to'))"
    e = f"{t}.entities"
    url_fields = ("unwound_url", "expanded_url", "url", "media_key")
    urls_ok = " AND ".join(_strlike(f"u.{f}") for f in url_fields)
    return f"""(
        {_id_ok(f"{t}.id")} AND {_id_ok(f"{t}.author_id")} AND {t}.author IS NULL
        AND NOT ({t}.username IS NOT NULL AND {t}.text IS NULL)
        AND {_time_ok(f"{t}.created_at")} AND {_strlike(f"{t}.text")}
        AND {_strlike(f"{t}.lang")}
        AND {_all(refs, "r", _id_ok("r.id"))} AND {_all(f"{e}.urls", "u", urls_ok)}
        AND {_all(f"{e}.hashtags", "h", _strlike("h.tag"))}
        AND {_all(f"{e}.mentions", "m", _strlike("m.username"))})"""


def _user_ok(u: str) -> str:
    m = f"{u}.public_metrics"
    strings = " AND ".join(
        _strlike(f"{u}.{f}") for f in ("username", "name", "description", "location")
    )
    return f"""(NOT coalesce(starts_with({u}.id, '"'), false) OR (regexp_full_match({u}.id, '"[0-9]+"')
        AND {_time_ok(f"{u}.created_at")} AND {strings}
        AND {_count_ok(f"{m}.followers_count")} AND {_count_ok(f"{m}.following_count")}
        AND {_count_ok(f"{m}.tweet_count")}))"""


def _last_ref(t: str, kind: str) -> str:
    return f"list_last(list_filter({t}.referenced_tweets, lambda r: r.type = '{kind}')).id"


def _count(x: str) -> str:
    return f"TRY_CAST({x} AS BIGINT)"


def _post(t: str) -> str:
    """The raw post fields of tweet ``t`` (as ``twitter_v2.post`` maps them)."""
    url = (
        "CASE WHEN u.unwound_url <> '' THEN u.unwound_url "
        "WHEN u.expanded_url <> '' THEN u.expanded_url ELSE u.url END"
    )
    e = f"{t}.entities"
    return f"""struct_pack(
        post_id := {t}.id, account_id := {t}.author_id,
        created_at := TRY_CAST({t}.created_at AS TIMESTAMPTZ),
        kind := CASE WHEN {_last_ref(t, "retweeted")} IS NOT NULL THEN 'repost'
             WHEN {_last_ref(t, "quoted")} IS NOT NULL THEN 'quote'
             WHEN {_last_ref(t, "replied_to")} IS NOT NULL THEN 'reply' ELSE 'post' END,
        parent_post_id := coalesce({_last_ref(t, "retweeted")}, {_last_ref(t, "quoted")},
                                   {_last_ref(t, "replied_to")}),
        text := {t}.text,
        lang := CASE WHEN {t}.lang NOT IN ('und', '') THEN {t}.lang END,
        urls := coalesce(list_filter(list_transform(
            list_filter({e}.urls, lambda u: coalesce(u.media_key, '') = ''),
            lambda u: {url}), lambda x: x IS NOT NULL), []),
        hashtags := coalesce(list_filter(list_transform({e}.hashtags, lambda h: h.tag),
            lambda x: x IS NOT NULL), []),
        mentions := coalesce(list_filter(list_transform({e}.mentions, lambda m: m.username),
            lambda x: x IS NOT NULL), []))"""


def _account(u: str, i: str) -> str:
    """The raw account fields of user ``u`` (as ``twitter_v2.account`` maps them)."""
    m = f"{u}.public_metrics"
    return f"""struct_pack(
        idx := {i}, is_str := coalesce(starts_with({u}.id, '"'), false),
        account_id := {u}.id[2:-2], username := {u}.username,
        handle := {_text(f"{u}.username")}, display_name := {_text(f"{u}.name")},
        created_at := TRY_CAST({u}.created_at AS TIMESTAMPTZ),
        followers := {_count(f"{m}.followers_count")},
        following := {_count(f"{m}.following_count")},
        posts_count := {_count(f"{m}.tweet_count")},
        verified := CASE {u}.verified WHEN 'true' THEN true WHEN 'false' THEN false END,
        description := {_text(f"{u}.description")},
        location := {_text(f"{u}.location")})"""


# The block's lines parsed once; then its tweets and users unnested and mapped with plain
# (vectorised) expressions, each row flagged with whether the Python adapter would read it
# the same way. A line is taken only when all its rows are.
_PAGES = f"""
CREATE OR REPLACE TEMP TABLE _pages AS
SELECT lineno, CASE WHEN NOT ({_SUSPECT}) THEN @wrap(json_transform(line, '{_PAGE}')) END AS p
FROM (SELECT lineno, @line AS line FROM _lines)
"""

_TW = f"""
CREATE OR REPLACE TEMP TABLE _tw AS
SELECT lineno, coalesce({_tweet_ok("t")}, false) AS ok, {_post("t")} AS t
FROM (SELECT lineno, unnest(list_concat(p.data, coalesce(p.includes.tweets, []))) AS t
      FROM _pages WHERE p IS NOT NULL)
"""

_US = f"""
CREATE OR REPLACE TEMP TABLE _us AS
SELECT lineno, coalesce({_user_ok("u")}, false) AS ok, {_account("u", "idx")} AS u
FROM (SELECT lineno, unnest(p.includes.users) AS u, generate_subscripts(p.includes.users, 1) AS idx
      FROM _pages WHERE p IS NOT NULL)
"""

_OK = """
CREATE OR REPLACE TEMP TABLE _ok AS
SELECT lineno FROM _pages
WHERE p.id IS NULL AND len(p.data) > 0
  AND lineno NOT IN (SELECT lineno FROM _tw WHERE NOT ok)
  AND lineno NOT IN (SELECT lineno FROM _us WHERE NOT ok)
"""

_TWEETS = f"""
WITH tw AS (SELECT lineno, t FROM _tw SEMI JOIN _ok USING (lineno)),
users AS (
    SELECT lineno, u.account_id AS id, (arg_max({{'u': u.username}}, u.idx)).u AS username
    FROM _us SEMI JOIN _ok USING (lineno) WHERE u.is_str
    GROUP BY lineno, u.account_id
)
SELECT tw.lineno AS position, 'x' AS platform, t.post_id, t.account_id, t.created_at, t.kind,
    t.parent_post_id, t.text, t.lang, t.urls, t.hashtags, t.mentions,
    {_text("users.username")} AS handle
FROM tw LEFT JOIN users ON users.lineno = tw.lineno AND users.id = t.account_id
"""

_ACCOUNTS = """
SELECT 'x' AS platform, u.account_id, u.handle, u.display_name, u.created_at, u.followers,
    u.following, u.posts_count, u.verified, u.description, u.location
FROM _us SEMI JOIN _ok USING (lineno)
WHERE u.is_str
QUALIFY row_number() OVER (PARTITION BY u.account_id ORDER BY lineno DESC, u.idx DESC) = 1
"""


class PageParser:
    """Parses blocks of page lines on a private in-memory DuckDB connection."""

    def __init__(self) -> None:
        self.con = duckdb.connect(config={"threads": 2})
        self.con.execute("SET TimeZone = 'UTC'")

    def parse(
        self, linenos: list[int], lines: list[bytes], platform: str
    ) -> tuple[pa.Table, pa.Table, set[int]]:
        """(posts, accounts, line numbers the Python adapter must read)."""
        data = pa.array(lines, pa.binary())
        try:  # valid UTF-8 (the usual case): no per-line decoding in SQL
            data, line, wrap = data.cast(pa.string()), "line", ""
        except pa.ArrowInvalid:
            line, wrap = "try(decode(line))", "try"
        block = pa.table({"lineno": pa.array(linenos, pa.int64()), "line": data})
        try:
            self._run(block, line, wrap)
        except duckdb.InvalidInputException:  # a line that is not JSON: parse them one by one
            self._run(block, line, "try")
        taken = self.con.execute("SELECT lineno FROM _ok").fetchnumpy()["lineno"]
        rejected = set(linenos) - set(taken.tolist())
        posts = self.con.sql(_TWEETS).to_arrow_table()
        accounts = self.con.sql(_ACCOUNTS).to_arrow_table()
        for table in ("_pages", "_tw", "_us", "_ok"):
            self.con.execute(f"DROP TABLE {table}")
        if platform != "x":
            posts = posts.set_column(
                1, "platform", pa.array([platform] * posts.num_rows, pa.string())
            )
            accounts = accounts.set_column(
                0, "platform", pa.array([platform] * accounts.num_rows, pa.string())
            )
        return posts, accounts, rejected

    def _run(self, block: pa.Table, line: str, wrap: str) -> None:
        self.con.from_arrow(block).query(
            "_lines", _PAGES.replace("@line", line).replace("@wrap", wrap)
        ).fetchall()
        for sql in (_TW, _US, _OK):
            self.con.execute(sql)

    def close(self) -> None:
        self.con.close()
