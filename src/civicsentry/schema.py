"""The canonical tables: their names, columns and types, defined here and nowhere else.

The names are the contract (../docs/schema.md is generated from this module): later
versions add columns, never rename them. Bump ``SCHEMA_VERSION`` whenever a table
changes: a new table says ``since=<version>`` and is created by the migration to that
version; a changed table needs a step in ``civicsentry.migrations``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SCHEMA_VERSION = 7

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
    #: A DuckDB storage method (``USING COMPRESSION``) instead of the one it picks.
    compression: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    doc: str
    primary_key: str | None = None
    #: The schema version that introduced the table; migrating a workspace to that
    #: version creates it.
    since: int = 1
    #: Columns whose values are unique (besides the primary key).
    unique: tuple[str, ...] = ()
    #: Columns with an (ART) index of their own, for point look-ups by that column.
    indexes: tuple[str, ...] = ()
    #: For a view: the SELECT it stands for (it stores nothing and has no index; its
    #: ``columns`` describe what it gives).
    view: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        if self.view is not None:
            return f"CREATE VIEW IF NOT EXISTS {self.name} AS {self.view}"
        cols = []
        for c in self.columns:
            spec = f'"{c.name}" {c.type}'  # quoted: names such as `foreign` are SQL keywords
            if not c.nullable:
                spec += " NOT NULL"
            if c.name == self.primary_key:
                spec += " PRIMARY KEY"
            elif c.name in self.unique:
                spec += " UNIQUE"
            if c.compression:
                spec += f" USING COMPRESSION {c.compression}"
            cols.append(spec)
        create = f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"
        return ";\n".join([create, *self.index_ddl()])

    def index_names(self) -> list[str]:
        """The names of the table's own indexes (not its keys), one per ``indexes``."""
        return [f"{self.name}_{c}_idx" for c in self.indexes]

    def index_ddl(self) -> list[str]:
        return [
            f'CREATE INDEX IF NOT EXISTS {name} ON {self.name} ("{c}")'
            for name, c in zip(self.index_names(), self.indexes, strict=True)
        ]


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
        # Stored uncompressed (schema 5): a row's list fetched through the account_id
        # index decodes its whole DICT_FSST segment's dictionary first, ~0.2 ms a post
        # in the account view (docs/benchmarks.md, `web`).
        Column(
            "urls",
            "VARCHAR[]",
            doc="normalised URLs (tracking parameters removed)",
            compression="uncompressed",
        ),
        _c("domains", "VARCHAR[]", "registered domains of `urls` (public-suffix aware)"),
        _c("hashtags", "VARCHAR[]", "NFKC-normalised, casefolded, without `#`"),
        _c("mentions", "VARCHAR[]", "mentioned handles, casefolded, without `@`"),
        _c("media_hashes", "VARCHAR[]", "perceptual hashes of attached media, when given"),
        _c("source", "VARCHAR", "file (or stream) and record position it came from"),
        _c("ingest_batch", "BIGINT", "the `ingest_log` run that stored it"),
    ),
    "One row per post; `post_id` is unique. Indexed on `account_id` (since schema 3), so "
    "one account's posts are found without a scan.",
    indexes=("account_id",),
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
    "One row per account; profile fields are whatever the sources gave: the newest ingest's "
    "non-null value wins; within a file, an accounts table beats a handle carried by posts, "
    "and the later row in the file wins.",
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

EDGES_WIDE = Table(
    "edges_wide",
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
    "The edges of every detection run with all their columns, except those of cnt runs "
    "of the DuckDB engine from schema 7 on (`edges_cnt`). Until schema 6 this table was "
    "`coordination_edges` itself; the cnt runs stored then stay here. Read "
    "`coordination_edges`, which shows both.",
)

#: The weight of a cnt edge from its two directed weights (NULL below min_weight): the
#: detector's definition (detect/peers.py) and the one ``coordination_edges`` shows for
#: the rows of ``edges_cnt``.
CNT_WEIGHT = "greatest(coalesce({ab}, 0), coalesce({ba}, 0))"

EDGES_CNT = Table(
    "edges_cnt",
    (
        _c(
            "run_id",
            "BIGINT",
            "the `runs` row (detect, semantics cnt) that made it",
            nullable=False,
        ),
        _c("object_type", "VARCHAR", "the network: an object type", nullable=False),
        _c("acc_a", "BIGINT", "one account, as its key in `edge_accounts`", nullable=False),
        _c("acc_b", "BIGINT", "the other account; acc_a < acc_b", nullable=False),
        _c("weight_ab", "BIGINT", "as in `coordination_edges`"),
        _c("weight_ba", "BIGINT", "as in `coordination_edges`"),
        _c("pairs", "BIGINT", "as in `coordination_edges`"),
        _c("min_delay_s", "DOUBLE", "as in `coordination_edges`"),
        _c("avg_delay_s", "DOUBLE", "as in `coordination_edges`"),
        _c("first_t", "TIMESTAMPTZ", "as in `coordination_edges`"),
        _c("last_t", "TIMESTAMPTZ", "as in `coordination_edges`"),
    ),
    "The edges of cnt runs of the DuckDB engine (since schema 7), stored narrow: integer "
    "account keys and only the columns the toolkit's semantics defines. A cnt network has "
    "millions of edges, and writing them with account names and the other semantics' "
    "empty columns took longer than detecting them. `coordination_edges` shows them with "
    "every column: weight = max(weight_ab, weight_ba), object_types = object_type, "
    "capped and downweighted false, the rest NULL.",
    since=7,
)

