"""Ingest: files in, canonical rows out, nothing lost.

Each file is one transaction: its posts, accounts, quarantined records, derived actions
and its ``ingest_log`` row are committed together or not at all, so a crash or a
``kill -9`` leaves the workspace as it was before that file, and running the same
command again completes the work. Posts are deduplicated on their platform-qualified
id, so re-ingesting stores nothing twice. For every file:

    rows read = rows stored + duplicates + rows quarantined
"""

from __future__ import annotations

import glob
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import __version__
from ..derive import derive_actions
from ..errors import BadInputFile, InputError, StrictModeViolation, WorkspaceError
from ..ingest import detect_adapter, get_adapter
from ..ingest.base import RAW_MAX, Adapter, Bad, Batch, Options
from ..ingest.prepare import prepare_accounts, prepare_posts
from ..ingest.readers import NotClean, sample
from ..schema import ACCOUNTS, POST_KINDS, POSTS
from ..store import Workspace, drop_indexes, duckdb_settings, ensure_indexes

log = logging.getLogger("civicsentry")

_T = TypeVar("_T")
FLUSH_ROWS = 250_000  # posts buffered before one write: bounded memory, few index probes
# DuckDB's share of an ingest's memory. Staging and publishing stream, so a larger cache
# buys little speed (measured: the same time on 10M Parquet posts, 5-10 % on X API v2
# pages) but would grow the process with the file until the cache is full.
INGEST_MEMORY_MB = 400
# DuckDB keeps the index entries a transaction inserts in memory it cannot spill until
# the commit, and appending to an indexed table loads the table's whole index (25 bytes a
# post for the index on posts.account_id; 10M posts failed at 400 MB). A file that is
# large beside the table is therefore published without that index, under the ingest's
# own limit, and the index is built again afterwards from the stored table (bulk, in its
# own transaction; a crash in between is repaired when the workspace is next opened). A
# small file goes into the indexed table, under a limit that holds the whole index.
PUBLISH_BYTES_PER_POST = 60
# Building the index from the stored table needs its entries and little else (measured:
# 10M posts under 400 MB, 315 MB resident); more would only be used as cache.
INDEX_BYTES_PER_POST = 40
ProgressFn = Callable[[str, int], None]  # (file, records read so far in it)
STAGING_CHECKPOINT_THRESHOLD = "1TB"  # in effect, none while a file's stage is small
# ... up to this many records: beyond, the stage is compressed again as DuckDB sees fit
# (uncompressed, 10M X v2 posts ran the 400 MB duplicate check out of memory).
STAGE_UNCOMPRESSED_RECORDS = 2_000_000


def publish_memory_limit(posts: int) -> str:
    """DuckDB's memory limit for appending a file to the indexed ``posts`` table, which
    will then hold ``posts`` posts (see above)."""
    return f"{INGEST_MEMORY_MB + -(-posts * PUBLISH_BYTES_PER_POST // 1_000_000)}MB"


def index_memory_limit(posts: int) -> str:
    """DuckDB's memory limit for building the index of a ``posts`` table of ``posts``."""
    return f"{max(INGEST_MEMORY_MB, -(-posts * INDEX_BYTES_PER_POST // 1_000_000))}MB"


#: Files of fewer posts append to the index. Appending costs little at the insert, but
#: rows appended to an indexed table go through the WAL and are compressed again on one
#: thread at the commit (~0.9 s per 1M posts), where building the index afresh costs
#: ~0.5 s per 1M. From 1M cnt posts on, building is faster (4.9-5.6 -> 4.7-4.9 s a file);
#: at 10k and 100k the two were within noise.
REBUILD_MIN_POSTS = 250_000


