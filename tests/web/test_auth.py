"""Accounts, passwords, lock-out, sessions, tokens and the append-only audit log (on SQLite and
PostgreSQL: ``op_db``)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from weixi.auth import service
from weixi.auth.models import AuditEvent, utcnow
from weixi.auth.passwords import hash_password, verify_password
from weixi.errors import ConfigError, PermissionDenied
from weixi.security import audit
from weixi.store.db import session_factory
from weixi.web.orm import import_all

PW = "Correct-horse-9"


@pytest.fixture
def db(settings):
    from weixi.store.db import get_engine

    import_all().create_all(get_engine(settings.db_url))
    s = session_factory(settings.db_url)()
    yield s
    s.close()


def check_auth_and_audit(s) -> None:
    """The service behaviour, shared with the PostgreSQL test."""
    u = service.create(
        session=s, username="hz_mgr", password=PW, role="branch_manager", branch_id="HZ"
    )
    s.commit()
    assert u.password_hash.startswith("$argon2id$") and PW not in u.password_hash
    assert service.authenticate(session=s, username="hz_mgr", password=PW).id == u.id
    for _ in range(4):
        with pytest.raises(PermissionDenied, match="wrong username or password"):
            service.authenticate(session=s, username="hz_mgr", password="bad-pass-1")
    with pytest.raises(PermissionDenied, match="locked"):
        service.authenticate(session=s, username="hz_mgr", password="bad-pass-1")
    # even the right password is refused while locked
    with pytest.raises(PermissionDenied, match="locked"):
        service.authenticate(session=s, username="hz_mgr", password=PW)
    later = utcnow() + service.LOCKOUT + dt.timedelta(seconds=1)
    assert service.authenticate(session=s, username="hz_mgr", password=PW, now=later)
    s.commit()
    actions = [e.action for e in audit.get_all(session=s, flt=audit.AuditFilter(username="hz_mgr"))]
    # 5 wrong passwords + 1 attempt while locked
    assert actions.count("login_failed") == 6 and "locked_out" in actions
    assert audit.count(session=s, flt=audit.AuditFilter(action="locked_out")) == 1

    token = service.start_session(session=s, user=u)
    assert service.get_session_user(session=s, token=token).id == u.id
    service.end_session(session=s, token=token)
    assert service.get_session_user(session=s, token=token) is None
    api = service.create_api_token(session=s, user=u, name="dialer")
    assert service.get_token_user(session=s, token=api).username == "hz_mgr"
    assert service.get_token_user(session=s, token=api + "x") is None
    s.commit()

    # append-only: the ORM refuses updates and deletes, and so does the database
    ev = audit.record(session=s, action="unmask", user=u, object_type="customer", object_id="S1")
    s.commit()
    ev.action = "login"
    with pytest.raises(PermissionDenied, match="append-only"):
        s.flush()
    s.rollback()
    s.delete(s.get(AuditEvent, ev.id))
    with pytest.raises(PermissionDenied, match="append-only"):
        s.flush()
    s.rollback()
    with pytest.raises(PermissionDenied):
        s.execute(update(AuditEvent).values(action="x"))
    s.rollback()
    with pytest.raises(PermissionDenied):
        s.execute(delete(AuditEvent))
    s.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        s.execute(text("UPDATE audit_events SET action = 'x'"))
    s.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        s.execute(text("DELETE FROM audit_events"))
    s.rollback()
    assert s.get(AuditEvent, ev.id).action == "unmask"


def test_auth_and_audit(db):
    check_auth_and_audit(db)


def test_passwords_are_argon2_and_checked():
    h = hash_password(PW)
    assert h.startswith("$argon2id$") and verify_password(h, PW) and not verify_password(h, "x")
    for weak in ("short1", "onlyletters", "1234567890"):
        with pytest.raises(ConfigError):
            hash_password(weak)


def test_create_validates_role_and_branch(db):
    with pytest.raises(ConfigError, match="unknown role"):
        service.create(session=db, username="x", password=PW, role="boss")
    with pytest.raises(ConfigError, match="one branch"):
        service.create(session=db, username="x", password=PW, role="agent")
    with pytest.raises(ConfigError, match="province-wide"):
        service.create(session=db, username="x", password=PW, role="planner", branch_id="HZ")
    service.create(session=db, username="x", password=PW, role="analyst")
    with pytest.raises(ConfigError, match="already exists"):
        service.create(session=db, username="x", password=PW, role="analyst")


def test_unknown_user_is_audited_without_revealing(db):
    with pytest.raises(PermissionDenied, match="wrong username or password"):
        service.authenticate(session=db, username="ghost", password=PW)
    ev = audit.get_all(session=db)[0]
    assert ev.action == "login_failed" and ev.username == "ghost" and ev.user_id is None
