"""Claim matching: which known (fact-checked) claim does a post repeat?

Method (docs/narratives.md, "Claim matching"):

1. Retrieval: for each post, the ``candidates`` best claims by BM25 and the
   ``candidates`` best by embedding cosine (claim text or review title, whichever is
   closer). Their union is scored.
2. Features of a (post, claim) pair, each comparable across claim collections:
   ``embedding`` (cosine), ``bm25`` (BM25 divided by the claim's score against itself),
   ``cover`` (idf-weighted share of the claim's words found in the post),
   ``post_cover`` (the same from the post's side), ``chars`` (cosine of character
   3-5-gram TF-IDF), and the cosine and BM25 each multiplied by the pair's reciprocal
   rank among the post's candidates (a rank alone means nothing on a small collection).
3. Ranking: a logistic regression over those features (``model.json``, fitted on the
   CLEF-2020 CheckThat! task 2 training tweets by ``bench/bench_claims.py --train``).
4. Decision, with thresholds calibrated on a hand-written multilingual calibration set
   (``tests/claims/data/calibration_set.json``; the test set is another): a pair is a
   match when the fused probability reaches ``threshold`` and the cosine
   ``min_embedding`` (method ``hybrid``: same words *and* same meaning, so a post on the
   same topic saying something else does not pass), or when the cosine alone reaches
   ``embedding_threshold`` (method ``embedding``: a translation shares no words).
   ``mode="lexical"`` / ``"embedding"`` rank and decide on one signal only (ablations).

Caveats: a match says that a post *repeats* a claim that was fact-checked, not that the
post is false (it may quote the claim to refute it), and the rating belongs to the
review, not to the post.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from ..errors import InvalidParams
from .lexical import LexicalIndex, clean, pair_dot, words

FEATURES = (
    "embedding",
    "bm25",
    "cover",
    "post_cover",
    "chars",
    "embedding_x_rank",
    "bm25_x_rank",
)
MODES = ("hybrid", "lexical", "embedding")


@dataclass(frozen=True)
class FusionModel:
    """The logistic fusion and its calibrated thresholds (see model.json)."""

    coef: tuple[float, ...]
    intercept: float
    threshold: float  # on the fused probability ...
    min_embedding: float  # ... for a pair whose cosine is at least this
    embedding_threshold: float  # on the cosine alone
    embedding_coef: tuple[float, float]  # logistic of the cosine alone: (slope, intercept)
    lexical_threshold: float  # on `bm25` alone (lexical-only mode)
    trained_on: str = ""

    @staticmethod
    def load() -> FusionModel:
        raw = json.loads(resources.files(__package__).joinpath("model.json").read_text("utf-8"))
        if tuple(raw["features"]) != FEATURES:
            raise InvalidParams("claims/model.json does not match the matcher's features.")
        return FusionModel(
            tuple(raw["coef"]),
            float(raw["intercept"]),
            float(raw["threshold"]),
            float(raw["min_embedding"]),
            float(raw["embedding_threshold"]),
            (float(raw["embedding_coef"][0]), float(raw["embedding_coef"][1])),
            float(raw["lexical_threshold"]),
            str(raw.get("trained_on", "")),
        )

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The fused probability, and where the cosine alone says more, its probability:
        a translation has no words in common with the claim, yet is a repeat."""
        fused = 1.0 / (1.0 + np.exp(-(x @ np.asarray(self.coef) + self.intercept)))
        a, b = self.embedding_coef
        semantic = 1.0 / (1.0 + np.exp(-(a * x[:, 0] + b)))
        return np.maximum(fused, semantic)

    def fused(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ np.asarray(self.coef) + self.intercept)))


class ClaimIndex:
    """Everything about the claims that matching needs, built once per run."""

    def __init__(
        self,
        texts: Sequence[str],
        titles: Sequence[str | None],
        vecs: np.ndarray,
        title_vecs: np.ndarray,
    ) -> None:
        self.texts = list(texts)
        self.lex = LexicalIndex([f"{t} {ti or ''}" for t, ti in zip(texts, titles, strict=True)])
        self.vecs = vecs
        self.title_vecs = title_vecs

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Candidates:
    """Scored (post, claim) pairs of one chunk of posts."""

    post: np.ndarray  # row in the chunk
    claim: np.ndarray  # row in the index
    x: np.ndarray  # pairs × FEATURES
    score: np.ndarray  # what ranks them in the chosen mode (hybrid: the fused probability)

    def feature(self, name: str) -> np.ndarray:
        return self.x[:, FEATURES.index(name)]


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each row's k best columns."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.repeat(np.arange(len(scores)), k), top.ravel()


