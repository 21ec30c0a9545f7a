"""Narrative labels: the most distinctive terms of each narrative by class-based TF-IDF.

c-TF-IDF (as popularised by BERTopic): all texts of a narrative form one document;
a term's weight in narrative c is ``tf(t, c) · log(1 + A / f(t))`` with ``tf`` the
term's share of c's words, ``A`` the mean number of words per narrative and ``f(t)``
the term's frequency over all narratives (unassigned texts included, as background).
Terms are words of at least three letters, minus a short list of function words in
the languages the embedding model covers best.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_STOP = frozenset(
    """
    the and for that this with are was were you your they them their there what when who
    will would have has had not but all can from our out about just into than then more
    some been also its his her him she dont via amp
    les des une est pas que qui dans pour sur par avec son ses aux plus mais sont ont nous
    vous ils elle cette ces été être fait comme tout très
    los las del una por con para que como más pero sus les este esta son está ser fue han
    der die das und den dem ein eine ist nicht mit von sich auf für des auch wie wir sie
    ich aus bei hat sind wird war noch nur zum zur
    che non per una con del della sono gli nel alla
    não uma com para por mais dos das como foi são
    url rt
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
_TOKEN = r"(?u)\b[^\W\d_]{3,}\b"


def ctfidf_terms(
    texts: Sequence[str],
    classes: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    top: int = 8,
) -> list[list[tuple[str, float]]]:
    """Top terms (term, weight) of classes 1..n_classes; class 0 is background.
    ``texts[i]`` counts ``weights[i]`` times in class ``classes[i]``."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    empty: list[list[tuple[str, float]]] = [[] for _ in range(n_classes)]
    if not len(texts) or n_classes == 0:
        return empty
    cv = CountVectorizer(token_pattern=_TOKEN, lowercase=True, stop_words=list(_STOP))
    try:
        x = cv.fit_transform(texts)
    except ValueError:  # no term at all (emoji-only texts)
        return empty
    onehot = sparse.csr_matrix(
        (weights.astype(float), (classes.astype(np.int64), np.arange(len(texts)))),
        shape=(n_classes + 1, len(texts)),
    )
    counts = (onehot @ x).tocsr()  # classes × terms
    words = np.asarray(counts.sum(axis=1)).ravel()
    freq = np.asarray(counts.sum(axis=0)).ravel()
    avg = words.mean() if len(words) else 1.0
    idf = np.log1p(avg / np.maximum(freq, 1))
    vocab = cv.get_feature_names_out()
    out: list[list[tuple[str, float]]] = []
    for c in range(1, n_classes + 1):
        row = counts.getrow(c)
        if row.nnz == 0:
            out.append([])
            continue
        w = row.data / max(words[c], 1) * idf[row.indices]
        best = np.lexsort((vocab[row.indices], -w))[:top]  # ties: alphabetical
        out.append([(str(vocab[row.indices[b]]), round(float(w[b]), 4)) for b in best])
    return out
