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


# A URL in canonical form but for, perhaps, its trailing slash, tracking parameters,
# fragment and the case of its host: lowercase scheme; no userinfo or port; a path of characters `quote`
# keeps; a query of `name=value` pairs of unreserved characters (which parse_qsl and
# urlencode give back unchanged).
_UNRESERVED = "[A-Za-z0-9._~-]"
_CANONICAL = re.compile(
    r"(https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(/[A-Za-z0-9/%:@!$&'()*+,;=~._-]*)?"
    rf"(?:\?({_UNRESERVED}+={_UNRESERVED}*(?:&{_UNRESERVED}+={_UNRESERVED}*)*))?"
    r"(?:#\S*)?"
)


# Bounded: each entry costs ~300 bytes, and a file with millions of distinct links would
# otherwise grow the process by that much (ingest normalises each distinct value of a
# chunk once anyway; the cache only spares repeats across chunks).
@lru_cache(maxsize=100_000)
def normalise_url(url: str) -> str | None:
    """Canonical form of a URL, or None when it is not an http(s) URL.

    Lowercases scheme and host, drops default ports, userinfo, the fragment and tracking
    parameters (utm_*, fbclid, gclid, igshid, ...), keeps every other parameter in order,
    and writes an empty path as ``/``. A bare ``www.example.com/x`` gets ``http://``.
    """
    m = _CANONICAL.fullmatch(url)
    if m is None:
        return _normalise_url(url)
    # Most links: string surgery is enough, and parsing them costs ~20x more.
    host, path, query = m.groups()
    host = host.lower()  # `https://WWW.Example.com`: hosts are case-insensitive
    kept = [p for p in query.split("&") if not _is_tracking(p.split("=", 1)[0])] if query else []
    return host + (path or "/") + ("?" + "&".join(kept) if kept else "")


def _normalise_url(url: str) -> str | None:
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


def registered_domain(url_or_host: str) -> str | None:
    """The registrable domain (``news.bbc.co.uk`` → ``bbc.co.uk``), public-suffix aware.
    IP addresses are returned as they are; hosts under no known suffix give None."""
    if "://" in url_or_host:
        plain = _PLAIN_HOST.match(url_or_host)  # most links; the same host, unparsed
        host = plain.group(1) if plain else urlsplit(url_or_host).hostname or ""
    else:
        host = url_or_host.split("/", 1)[0].split(":", 1)[0]
    return _domain_of_host(host.lower().rstrip("."))


# One pattern for Python's `match` and Arrow's RE2 (which needs the named group and `^`).
_PLAIN_HOST = re.compile(r"https?://(?P<host>[A-Za-z0-9.-]*)(?::[0-9]*)?(?:[/?#]|$)")
_PLAIN_HOST_RE2 = "^" + _PLAIN_HOST.pattern


def registered_domains(urls: pa.Array) -> pa.Array:
    """``registered_domain`` of each value of a string array (nulls stay null), each
    distinct host looked up once. Hosts are read by RE2 where ``_PLAIN_HOST`` reads them
    (RE2's ``$`` is only the end of the text, Python's also before a final newline: such
    values, and any other it does not match, take ``registered_domain`` itself)."""
    # A match says "://" is in the value too (``registered_domain``'s first test).
    got = pc.struct_field(pc.extract_regex(urls, _PLAIN_HOST_RE2), [0])  # null: no match
    host = pc.utf8_rtrim(pc.utf8_lower(got), ".")
    enc = pc.dictionary_encode(host)
    found = pa.array([_domain_of_host(h) for h in enc.dictionary.to_pylist()], pa.string())
    out = found.take(enc.indices)
    other = pc.and_(pc.is_null(got), pc.is_valid(urls))
    if pc.any(other).as_py():
        rest = [registered_domain(u) for u in pc.filter(urls, other).to_pylist()]
        out = pc.replace_with_mask(out, other, pa.array(rest, pa.string()))
    return out


# Keyed by host: links are many, hosts few (each distinct link used to cost a parse).
@lru_cache(maxsize=200_000)
def _domain_of_host(host: str) -> str | None:
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


@lru_cache(maxsize=200_000)
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
# What a text needs beyond lowercasing and trimming: a link, a mention, a whitespace
# character other than a space, or two spaces in a row.
_BUSY = rf"http|www\.|@|[{_ASCII_SPACE[:-1]}]|  "


