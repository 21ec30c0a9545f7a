"""The three X/Twitter sniffers accept their own fixtures only: none of them claims a
fixture of another format, and no other adapter claims theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsentry.errors import InputError
from civicsentry.ingest import detect_adapter, twitter_io, twitter_v1, twitter_v2
from civicsentry.ingest.readers import sample
from tests.conftest import DATA

OURS = {
    "twitter_v2": twitter_v2.ADAPTER,
    "twitter_v1": twitter_v1.ADAPTER,
    "twitter_io": twitter_io.ADAPTER,
}


def _fixtures() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: str(p.relative_to(DATA)))
def test_each_fixture_has_at_most_one_twitter_sniffer(path: Path) -> None:
    try:
        s = sample(path)
    except InputError:
        pytest.skip("not readable as a sample (a deliberately broken fixture)")
    owner = OURS.get(path.relative_to(DATA).parts[0])
    accepted = {a.name for a in OURS.values() if a.sniff(s)}
    assert accepted == ({owner.name} if owner else set())
    if owner:
        assert detect_adapter(s).name == owner.name
