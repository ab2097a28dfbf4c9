"""ORM of the VIP programme: the points ledger (积分台账), append-only and never negative."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from weixi.store.db import Base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PointsEntry(Base):
    """One movement of a customer's points; ``balance`` is the balance after it.

    The database refuses a negative balance (``ck_points_balance``) and a second entry with the
    same ``seq`` for a customer (``uq_points_seq``): two redemptions racing on one balance cannot
    both land, and a month's earning is written once (``uq_points_ref``).
    """

    __tablename__ = "vip_points"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="ck_points_balance"),
        CheckConstraint("seq >= 1", name="ck_points_seq"),
        UniqueConstraint("customer_id", "seq", name="uq_points_seq"),
        UniqueConstraint("customer_id", "kind", "ref", name="uq_points_ref"),
        Index("ix_points_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # earn | redeem | adjust
    ref: Mapped[str] = mapped_column(String(64))  # earn:2026-07, an offer code + request id
    delta: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
