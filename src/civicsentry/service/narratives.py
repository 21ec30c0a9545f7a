"""civicsentry narratives: cluster the workspace's posts into narratives (what they say,
across languages and rewordings), store them under a new run, and read them back.

The flow (docs/narratives.md): distinct texts (``normalise.text_key``) of posts,
replies and quotes → near-duplicate groups (``detect.simtext``, the coordination
engine's MinHash/LSH) → cached multilingual embeddings → nearest-neighbour graph +
Leiden (``narratives.cluster``) → labels (c-TF-IDF), representative posts, languages,
timeline, growth and the share of posts by coordinated accounts. Reposts join the
narrative of the post they repost. Every run adds rows; none is overwritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import __version__
from ..detect.simtext import SimtextParams, key_labels
from ..errors import InvalidParams, WorkspaceError
from ..narratives.cluster import ClusterParams, cluster_units, unit_vectors
from ..narratives.embed import cached_embeddings, get_embedder
from ..narratives.label import ctfidf_terms
from ..narratives.timeline import Growth, bucket_seconds, timelines
from ..normalise import text_keys
from ..store import Workspace

RUN_STEP = RUN_NAME = "narratives"
JSON_COLUMNS = (
    "top_terms",
    "representatives",
    "languages",
    "timeline",
    "coordinated_clusters",
)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class NarrativeSummary:
    """What one narratives run did."""

    run_id: int
    posts: int  # posts considered (with text; reposts via their parents)
    texts: int  # distinct text keys
    embedded: int  # of those, embedded now (the rest came from the cache)
    near_duplicate_groups: int  # simtext groups of ≥ 2 texts
    narratives: int
    assigned_posts: int
    coordination_run_id: int | None  # the clustered detection run used for coordinated_share
    graph: dict[str, Any]
    params: dict[str, Any]
    seconds: float
    top: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_clustered_run(ws: Workspace) -> int | None:
    """The newest detection run that has clusters, or None."""
    value = ws.scalar(
        "SELECT CAST(json_extract(params, '$.detection_run_id') AS BIGINT) FROM runs "
        "WHERE step = 'cluster' ORDER BY run_id DESC LIMIT 1"
    )
    if value is None or not ws.scalar(
        "SELECT count(*) FROM cluster_members WHERE run_id = ?", [int(value)]
    ):
        return None
    return int(value)


def build_narratives(
    ws: Workspace,
    *,
    min_similarity: float = ClusterParams.min_similarity,
    k: int = ClusterParams.k,
    min_posts: int = ClusterParams.min_posts,
    copy_similarity: float = ClusterParams.copy_similarity,
    resolution: float = ClusterParams.resolution,
    simtext_threshold: float = SimtextParams.threshold,
    growth_window_h: float = 24.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> NarrativeSummary:
    """Cluster the workspace's posts into narratives and store them as a new run."""
    cparams = ClusterParams(
        k=k,
        min_similarity=min_similarity,
        min_posts=min_posts,
        copy_similarity=copy_similarity,
        resolution=resolution,
        seed=seed,
    ).check()
    sparams = SimtextParams(threshold=simtext_threshold).check()
    if growth_window_h <= 0:
        raise InvalidParams(f"--growth-window must be positive hours, not {growth_window_h}.")
    started = time.time()
    con = ws.con
    posts = con.sql(
        "SELECT post_id, account_id, epoch(created_at) AS t, text, lang FROM posts "
        "WHERE kind <> 'repost' AND text IS NOT NULL ORDER BY created_at, post_id"
    ).to_arrow_table()
    if posts.num_rows == 0:
        raise WorkspaceError(
            f"{ws.path} has no posts with text: ingest posts first (`civicsentry ingest`)."
        )
    keys = text_keys(posts.column("text"))
    keep = pc.not_equal(keys, "")
    posts, keys = posts.filter(keep), pc.filter(keys, keep)
    enc = pc.dictionary_encode(keys)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    key_of_post = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniq_keys = enc.dictionary
    n_keys = len(uniq_keys)
    key_posts = np.bincount(key_of_post, minlength=n_keys)
    # The first original text of each key: the model reads it with its casing.
    first_post = np.full(n_keys, len(key_of_post), np.int64)
    np.minimum.at(first_post, key_of_post, np.arange(len(key_of_post)))
    texts = posts.column("text").take(pa.array(first_post)).to_pylist()

    if progress:
        progress("near-duplicate texts", 0, 1)
    unit_raw = key_labels(con, uniq_keys, sparams)
    _, unit = np.unique(unit_raw, return_inverse=True)
    n_units = int(unit.max()) + 1 if n_keys else 0
    keys_per_unit = np.bincount(unit, minlength=n_units)

    embedder = get_embedder()
    vec, embedded = cached_embeddings(
        con,
        uniq_keys.to_pylist(),
        texts,
        embedder=embedder,
        progress=(lambda d, t: progress("embedding", d, t)) if progress else None,
    )
    uv = unit_vectors(vec, unit, key_posts, n_units)
    unit_posts = np.bincount(unit, weights=key_posts, minlength=n_units)
    unit_accounts = _unit_accounts(ws, posts, unit, key_of_post)
    copy_unit = unit_accounts >= 2
    if progress:
        progress("clustering", 0, 1)
    unit_narr, graph = cluster_units(uv, unit_posts, cparams, copy_unit, progress)
    n_narr = int(unit_narr.max()) if n_units else 0

    key_narr = unit_narr[unit]
    centroid = unit_vectors(uv, unit_narr, unit_posts, n_narr + 1)
    key_sim = np.einsum("ij,ij->i", vec, centroid[key_narr])
    key_sim[key_narr == 0] = np.nan

    terms = ctfidf_terms(uniq_keys.to_pylist(), key_narr, key_posts, n_narr)
    assigned = pa.table(
        {
            "post_id": posts.column("post_id"),
            "narrative_id": pa.array(key_narr[key_of_post]),
            "similarity": pa.array(key_sim[key_of_post].astype(float)),
            "kid": pa.array(key_of_post),
            "unit": pa.array(unit[key_of_post]),
        }
    ).filter(pc.greater(pc.field("narrative_id"), 0))
    coord_run = latest_clustered_run(ws)
    record = cparams.as_dict() | {
        "simtext_threshold": simtext_threshold,
        "growth_window_h": growth_window_h,
        "embedding_model": embedder.model,
        "coordination_run_id": coord_run,
    }
    with ws.transaction():
        run_id = ws.next_id("runs", "run_id")
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, to_timestamp(?), NULL, NULL)",
            [run_id, RUN_STEP, RUN_NAME, json.dumps(record, sort_keys=True), __version__, started],
        )
        con.from_arrow(assigned).create("_narr_orig")
        con.execute(
            f"""
            INSERT INTO narrative_posts
            SELECT {run_id}, narrative_id, post_id, similarity FROM _narr_orig
            UNION ALL
            SELECT {run_id}, o.narrative_id, r.post_id, o.similarity
            FROM posts r JOIN _narr_orig o ON r.parent_post_id = o.post_id
            WHERE r.kind = 'repost'
            """
        )
        rows = _describe(
            ws,
            run_id,
            n_narr,
            terms,
            texts,
            key_sim,
            key_narr,
            key_posts,
            copy_unit,
            growth_window_h,
            coord_run,
        )
        if rows:
            con.from_arrow(pa.Table.from_pylist(rows)).insert_into("narratives")
        con.execute("DROP TABLE _narr_orig")
        stats = {
            "posts": posts.num_rows,
            "texts": n_keys,
            "embedded": embedded,
            "near_duplicate_groups": int((keys_per_unit >= 2).sum()),
            "narratives": n_narr,
            "assigned_posts": int(
                ws.scalar("SELECT count(*) FROM narrative_posts WHERE run_id = ?", [run_id])
            ),
            "graph": graph,
        }
        seconds = round(time.time() - started, 3)
        con.execute(
            "UPDATE runs SET finished_at = now(), summary = ? WHERE run_id = ?",
            [json.dumps(stats | {"seconds": seconds}, sort_keys=True), run_id],
        )
        ws.audit("narratives", {"run_id": run_id, "narratives": n_narr})
    top = tuple(
        {k2: r[k2] for k2 in ("narrative_id", "label", "posts", "growth_rate")}
        for r in list_narratives(ws, run_id, limit=5)
    )
    return NarrativeSummary(
        run_id=run_id,
        coordination_run_id=coord_run,
        params=record,
        seconds=seconds,
        top=top,
        **stats,
    )


