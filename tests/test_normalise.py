"""Each normalisation function on its own: what counts as "the same object"."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicsentry.normalise import (
    detect_language,
    normalise_handle,
    normalise_hashtag,
    normalise_url,
    parse_time,
    registered_domain,
    text_key,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://Example.COM:443/a?utm_source=x&id=3&fbclid=9#frag", "https://example.com/a?id=3"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com/a?gclid=1&igshid=2&UTM_Medium=3", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),  # order kept
        ("https://example.com/a?q=", "https://example.com/a?q="),  # blank values kept
        ("https://user:pw@Example.com/p", "https://example.com/p"),
        ("www.Foo.org/path", "http://www.foo.org/path"),
        ("  https://example.com/é  ", "https://example.com/%C3%A9"),
        (
            "https://example.com/Case/Path",
            "https://example.com/Case/Path",
        ),  # path is case-sensitive
    ],
)
def test_normalise_url(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "ftp://example.com/x", "mailto:a@b.c", "not a url", "https://x.com:abc/"]
)
def test_normalise_url_rejects_non_http(raw: str) -> None:
    assert normalise_url(raw) is None


@given(st.text(max_size=200))
def test_normalise_url_never_raises_and_is_idempotent(raw: str) -> None:
    once = normalise_url(raw)
    if once is not None:
        assert normalise_url(once) == once


_url_part = st.lists(
    st.sampled_from([*"aZ09.-_~%:@!$&'()*+,;=/?#é \t", "utm_source=x", "&id=", "?q=1"]),
    max_size=10,
).map("".join)


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", ""]),
    st.text(alphabet="abcXYZ019.-_:@", min_size=1, max_size=12),
    _url_part,
)
def test_canonical_shortcut_agrees_with_parsing(scheme: str, host: str, rest: str) -> None:
    # normalise_url skips parsing for URLs already canonical; the result must be the same.
    from civicsentry.normalise import _normalise_url

    url = scheme + host + rest
    assert normalise_url(url) == _normalise_url(url)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://news.bbc.co.uk/a", "bbc.co.uk"),
        ("https://www.example.com/", "example.com"),
        ("t.co", "t.co"),
        ("sub.domain.example.com.au", "example.com.au"),
        ("http://192.168.1.1/x", "192.168.1.1"),
        ("localhost", None),
    ],
)
def test_registered_domain_is_public_suffix_aware(raw: str, expected: str | None) -> None:
    assert registered_domain(raw) == expected


def test_hashtag_nfkc_casefold() -> None:
    assert normalise_hashtag("#ÉLECTION") == "élection"
    assert normalise_hashtag("＃Ｖｏｔｅ") == "vote"  # full-width forms fold to ASCII
    assert normalise_hashtag("#Straße") == "strasse"
    assert normalise_hashtag("#") is None


def test_handle() -> None:
    assert normalise_handle("@SomeOne") == "someone"


def test_text_key_folds_urls_mentions_space_and_case() -> None:
    a = text_key("Vote NOW  @alice https://t.co/abc")
    b = text_key("vote now @bob\nhttp://t.co/xyz ")
    assert a == b == "vote now @ <url>"
    assert text_key("ﬁne") == text_key("fine")  # NFKC ligature
    assert text_key(None) == "" and text_key("   ") == ""


def test_language_detection_is_offline_and_skips_short_text() -> None:
    assert detect_language("Это пример текста на русском языке") == "ru"
    assert detect_language("Ceci est un texte en français, sans aucun doute.") == "fr"
    assert detect_language("https://t.co/x @a 12") is None
    assert detect_language(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-01-01T10:00:00.000Z", datetime(2021, 1, 1, 10, tzinfo=UTC)),
        ("2021-01-01T12:00:00+02:00", datetime(2021, 1, 1, 10, tzinfo=UTC)),
        ("2021-01-01 10:00:00", datetime(2021, 1, 1, 10, tzinfo=UTC)),  # naive = UTC
        ("Fri Jan 01 10:00:00 +0000 2021", datetime(2021, 1, 1, 10, tzinfo=UTC)),
        (1609495200, datetime(2021, 1, 1, 10, tzinfo=UTC)),
        ("1609495200000", datetime(2021, 1, 1, 10, tzinfo=UTC)),  # milliseconds
        ("20210101", datetime(2021, 1, 1, tzinfo=UTC)),  # ISO basic date, not epoch seconds
        (1609495200.5, datetime(2021, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_time(raw: object, expected: datetime) -> None:
    assert parse_time(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "yesterday", True, [], "2021-13-45"])
def test_parse_time_rejects(raw: object) -> None:
    assert parse_time(raw) is None


def _reference_text_key(text: str) -> str:
    # The definition, written plainly: the fast version must agree with it everywhere.
    import re
    import unicodedata

    s = unicodedata.normalize("NFKC", text).casefold()
    s = re.sub(r"(?:https?://|www\.)\S+", "<url>", s, flags=re.IGNORECASE)
    s = re.sub(r"(?<!\w)@[\w.]+", "@", s)
    return re.sub(r"\s+", " ", s).strip()


_pieces = st.sampled_from(
    [*"aZ@.:/ \t\n\x0b\x1c\u00a0\u3000éﬁİßhtpsw", "http://", "www.", "HTTPS://"]
)


@given(st.lists(_pieces, max_size=30).map("".join) | st.text(max_size=60))
def test_text_key_matches_its_definition(text: str) -> None:
    assert text_key(text) == _reference_text_key(text)


_texts = st.lists(
    st.sampled_from(
        [
            *"aZ_@.:/ \t\n\x1cÉéóñçÇ😂🔥\ufe0f\u00a0\u3000ﬁİßςΣΩ\u0301가각ᄀ١٢",
            "http://",
            "www.",
            "@x",
        ]
    ),
    max_size=25,
).map("".join) | st.text(max_size=40)


@settings(deadline=None)  # the first call builds the character class (~0.5 s)
@given(st.lists(_texts, min_size=1, max_size=20))
def test_text_keys_vectorised_equals_text_key(texts: list[str]) -> None:
    import pyarrow as pa

    from civicsentry.normalise import text_keys

    assert text_keys(pa.array(texts)).to_pylist() == [text_key(t) for t in texts]
