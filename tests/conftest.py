"""Shared fixtures: isolated settings per test, an in-memory DuckDB, a SQLite session."""

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
