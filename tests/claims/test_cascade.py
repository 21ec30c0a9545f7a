"""The matching cascade (USE first, e5 only for posts that can still match) decides
exactly what the full path (e5 for every post) decides, and never embeds with e5 a post
that cannot match."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from civicsentry.claims.e5 import E5Embedder, e5_embedder
from civicsentry.claims.lexical import clean_post
from civicsentry.claims.match import ClaimIndex, FusionModel, best_use, match_texts, use_gate
from civicsentry.narratives.embed import get_embedder
from civicsentry.service.claims import match_claims
from tests.conftest import rows

DATA = Path(__file__).parent / "data"


@pytest.fixture
def e5_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every post text the e5 engine is asked to embed (claims are passages: not kept)."""
    seen: list[str] = []
    encode = E5Embedder.encode

    def counting(self: E5Embedder, texts: Sequence[str], progress=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        if self.kind == "query":
            seen.extend(texts)
        return encode(self, texts, progress)

    monkeypatch.setattr(E5Embedder, "encode", counting)
    return seen


def _matches(ws, run_id: int) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return rows(
        ws,
        f"SELECT * EXCLUDE (run_id) FROM claim_matches WHERE run_id = {run_id} "
        "ORDER BY post_id, claim_id",
    )


def test_service_cascade_equals_full_path(ws, e5_queries: list[str]) -> None:  # type: ignore[no-untyped-def]
    ws.ingest(DATA / "posts.csv", platform="x")
    ws.import_claims(DATA / "factchecks")
    text = {r["post_id"]: clean_post(r["text"]) for r in rows(ws, "SELECT * FROM posts")}
    fast = match_claims(ws)  # the cascade (default); nothing cached yet
    cascaded = set(e5_queries)
    # the rewordings and translations that match were embedded by e5 ...
    assert {text[p] for p in ("x:1", "x:2", "x:3", "x:4")} <= cascaded
    # ... the football post (nothing near any claim) and the URL-only posts were not,
    # and the URL matches of x:6 and x:7 stand all the same
    assert not {text[p] for p in ("x:6", "x:7", "x:9")} & cascaded
    assert fast.e5_texts == len(cascaded) < fast.texts == 8
    full = match_claims(ws, cascade=False)  # e5 for every text: computes the rest now
    assert {text[p] for p in ("x:6", "x:7", "x:9")} <= set(e5_queries)
    assert full.e5_texts == full.texts == 8
    got, want = _matches(ws, fast.run_id), _matches(ws, full.run_id)
    assert got == want
    assert {r["post_id"] for r in got} == {"x:1", "x:2", "x:3", "x:4", "x:6", "x:7", "x:8"}
    assert {r["method"] for r in got if r["post_id"] in ("x:6", "x:7")} == {"url"}
    params = rows(ws, f"SELECT params FROM runs WHERE run_id = {fast.run_id}")[0]["params"]
    assert json.loads(params)["e5_gate"] == 0.4  # min(min_embedding 0.40, embedding 0.68)


@pytest.mark.parametrize("name", ["multilingual_set.json", "calibration_set.json"])
def test_labelled_sets_cascade_equals_full_path(name: str) -> None:
    data = json.loads((DATA / name).read_text(encoding="utf-8"))
    ctext = [c["text"] for c in data["claims"]]
    texts = [clean_post(p["text"]) for p in data["posts"]]
    use = get_embedder()
    vecs = {}
    for emb, claim_emb in (("use", use), ("e5", e5_embedder("passage"))):
        cv = claim_emb.encode(ctext)
        vecs[emb] = (cv, np.zeros_like(cv))
    index = ClaimIndex(ctext, [None] * len(ctext), vecs)
    post_use = use.encode(texts)
    post_e5 = e5_embedder("query").encode(texts)
    model = FusionModel.load()
    asked: list[list[int]] = []

    def e5(rows_: np.ndarray) -> np.ndarray:
        asked.append(rows_.tolist())
        return post_e5[rows_]

    for mode in ("hybrid", "embedding"):
        asked.clear()
        full, _ = match_texts(index, texts, post_use, e5, mode=mode, cascade=False)
        assert asked == [list(range(len(texts)))]
        asked.clear()
        fast, need = match_texts(index, texts, post_use, e5, mode=mode, model=model)
        assert len(asked) == 1 and asked[0] == need.tolist()
        # the same pairs and methods; the probabilities up to float32 rounding (cosines
        # from matrix products of other shapes differ in the last bit, ~6e-8)
        assert [f[:2] + f[3:4] for f in fast] == [f[:2] + f[3:4] for f in full]
        assert np.allclose([f[2] for f in fast], [f[2] for f in full], rtol=0, atol=1e-6)
        assert {f[0] for f in full} <= set(need.tolist())  # every matched post went to e5
        # the posts on other topics altogether (the last three) never do
        assert not set(need.tolist()) & set(range(len(texts) - 3, len(texts)))
        gate = use_gate(mode, model)
        assert gate is not None and set(need.tolist()) == set(
            np.flatnonzero(best_use(index, post_use) >= gate - 1e-4).tolist()
        )
    # lexical mode decides on BM25 alone: no e5 at all, the same matches
    asked.clear()
    full, _ = match_texts(index, texts, post_use, e5, mode="lexical", cascade=False)
    fast, need = match_texts(index, texts, post_use, e5, mode="lexical")
    assert len(need) == 0 and asked == [list(range(len(texts)))]
    assert [f[:2] + f[3:] for f in fast] == [f[:2] + f[3:] for f in full]