def rebuilds_index(staged: int, stored: int) -> bool:
    """Whether ``staged`` posts are published without the index of ``posts`` (which holds
    ``stored``), and the index built again afterwards: when the file is large and at
    least doubles the table. Building an index is one pass over the table (10M posts:
    ~8 CPU s), and the table at least doubles between two builds, so all the builds of
    a workspace cost at most twice the last one; a small file into a big table keeps
    the index and appends to it."""
    return staged >= REBUILD_MIN_POSTS and staged >= stored


#: The per-file counts, in the order they are reported.
COUNT_FIELDS = (
    "rows_read",
    "rows_stored",
    "rows_duplicate",
    "rows_quarantined",
    "accounts",
    "actions",
)


@dataclass(frozen=True)
class FileResult:
    source: str
    format: str
    ingest_batch: int | None
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    accounts: int = 0
    actions: int = 0
    seconds: float = 0.0
    error: str | None = None
    quarantine_sample: tuple[str, ...] = ()  # the first few reasons, for the CLI


@dataclass(frozen=True)
class IngestReport:
    files: tuple[FileResult, ...] = field(default_factory=tuple)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def failed(self) -> tuple[FileResult, ...]:
        return tuple(f for f in self.files if f.error)

    def as_dict(self) -> dict[str, object]:
        keys = COUNT_FIELDS
        return {
            "files": [f.__dict__ for f in self.files],
            **{k: self.total(k) for k in keys},
            "failed": len(self.failed),
        }


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files, folders (every file inside, recursively, sorted) and glob patterns."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if any(ch in str(raw) for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True))
            found += [m for m in matches if m.is_file()]
            if not matches:
                raise InputError(f"No file matches {raw}.")
        elif p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.exists():
            found.append(p)
        else:
            raise InputError(f"No such file or folder: {raw}")
    return found


