"""Read-side queries over the operational database (campaigns, tasks, outcomes) for the pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session

from weixi.dispatch import cells as task_cells
from weixi.dispatch.models import Campaign, Outcome, OutcomeDay, Task, TaskCell
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
    ``prices``), the same definition evaluation uses. A task counts as contacted when any of
    its outcomes reached the customer (accepted, refused, call back — as monitoring and
    evaluation count it), as accepted when any was accepted. Read from the per-cell figures the
    database keeps (:mod:`weixi.dispatch.cells`), not from the tasks and outcomes.
    """
    p = prices or Prices()
    c = TaskCell
    stmt = select(
        func.coalesce(func.sum(c.tasks), 0),
        func.coalesce(func.sum(c.worked), 0),
        func.coalesce(func.sum(c.reached_any), 0),
        func.coalesce(func.sum(c.accepted_any), 0),
        func.coalesce(
            func.sum(
                _price(c.channel, p.contact) * c.attempts
                + _price(c.offer_id, p.offer) * c.accepted_any
            ),
            0.0,
        ),
    )
    if branch:
        stmt = stmt.where(c.branch_id == branch)
    total, worked, reached, accepted, cost = session.execute(stmt).one()
    total, worked, reached, accepted = int(total), int(worked), int(reached), int(accepted)
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
#: the same groupings over the kept per-cell counts (``task_cells``)
CELL_KEYS = {
    "branch": TaskCell.branch_id,
    "channel": TaskCell.channel,
    "staff": TaskCell.staff_id,
    "action": TaskCell.action,
    "priority": TaskCell.priority_rank,
    "category": TaskCell.category,
}
#: a cell key's stand-in for NULL (``weixi.dispatch.cells``)
_NO_KEY = {
    "staff": task_cells.NO_STAFF,
    "priority": task_cells.NO_PRIORITY,
    "category": task_cells.NO_CATEGORY,
}
_SUMMED = ("tasks", "worked", "reached", "accepted", "refused", "call_back", "churned")


def _cell_scope(
    *, branch: str | None, campaign_id: int | None, prices: Prices | None
) -> tuple[Any, dict[str, Any]]:
    """``cells(*columns)``, a SELECT of ``columns`` over the live cells (``branch``'s,
    ``campaign_id``'s), and the sums over cells that make a progress row (by name;
    :func:`_progress_row` turns them into the row)."""
    p = prices or Prices()
    c = TaskCell
    scope = [Campaign.status.in_(LIVE_STATUSES), c.dropped == 0, c.tasks > 0]
    if branch:
        scope.append(c.branch_id == branch)
    if campaign_id:
        scope.append(c.campaign_id == campaign_id)
    sums = {k: func.sum(getattr(c, k)) for k in _SUMMED}
    sums["valued"] = func.sum(c.valued)
    sums["expected_value"] = func.sum(c.expected_value)
    sums["cost"] = func.sum(
        _price(c.channel, p.contact) * c.attempts + _price(c.offer_id, p.offer) * c.accepted
    )

    def cells(*columns: Any) -> Any:
        return (
            select(*columns)
            .select_from(c)
            .join(Campaign, Campaign.id == c.campaign_id)
            .where(*scope)
        )

    return cells, sums


def _progress_row(sums: dict[str, Any], key: Any = None) -> dict[str, Any]:
    """A progress row from a group's sums: counts, the expected value (None when no task of the
    group has one), cost and rates."""
    g: dict[str, Any] = {"key": key}
    for k in _SUMMED:
        g[k] = int(sums[k] or 0)
    g["expected_value"] = sums["expected_value"] if (sums["valued"] or 0) > 0 else None
    g["cost"] = sums["cost"] or 0
    g["contact_rate"] = g["reached"] / g["tasks"] if g["tasks"] else None
    g["success_rate"] = g["accepted"] / g["reached"] if g["reached"] else None
    g["done_rate"] = g["worked"] / g["tasks"] if g["tasks"] else None
    return g


