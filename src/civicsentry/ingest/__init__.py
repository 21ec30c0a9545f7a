"""Ingest adapters, one module per source format, and format auto-detection.

``REGISTRY`` is the dispatch: adapters are tried in its order and the first whose
``sniff`` accepts a file reads it, so specific formats come before generic ones.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import UnknownFormat
from . import (
    bluesky,
    cnt,
    coortweet,
    crowdtangle,
    mastodon,
    meta_content_library,
    reddit,
    tabular,
    telegram,
    twitter_io,
    twitter_v1,
    twitter_v2,
)
from .base import Adapter, Sample

# Specific formats first; the generic canonical table last.
_MODULES: tuple[ModuleType, ...] = (
    coortweet,
    cnt,
    telegram,
    crowdtangle,
    meta_content_library,
    twitter_v2,
    twitter_v1,
    twitter_io,
    bluesky,
    mastodon,
    reddit,
)
_GENERIC: tuple[Adapter, ...] = (tabular.ACCOUNTS_ADAPTER, tabular.ADAPTER)

REGISTRY: dict[str, Adapter] = {a.name: a for a in (*(m.ADAPTER for m in _MODULES), *_GENERIC)}


def get_adapter(name: str) -> Adapter:
    key = name.strip().lower()
    for adapter in REGISTRY.values():
        if key == adapter.name or key in adapter.aliases:
            return adapter
    raise UnknownFormat(f"Unknown format {name!r}. Available: {', '.join(REGISTRY)}.")


def detect_adapter(sample: Sample) -> Adapter:
    for adapter in REGISTRY.values():
        if adapter.sniff(sample):
            return adapter
    cols = f" (columns: {', '.join(sample.columns[:12])})" if sample.columns else ""
    raise UnknownFormat(
        f"{sample.path}: format not recognised{cols}. Pass --format (one of "
        f"{', '.join(REGISTRY)}), or --map canonical=column to read it as a table."
    )


__all__ = ["REGISTRY", "Adapter", "detect_adapter", "get_adapter"]
