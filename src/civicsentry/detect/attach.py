"""Attachment: accounts that act with a detected cluster as a group, though with no
single member often enough for a significant edge.

A campaign member with few shares meets each of many cluster mates once or twice: every
pairwise edge is weak, but together they say the account acts with the cluster. This
step tests exactly that, one (account, cluster) at a time, under the same two nulls as
the edges (significance.py), with the cluster's shares held fixed and only the
account's own behaviour randomised. Method, assumptions and a worked example:
docs/coordination.md ("Attaching accounts to clusters").

**Candidates.** An account outside every cluster with at least ``min_edges`` stored
edges (of any significance) to members of one cluster C. Only candidates are tested.

**Statistic.** K = the distinct objects the account X acted on within the type's window
of some member of C (the co-acted objects, as an edge's weight, but with C as one
partner).

**Timing null.** X's shares of each object are displaced together by δ ~ U[−D, D],
independently per object (D: the run's jitter for the type), C's shares stay where
they are. X co-acts with C on object o when δ lands in I_o = ⋃ [d − w, d + w] over the
delays d = t_c − t_x of X's and C's shares of o, so p_o = |I_o ∩ [−D, D]| / 2D exactly
and K is Poisson-binomial. C's shares are merged into islands first (each covers
[t − w, t + w]), so the work is X's shares × C's islands. Each p_o is taken as
min(1, ``margin`` × p_o): the uniform shift is optimistic about organic activity,
whose shares crowd into an object's first minutes. The candidate was selected because
an edge of weight ≥ ``min_weight`` joins it to C, so K ≥ min_weight is given:
p_timing = P(K ≥ k | K ≥ min_weight). A hyperactive account has many objects near C's
shares, so its expected K is large: that is what makes the test activity-aware.

**Choice null.** Account labels of the shares of a type are shuffled, as for edges. The
co-acting share pairs of X with C have mean λ = 2 P · n_X · N_C / (S(S − 1)) — the sum
of the edges' λ over C's members (n_X: X's shares, N_C: C's shares, P: the share pairs
the sweep compared, S: the type's shares), popularity classes pooled. The co-acted
objects never exceed those share pairs, so a Poisson(λ) tail is conservative; the
most surprising type counts, Šidák-corrected.

An (account, cluster) must be surprising under both: p = max(p_timing, p_choice).
Benjamini–Hochberg over every candidate (account, cluster); an account is attached to
its cluster when q ≤ alpha (to the one with the smallest p if several pass). There is
no randomness: the result is the same for the same input.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import InvalidParams
from .cluster_stats import lit, plain_name, rel
from .significance import (
    benjamini_hochberg,
    choice_pvalues,
    poisson_binomial_sf,
)

_counter = itertools.count(1)

#: Columns of the attachment table (one row per tested account and cluster).
ATTACH_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("cluster_id", pa.int64()),
        ("edges", pa.int64()),  # stored edges to members of the cluster
        ("objects", pa.int64()),  # K: objects co-acted on with the cluster
        ("expected_timing", pa.float64()),  # E[K] under the timing null
        ("p_timing", pa.float64()),
        ("expected_choice", pa.float64()),  # expected co-acting share pairs, choice null
        ("p_choice", pa.float64()),
        ("p_value", pa.float64()),
        ("q_value", pa.float64()),
        ("attached", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class AttachParams:
    """What the attachment test needs from the detection run (all in its ``runs`` row)."""

    object_types: Sequence[str]
    windows: Mapping[str, float]  # seconds per type
    jitter: Mapping[str, float]  # D per type, seconds
    shares: Mapping[str, int]  # S per type
    aligned: Mapping[str, Mapping[int, int]]  # type -> popularity class -> compared pairs
    alpha: float = 0.05
    min_weight: int = 2  # the run's: every candidate's K is at least this
    min_edges: int = 2  # edges to distinct members that make a candidate
    #: The timing null's chance per object is taken as min(1, margin × p_o): robustness
    #: to its known optimism about organic activity (docs/coordination.md).
    margin: float = 1.5

    def check(self) -> None:
        if not self.object_types:
            raise InvalidParams("Attachment needs at least one object type.")
        for t in self.object_types:
            plain_name(t)
            if not self.windows.get(t, -1) >= 0 or not self.jitter.get(t, 0) > 0:
                raise InvalidParams(f"Attachment needs the window and jitter of {t}.")
        if not 0 < self.alpha <= 1:
            raise InvalidParams(f"alpha must be in (0, 1], not {self.alpha}.")
        if self.min_edges < 1 or self.min_weight < 1:
            raise InvalidParams("min_edges and min_weight must be at least 1.")
        if not self.margin >= 1:
            raise InvalidParams(f"margin must be at least 1, not {self.margin}.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "min_edges": self.min_edges,
            "min_weight": self.min_weight,
            "margin": self.margin,
        }

    @classmethod
    def from_run(
        cls, params: Mapping[str, Any], summary: Mapping[str, Any], network: str
    ) -> AttachParams | None:
        """From a detection run's stored ``params`` and ``summary`` (``runs``), for its
        ``network``; None when the run has no significance test to mirror (a peer
        semantics) or predates the stored choice-null totals."""
        aligned = summary.get("aligned_pairs")
        if params.get("semantics") != "civicsentry" or not aligned:
            return None
        types = list(params["object_types"]) if network == "multi" else [network]
        windows = {t: float(summary["windows"][t]["seconds"]) for t in types}
        fixed, factor = params.get("jitter_seconds"), params.get("jitter_factor")
        # As ResolvedParams.jitter_for: a fixed D, or a factor of the window (≥ 1 s).
        jitter = {
            t: float(fixed) if fixed is not None else max(w, 1.0) * float(factor)
            for t, w in windows.items()
        }
        return cls(
            object_types=types,
            windows=windows,
            jitter=jitter,
            shares={t: int(summary["shares"][t]) for t in types},
            aligned={t: {int(c): int(n) for c, n in aligned.get(t, {}).items()} for t in types},
            alpha=float(params["alpha"]),
            min_weight=int(params["min_weight"]),
        )


@dataclass
class AttachResult:
    """Every tested (account, cluster), ``ATTACH_SCHEMA``; ``attached`` marks the winners."""

    table: pa.Table
    candidates: int = 0
    attached: int = 0
    per_cluster: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts and every attached account with its evidence (a handful per cluster)."""
        won = self.table.filter(self.table.column("attached"))
        cols = ["account_id", "cluster_id", "edges", "objects", "expected_timing", "p_value"]
        members = [
            {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in r.items()}
            for r in won.select([*cols, "q_value"]).to_pylist()
        ]
        return {
            "candidates": self.candidates,
            "attached": self.attached,
            "seconds": round(self.seconds, 3),
            "members": members,
        }