def _unit_accounts(
    ws: Workspace, posts: pa.Table, unit: np.ndarray, key_of_post: np.ndarray
) -> np.ndarray:
    """Distinct accounts per near-duplicate unit."""
    rel = ws.con.from_arrow(
        pa.table({"u": pa.array(unit[key_of_post]), "a": posts.column("account_id")})
    )
    res = rel.query("_ua", "SELECT u, count(DISTINCT a) AS n FROM _ua GROUP BY u").fetchnumpy()
    out = np.zeros(int(unit.max()) + 1 if len(unit) else 0, np.int64)
    out[res["u"].astype(np.int64)] = res["n"]
    return out


def _describe(
    ws: Workspace,
    run_id: int,
    n: int,
    terms: list[list[tuple[str, float]]],
    texts: list[str],
    key_sim: np.ndarray,
    key_narr: np.ndarray,
    key_posts: np.ndarray,
    copy_unit: np.ndarray,
    window_h: float,
    coord_run: int | None,
) -> list[dict[str, Any]]:
    """One `narratives` row per narrative."""
    if n == 0:
        return []
    con = ws.con
    pt = con.sql(
        f"""SELECT n.narrative_id, epoch(p.created_at) AS t
            FROM narrative_posts n JOIN posts p USING (post_id) WHERE n.run_id = {run_id}"""
    ).fetchnumpy()
    narr = np.asarray(pt["narrative_id"], np.int64)
    t = np.asarray(pt["t"], float)
    end = float(ws.scalar("SELECT epoch(max(created_at)) FROM posts") or 0)
    growth = Growth.of(narr, t, n, end, window_h)
    span = float(t.max() - t.min()) if len(t) else 0.0
    lines = timelines(narr, t, n, bucket_seconds(span))
    agg = {
        int(r[0]): r[1:]
        for r in con.execute(
            f"""SELECT n.narrative_id, count(*), count(DISTINCT p.account_id),
                       min(p.created_at), max(p.created_at)
                FROM narrative_posts n JOIN posts p USING (post_id)
                WHERE n.run_id = {run_id} GROUP BY n.narrative_id"""
        ).fetchall()
    }
    langs: dict[int, dict[str, int]] = {}
    for nid, lang, cnt in con.execute(
        f"""SELECT n.narrative_id, coalesce(p.lang, 'und'), count(*)
            FROM narrative_posts n JOIN posts p USING (post_id)
            WHERE n.run_id = {run_id} GROUP BY ALL ORDER BY 1, 3 DESC, 2"""
    ).fetchall():
        langs.setdefault(int(nid), {})[str(lang)] = int(cnt)
    copy_units = con.from_arrow(pa.table({"unit": pa.array(np.flatnonzero(copy_unit))}))
    copies = dict(
        copy_units.query(
            "_copy_units",
            "SELECT narrative_id, count(*) FROM _narr_orig JOIN _copy_units USING (unit) "
            "GROUP BY narrative_id",
        ).fetchall()
    )
    coord = _coordination(ws, run_id, coord_run)
    reps = _representatives(ws, key_narr, key_sim, key_posts, texts, n)
    rows = []
    for nid in range(1, n + 1):
        posts_n, accounts_n, first_t, last_t = agg.get(nid, (0, 0, None, None))
        share, clusters = coord.get(nid, (0.0 if coord_run is not None else None, []))
        tt = terms[nid - 1]
        sims = key_sim[key_narr == nid]
        rows.append(
            {
                "run_id": run_id,
                "narrative_id": nid,
                "label": " · ".join(w for w, _ in tt[:5]) or None,
                "top_terms": json.dumps(tt, ensure_ascii=False),
                "representatives": json.dumps(reps[nid - 1], ensure_ascii=False),
                "languages": json.dumps(langs.get(nid, {})),
                "posts": int(posts_n),
                "texts": int((key_narr == nid).sum()),
                "accounts": int(accounts_n),
                "copy_paste_posts": int(copies.get(nid, 0)),
                "first_t": first_t,
                "last_t": last_t,
                "timeline": json.dumps(lines[nid - 1]),
                "recent_posts": int(growth.recent[nid]),
                "prior_posts": int(growth.prior[nid]),
                "growth_rate": round(float(growth.rate[nid]), 4),
                "coordinated_share": share,
                "coordinated_clusters": json.dumps(clusters),
                "cohesion": round(float(np.mean(sims)), 4) if len(sims) else None,
            }
        )
    return rows