def _rrank(post: np.ndarray, value: np.ndarray) -> np.ndarray:
    """1 / rank of each pair's value among its post's pairs (1 = best)."""
    order = np.lexsort((-value, post))
    rank = np.empty(len(post), np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(post[order])) + 1]
    pos = np.arange(len(post)) - np.repeat(starts, np.diff(np.r_[starts, len(post)]))
    rank[order] = pos + 1
    return 1.0 / rank


def candidates(
    index: ClaimIndex,
    texts: Sequence[str],
    vecs: np.ndarray,
    *,
    k: int = 20,
    mode: str = "hybrid",
    model: FusionModel | None = None,
) -> Candidates:
    """Retrieve and score candidate claims for a chunk of post texts (already cleaned
    with ``lexical.clean``) and their embeddings."""
    if mode not in MODES:
        raise InvalidParams(f"--method is one of {', '.join(MODES)}, not {mode!r}.")
    n = len(texts)
    if n == 0 or len(index) == 0:
        return Candidates(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(FEATURES))), np.zeros(0)
        )
    q = index.lex.queries(texts)
    bm25 = (q @ index.lex.bm25.T).toarray()
    cos = vecs @ index.vecs.T
    cos = np.maximum(cos, vecs @ index.title_vecs.T)
    parts = []
    if mode in ("hybrid", "lexical"):
        parts.append(_top(bm25, k))
    if mode in ("hybrid", "embedding"):
        parts.append(_top(cos, k))
    pi = np.concatenate([p[0] for p in parts])
    cj = np.concatenate([p[1] for p in parts])
    key = np.unique(pi.astype(np.int64) * len(index) + cj)
    pi, cj = key // len(index), key % len(index)
    emb = cos[pi, cj]
    bm = bm25[pi, cj] / np.maximum(index.lex.self_score[cj], 1e-9)
    cover = pair_dot(q, index.lex.cover, pi, cj)
    qw = q.multiply(index.lex.idf[None, :]).tocsr()
    # Words the claims never use count in the post's total with the highest idf.
    unknown = np.array([len(set(words(t))) for t in texts]) - np.diff(q.indptr)
    qtot = np.asarray(qw.sum(axis=1)).ravel() + unknown * index.lex.idf_unknown
    present = index.lex.cover.copy()
    present.data[:] = 1.0
    post_cover = pair_dot(qw, present.tocsr(), pi, cj) / np.maximum(qtot[pi], 1e-9)
    chars = pair_dot(index.lex.char_queries(texts), index.lex.char_docs, pi, cj)
    # Ranks among a post's candidates say much on a large collection, nothing on their
    # own: they enter scaled by the absolute score they rank.
    bm = np.minimum(bm, 2.0)
    x = np.column_stack(
        [
            emb,
            bm,
            cover,
            post_cover,
            chars,
            emb * _rrank(pi, emb),
            np.minimum(bm, 1.0) * _rrank(pi, bm),
        ]
    )
    if mode == "hybrid":
        score = (model or FusionModel.load()).fused(x)
    elif mode == "lexical":
        score = x[:, FEATURES.index("bm25")]
    else:
        score = emb
    return Candidates(pi, cj, x, score)


def decide(
    c: Candidates, mode: str, model: FusionModel, *, threshold: float | None = None
) -> tuple[np.ndarray, list[str]]:
    """Which candidate pairs are matches, and by which method."""
    if mode == "hybrid":
        emb = c.feature("embedding")
        fused = (model.fused(c.x) >= (model.threshold if threshold is None else threshold)) & (
            emb >= model.min_embedding
        )
        keep = fused | (emb >= model.embedding_threshold)
        methods = ["hybrid" if f else "embedding" for f in fused[keep]]
    elif mode == "lexical":
        keep = c.score >= (model.lexical_threshold if threshold is None else threshold)
        methods = ["lexical"] * int(keep.sum())
    else:
        keep = c.score >= (model.embedding_threshold if threshold is None else threshold)
        methods = ["embedding"] * int(keep.sum())
    return np.flatnonzero(keep), methods


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*", re.UNICODE)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of the sentences of a text, trimmed; the whole text when none."""
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 3:
            out.append((s, e))
    return out or [(0, len(text))]


def lexical_span(text: str, claim: str, idf: dict[str, float]) -> tuple[int, int, float]:
    """The sentence of ``text`` covering most of the claim's words (idf-weighted)."""
    want = set(words(clean(claim)))
    total = sum(idf.get(w, 1.0) for w in want) or 1.0
    best = (0, len(text), -1.0)
    for s, e in sentences(text):
        got = sum(idf.get(w, 1.0) for w in want & set(words(text[s:e])))
        if got / total > best[2]:
            best = (s, e, got / total)
    return best


def summary_of(model: FusionModel) -> dict[str, Any]:
    return {
        "threshold": model.threshold,
        "min_embedding": model.min_embedding,
        "embedding_threshold": model.embedding_threshold,
        "lexical_threshold": model.lexical_threshold,
        "trained_on": model.trained_on,
    }
