"""The Typer application and what every command shares: the workspace option, JSON
output, progress bars and the one place where errors become exit codes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .. import open as open_workspace
from ..errors import CivicSentryError
from ..store import DEFAULT_WORKSPACE, Workspace

app = typer.Typer(
    name="civicsentry",
    help="Find coordinated inauthentic behaviour in social-media data, warn early, share evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
# Wide tables when piped (rich would assume 80 columns); wrapping to the terminal otherwise.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="CIVICSENTRY_WORKSPACE",
        help="Workspace file (DuckDB); created on first use.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
DEFAULT_WS = Path(DEFAULT_WORKSPACE)


@contextmanager
def workspace(path: Path, *, read_only: bool = False) -> Iterator[Workspace]:
    ws = open_workspace(path, read_only=read_only)
    try:
        yield ws
    finally:
        ws.close()


def emit_json(value: Any) -> None:
    """Print a dataclass, dict or list as JSON on stdout."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    sys.stdout.write(json.dumps(value, default=str, indent=2, ensure_ascii=False) + "\n")


def progress_bar(*, transient: bool = True) -> Progress:
    """A rich progress bar on stderr (hidden when stderr is not a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not console.is_terminal,
    )


def main() -> None:
    """Console entry point: run the app, turning CivicSentry errors into one-line messages
    and meaningful exit codes (see civicsentry.errors)."""
    from . import commands  # noqa: F401  (registers every command on `app`)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CivicSentryError as e:
        sys.stderr.write(f"Error: {e}\n")  # one line, never wrapped: scripts grep it
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("Aborted.")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:
        # Usage errors: Typer bundles its own click, so recognise them by what they do.
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        raise
