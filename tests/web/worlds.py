"""Throw-away operational databases for the work-queue tests: SQLite or the real PostgreSQL
fixture, migrated with Alembic, the test users, a live campaign and tasks written through the
ORM, and an app serving them over the shared analytics store."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
from sqlalchemy import func, select

from tests.web.conftest import BRANCH, OTHER_BRANCH, make_users
from weixi.config import Settings
from weixi.dispatch.models import Campaign, ContactLog, Outcome, Task
from weixi.store.db import session_scope
from weixi.web import migrate

MONTH = dt.date(2025, 12, 1)
TASK_RE = re.compile(r'action="/queue/(\d+)/outcome"')
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def new_db_url(kind: str, tmp: Path, postgres_url: str | None) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'weixi.sqlite'}"
    from tests.pgcluster import new_database

    assert postgres_url is not None
    return new_database(postgres_url)


@dataclass
class World:
    """One database + app: the settings, the app and the campaign tasks are written to."""

    settings: Settings
    app: object
    campaign_id: int

    @property
    def url(self) -> str:
        return self.settings.db_url

    def add_tasks(self, rows: list[dict]) -> list[int]:
        """Insert tasks of the live campaign (defaults: pooled call-centre tasks of BRANCH)."""
        with session_scope(self.url) as s:
            tasks = [
                Task(
                    campaign_id=self.campaign_id,
                    month=MONTH,
                    subscriber_id=r["subscriber_id"],
                    branch_id=r.get("branch_id", BRANCH),
                    channel=r.get("channel", "call_center"),
                    staff_id=r.get("staff_id"),
                    action=r.get("action", "care_call"),
                    priority_rank=r.get("priority_rank"),
                    expected_value=r.get("expected_value", 10.0),
                    p_churn=r.get("p_churn", 0.2),
                    reason="test task",
                    reason_zh="测试任务",
                    status="open",
                    claimed_by=r.get("claimed_by"),
                    claim_token=r.get("claim_token"),
                    claimed_until=r.get("claimed_until"),
                    callback_at=r.get("callback_at"),
                )
                for r in rows
            ]
            s.add_all(tasks)
            s.flush()
            return [t.id for t in tasks]

    def counts(self, task_ids: list[int]) -> dict[str, object]:
        """Outcomes per task, contact-log rows and task statuses of ``task_ids``."""
        with session_scope(self.url) as s:
            per_task = dict(
                s.execute(
                    select(Outcome.task_id, func.count(Outcome.id))
                    .where(Outcome.task_id.in_(task_ids))
                    .group_by(Outcome.task_id)
                ).all()
            )
            contacts = s.scalar(
                select(func.count(ContactLog.id)).where(ContactLog.task_id.in_(task_ids))
            )
            statuses = dict(
                s.execute(
                    select(Task.status, func.count(Task.id))
                    .where(Task.id.in_(task_ids))
                    .group_by(Task.status)
                ).all()
            )
        return {"per_task": per_task, "contacts": contacts, "statuses": statuses}


def build_world(db_url: str, home: Path, store_path: Path, **overrides) -> World:
    """Migrate ``db_url`` to head, create the test users and a live campaign, build the app."""
    from weixi.web.app import create_app

    migrate.upgrade(db_url)
    make_users(db_url)
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store_path,
        database_url=db_url,
        secret_key="queue-test-secret-key",
        **overrides,
    )
    with session_scope(db_url) as s:
        c = Campaign(
            key=f"queue-{uuid.uuid4().hex[:6]}",
            name_en="Queue test",
            name_zh="队列测试",
            status="active",
            period_start=MONTH,
            period_end=MONTH,
            salt="s",
            channels=["call_center", "account_manager"],
            actions=[],
            spec={},
        )
        s.add(c)
        s.flush()
        cid = c.id
    return World(settings=settings, app=create_app(settings), campaign_id=cid)


def branch_subscribers(store_path: Path, branch: str = BRANCH, n: int = 50) -> list[str]:
    """Real subscriber ids of ``branch`` in the latest month of the test store."""
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        rows = con.execute(
            """SELECT subscriber_id FROM snapshot
               WHERE branch_id = ? AND month = (SELECT max(month) FROM snapshot)
                 AND phone IS NOT NULL ORDER BY subscriber_id LIMIT ?""",
            [branch, n],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


__all__ = [
    "BRANCH",
    "CSRF_RE",
    "OTHER_BRANCH",
    "TASK_RE",
    "World",
    "branch_subscribers",
    "build_world",
    "new_db_url",
]
