"""``watch``: following a folder (new files, appended lines) and a Jetstream WebSocket
(a local server replaying frames, a malformed one among them), exactly once across
restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from civicsentry.service.watch import watch
from civicsentry.store import Workspace
from civicsentry.warn import watch as follow
from tests.conftest import rows
from tests.warn.replay import ReplayServer, post_frame


def line(i: int, account: str = "x:u1", text: str = "hello") -> str:
    return json.dumps(
        {
            "post_id": f"x:{1000 + i}",
            "platform": "x",
            "account_id": account,
            "created_at": f"2024-10-28T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
            "kind": "post",
            "text": f"{text} {i}",
            "hashtags": [],
            "urls": [],
            "mentions": [],
        }
    )


def once(ws: Workspace, tmp_path: Path, **kw: Any) -> follow.WatchSummary:
    args: dict[str, Any] = {
        "spool": tmp_path / "spool",
        "once": True,
        "detect": False,
        "notify": False,
        "idle_s": 0.5,
    }
    return watch(ws, **(args | kw))


def post_ids(ws: Workspace) -> list[str]:
    return [r["post_id"] for r in rows(ws, "SELECT post_id FROM posts ORDER BY post_id")]


def test_appended_lines_are_ingested_once_each(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    f = folder / "feed.jsonl"
    f.write_text("\n".join(line(i) for i in range(3)) + "\n" + line(3)[:20], encoding="utf-8")
    s = once(ws, tmp_path, folders=[folder])
    assert (s.chunks, s.rows_stored) == (1, 3)
    assert s.pending_bytes == {str(f.resolve()): 20}  # the unterminated line waits
    with f.open("a", encoding="utf-8") as out:
        out.write(line(3)[20:] + "\n" + line(4) + "\n")
    s = once(ws, tmp_path, folders=[folder])
    assert (s.chunks, s.rows_stored, s.pending_bytes) == (1, 2, {})
    assert post_ids(ws) == [f"x:{1000 + i}" for i in range(5)]
    s = once(ws, tmp_path, folders=[folder])  # nothing new
    assert (s.chunks, s.rows_read) == (0, 0)
    sources = [r["source"] for r in rows(ws, "SELECT source FROM ingest_log ORDER BY ingest_batch")]
    size1 = len(("\n".join(line(i) for i in range(3)) + "\n").encode())
    # Each chunk is named by the byte range it holds.
    assert sources[0].endswith(f".0-{size1}.jsonl")
    assert sources[1].endswith(f".{size1}-{f.stat().st_size}.jsonl")
    (cp,) = rows(ws, "SELECT * FROM watch_checkpoints WHERE kind = 'lines'")
    assert cp["byte_offset"] == f.stat().st_size and cp["format"] == "table"


def test_a_crash_between_ingest_and_checkpoint_repeats_nothing(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(line(i) for i in range(4)) + "\n", encoding="utf-8")

    def crash(self: object, chunk: object, result: object) -> None:
        raise KeyboardInterrupt  # killed after the chunk's ingest committed

    monkeypatch.setattr(follow.FolderFollower, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        once(ws, tmp_path, folders=[folder])
    assert len(post_ids(ws)) == 4  # stored, but the checkpoint did not move
    monkeypatch.undo()
    with (folder / "a.jsonl").open("a", encoding="utf-8") as out:
        out.write(line(4) + "\n")
    s = once(ws, tmp_path, folders=[folder])
    assert (s.chunks, s.rows_read, s.rows_stored) == (1, 1, 1)  # only the new line
    assert len(post_ids(ws)) == 5
    assert rows(ws, "SELECT count(*) AS n, count(DISTINCT source) AS d FROM ingest_log") == [{"n": 2, "d": 2}]  # fmt: skip
    # The update step still covered the batch ingested before the crash.
    (cp,) = rows(ws, "SELECT ingest_batch FROM watch_checkpoints WHERE source = 'watch:updated'")
    assert cp["ingest_batch"] == 2


def test_a_replaced_file_is_read_again_and_whole_files_once(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    f = folder / "feed.ndjson"
    f.write_text("\n".join(line(i) for i in range(3)) + "\n", encoding="utf-8")
    csv = folder / "more.csv"
    csv.write_text(
        "post_id,platform,account_id,created_at,kind,text\n"
        "x:2001,x,x:u9,2024-10-28T05:00:00Z,post,from a csv\n",
        encoding="utf-8",
    )
    (folder / ".hidden.jsonl").write_text(line(99) + "\n", encoding="utf-8")
    (folder / "partial.jsonl.part").write_text(line(98) + "\n", encoding="utf-8")
    s = once(ws, tmp_path, folders=[folder])
    assert (s.chunks, s.rows_stored) == (2, 4)
    f.write_text(line(50, text="rewritten") + "\n", encoding="utf-8")  # shorter: replaced
    s = once(ws, tmp_path, folders=[folder])
    assert (s.chunks, s.rows_stored) == (1, 1)
    assert "x:1050" in post_ids(ws) and "x:1099" not in post_ids(ws)


def test_a_file_ingested_before_is_not_ingested_again(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    csv = folder / "posts.csv"
    csv.write_text(
        "post_id,platform,account_id,created_at,kind,text\nx:1,x,x:u,2024-10-28T05:00:00Z,post,hi\n",
        encoding="utf-8",
    )
    ws.ingest([csv.resolve()])
    s = once(ws, tmp_path, folders=[folder])
    assert s.chunks == 0


def test_jetstream_frames_a_malformed_one_quarantined_and_a_cursor(
    ws: Workspace, tmp_path: Path
) -> None:
    frames: list[str | bytes] = [post_frame(i) for i in range(5)]
    frames.insert(2, "{not json")
    frames.insert(4, b"\xff\xfebinary")
    with ReplayServer(frames) as server:
        s = once(ws, tmp_path, streams=[server.url])
        assert (s.frames, s.malformed_frames) == (7, 2)
        assert (s.rows_stored, s.rows_quarantined) == (5, 2)
        q = rows(ws, "SELECT position, reason FROM quarantine ORDER BY position")
        assert [r["position"] for r in q] == [3, 5]
        (cp,) = rows(ws, "SELECT cursor FROM watch_checkpoints WHERE kind = 'jetstream'")
        assert cp["cursor"] == str(1730794200000000 + 4 * 1_000_000)
        assert "wantedCollections=app.bsky.feed.post" in server.requests[0]
        # Restart: the cursor asks the server to replay from there; nothing is repeated.
        server.frames.append(post_frame(5))
        s = once(ws, tmp_path, streams=[server.url])
        assert f"cursor={cp['cursor']}" in server.requests[1]
        assert (s.frames, s.rows_read, s.rows_stored) == (1, 1, 1)
    assert len(post_ids(ws)) == 6
    assert rows(ws, "SELECT count(*) AS n FROM posts WHERE platform = 'bluesky'") == [{"n": 6}]


def test_a_stream_chunk_stored_before_a_crash_moves_the_cursor(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReplayServer([post_frame(i) for i in range(3)], close_after=True) as server:

        def crash(self: object, chunk: object, result: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(follow.StreamFollower, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            once(ws, tmp_path, streams=[server.url])
        monkeypatch.undo()
        s = once(ws, tmp_path, streams=[server.url])
        assert f"cursor={1730794200000000 + 2 * 1_000_000}" in server.requests[1]
        assert s.rows_read == 0
    assert len(post_ids(ws)) == 3


def test_bad_sources_are_refused(ws: Workspace, tmp_path: Path) -> None:
    from civicsentry.errors import InvalidParams

    with pytest.raises(InvalidParams, match="Give a folder"):
        once(ws, tmp_path)
    with pytest.raises(InvalidParams, match="ws:// or wss:// URL"):
        once(ws, tmp_path, streams=["http://example.org"])
    with pytest.raises(InvalidParams, match="No folder"):
        once(ws, tmp_path, folders=[tmp_path / "absent"])


def test_an_unreachable_stream_is_reported(ws: Workspace, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    summary = once(ws, tmp_path, streams=[f"ws://127.0.0.1:{port}/subscribe"])
    assert summary.chunks == 0
    (failure,) = summary.failed
    assert failure.startswith(f"ws://127.0.0.1:{port}/subscribe: ")
