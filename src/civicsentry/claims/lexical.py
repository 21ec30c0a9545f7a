"""Lexical evidence for claim matching: BM25 over words, idf-weighted coverage, and
character n-gram TF-IDF (robust to inflection, typos and names across languages).

Words are NFKC-casefolded runs of letters/digits (any script); URLs, mentions and
"pic.twitter.com" links are removed before tokenising. The index is fitted on the
claims; posts are queries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scipy is imported where used: every CLI command would load it
    from scipy import sparse

from ..narratives.embed import clean

__all__ = ["LexicalIndex", "clean", "clean_post", "pair_dot", "words"]

_WORD = re.compile(r"\w+", re.UNICODE)
# The signature of a copied embedded tweet: "— Name (@handle) March 3, 2019". The name
# says who is quoted (claims often are "X said ..."); handle and date say nothing.
_SIGNATURE = re.compile(r"(?:[—–]|--)\s*([^—–()]{0,60}?)\s*\(@\w+\)[^()—–@]{0,25}$")
_TAG = re.compile(r"(?:#|(?<!\w)@)(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def clean_post(text: str | None) -> str:
    """A post as matching sees it: the embedded-tweet signature reduced to the quoted
    name, hashtags and mentions split into words ("#StopTheSteal" -> "Stop The Steal",
    "@realDonaldTrump" -> "real Donald Trump"), then ``clean`` (links, retweet markers
    removed)."""
    if not text:
        return ""
    text = _SIGNATURE.sub(r" \1", text)
    text = _TAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)).replace("_", " ") + " ", text)
    return clean(text)


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


class LexicalIndex:
    """BM25 (k1, b) and coverage statistics of a set of claim documents."""

    def __init__(self, docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, d in enumerate(docs):
            counts: dict[int, int] = {}
            for w in words(clean(d)):
                j = self.vocab.setdefault(w, len(self.vocab))
                counts[j] = counts.get(j, 0) + 1
            rows += [i] * len(counts)
            cols += list(counts)
            vals += list(counts.values())
        n, v = len(docs), max(len(self.vocab), 1)
        tf = sparse.csr_matrix((np.array(vals, float), (rows, cols)), shape=(n, v))
        dl = np.asarray(tf.sum(axis=1)).ravel()
        avg = dl.mean() if n and dl.mean() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=v)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5))
        self.idf_unknown = float(np.log1p((n + 0.5) / 0.5))  # a word no claim uses
        coo = tf.tocoo()
        w = coo.data * (k1 + 1) / (coo.data + k1 * (1 - b + b * dl[coo.row] / avg))
        self.bm25 = sparse.csr_matrix((w * self.idf[coo.col], (coo.row, coo.col)), shape=(n, v))
        present = tf.copy()
        present.data[:] = 1.0
        # A document scored against itself: BM25 of a claim that repeats it whole.
        self.self_score = np.asarray(self.bm25.sum(axis=1)).ravel()
        weighted = present.multiply(self.idf[None, :]).tocsr()
        total = np.asarray(weighted.sum(axis=1)).ravel()
        self.cover = sparse.diags(1 / np.where(total > 0, total, 1)) @ weighted  # rows sum to 1
        self.chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True
        )
        self.char_docs = self.chars.fit_transform([clean(d) for d in docs] or [""])

    def queries(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Binary word-presence rows of the query texts (unknown words dropped)."""
        from scipy import sparse

        rows, cols = [], []
        for i, t in enumerate(texts):
            js = {self.vocab[w] for w in words(t) if w in self.vocab}
            rows += [i] * len(js)
            cols += list(js)
        return sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(texts), max(len(self.vocab), 1))
        )

    def char_queries(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.chars.transform(texts)


def pair_dot(
    a: sparse.csr_matrix, b: sparse.csr_matrix, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """Row-wise dot products a[i[k]] · b[j[k]] for sparse rows."""
    if not len(i):
        return np.zeros(0)
    return np.asarray(a[i].multiply(b[j]).sum(axis=1)).ravel()
