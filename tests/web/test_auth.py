"""Authentication, roles, CSRF and tokens, through the real app (TestClient)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from civicsentry.service import users as users_service

from .conftest import bearer, csrf_of, login
from .scenario import PASSWORD


def api_routes(app: Any) -> list[tuple[str, str]]:
    """(method, concrete path) of every documented API operation, parameters filled in."""
    fill = {
        "alert_id": "1",
        "cluster_id": "1",
        "account_id": "x:c1",
        "token_id": "1",
        "username": "ana",
        "kind": "clusters",
        "narrative_id": "1",
        "object_id": "1",
        "fmt": "csv",
    }
    out = []
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            concrete = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: fill[m.group(1)], path)
            out += [(m.upper(), concrete) for m in sorted(ops)]
    return out


def test_every_api_endpoint_refuses_anonymous_requests(app: Any, client: Any) -> None:
    routes = api_routes(app)
    assert len(routes) >= 20
    for method, path in routes:
        r = client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json() == {
            "ok": False,
            "status": 401,
            "type": "AuthenticationFailed",
            "error": "Log in first (or send `Authorization: Bearer <token>`).",
        }


def test_pages_show_the_login_form_with_401(client: Any) -> None:
    for path in ("/", "/alerts", "/clusters/1", "/admin/audit", "/search?q=x"):
        r = client.get(path)
        assert r.status_code == 401
        assert 'id="login-form"' in r.text
        assert f'name="next" value="{path.replace("&", "&amp;")}"' in r.text


def test_login_sets_a_strict_httponly_session_cookie(client: Any, ws: Any) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    r = client.post(
        "/login",
        data={"username": "ana", "password": PASSWORD, "login_token": token, "next": "//evil"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/"  # never an open redirect
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("cs_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback; https or --secure-cookies add it
    value = cookie.split(";")[0].split("=", 1)[1]
    stored = ws.sql("SELECT session_hash FROM sessions").fetchall()
    assert value not in {s for (s,) in stored}  # only the hash is stored
    assert client.get("/api/me").json()["username"] == "ana"


def test_wrong_password_and_unknown_user_look_the_same(client: Any) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    answers = []
    for name in ("ana", "nobody"):
        r = client.post(
            "/login", data={"username": name, "password": "wrong password!", "login_token": token}
        )
        assert r.status_code == 401
        answers.append(re.search(r'id="login-error">([^<]*)<', r.text).group(1))
    assert answers == ["Wrong user name or password."] * 2


def test_login_form_needs_its_token(client: Any) -> None:
    r = client.post("/login", data={"username": "ana", "password": PASSWORD, "login_token": "x"})
    assert r.status_code == 403
    assert "log-in form expired" in r.text


def test_failed_logins_are_throttled_per_user(app: Any, client: Any) -> None:
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
    throttle = app.state.login_throttle
    for _ in range(throttle.attempts):
        client.post(
            "/login", data={"username": "olga", "password": "bad password", "login_token": token}
        )
    r = client.post("/login", data={"username": "olga", "password": PASSWORD, "login_token": token})
    assert r.status_code == 401 and "Too many failed log-ins" in r.text
    throttle.succeeded("olga")  # others in this module log in as olga


def test_form_posts_need_the_csrf_token(as_user: Any, ws: Any) -> None:
    c = as_user("ana")
    note = "csrf test"
    r = c.post("/alerts/3/triage", data={"status": "triaged", "note": note})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/alerts/3/triage", data={"status": "triaged", "note": note, "csrf_token": "nope"})
    assert r.status_code == 403
    # JSON from a logged-in browser needs the header
    r = c.post("/api/alerts/3/triage", json={"status": "triaged"})
    assert r.status_code == 403 and r.json()["type"] == "PermissionDenied"
    assert ws.scalar("SELECT count(*) FROM alert_events WHERE note = ?", [note]) == 0
    r = c.post(
        "/alerts/3/triage",
        data={"status": "triaged", "note": note, "csrf_token": c.headers["x-test-csrf"]},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts/3"
    assert ws.scalar("SELECT count(*) FROM alert_events WHERE note = ?", [note]) == 1


def test_logout_ends_the_session(as_user: Any) -> None:
    c = as_user("ana")
    cookie = c.cookies.get("cs_session")
    r = c.post("/logout", data={"csrf_token": c.headers["x-test-csrf"]}, follow_redirects=False)
    assert r.status_code == 303
    c.cookies.set("cs_session", cookie)  # replaying the old cookie does not work
    assert c.get("/api/me").status_code == 401


def test_tokens_authenticate_and_can_be_revoked(client: Any, token_for: Any, ws: Any) -> None:
    token = token_for("ana")
    assert token.startswith("cs_")
    assert ws.scalar("SELECT count(*) FROM api_tokens WHERE token_hash = ?", [token]) == 0
    r = client.get("/api/me", headers=bearer(token))
    assert r.json() == {
        "user_id": 2,
        "username": "ana",
        "role": "analyst",
        "partner_group": None,
        "via": "token",
    }
    # tokens need no CSRF token: they are not sent by browsers on their own
    r = client.post("/api/alerts/2/triage", json={"status": "triaged"}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "triaged"
    mine = client.get("/api/tokens", headers=bearer(token)).json()["items"]
    tid = next(t["token_id"] for t in mine if token.startswith(t["prefix"]))
    assert client.delete(f"/api/tokens/{tid}", headers=bearer(token)).json()["revoked_at"]
    r = client.get("/api/me", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["error"] == "Invalid, revoked or expired API token."
    assert client.get("/api/me", headers=bearer("cs_forged")).status_code == 401


def test_expired_tokens_and_disabled_users_are_refused(
    client: Any, token_for: Any, ws: Any
) -> None:
    token = token_for("ana")
    ws.con.execute(
        "UPDATE api_tokens SET expires_at = now() - INTERVAL 1 MINUTE WHERE token_hash = sha256(?)",
        [token],
    )
    assert client.get("/api/me", headers=bearer(token)).status_code == 401
    users_service.add_user(ws, "temp", role="analyst", password=PASSWORD)
    temp = token_for("temp")
    assert client.get("/api/me", headers=bearer(temp)).status_code == 200
    users_service.set_disabled(ws, "temp", True)
    assert client.get("/api/me", headers=bearer(temp)).status_code == 401


def test_users_cannot_revoke_each_others_tokens(client: Any, token_for: Any, ws: Any) -> None:
    ana, pat = token_for("ana"), token_for("pat")
    pats = client.get("/api/tokens", headers=bearer(pat)).json()["items"]
    assert {t["username"] for t in pats} == {"pat"}
    r = client.delete(f"/api/tokens/{pats[0]['token_id']}", headers=bearer(ana))
    assert r.status_code == 403
    assert client.get("/api/me", headers=bearer(pat)).status_code == 200


STAFF_ONLY = [
    "/api/overview",
    "/api/alerts",
    "/api/clusters",
    "/api/posts?q=x",
    "/api/accounts/x:c1",
    "/api/narratives",
    "/api/claims",
    "/api/clusters/1/members.csv",
    "/api/reports/clusters/1",
]
ADMIN_ONLY = ["/api/users", "/api/audit"]


def test_roles(client: Any, token_for: Any) -> None:
    admin, ana, pat = (bearer(token_for(n)) for n in ("admin", "ana", "pat"))
    for path in STAFF_ONLY + ADMIN_ONLY:
        assert client.get(path, headers=admin).status_code == 200, path
    for path in STAFF_ONLY:
        assert client.get(path, headers=ana).status_code == 200, path
    for path in ADMIN_ONLY:
        r = client.get(path, headers=ana)
        assert r.status_code == 403, path
        assert r.json()["error"] == "This needs the role admin; you are analyst."
    for path in STAFF_ONLY + ADMIN_ONLY:
        assert client.get(path, headers=pat).status_code == 403, path
    body = {"username": "x1", "role": "admin", "password": PASSWORD}
    assert client.post("/api/users", json=body, headers=ana).status_code == 403
    assert (
        client.post("/api/alerts/1/triage", json={"status": "triaged"}, headers=pat).status_code
        == 403
    )
    r = client.post("/api/users", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["role"] == "admin"


def test_partners_see_only_what_was_shared_with_their_group(client: Any, token_for: Any) -> None:
    pat, olga = bearer(token_for("pat")), bearer(token_for("olga"))
    shared = client.get("/api/sharing", headers=pat).json()
    assert [s["subject"] for s in shared["items"]] == ["cluster 1 of run 1"]  # not the RED one
    assert shared["total"] == 1
    assert client.get("/api/clusters/1", headers=pat).status_code == 200
    assert client.get("/api/clusters/1/network", headers=pat).json()["nodes"]
    assert client.get("/api/clusters/1?run_id=7", headers=pat).status_code == 404
    assert client.get("/api/alerts/1", headers=pat).status_code == 404  # TLP:RED
    assert client.get("/api/alerts/2", headers=pat).status_code == 404  # other group's
    assert [s["subject"] for s in client.get("/api/sharing", headers=olga).json()["items"]] == [
        "alert 2"
    ]
    r = client.get("/api/alerts/2", headers=olga)
    assert r.status_code == 200 and r.json()["transitions"] == []
    for path in ("/api/clusters/1", "/api/clusters/1/network", "/api/alerts/1"):
        r = client.get(path, headers=olga)
        assert r.status_code == 404, path
        assert r.json()["type"] == "NotFound"


def test_partner_pages(as_user: Any) -> None:
    c = as_user("pat")
    home = c.get("/")
    assert home.status_code == 200 and "cluster 1 of run 1" in home.text
    assert "alert 1" not in home.text
    assert 'href="/clusters"' not in home.text  # no staff navigation
    assert c.get("/clusters").status_code == 403
    assert c.get("/clusters/1?run_id=1").status_code == 200


@pytest.mark.parametrize(
    ("name", "role", "group", "message"),
    [
        ("bad name!", "analyst", None, "Invalid user name"),
        ("x2", "boss", None, "Unknown role 'boss'"),
        ("x3", "partner", None, "A partner needs a partner group"),
        ("x4", "analyst", "g", "Only partners belong to a partner group"),
        ("ana", "analyst", None, "User 'ana' exists already"),
    ],
)
def test_add_user_errors(ws: Any, name: str, role: str, group: Any, message: str) -> None:
    with pytest.raises(users_service.InvalidParams, match=message):
        users_service.add_user(ws, name, role=role, password=PASSWORD, partner_group=group)


def test_passwords_are_argon2_hashed(ws: Any) -> None:
    stored = ws.scalar("SELECT password_hash FROM users WHERE username = 'ana'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(users_service.InvalidParams, match="too short"):
        users_service.add_user(ws, "short", role="analyst", password="short")


def test_the_csrf_token_of_a_session_is_on_its_pages(as_user: Any) -> None:
    c = as_user("admin")
    assert csrf_of(c) == c.headers["x-test-csrf"]
    assert login(c, "admin") != c.headers["x-test-csrf"]  # a new session, a new token


def test_a_real_share_into_a_partners_collection_becomes_visible(
    app: Any, client: Any, token_for: Any, ws: Any
) -> None:
    """Through the sharing stage itself: cluster 1 published to a collection pat's
    partner may read shows up for pat; olga's partner has no access to it."""
    share = pytest.importorskip("civicsentry.service.share")
    share.create_community(ws, "eu")
    share.add_collection(ws, "eu-feed", community="eu")
    share.add_partner(ws, "ee-cert", community="eu", read=["eu-feed"])
    ana = bearer(token_for("ana"))
    body = {"kind": "cluster", "id": 1, "run_id": 1, "collection": "eu-feed", "tlp": "amber"}
    assert (
        client.post("/api/shares", json=body, headers=bearer(token_for("pat"))).status_code == 403
    )
    r = client.post("/api/shares", json=body, headers=ana)
    assert r.status_code == 200, r.text
    assert (r.json()["subject"], r.json()["recipient"], r.json()["tlp"]) == (
        "cluster 1 of run 1",
        "eu-feed",
        "amber",
    )
    red = client.post("/api/shares", json=body | {"tlp": "red"}, headers=ana)
    assert red.status_code == 400, red.text  # TLP:RED never leaves the workspace
    pat, olga = bearer(token_for("pat")), bearer(token_for("olga"))
    subjects = [
        (s["subject"], s["recipient"])
        for s in client.get("/api/sharing", headers=pat).json()["items"]
    ]
    assert ("cluster 1 of run 1", "eu-feed") in subjects
    assert "eu-feed" not in {
        s["recipient"] for s in client.get("/api/sharing", headers=olga).json()["items"]
    }
    staff = client.get("/api/sharing", headers=ana).json()["items"]
    assert next(s for s in staff if s["recipient"] == "eu-feed")["readers"] == ["ee-cert"]
