"""Entities from free post text, for exports that give only the text (CrowdTangle, Meta
Content Library): hashtags, @mentions and URLs, as raw strings — the service normalises
them. Shared by the Telegram, CrowdTangle and Meta Content Library adapters."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ..normalise import normalise_url

_HASH_MARKS = "#＃"
# A tag starts at a # not glued to a word, a URL path ("/#/route"), an HTML entity
# ("&#39;") or another #.
_HASH_START = re.compile(r"(?<![\w&/#＃])[#＃]")
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ/ZWJ inside Persian and Indic words


def _tag_char(ch: str) -> bool:
    # Letters, combining marks (Devanagari vowel signs are not \w in Python's re),
    # digits and connector punctuation such as "_".
    return unicodedata.category(ch)[0] in "LMN" or ch == "_" or ch in _JOINERS


def extract_hashtags(text: str | None) -> list[str]:
    """Hashtags in ``text``, in order, each once, without the ``#``.

    Unicode-aware (``#Élection2024``, ``#выборы``, ``#चुनाव``, full-width ``＃``); a tag
    ends at the first character that is not a letter, mark, digit or ``_``; tags made
    of digits only (``#1``) are not hashtags, as on the platforms."""
    if not text:
        return []
    found: list[str] = []
    for m in _HASH_START.finditer(text):
        i = m.end()
        j = i
        while j < len(text) and _tag_char(text[j]):
            j += 1
        tag = text[i:j].strip("\u200c\u200d")
        if tag and not tag.isdigit():
            found.append(tag)
    return dedupe_folded(found)


_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,62}[A-Za-z0-9_])?)")


def extract_mentions(text: str | None) -> list[str]:
    """``@handle`` mentions (ASCII handles as on Instagram and Telegram), each once, without
    the ``@``; e-mail addresses are not mentions."""
    if not text:
        return []
    return dedupe_folded(m.group(1) for m in _MENTION.finditer(text))


_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?…»”’)]}>"


def extract_urls(text: str | None) -> list[str]:
    """http(s) and ``www.`` URLs in ``text``, with trailing punctuation removed (a closing
    bracket only when unbalanced inside the URL)."""
    if not text:
        return []
    out: list[str] = []
    for m in _URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url and url not in out:
            out.append(url)
    return out


def dedupe(values: Iterable[str | None]) -> list[str]:
    """Non-empty values in first-seen order, each once."""
    out: list[str] = []
    for v in values:
        if v and v.strip() and v not in out:
            out.append(v)
    return out


def dedupe_folded(values: Iterable[str | None]) -> list[str]:
    """Hashtags or handles each once, ignoring case, width and a leading ``#``/``@``
    (``#Vote`` and ``vote`` are one tag); the first spelling is kept."""
    out: list[str] = []
    seen: set[str] = set()
    for v in values:
        key = unicodedata.normalize("NFKC", v or "").strip().lstrip("#＃@").casefold()
        if key and key not in seen:
            seen.add(key)
            out.append(v)  # type: ignore[arg-type]
    return out


def dedupe_urls(urls: Iterable[str | None]) -> list[str]:
    """URLs each once, comparing their normalised forms (``?utm_source=`` variants of one
    link are one URL); the first raw spelling is kept, the service normalises it."""
    out: list[str] = []
    seen: set[str] = set()
    for u in urls:
        if not u or not u.strip():
            continue
        key = normalise_url(u) or u
        if key not in seen:
            seen.add(key)
            out.append(u)
    return out


def parse_count(value: object) -> int | None:
    """A count as exports write it: ``1234``, ``"1,234"``, ``"1234.0"``; None for ``""``,
    ``N/A`` and anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    s = str(value).strip().replace(",", "").replace("\u202f", "").replace(" ", "")
    try:
        return int(float(s)) if s else None
    except (ValueError, OverflowError):
        return None