EDGE_ACCOUNTS = Table(
    "edge_accounts",
    (
        _c("run_id", "BIGINT", "the run of the `edges_cnt` rows", nullable=False),
        _c("acc", "BIGINT", "the key `edges_cnt.acc_a`/`acc_b` use in that run", nullable=False),
        _c("account_id", "VARCHAR", "the account", nullable=False),
    ),
    "The accounts of each run stored in `edges_cnt` (every account acting on the run's "
    "object types), by the key its rows use. Keys follow the code-point order of the "
    "account ids, so acc_a < acc_b exactly when account_a < account_b.",
    since=7,
)


def _edges_view() -> str:
    """``edges_wide`` and the ``edges_cnt`` rows widened to its columns, names and types."""
    cnt = {
        "run_id": "c.run_id",
        "semantics": "'cnt'",
        "object_type": "c.object_type",
        "account_a": "ka.account_id",
        "account_b": "kb.account_id",
        "weight": CNT_WEIGHT.format(ab="c.weight_ab", ba="c.weight_ba"),
        "object_types": "c.object_type",
        "capped": "false",
        "downweighted": "false",
    } | {c: f"c.{c}" for c in EDGES_CNT.column_names if c not in ("acc_a", "acc_b")}
    wide = ", ".join(f'"{c}"' for c in EDGES_WIDE.column_names)
    narrow = ", ".join(
        f'CAST({cnt.get(c.name, "NULL")} AS {c.type}) AS "{c.name}"' for c in EDGES_WIDE.columns
    )
    return (
        f"SELECT {wide} FROM {EDGES_WIDE.name} UNION ALL SELECT {narrow} "
        f"FROM {EDGES_CNT.name} c "
        f"JOIN {EDGE_ACCOUNTS.name} ka ON ka.run_id = c.run_id AND ka.acc = c.acc_a "
        f"JOIN {EDGE_ACCOUNTS.name} kb ON kb.run_id = c.run_id AND kb.acc = c.acc_b"
    )


