"""The chunk checks the service makes in Arrow before staging: the validity pre-check
must flag every chunk DuckDB would quarantine a post of, and the authors' handles staged
per chunk must be each author's last."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from civicsentry.ingest.base import RAW_POSTS
from civicsentry.service.ingest import _REASON, _last_handles, _may_be_invalid

# White space of every kind (DuckDB's trim removes the space separators only), and
# characters that are not.
_blank = st.text(alphabet=" \t\n\x0b\x1c\x85\xa0\u1680\u2000\u2028\u202f\u3000\u200bax", max_size=3)


def _chunk(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=RAW_POSTS)


def _duckdb_reasons(t: pa.Table) -> int:
    return duckdb.sql(f"SELECT count(*) FROM t WHERE ({_REASON}) IS NOT NULL").fetchall()[0][0]


_row = st.fixed_dictionaries(
    {
        "position": st.integers(1, 9),
        "platform": st.one_of(st.none(), _blank, st.just("x")),
        "post_id": st.one_of(st.none(), _blank, st.just("1")),
        "account_id": st.one_of(st.none(), _blank, st.just("a")),
        "created_at": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        "kind": st.one_of(
            st.none(),
            st.sampled_from(["post", "repost", "reply", "quote", "boost", " post", "POST"]),
        ),
        "problem": st.one_of(st.none(), st.just("bad")),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_row, min_size=1, max_size=4))
def test_a_chunk_that_passes_the_precheck_has_no_reason_in_duckdb(rows: list[dict]) -> None:
    t = _chunk(rows)
    if not _may_be_invalid(t):
        assert _duckdb_reasons(t) == 0


def test_precheck_known_answers() -> None:
    good = {"position": 1, "platform": "x", "post_id": "1", "account_id": "a", "kind": None}
    good["created_at"] = datetime(2024, 1, 1, tzinfo=UTC)
    assert not _may_be_invalid(_chunk([good, {**good, "kind": "reply"}]))
    assert not _may_be_invalid(_chunk([]))
    for bad in (
        {"platform": "\u00a0"},  # DuckDB's trim removes it: missing platform
        {"account_id": "\u3000"},
        {"post_id": None},
        {"created_at": None},
        {"kind": "boost"},
        {"problem": "timestamp 'x' is not a time"},
    ):
        t = _chunk([good, {**good, **bad}])
        assert _may_be_invalid(t) and _duckdb_reasons(t) == 1, bad
    # A tab is not trimmed by DuckDB: valid there, only flagged here (then DuckDB decides).
    t = _chunk([{**good, "post_id": "\t"}])
    assert _may_be_invalid(t) and _duckdb_reasons(t) == 0


def test_last_handles_keeps_each_authors_last_post_with_a_handle() -> None:
    rows = [
        {"platform": "x", "account_id": "a", "handle": "a1"},  # 0
        {"platform": "x", "account_id": "b", "handle": "b1"},  # 1
        {"platform": "x", "account_id": "a", "handle": "a2"},  # 2: a's last with a handle
        {"platform": "y", "account_id": "a", "handle": "ya"},  # 3: another platform's a
        {"platform": "x", "account_id": "a", "handle": None},  # 4: no handle
        {"platform": "x", "account_id": "b", "handle": "b2", "problem": "bad"},  # 5
        {"platform": None, "account_id": "c", "handle": "c1"},  # 6: no platform
        {"platform": "x", "account_id": None, "handle": "n1"},  # 7: no account
    ]
    t = pa.Table.from_pylist(rows, schema=RAW_POSTS)
    assert _last_handles(t).tolist() == [1, 2, 3]
    assert _last_handles(t.slice(4, 4)).tolist() == []
