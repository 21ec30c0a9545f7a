"""Imports every command module so that its commands register on the app."""

from . import ingest  # noqa: F401
