"""The SQL dialect's time conversions: epoch microseconds there and back, exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb

from civicsentry.detect.dialect import DUCKDB


def test_epoch_microseconds_round_trip_whatever_the_session_time_zone() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/Sao_Paulo'")  # the result must not depend on it
    values = [-86_400_000_001, -1, 0, 1, 1_700_000_000_123_456]
    got = con.execute(
        f"SELECT us, {DUCKDB.from_epoch_us('us')}, "
        f"{DUCKDB.epoch_us(DUCKDB.from_epoch_us('us'))} FROM unnest(?) t(us) ORDER BY us",
        [values],
    ).fetchall()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [(us, ts - epoch, back) for us, ts, back in got] == [
        (us, timedelta(microseconds=us), us) for us in values
    ]
