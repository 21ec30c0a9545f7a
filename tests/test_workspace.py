"""The workspace file: creation, schema version, migrations, refusal of foreign files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import civicsentry
from civicsentry import migrations, schema, store
from civicsentry.errors import SchemaVersionMismatch, WorkspaceError
from civicsentry.schema import SCHEMA_VERSION, TABLES


def test_created_on_first_use_with_every_table(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ws.duckdb"
    with civicsentry.open(path) as ws:
        names = {r[0] for r in ws.sql("SHOW TABLES").fetchall()}
        assert {t.name for t in TABLES} <= names
        assert ws.schema_version == SCHEMA_VERSION
    assert path.exists()
    with civicsentry.open(path, read_only=True) as ws:  # reopens without change
        assert ws.schema_version == SCHEMA_VERSION


def test_newer_workspace_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    civicsentry.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(
        SchemaVersionMismatch, match=r"newer CivicSentry \(schema 99.*pip install -U"
    ):
        civicsentry.open(path)


def test_older_workspace_is_migrated(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ws.duckdb"
    civicsentry.open(path).close()

    def add_column(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE posts ADD COLUMN likes BIGINT")

    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(migrations.STEPS, SCHEMA_VERSION + 1, add_column)
    with pytest.raises(SchemaVersionMismatch, match="civicsentry migrate"):
        civicsentry.open(path, read_only=True)
    with civicsentry.open(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION + 1
        assert "likes" in ws.table("posts").columns


def test_migration_creates_the_tables_a_version_introduced(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ws.duckdb"
    civicsentry.open(path).close()
    new = schema.Table(
        "watch_terms", (schema.Column("term", "VARCHAR"),), "test table", since=SCHEMA_VERSION + 1
    )
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "TABLES", (*TABLES, new))
    with civicsentry.open(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION + 1
        assert ws.table("watch_terms").columns == ["term"]
        assert ws.scalar("SELECT count(*) FROM posts") == 0


def test_missing_migration_step_is_an_error(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ws.duckdb"
    civicsentry.open(path).close()
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(SchemaVersionMismatch, match="No migration"):
        civicsentry.open(path)
    monkeypatch.undo()
    with civicsentry.open(path) as ws:  # the failed migration rolled back
        assert ws.schema_version == SCHEMA_VERSION


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (a INT)")
    con.close()
    with pytest.raises(WorkspaceError, match="not a CivicSentry workspace"):
        civicsentry.open(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(WorkspaceError):
        civicsentry.open(text)
    with pytest.raises(WorkspaceError, match="No workspace"):
        civicsentry.open(tmp_path / "absent.duckdb", read_only=True)


def test_audit_log(tmp_path: Path) -> None:
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        ws.audit("ingest", {"files": 2}, actor="analyst1")
        assert ws.sql("SELECT actor, action, detail FROM audit_log").fetchall() == [
            ("analyst1", "ingest", '{"files": 2}')
        ]


def test_settings_come_back_exactly_however_often_they_are_changed() -> None:
    # DuckDB reports sizes rounded down ('2.7 GiB'); setting the report back lost 0.1 GiB
    # per call, so a watch loop ingesting every cycle shrank its memory limit each cycle.
    from civicsentry.store import duckdb_settings

    con = duckdb.connect()
    report = "SELECT current_setting('memory_limit'), current_setting('threads')"
    default = con.execute(report).fetchall()
    for _ in range(5):
        with duckdb_settings(con, {"memory_limit": "400MB", "threads": 1}):
            assert con.execute(report).fetchall()[0][1] == 1
    assert con.execute(report).fetchall() == default
    con.execute("SET memory_limit = '3GB'")  # set by someone: its report must hold too
    mine = con.execute(report).fetchall()
    for _ in range(5):
        with duckdb_settings(con, {"memory_limit": "400MB"}):
            pass
    assert con.execute(report).fetchall() == mine
