"""Login, lock-out, CSRF, cookies, headers, language switch and audited unmask through HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, csrf_of, login


def _anon(app) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _login_token(client) -> str:
    page = client.get("/login")
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_session_cookie_is_signed_httponly_lax_secure(app):
    client = _anon(app)
    token = _login_token(client)
    resp = client.post(
        "/login", data={"username": "u_analyst", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 303
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("weixi_session="))
    low = cookie.lower()
    assert "httponly" in low and "samesite=lax" in low and "secure" in low
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")
    # a tampered cookie is no session
    bad = _anon(app)
    bad.cookies.set(
        "weixi_session", cookie.split(";")[0].split("=", 1)[1] + "x", domain="testserver"
    )
    assert bad.get("/dashboard").status_code == 303


def test_login_requires_csrf(app):
    client = _anon(app)
    client.get("/login")
    resp = client.post("/login", data={"username": "u_analyst", "password": PASSWORD})
    assert resp.status_code == 403
    resp = client.post(
        "/login", data={"username": "u_analyst", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert resp.status_code == 403


def test_post_without_csrf_is_refused_even_when_logged_in(clients, sid):
    client = clients["branch_manager"]
    assert client.post(f"/customers/{sid}/unmask").status_code == 403
    assert client.post(f"/customers/{sid}/unmask", headers={"X-CSRF-Token": "x"}).status_code == 403
    token = csrf_of(client)
    ok = client.post(
        f"/customers/{sid}/unmask", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert ok.status_code == 200 and "audit log" in ok.text


def test_lockout_after_five_failures_through_the_form(app, web_settings):
    from weixi.auth import service
    from weixi.store.db import session_scope

    with session_scope(web_settings.db_url) as s:
        service.create(session=s, username="u_lockme", password=PASSWORD, role="analyst")
    client = _anon(app)
    token = _login_token(client)
    for _ in range(5):
        r = client.post(
            "/login", data={"username": "u_lockme", "password": "nope-123", "csrf_token": token}
        )
        assert r.status_code == 401
    r = client.post(
        "/login", data={"username": "u_lockme", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 401 and "locked" in r.text


def test_logout_ends_the_session(app):
    client = login(app, "u_planner")
    assert client.get("/dashboard").status_code == 200
    token = csrf_of(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/dashboard").status_code == 303


def test_language_switch_is_stored_per_user(app):
    client = login(app, "u_analyst")
    token = csrf_of(client)
    client.post("/lang", data={"lang": "zh-CN", "next": "/dashboard", "csrf_token": token})
    page = client.get("/dashboard").text
    assert "仪表盘" in page and 'lang="zh-CN"' in page
    client.post("/lang", data={"lang": "en", "next": "/dashboard", "csrf_token": csrf_of(client)})
    assert "Dashboard" in client.get("/dashboard").text


def test_open_redirect_is_refused(app):
    client = _anon(app)
    token = _login_token(client)
    r = client.post(
        "/login",
        data={
            "username": "u_analyst",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_bearer_token_reaches_the_api_without_csrf(app, web_settings):
    from weixi.auth import service
    from weixi.store.db import session_scope

    with session_scope(web_settings.db_url) as s:
        user = service.get_by_username(session=s, username="u_planner")
        token = service.create_api_token(session=s, user=user, name="test")
    client = _anon(app)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "planner"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer wrong"}).status_code == 401
