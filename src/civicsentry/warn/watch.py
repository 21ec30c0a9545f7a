"""``civicsentry watch``: follow folders and live streams, ingest what is new, then let
the caller update detections and evaluate rules.

Sources:

- **Folders.** A JSON Lines file (``.jsonl``, ``.ndjson``) is *followed*: the complete
  lines appended since the last read are copied to a spool chunk
  (``<spool>/files/<name>.<id>.g<generation>.<start>-<end>.jsonl``, named by its
  byte range) and
  ingested. A line counts once its newline is written. Any other file is ingested whole
  once its size has stopped changing (at once with ``--once``). A file replaced at the
  same path (shorter, or other first bytes) is read again from the start; its posts
  are deduplicated as always.
- **Streams.** A Bluesky Jetstream WebSocket URL (``wss://.../subscribe``): frames are
  spooled to ``<spool>/streams/<host>.<cursor>-<last time_us>.jsonl`` and ingested with
  the ``bluesky`` adapter. A frame that is not a JSON event is quarantined by ingest like
  any bad record; the stream goes on. On reconnect the cursor (the last stored event's
  ``time_us``) asks the server to replay from there, and frames at or before it are
  dropped.

Exactly once: a chunk is one ingest transaction, and its ``ingest_log`` row names it.
The checkpoint (``watch_checkpoints``) is written after that commit; if a crash falls
between the two, the next start finds the chunk in ``ingest_log`` and moves the
checkpoint on without ingesting it again. The update step (detection, rules) records
the last ingest batch it covered (checkpoint ``watch:updated``), so batches ingested
just before a crash are still evaluated after the restart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import InvalidParams
from ..schema import WATCH_CHECKPOINTS
from ..store import Workspace

log = logging.getLogger("civicsentry")

LINE_SUFFIXES = (".jsonl", ".ndjson")
MAX_CHUNK_BYTES = 64 * 1024 * 1024
HEAD_BYTES = 1024
UPDATED = "watch:updated"  # the checkpoint of the update step
JETSTREAM_COLLECTIONS = ("app.bsky.feed.post", "app.bsky.feed.repost")
_SKIP = re.compile(r"(^\.|~$|\.(tmp|part|partial|crdownload|swp)$)", re.IGNORECASE)


class IngestResult(Protocol):
    source: str
    format: str
    ingest_batch: int | None
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    error: str | None


Ingest = Callable[[Path, str | None], IngestResult]
Update = Callable[[list[int]], dict[str, Any]]
Echo = Callable[[str, dict[str, Any]], None]


# -- checkpoints --------------------------------------------------------------------------


class Checkpoints:
    """``watch_checkpoints`` rows, and what ``ingest_log`` says was already stored."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        ws.con.execute(WATCH_CHECKPOINTS.ddl())

    def get(self, source: str) -> dict[str, Any] | None:
        rel = self.ws.con.execute("SELECT * FROM watch_checkpoints WHERE source = ?", [source])
        cols = [d[0] for d in rel.description]
        rows = rel.fetchall()
        return dict(zip(cols, rows[0], strict=True)) if rows else None

    def put(self, source: str, **values: Any) -> None:
        row = (self.get(source) or {"source": source}) | values
        cols = [c for c in WATCH_CHECKPOINTS.column_names if c != "updated_at"]
        with self.ws.transaction() as con:
            con.execute("DELETE FROM watch_checkpoints WHERE source = ?", [source])
            con.execute(
                f"INSERT INTO watch_checkpoints ({', '.join(cols)}, updated_at) "
                f"VALUES ({', '.join('?' for _ in cols)}, now())",
                [row.get(c) for c in cols],
            )

    def stored(self, prefix: str) -> list[tuple[str, int]]:
        """``ingest_log`` sources starting with ``prefix`` and their batches."""
        rows = self.ws.con.execute(
            "SELECT source, ingest_batch FROM ingest_log WHERE starts_with(source, ?) "
            "ORDER BY ingest_batch",
            [prefix],
        ).fetchall()
        return [(str(s), int(b)) for s, b in rows]


# -- folders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Something to ingest and, once ingested, where its source's checkpoint moves."""

    source: str  # the followed file, or the stream URL
    path: Path  # the file to ingest: the source itself or a spool chunk
    kind: str  # lines, file or jetstream
    format: str | None
    start: int = 0  # byte range of a lines chunk
    end: int = 0
    size: int | None = None
    head: str | None = None
    cursor: str | None = None  # a stream's cursor after this chunk
    generation: int = 0  # of a followed file replaced at the same path