def _key(dim: str, value: Any) -> Any:
    """A cell key as shown: None for the stand-in of a NULL key (``weixi.dispatch.cells``)."""
    return None if dim in _NO_KEY and value == _NO_KEY[dim] else value


def progress_by(
    *,
    session: Session,
    dims: Sequence[str],
    branch: str | None = None,
    campaign_id: int | None = None,
    prices: Prices | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`progress` for several groupings (``dims``), without a pass over the tasks.

    The tasks and their outcome figures come from the counts the database keeps per cell
    (``task_cells``: campaign × branch × channel × person × action × priority × … cells, not one
    row per task; see :mod:`weixi.dispatch.cells`); each grouping is one grouped query over
    those cells. Returns ``{dim: rows}`` with the rows :func:`progress` describes, ordered
    by key (no key first).
    """
    cells, sums = _cell_scope(branch=branch, campaign_id=campaign_id, prices=prices)
    out: dict[str, list[dict[str, Any]]] = {}
    for d in dims:
        # each grouping summed by the database: a province has tens of thousands of cells (one
        # per person and action), too many to add up row by row in Python on every page load
        stmt = cells(CELL_KEYS[d].label("key"), *(v.label(k) for k, v in sums.items())).group_by(
            CELL_KEYS[d]
        )
        rows = [_progress_row(r._mapping, _key(d, r.key)) for r in session.execute(stmt)]
        out[d] = sorted(rows, key=lambda r: (r["key"] is not None, r["key"]))
    return out


@dataclass(frozen=True)
class ProgressPage:
    """One page of a progress grouping, with the figures over all of its groups."""

    rows: list[dict[str, Any]]  # this page's groups, ordered by key (no key first)
    groups: int  # how many groups there are in all
    total: dict[str, Any]  # the figures summed over every group (the page's KPIs)


def progress_page(
    *,
    session: Session,
    by: str,
    limit: int,
    offset: int = 0,
    branch: str | None = None,
    campaign_id: int | None = None,
    prices: Prices | None = None,
) -> ProgressPage:
    """A page of :func:`progress` grouped ``by`` (``limit`` groups from ``offset``) and the
    totals: what a page shows of a grouping too long to show whole (a province has tens of
    thousands of people). Paged and counted by the database, one grouped query."""
    cells, sums = _cell_scope(branch=branch, campaign_id=campaign_id, prices=prices)
    key = CELL_KEYS[by]
    # the totals ride along as window sums over the groups: one scan of the cells, not two
    order = [key] if by not in _NO_KEY else [(key == _NO_KEY[by]).desc(), key]
    stmt = (
        cells(
            key.label("key"),
            *(v.label(k) for k, v in sums.items()),
            *(func.sum(v).over().label(f"all_{k}") for k, v in sums.items()),
            func.count().over().label("n_groups"),
        )
        .group_by(key)
        .order_by(*order)
        .limit(max(limit, 0))
        .offset(max(offset, 0))
    )
    found = session.execute(stmt).all()
    if found:
        first = found[0]._mapping
        total = _progress_row({k: first[f"all_{k}"] for k in sums})
        groups = int(first["n_groups"])
    else:  # past the last page, or nothing live: the totals and the count alone
        agg = session.execute(
            cells(*(v.label(k) for k, v in sums.items()), func.count(func.distinct(key)))
        ).one()
        total = _progress_row(agg._mapping)
        groups = int(agg[-1] or 0)
    rows = [_progress_row(r._mapping, _key(by, r.key)) for r in found]
    return ProgressPage(rows=rows, groups=groups, total=total)


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
    """Outcomes recorded per day and result (of ``branch``'s tasks, or of every task), from the
    counts the database keeps per day, branch and result (:mod:`weixi.dispatch.cells`)."""
    d = OutcomeDay
    stmt = (
        select(d.day.label("day"), d.result, func.sum(d.outcomes).label("n"))
        .group_by(d.day, d.result)
        .having(func.sum(d.outcomes) > 0)
        .order_by(d.day, d.result)
    )
    if branch:
        stmt = stmt.where(d.branch_id == branch)
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
