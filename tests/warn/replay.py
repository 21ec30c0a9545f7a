"""Test servers and data for ``watch``: a local WebSocket server that replays
Jetstream-format frames (honouring ``?cursor=``), and Jetstream post frames."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve


def post_frame(i: int, *, did: str | None = None, text: str | None = None) -> str:
    """A Jetstream commit creating a Bluesky post; ``time_us`` grows with ``i``."""
    did = did or f"did:plc:author{i % 5:02d}"
    t = 1730794200000000 + i * 1_000_000
    return json.dumps(
        {
            "did": did,
            "time_us": t,
            "kind": "commit",
            "commit": {
                "rev": f"rev{i}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": f"3lpost{i:06d}",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "createdAt": f"2024-11-05T08:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
                    "text": text or f"post number {i} #vote",
                    "langs": ["en"],
                },
                "cid": f"bafy{i:08d}",
            },
        }
    )


class ReplayServer:
    """Serves ``frames`` to every client from the client's cursor on: frames whose
    ``time_us`` is at or before the cursor are skipped, as Jetstream replays from it
    (a malformed frame goes with the valid frame before it). Keeps the connection open
    after the last frame unless ``close_after``."""

    def __init__(self, frames: list[str | bytes], *, close_after: bool = False) -> None:
        self.frames = frames
        self.close_after = close_after
        self.requests: list[str] = []
        self.server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/subscribe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _times(self) -> list[int]:
        out, last = [], 0
        for f in self.frames:
            try:
                t = json.loads(f)["time_us"]
                last = t if isinstance(t, int) else last
            except (ValueError, KeyError, TypeError):
                pass
            out.append(last)
        return out

    def _handle(self, conn: ServerConnection) -> None:
        path = conn.request.path if conn.request else "/"
        self.requests.append(path)
        cursor = int(parse_qs(urlsplit(path).query).get("cursor", ["0"])[0])
        for frame, t in zip(self.frames, self._times(), strict=True):
            if t > cursor or (cursor == 0 and t == 0):
                conn.send(frame)
        if self.close_after:
            return
        try:
            while True:
                conn.recv()
        except Exception:
            return

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
