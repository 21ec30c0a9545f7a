"""Evaluate rules over the workspace's tables: each enabled rule's family runs and
returns findings, or is skipped with a reason (a table it needs is absent, a stage has
not run yet), or fails with an error that does not stop the other rules."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from ..errors import CivicSentryError
from .base import Context, Finding, Rule, Skipped
from .registry import REGISTRY

log = logging.getLogger("civicsentry")


@dataclass
class Outcome:
    rule: Rule
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()[0][0]
    )


def data_now(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Data time: the newest post's time (rules look back from here, so replaying old
    data behaves as it would have live)."""
    value = con.execute("SELECT max(created_at) FROM posts").fetchall()[0][0]
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def evaluate_rules(
    con: duckdb.DuckDBPyConnection, rules: Sequence[Rule], ctx: Context
) -> list[Outcome]:
    out = []
    for rule in rules:
        if not rule.enabled:
            continue
        family = REGISTRY[rule.kind]
        outcome = Outcome(rule)
        started = time.perf_counter()
        missing = [t for t in family.requires if not table_exists(con, t)]
        if missing:
            outcome.skipped = f"needs the table {', '.join(missing)}, which this workspace lacks"
        else:
            try:
                outcome.findings = family.evaluate(con, rule, ctx)
            except Skipped as e:
                outcome.skipped = str(e)
            except (duckdb.Error, CivicSentryError) as e:
                outcome.error = f"{type(e).__name__}: {e}"
                log.warning("rule %s failed: %s", rule.id, outcome.error)
        if outcome.skipped:
            log.info("rule %s skipped: %s", rule.id, outcome.skipped)
        outcome.seconds = round(time.perf_counter() - started, 3)
        out.append(outcome)
    return out