def ingest_files(
    ws: Workspace,
    paths: Sequence[str | Path],
    *,
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
    platform: str | None = None,
    encoding: str = "utf-8",
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest files, folders or globs. A file that cannot be read at all is reported in
    its ``FileResult.error`` and the others go on; with ``strict`` the first bad record
    aborts its file (nothing of it is stored) and the run."""
    options = Options(mapping=dict(mapping or {}), platform=platform, encoding=encoding)
    forced = get_adapter(format) if format else (get_adapter("table") if mapping else None)
    _drop_stale_stages(ws)
    # Staging streams: DuckDB needs little cache, and keeping it small keeps staging's
    # memory independent of the input's size (publishing gets its own limit).
    # Rows carry their source position, so their order in a table does not matter: without
    # it DuckDB inserts in parallel and buffers less.
    settings = {"memory_limit": f"{INGEST_MEMORY_MB}MB", "preserve_insertion_order": False}
    with duckdb_settings(ws.con, settings):
        results = _ingest_paths(ws, paths, forced, format, options, strict, progress)
    report = IngestReport(tuple(results))
    ws.audit(
        "ingest",
        {k: v for k, v in report.as_dict().items() if k != "files"}
        | {"sources": [f.source for f in results]},
    )
    return report


@dataclass
class _Stage:
    """Staging tables of one file: temporary tables of the connection, which chunks are
    committed into as they are read (a commit writes nothing to the workspace file: no
    WAL, no compression) and which DuckDB spills to its temporary folder beyond the
    memory limit, so memory stays bounded whatever the file's size. The canonical tables
    receive the whole file in one final transaction, so a crash or a kill leaves them as
    they were, and a killed run's stage disappears with its process. (Workspaces of
    versions that staged in ordinary tables may still hold some: the next ingest drops
    them.)"""

    batch: int
    ranked: int = 0  # account rows offered to the stage so far (their `seq` order)

    def name(self, table: str) -> str:
        return f"{STAGE_PREFIX}{self.batch}_{table}"

    def create(self, con) -> None:  # type: ignore[no-untyped-def]
        # Staged posts keep their text key (computed in Python while reading) so that
        # actions are derived once, straight into `actions`, when the file is published,
        # and their rank in the file (`seq`), by which the first of a repeated id is kept
        # (positions are per record, and one record can hold several posts).
        con.execute(
            f"CREATE TEMP TABLE {self.name('posts')} AS SELECT *, ''::VARCHAR AS text_key, "
            "0::BIGINT AS seq FROM posts LIMIT 0"
        )
        con.execute(
            f"CREATE TEMP TABLE {self.name('quarantine')} AS SELECT * FROM quarantine LIMIT 0"
        )
        con.execute(
            f"CREATE TEMP TABLE {self.name('accounts')} AS SELECT *, 0::BIGINT AS seq FROM accounts LIMIT 0"
        )

    def drop(self, con) -> None:  # type: ignore[no-untyped-def]
        for table in ("posts", "quarantine", "accounts", "newest", "latest", "merged"):
            con.execute(f"DROP TABLE IF EXISTS {self.name(table)}")


STAGE_PREFIX = "_ingest_stage_"


def _drop_stale_stages(ws: Workspace) -> None:
    """Drop staging tables left by a run that was killed (a finished run drops its own;
    a workspace has one writer at a time, so any that remain are stale)."""
    rows = ws.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE starts_with(table_name, ?)",
        [STAGE_PREFIX],
    ).fetchall()
    for (name,) in rows:
        ws.con.execute(f"DROP TABLE IF EXISTS {name}")
    if rows:
        log.info("dropped %d staging tables left by an interrupted ingest", len(rows))


def _ingest_paths(
    ws: Workspace,
    paths: Sequence[str | Path],
    forced: Adapter | None,
    format: str | None,
    options: Options,
    strict: bool,
    progress: ProgressFn | None,
) -> list[FileResult]:
    results: list[FileResult] = []
    for path in expand_paths(paths):
        started = time.perf_counter()
        try:
            adapter = forced or detect_adapter(sample(path))
            try:
                result = _ingest_one(ws, path, adapter, options, strict, progress)
            except NotClean as e:
                # The vectorised reader found a flaw after some blocks: nothing of the
                # file was published (its stage is gone), so read it again row by row.
                log.info("%s; reading it record by record", e)
                slow = replace(options, vectorised=False)
                result = _ingest_one(ws, path, adapter, slow, strict, progress)
        except StrictModeViolation:
            raise
        except duckdb.OutOfMemoryException as e:
            # One line, not a traceback; the file's transaction rolled back (or, past its
            # commit, the index it lacks is built on the next open).
            raise WorkspaceError(
                f"{path}: ran out of memory while ingesting it (DuckDB: "
                f"{str(e).splitlines()[0]}). A file is stored whole or not at all; running "
                "the same command again stores only what is missing."
            ) from e
        except InputError as e:
            results.append(FileResult(str(path), format or "?", None, error=str(e)))
            log.warning("%s", e)
            continue
        results.append(replace(result, seconds=round(time.perf_counter() - started, 3)))
    return results


def _ingest_one(
    ws: Workspace,
    path: Path,
    adapter: Adapter,
    options: Options,
    strict: bool,
    progress: ProgressFn | None,
) -> FileResult:
    con = ws.con
    source = str(path)
    counts = dict.fromkeys(("rows_read", "rows_stored", "rows_duplicate", "rows_quarantined"), 0)
    started = ws.scalar("SELECT now()")
    stage = _Stage(ws.next_id("ingest_log", "ingest_batch"))
    stage.create(con)
    published = False
    valid = 0
    try:
        # No automatic checkpoint while the stage is small: the stage's commits write
        # nothing to the workspace, yet DuckDB counted them towards its checkpoint
        # threshold and, once past it, compressed the whole stage in the middle of a chunk
        # (1M toolkit rows: ~1 CPU s, once). A large stage is compressed as before: it
        # must fit the ingest's memory limit. The workspace's own checkpoints follow the
        # publishing commit, under the usual threshold.
        with ExitStack() as small_stage:
            small_stage.enter_context(
                duckdb_settings(con, {"checkpoint_threshold": STAGING_CHECKPOINT_THRESHOLD})
            )
            for posts, accounts, bad in _buffered(adapter.read(path, options)):
                if counts["rows_read"] >= STAGE_UNCOMPRESSED_RECORDS:
                    small_stage.close()  # the usual threshold again (closing twice is a no-op)
                # Autocommitted: the stage is temporary, so a commit writes nothing to disk.
                rank = counts["rows_read"]  # of the chunk's first row in the file
                counts["rows_read"] += posts.num_rows + len(bad)
                valid_only = not _may_be_invalid(posts)
                q_bad, q_posts = _quarantine(con, source, stage, posts, bad, valid_only=valid_only)
                counts["rows_quarantined"] += q_bad + q_posts
                if q_bad + q_posts and strict:
                    first = _reasons(con, stage.name("quarantine"), 1)[0]
                    raise StrictModeViolation(
                        f"{source}: {first} (--strict: nothing from this file was stored)"
                    )
                _stage_posts(con, source, stage, posts, seq=rank, valid_only=valid_only)
                valid += posts.num_rows - q_posts
                _stage_accounts(con, stage, posts, accounts)
                if progress:
                    progress(source, counts["rows_read"])
        reasons = _reasons(con, stage.name("quarantine"), 5) if counts["rows_quarantined"] else []
        params = {
            "format": adapter.name,
            "mapping": dict(options.mapping),
            "platform": options.platform,
            "encoding": options.encoding,
            "strict": strict,
        }
        stored = int(ws.scalar("SELECT count(*) FROM posts"))
        rebuild = rebuilds_index(valid, stored)
        limit = f"{INGEST_MEMORY_MB}MB" if rebuild else publish_memory_limit(stored + valid)
        if rebuild:
            # Dropped in a transaction of its own: DuckDB writes the rows appended to a
            # table that has an index into the WAL at the commit and compresses them again
            # at the checkpoint, on one thread (~0.9 s per 1M posts), and an unindexed
            # table's straight into the database file. Until the index is built again,
            # readers scan; a kill in between leaves it to the next writable open.
            with ws.transaction():
                drop_indexes(con, POSTS)
        try:
            with duckdb_settings(con, {"memory_limit": limit}), ws.transaction():
                staged = stage.name("posts")
                counts["rows_stored"] = _keep_first_new(con, staged)
                counts["rows_duplicate"] = valid - counts["rows_stored"]
                con.execute(f"INSERT INTO posts SELECT * EXCLUDE (text_key, seq) FROM {staged}")
                n_actions = derive_actions(con, staged)
                con.execute(f"INSERT INTO quarantine SELECT * FROM {stage.name('quarantine')}")
                n_accounts = _merge_accounts(con, stage)
                con.execute(
                    "INSERT INTO ingest_log VALUES (?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        stage.batch,
                        source,
                        adapter.name,
                        started,
                        *counts.values(),
                        n_accounts,
                        n_actions,
                        json.dumps(params),
                        __version__,
                    ],
                )
                stage.drop(con)
        except BaseException:
            if rebuild:  # the rollback kept the drop: build the index again now if we can
                with (
                    suppress(duckdb.Error),
                    duckdb_settings(con, {"memory_limit": index_memory_limit(stored)}),
                ):
                    ensure_indexes(ws)
            raise
        published = True
        if rebuild:
            with duckdb_settings(
                con, {"memory_limit": index_memory_limit(stored + counts["rows_stored"])}
            ):
                ensure_indexes(ws)
    except InputError as e:
        if isinstance(e, BadInputFile | StrictModeViolation):
            raise
        raise BadInputFile(f"{source}: {e}") from e
    finally:
        if not published:
            stage.drop(con)
    return FileResult(
        source,
        adapter.name,
        stage.batch,
        **counts,
        accounts=n_accounts,
        actions=n_actions,
        quarantine_sample=tuple(reasons),
    )


def _prefetch(items: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    """Run ``items`` in a thread, ``depth`` ahead: parsing and normalising (Python) then
    overlap with DuckDB's writes, which release the GIL. Errors surface in the caller."""
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as e:  # handed to the consumer, which re-raises it
            q.put(("error", e))

    thread = threading.Thread(target=work, name="civicsentry-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def _buffered(batches: Iterator[Batch]) -> Iterator[tuple[pa.Table, list[pa.Table], list[Bad]]]:
    """Group adapter batches into writes of about FLUSH_ROWS posts. Reading (which may
    run in DuckDB, as twitter-v2's pages do), preparing (Python) and storing (DuckDB)
    each run in their own thread, so the two cores stay busy."""
    return _prefetch(_grouped(_prefetch(batches)))


def _grouped(batches: Iterator[Batch]) -> Iterator[tuple[pa.Table, list[pa.Table], list[Bad]]]:
    posts: list[pa.Table] = []
    accounts: list[pa.Table] = []
    bad: list[Bad] = []
    n = 0
    for batch in batches:
        if len(batch.posts):
            t = prepare_posts(batch.posts)
            posts.append(t)
            n += t.num_rows
        if len(batch.accounts):
            accounts.append(prepare_accounts(batch.accounts))
        bad += batch.bad
        if n >= FLUSH_ROWS or len(bad) >= FLUSH_ROWS:
            yield _concat(posts), accounts, bad
            posts, accounts, bad, n = [], [], [], 0
    if posts or accounts or bad:
        yield _concat(posts), accounts, bad


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return prepare_posts([])
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


_KINDS = ", ".join(f"'{k}'" for k in POST_KINDS)
_REASON = f"""CASE
    WHEN problem IS NOT NULL THEN problem
    WHEN platform IS NULL OR trim(platform) = '' THEN 'missing platform'
    WHEN post_id IS NULL OR trim(post_id) = '' THEN 'missing post_id'
    WHEN account_id IS NULL OR trim(account_id) = '' THEN 'missing account_id'
    WHEN created_at IS NULL THEN 'missing or unparseable created_at'
    WHEN coalesce(kind, 'post') NOT IN ({_KINDS}) THEN 'unknown kind ' || kind
    END"""


def _qualify(col: str) -> str:
    # Platform-qualified ids everywhere: `x:123`. Ids that already carry it stay as they are.
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN starts_with({col}, platform || ':') "
        f"THEN {col} ELSE platform || ':' || {col} END"
    )


