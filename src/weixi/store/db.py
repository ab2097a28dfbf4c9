"""The operational database (users, campaigns, tasks, outcomes, audit): SQLAlchemy 2.

SQLite by default, PostgreSQL through ``WEIXI_DATABASE_URL``. The schema is owned by Alembic
migrations (``migrations/``); ``Base.metadata`` is what they are generated from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from weixi.config import get_settings


class Base(DeclarativeBase):
    """Declarative base of every ORM model."""


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """Return a (cached) engine for ``url`` or the configured database."""
    url = url or get_settings().db_url
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Writers queue for SQLite's single write lock instead of failing after the
        # driver's default 5 s ("database is locked") when many requests write at once.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_con, _record):  # pragma: no cover - trivial
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

    return engine


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """Return a sessionmaker bound to the engine for ``url``."""
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error (for jobs and CLI)."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
