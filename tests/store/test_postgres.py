"""The operational database on PostgreSQL and SQLite: Alembic ``upgrade head`` matches the ORM,
and the auth and append-only audit services behave the same on both."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session

from tests.web.test_auth import check_auth_and_audit
from weixi.web import migrate
from weixi.web.orm import import_all


def _upgrade_and_check(url: str) -> None:
    migrate.upgrade(url)
    assert migrate.current(url) is not None
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            diff = compare_metadata(MigrationContext.configure(con), import_all())
            tables = set(inspect(con).get_table_names())
        assert not diff, f"the migrations lag behind the ORM models: {diff}"
        assert {"users", "audit_events", "campaigns", "tasks", "outcomes"} <= tables
        with Session(engine) as s:
            check_auth_and_audit(s)
    finally:
        engine.dispose()


def test_sqlite_upgrade_head_and_services(tmp_path):
    _upgrade_and_check(f"sqlite:///{tmp_path / 'weixi.sqlite'}")


@pytest.mark.postgres
def test_postgres_upgrade_head_and_services(postgres_url):
    _upgrade_and_check(postgres_url)
    migrate.upgrade(postgres_url)  # idempotent


RELEASED = ["0001", "0002", "0003", "0004", "0005"]


@pytest.mark.postgres
@pytest.mark.parametrize("start", RELEASED)
def test_postgres_cli_upgrade_from_every_released_version(postgres_url, monkeypatch, start):
    """A database left at each released schema version is brought to head by
    ``weixi db upgrade`` and then matches the ORM models."""
    import json

    from typer.testing import CliRunner

    from tests.pgcluster import drop_database, new_database
    from weixi import config
    from weixi.cli import app

    url = new_database(postgres_url)
    try:
        migrate.upgrade(url, start)
        assert migrate.current(url) == start
        monkeypatch.setenv("WEIXI_DATABASE_URL", url)
        config.get_settings.cache_clear()
        result = CliRunner().invoke(app, ["db", "upgrade", "--json"])
        assert result.exit_code == 0, result.output
        head = json.loads(result.stdout)["revision"]
        from alembic.script import ScriptDirectory

        newest = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
        assert head == migrate.current(url) == newest
        engine = create_engine(url)
        try:
            with engine.connect() as con:
                diff = compare_metadata(MigrationContext.configure(con), import_all())
        finally:
            engine.dispose()
        assert not diff, f"{start} → head differs from the ORM: {diff}"
    finally:
        config.get_settings.cache_clear()
        drop_database(url)
