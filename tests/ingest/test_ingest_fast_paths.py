"""The shortcuts that make ingest fast give what the general paths give: staging in
temporary tables, hosts read without urlsplit, each distinct text keyed once."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import civicsentry
from civicsentry.normalise import normalise_url, registered_domain, text_key, text_keys
from civicsentry.service import ingest as service


def test_staging_tables_are_temporary(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Nothing of a file reaches the workspace file before its one publishing transaction:
    # the stage lives in DuckDB's temporary storage (no commit per chunk writes it to the
    # file, and a killed run leaves nothing behind to clean).
    seen: list[tuple[str, bool]] = []
    publish = service._keep_first_new

    def spy(con, staged):  # type: ignore[no-untyped-def]
        seen.extend(
            con.execute(
                "SELECT table_name, temporary FROM duckdb_tables() "
                "WHERE starts_with(table_name, ?) ORDER BY table_name",
                [service.STAGE_PREFIX],
            ).fetchall()
        )
        return publish(con, staged)

    monkeypatch.setattr(service, "_keep_first_new", spy)
    csv = tmp_path / "posts.csv"
    csv.write_text(
        "post_id,account_id,created_at,text,handle\n"
        "x:1,x:a,2024-01-01T00:00:00Z,hello,Alice\n"
        "x:1,x:a,2024-01-01T00:00:01Z,again,Alice\n",
        encoding="utf-8",
    )
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        report = service.ingest_files(ws, [csv])
        assert (report.total("rows_stored"), report.total("rows_duplicate")) == (1, 1)
        names = [name.removeprefix(f"{service.STAGE_PREFIX}1_") for name, _ in seen]
        assert names == ["accounts", "posts", "quarantine"]
        assert all(temporary for _, temporary in seen)
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        assert ws.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary") == 0
        assert ws.dicts("SELECT text FROM posts") == [{"text": "hello"}]


def test_links_with_capitals_in_the_host_take_the_shortcut_with_the_same_result() -> None:
    assert (
        normalise_url("https://WWW.Youtube.com/watch?v=AbC&utm_source=x#t=1")
        == "https://www.youtube.com/watch?v=AbC"
    )
    assert normalise_url("http://News.BBC.co.uk") == "http://news.bbc.co.uk/"
    assert registered_domain("https://WWW.Youtube.com/watch?v=AbC") == "youtube.com"
    assert registered_domain("https://user@News.BBC.co.uk:8080/x") == "bbc.co.uk"


_netloc = st.text(alphabet="abXY09.-:@[]\t\\", max_size=14)
_after = st.sampled_from(["", "/", "/p?q=1", "?a", "#f", "\n", " x", "\\y"])


@given(st.sampled_from(["http://", "https://", "HTTP://", "ftp://", " http://"]), _netloc, _after)
def test_registered_domain_reads_the_host_as_urlsplit_does(
    scheme: str, netloc: str, after: str
) -> None:
    from civicsentry.normalise import _domain_of_host

    url = scheme + netloc + after
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # urlsplit refuses some brackets; so does registered_domain
        return
    assert registered_domain(url) == _domain_of_host(host.lower().rstrip("."))


def test_text_keys_of_repeated_and_missing_texts() -> None:
    texts = pa.array(["Vote  NOW @bob https://x.co/a", None, "Vote  NOW @bob https://x.co/a", ""])
    assert text_keys(texts).to_pylist() == ["vote now @ <url>", None, "vote now @ <url>", ""]
    assert text_keys(pa.chunked_array([texts[:2], texts[2:]])).to_pylist() == [
        text_key("Vote  NOW @bob https://x.co/a"),
        None,
        "vote now @ <url>",
        "",
    ]


def test_the_later_handle_in_the_file_wins_whatever_the_chunks(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    # An account renamed while the export ran: its posts carry several handles. The
    # stored one is the handle of its last post in the file, however the file is cut
    # into chunks (before, every post-carried handle ranked 0 and a tie picked any).
    # A profile from an accounts table still beats them all.
    posts = tmp_path / "posts.csv"
    posts.write_text(
        "post_id,account_id,created_at,text,handle\n"
        "x:1,x:a,2024-01-01T00:00:00Z,one,first_name\n"
        "x:2,x:b,2024-01-01T00:00:01Z,two,bee\n"
        "x:3,x:a,2024-01-01T00:00:02Z,three,second_name\n"
        "x:4,x:a,2024-01-01T00:00:03Z,four,third_name\n"
        "x:5,x:b,2024-01-01T00:00:04Z,five,bee_renamed\n"
        "x:6,x:a,2024-01-01T00:00:05Z,six,\n",  # no handle: does not erase one
        encoding="utf-8",
    )
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,handle\nx:b,bee_profile\n", encoding="utf-8")
    options = service.Options
    for size in (1, 2, 3, 50):
        monkeypatch.setattr(
            service, "Options", lambda size=size, **k: options(batch_size=size, **k)
        )
        with civicsentry.open(tmp_path / f"ws{size}.duckdb") as ws:
            service.ingest_files(ws, [posts])
            got = dict(ws.sql("SELECT account_id, handle FROM accounts").fetchall())
            assert got == {"x:a": "third_name", "x:b": "bee_renamed"}, size
            service.ingest_files(ws, [accounts])
            assert ws.scalar("SELECT handle FROM accounts WHERE account_id = 'x:b'") == (
                "bee_profile"
            )
