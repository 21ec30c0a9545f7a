"""civicsentry claims: import published fact-checks (ClaimReview) into ``claims`` and
match the workspace's posts against them into ``claim_matches``.

Import is idempotent: a claim review has a stable id (reviewer, review URL, claim
text), so importing the same feed twice updates rows instead of adding them. Matching
adds a run: text matches (``claims.match``: hybrid lexical + embedding retrieval, a
calibrated threshold) and URL matches (a post linking a reviewed item or the review
itself), one row per (post, claim); reposts inherit the matches of the post they
repost. Earlier runs are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import __version__
from ..claims.e5 import e5_embedder
from ..claims.importers import ClaimRecord, read_file
from ..claims.lexical import clean_post
from ..claims.match import (
    MODES,
    ClaimIndex,
    FusionModel,
    lexical_span,
    match_texts,
    sentences,
    summary_of,
    use_gate,
)
from ..errors import BadInputFile, InvalidParams, WorkspaceError
from ..narratives.embed import Embedder, cached_embeddings, get_embedder
from ..normalise import text_key, text_keys
from ..schema import CLAIMS
from ..store import Workspace

RUN_STEP, RUN_NAME = "match", "claims"
SUFFIXES = (".json", ".jsonl", ".jsonld", ".ndjson", ".html", ".htm")
_CHUNK = 512  # distinct post texts scored at once (dense posts × claims score matrices)
Progress = Callable[[str, int, int], None]


# -- import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimFileReport:
    path: str
    format: str | None
    records: int  # claim reviews read
    new: int  # not in the workspace before
    updated: int  # already there (same claim id): replaced by this version
    skipped: list[tuple[str, str]]  # (position, reason)
    error: str | None = None


@dataclass(frozen=True)
class ClaimImportReport:
    files: list[ClaimFileReport] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "records": self.total("records"),
            "new": self.total("new"),
            "updated": self.total("updated"),
        }


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        elif p.exists():
            out.append(p)
        else:
            raise BadInputFile(f"No such file or folder: {p}")
    return out


def import_claims(
    ws: Workspace, paths: Sequence[str | Path], *, format: str | None = None
) -> ClaimImportReport:
    """Import fact-check files (formats: ``claims.importers.FORMATS``; detected when
    not given). A file that cannot be read is reported with its error; the others are
    still imported, each in its own transaction."""
    reports = []
    for path in _expand(paths):
        try:
            fmt, res = read_file(path, format)
        except BadInputFile as e:
            reports.append(ClaimFileReport(str(path), None, 0, 0, 0, [], str(e)))
            continue
        records = {r.claim_id: r for r in res.records}  # a review repeated in a file: once
        with ws.transaction() as con:
            known = set()
            if records:
                known = {
                    r[0]
                    for r in con.execute(
                        "SELECT claim_id FROM claims WHERE list_contains(?, claim_id)",
                        [list(records)],
                    ).fetchall()
                }
                con.execute("DELETE FROM claims WHERE list_contains(?, claim_id)", [list(known)])
                con.from_arrow(_claims_table(list(records.values()))).insert_into("claims")
            ws.audit(
                "claims import",
                {
                    "path": str(path),
                    "format": fmt,
                    "records": len(records),
                    "new": len(records) - len(known),
                },
            )
        reports.append(
            ClaimFileReport(
                str(path), fmt, len(res.records), len(records) - len(known), len(known), res.skipped
            )
        )
    return ClaimImportReport(reports)


def _claims_table(records: list[ClaimRecord]) -> pa.Table:
    cols: dict[str, list[Any]] = {c: [] for c in CLAIMS.column_names}
    now = time.time()
    for r in records:
        row = asdict(r) | {"claim_id": r.claim_id, "imported_at": int(now * 1e6)}
        for name in cols:
            cols[name].append(row.get(name))
    types = {
        "VARCHAR": pa.string(),
        "DOUBLE": pa.float64(),
        "VARCHAR[]": pa.list_(pa.string()),
        "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    }
    arrays = [pa.array(cols[col.name], types[col.type]) for col in CLAIMS.columns]
    return pa.Table.from_arrays(arrays, names=CLAIMS.column_names)


# -- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchSummary:
    run_id: int
    method: str
    claims: int
    posts: int  # posts with text considered (reposts inherit)
    texts: int  # distinct texts scored
    embedded: int  # texts embedded now (the rest from the cache)
    e5_texts: int  # texts given to e5 (cascade: only those that can still match after USE)
    text_matches: int  # (post, claim) rows from text
    url_matches: int  # (post, claim) rows from URLs
    repost_matches: int  # rows inherited by reposts
    matched_posts: int
    matched_claims: int
    params: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _embed(
    ws: Workspace, texts: list[str], embedder: Embedder, progress: Progress | None, label: str
) -> tuple[np.ndarray, int]:
    keys = [text_key(t) or "\x00" for t in texts]
    return cached_embeddings(
        ws.con,
        keys,
        texts,
        embedder=embedder,
        progress=(lambda d, t: progress(label, d, t)) if progress else None,
    )


def claim_index(
    ws: Workspace, embedder: Embedder | None = None, progress: Progress | None = None
) -> tuple[list[str], ClaimIndex]:
    """Claim ids and the matching index of every claim in the workspace."""
    rows = ws.con.execute(
        "SELECT claim_id, claim_text, title FROM claims ORDER BY claim_id"
    ).fetchall()
    if not rows:
        raise WorkspaceError(
            "No claims to match against: import fact-checks first (`civicsentry claims import`)."
        )
    ids = [r[0] for r in rows]
    titles = [r[2] for r in rows]
    vecs = {}
    for name, emb in (("use", embedder or get_embedder()), ("e5", e5_embedder("passage"))):
        cv, _ = _embed(ws, [r[1] for r in rows], emb, progress, f"claims ({name})")
        tv, _ = _embed(ws, [t or "" for t in titles], emb, progress, f"claim titles ({name})")
        tv[[not t for t in titles]] = 0.0  # ClaimIndex puts the claim text in their place
        vecs[name] = (cv, tv)
    return ids, ClaimIndex([r[1] for r in rows], titles, vecs)


def match_claims(
    ws: Workspace,
    *,
    method: str = "hybrid",
    candidates_k: int = 20,
    threshold: float | None = None,
    max_per_post: int = 3,
    urls: bool = True,
    progress: Progress | None = None,
    cascade: bool = True,
) -> MatchSummary:
    """Match every post with text against the imported claims and store a new run.

    Cascade (``claims.match.match_texts``): BM25 and USE for every distinct text, e5 only
    for the texts whose best USE cosine reaches ``use_gate``; the others cannot be
    decided a match. ``cascade=False`` embeds and scores every text with e5 (the
    reference: the same matches, slower)."""
    if method not in MODES:
        raise InvalidParams(f"--method is one of {', '.join(MODES)}, not {method!r}.")
    if candidates_k < 1 or max_per_post < 1:
        raise InvalidParams("--candidates and --max-per-post must be at least 1.")
    if threshold is not None and not 0 <= threshold <= 1:
        raise InvalidParams(f"--threshold must be in [0, 1], not {threshold}.")
    started = time.time()
    model = FusionModel.load()
    embedder = get_embedder()
    ids, index = claim_index(ws, embedder, progress)
    posts = ws.con.sql(
        "SELECT post_id, text FROM posts WHERE kind <> 'repost' AND text IS NOT NULL"
    ).to_arrow_table()
    keys = text_keys(posts.column("text"))
    keep = pc.not_equal(keys, "")
    posts, keys = posts.filter(keep), pc.filter(keys, keep)
    enc = pc.dictionary_encode(keys)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    key_of_post = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_keys = len(enc.dictionary)
    first = np.full(n_keys, len(key_of_post), np.int64)
    np.minimum.at(first, key_of_post, np.arange(len(key_of_post)))
    texts = posts.column("text").take(pa.array(first)).to_pylist()
    # Matching reads a post as ``clean_post`` leaves it (hashtags split, an embedded
    # tweet's signature reduced to the name); cached under that text's own key.
    cleaned = [clean_post(t) for t in texts]
    ckeys = [text_key(t) or "\x00" for t in cleaned]
    use, embedded = cached_embeddings(
        ws.con,
        ckeys,
        cleaned,
        embedder=embedder,
        progress=(lambda d, t: progress("embedding (use)", d, t)) if progress else None,
    )
    e5q = e5_embedder("query")
    fresh_e5 = 0

    def e5_vectors(rows: np.ndarray) -> np.ndarray:
        nonlocal fresh_e5
        v, fresh_e5 = cached_embeddings(
            ws.con,
            [ckeys[i] for i in rows],
            [cleaned[i] for i in rows],
            embedder=e5q,
            progress=(lambda d, t: progress("embedding (e5)", d, t)) if progress else None,
        )
        return v

    decided, e5_rows = match_texts(
        index,
        cleaned,
        use,
        e5_vectors,
        mode=method,
        model=model,
        k=candidates_k,
        threshold=threshold,
        cascade=cascade,
        chunk=_CHUNK,
        progress=(lambda d, t: progress("matching", d, t)) if progress else None,
    )
    embedded = max(embedded, fresh_e5)
    idf = dict(zip(index.lex.vocab, index.lex.idf.tolist(), strict=True))
    found = [(key, claim, p, m, 0, 0, cov, cos) for key, claim, p, m, cov, cos in decided]
    found = _best_per_text(found, max_per_post)
    spans = _spans(found, texts, index, idf, embedder)
    text_rows = pa.table(
        {
            "kid": pa.array([f[0] for f in found], pa.int64()),
            "claim_id": pa.array([ids[f[1]] for f in found], pa.string()),
            "score": pa.array([round(f[2], 6) for f in found], pa.float64()),
            "method": pa.array([f[3] for f in found], pa.string()),
            "matched_span": pa.array([sp[0] for sp in spans], pa.string()),
            "span_start": pa.array([sp[1] for sp in spans], pa.int64()),
            "span_end": pa.array([sp[2] for sp in spans], pa.int64()),
            "lexical": pa.array([round(f[6], 6) for f in found], pa.float64()),
            "embedding": pa.array([round(f[7], 6) for f in found], pa.float64()),
        }
    )
    post_keys = pa.table({"post_id": posts.column("post_id"), "kid": pa.array(key_of_post)})
    params = {
        "method": method,
        "candidates": candidates_k,
        "threshold": model.threshold if threshold is None else threshold,
        "max_per_post": max_per_post,
        "urls": urls,
        "embedding_model": [embedder.model, e5q.model],
        "cascade": cascade,
        "e5_gate": use_gate(method, model, threshold) if cascade else None,
        "model": summary_of(model),
    }
    con = ws.con
    with ws.transaction():
        run_id = ws.next_id("runs", "run_id")
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, to_timestamp(?), NULL, NULL)",
            [run_id, RUN_STEP, RUN_NAME, json.dumps(params, sort_keys=True), __version__, started],
        )
        con.from_arrow(text_rows).create("_cm_text")
        con.from_arrow(post_keys).create("_cm_keys")
        url_sql = (
            """SELECT p.post_id, c.claim_id, 1.0 AS score, 'url' AS method, p.u AS matched_span,
                      NULL::BIGINT AS span_start, NULL::BIGINT AS span_end,
                      NULL::DOUBLE AS lexical, NULL::DOUBLE AS embedding
               FROM (SELECT post_id, unnest(urls) AS u FROM posts WHERE kind <> 'repost') p
               JOIN (SELECT claim_id, unnest(list_distinct(
                        coalesce(item_urls, []) || CASE WHEN review_url IS NULL THEN []
                                                        ELSE [review_url] END)) AS u
                     FROM claims) c ON p.u = c.u"""
            if urls
            else "SELECT * FROM _cm_text WHERE false"
        )
        con.execute(
            f"""
            CREATE TEMP TABLE _cm AS
            WITH t AS (SELECT k.post_id, m.* EXCLUDE (kid) FROM _cm_text m JOIN _cm_keys k USING (kid)),
                 u AS ({url_sql}),
                 both_ AS (SELECT *, 0 AS pri FROM u UNION ALL SELECT *, 1 AS pri FROM t),
                 one AS (SELECT * FROM both_
                         QUALIFY row_number() OVER (PARTITION BY post_id, claim_id
                                                    ORDER BY pri, matched_span) = 1)
            SELECT * EXCLUDE (pri),
                   row_number() OVER (PARTITION BY post_id ORDER BY score DESC, claim_id) AS rank
            FROM one
            """
        )
        con.execute(
            f"""INSERT INTO claim_matches
                SELECT {run_id}, post_id, claim_id, score, method, matched_span, span_start,
                       span_end, lexical, embedding, rank FROM _cm
                UNION ALL
                SELECT {run_id}, r.post_id, m.claim_id, m.score, m.method, m.matched_span,
                       m.span_start, m.span_end, m.lexical, m.embedding, m.rank
                FROM posts r JOIN _cm m ON r.parent_post_id = m.post_id
                WHERE r.kind = 'repost'"""
        )
        counts = con.execute(
            f"""SELECT count(*) FILTER (WHERE m.method <> 'url' AND p.kind <> 'repost'),
                       count(*) FILTER (WHERE m.method = 'url' AND p.kind <> 'repost'),
                       count(*) FILTER (WHERE p.kind = 'repost'),
                       count(DISTINCT m.post_id), count(DISTINCT m.claim_id)
                FROM claim_matches m JOIN posts p USING (post_id) WHERE m.run_id = {run_id}"""
        ).fetchall()[0]
        for t in ("_cm", "_cm_text", "_cm_keys"):
            con.execute(f"DROP TABLE {t}")
        seconds = round(time.time() - started, 3)
        stats = {
            "claims": len(ids),
            "posts": posts.num_rows,
            "texts": n_keys,
            "embedded": embedded,
            "e5_texts": len(e5_rows),
            "text_matches": int(counts[0]),
            "url_matches": int(counts[1]),
            "repost_matches": int(counts[2]),
            "matched_posts": int(counts[3]),
            "matched_claims": int(counts[4]),
        }
        con.execute(
            "UPDATE runs SET finished_at = now(), summary = ? WHERE run_id = ?",
            [json.dumps(stats | {"seconds": seconds}, sort_keys=True), run_id],
        )
        ws.audit("claims match", {"run_id": run_id, **stats})
    return MatchSummary(run_id=run_id, method=method, params=params, seconds=seconds, **stats)


def _best_per_text(
    found: list[tuple[int, int, float, str, int, int, float, float]], limit: int
) -> list[tuple[int, int, float, str, int, int, float, float]]:
    found.sort(key=lambda f: (f[0], -f[2], f[1]))
    out, last, n = [], -1, 0
    for f in found:
        n = n + 1 if f[0] == last else 1
        last = f[0]
        if n <= limit:
            out.append(f)
    return out


def _spans(
    found: list[tuple[int, int, float, str, int, int, float, float]],
    texts: list[str],
    index: ClaimIndex,
    idf: dict[str, float],
    embedder: Embedder,
) -> list[tuple[str, int, int]]:
    """The sentence of each matched post that carries the claim: by words for lexical
    and hybrid matches, by embedding for embedding matches (translations share none)."""
    out = []
    for key, claim, _score, method, *_ in found:
        text = texts[key]
        sents = sentences(text)
        if method == "embedding" and len(sents) > 1:
            sv = embedder.encode([text[s:e] for s, e in sents])
            best = int(np.argmax(sv @ index.vecs["use"][0][claim]))
            s, e = sents[best]
        else:
            s, e, _ = lexical_span(text, index.texts[claim], idf)
        out.append((text[s:e], s, e))
    return out


# -- reading -------------------------------------------------------------------------------


def latest_match_run(ws: Workspace, run_id: int | None = None) -> int:
    rid = run_id
    if rid is None:
        rid = ws.scalar(
            "SELECT max(run_id) FROM runs WHERE step = ? AND name = ?", [RUN_STEP, RUN_NAME]
        )
    ok = rid is not None and ws.scalar(
        "SELECT count(*) FROM runs WHERE run_id = ? AND step = ? AND name = ?",
        [rid, RUN_STEP, RUN_NAME],
    )
    if not ok:
        raise WorkspaceError(
            "No claim-matching run yet: run `civicsentry claims match` first."
            if run_id is None
            else f"Run {run_id} is not a claim-matching run."
        )
    return int(rid)  # type: ignore[arg-type]


def _rows(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return ws.dicts(sql, params)


def list_claims(
    ws: Workspace, *, limit: int | None = 50, search: str | None = None
) -> list[dict[str, Any]]:
    """Imported claims, newest review first, with how many posts the latest matching run
    found repeating each (NULL before any run)."""
    rid = ws.scalar(
        "SELECT max(run_id) FROM runs WHERE step = ? AND name = ?", [RUN_STEP, RUN_NAME]
    )
    lim = f"LIMIT {int(limit)}" if limit else ""
    where = "WHERE c.claim_text ILIKE ? OR c.title ILIKE ?" if search else ""
    params: list[Any] = [rid]
    if search:
        params += [f"%{search}%"] * 2
    return _rows(
        ws,
        f"""SELECT c.claim_id, c.claim_text, c.claimant, c.rating, c.reviewer, c.review_date,
                   c.review_url, c.lang, c.source_format,
                   m.posts AS matched_posts, m.accounts AS matched_accounts, m.last_t
            FROM claims c LEFT JOIN (
                SELECT claim_id, count(*) AS posts, count(DISTINCT p.account_id) AS accounts,
                       max(p.created_at) AS last_t
                FROM claim_matches JOIN posts p USING (post_id) WHERE run_id = ?
                GROUP BY claim_id) m USING (claim_id)
            {where}
            ORDER BY c.review_date DESC NULLS LAST, c.claim_id {lim}""",
        params,
    )


def list_matches(
    ws: Workspace,
    run_id: int | None = None,
    *,
    claim_id: str | None = None,
    method: str | None = None,
    limit: int | None = 50,
) -> list[dict[str, Any]]:
    """Matches of a run (default: the latest), best first, with the post and the claim."""
    rid = latest_match_run(ws, run_id)
    cond: list[str] = ["m.run_id = ?"]
    params: list[Any] = [rid]
    if claim_id:
        cond.append("m.claim_id = ?")
        params.append(claim_id)
    if method:
        cond.append("m.method = ?")
        params.append(method)
    lim = f"LIMIT {int(limit)}" if limit else ""
    return _rows(
        ws,
        f"""SELECT m.post_id, p.account_id, p.created_at, p.kind, p.lang, m.claim_id,
                   m.score, m.method, m.rank, m.matched_span, m.lexical, m.embedding,
                   c.claim_text, c.rating, c.reviewer, c.review_url, p.text
            FROM claim_matches m JOIN posts p USING (post_id) JOIN claims c USING (claim_id)
            WHERE {" AND ".join(cond)}
            ORDER BY m.score DESC, p.created_at, m.post_id, m.claim_id {lim}""",
        params,
    )
