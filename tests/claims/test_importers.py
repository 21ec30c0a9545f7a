"""Fact-check importers on hand-written fixtures of each format (tests/claims/data)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicsentry.claims.importers import jsonld_blocks, read_file
from civicsentry.errors import BadInputFile, UnknownFormat
from civicsentry.service.claims import import_claims
from tests.conftest import rows

DATA = Path(__file__).parent / "data" / "factchecks"


def test_claimreview_jsonld_graph() -> None:
    fmt, res = read_file(DATA / "claimreview.jsonld")
    assert fmt == "claimreview-jsonld"
    assert len(res.records) == 2  # the Organization node in the @graph is no review
    river, dead = res.records
    assert river.claim_text == "Postal ballots were found dumped in a river."
    assert river.rating == "False" and river.rating_value == 0.0
    assert river.reviewer == "Example Fact Check" and river.reviewer_site == "example.org"
    assert river.claimant == "Viral Facebook post"
    assert river.review_url == "https://factcheck.example.org/2024/10/ballots-river"  # utm gone
    assert river.review_date == datetime(2024, 10, 30, tzinfo=UTC)
    assert river.claim_date == datetime(2024, 10, 28, tzinfo=UTC)
    assert river.title == "No, postal ballots were not dumped in a river"
    assert river.lang == "en"
    # appearance + firstAppearance, normalised (host lowercased, fbclid dropped), deduplicated
    assert river.item_urls == [
        "https://rumours.example.net/ballots-in-river",
        "https://www.example-video.com/watch?v=abc123",
    ]
    assert dead.rating == "Mostly false" and dead.rating_value == 0.25  # (2 - 1) / (5 - 1)
    assert dead.claimant == "Election Truth Network"
    assert dead.review_date == datetime(2024, 10, 29, 7, 15, tzinfo=UTC)
    assert dead.lang == "en"  # not given: detected offline


def test_html_reads_only_jsonld_scripts() -> None:
    fmt, res = read_file(DATA / "factcheck_page.html")
    assert fmt == "claimreview-html"
    [rec] = res.records
    assert rec.claim_text.startswith("Le vaccin contre le COVID-19 contient une puce")
    assert rec.rating == "Faux" and rec.lang == "fr" and rec.reviewer == "Vérif Exemple"
    assert rec.claimant == '=HYPERLINK("http://evil.example")'  # stored as text, never run
    assert rec.item_urls == ["https://videos.example.com/puce"]
    # the broken third block is reported, the NewsArticle ignored
    assert [(p, r.split(":")[0]) for p, r in res.skipped] == [("script[2]", "invalid JSON-LD")]
    html = (DATA / "factcheck_page.html").read_text()
    assert all("alert(" not in b for b in jsonld_blocks(html))


def test_factcheck_api_response_one_record_per_review() -> None:
    fmt, res = read_file(DATA / "factcheck_api.json")
    assert fmt == "factcheck-api"
    assert [(r.claim_text[:12], r.reviewer, r.rating, r.lang) for r in res.records] == [
        ("5G mobile to", "Example Checkers", "False", "en"),
        ("5G mobile to", "Verificado Ejemplo", "Falso", "es"),
        ("Drinking hot", "Example Checkers", "Misleading", "en"),
    ]
    first = res.records[0]
    assert first.claimant == "Social media users"
    assert first.claim_date == datetime(2020, 4, 2, tzinfo=UTC)
    assert first.title == "5G does not spread the coronavirus"
    assert first.reviewer_site == "example.com"
    assert len({r.claim_id for r in res.records}) == 3  # two reviews of one claim: two ids
    assert res.skipped == [("claims[2]", "claim without text or claimReview")]


def test_datafeed() -> None:
    fmt, res = read_file(DATA / "datafeed.json")
    assert fmt == "datafeed"
    assert [r.claim_text[:20] for r in res.records] == [
        "Voting machines swit",
        "Polling stations wil",
    ]
    assert res.records[0].item_urls == ["https://t.example/status/42"]
    assert res.records[1].rating == "False" and res.records[1].rating_value is None
    assert [r for _, r in res.skipped] == ["ClaimReview without claimReviewed or itemReviewed text"]


def test_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BadInputFile, match="neither JSON"):
        read_file(bad)
    with pytest.raises(UnknownFormat, match="formats: claimreview-jsonld"):
        read_file(DATA / "datafeed.json", "csv")


def test_import_is_idempotent(ws) -> None:  # type: ignore[no-untyped-def]
    first = import_claims(ws, [DATA])
    assert first.total("records") == 8 and first.total("new") == 8
    again = import_claims(ws, [DATA / "datafeed.json"])
    assert (again.total("new"), again.total("updated")) == (0, 2)
    assert rows(ws, "SELECT count(*) AS n FROM claims") == [{"n": 8}]
    assert {r["source_format"] for r in rows(ws, "SELECT source_format FROM claims")} == {
        "claimreview-jsonld",
        "claimreview-html",
        "factcheck-api",
        "datafeed",
    }
    audit = rows(ws, "SELECT action FROM audit_log WHERE action = 'claims import'")
    assert len(audit) == 5  # one per file imported
