"""Who may act on which task and unmask which customer: the one authorization function that the
pages, the JSON API and outcome files all call (least privilege).

Roles first (``weixi.web.nav.ACCESS`` decides who may open a route at all), then ownership:

============== ============================================ ===================================
role           tasks they may record outcomes on            customers they may unmask
============== ============================================ ===================================
planner        any task (province-wide)                     none (role)
branch_manager any task of their branch                     any customer of their branch
account_mgr    tasks assigned to their staff id (their      customers of their book (a task
               book)                                        assigned to them, not dropped)
agent          tasks assigned to their staff id, and        customers of an open task assigned
               pooled call-centre tasks they claimed        to them or claimed by them
admin, analyst none (role)                                  none (role)
============== ============================================ ===================================

Outside that scope the answer is "not found" (404), as for another branch: the object's
existence is not revealed. Whether the task still takes an outcome (open, not claimed by
someone else, call-back due) is the dispatch domain's rule, a 409 (``record_outcome``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from weixi.auth.models import UNMASK_ROLES, Role, User
from weixi.dispatch.models import Task, TaskStatus
from weixi.dispatch.queue import LIVE_STATUSES, Worker, utcnow
from weixi.errors import NotFoundError, PermissionDenied

#: Roles that record outcomes (pages, API or files).
OUTCOME_ROLES = frozenset({Role.planner, Role.branch_manager, Role.account_manager, Role.agent})
#: The pooled channel each front-line role may take tasks from (account managers have a book).
POOL_CHANNEL = {Role.agent.value: "call_center"}


def worker(user: User, token: str) -> Worker:
    """The queue ``user`` works from the login session or API token digested in ``token``."""
    return Worker(
        username=user.username,
        token=token,
        branch_id=user.branch_id or "",
        staff_id=user.staff_id,
        pool_channel=POOL_CHANNEL.get(user.role),
    )


def task_in_scope(user: User, task: Task | None, *, now: dt.datetime | None = None) -> bool:
    """True when ``user``'s role and ownership let them record an outcome on ``task``."""
    if task is None or Role(user.role) not in OUTCOME_ROLES:
        return False
    if user.scope_branch is not None and task.branch_id != user.branch_id:
        return False
    if user.role in (Role.planner.value, Role.branch_manager.value):
        return True
    if user.staff_id and task.staff_id == user.staff_id:
        return True  # assigned: an account manager's book, an agent's own list
    pool = POOL_CHANNEL.get(user.role)
    return bool(
        pool
        and task.staff_id is None
        and task.channel == pool
        and task.claimed_by == user.username  # claimed through the queue (any of their sessions)
    )


def scope_condition(user: User) -> ColumnElement[bool]:
    """:func:`task_in_scope` as a SQL condition on ``Task`` (bulk paths: outcome files)."""
    if Role(user.role) not in OUTCOME_ROLES:
        return false()
    branch = [Task.branch_id == user.branch_id] if user.scope_branch is not None else []
    if user.role in (Role.planner.value, Role.branch_manager.value):
        return and_(true(), *branch)
    own = [Task.staff_id == user.staff_id] if user.staff_id else []
    pool = POOL_CHANNEL.get(user.role)
    pooled = (
        [
            and_(
                Task.staff_id.is_(None),
                Task.channel == pool,
                Task.claimed_by == user.username,
            )
        ]
        if pool
        else []
    )
    if not own and not pooled:
        return false()
    return and_(*branch, or_(*own, *pooled))


def require_task(session: Session, user: User, task_id: int) -> Task:
    """The task ``user`` may record an outcome on; PermissionDenied by role, else NotFound."""
    if Role(user.role) not in OUTCOME_ROLES:
        raise PermissionDenied("role {role} does not record outcomes", role=user.role)
    stmt = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    task = session.execute(stmt).scalar_one_or_none()
    if not task_in_scope(user, task):
        raise NotFoundError("task {task} is not in your queue", task=task_id)
    assert task is not None
    return task


def customer_in_scope(
    session: Session, user: User, subscriber_id: str, *, now: dt.datetime | None = None
) -> bool:
    """True when ``user`` may see ``subscriber_id``'s personal data in clear (branch managers:
    their branch, checked again by the read model; account managers: their book; agents: the
    customers they are working)."""
    role = Role(user.role)
    if role not in UNMASK_ROLES:
        return False
    if role is Role.branch_manager:
        return True
    if not user.branch_id:
        return False
    from weixi.dispatch.models import Campaign

    now = now or utcnow()
    live = Task.campaign_id.in_(select(Campaign.id).where(Campaign.status.in_(LIVE_STATUSES)))
    base = [Task.subscriber_id == subscriber_id, Task.branch_id == user.branch_id, live]
    if role is Role.account_manager:
        if not user.staff_id:
            return False
        cond = and_(*base, Task.staff_id == user.staff_id, Task.status != TaskStatus.dropped.value)
    else:
        own = [Task.staff_id == user.staff_id] if user.staff_id else []
        claimed = and_(Task.claimed_by == user.username, Task.claimed_until >= now)
        cond = and_(*base, Task.status == TaskStatus.open.value, or_(*own, claimed))
    return bool(session.scalar(select(func.count(Task.id)).where(cond)))


def require_customer(session: Session, user: User, subscriber_id: str) -> None:
    """Raise unless ``user`` may unmask ``subscriber_id`` (403 by role, 404 by ownership)."""
    if Role(user.role) not in UNMASK_ROLES:
        raise PermissionDenied("role {role} may not see personal data in clear", role=user.role)
    if not customer_in_scope(session, user, subscriber_id):
        raise NotFoundError("customer {sid} is not in your book or queue", sid=subscriber_id)
