"""Docs checked by tests: generated reference pages are current, every format and
command is documented, the README's commands exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsentry import docgen
from civicsentry.ingest import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(docgen.PAGES))
def test_generated_pages_are_current(name: str) -> None:
    current = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert current == docgen.PAGES[name]().rstrip() + "\n", (
        f"docs/{name} is out of date: run `.venv/bin/python -m civicsentry.docgen`"
    )


def test_every_format_is_documented_with_its_detection_rule() -> None:
    text = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    for adapter in REGISTRY.values():
        assert f"`{adapter.name}`" in text
        if adapter.doc:
            assert "etect" in adapter.doc, f"{adapter.name}: doc must state its detection rule"


def test_readme_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
