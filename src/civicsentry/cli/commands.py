"""Imports every command module so that its commands register on the app."""

from . import (  # noqa: F401  # noqa: F401  # noqa: F401
    accounts,
    alerts,
    claims,
    clusters,
    detect,
    ingest,
    narratives,
    privacy,
    share,
    simulate,
    web,
)
