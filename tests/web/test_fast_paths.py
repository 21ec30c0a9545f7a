"""What the latency work changed, held to the answers of the slow paths it replaced:
the posts.account_id index (schema 3) and its migration, one account's posts through
it, the accounts list paged before its rows are read, the network's edge count, and
the group-committed audit log (every view recorded, atomic inside transactions)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import civicsentry
from civicsentry.errors import NotFound
from civicsentry.schema import SCHEMA_VERSION
from civicsentry.service import accounts, explore
from civicsentry.web.audit import AuditWriter
from civicsentry.web.deps import RequestWorkspace, audited

from .conftest import bearer
from .scenario import FORMULA_TEXT, T0

INDEX = "posts_account_id_idx"


@pytest.fixture
def ana(token_for: Any) -> dict[str, str]:
    return bearer(token_for("ana"))


def indexes(ws: Any) -> list[str]:
    return [n for (n,) in ws.con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()]


def test_a_schema_2_workspace_gets_the_posts_index(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with civicsentry.open(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION and INDEX in indexes(ws)  # new ones have it
        ws.con.execute(
            "INSERT INTO posts (post_id, platform, account_id, created_at, kind) VALUES "
            "('x:1', 'x', 'x:a', '2024-05-01 08:00:00+00', 'post')"
        )
        ws.con.execute(f"DROP INDEX {INDEX}")  # as a schema 2 workspace was made
        ws.con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with civicsentry.open(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION and INDEX in indexes(ws)
        assert explore.search_posts(ws, account_id="x:a")[0]["post_id"] == "x:1"


def test_one_accounts_posts_newest_first(client: Any, ana: dict[str, str]) -> None:
    # x:c2: reposts of x:p1..x:p5 at T0 + k h + 15 s, x:h1 and x:h2 at T0 + 2 h 5/6 min
    r = client.get("/api/posts?account_id=x:c2&limit=3", headers=ana).json()
    assert r["total"] == 7
    assert [p["post_id"] for p in r["items"]] == ["x:r51", "x:r41", "x:r31"]
    rest = client.get(r["next"], headers=ana).json()["items"]
    assert [p["post_id"] for p in rest] == ["x:h2", "x:h1", "x:r21"]
    assert {p["handle"] for p in r["items"] + rest} == {"evil\"handle'<b>bold</b>"}
    # the other filters apply to the account's posts only
    f = client.get("/api/posts?account_id=x:c2&q=hyperlink", headers=ana).json()
    assert [(p["post_id"], p["text"]) for p in f["items"]] == [("x:h2", FORMULA_TEXT)]
    since = T0.replace(hour=13).isoformat()
    late = client.get("/api/posts", params={"account_id": "x:c2", "since": since}, headers=ana)
    assert [p["post_id"] for p in late.json()["items"]] == ["x:r51"]  # 13:00:15


def test_accounts_pages_keep_the_score_order(client: Any, ana: dict[str, str], ws: Any) -> None:
    everyone = [a["account_id"] for a in accounts.top_accounts(ws, limit=None)]
    assert len(everyone) == 6
    paged = []
    for offset in (0, 2, 4):
        r = client.get(f"/api/accounts?limit=2&offset={offset}", headers=ana).json()
        paged += [a["account_id"] for a in r["items"]]
        assert all(a["top_signals"] is not None for a in r["items"])
    assert paged == everyone


def test_network_counts_every_edge_when_capped(client: Any, ana: dict[str, str]) -> None:
    for cap, kept in ((1, 1), (5, 5), (6, 6), (100, 6)):
        n = client.get(f"/api/clusters/1/network?max_edges={cap}", headers=ana).json()
        assert (len(n["edges"]), n["edges_total"]) == (kept, 6)
    assert client.get("/api/clusters/99/network", headers=ana).status_code in (400, 404)


def test_concurrent_views_are_all_in_the_audit_log(
    app: Any, client: Any, ana: dict[str, str], ws: Any
) -> None:
    assert isinstance(app.state.audit, AuditWriter)  # started by the lifespan
    before = ws.scalar("SELECT count(*) FROM audit_log WHERE action = 'view.account'")
    codes: list[int] = []

    def view() -> None:
        for _ in range(5):
            codes.append(client.get("/api/accounts/x:c1", headers=ana).status_code)

    threads = [threading.Thread(target=view) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 40
    after = ws.scalar("SELECT count(*) FROM audit_log WHERE action = 'view.account'")
    assert after - before == 40  # answered means recorded


def test_audit_inside_a_transaction_stays_atomic(app: Any) -> None:
    w = RequestWorkspace(app.state.workspace, app.state.audit)
    try:
        with pytest.raises(RuntimeError), w.transaction():
            w.audit("test.rolled_back", {}, "ana")
            raise RuntimeError("the change fails")
        w.audit("test.kept", {"n": 1}, "ana")
        rows = w.con.execute(
            "SELECT action, detail FROM audit_log WHERE action LIKE 'test.%'"
        ).fetchall()
        assert rows == [("test.kept", '{"n": 1}')]
    finally:
        w.close()


def test_a_closed_writer_commits_what_was_pending(tmp_path: Path) -> None:
    with civicsentry.open(tmp_path / "w.duckdb") as ws:
        writer = AuditWriter(ws.con)
        threads = [
            threading.Thread(target=writer.write, args=("test.view", {"i": i}, "ana"))
            for i in range(20)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer.close()
        assert ws.scalar("SELECT count(*) FROM audit_log WHERE action = 'test.view'") == 20
        with pytest.raises(RuntimeError, match="closed"):
            writer.write("test.view", {}, "ana")


class _GatedWriter(AuditWriter):
    """Commits only once the test opens the gate (or after 10 s)."""

    def __init__(self, con: Any) -> None:
        self.gate = threading.Event()
        super().__init__(con)

    def _commit(self, batch: Any) -> None:
        self.gate.wait(10)
        super()._commit(batch)


def test_a_view_is_built_while_its_entry_is_committed(tmp_path: Path) -> None:
    # `audited` hands the entry over and builds the answer meanwhile; leaving the
    # block waits for the commit. Waiting first would find the entry already stored.
    with civicsentry.open(tmp_path / "w.duckdb") as ws:
        writer = _GatedWriter(ws.con)
        w = RequestWorkspace(ws, writer)
        count = "SELECT count(*) FROM audit_log WHERE action = 'test.view'"
        try:
            with audited(w, "test.view", {"id": 7}, "ana"):
                assert w.scalar(count) == 0  # still pending while the view is built
                writer.gate.set()
            assert w.scalar(count) == 1  # committed before the answer leaves
            writer.gate.clear()
            threading.Timer(0.5, writer.gate.set).start()
            with pytest.raises(NotFound), audited(w, "test.view", {"id": 8}, "ana"):
                raise NotFound("no such thing")
            # the failed look-up waited for its entry too (its commit was held 0.5 s)
            assert w.scalar(count) == 2
            writer.close()
        finally:
            w.close()


def test_a_look_up_of_an_unknown_account_is_recorded(
    client: Any, ana: dict[str, str], ws: Any
) -> None:
    assert client.get("/api/accounts/x:nobody", headers=ana).status_code == 404
    rows = ws.con.execute(
        "SELECT actor, detail FROM audit_log WHERE action = 'view.account'"
    ).fetchall()
    assert ("ana", '{"account_id": "x:nobody"}') in rows


def test_rows_as_dicts_are_the_relation_rows(app: Any) -> None:
    # Workspace.dicts runs the statement directly (no relation, planned once): the same
    # rows, names and types as the relation gives, JSON columns decoded.
    query = "SELECT *, '{\"a\": [1]}' AS j FROM runs WHERE run_id <= ? ORDER BY run_id"
    w = RequestWorkspace(app.state.workspace)
    try:
        mine = w.dicts(query, [3], json_columns=("j", "params"))
        rel = w.sql(query, params=[3])
        base = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
        assert len(mine) == 3 and [set(d) for d in mine] == [set(d) for d in base]
        for d, b in zip(mine, base, strict=True):
            assert d == b | {"j": {"a": [1]}, "params": json.loads(b["params"])}
        assert isinstance(mine[0]["params"], dict) and mine[0]["started_at"].tzinfo is not None
        assert w.dicts("SELECT 1 AS x WHERE false") == []
    finally:
        w.close()