def _clean_list(col: str) -> str:
    # Lists are never null in `posts`: empty when the source had none or none was valid.
    # Two spellings of one link normalise to one URL: keep its first occurrence, in order.
    return (
        f"coalesce(list_filter({col}, lambda x, i: x IS NOT NULL "
        f"AND list_position({col}, x) = i), [])"
    )


def _may_be_invalid(posts: pa.Table) -> bool:
    """Whether some post of the chunk may have a ``_REASON``, tested in Arrow on the
    chunk's columns: a superset of the reasons (what Arrow calls white space includes
    the space separators DuckDB's ``trim`` removes), so a chunk that passes holds only
    valid posts and skips evaluating the reasons in DuckDB, twice."""
    if not posts.num_rows:
        return False
    if posts.column("problem").null_count < posts.num_rows:
        return True
    if posts.column("created_at").null_count:
        return True
    for name in ("platform", "post_id", "account_id"):
        col = posts.column(name)
        if col.null_count:
            return True
        blank = pc.or_(pc.utf8_is_space(col), pc.equal(pc.binary_length(col), 0))
        if pc.any(blank).as_py():
            return True
    kind = posts.column("kind")  # null is valid (a post)
    unknown = pc.and_(
        pc.is_valid(kind), pc.invert(pc.is_in(kind, value_set=pa.array(POST_KINDS, pa.string())))
    )
    return bool(pc.any(unknown).as_py())


