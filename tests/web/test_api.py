"""The REST API and the pages' server side: known answers on the scenario, pagination
and filters, the one error shape, JSON twins, exports, reports and hostile content."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from .conftest import bearer
from .scenario import (
    CLUSTER_EDGES,
    CLUSTER_SIZE,
    COORDINATED,
    FORMULA_TEXT,
    HOSTILE_HANDLE,
    POSTS,
    RAW_HOSTILE_URL,
)


@pytest.fixture
def ana(client: Any, token_for: Any) -> dict[str, str]:
    return bearer(token_for("ana"))


def test_overview_counts(client: Any, ana: dict[str, str]) -> None:
    o = client.get("/api/overview", headers=ana).json()
    assert o["workspace"]["posts"] == POSTS
    assert o["workspace"]["accounts"] == 6
    assert o["volume"]["bucket"] == "hour"
    assert sum(n for _, n in o["volume"]["series"]["x"]) == POSTS
    assert o["open_alerts"]["total"] == 3
    assert [c["size"] for c in o["clusters"]["items"]] == [CLUSTER_SIZE]


def test_clusters_list_filters_and_pages(client: Any, ana: dict[str, str]) -> None:
    r = client.get("/api/clusters", headers=ana).json()
    assert (r["total"], r["limit"], r["offset"], r["next"], r["prev"]) == (1, 50, 0, None, None)
    assert r["items"][0]["cluster_id"] == 1 and r["items"][0]["edges"] == CLUSTER_EDGES
    assert client.get("/api/clusters?min_size=5", headers=ana).json()["total"] == 0
    assert client.get("/api/clusters?modality=url", headers=ana).json()["total"] == 0
    assert client.get("/api/clusters?modality=repost", headers=ana).json()["total"] == 1
    past = client.get("/api/clusters?offset=1", headers=ana).json()  # paged in the query
    assert (past["total"], past["items"], past["prev"] is not None) == (1, [], True)


def test_cluster_detail_network_and_members(client: Any, ana: dict[str, str]) -> None:
    c = client.get("/api/clusters/1?limit=2", headers=ana).json()
    assert c["cluster"]["size"] == CLUSTER_SIZE
    assert {m["step"] for m in c["methods"]} == {"detect", "cluster"}
    m = c["members"]
    assert (len(m["items"]), m["total"]) == (2, CLUSTER_SIZE)
    assert m["next"] == "/api/clusters/1?limit=2&offset=2"
    page2 = client.get(m["next"], headers=ana).json()["members"]
    ids = {x["account_id"] for x in m["items"] + page2["items"]}
    assert ids == set(COORDINATED) and page2["next"] is None
    net = client.get("/api/clusters/1/network", headers=ana).json()
    assert {n["id"] for n in net["nodes"]} == set(COORDINATED)
    assert len(net["edges"]) == CLUSTER_EDGES and net["edges_capped"] is False
    capped = client.get("/api/clusters/1/network?max_edges=2", headers=ana).json()
    assert (len(capped["edges"]), capped["edges_total"], capped["edges_capped"]) == (2, 6, True)
    # reposts 5 s apart: every edge's mean delay is 5-15 s
    d = client.get("/api/clusters/1/delays", headers=ana).json()
    assert d["edges"] == CLUSTER_EDGES
    assert sum(n for _, n in d["bins"]) == CLUSTER_EDGES
    assert dict(d["bins"])["<10s"] + dict(d["bins"])["<30s"] == CLUSTER_EDGES


def test_alert_queue_filters_and_pages(client: Any, ana: dict[str, str]) -> None:
    r = client.get("/api/alerts?limit=2", headers=ana).json()
    assert r["total"] == 3 and len(r["items"]) == 2 and r["next"]
    assert client.get("/api/alerts?severity=high", headers=ana).json()["total"] == 1
    both = client.get("/api/alerts?severity=high&severity=low", headers=ana).json()
    assert {a["severity"] for a in both["items"]} == {"high", "low"}
    assert client.get("/api/alerts?rule=burst", headers=ana).json()["total"] == 2
    bad = client.get("/api/alerts?status=bogus", headers=ana)
    assert bad.status_code == 400 and bad.json()["type"] == "InvalidParams"


def test_triage_records_who_and_why(client: Any, ana: dict[str, str], ws: Any) -> None:
    r = client.post(
        "/api/alerts/1/triage", json={"status": "escalated", "note": "<b>x</b>"}, headers=ana
    )
    assert r.status_code == 200
    alert = r.json()
    assert alert["status"] == "escalated"
    last = alert["events"][-1]
    assert (last["actor"], last["from_status"], last["to_status"], last["note"]) == (
        "ana",
        "new",
        "escalated",
        "<b>x</b>",
    )
    audit = ws.sql(
        "SELECT actor FROM audit_log WHERE action = 'alert.triage' ORDER BY ts DESC LIMIT 1"
    ).fetchall()
    assert audit == [("ana",)]
    bad = client.post("/api/alerts/1/triage", json={"status": "new"}, headers=ana)
    assert bad.status_code == 400 and "can move to" in bad.json()["error"]
    assert (
        client.post("/api/alerts/99/triage", json={"status": "triaged"}, headers=ana).status_code
        == 404
    )


def test_one_error_shape(client: Any, ana: dict[str, str]) -> None:
    cases = {
        "/api/clusters/42": (404, "NotFound"),
        "/api/alerts/42": (404, "NotFound"),
        "/api/accounts/x:nobody": (404, "NotFound"),
        "/api/clusters?limit=0": (400, "InvalidParams"),
        "/api/clusters/abc": (400, "InvalidParams"),
        "/api/nothing-here": (404, "HTTPError"),
        "/api/clusters/1/members.exe": (400, "InvalidParams"),
    }
    for path, (status, kind) in cases.items():
        r = client.get(path, headers=ana)
        body = r.json()
        assert (r.status_code, body["type"], body["status"], body["ok"]) == (
            status,
            kind,
            status,
            False,
        ), path
        assert set(body) == {"ok", "status", "type", "error"} and body["error"]


def test_search_is_a_literal_substring(client: Any, ana: dict[str, str]) -> None:
    r = client.get("/api/posts", params={"q": "<SCRIPT>window"}, headers=ana).json()
    assert [p["post_id"] for p in r["items"]] == ["x:h1"]
    # LIKE wildcards and quotes are plain characters
    for q in ("%", "_", "'", "news%", '"'):
        n = client.get("/api/posts", params={"q": q}, headers=ana).json()["total"]
        expected = sum(q in p for p in _texts())
        assert n == expected, q
    assert client.get("/api/posts?account_id=x:c1", headers=ana).json()["total"] == 5
    r = client.get("/api/posts?limit=10&offset=20", headers=ana).json()
    assert (r["total"], len(r["items"]), r["next"]) == (POSTS, POSTS - 20, None)
    since = client.get("/api/posts", params={"since": "2024-05-01T13:00:00Z"}, headers=ana).json()
    assert since["total"] == 5  # p5 and its four reposts


def _texts() -> list[str]:
    from .scenario import posts

    return [p["text"] for p in posts()]


def test_account_view(client: Any, ana: dict[str, str]) -> None:
    a = client.get("/api/accounts/x:c2", headers=ana).json()
    assert a["account"]["handle"] == HOSTILE_HANDLE
    assert a["activity"]["posts"] == 7 and a["activity"]["kinds"] == {"repost": 5, "post": 2}
    assert sum(map(sum, a["rhythm"]["counts"])) == 7
    # Wednesday 1 May 2024, 10:00-11:00 UTC: the repost of x:p2 (10:00:15), x:h1, x:h2
    assert a["rhythm"]["counts"][2][10] == 3
    assert [c["cluster_id"] for c in a["clusters"]] == [1]
    assert a["signals"]["computed"] is True and a["signals"]["run"]["accounts"] == 6
    assert "coordinated_share" in {x["name"] for x in a["signals"]["signals"]}
    assert a["posts"]["total"] == 7


def test_exports_neutralise_formulas(client: Any, ana: dict[str, str], ws: Any) -> None:
    r = client.get("/api/posts.csv", params={"account_id": "x:c2"}, headers=ana)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="posts.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    texts = {row["post_id"]: row["text"] for row in rows}
    assert texts["x:h2"] == "'" + FORMULA_TEXT
    assert {row["handle"] for row in rows} == {HOSTILE_HANDLE}
    x = client.get("/api/posts.xlsx", params={"account_id": "x:c2"}, headers=ana)
    sheet = load_workbook(io.BytesIO(x.content)).active
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row]
    formula = next(c for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value)
    assert formula.value == "'" + FORMULA_TEXT and formula.data_type == "s"
    assert not any(c.data_type == "f" for c in cells)
    m = client.get("/api/clusters/1/members.csv", headers=ana)
    assert sorted(row["account_id"] for row in csv.DictReader(io.StringIO(m.text))) == sorted(
        COORDINATED
    )
    actions = {a for (a,) in ws.sql("SELECT action FROM audit_log WHERE actor = 'ana'").fetchall()}
    assert {"export.posts", "export.members"} <= actions


def test_report_is_self_contained_and_inert(client: Any, ana: dict[str, str]) -> None:
    r = client.get("/api/reports/alerts/1", headers=ana)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="civicsentry-alert-1.html"'
    csp = r.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'sha256-") and "script" not in csp
    html = r.text
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert not re.search(r'(src|href)=["\']?(https?:)?//', html)  # nothing fetched, no links
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert html.count('class="node"') == CLUSTER_SIZE  # the network picture
    assert "Methods and parameters" in html and "&#34;semantics&#34;: &#34;coortweet&#34;" in html
    assert "Apparent coordination may be coincidence" in html
    c = client.get("/api/reports/clusters/1", headers=ana)
    assert "Incident report: coordinated cluster 1" in c.text
    assert client.get("/api/reports/widgets/1", headers=ana).status_code == 404


def test_security_headers(client: Any, ana: dict[str, str]) -> None:
    for path in ("/login", "/api/overview", "/static/app.css"):
        h = client.get(path, headers=ana).headers
        assert h["content-security-policy"].startswith(
            "default-src 'self'; script-src 'self'; style-src 'self'"
        )
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
    assert client.get("/api/overview", headers=ana).headers["cache-control"] == "no-store"


def test_pages_escape_hostile_content(as_user: Any) -> None:
    c = as_user("ana")
    pages = [
        "/",
        "/alerts",
        "/alerts/1",
        "/clusters",
        "/clusters/1",
        "/accounts/x:c2",
        "/search?q=vote",
        "/sharing",
        "/narratives",
        "/claims",
        "/accounts",
        "/me/tokens",
        "/api/docs",
    ]
    for path in pages:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        body = r.text
        for raw in ("<script>window", 'onerror="window', "<svg onload", "<b>bold</b>"):
            assert raw not in body, (path, raw)
        assert " style=" not in body and "<style" not in body, path  # CSP: no inline styles
        assert re.findall(r"<script[^>]*>", body) == [
            s
            for s in re.findall(r"<script[^>]*>", body)
            if re.fullmatch(r'<script src="/static/[a-z]+\.js" defer>', s)
        ], path
    acc = c.get("/accounts/x:c2").text
    assert "evil&#34;handle&#39;&lt;b&gt;bold&lt;/b&gt;" in acc
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in acc
    assert RAW_HOSTILE_URL not in acc and 'href="https://evil' not in acc
    assert "&#34;&gt;&lt;script&gt;window.__xss=5" in acc  # the raw URL, shown as text


def test_json_twins_hold_the_page_data(as_user: Any, client: Any, ana: dict[str, str]) -> None:
    c = as_user("ana")
    page = c.get("/clusters/1")
    twin = re.search(r'class="twin" href="([^"]+)"', page.text).group(1)
    assert twin == "/api/clusters/1"
    data = client.get(twin, headers=ana).json()
    for m in data["members"]["items"]:
        assert f">{m['account_id']}<" in page.text
    alerts = c.get("/alerts?severity=low")
    twin = re.search(r'class="twin" href="([^"]+)"', alerts.text).group(1).replace("&amp;", "&")
    items = client.get(twin, headers=ana).json()["items"]
    assert [a["alert_id"] for a in items] == [
        int(x) for x in re.findall(r'href="/alerts/(\d+)"', alerts.text)
    ]


def test_openapi_documents_every_list_as_paginated(client: Any) -> None:
    spec = client.get("/api/openapi.json").json()
    for path in (
        "/api/alerts",
        "/api/clusters",
        "/api/posts",
        "/api/users",
        "/api/audit",
        "/api/sharing",
    ):
        names = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert {"limit", "offset"} <= names, path
    assert "ErrorBody" in spec["components"]["schemas"]


def test_admin_sees_the_audit_trail(client: Any, token_for: Any, ana: dict[str, str]) -> None:
    client.get("/api/clusters/1", headers=ana)
    admin = bearer(token_for("admin"))
    r = client.get("/api/audit?actor=ana&action=view", headers=admin).json()
    assert r["total"] >= 1
    assert {e["action"] for e in r["items"]} <= {"view.cluster", "view.alert", "view.account"}
    assert r["items"][0]["detail"] == {"cluster_id": 1, "run_id": 1}


def test_accounts_by_signals(client: Any, ana: dict[str, str]) -> None:
    r = client.get("/api/accounts?limit=2", headers=ana).json()
    assert r["computed"] is True and r["total"] == 6 and len(r["items"]) == 2
    assert r["items"][0]["rank"] == 1 and r["next"] == "/api/accounts?limit=2&offset=2"
    strong = client.get("/api/accounts?min_score=0.99", headers=ana).json()
    assert strong["total"] == len(strong["items"]) == 0


def test_views_degrade_on_an_empty_workspace(tmp_path: Any) -> None:
    """No posts, no detection, no alerts, no signals, nothing shared: every view says
    what is missing instead of failing."""
    from fastapi.testclient import TestClient

    from civicsentry.service import users as users_service
    from civicsentry.web.app import create_app

    from .scenario import PASSWORD

    application = create_app(tmp_path / "empty.duckdb")
    with TestClient(application) as c:
        w = application.state.workspace
        users_service.add_user(w, "ana", role="analyst", password=PASSWORD)
        h = bearer(users_service.create_token(w, "ana")[0])
        o = c.get("/api/overview", headers=h).json()
        assert o["workspace"]["posts"] == 0 and o["volume"]["series"] == {}
        assert o["clusters"] == {
            "computed": False,
            "message": "No detection run yet: run `civicsentry detect` first.",
        }
        assert o["open_alerts"]["computed"] is False
        for path in (
            "/api/alerts",
            "/api/clusters",
            "/api/accounts",
            "/api/narratives",
            "/api/claims",
            "/api/sharing",
        ):
            r = c.get(path, headers=h).json()
            assert (r["computed"], r["total"], r["items"]) == (False, 0, []), path
            assert r["message"], path
        from .conftest import login

        login(c, "ana")
        for path in (
            "/",
            "/alerts",
            "/clusters",
            "/accounts",
            "/narratives",
            "/claims",
            "/sharing",
            "/search",
        ):
            page = c.get(path)
            assert page.status_code == 200, path
            assert 'class="notice not-computed"' in page.text or path == "/search", path


def test_narratives_and_claims(client: Any, ana: dict[str, str]) -> None:
    from .scenario import CLAIM_TEXT, NARRATIVE_LABEL

    n = client.get("/api/narratives", headers=ana).json()
    assert (n["computed"], n["total"], n["items"][0]["label"]) == (True, 1, NARRATIVE_LABEL)
    assert client.get("/api/narratives?sort=bogus", headers=ana).status_code == 400
    d = client.get("/api/narratives/1", headers=ana).json()["narrative"]
    assert [p["post_id"] for p in d["sample_posts"]] == ["x:h1", "x:h2"]
    assert client.get("/api/narratives/9", headers=ana).status_code == 404
    c = client.get("/api/claims", headers=ana).json()
    assert c["total"] == 1 and c["items"][0]["claim_text"] == CLAIM_TEXT
    assert client.get("/api/claims?claim_id=nope", headers=ana).json()["total"] == 0
