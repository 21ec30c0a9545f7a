"""How matching reads a post (``clean_post``) and the second embedder (e5, offline)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from civicsentry.claims.e5 import E5Embedder, e5_embedder
from civicsentry.claims.lexical import clean_post
from civicsentry.claims.match import ClaimIndex, candidates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # an embedded tweet copied with its signature: the quoted name stays
        (
            "I've been sabotaged on air. pic.twitter.com/x1 — Michael Savage "
            "(@ASavageNation) September 26, 2016",
            "I've been sabotaged on air. Michael Savage",
        ),
        # hashtags (also run together) and mentions become words; links go
        (
            "Barron was no citizen.#ImpeachTrump#EndRacism https://t.co/F @realDonaldTrump",
            "Barron was no citizen. Impeach Trump End Racism real Donald Trump",
        ),
        ("RT @a_b: #COVID19 cure", "a b : COVID 19 cure"),
        # a dash in the text is not a signature
        ("Ballots — all of them — were dumped", "Ballots — all of them — were dumped"),
        (None, ""),
    ],
)
def test_clean_post(raw: str | None, expected: str) -> None:
    assert clean_post(raw) == expected


def test_e5_ships_its_weights_and_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise OSError("network used")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    query, passage = e5_embedder("query"), e5_embedder("passage")
    assert isinstance(query, E5Embedder) and query.model != passage.model  # cached apart
    claims = passage.encode(
        ["Postal ballots were found dumped in a river.", "The central bank kept rates."]
    )
    posts = query.encode(["Des bulletins de vote par correspondance jetés dans une rivière"])
    assert claims.shape == (2, 384) and np.allclose(np.linalg.norm(claims, axis=1), 1, atol=1e-3)
    sims = posts @ claims.T
    assert sims[0, 0] > sims[0, 1]  # the translation is closer than the unrelated claim


def test_a_claim_without_title_stands_in_for_it() -> None:
    rng = np.random.default_rng(0)
    cv = {n: rng.normal(size=(2, 4)).astype(np.float32) for n in ("use", "e5")}
    vecs = {
        n: (v / np.linalg.norm(v, axis=1, keepdims=True), np.zeros_like(v)) for n, v in cv.items()
    }
    index = ClaimIndex(["dead people voted", "cash will be banned"], [None, ""], vecs)
    for text_vecs, title_vecs in index.vecs.values():
        assert np.array_equal(text_vecs, title_vecs)
    post = {n: v[0][:1] for n, v in index.vecs.items()}
    c = candidates(index, ["dead people voted"], post, mode="embedding")
    assert np.allclose(c.feature("use_title"), c.feature("use_text"))
    assert np.allclose(c.feature("bm25_title")[c.claim == 0], 1.0)  # its own text, whole
