"""Fixtures of the web tests: the scenario workspace is built once per session and
copied for every module (each module gets its own app and may change its copy)."""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from civicsentry.service import users as users_service
from civicsentry.web.app import create_app
from civicsentry.web.deps import RequestWorkspace

from .scenario import PASSWORD, build

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "case.duckdb"
    build(path)
    return path


@pytest.fixture(scope="module")
def ws_path(scenario_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web") / "case.duckdb"
    shutil.copy(scenario_path, path)
    return path


@pytest.fixture(scope="module")
def app(ws_path: Path) -> Iterator[Any]:
    application = create_app(ws_path)
    with TestClient(application):  # one lifespan for the module: the workspace stays open
        yield application


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """An anonymous client (cookies of its own; the module's app is already started)."""
    c = TestClient(app, base_url="http://127.0.0.1")
    yield c
    c.close()


@pytest.fixture
def ws(app: Any) -> Iterator[RequestWorkspace]:
    """The app's workspace, for checking what a request stored."""
    w = RequestWorkspace(app.state.workspace)
    yield w
    w.close()


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (from a page's form)."""
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    r = client.post(
        "/login",
        data={"username": username, "password": password, "login_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/me/tokens")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text
    return m.group(1)


@pytest.fixture
def as_user(app: Any) -> Iterator[Callable[[str], TestClient]]:
    """``as_user("ana")``: a client logged in as that user."""
    opened: list[TestClient] = []

    def make(username: str) -> TestClient:
        c = TestClient(app, base_url="http://127.0.0.1")
        opened.append(c)
        c.headers["x-test-csrf"] = login(c, username)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def token_for(app: Any) -> Callable[[str], str]:
    """``token_for("ana")``: a new API token of that user."""

    def make(username: str) -> str:
        w = RequestWorkspace(app.state.workspace)
        try:
            return users_service.create_token(w, username, name="test")[0]
        finally:
            w.close()

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
