"""The embedding backend: offline, multilingual, cached per text in the workspace."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from civicsentry.narratives.embed import UseEmbedder, cached_embeddings, clean


def test_embeds_offline_and_across_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedder tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    v = UseEmbedder(workers=2).encode(
        [
            "The vaccine contains a microchip that tracks people.",
            "Le vaccin contient une puce électronique qui suit les gens.",
            "Our football team won the cup final last night.",
        ]
    )
    assert v.shape == (3, 512) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    # measured: translation 0.72, unrelated 0.12 (docs/narratives.md has the wider table)
    assert v[0] @ v[1] > 0.6 and v[0] @ v[2] < 0.3


def test_clean_drops_links_mentions_and_rt() -> None:
    assert clean("RT @bob: Vote now https://t.co/x www.a.b pic.twitter.com/z !") == ": Vote now !"


def test_cache_reuses_vectors(ws) -> None:  # type: ignore[no-untyped-def]
    first, n1 = cached_embeddings(ws.con, ["a b c", "d e f", "a b c"], ["A b c", "D e f", "A b c"])
    assert n1 == 3  # computed (a key repeated within one call is stored once)
    assert ws.scalar("SELECT count(*) FROM text_embeddings") == 2
    again, n2 = cached_embeddings(ws.con, ["d e f", "a b c", "g h"], ["D e f", "A b c", "G h"])
    assert n2 == 1  # only the new text
    assert np.allclose(again[0], first[1]) and np.allclose(again[1], first[0])