def _quarantine(  # type: ignore[no-untyped-def]
    con, source: str, stage: _Stage, posts: pa.Table, bad: list[Bad], *, valid_only: bool
) -> tuple[int, int]:
    """Stage the chunk's bad records and invalid posts (none when ``valid_only``: see
    ``_may_be_invalid``); returns how many of each."""
    batch_id = stage.batch
    n = 0
    if bad:
        con.executemany(
            f"INSERT INTO {stage.name('quarantine')} VALUES (?, ?, ?, ?, ?)",
            [[source, b.position, b.reason, b.raw[:RAW_MAX], batch_id] for b in bad],
        )
    if posts.num_rows and not valid_only:
        n = insert_arrow(
            con,
            stage.name("quarantine"),
            posts,
            f"""SELECT {_literal(source)}, position, reason,
                   left(coalesce(raw, to_json(struct_pack(post_id, account_id, created_at, kind, text))::VARCHAR), {RAW_MAX}),
                   {int(batch_id)}::BIGINT
            FROM (SELECT *, {_REASON} AS reason FROM _arrow) WHERE reason IS NOT NULL""",
        )
    return len(bad), n


def _stage_posts(  # type: ignore[no-untyped-def]
    con, source: str, stage: _Stage, posts: pa.Table, *, seq: int, valid_only: bool
) -> None:
    """Stage the chunk's valid posts (qualified, lists cleaned, with their text keys and
    their rank in the file from ``seq``, above any rank of an earlier chunk); how many
    they are is known from ``_quarantine``, which takes the others (``valid_only``: there
    are none, and the reasons need not be evaluated). Repeated ids are
    removed once, at publish (``_keep_first_new``): checking each chunk against
    everything staged before it would cost time quadratic in the file's size."""
    if not posts.num_rows:
        return
    ranks = pa.array(np.arange(seq, seq + posts.num_rows, dtype=np.int64))
    insert_arrow(
        con,
        stage.name("posts"),
        posts.append_column("_seq", ranks),
        f"""
        SELECT {_qualify("post_id")} AS post_id, platform, {_qualify("account_id")} AS account_id,
               created_at, coalesce(kind, 'post') AS kind,
               {_qualify("parent_post_id")} AS parent_post_id, text, lang,
               {_clean_list("urls")} AS urls, {_clean_list("domains")} AS domains,
               {_clean_list("hashtags")} AS hashtags, {_clean_list("mentions")} AS mentions,
               {_clean_list("media_hashes")} AS media_hashes, {_literal(source)} || ':' || position AS source,
               {int(stage.batch)}::BIGINT AS ingest_batch, text_key, _seq
        FROM _arrow {"" if valid_only else f"WHERE ({_REASON}) IS NULL"}""",
        count=False,
    )


