"""VIP points ledger (``vip_points``): append-only, balance never negative (CHECK)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vip_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("balance >= 0", name="ck_points_balance"),
        sa.CheckConstraint("seq >= 1", name="ck_points_seq"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "seq", name="uq_points_seq"),
        sa.UniqueConstraint("customer_id", "kind", "ref", name="uq_points_ref"),
    )
    op.create_index("ix_points_customer", "vip_points", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_points_customer", table_name="vip_points")
    op.drop_table("vip_points")
