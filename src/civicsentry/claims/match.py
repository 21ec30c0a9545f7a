"""Claim matching: which known (fact-checked) claim does a post repeat?

Method (docs/narratives.md, "Claim matching"):

1. Retrieval: posts are read through ``lexical.clean_post``; for each post, the
   ``candidates`` best claims by BM25 (claim text + review title), by USE cosine and by
   e5 cosine (claim text or title, whichever is closer). Their union is scored.
2. Features of a (post, claim) pair (``FEATURES``): the cosines of both embedders with
   text, title and the better of the two; BM25 normalised by the claim's self-score and
   by the post's weight; title BM25; idf-weighted coverage both ways; character
   3-5-gram TF-IDF cosine; shared numbers; and for most signals the pair's reciprocal
   rank among the post's candidates (scaled by the value) and its gap to the best.
3. Ranking: a standardised logistic regression over all features (``model.json``,
   fitted on the CLEF-2020 CheckThat! task 2 training tweets by
   ``bench/bench_claims.py --train``; the design chosen by cross-validation on train).
4. Decision: a second logistic regression over the absolute features only
   (``DECISION_FEATURES``: ranks and gaps mean nothing on a small collection), with
   thresholds calibrated on a hand-written multilingual calibration set
   (``tests/claims/data/calibration_set.json``; the test set is another): a pair is a
   match when its probability reaches ``threshold`` and the USE cosine
   ``min_embedding`` (method ``hybrid``), or when the USE cosine alone reaches
   ``embedding_threshold`` (method ``embedding``: a translation shares no words).
   ``mode="lexical"`` / ``"embedding"`` rank and decide on one signal only (ablations).
5. Cascade (``match_texts``): every rule above needs the pair's USE cosine to reach
   ``use_gate`` (hybrid: ``min(min_embedding, embedding_threshold)``), and a pair's
   cosine is at most its post's best USE cosine over all claims. A post whose best is
   below the gate cannot be decided a match whatever e5 says, so it is neither embedded
   by e5 (~50 ms a text) nor scored: the decisions are those of the full path.

Caveats: a match says that a post *repeats* a claim that was fact-checked, not that the
post is false (it may quote the claim to refute it), and the rating belongs to the
review, not to the post.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from ..arrays import sorted_unique
from ..errors import InvalidParams
from .lexical import LexicalIndex, clean, pair_dot, words

#: Embedders whose cosines are features: USE (translations) and e5 (rewordings).
EMBEDDERS = ("use", "e5")
_MORE_RANKS = ("chars", "e5_title", "use_title", "bm25_title", "e5_text", "use_text", "cover")
_MORE_GAPS = ("chars", "e5_text", "e5_title")
FEATURES = (
    "embedding",  # USE cosine, claim text or title, whichever is closer
    "use_text",
    "use_title",
    "e5",
    "e5_text",
    "e5_title",
    "bm25",
    "bm25_query",
    "bm25_title",
    "cover",
    "post_cover",
    "chars",
    "numbers",
    "embedding_x_rank",
    "e5_x_rank",
    "bm25_x_rank",
    "embedding_gap",
    "e5_gap",
    "bm25_gap",
    # the other signals' ranks (scaled) and gaps: chosen by cross-validation on train
    *(f"{n}_x_rank" for n in _MORE_RANKS),
    *(f"{n}_gap" for n in _MORE_GAPS),
)
MODES = ("hybrid", "lexical", "embedding")


#: What the match decision reads: the absolute features only. Ranks and gaps order a
#: post's candidates well on 10,000 claims, but on a workspace's 50 the best candidate
#: of an unrelated post has rank 1 and gap 0 all the same.
DECISION_FEATURES = FEATURES[:13]


def _logistic(x: np.ndarray, w: dict[str, Any]) -> np.ndarray:
    z = (x - np.asarray(w["mean"])) / np.asarray(w["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(w["coef"]) + w["intercept"])))


@dataclass(frozen=True)
class FusionModel:
    """The ranking and decision logistic regressions and the calibrated thresholds
    (model.json; each model: standardisation ``mean``/``scale``, ``coef``, ``intercept``)."""

    ranker: dict[str, Any]  # over FEATURES: orders a post's candidates
    decider: dict[str, Any]  # over DECISION_FEATURES: is the pair a match?
    threshold: float  # on the decision probability ...
    min_embedding: float  # ... for a pair whose cosine is at least this
    embedding_threshold: float  # on the cosine alone
    embedding_coef: tuple[float, float]  # logistic of the cosine alone: (slope, intercept)
    lexical_threshold: float  # on `bm25_query` alone (lexical-only mode)
    trained_on: str = ""

    @staticmethod
    def load() -> FusionModel:
        raw = json.loads(resources.files(__package__).joinpath("model.json").read_text("utf-8"))
        if tuple(raw["features"]) != FEATURES or len(raw["decider"]["coef"]) != len(
            DECISION_FEATURES
        ):
            raise InvalidParams("claims/model.json does not match the matcher's features.")
        return FusionModel(
            raw["ranker"],
            raw["decider"],
            float(raw["threshold"]),
            float(raw["min_embedding"]),
            float(raw["embedding_threshold"]),
            (float(raw["embedding_coef"][0]), float(raw["embedding_coef"][1])),
            float(raw["lexical_threshold"]),
            str(raw.get("trained_on", "")),
        )

    def rank_score(self, x: np.ndarray) -> np.ndarray:
        return _logistic(x, self.ranker)

    def fused(self, x: np.ndarray) -> np.ndarray:
        """The decision probability of each pair (absolute features only)."""
        return _logistic(x[:, : len(DECISION_FEATURES)], self.decider)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The decision probability, and where the cosine alone says more, its
        probability: a translation has no words in common with the claim, yet is a repeat."""
        a, b = self.embedding_coef
        semantic = 1.0 / (1.0 + np.exp(-(a * x[:, 0] + b)))
        return np.maximum(self.fused(x), semantic)


