"""The decision on the hand-written labelled sets, with the shipped model: the figures
quoted in docs/narratives.md (retraining changes them; update the docs with the test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from civicsentry.claims.lexical import clean
from civicsentry.claims.match import ClaimIndex, FusionModel, candidates, decide
from civicsentry.narratives.embed import get_embedder

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("name", "right", "wrong", "expected", "how"),
    [
        ("multilingual_set.json", 26, 1, 29, {"hybrid", "embedding"}),
        ("calibration_set.json", 18, 1, 18, {"hybrid"}),
    ],
)
def test_hybrid_decisions(name: str, right: int, wrong: int, expected: int, how: set[str]) -> None:
    data = json.loads((DATA / name).read_text(encoding="utf-8"))
    claims, posts = data["claims"], data["posts"]
    emb = get_embedder()
    index = ClaimIndex(
        [c["text"] for c in claims],
        [None] * len(claims),
        emb.encode([c["text"] for c in claims]),
        np.zeros((len(claims), emb.dim), np.float32),
    )
    model = FusionModel.load()
    c = candidates(
        index,
        [clean(p["text"]) for p in posts],
        emb.encode([p["text"] for p in posts]),
        model=model,
    )
    keep, methods = decide(c, "hybrid", model)
    got = {(int(c.post[k]), claims[c.claim[k]]["id"]) for k in keep}
    want = {(i, p["claim"]) for i, p in enumerate(posts) if p["claim"]}
    assert (len(got & want), len(got - want), len(want)) == (right, wrong, expected)
    assert set(methods) == how
    # every unrelated post (different topic altogether) matches nothing
    unrelated = {i for i, p in enumerate(posts) if p["claim"] is None and i >= len(posts) - 3}
    assert not {i for i, _ in got} & unrelated
