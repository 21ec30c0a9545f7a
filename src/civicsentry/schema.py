"""The canonical tables: their names, columns and types, defined here and nowhere else.

The names are the contract (../docs/schema.md is generated from this module): later
versions add columns, never rename them. Bump ``SCHEMA_VERSION`` and add a step to
``civicsentry.migrations`` whenever a table changes.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1

#: Kinds of post. A repost re-shares ``parent_post_id`` without new text; a quote
#: re-shares it with text; a reply answers it.
POST_KINDS = ("post", "repost", "reply", "quote")

#: Object types of ``actions`` derived at ingest (``simtext`` and ``media`` come from
#: the coordination engine, which adds them to ``actions`` with the same columns).
ACTION_TYPES = ("repost", "reply", "quote", "url", "domain", "hashtag", "text", "post")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    doc: str
    primary_key: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = []
        for c in self.columns:
            spec = f"{c.name} {c.type}"
            if not c.nullable:
                spec += " NOT NULL"
            if c.name == self.primary_key:
                spec += " PRIMARY KEY"
            cols.append(spec)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"


def _c(name: str, type_: str, doc: str = "", *, nullable: bool = True) -> Column:
    return Column(name, type_, nullable, doc)


POSTS = Table(
    "posts",
    (
        _c("post_id", "VARCHAR", "platform-qualified id, e.g. `x:1234`", nullable=False),
        _c(
            "platform",
            "VARCHAR",
            "platform code: x, facebook, instagram, telegram, ...",
            nullable=False,
        ),
        _c("account_id", "VARCHAR", "platform-qualified id of the author", nullable=False),
        _c("created_at", "TIMESTAMPTZ", "when it was posted, UTC", nullable=False),
        _c("kind", "VARCHAR", "post, repost, reply or quote", nullable=False),
        _c(
            "parent_post_id", "VARCHAR", "platform-qualified id of the reposted/replied/quoted post"
        ),
        _c("text", "VARCHAR", "the text as given (hostile content: escape on display)"),
        _c("lang", "VARCHAR", "language code, from the source or detected offline"),
        _c("urls", "VARCHAR[]", "normalised URLs (tracking parameters removed)"),
        _c("domains", "VARCHAR[]", "registered domains of `urls` (public-suffix aware)"),
        _c("hashtags", "VARCHAR[]", "NFKC-normalised, casefolded, without `#`"),
        _c("mentions", "VARCHAR[]", "mentioned handles, casefolded, without `@`"),
        _c("media_hashes", "VARCHAR[]", "perceptual hashes of attached media, when given"),
        _c("source", "VARCHAR", "file (or stream) and record position it came from"),
        _c("ingest_batch", "BIGINT", "the `ingest_log` run that stored it"),
    ),
    "One row per post; `post_id` is unique.",
)

ACCOUNTS = Table(
    "accounts",
    (
        _c("account_id", "VARCHAR", "platform-qualified id", nullable=False),
        _c("platform", "VARCHAR", nullable=False),
        _c("handle", "VARCHAR", "screen name / username"),
        _c("display_name", "VARCHAR"),
        _c("created_at", "TIMESTAMPTZ", "account creation time, when the source gives it"),
        _c("followers", "BIGINT"),
        _c("following", "BIGINT"),
        _c("posts_count", "BIGINT", "the platform's own count, not ours"),
        _c("verified", "BOOLEAN"),
        _c("description", "VARCHAR"),
        _c("location", "VARCHAR"),
        _c("first_seen", "TIMESTAMPTZ", "earliest post of the account in this workspace"),
        _c("last_seen", "TIMESTAMPTZ", "latest post of the account in this workspace"),
    ),
    "One row per account; profile fields are whatever the sources gave (newest non-null wins).",
    primary_key="account_id",
)

ACTIONS = Table(
    "actions",
    (
        _c("account_id", "VARCHAR", nullable=False),
        _c(
            "object_type",
            "VARCHAR",
            "repost, reply, quote, url, domain, hashtag, text, post, ...",
            nullable=False,
        ),
        _c(
            "object_id",
            "VARCHAR",
            "what was acted on (a post id, a URL, a text key, ...)",
            nullable=False,
        ),
        _c("t", "TIMESTAMPTZ", nullable=False),
        _c("post_id", "VARCHAR", "the post that performed the action", nullable=False),
    ),
    "What coordination is computed over: account performed an action on an object at t.",
)

QUARANTINE = Table(
    "quarantine",
    (
        _c("source", "VARCHAR", "file (or stream)", nullable=False),
        _c("position", "BIGINT", "1-based line, row or element number in the source"),
        _c("reason", "VARCHAR", "why the record was not stored", nullable=False),
        _c("raw", "VARCHAR", "the record as read, truncated to 2,000 characters"),
        _c("ingest_batch", "BIGINT"),
    ),
    "Records that could not be stored, with where they were and why.",
)

INGEST_LOG = Table(
    "ingest_log",
    (
        _c("ingest_batch", "BIGINT", nullable=False),
        _c("source", "VARCHAR", nullable=False),
        _c("format", "VARCHAR", nullable=False),
        _c("started_at", "TIMESTAMPTZ", nullable=False),
        _c("finished_at", "TIMESTAMPTZ"),
        _c("rows_read", "BIGINT"),
        _c("rows_stored", "BIGINT"),
        _c("rows_duplicate", "BIGINT"),
        _c("rows_quarantined", "BIGINT"),
        _c("accounts", "BIGINT", "account records read (profiles and post authors)"),
        _c("actions", "BIGINT", "actions derived from the stored posts"),
        _c("params", "VARCHAR", "JSON: format options, column mapping, strictness"),
        _c("civicsentry_version", "VARCHAR"),
    ),
    "One row per file ingested; written in the same transaction as the file's rows.",
    primary_key="ingest_batch",
)

RUNS = Table(
    "runs",
    (
        _c("run_id", "BIGINT", nullable=False),
        _c("step", "VARCHAR", "detect, warn, share, ...", nullable=False),
        _c("name", "VARCHAR", "what ran, e.g. coordination", nullable=False),
        _c("params", "VARCHAR", "JSON: every parameter, defaults included"),
        _c("civicsentry_version", "VARCHAR"),
        _c("started_at", "TIMESTAMPTZ", nullable=False),
        _c("finished_at", "TIMESTAMPTZ"),
        _c("summary", "VARCHAR", "JSON: counts, what was capped, chosen windows"),
    ),
    "Provenance: every derived row carries the `run_id` that made it.",
    primary_key="run_id",
)

AUDIT_LOG = Table(
    "audit_log",
    (
        _c("ts", "TIMESTAMPTZ", "when", nullable=False),
        _c("actor", "VARCHAR", "user name, or the OS user for the CLI"),
        _c("action", "VARCHAR", nullable=False),
        _c("detail", "VARCHAR", "JSON"),
    ),
    "Who did what to the workspace, and when.",
)

META = Table(
    "meta",
    (_c("key", "VARCHAR", nullable=False), _c("value", "VARCHAR")),
    "Schema version and workspace facts.",
    primary_key="key",
)

TABLES: tuple[Table, ...] = (
    POSTS,
    ACCOUNTS,
    ACTIONS,
    QUARANTINE,
    INGEST_LOG,
    RUNS,
    AUDIT_LOG,
    META,
)


def markdown() -> str:
    """The tables as Markdown, for docs/schema.md."""
    out = [
        f"# Workspace schema (version {SCHEMA_VERSION})",
        "",
        "Generated from `src/civicsentry/schema.py` by `python -m civicsentry.schema`;"
        " a test fails when this file is out of date.",
        "",
    ]
    for t in TABLES:
        out += [
            f"## `{t.name}`",
            "",
            t.doc,
            "",
            "| column | type | null | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for c in t.columns:
            null = "no" if (not c.nullable or c.name == t.primary_key) else "yes"
            out.append(f"| `{c.name}` | {c.type} | {null} | {c.doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
