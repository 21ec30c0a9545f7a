"""Group commit of the audit entries requests write: viewing an alert, a cluster or an
account is recorded in ``audit_log``, and at 20 concurrent clients one commit (and one
WAL sync) per view costs more than the view's reads.

Requests hand their entry to one writer thread and wait until it is committed, so an
answered request is always in the log (durable, as before); entries arriving while
the writer commits go together in its next transaction. Entries written inside a
transaction (triage, sharing, user changes) stay in that transaction: atomic with the
change they record (``deps.RequestWorkspace.audit``).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

log = logging.getLogger("civicsentry")


@dataclass
class _Entry:
    row: tuple[datetime, str, str, str]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def wait(self) -> None:
        """Return once committed; raise what made the commit fail."""
        self.done.wait()
        if self.error is not None:
            raise self.error


class AuditWriter:
    """Writes audit entries through a connection of its own, many per transaction."""

    #: Entries written by one statement at most (four parameters each).
    MAX_BATCH = 250

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con.cursor()
        self._pending: list[_Entry] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="civicsentry-audit", daemon=True)
        self._thread.start()

    def write(self, action: str, detail: dict[str, Any], actor: str) -> None:
        """Store one entry (timestamped now); returns once it is committed."""
        self.submit(action, detail, actor).wait()

    def submit(self, action: str, detail: dict[str, Any], actor: str) -> _Entry:
        """Hand one entry (timestamped now) to the writer; its ``wait()`` returns once it
        is committed, so a request can build its answer meanwhile."""
        entry = _Entry(
            (datetime.now(UTC), actor, action, json.dumps(detail, default=str, sort_keys=True))
        )
        with self._cond:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            self._pending.append(entry)
            self._cond.notify()
        return entry

    def close(self) -> None:
        """Commit what is pending and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self._con.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return  # closed, nothing left
                batch, self._pending = self._pending, []
            for part in range(0, len(batch), self.MAX_BATCH):
                self._commit(batch[part : part + self.MAX_BATCH])

    def _commit(self, batch: list[_Entry]) -> None:
        """One INSERT of every entry of ``batch``, committed on its own (an autocommit
        statement is one transaction: all or none, durable when it returns). One
        statement rather than BEGIN, an insert per entry and COMMIT: under load each
        statement waits for the GIL again, and the views wait for this commit."""
        try:
            self._con.execute(
                "INSERT INTO audit_log VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(batch)),
                [v for e in batch for v in e.row],
            )
        except Exception as e:  # handed to every waiting request, which fails with it
            log.exception("audit entries could not be written")
            for entry in batch:
                entry.error = e
        for entry in batch:
            entry.done.set()