def candidates_sql(edges: str, members: str, min_edges: int) -> str:
    """SQL: the candidates (cand, account_id, cluster_id, edges), numbered by account
    and cluster: accounts outside every cluster with ≥ ``min_edges`` ``edges`` (any
    significance) to members of one cluster."""
    return f"""
    WITH e AS (SELECT account_a AS x, account_b AS y FROM {rel(edges)}
               UNION ALL SELECT account_b, account_a FROM {rel(edges)})
    SELECT CAST(row_number() OVER (ORDER BY e.x, m.cluster_id) - 1 AS BIGINT) AS cand,
           e.x AS account_id, m.cluster_id, count(*) AS edges
    FROM e JOIN {rel(members)} m ON m.account_id = e.y
    WHERE e.x NOT IN (SELECT account_id FROM {rel(members)})
    GROUP BY e.x, m.cluster_id HAVING count(*) >= {int(min_edges)}
    """


def attach_members(
    con: duckdb.DuckDBPyConnection,
    edges: str,
    members: str,
    actions: str,
    p: AttachParams,
    *,
    candidates: str | None = None,
) -> AttachResult:
    """Test every candidate (account, cluster) and return the verdicts.

    ``edges``: the network's stored edges of any significance (account_a, account_b);
    ``members``: (account_id, cluster_id) of the clusters found; ``actions``: the
    workspace's actions, or any relation holding at least the candidates' and members'
    (find_clusters passes the actions it reads once for every step); ``candidates``: a
    table of ``candidates_sql`` already made (else made here). Reads only; leaves
    nothing on ``con``."""
    p.check()
    started = time.perf_counter()
    pre = f"_csatt{next(_counter)}_"
    cand, acts, near = (pre + x for x in ("cand", "acts", "near"))
    types = list(p.object_types)
    code = _code_sql(types)
    in_types = ", ".join(lit(t) for t in types)
    w_us = {i: _us(p.windows[t]) for i, t in enumerate(types)}
    jit_us = {i: _us(p.jitter[t]) for i, t in enumerate(types)}
    try:
        if candidates is None:
            con.execute(
                f"CREATE TEMP TABLE {cand} AS {candidates_sql(edges, members, p.min_edges)}"
            )
        else:
            cand = plain_name(candidates)
        n_cand = int(con.execute(f"SELECT count(*) FROM {cand}").fetchall()[0][0])
        if n_cand == 0:
            return AttachResult(ATTACH_SCHEMA.empty_table())
        # The candidates' and members' shares of the types: one scan of the actions.
        con.execute(f"""
        CREATE TEMP TABLE {acts} AS
        SELECT x.account_id, {code} AS code, x.object_id, epoch_us(x.t) AS ts
        FROM {rel(actions)} x
        WHERE x.object_type IN ({in_types})
          AND x.account_id IN (SELECT account_id FROM {cand}
                               UNION ALL SELECT account_id FROM {rel(members)})
        """)
        # The cluster's cover of each object: its shares' windows [t − w, t + w] merged
        # into islands (a campaign's burst is one island, however many shares). Each
        # candidate share t_x sees the islands shifted by −t_x: the δ that make it
        # co-act; only those reaching into [−D, D] matter: [t_x − D, t_x + D] is computed
        # once per share, as the join tests it on every (share, island) of an object.
        con.execute(f"""
        CREATE TEMP TABLE {near} AS
        WITH cs AS (
          SELECT c.cand, c.cluster_id, a.code, a.object_id, a.ts,
                 a.ts - {by_code(jit_us)} AS ts_lo, a.ts + {by_code(jit_us)} AS ts_hi
          FROM {acts} a JOIN {cand} c ON c.account_id = a.account_id
        ), keys AS (  -- distinct: a viral object is shared by thousands of candidates
          SELECT DISTINCT cluster_id, code, object_id FROM cs
        ), ms AS (
          SELECT m.cluster_id, a.code, a.object_id, a.ts, {by_code(w_us)} AS w,
                 lag(a.ts) OVER (PARTITION BY m.cluster_id, a.code, a.object_id ORDER BY a.ts)
                   AS prev
          FROM {acts} a JOIN {rel(members)} m ON m.account_id = a.account_id
          SEMI JOIN keys k ON k.cluster_id = m.cluster_id AND k.code = a.code
                          AND k.object_id = a.object_id
        ), isl AS (
          SELECT *, sum(CASE WHEN ts - prev > 2 * w THEN 1 ELSE 0 END)
                      OVER (PARTITION BY cluster_id, code, object_id ORDER BY ts
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS k
          FROM ms
        ), cover AS (
          SELECT cluster_id, code, object_id, min(ts) - any_value(w) AS lo,
                 max(ts) + any_value(w) AS hi
          FROM isl GROUP BY cluster_id, code, object_id, k
        )
        SELECT cs.cand, cs.code, cs.object_id, v.lo - cs.ts AS lo, v.hi - cs.ts AS hi
        FROM cs JOIN cover v ON v.cluster_id = cs.cluster_id AND v.code = cs.code
                            AND v.object_id = cs.object_id
        WHERE v.hi >= cs.ts_lo AND v.lo <= cs.ts_hi
        """)
        rows = con.sql(f"""
        SELECT cand, code, obj, lo, hi FROM (
          SELECT *, dense_rank() OVER (ORDER BY code, object_id) AS obj FROM {near})
        ORDER BY cand, obj, lo
        """).to_arrow_table()
        jit = np.array(list(jit_us.values()), float)
        cand_col = rows.column("cand").to_numpy()
        first, p_o, coact = object_chances(
            cand_col,
            rows.column("obj").to_numpy(),
            rows.column("lo").to_numpy(),
            rows.column("hi").to_numpy(),
            jit[rows.column("code").to_numpy()],
        )
        cand_of = cand_col[first]
        k = np.bincount(cand_of, weights=coact, minlength=n_cand).astype(np.int64)
        expected = np.bincount(cand_of, weights=p_o, minlength=n_cand)
        p_timing = timing_pvalues(
            cand_of, np.minimum(p_o * p.margin, 1.0), k, np.full(n_cand, int(p.min_weight))
        )
        # The choice null, on the co-acted objects of each type.
        co = first[coact.astype(bool)]
        co_cand = cand_col[co]
        co_code = rows.column("code").to_numpy()[co]
        n_x, n_c = _activity(con, cand, members, acts, len(types), n_cand)
        lam_rows, lam_total, n_strata = choice_lambdas(types, p, co_code, co_cand, n_x, n_c)
        p_choice = choice_pvalues(co_cand, co_code, lam_rows, n_cand, n_strata)
        pv = np.maximum(p_timing, p_choice)
        q = benjamini_hochberg(pv)
        info = con.sql(
            f"SELECT account_id, cluster_id, edges FROM {cand} ORDER BY cand"
        ).to_arrow_table()
    finally:
        for name in (pre + "cand", acts, near):  # a given candidates table stays
            con.execute(f"DROP TABLE IF EXISTS {name}")
    attached = _winners(info.column("account_id").to_pylist(), pv, q, p.alpha)
    table = pa.table(
        {
            "account_id": info.column("account_id"),
            "cluster_id": info.column("cluster_id").cast(pa.int64()),
            "edges": info.column("edges").cast(pa.int64()),
            "objects": pa.array(k, pa.int64()),
            "expected_timing": pa.array(expected),
            "p_timing": pa.array(p_timing),
            "expected_choice": pa.array(lam_total),
            "p_choice": pa.array(p_choice),
            "p_value": pa.array(pv),
            "q_value": pa.array(q),
            "attached": pa.array(attached),
        },
        schema=ATTACH_SCHEMA,
    )
    cids = np.asarray(info.column("cluster_id").to_numpy())[attached]
    per = {int(c): int(n) for c, n in zip(*np.unique(cids, return_counts=True), strict=True)}
    return AttachResult(table, n_cand, int(attached.sum()), per, time.perf_counter() - started)