def _keep_first_new(con, staged: str) -> int:  # type: ignore[no-untyped-def]
    """Reduce the staged posts to the first occurrence in the file of each qualified id
    not already in ``posts``; returns how many remain.

    One grouping over the file, which DuckDB spills to disk under its memory limit, and
    joins that hold only the repeats: a join against every staged row's rank (``seq NOT
    IN``) or every stored id (``post_id IN posts``) holds the whole file or table in
    memory (it ran out of 400 MB at 10M posts in one of two runs)."""
    con.execute(f"""
        DELETE FROM {staged} s USING (
            SELECT post_id, min(seq) AS first FROM {staged} GROUP BY post_id HAVING count(*) > 1
        ) r
        WHERE s.post_id = r.post_id AND s.seq <> r.first""")
    con.execute(f"""
        DELETE FROM {staged}
        WHERE post_id IN (SELECT post_id FROM {staged} JOIN posts USING (post_id))""")
    return int(con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0])


def _stage_accounts(con, stage: _Stage, posts: pa.Table, accounts: list[pa.Table]) -> None:  # type: ignore[no-untyped-def]
    """Profiles from the file and handles carried by posts, merged once per file.

    Each staged row gets its own ``seq``, increasing in file order, so the merge's
    "newest non-null value wins" has no ties: a profile in an account table beats a
    handle carried by a post (posts' ranks sit below ``_PROFILE_SEQ``); among the same
    kind, the later in the file wins (the later post's handle, the later profile row).
    The ranks count the rows offered so far (``stage.ranked``)."""
    if posts.num_rows:
        # One row per author: the handle of its last post in the chunk (only the latest
        # counts in the merge, so the others need not be staged).
        first = stage.ranked
        stage.ranked += posts.num_rows
        rows = _last_handles(posts)
        if len(rows):
            authors = posts.select(["platform", "account_id", "handle"]).take(rows)
            _stage(con, stage, authors, ranks=first + rows)
    for table in accounts:
        first = stage.ranked
        stage.ranked += table.num_rows
        ranks = np.arange(first, first + table.num_rows, dtype=np.int64) + _PROFILE_SEQ
        _stage(con, stage, table, ranks=ranks)