class ClaimIndex:
    """Everything about the claims that matching needs, built once per run.

    ``vecs`` maps each of ``EMBEDDERS`` to (claim text vectors, title vectors). A claim
    without a title (a zero title vector) stands in for its own title, so the title
    features mean the same with and without one."""

    def __init__(
        self,
        texts: Sequence[str],
        titles: Sequence[str | None],
        vecs: dict[str, tuple[np.ndarray, np.ndarray]],
    ) -> None:
        self.texts = list(texts)
        docs = [f"{t} {ti or ''}" for t, ti in zip(texts, titles, strict=True)]
        self.lex = LexicalIndex(docs)
        self.lex_title = LexicalIndex([ti or t for t, ti in zip(texts, titles, strict=True)])
        self.vecs = {}
        for name, (cv, tv) in vecs.items():
            missing = ~np.any(tv != 0, axis=1)
            tv = np.where(missing[:, None], cv, tv)
            self.vecs[name] = (cv, tv)
        self.numbers = [_numbers(d) for d in docs]

    def __len__(self) -> int:
        return len(self.texts)


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _numbers(text: str) -> frozenset[str]:
    """Numbers of a text ("1,000" and "1000" alike; years, counts, percentages)."""
    return frozenset(m.replace(",", "") for m in _NUMBER.findall(text))


@dataclass
class Candidates:
    """Scored (post, claim) pairs of one chunk of posts."""

    post: np.ndarray  # row in the chunk
    claim: np.ndarray  # row in the index
    x: np.ndarray  # pairs × FEATURES
    score: np.ndarray  # what ranks them in the chosen mode (hybrid: the ranker's score)

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


