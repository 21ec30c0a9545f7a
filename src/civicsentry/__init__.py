"""CivicSentry: find coordinated inauthentic behaviour in social-media data, warn early,
share the evidence.

    >>> import civicsentry
    >>> ws = civicsentry.open("civicsentry.duckdb")
    >>> ws.ingest(["tweets.jsonl"])
    >>> ws.info()
"""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path

from .api import Workspace
from .errors import (
    BackendUnavailable,
    BadInputFile,
    CivicSentryError,
    InputError,
    InvalidParams,
    MissingColumns,
    SchemaVersionMismatch,
    StrictModeViolation,
    UnknownFormat,
    WorkspaceError,
)


def open(path: str | Path = "civicsentry.duckdb", *, read_only: bool = False) -> Workspace:
    """Open (creating it on first use) the workspace at ``path``."""
    return Workspace(path, read_only=read_only)


__all__ = [
    "BackendUnavailable",
    "BadInputFile",
    "CivicSentryError",
    "InputError",
    "InvalidParams",
    "MissingColumns",
    "SchemaVersionMismatch",
    "StrictModeViolation",
    "UnknownFormat",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "open",
]
