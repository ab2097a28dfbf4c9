"""ORM of the complaints domain: one row per complaint and one per step of its life cycle."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from weixi.store.db import Base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class ComplaintStatus(enum.StrEnum):
    """The life cycle of SPEC.md "Customer information and security", in order."""

    received = "received"
    classified = "classified"
    investigated = "investigated"
    handled = "handled"
    answered = "answered"
    archived = "archived"


class ComplaintCategory(enum.StrEnum):
    """The five complaint categories of the seed."""

    service_quality = "service_quality"
    business_handling = "business_handling"
    information = "information"
    price = "price"
    technical = "technical"


#: Statuses in order; a complaint moves one step forward at a time.
FLOW: tuple[str, ...] = tuple(s.value for s in ComplaintStatus)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in ComplaintCategory)
#: A complaint is open until it is answered (archiving only files it away).
CLOSED = (ComplaintStatus.answered.value, ComplaintStatus.archived.value)
CHANNELS = ("web", "api", "file")
#: English msgids of the categories (zh-CN in the complaints catalog).
CATEGORY_LABELS = {
    "service_quality": "Service quality",
    "business_handling": "Business handling",
    "information": "Information",
    "price": "Price and charges",
    "technical": "Technical",
    "unclassified": "Unclassified",
}


class Complaint(Base):
    """A customer's complaint: who, what, which category, where it stands, who owns it, by when."""

    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_subscriber", "subscriber_id"),
        Index("ix_complaints_branch_status", "branch_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    branch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    summary: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ComplaintStatus.received.value)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    deadline: Mapped[dt.datetime] = mapped_column(DateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    churn_reason: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)

    steps: Mapped[list[ComplaintStep]] = relationship(
        back_populates="complaint", order_by="ComplaintStep.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED

    def overdue(self, now: dt.datetime | None = None) -> bool:
        """True when still open after its deadline."""
        return self.is_open and (now or _now()) > self.deadline

    @property
    def next_status(self) -> str | None:
        i = FLOW.index(self.status)
        return FLOW[i + 1] if i + 1 < len(FLOW) else None


class ComplaintStep(Base):
    """One step of a complaint's life: from which status to which, by whom, when, with a note."""

    __tablename__ = "complaint_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    complaint: Mapped[Complaint] = relationship(back_populates="steps")
