"""ORM of the dispatch domain: campaigns, tasks (list entries), outcomes and the contact log.

Portable types only (String, Integer, Float, Date, DateTime, Boolean, Text, JSON) so the same
models run on SQLite and PostgreSQL; the Alembic migration is generated from ``Base.metadata``.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from weixi.dispatch import cells
from weixi.store.db import Base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class CampaignStatus(enum.StrEnum):
    """Life cycle of a campaign."""

    draft = "draft"
    approved = "approved"
    active = "active"
    closed = "closed"
    cancelled = "cancelled"


class TaskStatus(enum.StrEnum):
    """Where a list entry stands."""

    open = "open"  # on a list, not worked yet (or call back later)
    done = "done"  # an outcome closed it
    dropped = "dropped"  # removed by `weixi lists update` (churned, converted, excluded)


class OutcomeResult(enum.StrEnum):
    """What happened when the customer was worked (SPEC.md "Outcomes")."""

    not_reached = "not_reached"
    accepted = "accepted"
    refused = "refused"
    call_back = "call_back"
    already_churned = "already_churned"


class Campaign(Base):
    """A retention campaign (营销活动方案): target groups, strategies, period, budget, channels."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.draft.value)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    budget: Mapped[float | None] = mapped_column(Float, nullable=True)
    control_share: Mapped[float] = mapped_column(Float, default=0.1)
    salt: Mapped[str] = mapped_column(String(64))
    channels: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[list] = mapped_column(JSON, default=list)
    spec: Mapped[dict] = mapped_column(JSON, default=dict)  # the full CampaignSpec
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)

    tasks: Mapped[list[Task]] = relationship(back_populates="campaign")


class Task(Base):
    """One customer on a dispatched list: what to offer, through which channel, by whom, why."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("campaign_id", "month", "subscriber_id", name="uq_task_campaign_sub"),
        Index("ix_tasks_queue", "campaign_id", "branch_id", "channel", "staff_id", "status"),
        Index("ix_tasks_subscriber", "subscriber_id"),
        # Covers the queue's pick (filters and sort keys): no table row is read per candidate.
        Index(
            "ix_tasks_claim",
            "branch_id",
            "status",
            "channel",
            "staff_id",
            "priority_rank",
            "expected_value",
            "callback_at",
            "claimed_until",
            "campaign_id",
        ),
        Index("ix_tasks_claim_token", "claim_token"),  # "the task this session holds"
        Index("ix_tasks_group", "group_id"),  # a group's campaign tasks (the group page)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    month: Mapped[dt.date] = mapped_column(Date)
    subscriber_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    branch_id: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    offer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str | None] = mapped_column(String(2), nullable=True)
    priority_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    p_churn: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # English
    reason_zh: Mapped[str | None] = mapped_column(Text, nullable=True)  # Simplified Chinese
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.open.value, index=True)
    drop_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Work-queue claim: who holds the task on screen (user name and a digest of their login
    # session or API token) and until when; an expired claim returns the task to the queue.
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # A call back asked for: the task stays open and returns to the queue at this time.
    callback_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Deadline of a triggered task (weixi.triggers): work it by then; NULL for campaign tasks.
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # The enterprise group of a group task (weixi.vip.campaign): one task works the whole group
    # through its key person's line (``subscriber_id``); NULL for a customer's task.
    group_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the task's outcomes say, kept by triggers on ``outcomes`` (weixi.dispatch.cells):
    # the latest result, the attempts (outcomes other than already_churned), and whether any
    # outcome reached the customer (accepted, refused, call back) or was accepted (0/1).
    last_result: Mapped[str | None] = mapped_column(String(24), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reached_any: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    accepted_any: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every outcome: an outcome is written only against the version it was checked
    # on, so two concurrent outcomes can never both land (optimistic lock).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)

    campaign: Mapped[Campaign] = relationship(back_populates="tasks")
    outcomes: Mapped[list[Outcome]] = relationship(back_populates="task")

    def reason_in(self, locale: str | None) -> str | None:
        """Why the customer is on the list, in ``locale`` (English when no Chinese text)."""
        if (locale or "").lower().startswith("zh") and self.reason_zh:
            return self.reason_zh
        return self.reason


class Outcome(Base):
    """The recorded result of working a task (web, API or an external dialer/SMS file)."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    result: Mapped[str] = mapped_column(String(24))
    refusal_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    callback_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="web")  # web | api | file
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    recorded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    task: Mapped[Task] = relationship(back_populates="outcomes")


class TaskCell(Base):
    """Tasks per cell (campaign × branch × channel × staff × action × priority × category ×
    offer × dropped) with their outcome figures, kept by triggers in the transaction of every
    write (``weixi.dispatch.cells``): monitoring and the dashboard read these instead of grouping
    the tasks and joining their outcomes.

    No key is NULL: no staff is ``''``, no category or offer ``''``, no priority rank ``-1``.
    """

    __tablename__ = "task_cells"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    branch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    priority_rank: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    category: Mapped[str] = mapped_column(String(2), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dropped: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tasks: Mapped[int] = mapped_column(Integer)
    expected_value: Mapped[float] = mapped_column(Float)  # the sum of the non-NULL ones
    valued: Mapped[int] = mapped_column(Integer)  # tasks with an expected value
    # the tasks' outcome summaries summed (Task.last_result, attempts, reached_any, accepted_any)
    worked: Mapped[int] = mapped_column(Integer)
    reached: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    call_back: Mapped[int] = mapped_column(Integer)
    churned: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    reached_any: Mapped[int] = mapped_column(Integer)
    accepted_any: Mapped[int] = mapped_column(Integer)


class OutcomeDay(Base):
    """Outcomes per day (of ``recorded_at``), branch (of the task) and result, kept by triggers
    in the transaction of every write (``weixi.dispatch.cells``): monitoring's chart."""

    __tablename__ = "outcome_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    branch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    result: Mapped[str] = mapped_column(String(24), primary_key=True)
    outcomes: Mapped[int] = mapped_column(Integer)


# created after ``tasks`` (its triggers are on ``tasks``), back-filled from the tasks there are
# (and ``outcomes``: its triggers keep the tasks' outcome summaries)
TaskCell.__table__.add_is_dependent_on(Task.__table__)
TaskCell.__table__.add_is_dependent_on(Outcome.__table__)
TaskCell.__table__.add_is_dependent_on(OutcomeDay.__table__)
event.listen(TaskCell.__table__, "after_create", DDL(cells.SUMMARIZE_ALL))
event.listen(TaskCell.__table__, "after_create", DDL(cells.BACKFILL))
for _dialect in ("sqlite", "postgresql"):
    event.listen(
        TaskCell.__table__,
        "after_create",
        DDL(cells.days_backfill(_dialect)).execute_if(dialect=_dialect),
    )
    for _stmt in cells.trigger_statements(_dialect):
        event.listen(TaskCell.__table__, "after_create", DDL(_stmt).execute_if(dialect=_dialect))


class ContactLog(Base):
    """Every contact attempt with a customer, across campaigns (feeds the monthly cap and cool-down)."""

    __tablename__ = "contact_log"
    __table_args__ = (Index("ix_contact_sub_time", "subscriber_id", "contacted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # indexed: deleting a task or campaign sets these to NULL (else a scan per deleted row)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True, index=True
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True, index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(24))
    contacted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class ChannelConsent(Base):
    """A customer's consent (or opt-out) for a channel; absent rows mean consent is assumed."""

    __tablename__ = "channel_consent"
    __table_args__ = (UniqueConstraint("subscriber_id", "channel", name="uq_consent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)
