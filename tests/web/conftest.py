"""Web test fixtures: one populated store and one app per session, a logged-in client per role."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.store import build_store, source_key
from weixi.auth import service as auth_service
from weixi.auth.models import ALL_ROLES, Role
from weixi.config import Settings, get_settings
from weixi.store.db import get_engine, session_scope
from weixi.web.orm import import_all

PASSWORD = "Secret-pass-1"
BRANCH = "HZ"  # a branch of the synthetic operator
OTHER_BRANCH = "NB"

# A mainland mobile number standing alone, and the hex HMAC tokens (CSRF) that may contain a
# digit run looking like one: a CI run drew a planner session whose token held "13281989145"
# and the masking test reported it on every page.
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
HEX_TOKEN = re.compile(r"\b[0-9a-f]{64}\b")


def clear_phones(text: str) -> list[str]:
    """Clear mobile numbers in a page or response body, the CSRF tokens left out."""
    return MOBILE.findall(HEX_TOKEN.sub("", text))


@pytest.fixture(scope="session")
def store_path(tmp_path_factory, request):
    """The populated DuckDB file (rebuilt when synth/segment code changes; cached otherwise).

    The churn models it registers live in a home of their own beside the file, cached with it
    and re-pointed on every restore: a cached store never refers to another run's folders.
    """
    key = source_key()
    base = tmp_path_factory.mktemp("store")
    target = base / "weixi.duckdb"
    home = base / "home"
    cache = getattr(request.config, "cache", None)
    folder = (
        cache.mkdir("weixi-web-store")
        if cache is not None
        else Path(tempfile.gettempdir()) / "weixi-test-cache"  # runs with -p no:cacheprovider
    )
    folder.mkdir(parents=True, exist_ok=True)
    cached = folder / f"web-store-{key}.duckdb"
    cached_models = folder / f"web-store-{key}.models"
    if cached.exists() and cached_models.is_dir():
        shutil.copy(cached, target)
        shutil.copytree(cached_models, home / "models")
        rehome_models(target, home / "models")
        return target
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEIXI_HOME", str(home))
        get_settings.cache_clear()
        try:
            build_store(target)
        finally:
            get_settings.cache_clear()
    for old in folder.glob("web-store-*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.copy(target, cached)
    if (home / "models").is_dir():
        shutil.copytree(home / "models", cached_models)
    else:
        cached_models.mkdir()
    return target


def rehome_models(store: Path, models: Path) -> None:
    """Point the registry of a restored store at the model folders copied under ``models``."""
    import duckdb

    con = duckdb.connect(str(store))
    try:
        if con.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'churn_models' AND column_name = 'path'"
        ).fetchone()[0]:
            rows = con.execute("SELECT version, path FROM churn_models").fetchall()
            for version, path in rows:
                moved = models / "churn" / Path(path).name
                con.execute(
                    "UPDATE churn_models SET path = ? WHERE version = ?", [str(moved), version]
                )
    finally:
        con.close()


def make_users(db_url: str) -> dict[str, str]:
    """One user per role (branch roles in BRANCH) plus a branch manager of OTHER_BRANCH."""
    import_all().create_all(get_engine(db_url))
    names = {}
    with session_scope(db_url) as s:
        for role in ALL_ROLES:
            branch = (
                BRANCH if role in (Role.branch_manager, Role.account_manager, Role.agent) else None
            )
            staff = {Role.agent: "HZCC0001", Role.account_manager: "HZAM0001"}.get(role)
            auth_service.create(
                session=s,
                username=f"u_{role.value}",
                password=PASSWORD,
                role=role.value,
                branch_id=branch,
                staff_id=staff,
            )
            names[role.value] = f"u_{role.value}"
        auth_service.create(
            session=s,
            username="u_other_bm",
            password=PASSWORD,
            role="branch_manager",
            branch_id=OTHER_BRANCH,
        )
    return names


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory, store_path, fresh_db_url):
    home = tmp_path_factory.mktemp("webhome")
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store_path,
        database_url=fresh_db_url(home),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    return settings


@pytest.fixture(scope="session")
def app(web_settings):
    from weixi.web.app import create_app

    return create_app(web_settings)


def login(app, username: str, password: str = PASSWORD) -> TestClient:
    """A TestClient over https (cookies are Secure outside dev) logged in as ``username``."""
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert resp.status_code == 303, resp.text[:500]
    return client


def csrf_of(client: TestClient, path: str = "/dashboard") -> str:
    """The CSRF token embedded in a page the client can open."""
    text = client.get(path).text
    return text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def job_id_of(response) -> int:
    """The job a response started: from its progress card or its redirect to the job page."""
    import re

    if response.status_code == 303:
        found = re.search(r"/jobs/(\d+)", response.headers["location"])
    else:
        found = re.search(r'id="job-(\d+)"', response.text)
    assert found, f"no job in the response: {response.status_code} {response.text[:500]}"
    return int(found.group(1))


def follow_job(client: TestClient, response, timeout: float = 120.0):
    """Wait for the job ``response`` started and return its finished card (as htmx gets it)."""
    import time

    job_id = job_id_of(response)
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/v1/jobs/{job_id}").json()
        if status["status"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(0.05)
    return client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"})


@pytest.fixture(scope="session")
def clients(app) -> dict[str, TestClient]:
    """A logged-in client per role name, plus 'other_bm' (a branch manager of another branch)."""
    out = {role.value: login(app, f"u_{role.value}") for role in ALL_ROLES}
    out["other_bm"] = login(app, "u_other_bm")
    return out


@pytest.fixture(scope="session")
def sid(store_path) -> str:
    """A line of BRANCH in the latest month (with a segment and a score)."""
    import duckdb

    con = duckdb.connect(str(store_path), read_only=True)
    try:
        row = con.execute(
            """SELECT s.subscriber_id FROM snapshot s
               JOIN churn_scores c USING (month, subscriber_id)
               WHERE s.branch_id = ? AND s.month = (SELECT max(month) FROM snapshot)
                 AND s.phone IS NOT NULL AND s.name IS NOT NULL
               ORDER BY s.subscriber_id LIMIT 1""",
            [BRANCH],
        ).fetchone()
    finally:
        con.close()
    assert row, "the test store has no line in the test branch"
    return row[0]
