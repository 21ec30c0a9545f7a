"""One detected workspace for the whole sharing suite (simulate → ingest → detect, ~3 s),
copied per module so modules cannot disturb each other; a loopback server helper."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.simulate import simulate


@pytest.fixture(scope="session")
def detected_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace of 20,000 simulated posts (planted campaigns), detected and clustered.
    Read it only through ``workspace_copy``."""
    root = tmp_path_factory.mktemp("detected")
    s = simulate(root / "data", posts=20_000, seed=3)
    path = root / "ws.duckdb"
    with civicsentry.open(path) as ws:
        ws.ingest([s.paths["posts"], s.paths["accounts"]])
        ws.detect()
    return path


def workspace_copy(base: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(base, dest)
    return dest


def url_cluster(ws: Any) -> dict[str, Any]:
    """The most suspicious cluster that pushed URLs (the simulator plants such)."""
    for c in ws.clusters(limit=0):
        if "url" in c["modalities"] and c["size"] >= 3:
            return c
    raise AssertionError("no URL-pushing cluster in the simulated data")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base
    URL and stops it afterwards."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