def _last_handles(posts: pa.Table) -> np.ndarray:
    """Indices, ascending, of each author's last post in ``posts`` that carries a handle
    and no problem: one pass of hashing in Arrow and a sort of integers in numpy, where
    a window over the chunk in DuckDB cost a fifth of staging it."""
    col = posts.column
    carried = pc.and_(
        pc.and_(pc.is_valid(col("account_id")), pc.is_valid(col("platform"))),
        pc.and_(pc.is_null(col("problem")), pc.is_valid(col("handle"))),
    )
    rows = np.flatnonzero(carried.to_numpy(zero_copy_only=False))
    if not len(rows):
        return rows
    key = np.zeros(len(rows), dtype=np.int64)
    for name in ("platform", "account_id"):
        codes = pc.dictionary_encode(col(name).combine_chunks().take(rows))
        key = key * len(codes.dictionary) + codes.indices.to_numpy().astype(np.int64)
    # The last row of each key: its first in the reversed order.
    _, first_reversed = np.unique(key[::-1], return_index=True)
    return np.sort(rows[len(rows) - 1 - first_reversed])


#: Ranks of profile rows start here, above any rank of a post-carried handle.
_PROFILE_SEQ = 1 << 61


def _stage(con, stage: _Stage, table: pa.Table, *, ranks: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    # Rows for the staged accounts: the account columns the table has, NULL for the
    # others; `seq` = the row's rank (``ranks``).
    present = set(table.column_names)
    picks = ", ".join(
        (_qualify(c.name) if c.name == "account_id" else c.name)
        if c.name in present
        else f"NULL::{c.type} AS {c.name}"
        for c in ACCOUNTS.columns
    )
    rows = table.append_column("_row", pa.array(ranks, pa.int64()))
    insert_arrow(
        con,
        stage.name("accounts"),
        rows,
        f"SELECT {picks}, _row FROM _arrow WHERE account_id IS NOT NULL AND platform IS NOT NULL",
        count=False,
    )


def insert_arrow(  # type: ignore[no-untyped-def]
    con, table: str, data: pa.Table, select: str = "SELECT * FROM _arrow", *, count: bool = True
) -> int:
    """Insert the rows of ``select`` over ``data`` (named ``_arrow`` in it) into ``table``,
    in the table's column order; returns how many (``count``: the rows go through Arrow
    once more to be counted, which costs time on big chunks; else returns -1).

    Goes through a relation, never ``con.register``: inside a transaction DuckDB keeps
    every registered object a query read until the commit, so a file of 10M posts would
    hold all of them in memory."""
    rel = con.from_arrow(data).query("_arrow", select)
    if not count:
        rel.insert_into(table)
        return -1
    rows = rel.to_arrow_table()
    if rows.num_rows:
        con.from_arrow(rows).insert_into(table)
    return rows.num_rows


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_PROFILE = (
    "handle",
    "display_name",
    "created_at",
    "followers",
    "following",
    "posts_count",
    "verified",
    "description",
    "location",
)


def _merge_accounts(con, stage: _Stage) -> int:  # type: ignore[no-untyped-def]
    """Upsert the accounts of this file: newest non-null profile values win, first/last
    seen widen to cover this file's posts (stored accounts are replaced by their merged
    rows, inside the file's transaction).

    The staged rows are first narrowed to those that can win: the newest ``seq`` holding
    each field, and the newest row (an account whose rows hold no field still counts),
    a few rows per account. Picking the values straight from every staged row kept
    partial string states under the ingest's memory limit: the 14.6M staged rows of 479k
    accounts of 10M X v2 tweets took 54 s that way, 14 s narrowed first. The steps are
    separate tables: as one statement DuckDB planned the narrowing worse (32 s)."""
    accounts, newest, latest = (stage.name(t) for t in ("accounts", "newest", "latest"))
    seqs = ", ".join(f"max(seq) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in _PROFILE)
    con.execute(
        f"CREATE TEMP TABLE {newest} AS "
        f"SELECT account_id, max(seq) AS newest_row, {seqs} FROM {accounts} GROUP BY account_id"
    )
    at = ", ".join(f"n.{c}" for c in ("newest_row", *_PROFILE))
    con.execute(
        f"CREATE TEMP TABLE {latest} AS SELECT a.* FROM {accounts} a "
        f"JOIN {newest} n USING (account_id) WHERE a.seq IN ({at})"
    )
    con.execute(f"DROP TABLE {newest}")
    picks = ", ".join(f"arg_max({c}, seq) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in _PROFILE)
    # The stored accounts are replaced by their merged rows (deleted, then inserted with
    # the new ones): an upsert (ON CONFLICT DO UPDATE) of 240k stored accounts of 500k
    # took 35 s under the ingest's memory limit, this 6 s, with the same rows.
    widen = {
        "platform": "coalesce(a.platform, m.platform)",  # as first stored
        "first_seen": "least(a.first_seen, m.first_seen)",
        "last_seen": "greatest(a.last_seen, m.last_seen)",
        **{c: f"coalesce(m.{c}, a.{c})" for c in _PROFILE},
    }
    cols = ACCOUNTS.column_names
    merged = stage.name("merged")
    con.execute(f"""
        CREATE TEMP TABLE {merged} AS
        SELECT {", ".join(f"{widen.get(c, 'm.' + c)} AS {c}" for c in cols)}
        FROM (SELECT account_id, coalesce(s.platform, p.platform) AS platform, {", ".join(_PROFILE)},
                     p.first_seen, p.last_seen
              FROM (SELECT account_id, any_value(platform) AS platform, {picks}
                    FROM {latest} GROUP BY account_id) s
              FULL OUTER JOIN (SELECT account_id, any_value(platform) AS platform,
                                      min(created_at) AS first_seen, max(created_at) AS last_seen
                               FROM {stage.name("posts")} GROUP BY account_id) p
              USING (account_id)) m
        LEFT JOIN accounts a USING (account_id)
    """)
    con.execute(f"DROP TABLE {latest}")
    con.execute(f"DELETE FROM accounts WHERE account_id IN (SELECT account_id FROM {merged})")
    rows = con.execute(
        f"INSERT INTO accounts ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {merged}"
    ).fetchall()
    con.execute(f"DROP TABLE {merged}")
    return int(rows[0][0]) if rows else 0


def _reasons(con, table: str, k: int) -> list[str]:  # type: ignore[no-untyped-def]
    rows = con.execute(
        f"SELECT position, reason FROM {table} ORDER BY position LIMIT ?", [k]
    ).fetchall()
    return [f"record {pos}: {reason}" for pos, reason in rows]
