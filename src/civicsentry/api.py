"""The Python API: a ``Workspace`` whose methods are the service verbs, for notebooks.

>>> import civicsentry
>>> ws = civicsentry.open("civicsentry.duckdb")
>>> report = ws.ingest(["tweets.jsonl.gz"])
>>> ws.table("posts").arrow()        # any table, as a DuckDB relation
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import store
from .service import ingest as _ingest
from .service import summary as _summary


class Workspace(store.Workspace):
    """A workspace with the verbs of the CLI as methods (same service functions)."""

    def ingest(
        self,
        paths: Sequence[str | Path] | str | Path,
        *,
        format: str | None = None,
        mapping: Mapping[str, str] | None = None,
        platform: str | None = None,
        encoding: str = "utf-8",
        strict: bool = False,
    ) -> _ingest.IngestReport:
        """Ingest files, folders or globs; see ``civicsentry ingest``."""
        if isinstance(paths, str | Path):
            paths = [paths]
        return _ingest.ingest_files(
            self,
            paths,
            format=format,
            mapping=mapping,
            platform=platform,
            encoding=encoding,
            strict=strict,
        )

    def info(self) -> _summary.WorkspaceInfo:
        """Counts per platform, source and kind; see ``civicsentry info``."""
        return _summary.workspace_info(self)

    def quarantine(
        self, *, source: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """Quarantined records with where and why; see ``civicsentry quarantine``."""
        return _summary.quarantined(self, source=source, limit=limit)