def _head(path: Path, n: int) -> str:
    with path.open("rb") as f:
        data = f.read(n)
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"


def _same_head(path: Path, head: str | None) -> bool:
    if not head:
        return True
    n = int(head.split(":", 1)[0])
    return _head(path, n) == head


def _slug(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class FolderFollower:
    """The chunks of a folder not ingested yet, one at a time: each is computed from the
    checkpoints as they stand, so the caller commits one before asking for the next."""

    def __init__(
        self, folder: Path, spool: Path, checkpoints: Checkpoints, *, settle: bool = True
    ) -> None:
        if not folder.is_dir():
            raise InvalidParams(f"No folder {folder} to watch.")
        self.folder = folder.resolve()  # checkpoints are keyed by absolute paths
        self.spool = spool
        self.cp = checkpoints
        self.settle = settle
        self._sizes: dict[str, int] = {}  # whole files: size at the previous scan
        self.pending_bytes: dict[str, int] = {}  # unterminated last lines, reported

    def files(self) -> list[Path]:
        spool = self.spool.resolve()
        out = []
        for p in sorted(self.folder.rglob("*")):
            if not p.is_file() or _SKIP.search(p.name):
                continue
            if spool in p.resolve().parents:
                continue
            out.append(p)
        return out

    def next_chunk(self) -> Chunk | None:
        for path in self.files():
            chunk = (
                self._lines(path)
                if path.name.lower().endswith(LINE_SUFFIXES)
                else self._whole(path)
            )
            if chunk is not None:
                return chunk
        return None

    def _whole(self, path: Path) -> Chunk | None:
        source = str(path)
        size = path.stat().st_size
        cp = self.cp.get(source)
        if cp and cp["size"] == size and _same_head(path, cp["head"]):
            return None
        if cp is None and any(s == source for s, _ in self.cp.stored(source)):
            # Ingested before (by `civicsentry ingest`, or by watch just before a crash).
            self.cp.put(source, kind="file", size=size, head=_head(path, HEAD_BYTES))
            return None
        if self.settle and self._sizes.get(source) != size:
            self._sizes[source] = size  # still being written? take it next time
            return None
        return Chunk(source, path, "file", None, size=size, head=_head(path, HEAD_BYTES))

    def _chunk_path(self, path: Path, generation: int, start: int, end: int) -> Path:
        name = f"{path.name}.{_slug(str(path))}.g{generation}.{start}-{end}.jsonl"
        return self.spool / "files" / name

    def _lines(self, path: Path) -> Chunk | None:
        source = str(path)
        size = path.stat().st_size
        cp = self.cp.get(source) or {}
        offset = int(cp.get("byte_offset") or 0)
        generation = int(cp.get("generation") or 0)
        if offset and (size < offset or not _same_head(path, cp.get("head"))):
            log.warning("%s was replaced or truncated: reading it again from the start", path)
            offset, generation = 0, generation + 1
            self.cp.put(
                source, kind="lines", byte_offset=0, generation=generation, size=size, head=None
            )
        # A chunk stored before a crash that left the checkpoint behind: move on.
        prefix = str(self._chunk_path(path, generation, offset, 0)).rsplit("-", 1)[0] + "-"
        done = [s for s, _ in self.cp.stored(prefix)]
        if done:
            end = max(int(s.rsplit("-", 1)[1].split(".", 1)[0]) for s in done)
            self.cp.put(
                source,
                kind="lines",
                byte_offset=end,
                generation=generation,
                size=size,
                head=_head(path, HEAD_BYTES),
            )
            return self._lines(path)
        if size <= offset:
            self.pending_bytes.pop(source, None)
            return None
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read(min(size - offset, MAX_CHUNK_BYTES))
        cut = data.rfind(b"\n")
        if cut < 0 and len(data) < MAX_CHUNK_BYTES:
            self.pending_bytes[source] = len(data)  # an unterminated line: wait for it
            return None
        self.pending_bytes.pop(source, None)
        if cut < 0:  # a line longer than a chunk: ingest quarantines it (too long)
            end, data = offset + len(data), data + b"\n"
        else:
            data = data[: cut + 1]
            end = offset + len(data)
        target = self._chunk_path(path, generation, offset, end)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return Chunk(
            source,
            target,
            "lines",
            # The format detected on the first chunk, forced on the next ones.
            cp.get("format") if offset and cp.get("format") != "?" else None,
            start=offset,
            end=end,
            size=size,
            head=_head(path, HEAD_BYTES),
            generation=generation,
        )

    def commit(self, chunk: Chunk, result: IngestResult) -> None:
        fmt = result.format if not result.error else (chunk.format or "?")
        if chunk.kind == "file":
            self.cp.put(
                chunk.source,
                kind="file",
                format=fmt,
                size=chunk.size,
                head=chunk.head,
                ingest_batch=result.ingest_batch,
            )
        else:
            self.cp.put(
                chunk.source,
                kind="lines",
                format=fmt,
                byte_offset=chunk.end,
                generation=chunk.generation,
                size=chunk.size,
                head=chunk.head,
                ingest_batch=result.ingest_batch,
            )


# -- Jetstream --------------------------------------------------------------------------


def jetstream_url(url: str, cursor: str | None) -> str:
    """The subscribe URL with the post and repost collections and the cursor."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "cursor"]
    if not any(k == "wantedCollections" for k, _ in query):
        query += [("wantedCollections", c) for c in JETSTREAM_COLLECTIONS]
    if cursor:
        query.append(("cursor", cursor))
    return urlunsplit(parts._replace(query=urlencode(query)))


def frame_line(frame: str | bytes) -> tuple[str, int | None]:
    """One spool line for a frame and its ``time_us`` (None for a malformed frame,
    which is kept as it came, on one line, for ingest to quarantine)."""
    text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
    try:
        obj = json.loads(text)
    except ValueError:
        return text.replace("\r", "\\r").replace("\n", "\\n"), None
    t = obj.get("time_us") if isinstance(obj, dict) else None
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return line, t if isinstance(t, int) and not isinstance(t, bool) else None


@dataclass
class StreamFollower:
    """Reads a Jetstream WebSocket for a while and spools what it got as one chunk."""

    url: str
    spool: Path
    checkpoints: Checkpoints
    open_timeout_s: float = 10.0
    frames_read: int = 0
    malformed: int = 0
    skipped: int = 0
    error: str | None = None  # the last connection failure, reported by the watcher
    connect: Callable[..., Any] | None = None

    def _cursor(self) -> str | None:
        cp = self.checkpoints.get(self.url) or {}
        cursor = cp.get("cursor")
        # A chunk stored before a crash that left the checkpoint behind.
        prefix = str(self.spool / "streams" / f"{_slug(self.url)}.{cursor or 0}-")
        done = [s for s, _ in self.checkpoints.stored(prefix)]
        if done:
            last = max(int(s.rsplit("-", 1)[1].split(".", 1)[0]) for s in done)
            if last > int(cursor or 0):
                self.checkpoints.put(self.url, kind="jetstream", format="bluesky", cursor=str(last))
                return self._cursor()
        return cursor

    def read(self, *, seconds: float, idle_s: float, max_frames: int | None = None) -> Chunk | None:
        """Frames until ``seconds`` pass, none comes for ``idle_s``, ``max_frames`` are
        read, or the server closes; None when nothing new came."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
        from websockets.sync.client import connect

        self.error = None
        cursor = self._cursor()
        floor = int(cursor or 0)
        lines: list[str] = []
        last = floor
        deadline = time.monotonic() + seconds
        host = urlsplit(self.url).hostname or ""
        proxy = None if host in ("localhost", "127.0.0.1", "::1") else True
        try:
            with (self.connect or connect)(
                jetstream_url(self.url, cursor),
                open_timeout=self.open_timeout_s,
                proxy=proxy,
                max_size=8 * 1024 * 1024,
            ) as conn:
                while max_frames is None or len(lines) < max_frames:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        frame = conn.recv(timeout=min(idle_s, remaining))
                    except TimeoutError:
                        break
                    except ConnectionClosed:
                        break
                    self.frames_read += 1
                    line, t = frame_line(frame)
                    if t is None:
                        self.malformed += 1
                    elif t <= floor:
                        self.skipped += 1  # replayed: stored before
                        continue
                    else:
                        last = max(last, t)
                    lines.append(line)
        except (OSError, InvalidHandshake, InvalidURI) as e:
            self.error = f"{type(e).__name__}: {e}"
            log.warning("stream %s: %s", self.url, e)
            if not lines:
                return None
        if not lines:
            return None
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:8]
        target = self.spool / "streams" / f"{_slug(self.url)}.{floor}-{last}.{digest}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        return Chunk(self.url, target, "jetstream", "bluesky", cursor=str(last))

    def commit(self, chunk: Chunk, result: IngestResult) -> None:
        self.checkpoints.put(
            self.url,
            kind="jetstream",
            format="bluesky",
            cursor=chunk.cursor,
            ingest_batch=result.ingest_batch,
        )