def text_keys(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The exact-text key of each text, computing each distinct text once.

    Texts made of ASCII and of the non-ASCII characters for which Arrow's functions and
    RE2 behave as ``text_key`` does (``_vectorisable_class``: accented letters, emoji,
    symbols; most texts) are keyed with Arrow's vectorised string functions; the rest
    with ``text_key``. Both give the same keys.

    Most texts have no link, mention or unusual space: after lowercasing, one RE2 scan
    finds the texts that have one, and only those go through the replacing regexes.
    RE2 has no look-behind: ``\\B@`` stands for ``(?<!\\w)@``. RE2's ``\\b`` knows only
    ASCII word characters, which is exact when the character before each ``@`` is ASCII;
    texts with another character right before an ``@`` take the Python path."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    encoded = pc.dictionary_encode(texts)  # one hashing pass: the distinct texts, and which
    uniq = encoded.dictionary
    simple = pc.fill_null(pc.string_is_ascii(uniq), True)
    # min_count=0: "all" of no texts (a chunk without any) is true, not null; null built
    # the character class below (~0.5 s, once per process) for nothing.
    if not pc.all(simple, min_count=0).as_py():
        wide = pc.invert(simple)
        other = pc.filter(uniq, wide)  # checked alone: the character class is slow to run
        ok = pc.and_(
            pc.match_substring_regex(other, f"^[\\x00-\\x7f{_vectorisable_class()}]*$"),
            pc.invert(pc.match_substring_regex(other, r"[^\x00-\x7f]@")),
        )
        simple = pc.replace_with_mask(simple, wide, ok)
    low = pc.utf8_lower(uniq)  # on these characters, the same as str.casefold()
    # The texts with a link, a mention, or whitespace other than single spaces.
    busy = pc.and_(pc.fill_null(pc.match_substring_regex(low, _BUSY), False), simple)
    if pc.any(busy).as_py():
        low = pc.replace_with_mask(low, busy, _fold(pc.filter(low, busy)))
    fast = pc.utf8_trim(low, _ASCII_SPACE_CHARS)
    rest = pc.filter(uniq, pc.invert(simple)).to_pylist()
    slow = pa.array([None if t is None else text_key(t) for t in rest], pa.string())
    keys = pc.replace_with_mask(fast, pc.invert(simple), slow) if len(slow) else fast
    return keys.take(encoded.indices)


def _fold(low: pa.Array) -> pa.Array:
    """Links to ``<url>``, mentions to ``@`` and whitespace runs to one space in
    lowercased texts. The mention regex (its Unicode classes make RE2 build a large
    automaton) runs only on the texts that still have an ``@``."""
    low = pc.replace_substring_regex(low, rf"(?:https?://|www\.)[^{_ASCII_SPACE}]+", "<url>")
    at = pc.match_substring(low, "@")
    if pc.any(at).as_py():
        done = pc.replace_substring_regex(pc.filter(low, at), r"\B@[\pL\pN_.]+", "@")
        low = pc.replace_with_mask(low, at, done)
    # Runs of whitespace, and single whitespace other than a space, become one space.
    return pc.replace_substring_regex(low, rf"[{_ASCII_SPACE}]{{2,}}|[{_ASCII_SPACE[:-1]}]", " ")


@lru_cache(maxsize=1)
def _vectorisable_class() -> str:
    """An RE2 character class of the non-ASCII characters on which the vectorised path
    of ``text_keys`` equals ``text_key``. Each is: not whitespace (``str.split`` and
    ``\\S`` would see it; RE2's ASCII class would not); unchanged by NFKC and not a mark,
    so a text of them is unchanged by NFKC (composition needs a mark or a Hangul jamo);
    lowered by Arrow as by Python, with ``casefold`` equal to ``lower`` (not ß, not
    final sigma); a word character for Python's ``\\w`` exactly when it is one for RE2's
    ``[\\pL\\pN_]``. Computed once, checking Arrow's and RE2's Unicode tables
    themselves, so a version skew between them and Python's only shrinks the class."""
    candidates = []
    for cp in range(0x80, 0x30000):
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat[0] in "MCZ" or c.isspace() or 0x1100 <= cp <= 0x11FF or 0xA960 <= cp <= 0xD7FF:
            continue
        if unicodedata.normalize("NFKC", c) != c or c.casefold() != c.lower():
            continue
        candidates.append(c)
    arr = pa.array(candidates, pa.string())
    lowered = pc.utf8_lower(arr).to_pylist()
    word = pc.match_substring_regex(arr, r"^[\pL\pN_]$").to_pylist()
    keep = [
        cp
        for c, low, w in zip(candidates, lowered, word, strict=True)
        if low == c.lower() and w == (c.isalnum() or c == "_")
        for cp in [ord(c)]
    ]
    ranges = []
    for cp in keep:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)


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
