"""The canonical tables: their names, columns and types, defined here and nowhere else.

The names are the contract (../docs/schema.md is generated from this module): later
versions add columns, never rename them. Bump ``SCHEMA_VERSION`` whenever a table
changes: a new table says ``since=<version>`` and is created by the migration to that
version; a changed table needs a step in ``civicsentry.migrations``.
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
    #: The schema version that introduced the table; migrating a workspace to that
    #: version creates it.
    since: int = 1

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

COORDINATION_EDGES = Table(
    "coordination_edges",
    (
        _c(
            "run_id",
            "BIGINT",
            "the `runs` row (step detect, name coordination) that made it",
            nullable=False,
        ),
        _c(
            "semantics",
            "VARCHAR",
            "civicsentry, coortweet or cnt (docs/coordination.md)",
            nullable=False,
        ),
        _c(
            "object_type",
            "VARCHAR",
            "the network: an object type (repost, url, ...), or `multi` "
            "for the multi-modal network over all detected types",
            nullable=False,
        ),
        _c(
            "account_a",
            "VARCHAR",
            "one account; account_a < account_b (code-point order)",
            nullable=False,
        ),
        _c("account_b", "VARCHAR", "the other account", nullable=False),
        _c(
            "weight",
            "BIGINT",
            "civicsentry: distinct objects co-acted on (multi: distinct "
            "(type, object)); coortweet: co-acting share pairs; cnt: max(weight_ab, weight_ba)",
            nullable=False,
        ),
        _c(
            "weight_ab",
            "BIGINT",
            "cnt: messages of account_a with a partner message of "
            "account_b (NULL below min_weight)",
        ),
        _c("weight_ba", "BIGINT", "cnt: the same from account_b to account_a"),
        _c("pairs", "BIGINT", "co-acting share pairs (repeated shares multiply these)"),
        _c(
            "weight_pop",
            "DOUBLE",
            "civicsentry: popularity-discounted weight, Σ 1/log2(accounts on the object)",
        ),
        _c("object_types", "VARCHAR", "object types co-acted on, sorted, comma-separated"),
        _c("n_content_id", "BIGINT", "coortweet: distinct contents on the older side of the pairs"),
        _c("n_content_id_y", "BIGINT", "coortweet: distinct contents on the newer side"),
        _c("edge_symmetry_score", "DOUBLE", "coortweet: min/max of the two counts above"),
        _c("weight_threshold", "BOOLEAN", "coortweet: weight above the network's median weight"),
        _c(
            "capped_objects",
            "BIGINT",
            "co-acted objects whose sweep was capped (weight and pairs may then be lower bounds)",
        ),
        _c(
            "downweighted_objects",
            "BIGINT",
            "co-acted objects that are viral (≥ viral_accounts accounts)",
        ),
        _c("min_delay_s", "DOUBLE", "smallest delay between co-acting shares, seconds"),
        _c(
            "median_delay_s",
            "DOUBLE",
            "civicsentry: median over co-acted objects of the "
            "smallest delay on each (NULL for the peer semantics)",
        ),
        _c(
            "avg_delay_s",
            "DOUBLE",
            "peers: mean delay over share pairs (CooRTweet's avg_time_delta)",
        ),
        _c("first_t", "TIMESTAMPTZ", "first co-acting share"),
        _c("last_t", "TIMESTAMPTZ", "last co-acting share"),
        _c("capped", "BOOLEAN", "capped_objects > 0"),
        _c("downweighted", "BOOLEAN", "downweighted_objects > 0"),
        _c(
            "expected_timing",
            "DOUBLE",
            "civicsentry: co-acted objects expected under the timing (jitter) null",
        ),
        _c(
            "expected_choice",
            "DOUBLE",
            "civicsentry: co-acting share pairs expected under the choice (account-shuffle) null",
        ),
        _c(
            "p_timing",
            "DOUBLE",
            "civicsentry: p-value under the timing null, given the edge exists",
        ),
        _c("p_choice", "DOUBLE", "civicsentry: p-value under the choice null"),
        _c(
            "p_value",
            "DOUBLE",
            "civicsentry: max(p_timing, p_choice); NULL when screened out "
            "(it could not pass Benjamini–Hochberg even at its lower bound)",
        ),
        _c("q_value", "DOUBLE", "civicsentry: Benjamini–Hochberg q-value within the network"),
        _c(
            "significant",
            "BOOLEAN",
            "civicsentry: q_value ≤ alpha; NULL for the peer semantics, which have no significance",
        ),
    ),
    "Co-action edges of every detection run, one network per object type plus `multi`; "
    "earlier runs are kept. The default output of a civicsentry run is its significant edges.",
)

COORDINATION_CAPS = Table(
    "coordination_caps",
    (
        _c("run_id", "BIGINT", nullable=False),
        _c("object_type", "VARCHAR", nullable=False),
        _c("object_id", "VARCHAR", nullable=False),
        _c("n_shares", "BIGINT", "shares of the object"),
        _c("n_accounts", "BIGINT", "distinct accounts sharing it"),
        _c("first_t", "TIMESTAMPTZ"),
        _c("last_t", "TIMESTAMPTZ"),
        _c(
            "max_partners",
            "BIGINT",
            "the cap: following shares each share was compared with (NULL when not capped)",
        ),
        _c(
            "shares_capped",
            "BIGINT",
            "shares that had more partners inside the window than the cap",
        ),
        _c("pairs_within_window", "BIGINT", "exact share pairs within the window"),
        _c("pairs_kept", "BIGINT", "share pairs the capped sweep compared"),
        _c(
            "pop_discount",
            "DOUBLE",
            "what one co-action on it adds to weight_pop, 1/log2(n_accounts)",
        ),
        _c("action", "VARCHAR", "capped, downweighted (viral), or both", nullable=False),
    ),
    "Every object a detection run capped or treated as viral, and what was done: nothing "
    "is dropped silently.",
)

CLUSTERS = Table(
    "clusters",
    (
        _c("run_id", "BIGINT", "the detection run whose network was clustered", nullable=False),
        _c(
            "cluster_id",
            "BIGINT",
            "1, 2, ... within the run, largest cluster first",
            nullable=False,
        ),
        _c(
            "clustering_run_id",
            "BIGINT",
            "the `runs` row (step cluster, name leiden) with the clustering parameters",
        ),
        _c("size", "BIGINT", "members", nullable=False),
        _c("edges", "BIGINT", "edges between members"),
        _c("density", "DOUBLE", "edges / (size·(size − 1)/2)"),
        _c("weight", "DOUBLE", "sum of the weights of the edges between members"),
        _c("external_edges", "BIGINT", "edges from a member to an account outside the cluster"),
        _c("modalities", "VARCHAR", "JSON: object type -> internal edges co-acting on it"),
        _c("n_modalities", "BIGINT", "object types among the internal edges"),
        _c("objects", "BIGINT", "distinct objects co-acted on by two members within the window"),
        _c(
            "coaction_share",
            "DOUBLE",
            "mean over members of the share of their actions "
            "co-acted with a cluster mate within the window",
        ),
        _c("median_delay_s", "DOUBLE", "median over internal edges of the edge's median delay"),
        _c("median_q", "DOUBLE", "median q-value of the internal edges"),
        _c("first_t", "TIMESTAMPTZ", "first co-acting share on an internal edge"),
        _c("last_t", "TIMESTAMPTZ", "last co-acting share on an internal edge"),
        _c(
            "top_objects",
            "VARCHAR",
            "JSON: object type -> objects most members acted on, "
            "with members, shares and a label (text of the post or of a member's copy)",
        ),
        _c("timeline", "VARCHAR", "JSON: UTC hour -> posts by members"),
        _c("delays", "VARCHAR", "JSON: quantiles of the internal edges' median delays, seconds"),
        _c("suspicion", "DOUBLE", "triage score in [0, 1] (docs/clusters.md); not proof"),
        _c(
            "suspicion_components",
            "VARCHAR",
            "JSON: each component's value, weight, contribution and raw figure",
        ),
    ),
    "Leiden communities of a run's significant multi-modal network (docs/clusters.md); "
    "re-clustering a run replaces its clusters only.",
)

CLUSTER_MEMBERS = Table(
    "cluster_members",
    (
        _c("run_id", "BIGINT", nullable=False),
        _c("cluster_id", "BIGINT", nullable=False),
        _c("account_id", "VARCHAR", nullable=False),
        _c("degree", "BIGINT", "edges to other members"),
        _c("strength", "DOUBLE", "sum of the weights of those edges"),
        _c("degree_total", "BIGINT", "edges in the whole clustered network"),
        _c("strength_total", "DOUBLE", "sum of their weights"),
        _c("actions", "BIGINT", "the account's actions of the detected object types"),
        _c("coactions", "BIGINT", "of those, co-acted with a cluster mate within the window"),
        _c("coaction_share", "DOUBLE", "coactions / actions"),
    ),
    "One row per account in a cluster.",
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
    COORDINATION_EDGES,
    COORDINATION_CAPS,
    CLUSTERS,
    CLUSTER_MEMBERS,
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
