"""The library's public surface is explicit and pinned."""

import civicsentry


def test_exported_members() -> None:
    assert sorted(civicsentry.__all__) == sorted(
        [
            "BackendUnavailable",
            "BadInputFile",
            "CivicSentryError",
            "InputError",
            "InvalidParams",
            "MissingColumns",
            "SchemaVersionMismatch",
            "StrictModeViolation",
            "UnknownFormat",
            "Workspace",
            "WorkspaceError",
            "__version__",
            "open",
        ]
    )
    for name in civicsentry.__all__:
        assert hasattr(civicsentry, name), name


def test_errors_share_one_base() -> None:
    for name in civicsentry.__all__:
        obj = getattr(civicsentry, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, civicsentry.CivicSentryError)
            assert isinstance(obj.exit_code, int) and isinstance(obj.http_status, int)


def test_workspace_methods_are_the_service_verbs(tmp_path) -> None:
    from tests.conftest import DATA

    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        assert isinstance(ws, civicsentry.Workspace)
        report = ws.ingest(DATA / "table" / "bad.csv")
        assert report.total("rows_stored") == 2
        assert ws.info().posts == 2
        assert [q["position"] for q in ws.quarantine()] == [3, 4, 5]
