"""Merging a file's accounts: each field's newest non-null value wins, within the file and
over what the workspace held; accounts whose rows hold no field still count."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from civicsentry.service.ingest import ingest_files
from tests.conftest import rows


def _jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _accounts(ws) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    return {a["account_id"]: a for a in rows(ws, "SELECT * FROM accounts")}


def test_each_field_takes_its_newest_non_null_value(ws, tmp_path: Path) -> None:
    a = {"account_id": "a", "platform": "x"}
    first = _jsonl(
        tmp_path / "accounts1.jsonl",
        [
            {**a, "handle": "a1", "display_name": "A", "followers": 10, "description": "d1"},
            {"account_id": "b", "platform": "x", "handle": None, "followers": None},
            {**a, "handle": None, "display_name": None, "followers": 20, "description": None},
            {**a, "handle": "a3", "display_name": None, "followers": None, "location": "L"},
        ],
    )
    report = ingest_files(ws, [first])
    assert report.files[0].format == "accounts"
    acc = _accounts(ws)
    # Newest row: a3 / L; the newest non-null of the others come from rows 2 and 1.
    assert {k: acc["x:a"][k] for k in ("handle", "display_name", "followers")} == {
        "handle": "a3",
        "display_name": "A",
        "followers": 20,
    }
    assert acc["x:a"]["description"] == "d1" and acc["x:a"]["location"] == "L"
    # An account whose only row holds no field is still an account of the workspace.
    assert set(acc) == {"x:a", "x:b"} and acc["x:b"]["handle"] is None

    posts = _jsonl(
        tmp_path / "posts.jsonl",
        [
            {"post_id": "1", "account_id": "a", "platform": "x", "created_at": 100},
            {"post_id": "2", "account_id": "a", "platform": "x", "created_at": 300},
            {"post_id": "3", "account_id": "c", "platform": "x", "created_at": 200},
        ],
    )
    second = _jsonl(
        tmp_path / "accounts2.jsonl",
        [{**a, "display_name": "A2", "followers": None, "description": None}],
    )
    ingest_files(ws, [posts, second])
    acc = _accounts(ws)
    # A later file's non-null values replace the stored ones; its nulls keep them.
    assert acc["x:a"]["display_name"] == "A2" and acc["x:a"]["followers"] == 20
    assert acc["x:a"]["handle"] == "a3" and acc["x:a"]["description"] == "d1"
    assert acc["x:a"]["first_seen"] == datetime.fromtimestamp(100, UTC)
    assert acc["x:a"]["last_seen"] == datetime.fromtimestamp(300, UTC)
    # Seen only in posts: an account all the same, its time span from them.
    assert acc["x:c"]["first_seen"] == acc["x:c"]["last_seen"] == datetime.fromtimestamp(200, UTC)
    assert set(acc) == {"x:a", "x:b", "x:c"}
    # The merge's scratch tables are gone with the stage.
    assert not ws.scalar(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_ingest\\_stage\\_%' ESCAPE '\\'"
    )
