"""The work queue: which open task a person works next, claimed atomically before it is shown.

A *claim* marks a task as on someone's screen (``claimed_by`` user, ``claim_token`` — a digest
of their login session or API token — and ``claimed_until``). Two sessions never hold the same
task: on PostgreSQL the next task is picked with ``SELECT … FOR UPDATE SKIP LOCKED``; on SQLite
one ``UPDATE … WHERE id = (SELECT … LIMIT 1) AND (unclaimed OR claim expired) RETURNING id``
runs under SQLite's single writer lock. A claim that is not worked expires after the configured
timeout and the task returns to the queue. A call-back keeps the task open but out of the queue
until its ``callback_at``; then it comes first.

Order of the queue (urgency, then value): due call-backs, then the segment priority rank (the
priority order of the segmentation preset; the seed works A1 binding-warning groups as ranks
1–12), then expected value, highest first.

Services ``flush()``; the caller commits (a claim is only visible to others once committed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from weixi.dispatch.models import Campaign, Task, TaskStatus

#: Campaign states whose lists branches and agents work.
LIVE_STATUSES = ("approved", "active")


def utcnow() -> dt.datetime:
    """Naive UTC now (what the task columns store)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Worker:
    """Whoever works a queue: a person, and the login session or API token they work from.

    ``pool_channel`` is the channel whose unassigned (pooled) tasks of the branch this worker
    may take, or None when they work only the tasks assigned to ``staff_id``.
    """

    username: str
    token: str
    branch_id: str
    staff_id: str | None
    pool_channel: str | None


def workable(worker: Worker, now: dt.datetime) -> ColumnElement[bool]:
    """Tasks ``worker`` may take now: open, in their branch, theirs or pooled, not waiting for
    a call-back, not held by someone else's live claim."""
    mine = []
    if worker.staff_id:
        mine.append(Task.staff_id == worker.staff_id)
    if worker.pool_channel:
        mine.append(and_(Task.staff_id.is_(None), Task.channel == worker.pool_channel))
    if not mine:
        return Task.id.is_(None)  # nothing: the empty queue
    return and_(
        Task.status == TaskStatus.open.value,
        Task.branch_id == worker.branch_id,
        or_(*mine),
        or_(Task.callback_at.is_(None), Task.callback_at <= now),
        or_(Task.claimed_until.is_(None), Task.claimed_until < now),
    )


def urgency_order(now: dt.datetime) -> list:
    """ORDER BY of the queue: due call-backs, priority rank, expected value, then id."""
    return [
        case((Task.callback_at <= now, 0), else_=1),
        func.coalesce(Task.priority_rank, 999_999),
        func.coalesce(Task.expected_value, 0.0).desc(),
        Task.id,
    ]


def _live_campaign() -> ColumnElement[bool]:
    return Task.campaign_id.in_(select(Campaign.id).where(Campaign.status.in_(LIVE_STATUSES)))


def _load(session: Session, task_id: int) -> Task:
    stmt = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    return session.execute(stmt).scalar_one()


def held(*, session: Session, worker: Worker, now: dt.datetime | None = None) -> Task | None:
    """The task this login session or token holds a live claim on, if any."""
    now = now or utcnow()
    # Only the claim_token index narrows this (the status index would scan every open task);
    # the status of the one or two rows found is checked here.
    rows = session.execute(
        select(Task.id, Task.status)
        .where(Task.claim_token == worker.token, Task.claimed_until >= now)
        .order_by(Task.claimed_until.desc())
    ).all()
    tid = next((r.id for r in rows if r.status == TaskStatus.open.value), None)
    return _load(session, tid) if tid is not None else None


def pick_query(worker: Worker, now: dt.datetime) -> Select:
    """The id of the next task of ``worker``'s queue (what ``claim_next`` claims; on PostgreSQL
    it runs ``FOR UPDATE SKIP LOCKED``). Served by an index: ``ix_tasks_claim`` on SQLite; on
    PostgreSQL the planner takes ``ix_tasks_queue`` or ``ix_tasks_claim`` (EXPLAIN checked in
    tests/dispatch/test_bulk_and_queue_index.py)."""
    return (
        select(Task.id)
        .where(workable(worker, now), _live_campaign())
        .order_by(*urgency_order(now))
        .limit(1)
    )


def claim_next(
    *,
    session: Session,
    worker: Worker,
    timeout: dt.timedelta,
    now: dt.datetime | None = None,
) -> Task | None:
    """Claim the next task of ``worker``'s queue (or renew the one they already hold).

    Returns None when nothing is workable. The claim lasts ``timeout``; the caller commits.
    """
    now = now or utcnow()
    until = now + timeout
    current = held(session=session, worker=worker, now=now)
    if current is not None:
        session.execute(
            update(Task)
            .where(Task.id == current.id, Task.claim_token == worker.token)
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        session.flush()
        return _load(session, current.id)
    pick = pick_query(worker, now)
    claim = dict(claimed_by=worker.username, claim_token=worker.token, claimed_until=until)
    if session.get_bind().dialect.name == "postgresql":
        tid = session.scalar(pick.with_for_update(skip_locked=True))
        if tid is None:
            return None
        session.execute(
            update(Task)
            .where(Task.id == tid)
            .values(**claim)
            .execution_options(synchronize_session=False)
        )
    else:
        # One statement: SQLite runs it under its single writer lock, and the outer
        # condition re-checks the row the sub-select picked.
        tid = session.execute(
            update(Task)
            .where(
                Task.id == pick.scalar_subquery(),
                Task.status == TaskStatus.open.value,
                or_(Task.claimed_until.is_(None), Task.claimed_until < now),
            )
            .values(**claim)
            .returning(Task.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if tid is None:
            return None
    session.flush()
    return _load(session, tid)


def release(*, session: Session, worker: Worker, task_id: int) -> bool:
    """Give back a claim this session holds (the task returns to the queue at once)."""
    n = session.execute(
        update(Task)
        .where(Task.id == task_id, Task.claim_token == worker.token)
        .values(claimed_by=None, claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    return bool(n)


def waiting(*, session: Session, worker: Worker, now: dt.datetime | None = None) -> int:
    """How many tasks are workable for ``worker`` now (besides the one they hold)."""
    now = now or utcnow()
    return int(
        session.scalar(select(func.count(Task.id)).where(workable(worker, now), _live_campaign()))
        or 0
    )


def upcoming(
    *, session: Session, worker: Worker, now: dt.datetime | None = None, limit: int = 10
) -> list[Task]:
    """The next tasks assigned to ``worker`` themselves (pooled tasks are never listed before
    they are claimed: another session may take them)."""
    if not worker.staff_id:
        return []
    now = now or utcnow()
    stmt = (
        select(Task)
        .where(workable(worker, now), _live_campaign(), Task.staff_id == worker.staff_id)
        .order_by(*urgency_order(now))
        .limit(limit)
    )
    return list(session.scalars(stmt))


def scheduled_callbacks(
    *, session: Session, worker: Worker, now: dt.datetime | None = None, limit: int = 20
) -> list[Task]:
    """Call-backs assigned to ``worker`` that are not due yet, soonest first (shown, not
    workable; a pooled task worked by an agent with a staff id is assigned to them)."""
    if not worker.staff_id:
        return []
    now = now or utcnow()
    stmt = (
        select(Task)
        .where(
            Task.status == TaskStatus.open.value,
            Task.branch_id == worker.branch_id,
            Task.staff_id == worker.staff_id,
            Task.callback_at > now,
        )
        .order_by(Task.callback_at, Task.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
