"""Generate the reference pages of docs/ from the code, so the prose cannot drift:
``python -m civicsentry.docgen`` rewrites docs/formats.md and docs/schema.md, and
tests/test_docs.py fails when they are out of date."""

from __future__ import annotations

import sys
from pathlib import Path

from . import schema
from .ingest import REGISTRY

FORMATS_INTRO = """\
# Input formats

`civicsentry ingest PATH...` reads files, folders (recursively) and globs. Each file's
format is detected from its name, first bytes and header; `--format NAME` forces one,
and `--map canonical=column` reads any table as the generic `table` format.
Compressed files (`.gz`, `.zst`, `.bz2`, `.xz`) are recognised by their magic bytes and
read as a stream; a truncated stream keeps every record before the cut and quarantines
the rest with the reason.

Every adapter produces the same canonical rows (see [schema.md](schema.md)): ids are
platform-qualified (`x:123`, `telegram:-100123/45`), times are UTC, URLs normalised
(lowercase scheme and host, default ports, fragments and tracking parameters such as
`utm_*`, `fbclid`, `gclid`, `igshid` removed), domains are registered domains
(public-suffix aware, offline), hashtags NFKC-normalised and casefolded, languages
detected offline (py3langid) where the source gives none.

**Guarantees, whatever the format.** One file is one transaction. Re-ingesting stores
nothing twice (posts are deduplicated on their platform-qualified id; the first
occurrence wins). A record that cannot be stored goes to the `quarantine` table with its
file, position (line, row or element number) and reason, and for every file
`rows read = rows stored + duplicates + rows quarantined`. Lines longer than 32 MiB,
undecodable bytes, JSON nested too deeply and rows with the wrong number of fields are
quarantined; a file that cannot be read at all (unknown format, missing columns,
corrupt compression header) gets a one-line error and the other files go on.
`--strict` makes any bad record fail its file, storing nothing of it. A large file
(250,000 posts or more that at least doubles the workspace) is stored without the index
on `posts.account_id`: the index is dropped in a transaction of its own before the
file's, and built again right after the file's commit. Memory then does not grow with
the file, and DuckDB writes the rows straight into the database file instead of through
its write-ahead log (which it then compresses again on one thread). If the process dies
in between, the next writable open of the workspace builds the missing index; if the
file fails, its rollback leaves the table as it was and the index is built at once.

Detection order (the first adapter that accepts a file reads it):
"""


def formats_markdown() -> str:
    lines = [FORMATS_INTRO]
    for i, adapter in enumerate(REGISTRY.values(), start=1):
        aliases = f" (also `{'`, `'.join(adapter.aliases)}`)" if adapter.aliases else ""
        lines.append(f"{i}. `{adapter.name}`{aliases}: {adapter.title}")
    lines.append("")
    for adapter in REGISTRY.values():
        if adapter.doc:
            lines += [adapter.doc.rstrip(), ""]
    return "\n".join(lines)


def cli_markdown() -> str:
    """Every command with its help and options, from the Typer app itself."""
    import typer

    from .cli import (
        app,
        commands,  # noqa: F401  (registers the commands)
    )

    group = typer.main.get_command(app)
    lines = [
        "# Command line",
        "",
        "Generated from the CLI by `python -m civicsentry.docgen`. "
        "Every command takes `--workspace/-w` (default `civicsentry.duckdb`, or "
        "`$CIVICSENTRY_WORKSPACE`) and most take `--json` for scripting. Exit codes: 0 done, "
        "1 unexpected error, 2 bad input or usage, 3 workspace problem, 4 missing optional "
        "dependency.",
        "",
    ]

    def walk(cmd: object, prefix: str) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name in sorted(sub):
                walk(sub[name], f"{prefix} {name}")
            return
        lines.append(f"## `{prefix}`")
        lines.append("")
        lines.append((getattr(cmd, "help", "") or "").strip())
        lines.append("")
        for param in getattr(cmd, "params", []):
            opts = ", ".join(f"`{o}`" for o in getattr(param, "opts", []))
            helptext = (getattr(param, "help", None) or "").strip()
            kind = "argument" if param.__class__.__name__.endswith("Argument") else "option"
            lines.append(f"- {opts} ({kind}){': ' + helptext if helptext else ''}")
        lines.append("")

    walk(group, "civicsentry")
    return "\n".join(lines)


PAGES = {"formats.md": formats_markdown, "schema.md": schema.markdown, "cli.md": cli_markdown}


def write(docs: Path) -> list[Path]:
    written = []
    for name, make in PAGES.items():
        path = docs / name
        path.write_text(make().rstrip() + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs"
    )
    for p in write(target):
        print(p)
