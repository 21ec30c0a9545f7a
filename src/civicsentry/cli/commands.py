"""Imports every command module so that its commands register on the app."""

from . import ingest, simulate  # noqa: F401