def _gap(post: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """How far each pair's value is below the best of its post's pairs (0 for the best)."""
    best = np.full(n, -np.inf)
    np.maximum.at(best, post, value)
    return value - best[post]


def candidates(
    index: ClaimIndex,
    texts: Sequence[str],
    vecs: dict[str, np.ndarray],
    *,
    k: int = 20,
    mode: str = "hybrid",
    model: FusionModel | None = None,
) -> Candidates:
    """Retrieve and score candidate claims for a chunk of post texts (already cleaned
    with ``lexical.clean_post``) and their embeddings (``vecs``: one matrix per
    embedder of ``EMBEDDERS``)."""
    if mode not in MODES:
        raise InvalidParams(f"--method is one of {', '.join(MODES)}, not {mode!r}.")
    n = len(texts)
    if n == 0 or len(index) == 0:
        return Candidates(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(FEATURES))), np.zeros(0)
        )
    q = index.lex.queries(texts)
    bm25 = (q @ index.lex.bm25.T).toarray()
    cos: dict[str, np.ndarray] = {}
    for name in EMBEDDERS:
        cv, tv = index.vecs[name]
        cos[name + "_text"] = vecs[name] @ cv.T
        cos[name + "_title"] = vecs[name] @ tv.T
    use = np.maximum(cos["use_text"], cos["use_title"])
    e5 = np.maximum(cos["e5_text"], cos["e5_title"])
    parts = []
    if mode in ("hybrid", "lexical"):
        parts.append(_top(bm25, k))
    if mode in ("hybrid", "embedding"):
        parts.append(_top(use, k))
        parts.append(_top(e5, k))
    pi = np.concatenate([p[0] for p in parts])
    cj = np.concatenate([p[1] for p in parts])
    key = sorted_unique(pi.astype(np.int64) * len(index) + cj)
    pi, cj = key // len(index), key % len(index)
    qw = q.multiply(index.lex.idf[None, :]).tocsr()
    # Words the claims never use count in the post's total with the highest idf.
    unknown = np.array([len(set(words(t))) for t in texts]) - np.diff(q.indptr)
    qtot = np.asarray(qw.sum(axis=1)).ravel() + unknown * index.lex.idf_unknown
    bm = np.minimum(bm25[pi, cj] / np.maximum(index.lex.self_score[cj], 1e-9), 2.0)
    # BM25 over the post's own weight: long claims are not penalised as in `bm`.
    bmq = bm25[pi, cj] / np.maximum(qtot[pi], 1e-9)
    qt = index.lex_title.queries(texts)
    bmt = pair_dot(qt, index.lex_title.bm25, pi, cj) / np.maximum(
        index.lex_title.self_score[cj], 1e-9
    )
    cover = pair_dot(q, index.lex.cover, pi, cj)
    present = index.lex.cover.copy()
    present.data[:] = 1.0
    post_cover = pair_dot(qw, present.tocsr(), pi, cj) / np.maximum(qtot[pi], 1e-9)
    chars = pair_dot(index.lex.char_queries(texts), index.lex.char_docs, pi, cj)
    post_numbers = [_numbers(t) for t in texts]
    numbers = np.array(
        [
            len(index.numbers[j] & post_numbers[i]) / len(index.numbers[j])
            if index.numbers[j]
            else 0.0
            for i, j in zip(pi.tolist(), cj.tolist(), strict=True)
        ]
    )
    emb, e5p = use[pi, cj], e5[pi, cj]
    # Ranks and gaps among a post's candidates say much on a large collection, nothing
    # on their own: ranks enter scaled by the absolute score they rank.
    x = np.column_stack(
        [
            emb,
            cos["use_text"][pi, cj],
            cos["use_title"][pi, cj],
            e5p,
            cos["e5_text"][pi, cj],
            cos["e5_title"][pi, cj],
            bm,
            bmq,
            np.minimum(bmt, 2.0),
            cover,
            post_cover,
            chars,
            numbers,
            emb * _rrank(pi, emb),
            e5p * _rrank(pi, e5p),
            np.minimum(bm, 1.0) * _rrank(pi, bmq),
            _gap(pi, emb, n),
            _gap(pi, e5p, n),
            _gap(pi, bmq, n),
        ]
    )
    col = {name: x[:, i] for i, name in enumerate(FEATURES[: x.shape[1]])}
    more = [col[m] * _rrank(pi, col[m]) for m in _MORE_RANKS]
    more += [_gap(pi, col[m], n) for m in _MORE_GAPS]
    x = np.column_stack([x, *more])
    if mode == "hybrid":
        score = (model or FusionModel.load()).rank_score(x)
    elif mode == "lexical":
        score = bmq
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


