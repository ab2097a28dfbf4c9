"""Secure defaults: no built-in signing key (one is generated and kept in WEIXI_HOME), Secure
cookies unless WEIXI_ENV=dev is chosen explicitly, weak keys refused, uploads size-limited."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from fastapi.testclient import TestClient

from weixi.config import Settings


def test_secret_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("WEIXI_ENV")
    a = Settings(home=tmp_path)
    assert a.env == "prod" and a.secret_key is None
    key = a.secret()
    assert len(key) >= 32 and (tmp_path / "secret_key").read_text().strip() == key
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    assert Settings(home=tmp_path).secret() == key  # a restart keeps sessions valid
    assert Settings(home=tmp_path, secret_key="x" * 20).secret() == "x" * 20


def test_concurrent_first_starts_agree_on_one_secret(tmp_path):
    keys: list[str] = []

    def start() -> None:
        keys.append(Settings(home=tmp_path).secret())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(keys)) == 1


@pytest.mark.parametrize("bad", ["dev-insecure-secret-change-me", "short"])
def test_weak_keys_are_refused_outside_dev(tmp_path, bad):
    with pytest.raises(ValueError, match="WEIXI_SECRET_KEY"):
        Settings(home=tmp_path, env="prod", secret_key=bad)
    assert Settings(home=tmp_path, env="dev", secret_key=bad).secret() == bad
    with pytest.raises(ValueError, match="WEIXI_ENV"):
        Settings(home=tmp_path, env="production")


def _login_cookie(app) -> str:
    from tests.web.conftest import PASSWORD, make_users

    make_users(app.state.settings.db_url)
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = client.post(
        "/login", data={"username": "u_analyst", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 303
    return next(h for h in resp.headers.get_list("set-cookie") if h.startswith("weixi_session="))


@pytest.mark.parametrize("env, secure", [(None, True), ("test", True), ("dev", False)])
def test_cookies_are_secure_unless_dev_is_explicit(tmp_path, monkeypatch, env, secure):
    from weixi.web.app import create_app

    monkeypatch.delenv("WEIXI_ENV", raising=False)
    if env:
        monkeypatch.setenv("WEIXI_ENV", env)
    settings = Settings(home=tmp_path)
    cookie = _login_cookie(create_app(settings)).lower()
    assert ("; secure" in cookie) is secure
    assert (tmp_path / "secret_key").exists()  # signed with the generated key


def test_uploads_over_the_limit_get_413(web_settings):
    from tests.web.conftest import csrf_of, follow_job, login
    from weixi.web.app import create_app

    app = create_app(web_settings.model_copy(update={"max_upload_mb": 0.05}))
    manager = login(app, "u_branch_manager")
    limit = app.state.settings.max_upload_bytes
    big = b"task_id,result\n" + b"1,accepted\n" * (limit // 11 + 10)
    resp = manager.post(
        "/outcomes/upload",
        data={"csrf_token": csrf_of(manager)},
        files={"file": ("big.csv", big, "text/csv")},
    )
    assert resp.status_code == 413 and "WEIXI_MAX_UPLOAD_MB" in resp.text
    small = b"task_id,result\n99999999,accepted\n"
    queued = manager.post(
        "/outcomes/upload",
        data={"csrf_token": csrf_of(manager)},
        files={"file": ("small.csv", small, "text/csv")},
    )
    assert queued.status_code == 303  # accepted: recorded by a background job
    ok = follow_job(manager, queued)
    assert ok.status_code == 200 and "task 99999999 not found" in ok.text

    def chunks():  # no Content-Length: the streamed body is counted
        yield b"task_id,result\n"
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096

    api = manager.post(
        "/api/v1/outcomes",
        content=chunks(),
        headers={"X-CSRF-Token": csrf_of(manager), "Content-Type": "application/json"},
    )
    assert api.status_code == 413 and "WEIXI_MAX_UPLOAD_MB" in api.json()["detail"]