def object_chances(
    group: np.ndarray, obj: np.ndarray, lo: np.ndarray, hi: np.ndarray, jit: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (candidate, object): the timing null's p_o and whether it co-acted.

    Rows are the shifts [lo, hi] (µs) that bring one of the candidate's shares of an
    object within the window of the cluster's shares, sorted by candidate (``group``),
    object and lo; ``jit`` is D per row. Their union, clipped to [−D, D], weighed by the
    uniform density 1 / 2D is p_o; the object was co-acted on when the union holds 0
    (no shift needed). Returns the first row of each (candidate, object), p_o, and 1 if
    co-acted, else 0.
    """
    n = len(lo)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    lo, hi, jit = lo.astype(float), hi.astype(float), jit.astype(float)
    new_obj = np.ones(n, bool)
    new_obj[1:] = (group[1:] != group[:-1]) | (obj[1:] != obj[:-1])
    obj_id = np.cumsum(new_obj) - 1
    near = np.bincount(obj_id, weights=(lo <= 0) & (hi >= 0), minlength=int(obj_id[-1]) + 1)
    lo, hi = np.clip(lo, -jit, jit), np.clip(hi, -jit, jit)
    # Union of sorted intervals: the running maximum of hi within each object (objects
    # offset apart so one accumulate serves all) says where a new island starts.
    span = 4 * float(jit.max()) + 1
    reach = np.maximum.accumulate(hi + obj_id * span) - obj_id * span
    new_isl = new_obj.copy()
    new_isl[1:] |= lo[1:] > reach[:-1]
    start = np.flatnonzero(new_isl)
    end = np.append(start[1:], n) - 1
    mass = np.maximum(reach[end] - lo[start], 0.0) / (2 * jit[start])
    first = np.flatnonzero(new_obj)
    p_o = np.clip(np.bincount(obj_id[start], weights=mass, minlength=len(first)), 0.0, 1.0)
    return first, p_o, (near > 0).astype(np.int64)


def timing_pvalues(
    group: np.ndarray, p: np.ndarray, k: np.ndarray, floor: np.ndarray
) -> np.ndarray:
    """P(K ≥ k | K ≥ floor) per group, K Poisson-binomial over the group's p (exact)."""
    tail = poisson_binomial_sf(group, p, k)
    given = poisson_binomial_sf(group, p, np.minimum(floor, k))
    return np.clip(np.where(given > 0, tail / np.where(given > 0, given, 1.0), 1.0), 0.0, 1.0)


def choice_lambdas(
    types: Sequence[str],
    p: AttachParams,
    code: np.ndarray,
    cand: np.ndarray,
    n_x: np.ndarray,
    n_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """λ per co-acted object row (its type's expected co-acting share pairs of the
    candidate with its cluster), their total over the types per candidate, and the
    number of types that could co-act. ``n_x``/``n_c``: types × candidates shares of
    the candidate and of its cluster."""
    lam_rows = np.zeros(len(code))
    lam_total = np.zeros(n_x.shape[1])
    n_strata = 0
    for t, name in enumerate(types):
        s = int(p.shares.get(name, 0))
        pairs = sum(int(v) for v in (p.aligned.get(name) or {}).values())
        if s < 2 or pairs == 0:
            continue
        lam = 2.0 * pairs / (float(s) * (s - 1)) * n_x[t] * n_c[t]
        lam_total += lam
        n_strata += 1
        sel = code == t
        lam_rows[sel] = lam[cand[sel]]
    return lam_rows, lam_total, n_strata


def _activity(
    con: duckdb.DuckDBPyConnection, cand: str, members: str, acts: str, n_types: int, n_cand: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shares per type (types × candidates) of each candidate and of its cluster."""
    n_x = np.zeros((n_types, n_cand))
    n_c = np.zeros((n_types, n_cand))
    for c, t, n in con.execute(f"""
        SELECT c.cand, a.code, count(*) FROM {acts} a
        JOIN {cand} c ON c.account_id = a.account_id GROUP BY ALL""").fetchall():
        n_x[t, c] = n
    for c, t, n in con.execute(f"""
        WITH per AS (SELECT m.cluster_id, a.code, count(*) AS n FROM {acts} a
                     JOIN {rel(members)} m ON m.account_id = a.account_id GROUP BY ALL)
        SELECT c.cand, per.code, per.n FROM {cand} c JOIN per USING (cluster_id)""").fetchall():
        n_c[t, c] = n
    return n_x, n_c


def by_code(values: Mapping[int, int], col: str = "a.code") -> str:
    """SQL: a per-type-code constant."""
    return f"(CASE {col} " + " ".join(f"WHEN {c} THEN {v}" for c, v in values.items()) + " END)"


def _code_sql(types: Sequence[str]) -> str:
    return (
        "CASE x.object_type "
        + " ".join(f"WHEN {lit(t)} THEN {i}" for i, t in enumerate(types))
        + " END"
    )


def _winners(accounts: list[str], pv: np.ndarray, q: np.ndarray, alpha: float) -> np.ndarray:
    """Attach each account at most once: among its clusters with q ≤ alpha, the one with
    the smallest p (rows come ordered by account, then cluster id: ties go to the
    smaller id)."""
    out = np.zeros(len(accounts), bool)
    best: dict[str, int] = {}
    for i in np.flatnonzero(q <= alpha):
        a = accounts[i]
        j = best.get(a)
        if j is None or pv[i] < pv[j]:
            best[a] = int(i)
    out[list(best.values())] = True
    return out


def _us(seconds: float) -> int:
    return round(float(seconds) * 1e6)