# -- the loop ---------------------------------------------------------------------------


@dataclass
class WatchSummary:
    ticks: int = 0
    chunks: int = 0
    rows_read: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    failed: list[str] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    pending_bytes: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    malformed_frames: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Watcher:
    """Ingest what is new in the folders and streams, then run ``update`` over the new
    ingest batches; repeat every ``interval_s`` (or once)."""

    def __init__(
        self,
        ws: Workspace,
        *,
        folders: Sequence[Path] = (),
        streams: Sequence[str] = (),
        spool: Path,
        ingest: Ingest,
        update: Update,
        echo: Echo | None = None,
        once: bool = False,
        interval_s: float = 60.0,
        idle_s: float = 5.0,
        max_frames: int | None = None,
    ) -> None:
        if not folders and not streams:
            raise InvalidParams("Give a folder to follow or a --stream URL.")
        for s in streams:
            if urlsplit(s).scheme not in ("ws", "wss"):
                raise InvalidParams(f"A stream is a ws:// or wss:// URL, not {s!r}.")
        self.ws = ws
        self.cp = Checkpoints(ws)
        self.folders = [FolderFollower(Path(f), spool, self.cp, settle=not once) for f in folders]
        self.streams = [StreamFollower(s, spool, self.cp) for s in streams]
        self.ingest, self.update = ingest, update
        self.echo = echo or (lambda event, detail: None)
        self.once, self.interval_s, self.idle_s = once, interval_s, idle_s
        self.max_frames = max_frames
        self.summary = WatchSummary()

    def _ingest(self, follower: FolderFollower | StreamFollower, chunk: Chunk) -> None:
        result = self.ingest(chunk.path, chunk.format)
        follower.commit(chunk, result)
        s = self.summary
        s.chunks += 1
        s.rows_read += result.rows_read
        s.rows_stored += result.rows_stored
        s.rows_quarantined += result.rows_quarantined
        if result.error:
            s.failed.append(f"{chunk.source}: {result.error}")
        self.echo(
            "ingested",
            {
                "source": chunk.source,
                "chunk": str(chunk.path),
                "batch": result.ingest_batch,
                "read": result.rows_read,
                "stored": result.rows_stored,
                "quarantined": result.rows_quarantined,
                "error": result.error,
            },
        )

    def pending_batches(self) -> list[int]:
        cp = self.cp.get(UPDATED)
        if cp is None:
            # The first watch on a workspace: what the latest detection already covered
            # (ingested before it started) needs no update.
            done = int(
                self.ws.scalar(
                    """SELECT coalesce(max(ingest_batch), 0) FROM ingest_log
                       WHERE finished_at <= (SELECT max(started_at) FROM runs WHERE step = 'detect')"""
                )
            )
        else:
            done = int(cp.get("ingest_batch") or 0)
        rows = self.ws.con.execute(
            "SELECT ingest_batch FROM ingest_log WHERE ingest_batch > ? ORDER BY 1", [done]
        ).fetchall()
        return [int(r[0]) for r in rows]

    def tick(self) -> None:
        self.summary.ticks += 1
        for f in self.folders:
            while (chunk := f.next_chunk()) is not None:
                self._ingest(f, chunk)
            self.summary.pending_bytes |= f.pending_bytes
        for s in self.streams:
            seconds = self.interval_s if not self.once else float("inf")
            chunk = s.read(seconds=seconds, idle_s=self.idle_s, max_frames=self.max_frames)
            self.summary.frames = sum(x.frames_read for x in self.streams)
            self.summary.malformed_frames = sum(x.malformed for x in self.streams)
            if s.error:
                self.summary.failed.append(f"{s.url}: {s.error}")
                self.echo("stream-error", {"source": s.url, "error": s.error})
            if chunk is not None:
                self._ingest(s, chunk)
        batches = self.pending_batches()
        if batches:
            result = self.update(batches)
            self.cp.put(UPDATED, kind="update", ingest_batch=max(batches))
            self.summary.updates.append(result)
            self.echo("updated", result)

    def run(self, *, ticks: int | None = None) -> WatchSummary:
        n = 0
        while True:
            started = time.monotonic()
            self.tick()
            n += 1
            if self.once or (ticks is not None and n >= ticks):
                return self.summary
            if not self.streams:  # a stream read already waited its interval
                time.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
