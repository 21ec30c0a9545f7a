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
from .errors import InvalidParams
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

    def detect(self, *, cluster: bool = True, **params: Any) -> Any:
        """Detect coordination (``civicsentry detect``; parameters as
        ``service.detect.detect_coordination``) and, by default, cluster the result.
        Returns the run's ``DetectionSummary``."""
        from .service.detect import detect_coordination

        summary = detect_coordination(self, **params)
        if cluster:
            self.cluster(summary.run_id)
        return summary

    def cluster(self, run_id: int | None = None, **params: Any) -> Any:
        """Leiden clusters of a detection run (default: the latest); see
        ``civicsentry clusters build``."""
        from .service.clusters import cluster_run

        return cluster_run(self, run_id, **params)

    def clusters(self, run_id: int | None = None, *, limit: int = 10) -> list[dict[str, Any]]:
        """The most suspicious clusters of a run, with their explained scores."""
        from .service.clusters import top_clusters

        return top_clusters(self, run_id, limit=limit)

    def network(
        self, run_id: int | None = None, *, library: str = "networkx", **params: Any
    ) -> Any:
        """A run's coordination network as a networkx (default) or igraph graph, with
        cluster and account attributes on the nodes."""
        from .export.network import to_igraph, to_networkx

        if library not in ("networkx", "igraph"):
            raise InvalidParams(f"library is 'networkx' or 'igraph', not {library!r}.")
        make = to_networkx if library == "networkx" else to_igraph
        return make(self, run_id, **params)
