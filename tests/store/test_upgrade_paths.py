"""`weixi db upgrade` from every released schema revision of the operational database, on
SQLite and on a real PostgreSQL server: each ends at the head with the same tables, columns
and indexes as a fresh install."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from weixi.web import migrate


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _shape(url: str) -> dict[str, tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            insp = sa.inspect(con)
            return {
                t: (
                    sorted(c["name"] for c in insp.get_columns(t)),
                    sorted(i["name"] for i in insp.get_indexes(t)),
                )
                for t in insp.get_table_names()
                if t != "alembic_version"
            }
    finally:
        engine.dispose()


def _upgrade_cli(url: str, monkeypatch) -> dict:
    from weixi import config
    from weixi.cli import app

    monkeypatch.setenv("WEIXI_DATABASE_URL", url)
    config.get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check_every_path(new_url, monkeypatch) -> None:
    revisions = _revisions()
    assert revisions[0] == "0001" and len(revisions) >= 9
    head = revisions[-1]
    fresh = new_url("fresh")
    migrate.upgrade(fresh)
    expected = _shape(fresh)
    for rev in revisions[:-1]:
        url = new_url(f"from_{rev}")
        migrate.upgrade(url, rev)
        assert migrate.current(url) == rev
        _upgrade_cli(url, monkeypatch)
        assert migrate.current(url) == head, rev
        assert _shape(url) == expected, rev


def test_db_upgrade_from_every_revision_on_sqlite(tmp_path, monkeypatch):
    _check_every_path(lambda name: f"sqlite:///{tmp_path / name}.sqlite", monkeypatch)


@pytest.mark.postgres
def test_db_upgrade_from_every_revision_on_postgres(postgres_url, monkeypatch):
    import psycopg

    base = sa.engine.make_url(postgres_url)

    def new_url(name: str) -> str:
        with psycopg.connect(
            f"host={base.host} port={base.port} user={base.username} dbname=postgres",
            autocommit=True,
        ) as con:
            con.execute(f"CREATE DATABASE weixi_up_{name}")
        return base.set(database=f"weixi_up_{name}").render_as_string(hide_password=False)

    _check_every_path(new_url, monkeypatch)
