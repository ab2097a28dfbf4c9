"""Read-side queries over the operational database (campaigns, tasks, outcomes) for the pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from weixi.dispatch.models import Campaign, Outcome, Task
from weixi.dispatch.queue import LIVE_STATUSES, utcnow


def customer_tasks(*, session: Session, subscriber_id: str) -> list[dict[str, Any]]:
    """Every task of a subscriber with its campaign and latest outcome, newest first."""
    tasks = session.scalars(
        select(Task).where(Task.subscriber_id == subscriber_id).order_by(Task.id.desc())
    ).all()
    out = []
    for task in tasks:
        outcomes = sorted(task.outcomes, key=lambda o: o.recorded_at)
        out.append(
            {
                "task": task,
                "campaign": task.campaign,
                "outcomes": outcomes,
                "last": outcomes[-1] if outcomes else None,
            }
        )
    return out


@dataclass(frozen=True)
class Prices:
    """What execution spends: contact cost per attempt (channel), offer cost per acceptance.

    The same prices and definition as evaluation's actual cost (docs/evaluation.md, "Costs"):
    ``contact_cost × attempts + unit_cost × accepted``; attempts are outcomes other than
    ``already_churned``.
    """

    contact: dict[str, float] = field(default_factory=dict)
    offer: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_library(cls, library) -> Prices:
        """Prices of a strategy library."""
        return cls(
            contact={c.key: float(c.contact_cost) for c in library.channels},
            offer={o.key: float(o.unit_cost) for _e, _p, o in library.offers()},
        )


def _price(column, mapping: dict[str, float]):
    return case(mapping, value=column, else_=0.0) if mapping else literal(0.0)


def execution_kpis(
    *, session: Session, branch: str | None = None, prices: Prices | None = None
) -> dict[str, Any] | None:
    """Contacts, contact rate, success rate and cost spent so far over all dispatched tasks.

    ``cost`` is the actual spend (contact cost × attempts + offer cost × accepted offers, at
    ``prices``), the same definition evaluation uses.
    """
    p = prices or Prices()
    res = Outcome.result
    per_task = (
        select(
            Outcome.task_id,
            func.sum(case((res != "already_churned", 1), else_=0)).label("attempts"),
            # reached: the customer answered (as monitoring and evaluation count it)
            func.max(case((res.in_(("accepted", "refused", "call_back")), 1), else_=0)).label(
                "reached"
            ),
            func.max(case((res == "accepted", 1), else_=0)).label("accepted"),
        )
        .group_by(Outcome.task_id)
        .subquery()
    )
    # the tasks are counted on an index; only the worked ones (their outcomes) are joined
    count = select(func.count(Task.id))
    stmt = (
        select(
            func.count(per_task.c.task_id),
            func.coalesce(func.sum(per_task.c.reached), 0),
            func.coalesce(func.sum(per_task.c.accepted), 0),
            func.coalesce(
                func.sum(
                    _price(Task.channel, p.contact) * per_task.c.attempts
                    + _price(Task.offer_id, p.offer) * per_task.c.accepted
                ),
                0.0,
            ),
        )
        .select_from(per_task)
        .join(Task, per_task.c.task_id == Task.id)
    )
    if branch:
        count = count.where(Task.branch_id == branch)
        stmt = stmt.where(Task.branch_id == branch)
    total = session.execute(count).scalar_one()
    worked, reached, accepted, cost = session.execute(stmt).one()
    if not total:
        return None
    return {
        "tasks": total,
        "worked": worked,
        "contacted": reached,
        "accepted": accepted,
        "cost": float(cost or 0),
        "contact_rate": reached / total if total else None,
        "success_rate": accepted / reached if reached else 0.0,
    }


def campaigns(*, session: Session) -> list[Campaign]:
    """All campaigns, newest first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc())))


RESULTS = ("not_reached", "accepted", "refused", "call_back", "already_churned")


def get_campaign(*, session: Session, campaign_id: int) -> Campaign | None:
    """The campaign with ``campaign_id`` or None."""
    return session.get(Campaign, campaign_id)


def campaign_counts(*, session: Session) -> dict[int, dict[str, int]]:
    """Per campaign: tasks by status."""
    out: dict[int, dict[str, int]] = {}
    for cid, status, n in session.execute(
        select(Task.campaign_id, Task.status, func.count(Task.id)).group_by(
            Task.campaign_id, Task.status
        )
    ):
        out.setdefault(cid, {})[status] = n
    return out


