"""Every foreign key of the operational database is the leading column of an index, in the
models and in a migrated database (SQLite and PostgreSQL): deleting a parent row (a re-plan
deletes a month's open tasks) must not scan a child table once per deleted row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from weixi.web import migrate
from weixi.web.orm import import_all


def _unindexed(url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            insp = sa.inspect(con)
            out = []
            for table in insp.get_table_names():
                leading = {i["column_names"][0] for i in insp.get_indexes(table)}
                leading |= {u["column_names"][0] for u in insp.get_unique_constraints(table)}
                pk = insp.get_pk_constraint(table)["constrained_columns"]
                leading |= set(pk[:1])
                for fk in insp.get_foreign_keys(table):
                    if fk["constrained_columns"][0] not in leading:
                        out.append((table, fk["constrained_columns"][0]))
            return sorted(out)
    finally:
        engine.dispose()


def test_every_foreign_key_of_the_models_is_indexed():
    missing = []
    for table in import_all().sorted_tables:
        leading = {next(iter(i.columns)).name for i in table.indexes}
        leading |= {next(iter(table.primary_key.columns)).name}
        for fk in table.foreign_keys:
            if fk.parent.name not in leading:
                missing.append((table.name, fk.parent.name))
    assert missing == []


def test_every_foreign_key_of_a_migrated_sqlite_database_is_indexed(tmp_path):
    url = f"sqlite:///{tmp_path / 'weixi.sqlite'}"
    migrate.upgrade(url)
    assert _unindexed(url) == []
    before = f"sqlite:///{tmp_path / 'at_0009.sqlite'}"  # the revision before their indexes
    migrate.upgrade(before, "0009")
    assert _unindexed(before) == [("contact_log", "campaign_id"), ("contact_log", "task_id")]


@pytest.mark.postgres
def test_every_foreign_key_of_a_migrated_postgres_database_is_indexed(postgres_url):
    migrate.upgrade(postgres_url)
    assert _unindexed(postgres_url) == []
