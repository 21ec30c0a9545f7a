"""Claim matching through the service on hand-built posts (tests/claims/data/posts.csv)
and the fact-check fixtures, with the real embedding model (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsentry.errors import InvalidParams, WorkspaceError
from civicsentry.service.claims import list_claims, list_matches, match_claims
from tests.conftest import rows

DATA = Path(__file__).parent / "data"
RIVER = "Postal ballots were found dumped in a river."
FIVE_G = "5G mobile towers spread the coronavirus."
HOT = "Drinking hot water every fifteen minutes kills the coronavirus."
MACHINES = "Voting machines switched thousands of votes to the other candidate."

# post -> the claims it repeats (5G has two reviews: one row per review)
EXPECTED = {
    "x:1": {RIVER},  # English rewording
    "x:2": {FIVE_G},  # French translation
    "x:3": {HOT},  # Spanish translation
    "x:4": {MACHINES},  # German translation
    "x:6": {RIVER},  # links a reviewed item (utm_source dropped by normalisation)
    "x:7": {HOT},  # links the fact-check article itself
    "x:8": {RIVER},  # a repost of x:1
}
# x:5 (postal ballots, same topic, another statement) and x:9 (football) match nothing


@pytest.fixture
def matched(ws):  # type: ignore[no-untyped-def]
    ws.ingest(DATA / "posts.csv", platform="x")
    ws.import_claims(DATA / "factchecks")  # the Python API calls the same service verbs
    summary = ws.match_claims()
    return ws, summary


def test_matches_rewording_translation_url_and_repost(matched) -> None:  # type: ignore[no-untyped-def]
    ws, summary = matched
    got: dict[str, set[str]] = {}
    for r in rows(
        ws,
        f"SELECT m.post_id, c.claim_text FROM claim_matches m JOIN claims c USING (claim_id) "
        f"WHERE run_id = {summary.run_id}",
    ):
        got.setdefault(r["post_id"], set()).add(r["claim_text"])
    assert got == EXPECTED
    five_g = rows(ws, "SELECT count(*) AS n FROM claim_matches WHERE post_id = 'x:2'")
    assert five_g == [{"n": 2}]  # the English and the Spanish review of the same claim
    assert summary.matched_posts == 7
    assert summary.url_matches == 2 and summary.repost_matches == 1


def test_methods_spans_and_scores(matched) -> None:  # type: ignore[no-untyped-def]
    ws, summary = matched
    by_post = {
        r["post_id"]: r
        for r in ws.claim_matches(limit=0)
        if r["post_id"] in ("x:1", "x:4", "x:6", "x:8")
    }
    assert by_post["x:6"]["method"] == "url" and by_post["x:6"]["score"] == 1.0
    assert by_post["x:6"]["matched_span"] == "https://rumours.example.net/ballots-in-river"
    assert by_post["x:1"]["method"] == "hybrid"
    # the span is the sentence carrying the claim, not the call to share
    assert by_post["x:1"]["matched_span"] == "Mail-in ballots discovered thrown into a river!"
    assert by_post["x:4"]["method"] in ("embedding", "hybrid")
    assert by_post["x:8"]["matched_span"] == by_post["x:1"]["matched_span"]
    for r in by_post.values():
        assert 0 < r["score"] <= 1
    run = rows(ws, f"SELECT step, name, params FROM runs WHERE run_id = {summary.run_id}")[0]
    assert (run["step"], run["name"]) == ("match", "claims") and '"threshold"' in run["params"]


def test_claims_list_counts_matches(matched) -> None:  # type: ignore[no-untyped-def]
    ws, _ = matched
    listed = {r["claim_text"]: r["matched_posts"] for r in list_claims(ws, limit=0)}
    assert listed[RIVER] == 3  # x:1, x:6 and the repost x:8
    assert (
        listed["Polling stations will be closed on election day because of a bomb threat."] is None
    )


def test_embeddings_are_cached(matched) -> None:  # type: ignore[no-untyped-def]
    ws, first = matched
    assert first.embedded == 8  # distinct texts of posts (the repost reuses its parent's)
    again = match_claims(ws)
    assert again.embedded == 0 and again.run_id > first.run_id
    assert again.matched_posts == first.matched_posts


def test_errors(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkspaceError, match="claims import"):
        match_claims(ws)
    with pytest.raises(InvalidParams, match="hybrid, lexical, embedding"):
        match_claims(ws, method="magic")
    with pytest.raises(WorkspaceError, match="claims match"):
        list_matches(ws)
