"""Small normalisation functions applied at ingest, each tested on its own.

They decide what counts as "the same object" for coordination: two accounts sharing
``https://Example.com/a?utm_source=x`` and ``https://example.com/a#top`` share the same URL.
Everything here is offline: the public-suffix list is the snapshot shipped inside
``tldextract`` and language identification is ``py3langid``'s packaged model.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc
import tldextract

# Query parameters that identify a click or a campaign, not a resource.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wickedid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "s_cid",
        "ref_src",
        "ref_url",
        "cmpid",
        "spm",
        "share_id",
        "fb_action_ids",
        "fb_action_types",
        "fb_source",
        "fb_ref",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_", "mtm_")
DEFAULT_PORTS = {"http": "80", "https": "443"}

_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


@lru_cache(maxsize=1_000_000)
def normalise_url(url: str) -> str | None:
    """Canonical form of a URL, or None when it is not an http(s) URL.

    Lowercases scheme and host, drops default ports, userinfo, the fragment and tracking
    parameters (utm_*, fbclid, gclid, igshid, ...), keeps every other parameter in order,
    and writes an empty path as ``/``. A bare ``www.example.com/x`` gets ``http://``.
    """
    url = url.strip()
    if not url:
        return None
    if "://" not in url and url.lower().startswith("www."):
        url = "http://" + url
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        return None
    netloc = host if ":" not in host else f"[{host}]"  # IPv6 literal
    if port is not None and str(port) != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=~-._") or "/"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


@lru_cache(maxsize=200_000)
def registered_domain(url_or_host: str) -> str | None:
    """The registrable domain (``news.bbc.co.uk`` → ``bbc.co.uk``), public-suffix aware.
    IP addresses are returned as they are; hosts under no known suffix give None."""
    if "://" in url_or_host:
        host = urlsplit(url_or_host).hostname or ""
    else:
        host = url_or_host.split("/", 1)[0].split(":", 1)[0]
    host = host.lower().rstrip(".")
    if not host:
        return None
    ext = _extract(host)
    if not ext.suffix:
        return ext.domain if _looks_like_ip(ext.domain) else None
    if not ext.domain:
        return None
    return f"{ext.domain}.{ext.suffix}"


def _looks_like_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|[0-9a-f:]+", host)) and any(c in host for c in ".:")


@lru_cache(maxsize=200_000)
def normalise_hashtag(tag: str) -> str | None:
    """NFKC then casefold, without the leading ``#`` (``#Élection`` → ``élection``)."""
    tag = unicodedata.normalize("NFKC", tag).strip().lstrip("#＃").casefold()
    return tag or None


def normalise_handle(handle: str) -> str | None:
    """Mentions and handles: casefolded, without a leading ``@``."""
    handle = unicodedata.normalize("NFKC", handle).strip().lstrip("@").casefold()
    return handle or None


_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<!\w)@[\w.]+")


def text_key(text: str | None) -> str:
    """The exact-text key: two posts are "the same text" when their keys are equal.

    NFKC, casefold, every URL replaced by ``<url>`` and every mention by ``@``
    (link shorteners and rotated mentions must not hide a copy-paste), whitespace
    collapsed. An empty key (no text) matches nothing.
    """
    if not text:
        return ""
    # The cheap checks skip work most texts do not need; the result is the same.
    s = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    if "http" in s or "www." in s:
        s = _URL_RE.sub("<url>", s)
    if "@" in s:
        s = _MENTION_RE.sub("@", s)
    return " ".join(s.split())  # str.split() splits on exactly what \s matches


# ASCII whitespace as Python's str.split() and re's \s see it (RE2's \s lacks \v, \x1c-\x1f).
_ASCII_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f "
_ASCII_SPACE_CHARS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "


def text_keys(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The exact-text key of each text, computing each distinct text once.

    ASCII texts (most of them) are keyed with Arrow's vectorised string functions; the
    rest (Unicode normalisation) with ``text_key``. Both give the same keys. RE2 has no
    look-behind: a mention is matched with the character before it, which differs from
    ``_MENTION_RE`` only when a mention ending in ``.`` is followed by ``@`` (such texts
    take the Python path)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    uniq = pc.unique(texts)
    simple = pc.and_(pc.string_is_ascii(uniq), pc.invert(pc.match_substring(uniq, ".@")))
    simple = pc.fill_null(simple, False)
    fast = pc.utf8_lower(uniq)  # ASCII: the same as str.lower()
    fast = pc.replace_substring_regex(fast, rf"(?:https?://|www\.)[^{_ASCII_SPACE}]+", "<url>")
    fast = pc.replace_substring_regex(fast, r"(^|[^a-z0-9_])@[a-z0-9_.]+", r"\1@")
    # Runs of whitespace, and single whitespace other than a space, become one space.
    fast = pc.replace_substring_regex(fast, rf"[{_ASCII_SPACE}]{{2,}}|[{_ASCII_SPACE[:-1]}]", " ")
    fast = pc.utf8_trim(fast, _ASCII_SPACE_CHARS)
    rest = pc.filter(uniq, pc.invert(simple)).to_pylist()
    slow = pa.array([None if t is None else text_key(t) for t in rest], pa.string())
    keys = pc.replace_with_mask(fast, pc.invert(simple), slow) if len(slow) else fast
    return keys.take(pc.index_in(texts, value_set=uniq))


_HAS_LETTERS = re.compile(r"[^\W\d_]{3}")


def detect_language(text: str | None) -> str | None:
    """ISO 639-1 code from py3langid's packaged model; None for text too short to tell
    (fewer than 3 letters once URLs and mentions are gone)."""
    if not text:
        return None
    cleaned = _MENTION_RE.sub(" ", _URL_RE.sub(" ", text))
    if not _HAS_LETTERS.search(cleaned):
        return None
    from py3langid.langid import classify  # the packaged model loads on first use (~0.3 s)

    return str(classify(cleaned)[0])


_TWITTER_V1_TIME = "%a %b %d %H:%M:%S %z %Y"


def parse_time(value: object) -> datetime | None:
    """A UTC datetime from what platforms write: ISO 8601 (``Z`` or offset; naive means
    UTC; `20210101` is a basic-format date), Unix epoch seconds/milliseconds/microseconds as
    number or digit string, Twitter
    v1.1's ``Wed Oct 10 20:19:24 +0000 2018``. None when it is none of these."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    return _parse_time_str(value.strip())


@lru_cache(maxsize=100_000)  # profiles and bursts repeat the same strings
def _parse_time_str(s: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(s)  # the common case first
    except ValueError:
        if _NUMBER.fullmatch(s):
            return _from_epoch(float(s))
        try:
            dt = datetime.strptime(s, _TWITTER_V1_TIME)
        except ValueError:
            return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _from_epoch(x: float) -> datetime | None:
    # Seconds until the year 5138, then milliseconds, then microseconds.
    for scale in (1.0, 1e3, 1e6):
        if abs(x) < 1e11 * scale:
            try:
                return datetime.fromtimestamp(x / scale, UTC)
            except (OverflowError, OSError, ValueError):
                return None
    return None