#: Cosines of the same vectors computed in batches of other shapes may differ in the last
#: float32 bits: the gate is lowered by this much, so the posts it lets through always
#: include every post that can match (a few more at most, decided as before).
GATE_SLACK = 1e-4

#: A decided pair: (row of the post text, row of the claim, probability, method,
#: idf-weighted coverage, USE cosine).
Found = tuple[int, int, float, str, float, float]


def use_gate(mode: str, model: FusionModel, threshold: float | None = None) -> float | None:
    """The USE cosine a pair needs before ``decide`` can keep it, whatever its other
    features: hybrid keeps ``fused & emb >= min_embedding`` or ``emb >=
    embedding_threshold`` (``threshold`` moves the fused probability's cut only);
    embedding keeps ``emb >= threshold``. None in lexical mode, whose decision reads
    BM25 alone: no post needs e5 there, and every post is scored."""
    if mode == "hybrid":
        return min(model.min_embedding, model.embedding_threshold)
    if mode == "embedding":
        return model.embedding_threshold if threshold is None else threshold
    return None


def best_use(index: ClaimIndex, use: np.ndarray, *, chunk: int = 2048) -> np.ndarray:
    """Each post's best USE cosine over all claims (text or title), the bound of the
    ``embedding`` feature of every pair it can form."""
    out = np.full(len(use), -np.inf)
    if not len(index):
        return out
    cv, tv = index.vecs["use"]
    for s in range(0, len(use), chunk):
        v = use[s : s + chunk]
        out[s : s + chunk] = np.maximum((v @ cv.T).max(axis=1), (v @ tv.T).max(axis=1))
    return out


def match_texts(
    index: ClaimIndex,
    texts: Sequence[str],
    use: np.ndarray,
    e5: Callable[[np.ndarray], np.ndarray],
    *,
    mode: str = "hybrid",
    model: FusionModel | None = None,
    k: int = 20,
    threshold: float | None = None,
    cascade: bool = True,
    chunk: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Found], np.ndarray]:
    """Decide which claims each post text (cleaned with ``lexical.clean_post``) repeats.

    ``use``: the texts' USE vectors; ``e5(rows)``: the e5 query vectors of those rows of
    ``texts``, called once. With ``cascade`` only the posts that pass ``use_gate`` are
    embedded by e5 and scored (none embedded in lexical mode); without it, every post is
    (the reference the cascade is tested against). Returns the decided pairs and the
    rows e5 was asked for."""
    model = model or FusionModel.load()
    n = len(texts)
    gate = use_gate(mode, model, threshold)
    live = np.arange(n)
    need = live
    if cascade and gate is None:
        need = np.zeros(0, np.int64)
    elif cascade:
        live = need = np.flatnonzero(best_use(index, use) >= gate - GATE_SLACK)
    dim = index.vecs["e5"][0].shape[1]
    e5v = np.asarray(e5(need), np.float32) if len(need) else np.zeros((0, dim), np.float32)
    at = np.full(n, -1, np.int64)
    at[need] = np.arange(len(need))
    out: list[Found] = []
    for s in range(0, len(live), chunk):
        rows = live[s : s + chunk]
        ev = np.zeros((len(rows), dim), np.float32)  # lexical mode: e5 features unused
        has = at[rows] >= 0
        ev[has] = e5v[at[rows][has]]
        c = candidates(
            index,
            [texts[i] for i in rows],
            {"use": use[rows], "e5": ev},
            k=k,
            mode=mode,
            model=model,
        )
        kept, methods = decide(c, mode, model, threshold=threshold)
        prob = model.probability(c.x) if mode == "hybrid" else c.score
        cover, cos = c.feature("cover"), c.feature("embedding")
        for j, m in zip(kept.tolist(), methods, strict=True):
            out.append(
                (
                    int(rows[c.post[j]]),
                    int(c.claim[j]),
                    float(prob[j]),
                    m,
                    float(cover[j]),
                    float(cos[j]),
                )
            )
        if progress:
            progress(min(s + chunk, len(live)), len(live))
    return out, need


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
