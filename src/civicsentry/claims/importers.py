"""Fact-check readers: every format becomes ``ClaimRecord``s (no store writes here).

Formats (docs/narratives.md, "Fact-check formats"):

- ``claimreview-jsonld``: schema.org ClaimReview as JSON-LD, the markup fact-checkers
  embed in their pages: one object, a list, an ``@graph``, or JSON Lines of those.
- ``claimreview-html``: a saved page; each ``<script type="application/ld+json">`` is
  read as above (nothing else of the page is interpreted, and nothing is executed).
- ``factcheck-api``: responses of the Google Fact Check Tools API ``claims:search``
  (``{"claims": [{"text", "claimant", "claimDate", "claimReview": [...]}]}``); one
  record per review.
- ``datafeed``: the ClaimReview data feed (a schema.org ``DataFeed`` whose
  ``dataFeedElement`` items hold ClaimReview objects in ``item``).

The text is hostile: it is stored, never evaluated; URLs are normalised like post URLs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ..errors import BadInputFile, UnknownFormat
from ..normalise import detect_language, normalise_url, parse_time, registered_domain

FORMATS = ("claimreview-jsonld", "claimreview-html", "factcheck-api", "datafeed")


@dataclass
class ClaimRecord:
    """One claim review, in the columns of the ``claims`` table."""

    claim_text: str
    claimant: str | None = None
    claim_date: datetime | None = None
    rating: str | None = None
    rating_value: float | None = None
    reviewer: str | None = None
    reviewer_site: str | None = None
    review_date: datetime | None = None
    review_url: str | None = None
    title: str | None = None
    lang: str | None = None
    item_urls: list[str] = field(default_factory=list)
    source_format: str = ""
    source: str = ""

    @property
    def claim_id(self) -> str:
        """Stable across re-imports of the same review, whatever the format."""
        basis = "\x1f".join(
            [
                (self.reviewer or "").casefold(),
                self.review_url or "",
                " ".join(self.claim_text.split()),
            ]
        )
        return hashlib.md5(basis.encode("utf-8")).hexdigest()


@dataclass
class ReadResult:
    records: list[ClaimRecord]
    skipped: list[tuple[str, str]]  # (position, reason) of objects that are no claim review


# -- helpers -----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A plain string from a JSON-LD value (string, list, or {"@value"/"name": ...})."""
    if value is None:
        return None
    if isinstance(value, list):
        return next((t for t in map(_text, value) if t), None)
    if isinstance(value, dict):
        return _text(value.get("@value") or value.get("name") or value.get("text"))
    s = " ".join(str(value).split())
    return s or None


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        return next((n for n in map(_name, value) if n), None)
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("legalName") or value.get("alternateName"))
    return _text(value)


