"""Property: what goes in comes back out. Any post written as JSON Lines or Parquet is
stored with the same id, author, time, kind, parent and text (hostile text included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import civicsentry
from civicsentry.ingest.base import TS

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
texts = st.one_of(
    st.none(),
    st.text(max_size=80).filter(lambda s: s.strip() != ""),
    st.sampled_from(
        [
            "=SUM(A1:A9)",
            "<script>alert(1)</script>",
            "'; DROP TABLE posts; --",
            "{{7*7}}",
            "\u202eevil\u202c",
            "emoji 🗳️ #Vote",
        ]
    ),
)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
post = st.fixed_dictionaries(
    {
        "post_id": ids,
        "account_id": ids,
        "created_at": times,
        "kind": st.sampled_from(["post", "repost", "reply", "quote"]),
        "parent_post_id": st.one_of(st.none(), ids),
        "text": texts,
    }
)


def _expected(posts: list[dict]) -> dict[str, tuple]:
    first: dict[str, tuple] = {}
    for p in posts:
        first.setdefault(
            f"x:{p['post_id']}",
            (
                f"x:{p['account_id']}",
                p["created_at"].replace(microsecond=p["created_at"].microsecond),
                p["kind"],
                None if p["parent_post_id"] is None else f"x:{p['parent_post_id']}",
                p["text"],
            ),
        )
    return first


def _stored(ws) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    rows = ws.sql(
        "SELECT post_id, account_id, created_at, kind, parent_post_id, text FROM posts"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(posts=st.lists(post, min_size=1, max_size=25))
def test_jsonl_roundtrip(tmp_path_factory, posts: list[dict]) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    path = tmp / "p.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps({**p, "created_at": p["created_at"].isoformat()}) + b"\n" for p in posts
        )
    )
    with civicsentry.open(tmp / "ws.duckdb") as ws:
        report = ws.ingest(path, platform="x")
        assert report.total("rows_quarantined") == 0
        assert _stored(ws) == _expected(posts)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(posts=st.lists(post, min_size=1, max_size=25), shift=st.integers(0, 10**6))
def test_parquet_roundtrip(tmp_path_factory, posts: list[dict], shift: int) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    for p in posts:
        p["created_at"] = p["created_at"] + timedelta(microseconds=shift)
    table = pa.Table.from_pylist(
        posts,
        schema=pa.schema(
            [
                ("post_id", pa.string()),
                ("account_id", pa.string()),
                ("created_at", TS),
                ("kind", pa.string()),
                ("parent_post_id", pa.string()),
                ("text", pa.string()),
            ]
        ),
    )
    pq.write_table(table, tmp / "p.parquet")
    with civicsentry.open(tmp / "ws.duckdb") as ws:
        ws.ingest(tmp / "p.parquet", platform="x")
        assert _stored(ws) == _expected(posts)
