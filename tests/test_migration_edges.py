"""Schema 7: ``coordination_edges`` becomes a view over ``edges_wide`` (the table it was,
renamed) and the narrow cnt tables; a workspace migrated from schema 6 keeps its edges
and ends with the same objects as a new one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb

import civicsentry
from civicsentry import schema
from civicsentry.service import detect as service

# Two rows as schema 6 stored them: a cnt edge and a civicsentry one (all 31 columns).
T = datetime(2024, 1, 1, tzinfo=UTC)
ROWS = [
    (1, "cnt", "repost", "x:a", "x:b", 3, 3, 2, 5, None, "repost", None, None, None, None,
     None, None, 1.5, None, 2.25, T, T, False, False, None, None, None, None, None, None,
     None),
    (2, "civicsentry", "multi", "x:a", "x:c", 2, None, None, 4, 1.2, "repost,url", None, None,
     None, None, 0, 1, 0.5, 0.75, None, T, T, False, True, 0.1, 0.2, 0.01, 0.02, 0.02, 0.04,
     True),
]  # fmt: skip


def _objects(path: Path) -> list[tuple[object, ...]]:
    """Every table and view with its columns and their types, and the views' SQL."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return (
            con.execute(
                "SELECT t.table_name, t.table_type, c.column_name, c.data_type, c.ordinal_position "
                "FROM information_schema.tables t JOIN information_schema.columns c "
                "USING (table_schema, table_name) WHERE t.table_schema = 'main' ORDER BY ALL"
            ).fetchall()
            + con.execute(
                "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL"
            ).fetchall()
        )
    finally:
        con.close()


def _schema_6(path: Path) -> None:
    """A new workspace taken back to schema 6: ``coordination_edges`` a table again."""
    civicsentry.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("DROP VIEW coordination_edges")
    for t in ("edges_wide", "edges_cnt", "edge_accounts"):
        con.execute(f"DROP TABLE {t}")
    con.execute(replace(schema.EDGES_WIDE, name="coordination_edges").ddl())
    con.executemany(
        f"INSERT INTO coordination_edges VALUES ({', '.join(['?'] * 31)})", [list(r) for r in ROWS]
    )
    con.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    con.close()


def test_edges_stored_before_schema_7_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _schema_6(path)
    with civicsentry.open(path) as ws:
        assert ws.schema_version == 7
        got = ws.con.execute("SELECT * FROM coordination_edges ORDER BY run_id").fetchall()
        assert got == ROWS
        assert ws.scalar("SELECT count(*) FROM edges_wide") == 2
        assert ws.scalar("SELECT count(*) FROM edges_cnt") == 0


def test_migrated_and_new_workspaces_have_the_same_objects(tmp_path: Path) -> None:
    _schema_6(tmp_path / "old.duckdb")
    civicsentry.open(tmp_path / "old.duckdb").close()
    civicsentry.open(tmp_path / "new.duckdb").close()
    migrated, new = _objects(tmp_path / "old.duckdb"), _objects(tmp_path / "new.duckdb")
    assert migrated == new
    assert ("coordination_edges", "VIEW", "account_a", "VARCHAR", 4) in new


def test_a_workspace_without_the_edge_table_gets_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _schema_6(path)
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE coordination_edges")  # made before detection existed
    con.close()
    with civicsentry.open(path) as ws:
        assert ws.scalar("SELECT count(*) FROM coordination_edges") == 0
        assert ws.con.execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_name = 'coordination_edges'"
        ).fetchall() == [("VIEW",)]


def test_cnt_runs_after_the_migration_go_narrow_beside_the_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _schema_6(path)
    with civicsentry.open(path) as ws:
        for rid, semantics in ((1, "cnt"), (2, "civicsentry")):
            params = f'{{"semantics": "{semantics}", "object_types": ["repost"]}}'
            ws.con.execute(
                "INSERT INTO runs VALUES (?, 'detect', 'coordination', ?, '', now(), now(), '{}')",
                [rid, params],
            )
        ws.con.executemany(
            "INSERT INTO actions VALUES (?, 'repost', 'o1', ?, ?)",
            [["x:a", T, "x:p1"], ["x:b", T, "x:p2"]],
        )
        run = service.detect_coordination(ws, semantics="cnt", windows="60s")
        assert run.run_id == 3
        assert ws.scalar("SELECT count(*) FROM edges_cnt WHERE run_id = 3") == 1
        assert service.edges(ws, run_id=1).fetchall() == [ROWS[0]]
        assert [r[3:9] for r in service.edges(ws, run_id=3).fetchall()] == [
            ("x:a", "x:b", 1, 1, 1, 1)
        ]
