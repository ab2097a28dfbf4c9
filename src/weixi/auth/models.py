"""ORM models of accounts, roles, login sessions, API tokens and the append-only audit log."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    DDL,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from weixi.errors import PermissionDenied
from weixi.store.db import Base


def utcnow() -> dt.datetime:
    """Naive UTC now: SQLite and PostgreSQL then compare the same way."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Role(StrEnum):
    """The six roles of SPEC.md "Who uses it"."""

    admin = "admin"  # user accounts, audit log; sees no personal data
    planner = "planner"  # province retention planner (营销策划)
    branch_manager = "branch_manager"  # city branch (地市分公司)
    account_manager = "account_manager"  # 客户经理
    agent = "agent"  # outbound call-center agent (外呼)
    analyst = "analyst"  # dashboards and reports; never personal data


ALL_ROLES: tuple[Role, ...] = tuple(Role)
#: Roles tied to one branch: they only ever see that branch's customers.
BRANCH_ROLES = frozenset({Role.branch_manager, Role.account_manager, Role.agent})
#: Roles that contact customers and may unmask phone/name/ID (every unmask is audited).
UNMASK_ROLES = frozenset({Role.branch_manager, Role.account_manager, Role.agent})


class User(Base):
    """A person who logs in to the web app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def can_unmask(self) -> bool:
        return self.role in UNMASK_ROLES

    @property
    def scope_branch(self) -> str | None:
        """The branch this user is limited to, or None for a province-wide user."""
        return self.branch_id


class UserSession(Base):
    """A login session; the cookie carries the signed token, the table keeps only its hash."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)

    user: Mapped[User] = relationship(back_populates="sessions")


class ApiToken(Base):
    """A bearer token for machine clients (dialer, SMS gateway) posting outcomes."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship()


class AuditEvent(Base):
    """One line of the append-only audit log (unmasks, exports, logins, account changes).

    Rows are never updated or deleted: the ORM refuses it (see ``weixi.security.audit``) and
    database triggers refuse it too, so a raw SQL ``UPDATE``/``DELETE`` fails as well.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(32), default="")
    branch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    object_type: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Hash chain (tamper evidence, see ``weixi.security.audit``): the SHA-256 of the previous
    # event and of this event's canonical content, which includes ``prev_hash``. Nullable only
    # because SQLite cannot add a NOT NULL column in place; every written row has both.
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)


class AuditChainHead(Base):
    """The one-row head of the audit hash chain: the last event's id and hash.

    Every :func:`weixi.security.audit.record` first updates this row, which takes the database's
    write lock (SQLite) or the row lock (PostgreSQL) until commit, so concurrent writers append
    one after the other and can never fork the chain.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


# Database-level append-only guard. The same statements run in the Alembic migration.
SQLITE_AUDIT_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)
POSTGRES_AUDIT_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
)


def audit_trigger_statements(dialect: str) -> tuple[str, ...]:
    """Return the DDL that makes ``audit_events`` append-only on ``dialect``."""
    if dialect == "sqlite":
        return SQLITE_AUDIT_TRIGGERS
    if dialect == "postgresql":
        return POSTGRES_AUDIT_TRIGGERS
    return ()


#: ``prev_hash`` of the first event (no event before it).
AUDIT_GENESIS = "0" * 64
#: The head row every database starts with: no event yet.
AUDIT_HEAD_SEED = (
    f"INSERT INTO audit_chain_head (id, last_id, last_hash) VALUES (1, 0, '{AUDIT_GENESIS}')"
)
event.listen(AuditChainHead.__table__, "after_create", DDL(AUDIT_HEAD_SEED))

for _dialect in ("sqlite", "postgresql"):
    for _stmt in audit_trigger_statements(_dialect):
        event.listen(AuditEvent.__table__, "after_create", DDL(_stmt).execute_if(dialect=_dialect))


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _ctx, _instances) -> None:
    """Refuse to flush an update or delete of an audit row (the log is append-only)."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise PermissionDenied("the audit log is append-only: rows cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state) -> None:
    """Refuse ORM-enabled bulk ``update()``/``delete()`` statements on the audit log."""
    if state.is_update or state.is_delete:
        for mapper in state.all_mappers:
            if mapper.class_ is AuditEvent:
                raise PermissionDenied("the audit log is append-only: rows cannot be changed")
