"""Shared fixtures: isolated settings per test, an in-memory DuckDB, a SQLite session, and a
real, throw-away PostgreSQL server for tests marked ``postgres`` (``postgres_url``, started by
``tests/pgcluster.py`` and removed after the session).

The operational suites (``OP_DB_SUITES``: web, dispatch, evaluate, security) run twice: on
SQLite and on the PostgreSQL server (``op_db`` = "sqlite" | "postgres", the PostgreSQL run
marked ``postgres``). On PostgreSQL every test gets a fresh database as ``WEIXI_DATABASE_URL``
(dropped after the test); ``fresh_db_url`` gives further fresh databases of the run's kind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import weixi  # noqa: F401 - first: it sets Arrow's allocator up before anything loads pyarrow

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

TESTS = Path(__file__).resolve().parent
#: Test folders whose tests run on SQLite and on PostgreSQL.
OP_DB_SUITES = {"web", "dispatch", "evaluate", "security"}


def pytest_generate_tests(metafunc):
    """Parametrize the operational suites over the two databases (``op_db``).

    Left alone: browser tests (one database is enough to drive chromium), tests already
    marked ``postgres`` (they name their server themselves) and tests marked ``one_db`` (pure
    computations that touch no operational database).
    """
    if "op_db" not in metafunc.fixturenames:
        return
    try:
        suite = Path(str(metafunc.definition.path)).resolve().relative_to(TESTS).parts[0]
    except ValueError:
        return
    if suite not in OP_DB_SUITES:
        return
    marks = {m.name for m in metafunc.definition.iter_markers()}
    if marks & {"browser", "postgres", "one_db"}:
        return
    metafunc.parametrize(
        "op_db",
        ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
        indirect=True,
        scope="session",
    )


@pytest.fixture(scope="session", autouse=True)
def op_db(request) -> str:
    """The operational database kind of this run: "sqlite" (default) or "postgres"."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def fresh_db_url(op_db, request) -> Callable[[Path], str]:
    """``fresh_db_url(folder)``: a fresh, empty operational database of the run's kind (a SQLite
    file in ``folder``, or a new database on the PostgreSQL server)."""
    if op_db == "sqlite":

        def sqlite_file(folder: Path) -> str:
            Path(folder).mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{Path(folder) / 'weixi.sqlite'}"

        return sqlite_file
    from tests.pgcluster import new_database

    server = request.getfixturevalue("postgres_url")
    return lambda _folder: new_database(server)


@pytest.fixture(autouse=True)
def settings(tmp_path, monkeypatch, op_db, request):
    """Point WEIXI_HOME at a fresh temp folder for every test and reset cached settings (on a
    PostgreSQL run, WEIXI_DATABASE_URL at a fresh database, dropped afterwards)."""
    from weixi import config
    from weixi.store import db

    monkeypatch.setenv("WEIXI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEIXI_ENV", "test")
    # English unless a test asks otherwise; `--lang` sets WEIXI_LANG, restored after each test.
    monkeypatch.setenv("WEIXI_LANG", "en")
    monkeypatch.delenv("WEIXI_DATABASE_URL", raising=False)
    pg_url = None
    if op_db == "postgres":
        from tests.pgcluster import new_database

        pg_url = new_database(request.getfixturevalue("postgres_url"))
        monkeypatch.setenv("WEIXI_DATABASE_URL", pg_url)
    monkeypatch.delenv("WEIXI_ANALYTICS_PATH", raising=False)
    monkeypatch.delenv("WEIXI_SECRET_KEY", raising=False)
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield config.get_settings()
    if pg_url is not None:
        from tests.pgcluster import drop_database

        db.get_engine(pg_url).dispose()
        drop_database(pg_url)
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


@pytest.fixture(scope="session")
def spark():
    """ONE real local[2] SparkSession per test session, started lazily by the first test that
    asks for it (the backend parity suite, the Spark import)."""
    from weixi.store.backends import spark_session

    session = spark_session()
    yield session
    session.stop()
    spark_session.cache_clear()