COORDINATION_EDGES = Table(
    "coordination_edges",
    EDGES_WIDE.columns,
    "Co-action edges of every detection run, one network per object type plus `multi`; "
    "earlier runs are kept. The default output of a civicsentry run is its significant "
    "edges. A view (since schema 7) over the tables that store them: `edges_wide`, and "
    "`edges_cnt` with the account ids from `edge_accounts`; a run's rows are the same "
    "whichever table holds them. Read and filter this; erasure deletes from the tables.",
    view=_edges_view(),
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

CLUSTER_EDGES = Table(
    "cluster_edges",
    (
        _c("run_id", "BIGINT", "the detection run whose network was clustered", nullable=False),
        _c("cluster_id", "BIGINT", nullable=False),
        _c("account_a", "VARCHAR", "one member; account_a < account_b", nullable=False),
        _c("account_b", "VARCHAR", "the other member", nullable=False),
        _c("weight", "BIGINT", "as in `coordination_edges`", nullable=False),
        _c("object_types", "VARCHAR", "as in `coordination_edges`"),
        _c(
            "delay_s",
            "DOUBLE",
            "the edge's typical delay, seconds: its median delay (our semantics), else its "
            "mean delay (peers), else its smallest",
        ),
    ),
    "The edges between members of each cluster in the clustered network (significant ones "
    "where the run tested them): copied from `coordination_edges` when the run is clustered "
    "(and, for workspaces clustered before schema 4, by the migration), so a cluster's "
    "network and delay histogram read its own edges instead of the run's.",
    since=4,
)

ALERTS = Table(
    "alerts",
    (
        _c("alert_id", "BIGINT", "1, 2, ... in the order raised", nullable=False),
        _c(
            "fingerprint",
            "VARCHAR",
            "stable key of the situation: raising it again updates this row (docs/alerts.md)",
            nullable=False,
        ),
        _c("rule", "VARCHAR", "id of the rule that raised it", nullable=False),
        _c("severity", "VARCHAR", "low, medium, high or critical", nullable=False),
        _c(
            "status",
            "VARCHAR",
            "new, triaged, escalated, dismissed or closed (changed by triage only)",
            nullable=False,
        ),
        _c("title", "VARCHAR", "one line for the alert queue (may quote post text: escape it)"),
        _c(
            "evidence",
            "VARCHAR",
            "JSON: post ids, accounts, objects, time range and the numbers that fired the rule",
        ),
        _c("disarm", "VARCHAR", 'JSON list of suggested DISARM technique ids, e.g. ["T0049"]'),
        _c("first_seen", "TIMESTAMPTZ", "when it was first raised", nullable=False),
        _c("last_seen", "TIMESTAMPTZ", "when it was last raised again", nullable=False),
        _c("updated_at", "TIMESTAMPTZ", "last change of any kind (re-raise or triage)"),
        _c("count", "BIGINT", "times raised (1 when new; re-raising adds one)", nullable=False),
        _c("run_id", "BIGINT", "the `runs` row (step warn) that last raised it"),
        _c("evidence_from", "TIMESTAMPTZ", "start of the evidence's time range (data time)"),
        _c("evidence_to", "TIMESTAMPTZ", "end of the evidence's time range (data time)"),
    ),
    "Alerts raised by the early-warning rules (docs/alerts.md), one row per situation.",
    primary_key="alert_id",
    since=2,
    unique=("fingerprint",),
)

ALERT_EVENTS = Table(
    "alert_events",
    (
        _c("alert_id", "BIGINT", nullable=False),
        _c("ts", "TIMESTAMPTZ", nullable=False),
        _c("actor", "VARCHAR", "user name, `system`, or the OS user for the CLI"),
        _c("event", "VARCHAR", "raised, updated or status", nullable=False),
        _c("from_status", "VARCHAR", "status before (status events)"),
        _c("to_status", "VARCHAR", "status after (status events)"),
        _c("note", "VARCHAR", "the analyst's note, or what changed on an update"),
    ),
    "The history of every alert: who changed what, and when.",
    since=2,
)

ALERT_NOTIFICATIONS = Table(
    "alert_notifications",
    (
        _c("notification_id", "BIGINT", nullable=False),
        _c("alert_id", "BIGINT", nullable=False),
        _c("channel", "VARCHAR", "the channel's name in the rules file", nullable=False),
        _c("event", "VARCHAR", "raised or escalated", nullable=False),
        _c(
            "status",
            "VARCHAR",
            "pending, sent, failed or rate_limited (not sent: the channel's limit for the rule)",
            nullable=False,
        ),
        _c("attempts", "BIGINT", "delivery attempts so far"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("sent_at", "TIMESTAMPTZ"),
        _c("error", "VARCHAR", "the last delivery error"),
    ),
    "Notifications of alerts to webhooks and e-mail: queued with the alert in one "
    "transaction, then delivered, so a crash loses none.",
    primary_key="notification_id",
    since=2,
)

WATCHLIST_COUNTS = Table(
    "watchlist_counts",
    (
        _c("rule", "VARCHAR", "the volume_anomaly rule", nullable=False),
        _c("item", "VARCHAR", "type:value, e.g. hashtag:vote, term:ballot", nullable=False),
        _c("bucket", "BIGINT", "bucket start, Unix seconds (UTC)", nullable=False),
        _c(
            "posts",
            "BIGINT",
            "posts on the item in the bucket, from some ingest batches",
            nullable=False,
        ),
    ),
    "A cache of the watch-list rules' posts per item and hour, added to as batches arrive "
    "(sum the rows of a bucket); rebuilt whenever the rule's list or bucket changes. Its "
    "position is a `watch_checkpoints` row (`counts:<rule>`). Safe to delete.",
    since=2,
)

WATCH_CHECKPOINTS = Table(
    "watch_checkpoints",
    (
        _c("source", "VARCHAR", "a followed file's path, or a stream's URL", nullable=False),
        _c("kind", "VARCHAR", "lines (appended JSON Lines), file (whole file) or jetstream"),
        _c("format", "VARCHAR", "the ingest format, detected on first read"),
        _c("byte_offset", "BIGINT", "bytes consumed (complete lines only) of a followed file"),
        _c(
            "generation",
            "BIGINT",
            "times the file was replaced at the same path (names its spool chunks)",
        ),
        _c("size", "BIGINT", "the file's size when last read"),
        _c(
            "head",
            "VARCHAR",
            "hash of the file's first bytes: another file at the same path restarts it",
        ),
        _c("cursor", "VARCHAR", "a stream's cursor (Jetstream: time_us of the last stored event)"),
        _c("ingest_batch", "BIGINT", "the last `ingest_log` batch from this source"),
        _c("updated_at", "TIMESTAMPTZ"),
    ),
    "Where `civicsentry watch` is in each followed file and stream, so a restart neither "
    "loses nor repeats work.",
    primary_key="source",
    since=2,
)

USERS = Table(
    "users",
    (
        _c("user_id", "BIGINT", "1, 2, ... in the order created", nullable=False),
        _c("username", "VARCHAR", "login name", nullable=False),
        _c("role", "VARCHAR", "admin, analyst or partner (docs/web.md)", nullable=False),
        _c("partner_group", "VARCHAR", "partners only: the sharing group whose objects they see"),
        _c("password_hash", "VARCHAR", "argon2id hash (never the password)"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("disabled", "BOOLEAN", "a disabled user can neither log in nor use tokens"),
        _c("last_login", "TIMESTAMPTZ"),
    ),
    "People who use the dashboard and the REST API.",
    primary_key="user_id",
    since=2,
    unique=("username",),
)

API_TOKENS = Table(
    "api_tokens",
    (
        _c("token_id", "BIGINT", nullable=False),
        _c("user_id", "BIGINT", "whose rights the token carries", nullable=False),
        _c("name", "VARCHAR", "what the token is for"),
        _c(
            "token_hash",
            "VARCHAR",
            "SHA-256 of the token (the token is shown once)",
            nullable=False,
        ),
        _c("prefix", "VARCHAR", "first characters of the token, to recognise it in lists"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("expires_at", "TIMESTAMPTZ", "NULL: no expiry"),
        _c("revoked_at", "TIMESTAMPTZ", "set when revoked; a revoked token is refused"),
    ),
    "API tokens for scripts, stored hashed.",
    primary_key="token_id",
    since=2,
    unique=("token_hash",),
)

SESSIONS = Table(
    "sessions",
    (
        _c("session_hash", "VARCHAR", "SHA-256 of the session cookie", nullable=False),
        _c("user_id", "BIGINT", nullable=False),
        _c("csrf_token", "VARCHAR", "the token every form post of this session must carry"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("expires_at", "TIMESTAMPTZ", nullable=False),
    ),
    "Dashboard log-in sessions; logging out deletes the row.",
    primary_key="session_hash",
    since=2,
)

#: Account signals (docs/signals.md), in display order. ``account_signals`` holds, for
#: each, the value, its percentile in the workspace (``<name>_pct``) and its
#: contribution to the score (``<name>_contrib``).
ACCOUNT_SIGNALS: tuple[tuple[str, str], ...] = (
    ("posts", "posts in the workspace"),
    ("rate", "posts per active day (UTC days with a post)"),
    ("repost_share", "share of its posts that are reposts"),
    ("reply_share", "share of its posts that are replies"),
    ("link_share", "share of its posts carrying a link"),
    (
        "dup_text_share",
        "share of its texts (posts other than reposts) that exactly, or nearly (simtext), "
        "repeat another post",
    ),
    (
        "share_delay_s",
        "median seconds from an object's first appearance (the parent post, or the first "
        "share of a URL) to its share of it",
    ),
    (
        "pile_on_share",
        "share of its reposts, replies, quotes and links made within `pile_on_seconds` of "
        "the previous share of the same object (objects below `viral_shares` shares)",
    ),
    (
        "coordinated_share",
        "share of its actions co-acted with cluster mates (`cluster_members`); 0 outside "
        "clusters, NULL without a clustered detection run",
    ),
    ("gap_cv", "coefficient of variation of the gaps between consecutive posts"),
    ("burstiness", "(σ − μ)/(σ + μ) of those gaps: −1 periodic, 0 random, 1 bursty"),
    ("gap_entropy", "entropy of the gaps' log2-second bins over its maximum"),
    ("regular_gaps", "share of consecutive gap pairs that are near-identical (1 s or 5%)"),
    ("hour_entropy", "entropy of the hour-of-day profile over its maximum"),
    ("night_activity", "share of posts in the quietest 5 consecutive hours of the day"),
    ("workday_share", "share of posts in local Mon–Fri 09–18 at the inferred offset"),
    (
        "offset_gap",
        "hours between its inferred UTC offset and that of the population it posts into "
        "(schedules that count: confident, with a human rhythm)",
    ),
    ("account_age_days", "days from the account's creation to its first post here"),
    (
        "creation_burst",
        "accounts of its platform created the same UTC day / (their daily mean over ±30 days + 1)",
    ),
    ("handle_digits", "longest run of digits in the handle"),
    ("handle_consonants", "longest run of consonants in the handle"),
    ("handle_entropy", "Shannon entropy of the handle's characters, bits per character"),
    (
        "empty_profile",
        "share of description and location left empty (NULL when the source gave no profile)",
    ),
    ("follower_ratio", "log10((followers + 1) / (following + 1))"),
)


def _signal_columns() -> tuple[Column, ...]:
    cols: list[Column] = []
    for name, doc in ACCOUNT_SIGNALS:
        cols += [
            _c(name, "DOUBLE", doc),
            _c(f"{name}_pct", "DOUBLE", f"percentile of `{name}` in the workspace, 0..1"),
            _c(f"{name}_contrib", "DOUBLE", f"what `{name}` adds to `score`"),
        ]
    return tuple(cols)


ACCOUNT_SIGNALS_TABLE = Table(
    "account_signals",
    (
        _c(
            "run_id",
            "BIGINT",
            "the `runs` row (step score, name account_signals) that made it",
            nullable=False,
        ),
        _c("account_id", "VARCHAR", nullable=False),
        _c("platform", "VARCHAR"),
        _c("score", "DOUBLE", "Σ contributions, 0..1 (docs/signals.md); a triage aid, not proof"),
        _c("rank", "BIGINT", "1 = highest score in the run"),
        _c("coverage", "DOUBLE", "share of the total weight whose signals could be computed"),
        _c("top_signals", "VARCHAR", "the largest contributions, comma-separated"),
        _c(
            "foreign_schedule",
            "BOOLEAN",
            "confident, human-rhythm schedule ≥ `foreign_gap` hours from its population's "
            "offset, a clock fewer than `max_population_share` of that population keeps",
        ),
        _c("utc_offset", "INTEGER", "inferred UTC offset of its activity, hours (−12..14)"),
        _c("schedule_confidence", "DOUBLE", "posterior mass within ±1 h of `utc_offset`"),
        _c("schedule_template", "VARCHAR", "day (everyday life) or office (Mon–Fri 09–18)"),
        _c(
            "rhythm_fit",
            "DOUBLE",
            "log-likelihood gain per post of the template over a flat week (≤ 0: no human rhythm)",
        ),
        _c("population_offset", "INTEGER", "UTC offset of the population it posts into"),
        _c(
            "population_source",
            "VARCHAR",
            "objects (accounts acting on the same objects) or workspace (all accounts)",
        ),
        _c("population_support", "BIGINT", "objects whose other actors gave the population"),
        _c(
            "population_share",
            "DOUBLE",
            "share of that population within ±1 h of `utc_offset` (keeping the same clock)",
        ),
        _c("cluster_id", "BIGINT", "its cluster in the detection run used (NULL: none)"),
        *_signal_columns(),
        _c("explanation", "VARCHAR", "JSON: the raw figures behind the signals and the schedule"),
    ),
    "Explained account signals (docs/signals.md): one row per account per signals run; "
    "earlier runs are kept. Indexed on `account_id` (since schema 4), so one account's "
    "rows are found without a scan.",
    since=2,
    indexes=("account_id",),
)
# Schema 6: its DOUBLE columns stored as ALP. DuckDB picks RLE for many signals, and
# fetching one row of an RLE column walks its runs from the segment's start; the
# account view fetches one row of every column (docs/benchmarks.md, `web`).
ACCOUNT_SIGNALS_TABLE = replace(
    ACCOUNT_SIGNALS_TABLE,
    columns=tuple(
        replace(c, compression="alp") if c.type == "DOUBLE" else c
        for c in ACCOUNT_SIGNALS_TABLE.columns
    ),
    doc=ACCOUNT_SIGNALS_TABLE.doc + " Its DOUBLE columns are stored as ALP (since schema 6).",
)

CLUSTER_SCHEDULES = Table(
    "cluster_schedules",
    (
        _c("signals_run_id", "BIGINT", "the `account_signals` run", nullable=False),
        _c("run_id", "BIGINT", "the detection run whose clusters these are", nullable=False),
        _c("cluster_id", "BIGINT", nullable=False),
        _c("members", "BIGINT"),
        _c("posts", "BIGINT", "posts by members"),
        _c("utc_offset", "INTEGER", "inferred UTC offset of the members' pooled activity"),
        _c("confidence", "DOUBLE", "posterior mass within ±1 h of `utc_offset`"),
        _c("template", "VARCHAR", "day or office"),
        _c("workday_share", "DOUBLE", "share of posts in local Mon–Fri 09–18"),
        _c("night_activity", "DOUBLE", "share of posts in the quietest 5 hours of the day"),
        _c("rhythm_fit", "DOUBLE", "log-likelihood gain per post over a flat week"),
        _c(
            "population_offset",
            "INTEGER",
            "UTC offset of the accounts outside the cluster acting on its objects "
            "(or of the workspace)",
        ),
        _c("population_source", "VARCHAR", "objects or workspace"),
        _c("population_support", "BIGINT", "objects with outside actors"),
        _c("population_share", "DOUBLE", "share of that population within ±1 h of `utc_offset`"),
        _c("offset_gap", "INTEGER", "hours between `utc_offset` and `population_offset`"),
        _c(
            "foreign",
            "BOOLEAN",
            "confident, human-rhythm schedule ≥ `foreign_gap` hours from its population's "
            "offset, kept by fewer than `max_population_share` of it: a cluster on a "
            "foreign schedule",
        ),
        _c("explanation", "VARCHAR", "JSON: the figures and the reasoning"),
    ),
    "The activity schedule of every cluster of the detection run a signals run used.",
    since=2,
)

# -- sharing (issue 8): partners, collections, what went to whom, keys, ids, imports ----

PARTNERS = Table(
    "partners",
    (
        _c("partner_id", "VARCHAR", "short name, e.g. `ee-cert`", nullable=False),
        _c("name", "VARCHAR", "organisation"),
        _c("community", "VARCHAR", "the sharing community whose key pseudonymises for them"),
        _c("max_tlp", "VARCHAR", "clearance: the most restricted TLP they may receive (never red)"),
        _c("contact", "VARCHAR"),
        _c("identity_id", "VARCHAR", "their STIX identity id (minted once)"),
        _c("token_hash", "VARCHAR", "SHA-256 of their TAXII API token (the token is shown once)"),
        _c("token_created_at", "TIMESTAMPTZ"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
    ),
    "Partner organisations: who may pull our TAXII collections and whose feeds we pull.",
    primary_key="partner_id",
    since=2,
)

PARTNER_FEEDS = Table(
    "partner_feeds",
    (
        _c("partner_id", "VARCHAR", nullable=False),
        _c("url", "VARCHAR", "their TAXII 2.1 collection URL", nullable=False),
        _c("token", "VARCHAR", "the credential they gave us (secret; sent as a Bearer token)"),
        _c("added_after", "VARCHAR", "cursor: X-TAXII-Date-Added-Last of the last pull"),
        _c("last_pull_at", "TIMESTAMPTZ"),
        _c("last_run_id", "BIGINT", "the `runs` row of the last pull"),
    ),
    "Partners' TAXII collections that `civicsentry partners pull` fetches incrementally.",
    since=2,
)

COLLECTIONS = Table(
    "collections",
    (
        _c("collection_id", "VARCHAR", "UUID (the TAXII collection id)", nullable=False),
        _c("alias", "VARCHAR", "short name used on the command line", nullable=False),
        _c("title", "VARCHAR", nullable=False),
        _c("description", "VARCHAR"),
        _c("community", "VARCHAR", "the partner group's sharing community"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
    ),
    "Our TAXII 2.1 collections, one per partner group.",
    primary_key="collection_id",
    since=2,
)

COLLECTION_ACCESS = Table(
    "collection_access",
    (
        _c("partner_id", "VARCHAR", nullable=False),
        _c("collection_id", "VARCHAR", nullable=False),
        _c("can_read", "BOOLEAN", nullable=False),
        _c("can_write", "BOOLEAN", nullable=False),
    ),
    "Per-partner rights on collections (no row: no access).",
    since=2,
)

COLLECTION_OBJECTS = Table(
    "collection_objects",
    (
        _c("collection_id", "VARCHAR", nullable=False),
        _c("seq", "BIGINT", "insertion order within the workspace (paging cursor)", nullable=False),
        _c("object_id", "VARCHAR", nullable=False),
        _c("object_type", "VARCHAR", nullable=False),
        _c("version", "VARCHAR", "`modified` (or `created`) of this version", nullable=False),
        _c("spec_version", "VARCHAR"),
        _c("date_added", "TIMESTAMPTZ", "strictly increasing (microseconds)", nullable=False),
        _c("tlp", "VARCHAR", "clear, green, amber or amber+strict (red is never stored)"),
        _c("source", "VARCHAR", "`share:<id>` (our export) or `partner:<id>` (added by a partner)"),
        _c("object", "VARCHAR", "the STIX object, JSON", nullable=False),
    ),
    "What the TAXII server serves: every version of every object added to a collection.",
    since=2,
)

SHARES = Table(
    "shares",
    (
        _c("share_id", "BIGINT", nullable=False),
        _c("run_id", "BIGINT", "the `runs` row of the export (NULL for TAXII pulls)"),
        _c("channel", "VARCHAR", "file, collection or taxii-pull", nullable=False),
        _c("format", "VARCHAR", "stix or misp", nullable=False),
        _c("scope", "VARCHAR", "cluster, case or alert"),
        _c("subject", "VARCHAR", "what was shared, e.g. `cluster 4 of run 1`"),
        _c("tlp", "VARCHAR"),
        _c("community", "VARCHAR"),
        _c("key_version", "BIGINT", "community key version that pseudonymised it"),
        _c("recipient", "VARCHAR", "partner, collection or file"),
        _c("objects", "BIGINT", "objects (STIX) or attributes+objects (MISP) shared"),
        _c("include_text", "BOOLEAN"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("actor", "VARCHAR"),
    ),
    "The share log: every export and every TAXII pull, with TLP and recipient.",
    primary_key="share_id",
    since=2,
)

SHARED_OBJECTS = Table(
    "shared_objects",
    (
        _c("share_id", "BIGINT", nullable=False),
        _c("object_id", "VARCHAR", nullable=False),
        _c("object_type", "VARCHAR"),
        _c("version", "VARCHAR"),
        _c("tlp", "VARCHAR"),
    ),
    "Which object versions each share carried (what went to whom, under which TLP).",
    since=2,
)

COMMUNITY_KEYS = Table(
    "community_keys",
    (
        _c("community", "VARCHAR", nullable=False),
        _c("key_version", "BIGINT", "1, 2, ... (a rotation adds one)", nullable=False),
        _c("key", "VARCHAR", "HMAC key, hex (secret)", nullable=False),
        _c("origin", "VARCHAR", "generated or imported"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("retired_at", "TIMESTAMPTZ", "set by rotation: kept to correlate older imports"),
    ),
    "Per-community pseudonymisation keys; the newest unretired version is used for exports.",
    since=2,
)

PSEUDONYMS = Table(
    "pseudonyms",
    (
        _c("community", "VARCHAR", nullable=False),
        _c("key_version", "BIGINT", nullable=False),
        _c("account_id", "VARCHAR", nullable=False),
        _c("pseudonym", "VARCHAR", "HMAC-SHA256 of the account id, hex", nullable=False),
    ),
    "Pseudonyms computed so far (for correlation and for erasure on request).",
    since=2,
)

SHARE_EXEMPTIONS = Table(
    "share_exemptions",
    (
        _c("account_id", "VARCHAR", nullable=False),
        _c("category", "VARCHAR", "public-figure, state-media or official", nullable=False),
        _c("note", "VARCHAR"),
        _c("added_at", "TIMESTAMPTZ", nullable=False),
        _c("added_by", "VARCHAR"),
    ),
    "Accounts shared as themselves (not pseudonymised): public figures, state media.",
    primary_key="account_id",
    since=2,
)

STIX_IDS = Table(
    "stix_ids",
    (
        _c(
            "local_key",
            "VARCHAR",
            "what the object stands for, e.g. `cluster:1:4:campaign`",
            nullable=False,
        ),
        _c("stix_id", "VARCHAR", "minted once (UUIDv4)", nullable=False),
        _c("created", "TIMESTAMPTZ", nullable=False),
        _c("modified", "TIMESTAMPTZ", "bumped when the object's content changes", nullable=False),
        _c("content_hash", "VARCHAR", "of the object without created/modified"),
    ),
    "Minted STIX ids, so re-exporting the same thing updates it instead of duplicating it.",
    primary_key="local_key",
    since=2,
)

DISARM_MAPPING = Table(
    "disarm_mapping",
    (
        _c("detection", "VARCHAR", "e.g. co-repost, account-creation-burst", nullable=False),
        _c("techniques", "VARCHAR", "JSON list of DISARM technique ids", nullable=False),
        _c("note", "VARCHAR"),
        _c("updated_at", "TIMESTAMPTZ", nullable=False),
        _c("updated_by", "VARCHAR"),
    ),
    "Analysts' overrides of the shipped detection → DISARM technique suggestions.",
    primary_key="detection",
    since=2,
)

SHARE_CASES = Table(
    "share_cases",
    (
        _c("case_id", "VARCHAR", "short name", nullable=False),
        _c("title", "VARCHAR"),
        _c("description", "VARCHAR"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
        _c("updated_at", "TIMESTAMPTZ"),
    ),
    "Cases: named sets of clusters and alerts shared as one campaign and report.",
    primary_key="case_id",
    since=2,
)

SHARE_CASE_ITEMS = Table(
    "share_case_items",
    (
        _c("case_id", "VARCHAR", nullable=False),
        _c("kind", "VARCHAR", "cluster or alert", nullable=False),
        _c("run_id", "BIGINT", "detection run of a cluster"),
        _c("ref_id", "BIGINT", "cluster id or alert id", nullable=False),
        _c("added_at", "TIMESTAMPTZ", nullable=False),
    ),
    "What each case holds.",
    since=2,
)

IMPORTED_OBJECTS = Table(
    "imported_objects",
    (
        _c("run_id", "BIGINT", "the pull (or TAXII push) that brought it", nullable=False),
        _c("partner_id", "VARCHAR", nullable=False),
        _c("source", "VARCHAR", "the feed URL, or `taxii-push:<collection>`"),
        _c("object_id", "VARCHAR", nullable=False),
        _c("object_type", "VARCHAR", nullable=False),
        _c("version", "VARCHAR"),
        _c("tlp", "VARCHAR", "normalised from TLP 1.0/2.0/OpenCTI markings; NULL if unmarked"),
        _c("community", "VARCHAR", "pseudonymising community (our account extension)"),
        _c("key_version", "BIGINT"),
        _c("valid", "BOOLEAN", "no stix2-validator error"),
        _c("problems", "VARCHAR", "JSON: validator errors"),
        _c("object", "VARCHAR", "the STIX object, JSON", nullable=False),
        _c("imported_at", "TIMESTAMPTZ", nullable=False),
    ),
    "Partners' STIX objects with provenance and TLP (one row per object version).",
    since=2,
)

SHARE_CORRELATIONS = Table(
    "share_correlations",
    (
        _c("run_id", "BIGINT", "the correlation's `runs` row", nullable=False),
        _c("partner_id", "VARCHAR", nullable=False),
        _c("container_id", "VARCHAR", "the partner's report/grouping, or their bundle"),
        _c("kind", "VARCHAR", "account, url, domain or technique", nullable=False),
        _c("remote_ref", "VARCHAR", "their object id", nullable=False),
        _c("local_ref", "VARCHAR", "our account id, URL, domain or technique", nullable=False),
        _c("local_run_id", "BIGINT", "our detection run whose cluster holds it"),
        _c("local_cluster_id", "BIGINT"),
        _c("alert_id", "BIGINT", "the alert it raised, when alerts are available"),
        _c("created_at", "TIMESTAMPTZ", nullable=False),
    ),
    "Partner findings that match ours (same pseudonymised account, URL, domain, technique).",
    since=2,
)

TAXII_STATUS = Table(
    "taxii_status",
    (
        _c("status_id", "VARCHAR", nullable=False),
        _c("partner_id", "VARCHAR", nullable=False),
        _c("collection_id", "VARCHAR"),
        _c("request_timestamp", "TIMESTAMPTZ", nullable=False),
        _c("status", "VARCHAR", "the TAXII status resource, JSON", nullable=False),
    ),
    "Status resources of partners' TAXII add-objects requests.",
    primary_key="status_id",
    since=2,
)

SHARE_SETTINGS = Table(
    "share_settings",
    (_c("key", "VARCHAR", nullable=False), _c("value", "VARCHAR")),
    "Producer identity (name, contact) used in exports.",
    primary_key="key",
    since=2,
)

SHARE_TABLES = (
    PARTNERS,
    PARTNER_FEEDS,
    COLLECTIONS,
    COLLECTION_ACCESS,
    COLLECTION_OBJECTS,
    SHARES,
    SHARED_OBJECTS,
    COMMUNITY_KEYS,
    PSEUDONYMS,
    SHARE_EXEMPTIONS,
    STIX_IDS,
    DISARM_MAPPING,
    SHARE_CASES,
    SHARE_CASE_ITEMS,
    IMPORTED_OBJECTS,
    SHARE_CORRELATIONS,
    TAXII_STATUS,
    SHARE_SETTINGS,
)


NARRATIVES = Table(
    "narratives",
    (
        _c("run_id", "BIGINT", "the `runs` row (step narratives, name narratives)", nullable=False),
        _c("narrative_id", "BIGINT", "1, 2, ... within the run, most posts first", nullable=False),
        _c("label", "VARCHAR", "the top terms joined by ` · ` (a human-readable name)"),
        _c("top_terms", "VARCHAR", "JSON: [[term, c-TF-IDF weight], ...], most distinctive first"),
        _c(
            "representatives",
            "VARCHAR",
            "JSON: [{post_id, text, similarity, copies}], texts nearest the centroid",
        ),
        _c("languages", "VARCHAR", "JSON: language code -> posts"),
        _c("posts", "BIGINT", "posts in the narrative, reposts of its posts included"),
        _c("texts", "BIGINT", "distinct texts (text keys) among them"),
        _c("accounts", "BIGINT", "distinct accounts that posted them"),
        _c(
            "copy_paste_posts", "BIGINT", "posts in near-duplicate groups (simtext) of ≥ 2 accounts"
        ),
        _c("first_t", "TIMESTAMPTZ", "first post"),
        _c("last_t", "TIMESTAMPTZ", "last post"),
        _c("timeline", "VARCHAR", "JSON: UTC day (or hour, see params) -> posts"),
        _c(
            "recent_posts",
            "BIGINT",
            "posts in the last growth window (ending at the workspace's latest post)",
        ),
        _c("prior_posts", "BIGINT", "posts in the growth window before that"),
        _c(
            "growth_rate",
            "DOUBLE",
            "(recent_posts + 1) / (prior_posts + 1) − 1: 0 flat, 1 doubled, −0.5 halved",
        ),
        _c(
            "coordinated_share",
            "DOUBLE",
            "share of posts written by members of coordinated clusters (latest clustered "
            "detection run; NULL when there is none)",
        ),
        _c(
            "coordinated_clusters",
            "VARCHAR",
            "JSON: [{run_id, cluster_id, posts, accounts}] clusters whose members posted in it",
        ),
        _c("cohesion", "DOUBLE", "mean cosine similarity of its texts to the centroid"),
    ),
    "Semantic narratives of a narratives run (docs/narratives.md): clusters of posts that "
    "say the same thing, across languages and rewordings; earlier runs are kept.",
    since=2,
)

NARRATIVE_POSTS = Table(
    "narrative_posts",
    (
        _c("run_id", "BIGINT", nullable=False),
        _c("narrative_id", "BIGINT", nullable=False),
        _c("post_id", "VARCHAR", nullable=False),
        _c(
            "similarity",
            "DOUBLE",
            "cosine similarity of the post's text to the narrative centroid (a repost: its parent's)",
        ),
    ),
    "Which posts belong to which narrative; posts in no narrative are absent.",
    since=2,
)

CLAIMS = Table(
    "claims",
    (
        _c(
            "claim_id",
            "VARCHAR",
            "stable id: md5 of reviewer, review URL and claim text",
            nullable=False,
        ),
        _c("claim_text", "VARCHAR", "the claim as reviewed (claimReviewed / text)", nullable=False),
        _c("claimant", "VARCHAR", "who made the claim (itemReviewed.author / claimant)"),
        _c("claim_date", "TIMESTAMPTZ", "when the claim was made, when given"),
        _c("rating", "VARCHAR", "the verdict as written (alternateName / textualRating)"),
        _c("rating_value", "DOUBLE", "numeric rating normalised to [0, 1] (1 = true), when given"),
        _c("reviewer", "VARCHAR", "the fact-checking organisation (author / publisher name)"),
        _c("reviewer_site", "VARCHAR", "the fact-checker's site (publisher.site or url host)"),
        _c("review_date", "TIMESTAMPTZ", "datePublished / reviewDate"),
        _c("review_url", "VARCHAR", "the fact-check article (normalised URL)"),
        _c("title", "VARCHAR", "the review's headline, when given"),
        _c("lang", "VARCHAR", "language code (inLanguage / languageCode, else detected)"),
        _c(
            "item_urls",
            "VARCHAR[]",
            "normalised URLs of the reviewed items (appearance, firstAppearance, sameAs)",
        ),
        _c(
            "source_format",
            "VARCHAR",
            "claimreview-jsonld, claimreview-html, factcheck-api, datafeed",
        ),
        _c("source", "VARCHAR", "file and position it was imported from"),
        _c("imported_at", "TIMESTAMPTZ"),
    ),
    "Published fact-checks (schema.org ClaimReview) imported with `civicsentry claims import`; "
    "one row per claim review.",
    primary_key="claim_id",
    since=2,
)

CLAIM_MATCHES = Table(
    "claim_matches",
    (
        _c("run_id", "BIGINT", "the `runs` row (step match, name claims)", nullable=False),
        _c("post_id", "VARCHAR", nullable=False),
        _c("claim_id", "VARCHAR", nullable=False),
        _c(
            "score",
            "DOUBLE",
            "calibrated probability that the post repeats the claim (1.0 for a URL match)",
            nullable=False,
        ),
        _c(
            "method",
            "VARCHAR",
            "url (links a reviewed item or the review), hybrid (fused lexical + embedding "
            "score), embedding (embedding rule, e.g. another language), lexical (lexical-only runs)",
            nullable=False,
        ),
        _c("matched_span", "VARCHAR", "the part of the post that matches (sentence or URL)"),
        _c("span_start", "BIGINT", "its character offset in the post text (NULL for a URL)"),
        _c("span_end", "BIGINT", "end offset, exclusive"),
        _c(
            "lexical",
            "DOUBLE",
            "lexical evidence: idf-weighted share of the claim's words in the post",
        ),
        _c("embedding", "DOUBLE", "cosine similarity of post and claim embeddings"),
        _c("rank", "BIGINT", "1 for the post's best-scoring claim, 2 for the next, ..."),
    ),
    "Posts matched to known fact-checked claims by a claim-matching run; earlier runs are kept.",
    since=2,
)

TEXT_EMBEDDINGS = Table(
    "text_embeddings",
    (
        _c("model", "VARCHAR", "embedding model id, e.g. use-m3", nullable=False),
        _c("key_hash", "VARCHAR", "md5 of the text key that was embedded", nullable=False),
        _c("vector", "FLOAT[]", "L2-normalised embedding"),
    ),
    "Embedding cache: one vector per (model, text); a second narratives or claims run reuses it.",
    since=2,
)

NARRATIVE_TABLES = (NARRATIVES, NARRATIVE_POSTS, CLAIMS, CLAIM_MATCHES, TEXT_EMBEDDINGS)


TABLES: tuple[Table, ...] = (
    POSTS,
    ACCOUNTS,
    ACTIONS,
    QUARANTINE,
    INGEST_LOG,
    RUNS,
    AUDIT_LOG,
    META,
    EDGES_WIDE,
    EDGES_CNT,
    EDGE_ACCOUNTS,
    COORDINATION_EDGES,  # a view of the three above: after them
    COORDINATION_CAPS,
    CLUSTERS,
    CLUSTER_MEMBERS,
    ALERTS,
    ALERT_EVENTS,
    ALERT_NOTIFICATIONS,
    WATCH_CHECKPOINTS,
    WATCHLIST_COUNTS,
    USERS,
    API_TOKENS,
    SESSIONS,
    ACCOUNT_SIGNALS_TABLE,
    CLUSTER_SCHEDULES,
    *SHARE_TABLES,
    *NARRATIVE_TABLES,
    CLUSTER_EDGES,
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
            f"## `{t.name}`" + (" (view)" if t.view is not None else ""),
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