def _coordination(
    ws: Workspace, run_id: int, coord_run: int | None
) -> dict[int, tuple[float, list[dict[str, int]]]]:
    """Per narrative: share of posts by coordinated accounts and the clusters involved."""
    if coord_run is None:
        return {}
    out: dict[int, tuple[float, list[dict[str, int]]]] = {}
    rows = ws.con.execute(
        """WITH np AS (SELECT n.narrative_id, p.account_id FROM narrative_posts n
                       JOIN posts p USING (post_id) WHERE n.run_id = ?),
                tot AS (SELECT narrative_id, count(*) AS posts FROM np GROUP BY 1),
                per AS (SELECT np.narrative_id, m.cluster_id, count(*) AS posts,
                               count(DISTINCT np.account_id) AS accounts
                        FROM np JOIN cluster_members m
                          ON m.account_id = np.account_id AND m.run_id = ?
                        GROUP BY ALL)
           SELECT tot.narrative_id, tot.posts, per.cluster_id, per.posts, per.accounts
           FROM tot LEFT JOIN per USING (narrative_id)
           ORDER BY 1, 4 DESC NULLS LAST, 3""",
        [run_id, coord_run],
    ).fetchall()
    for nid, total, cid, cposts, caccounts in rows:
        share, clusters = out.get(int(nid), (0.0, []))
        if cid is not None:
            clusters.append(
                {
                    "run_id": coord_run,
                    "cluster_id": int(cid),
                    "posts": int(cposts),
                    "accounts": int(caccounts),
                }
            )
            share += cposts / total
        out[int(nid)] = (round(share, 4), clusters)
    return out


