"""Revisions 0002 (``tasks.reason_zh``) and 0003 (work-queue claims, call-backs, version)
upgrade a database with tasks in place and downgrade, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session, load_only

from weixi.dispatch.models import Task
from weixi.web import migrate


def _columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            return {c["name"] for c in sa.inspect(con).get_columns(table)}
    finally:
        engine.dispose()


def _add_task_at_0001(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:
            md = sa.MetaData()
            campaigns = sa.Table("campaigns", md, autoload_with=con)
            tasks = sa.Table("tasks", md, autoload_with=con)
            now = dt.datetime(2026, 1, 5, 8, 0)
            cid = con.execute(
                campaigns.insert().values(
                    key="old",
                    name_en="Old",
                    name_zh="旧",
                    status="approved",
                    period_start=dt.date(2026, 1, 1),
                    period_end=dt.date(2026, 1, 1),
                    control_share=0.1,
                    salt="s",
                    channels=["call_center"],
                    actions=["care_call"],
                    spec={},
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            con.execute(
                tasks.insert().values(
                    campaign_id=cid,
                    month=dt.date(2026, 1, 1),
                    subscriber_id="S1",
                    branch_id="HZ",
                    channel="call_center",
                    action="care_call",
                    reason="P(churn) 40%",
                    status="open",
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        engine.dispose()


def _check_0002(url: str) -> None:
    migrate.upgrade(url, "0001")
    assert "reason_zh" not in _columns(url, "tasks")
    _add_task_at_0001(url)
    migrate.upgrade(url, "0002")
    assert migrate.current(url) == "0002" and "reason_zh" in _columns(url, "tasks")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:  # the task written before 0002 is kept, without Chinese
            assert con.execute(sa.text("SELECT reason_zh FROM tasks")).scalar_one() is None
    finally:
        engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0001")
    assert "reason_zh" not in _columns(url, "tasks") and migrate.current(url) == "0001"
    migrate.upgrade(url, "0002")
    assert "reason_zh" in _columns(url, "tasks")
    _check_0003(url)


CLAIM_COLUMNS = {"claimed_by", "claim_token", "claimed_until", "callback_at", "version"}


def _check_0003(url: str) -> None:
    """At 0002 the task took a call-back outcome; 0003 keeps its time on the task."""
    engine = sa.create_engine(url)
    when = dt.datetime(2026, 1, 9, 15, 0)
    try:
        with engine.begin() as con:
            md = sa.MetaData()
            outcomes = sa.Table("outcomes", md, autoload_with=con)
            tid = con.execute(sa.text("SELECT id FROM tasks")).scalar_one()
            con.execute(
                outcomes.insert().values(
                    task_id=tid,
                    result="call_back",
                    callback_at=when,
                    source="web",
                    recorded_at=dt.datetime(2026, 1, 8),
                )
            )
    finally:
        engine.dispose()
    assert not CLAIM_COLUMNS & _columns(url, "tasks")
    migrate.upgrade(url, "0003")
    assert migrate.current(url) == "0003" and _columns(url, "tasks") >= CLAIM_COLUMNS
    engine = sa.create_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            # only the columns that exist at 0003 (later revisions add more to the model)
            cols = (Task.id, Task.callback_at, Task.version, Task.claimed_by, Task.reason)
            task = s.scalars(sa.select(Task).options(load_only(*cols, Task.reason_zh))).one()
            assert task.callback_at == when and task.version == 0 and task.claimed_by is None
            assert task.reason_in("zh-CN") == task.reason_in("en") == "P(churn) 40%"
            task.reason_zh = "离网概率 40%"
            s.commit()
            assert task.reason_in("zh-CN") == "离网概率 40%"
    finally:
        engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0002")
    assert not CLAIM_COLUMNS & _columns(url, "tasks") and migrate.current(url) == "0002"
    migrate.upgrade(url)
    assert _columns(url, "tasks") >= CLAIM_COLUMNS


def test_sqlite_0002_upgrades_in_place_and_downgrades(tmp_path):
    _check_0002(f"sqlite:///{tmp_path / 'weixi.sqlite'}")


def test_sqlite_0004_adds_the_jobs_table_and_drops_it_on_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'weixi.sqlite'}"
    migrate.upgrade(url, "0003")
    assert "jobs" not in sa.inspect(sa.create_engine(url)).get_table_names()
    migrate.upgrade(url, "0004")
    assert {"id", "kind", "status", "stage", "progress", "result", "error"} <= _columns(url, "jobs")
    command.downgrade(migrate.alembic_config(url), "0003")
    assert "jobs" not in sa.inspect(sa.create_engine(url)).get_table_names()


@pytest.mark.postgres
def test_postgres_0002_upgrades_in_place_and_downgrades(postgres_url):
    import psycopg

    url = sa.engine.make_url(postgres_url)
    with psycopg.connect(
        f"host={url.host} port={url.port} user={url.username} dbname=postgres", autocommit=True
    ) as con:
        con.execute("CREATE DATABASE weixi_migrations")
    _check_0002(url.set(database="weixi_migrations").render_as_string(hide_password=False))


def test_sqlite_0007_adds_the_complaint_tables_and_drops_them_on_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'weixi.sqlite'}"
    migrate.upgrade(url, "0007")
    assert {"subscriber_id", "status", "category", "deadline", "escalation_level"} <= _columns(
        url, "complaints"
    )
    assert {"complaint_id", "from_status", "to_status", "by", "note"} <= _columns(
        url, "complaint_steps"
    )
    command.downgrade(migrate.alembic_config(url), "0006")
    names = sa.inspect(sa.create_engine(url)).get_table_names()
    assert "complaints" not in names and "complaint_steps" not in names


def test_sqlite_0009_adds_the_task_group_and_drops_it_on_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'weixi.sqlite'}"
    migrate.upgrade(url, "0009")
    assert "group_id" in _columns(url, "tasks")
    indexes = {i["name"] for i in sa.inspect(sa.create_engine(url)).get_indexes("tasks")}
    assert "ix_tasks_group" in indexes
    command.downgrade(migrate.alembic_config(url), "0008")
    assert "group_id" not in _columns(url, "tasks")


def _check_0011(url: str) -> None:
    """0011 back-fills the outcome summary of a task written before it and its cell, keeps them
    from then on, and is undone by its downgrade."""
    from weixi.dispatch import cells

    migrate.upgrade(url, "0010")
    _add_task_at_0001(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:
            tid = con.execute(sa.text("SELECT id FROM tasks")).scalar_one()
            con.execute(
                sa.text(
                    "INSERT INTO outcomes (task_id, result, source, recorded_at)"
                    " VALUES (:t, 'refused', 'web', '2026-01-08')"
                ),
                {"t": tid},
            )
        migrate.upgrade(url, "0011")
        with Session(engine) as s:
            row = s.execute(
                sa.text("SELECT last_result, attempts, reached_any, accepted_any FROM tasks")
            ).one()
            assert tuple(row) == ("refused", 1, 1, 0)
            cell = s.execute(sa.text("SELECT tasks, worked, refused FROM task_cells")).one()
            assert tuple(cell) == (1, 1, 1)
            day = s.execute(sa.text("SELECT branch_id, result, outcomes FROM outcome_days")).one()
            assert tuple(day) == ("HZ", "refused", 1)
            s.execute(
                sa.text(
                    "INSERT INTO outcomes (task_id, result, source, recorded_at)"
                    " VALUES (:t, 'accepted', 'web', '2026-01-09')"
                ),
                {"t": tid},
            )
            s.execute(sa.text("UPDATE tasks SET staff_id = 'HZCC0002'"))
            s.commit()
            assert cells.differences(s) == []
            cell = s.execute(
                sa.text("SELECT staff_id, accepted, attempts FROM task_cells WHERE tasks > 0")
            ).one()
            assert tuple(cell) == ("HZCC0002", 1, 2)
    finally:
        engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0010")
    assert "last_result" not in _columns(url, "tasks") and migrate.current(url) == "0010"
    names = sa.inspect(sa.create_engine(url)).get_table_names()
    assert "task_cells" not in names and "outcome_days" not in names
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:  # no trigger is left behind
            con.execute(sa.text("UPDATE tasks SET staff_id = 'HZCC0003'"))
            con.execute(sa.text("DELETE FROM outcomes"))
    finally:
        engine.dispose()
    migrate.upgrade(url)
    assert "last_result" in _columns(url, "tasks")
    # at head the triggers still keep the figures (a later revision copying ``tasks`` on
    # SQLite would have dropped them)
    engine = sa.create_engine(url)
    try:
        with Session(engine) as s:
            s.execute(
                sa.text(
                    "INSERT INTO outcomes (task_id, result, source, recorded_at)"
                    " VALUES (:t, 'refused', 'web', '2026-01-10')"
                ),
                {"t": tid},
            )
            s.execute(sa.text("UPDATE tasks SET staff_id = 'HZCC0004', status = 'dropped'"))
            s.commit()
            assert cells.differences(s) == []
            kept = s.execute(sa.text("SELECT sum(tasks), sum(worked) FROM task_cells")).one()
            assert tuple(kept) == (1, 1)
    finally:
        engine.dispose()


def test_sqlite_0011_keeps_task_cells_and_drops_them_on_downgrade(tmp_path):
    _check_0011(f"sqlite:///{tmp_path / 'weixi.sqlite'}")


@pytest.mark.postgres
def test_postgres_0011_keeps_task_cells_and_drops_them_on_downgrade(postgres_url):
    from tests.pgcluster import drop_database, new_database

    url = new_database(postgres_url)
    try:
        _check_0011(url)
    finally:
        drop_database(url)


@pytest.mark.postgres
def test_postgres_0012_groups_the_task_cell_moves_per_statement_and_downgrades(postgres_url):
    """0012: the cells follow task updates by a statement trigger (one grouped upsert per
    statement); its downgrade brings back 0011's row trigger; both keep the cells exact."""
    from tests.pgcluster import drop_database, new_database
    from weixi.dispatch import cells

    url = new_database(postgres_url)
    try:
        migrate.upgrade(url, "0001")
        _add_task_at_0001(url)
        engine = sa.create_engine(url)

        def trigger() -> tuple:
            with engine.connect() as con:
                return con.execute(
                    sa.text(
                        "SELECT action_orientation, action_timing FROM information_schema.triggers"
                        " WHERE trigger_name = 'task_cells_update'"
                    )
                ).first()

        def write_and_check(staff: str, result: str) -> None:
            with Session(engine) as s:
                tid = s.execute(sa.text("SELECT id FROM tasks")).scalar_one()
                s.execute(
                    sa.text(
                        "INSERT INTO outcomes (task_id, result, source, recorded_at)"
                        " VALUES (:t, :r, 'web', '2026-01-10')"
                    ),
                    {"t": tid, "r": result},
                )
                s.execute(sa.text("UPDATE tasks SET staff_id = :s"), {"s": staff})
                s.execute(sa.text("UPDATE tasks SET claimed_by = NULL"))  # moves nothing
                s.commit()
                assert cells.differences(s) == []

        try:
            migrate.upgrade(url)
            assert tuple(trigger()) == ("STATEMENT", "AFTER")
            write_and_check("HZCC0002", "refused")
            command.downgrade(migrate.alembic_config(url), "0011")
            assert tuple(trigger()) == ("ROW", "AFTER")
            write_and_check("HZCC0003", "accepted")
            migrate.upgrade(url)
            assert tuple(trigger()) == ("STATEMENT", "AFTER")
            write_and_check("HZCC0004", "call_back")
        finally:
            engine.dispose()
    finally:
        drop_database(url)
