"""The vectorised normalisers (Arrow kernels and RE2) against the scalar reference
functions they stand in for: same keys and domains on random Unicode, including the
characters where NFKC, casefold and lowercase part ways."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicsentry.ingest.prepare import prepare_posts
from civicsentry.normalise import (
    _vectorisable_class,
    normalise_url,
    registered_domain,
    registered_domains,
    text_key,
    text_keys,
)

# Where the shortcuts could go wrong: casefold ≠ lower (ß, ﬁ, final sigma, Cherokee,
# ŉ), NFKC changes (full-width letters and signs, ligatures, Kelvin and Ohm signs,
# composed vs combining accents, Hangul jamo), Turkish dotted/dotless i, titlecase ǅ,
# non-ASCII whitespace and digits, variation selector and ZWJ in emoji, and the ASCII
# pieces of links, mentions and whitespace runs.
SPECIAL = [
    *"ßẞﬁﬀŉİıΣσςΩΩKǅᏸᎰ",
    *"ＡＢｈｔｐｓ＠．：／ｗ",
    "e\u0301",
    "\u00e9",
    "\u0308",
    "\u0345",
    "\u1100\u1161",
    "가",
    "١٢",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\x85",
    "❤\ufe0f",
    "👩\u200d💻",
    "😂",
    *"aZ_0@.:/ \t\n\r\x0b\x0c\x1c\x1f-",
    "http://",
    "HTTPS://",
    "www.",
    "WWW.",
    "@x",
    "@Ab.",
    "x.@y",
]
_special_text = st.lists(st.sampled_from(SPECIAL), max_size=25).map("".join)
_any_text = _special_text | st.text(max_size=40) | st.text(st.characters(max_codepoint=127))


@settings(deadline=None, max_examples=300)  # the first call builds a character class
@given(st.lists(st.none() | _any_text, min_size=1, max_size=30))
def test_text_keys_equal_text_key_on_random_unicode(texts: list[str | None]) -> None:
    keys = text_keys(pa.array(texts, pa.string())).to_pylist()
    assert keys == [None if t is None else text_key(t) for t in texts]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # ASCII mentions are found with RE2's \B (no look-behind): the character before
        # the @ is not consumed, so a mention right after one ending in "." is found.
        ("@a.@b", "@@"),
        ("hi @a.@b.", "hi @@"),
        ("mail a@b and @c", "mail a@b and @"),
        ("x.@y", "x.@"),
        ("@@x", "@@"),
        ("é @a.@b @josé", "é @@ @"),
        # a non-ASCII character right before an @ (RE2's \B would call it a boundary)
        # takes the Python path
        ("café@bob", "café@bob"),
        ("日本@bob 日本 @bob", "日本@bob 日本 @"),
        ("Straße @Ａ", "strasse @"),
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
        ("ﬁne  \u3000 WWW.x.com/a", "fine <url>"),
        ("İstanbul", "i̇stanbul"),
        ("  Vote\tNOW  ", "vote now"),
    ],
)
def test_text_keys_known_answers(text: str, key: str) -> None:
    assert text_key(text) == key
    assert text_keys(pa.array([text, "padding"])).to_pylist()[0] == key


@pytest.mark.parametrize("texts", [[], [None, None], ["plain ascii", None, ""]])
def test_text_keys_without_non_ascii_texts_skip_the_unicode_class(
    texts: list[str | None],
) -> None:
    # The class of vectorisable characters takes ~0.5 s to build; a chunk with no text
    # at all (the toolkit CSV's reposts) used to build it because Arrow's "all" of
    # nothing is null, not true.
    _vectorisable_class.cache_clear()
    keys = text_keys(pa.array(texts, pa.string())).to_pylist()
    assert keys == [None if t is None else text_key(t) for t in texts]
    assert _vectorisable_class.cache_info().currsize == 0
    text_keys(pa.array(["café"]))  # a non-ASCII text does need it
    assert _vectorisable_class.cache_info().currsize == 1


_hosts = st.lists(st.sampled_from([*"aZ09.-_", "www.", "co.uk", "ä", ":80", ":x", "@"]), max_size=8)
_urls = st.tuples(
    st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", "", "www."]),
    _hosts.map("".join),
    st.sampled_from(["", "/", "/p?q=1", "?a", "#f", "\n", "/x\n", " "]),
).map("".join)


@settings(deadline=None, max_examples=300)
@given(st.lists(st.none() | _urls | st.text(max_size=20), min_size=1, max_size=20))
def test_registered_domains_equal_registered_domain(urls: list[str | None]) -> None:
    got = registered_domains(pa.array(urls, pa.string())).to_pylist()
    assert got == [None if u is None else registered_domain(u) for u in urls]


def test_registered_domains_known_answers() -> None:
    # Found while writing it: a struct's child column ignores the struct's nulls, so a
    # value the host pattern did not match read as the empty host instead of falling back.
    urls = ["https://News.BBC.co.uk:8080/x", "http://news.bbc.co.uk\n", "ftp://x.org/", "", None]
    want = ["bbc.co.uk", "bbc.co.uk", "x.org", None, None]  # any scheme: urlsplit's host
    assert registered_domains(pa.array(urls)).to_pylist() == want


@settings(deadline=None, max_examples=100)
@given(st.lists(st.lists(_urls, max_size=4) | st.none(), min_size=1, max_size=12))
def test_prepared_urls_and_domains_equal_the_scalar_functions(
    lists: list[list[str] | None],
) -> None:
    rows = [{"position": i, "urls": v} for i, v in enumerate(lists)]
    table = prepare_posts(rows, detect_lang=False)
    want_urls = [None if v is None else [normalise_url(u) for u in v] for v in lists]
    want_domains = [
        None if v is None else [(registered_domain(c) if c else None) for c in v] for v in want_urls
    ]
    assert table.column("urls").to_pylist() == want_urls
    assert table.column("domains").to_pylist() == want_domains