def _representatives(
    ws: Workspace,
    key_narr: np.ndarray,
    key_sim: np.ndarray,
    key_posts: np.ndarray,
    texts: list[str],
    n: int,
    top: int = 3,
) -> list[list[dict[str, Any]]]:
    """Per narrative, the texts nearest its centroid (ties: more copies first), each with
    its first post."""
    order = np.lexsort((-key_posts, -np.nan_to_num(key_sim, nan=-2.0), key_narr))
    out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    chosen: list[int] = []
    for k in order:
        nid = int(key_narr[k])
        if nid and len(out[nid - 1]) < top:
            out[nid - 1].append(
                {"text": texts[k], "similarity": round(float(key_sim[k]), 4), "copies": 0}
            )
            chosen.append(int(k))
    wanted = ws.con.from_arrow(pa.table({"kid": pa.array(chosen, pa.int64())}))
    first = dict(
        wanted.query(
            "_wanted",
            "SELECT kid, first(post_id ORDER BY post_id) FROM _narr_orig "
            "JOIN _wanted USING (kid) GROUP BY kid",
        ).fetchall()
    )
    pos = {nid: 0 for nid in range(n)}
    for k in chosen:
        nid = int(key_narr[k]) - 1
        rep = out[nid][pos[nid]]
        rep["post_id"] = first.get(k)
        rep["copies"] = int(key_posts[k])
        pos[nid] += 1
    return out


# -- reading ------------------------------------------------------------------------------


def latest_narratives_run(ws: Workspace, run_id: int | None = None) -> int:
    """The narratives run to read (default: the latest), checked to exist."""
    rid = run_id
    if rid is None:
        rid = ws.scalar("SELECT max(run_id) FROM runs WHERE step = ?", [RUN_STEP])
    ok = rid is not None and ws.scalar(
        "SELECT count(*) FROM runs WHERE run_id = ? AND step = ?", [rid, RUN_STEP]
    )
    if not ok:
        raise WorkspaceError(
            "No narratives run yet: run `civicsentry narratives build` first."
            if run_id is None
            else f"Run {run_id} is not a narratives run; `civicsentry narratives list` "
            "shows the latest."
        )
    return int(rid)  # type: ignore[arg-type]


SORTS = {
    "posts": "posts DESC",
    "growth": "growth_rate DESC, recent_posts DESC",
    "coordinated": "coordinated_share DESC NULLS LAST, posts DESC",
}


def _rows(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return ws.dicts(sql, params, json_columns=JSON_COLUMNS)


def list_narratives(
    ws: Workspace, run_id: int | None = None, *, limit: int | None = 20, sort: str = "posts"
) -> list[dict[str, Any]]:
    """Narratives of a run (default: the latest), biggest (or fastest-growing, or most
    coordinated) first; without the timeline."""
    if sort not in SORTS:
        raise InvalidParams(f"--sort is one of {', '.join(SORTS)}, not {sort!r}.")
    rid = latest_narratives_run(ws, run_id)
    lim = f"LIMIT {int(limit)}" if limit else ""
    return _rows(
        ws,
        f"SELECT * EXCLUDE (timeline) FROM narratives WHERE run_id = ? "
        f"ORDER BY {SORTS[sort]}, narrative_id {lim}",
        [rid],
    )


def narrative_detail(
    ws: Workspace, narrative_id: int, run_id: int | None = None, *, posts: int = 20
) -> dict[str, Any]:
    """One narrative with every column and its posts most similar to the centroid."""
    rid = latest_narratives_run(ws, run_id)
    rows = _rows(
        ws,
        "SELECT * FROM narratives WHERE run_id = ? AND narrative_id = ?",
        [rid, int(narrative_id)],
    )
    if not rows:
        raise InvalidParams(
            f"Run {rid} has no narrative {narrative_id}; `civicsentry narratives list` shows them."
        )
    sample = _rows(
        ws,
        f"""SELECT n.post_id, p.account_id, p.created_at, p.kind, p.lang, n.similarity, p.text
            FROM narrative_posts n JOIN posts p USING (post_id)
            WHERE n.run_id = ? AND n.narrative_id = ? AND p.kind <> 'repost'
            ORDER BY n.similarity DESC, p.created_at, n.post_id LIMIT {int(posts)}""",
        [rid, int(narrative_id)],
    )
    return rows[0] | {"sample_posts": sample}
