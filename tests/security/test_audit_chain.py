"""The audit log is hash-chained: edits, deletions and cut-off tails made behind weixi's back
(raw SQL with the append-only triggers dropped) are named by ``verify``; concurrent writers never
fork the chain; events of an upgraded database are chained by migration 0005."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from weixi.cli import app
from weixi.security import audit
from weixi.store.db import session_factory
from weixi.web import migrate


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def _raw(url: str, *statements: str) -> None:
    """Run SQL behind the ORM's back, with the append-only triggers dropped first."""
    engine = _engine(url)
    try:
        with engine.begin() as con:
            if con.dialect.name == "sqlite":
                con.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
                con.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
            else:
                con.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
            for stmt in statements:
                con.exec_driver_sql(stmt)
    finally:
        engine.dispose()


def _record(url: str, n: int, prefix: str = "u") -> None:
    with Session(_engine(url)) as s:
        for i in range(n):
            audit.record(
                session=s,
                action="export",
                username=f"{prefix}{i}",
                object_type="list",
                object_id=f"L{i}",
                detail={"rows": i, "note": "名单"},
            )
            s.commit()


def _verify(url: str) -> audit.ChainReport:
    engine = _engine(url)
    try:
        with Session(engine) as s:
            return audit.verify(session=s)
    finally:
        engine.dispose()


def _check_tamper(url: str) -> None:
    migrate.upgrade(url)
    _record(url, 10)
    report = _verify(url)
    assert report.ok and report.count == 10 and report.head_id == 10
    assert len(report.head_hash) == 64

    _raw(url, "UPDATE audit_events SET detail = '{\"rows\": 999}' WHERE id = 4")
    report = _verify(url)
    assert not report.ok
    assert (report.broken_id, report.reason, report.count) == (4, "content_changed", 3)


def _check_delete_and_tail(url: str) -> None:
    migrate.upgrade(url)
    _record(url, 8)
    _raw(url, "DELETE FROM audit_events WHERE id = 5")
    report = _verify(url)
    assert (report.ok, report.broken_id, report.reason) == (False, 6, "link_broken")


def test_edit_is_named(tmp_path, fresh_db_url):
    _check_tamper(fresh_db_url(tmp_path))


def test_delete_and_cut_tail_are_named(tmp_path, fresh_db_url):
    url = fresh_db_url(tmp_path / "a")
    _check_delete_and_tail(url)
    url2 = fresh_db_url(tmp_path / "b")
    migrate.upgrade(url2)
    _record(url2, 8)
    _raw(url2, "DELETE FROM audit_events WHERE id >= 7")  # cut the tail: the chain itself holds
    report = _verify(url2)
    assert (report.ok, report.broken_id, report.reason) == (False, 7, "head_mismatch")


def _check_concurrent(url: str, threads: int = 4, each: int = 25) -> None:
    migrate.upgrade(url)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            _record(url, each, prefix=f"t{k}-")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors
    report = _verify(url)
    assert report.ok and report.count == threads * each


def test_concurrent_writers_do_not_fork(tmp_path, fresh_db_url):
    _check_concurrent(fresh_db_url(tmp_path))


def test_upgrade_chains_existing_events(tmp_path, fresh_db_url):
    url = fresh_db_url(tmp_path)
    migrate.upgrade(url, "0002")
    engine = _engine(url)
    with engine.begin() as con:  # events written before the chain existed
        for i in range(5):
            con.execute(
                sa.text(
                    "INSERT INTO audit_events (at, user_id, username, role, branch_id, action, "
                    "object_type, object_id, detail, ip) VALUES (:at, NULL, :u, '', NULL, "
                    "'login', '', '', '{}', '10.0.0.1')"
                ),
                {"at": dt.datetime(2026, 1, 1, 8, 0, i, 1234 * i), "u": f"old{i}"},
            )
    engine.dispose()
    migrate.upgrade(url)
    report = _verify(url)
    assert report.ok and report.count == 5
    _record(url, 3)  # new events continue the migrated chain
    report = _verify(url)
    assert report.ok and report.count == 8 and report.head_id == 8
    _raw(url, "UPDATE audit_events SET username = 'someone_else' WHERE id = 2")
    assert _verify(url).broken_id == 2
    # downgrade drops the chain and keeps the append-only triggers
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "0002")
    engine = _engine(url)
    with engine.connect() as con:
        cols = {c["name"] for c in sa.inspect(con).get_columns("audit_events")}
        assert "hash" not in cols
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            con.exec_driver_sql("DELETE FROM audit_events")
    engine.dispose()


def test_cli_verify_ok_and_broken(settings):
    migrate.upgrade()
    s = session_factory()()
    audit.record(session=s, action="login", username="alice")
    audit.record(session=s, action="logout", username="alice")
    s.commit()
    s.close()
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["events"] == 2
    _raw(settings.db_url, "UPDATE audit_events SET action = 'unmask' WHERE id = 1")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "event 1" in result.stderr and "content_changed" in result.stderr