def _urls(*values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        for item in v if isinstance(v, list) else [v]:
            raw = item.get("url") or item.get("@id") if isinstance(item, dict) else item
            for u in raw if isinstance(raw, list) else [raw]:
                if isinstance(u, str) and (n := normalise_url(u)) and n not in out:
                    out.append(n)
    return out


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type") or obj.get("type") or []
    return {str(x).rsplit("/", 1)[-1] for x in (t if isinstance(t, list) else [t])}


def _rating_value(rating: dict[str, Any]) -> float | None:
    """ratingValue scaled to [0, 1] by worstRating..bestRating (defaults 1..5)."""
    try:
        value = float(rating["ratingValue"])
        best = float(rating.get("bestRating", 5))
        worst = float(rating.get("worstRating", 1))
    except (KeyError, TypeError, ValueError):
        return None
    if best <= worst or not worst <= value <= best:
        return None
    return round((value - worst) / (best - worst), 4)


def _lang(code: Any, *texts: str | None) -> str | None:
    s = _text(code)
    if s:
        return s.split("-")[0].lower()
    return detect_language(" ".join(t for t in texts if t)) if any(texts) else None


# -- schema.org ClaimReview --------------------------------------------------------------


def claim_review(obj: dict[str, Any], source: str, fmt: str) -> ClaimRecord | None:
    """A record from one schema.org ClaimReview object, or None when it has no claim."""
    item = obj.get("itemReviewed") or {}
    if isinstance(item, list):
        item = item[0] if item and isinstance(item[0], dict) else {}
    if not isinstance(item, dict):
        item = {}
    text = _text(obj.get("claimReviewed")) or _text(item.get("text") or item.get("name"))
    if not text:
        return None
    rating = obj.get("reviewRating") or {}
    if isinstance(rating, list):
        rating = rating[0] if rating and isinstance(rating[0], dict) else {}
    author = obj.get("author") or obj.get("publisher") or {}
    review_url = normalise_url(_text(obj.get("url")) or "") if obj.get("url") else None
    site = _text(author.get("url")) if isinstance(author, dict) else None
    title = _text(obj.get("headline") or obj.get("name"))
    return ClaimRecord(
        claim_text=text,
        claimant=_name(item.get("author") or item.get("creator")),
        claim_date=parse_time(_text(item.get("datePublished") or item.get("dateCreated"))),
        rating=_text(rating.get("alternateName") or rating.get("name"))
        if isinstance(rating, dict)
        else None,
        rating_value=_rating_value(rating) if isinstance(rating, dict) else None,
        reviewer=_name(author),
        reviewer_site=registered_domain(site or review_url or "") if (site or review_url) else None,
        review_date=parse_time(_text(obj.get("datePublished") or obj.get("dateModified"))),
        review_url=review_url,
        title=title,
        lang=_lang(obj.get("inLanguage") or item.get("inLanguage"), text),
        item_urls=_urls(
            item.get("appearance"), item.get("firstAppearance"), item.get("sameAs"), item.get("url")
        ),
        source_format=fmt,
        source=source,
    )


def _walk(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ClaimReview object inside a JSON-LD document (lists, @graph, DataFeed items)."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        types = _types(value)
        if "ClaimReview" in types:
            yield path, value
            return
        for key in ("@graph", "dataFeedElement", "item", "mainEntity", "hasPart"):
            if key in value:
                yield from _walk(value[key], f"{path}.{key}")


def _from_jsonld(doc: Any, source: str, fmt: str) -> ReadResult:
    records, skipped = [], []
    found = False
    for path, obj in _walk(doc, "$"):
        found = True
        rec = claim_review(obj, f"{source}:{path}", fmt)
        if rec is None:
            skipped.append((path, "ClaimReview without claimReviewed or itemReviewed text"))
        else:
            records.append(rec)
    if not found:
        skipped.append(("$", "no ClaimReview object"))
    return ReadResult(records, skipped)


# -- Google Fact Check Tools API ---------------------------------------------------------


def _from_factcheck_api(doc: dict[str, Any], source: str) -> ReadResult:
    records, skipped = [], []
    for i, claim in enumerate(doc.get("claims") or []):
        text = _text(claim.get("text")) if isinstance(claim, dict) else None
        reviews = claim.get("claimReview") if isinstance(claim, dict) else None
        if not text or not reviews:
            skipped.append((f"claims[{i}]", "claim without text or claimReview"))
            continue
        for j, rev in enumerate(reviews):
            publisher = rev.get("publisher") or {}
            url = normalise_url(rev["url"]) if isinstance(rev.get("url"), str) else None
            site = _text(publisher.get("site"))
            records.append(
                ClaimRecord(
                    claim_text=text,
                    claimant=_text(claim.get("claimant")),
                    claim_date=parse_time(_text(claim.get("claimDate"))),
                    rating=_text(rev.get("textualRating")),
                    reviewer=_text(publisher.get("name")) or site,
                    reviewer_site=registered_domain(site or url or "") if (site or url) else None,
                    review_date=parse_time(_text(rev.get("reviewDate"))),
                    review_url=url,
                    title=_text(rev.get("title")),
                    lang=_lang(rev.get("languageCode"), text),
                    source_format="factcheck-api",
                    source=f"{source}:$.claims[{i}].claimReview[{j}]",
                )
            )
    return ReadResult(records, skipped)


# -- HTML --------------------------------------------------------------------------------


class _JsonLdScripts(HTMLParser):
    """Collects the text of ``<script type="application/ld+json">`` elements only."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = (dict(attrs).get("type") or "").split(";")[0].strip().lower()
        if tag == "script" and kind == "application/ld+json":
            self._inside = True
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.blocks[-1] += data


def jsonld_blocks(html: str) -> list[str]:
    parser = _JsonLdScripts()
    parser.feed(html)
    parser.close()
    return parser.blocks


def _from_html(html: str, source: str) -> ReadResult:
    records, skipped = [], []
    blocks = jsonld_blocks(html)
    for i, block in enumerate(blocks):
        try:
            doc = json.loads(block)
        except json.JSONDecodeError as e:
            skipped.append((f"script[{i}]", f"invalid JSON-LD: {e.msg}"))
            continue
        res = _from_jsonld(doc, f"{source}:script[{i}]", "claimreview-html")
        records += res.records
        skipped += [
            (f"script[{i}]{p[1:]}", r) for p, r in res.skipped if r != "no ClaimReview object"
        ]
    if not records and not skipped:
        skipped.append(("$", "no ClaimReview in any application/ld+json script"))
    return ReadResult(records, skipped)


# -- detection and reading ---------------------------------------------------------------


def detect_format(doc: Any) -> str:
    """The format of a parsed JSON document."""
    if isinstance(doc, dict) and isinstance(doc.get("claims"), list):
        return "factcheck-api"
    if isinstance(doc, dict) and ("DataFeed" in _types(doc) or "dataFeedElement" in doc):
        return "datafeed"
    return "claimreview-jsonld"


def read_file(path: Path, fmt: str | None = None) -> tuple[str, ReadResult]:
    """Read one fact-check file; returns its format and what it held."""
    if fmt is not None and fmt not in FORMATS:
        raise UnknownFormat(f"No fact-check format {fmt!r}; formats: {', '.join(FORMATS)}.")
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputFile(f"Cannot read {path}: {e}") from e
    src = str(path)
    head = raw.lstrip()[:1]
    if fmt == "claimreview-html" or (fmt is None and head == "<"):
        return "claimreview-html", _from_html(raw, src)
    docs: list[Any]
    try:
        docs = [json.loads(raw)]
    except json.JSONDecodeError:
        try:  # JSON Lines: one document per line
            docs = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise BadInputFile(
                f"{path} is neither JSON, JSON Lines nor HTML with JSON-LD: {e.msg} "
                f"(line {e.lineno})."
            ) from e
    chosen = fmt or detect_format(docs[0] if docs else {})
    out = ReadResult([], [])
    for i, doc in enumerate(docs):
        where = src if len(docs) == 1 else f"{src}:{i + 1}"
        if chosen == "factcheck-api":
            if not isinstance(doc, dict):
                out.skipped.append((f"line {i + 1}", "not a claims:search response object"))
                continue
            res = _from_factcheck_api(doc, where)
        else:
            res = _from_jsonld(doc, where, chosen)
        out.records += res.records
        out.skipped += [(p if len(docs) == 1 else f"line {i + 1}:{p}", r) for p, r in res.skipped]
    return chosen, out
