"""Imports every command module so that its commands register on the app."""

from . import clusters, detect, ingest, simulate  # noqa: F401
