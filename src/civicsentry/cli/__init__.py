"""Command-line interface: each command parses, calls one service function, prints."""

from .app import app, main

__all__ = ["app", "main"]
