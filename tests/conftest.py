"""Shared fixtures: isolated settings per test, an in-memory DuckDB, a SQLite session, and a
real, throw-away PostgreSQL server for tests marked ``postgres`` (``postgres_url``, started by
``tests/pgcluster.py`` and removed after the session).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(autouse=True)
def settings(tmp_path, monkeypatch):
    """Point WEIXI_HOME at a fresh temp folder for every test and reset cached settings."""
    from weixi import config
    from weixi.store import db

    monkeypatch.setenv("WEIXI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEIXI_ENV", "test")
    # English unless a test asks otherwise; `--lang` sets WEIXI_LANG, restored after each test.
    monkeypatch.setenv("WEIXI_LANG", "en")
    monkeypatch.delenv("WEIXI_DATABASE_URL", raising=False)
    monkeypatch.delenv("WEIXI_ANALYTICS_PATH", raising=False)
    monkeypatch.delenv("WEIXI_SECRET_KEY", raising=False)
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield config.get_settings()
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()


@pytest.fixture
def fresh_con():
    """An in-memory DuckDB connection with weixi's session settings."""
    from weixi.store.analytics import connect

    con = connect(":memory:")
    yield con
    con.close()


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server for the session (``tests.pgcluster``)."""
    from tests.pgcluster import throwaway_postgres

    with throwaway_postgres() as url:
        yield url