def _last_outcome_subquery():
    """Latest outcome per task (id)."""
    return (
        select(Outcome.task_id, func.max(Outcome.id).label("oid"))
        .group_by(Outcome.task_id)
        .subquery()
    )


#: the groupings :func:`progress_by` knows, by name
PROGRESS_KEYS = {
    "branch": Task.branch_id,
    "channel": Task.channel,
    "staff": Task.staff_id,
    "action": Task.action,
    "priority": Task.priority_rank,
    "category": Task.category,
}
_SUMMED = ("tasks", "worked", "reached", "accepted", "refused", "call_back", "churned")


def progress_by(
    *,
    session: Session,
    dims: Sequence[str],
    branch: str | None = None,
    campaign_id: int | None = None,
    prices: Prices | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`progress` for several groupings (``dims``) from one pass over the tasks.

    The database groups the live tasks by every key of ``dims`` at once (a few thousand
    branch × channel × person × action × priority cells, not one row per task); each grouping
    sums those cells. Returns ``{dim: rows}`` with the rows :func:`progress` describes, ordered
    by key (no key first).
    """
    p = prices or Prices()
    keys = [PROGRESS_KEYS[d].label(f"k_{d}") for d in dims]
    live = (Campaign.status.in_(LIVE_STATUSES), Task.status != "dropped")
    scope = []
    if branch:
        scope.append(Task.branch_id == branch)
    if campaign_id:
        scope.append(Task.campaign_id == campaign_id)
    # the tasks per cell: one pass over the tasks, no join to the outcomes
    static = (
        select(
            *keys,
            func.count(Task.id).label("tasks"),
            func.sum(Task.expected_value).label("expected_value"),
        )
        .select_from(Task)
        .join(Campaign, Campaign.id == Task.campaign_id)
        .where(*live, *scope)
        .group_by(*keys)
    )
    # the worked tasks per cell, from the outcomes: attempts and the latest result per task
    per_task = (
        select(
            Outcome.task_id,
            func.max(Outcome.id).label("oid"),
            func.sum(case((Outcome.result != "already_churned", 1), else_=0)).label("n"),
        )
        .group_by(Outcome.task_id)
        .subquery()
    )
    last = aliased(Outcome)
    res = last.result
    worked = (
        select(
            *keys,
            func.count(per_task.c.task_id).label("worked"),
            func.sum(case((res.in_(("accepted", "refused", "call_back")), 1), else_=0)).label(
                "reached"
            ),
            func.sum(case((res == "accepted", 1), else_=0)).label("accepted"),
            func.sum(case((res == "refused", 1), else_=0)).label("refused"),
            func.sum(case((res == "call_back", 1), else_=0)).label("call_back"),
            func.sum(case((res == "already_churned", 1), else_=0)).label("churned"),
            func.sum(
                _price(Task.channel, p.contact) * per_task.c.n
                + case((res == "accepted", _price(Task.offer_id, p.offer)), else_=0.0)
            ).label("cost"),
        )
        .select_from(per_task)
        .join(Task, Task.id == per_task.c.task_id)
        .join(Campaign, Campaign.id == Task.campaign_id)
        .join(last, last.id == per_task.c.oid)
        .where(*live, *scope)
        .group_by(*keys)
    )
    names = [f"k_{d}" for d in dims]
    zero = {k: 0 for k in _SUMMED if k != "tasks"} | {"cost": 0.0}
    by_cell = {
        tuple(r[n] for n in names): dict(r) | zero
        for r in (row._mapping for row in session.execute(static))
    }
    for row in session.execute(worked):
        r = row._mapping
        cell = by_cell.get(tuple(r[n] for n in names))
        if cell is not None:
            cell.update({k: r[k] for k in zero})
    cells = list(by_cell.values())
    out: dict[str, list[dict[str, Any]]] = {}
    for d in dims:
        groups: dict[Any, dict[str, Any]] = {}
        for c in cells:  # the cells, not the tasks
            g = groups.setdefault(
                c[f"k_{d}"],
                {"key": c[f"k_{d}"], **dict.fromkeys(_SUMMED, 0), "cost": None},
            )
            for k in _SUMMED:
                g[k] += int(c[k] or 0)
            for k in ("cost", "expected_value"):
                if c[k] is not None:
                    g[k] = (g.get(k) or 0) + c[k]
                else:
                    g.setdefault(k, None)
        rows = sorted(groups.values(), key=lambda r: (r["key"] is not None, r["key"]))
        for r in rows:
            r["contact_rate"] = r["reached"] / r["tasks"] if r["tasks"] else None
            r["success_rate"] = r["accepted"] / r["reached"] if r["reached"] else None
            r["done_rate"] = r["worked"] / r["tasks"] if r["tasks"] else None
        out[d] = rows
    return out


def progress(
    *,
    session: Session,
    by: str,
    branch: str | None = None,
    campaign_id: int | None = None,
    prices: Prices | None = None,
) -> list[dict[str, Any]]:
    """Progress of live lists grouped ``by`` branch, channel, staff, action or priority.

    Counts tasks, worked (an outcome recorded), reached (anything but not reached), accepted,
    refused, call-backs and churned, with contact and success rates, and the cost spent so far
    (contact cost × attempts + offer cost × accepted, at ``prices``).
    """
    return progress_by(
        session=session, dims=[by], branch=branch, campaign_id=campaign_id, prices=prices
    )[by]


def outcomes_by_day(*, session: Session, branch: str | None = None) -> list[dict[str, Any]]:
    """Outcomes recorded per day and result (live campaigns)."""
    day = func.date(Outcome.recorded_at)
    stmt = (
        select(day.label("day"), Outcome.result, func.count(Outcome.id).label("n"))
        .join(Task, Task.id == Outcome.task_id)
        .group_by(day, Outcome.result)
        .order_by(day)
    )
    if branch:
        stmt = stmt.where(Task.branch_id == branch)
    return [dict(r._mapping) for r in session.execute(stmt)]


def worked_today(*, session: Session, username: str) -> dict[str, int]:
    """Outcomes one user recorded today, by result."""
    today = func.date(Outcome.recorded_at) == func.date(func.current_timestamp())
    rows = session.execute(
        select(Outcome.result, func.count(Outcome.id))
        .where(Outcome.recorded_by == username, today)
        .group_by(Outcome.result)
    )
    return {r: n for r, n in rows}


def board(*, session: Session, branch: str | None = None) -> list[dict[str, Any]]:
    """Open/done tasks of live campaigns by branch, channel and staff (the dispatch board)."""
    stmt = (
        select(
            Task.branch_id,
            Task.channel,
            Task.staff_id,
            func.count(Task.id).label("tasks"),
            func.sum(case((Task.status == "open", 1), else_=0)).label("open"),
            func.sum(case((Task.status == "done", 1), else_=0)).label("done"),
            func.sum(Task.expected_value).label("expected_value"),
        )
        .join(Campaign, Campaign.id == Task.campaign_id)
        .where(Campaign.status.in_(LIVE_STATUSES), Task.status != "dropped")
        .group_by(Task.branch_id, Task.channel, Task.staff_id)
        .order_by(Task.branch_id, Task.channel, Task.staff_id)
    )
    if branch:
        stmt = stmt.where(Task.branch_id == branch)
    return [dict(r._mapping) for r in session.execute(stmt)]


def reassign(
    *,
    session: Session,
    branch: str,
    channel: str,
    from_staff: str | None,
    to_staff: str,
    count: int,
) -> int:
    """Move up to ``count`` open tasks of a branch channel from one person (or the unassigned
    pool) to another; returns how many moved."""
    stmt = (
        select(Task.id)
        .join(Campaign, Campaign.id == Task.campaign_id)
        .where(
            Campaign.status.in_(LIVE_STATUSES),
            Task.branch_id == branch,
            Task.channel == channel,
            Task.status == "open",
            Task.staff_id.is_(None) if not from_staff else Task.staff_id == from_staff,
            # a task on someone's screen stays with them until its claim ends
            or_(Task.claimed_until.is_(None), Task.claimed_until < utcnow()),
        )
        .order_by(Task.priority_rank.asc().nulls_last(), Task.p_churn.desc(), Task.id)
        .limit(max(count, 0))
    )
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(Task.__table__.update().where(Task.id.in_(ids)).values(staff_id=to_staff))
        session.flush()
    return len(ids)


def plan_summary(*, session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """A campaign's tasks by branch and channel with expected value and cost."""
    stmt = (
        select(
            Task.branch_id,
            Task.channel,
            func.count(Task.id).label("tasks"),
            func.sum(Task.expected_value).label("expected_value"),
            func.sum(Task.cost).label("cost"),
        )
        .where(Task.campaign_id == campaign_id)
        .group_by(Task.branch_id, Task.channel)
        .order_by(Task.branch_id, Task.channel)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def get_task(*, session: Session, task_id: int) -> Task | None:
    """The task with ``task_id`` or None."""
    return session.get(Task, task_id)
