"""Work-queue claims, scheduled call-backs and an optimistic-lock version on tasks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 09:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("callback_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(
            "ix_tasks_claim",
            [
                "branch_id",
                "status",
                "channel",
                "staff_id",
                "priority_rank",
                "expected_value",
                "callback_at",
                "claimed_until",
                "campaign_id",
            ],
            unique=False,
        )
        batch_op.create_index("ix_tasks_claim_token", ["claim_token"], unique=False)
    # Open tasks left waiting by a call-back outcome recorded before this revision keep
    # their time: the latest call-back outcome of each open task becomes its callback_at.
    op.execute(
        """UPDATE tasks SET callback_at = (
               SELECT o.callback_at FROM outcomes o WHERE o.task_id = tasks.id
               ORDER BY o.id DESC LIMIT 1)
           WHERE status = 'open' AND EXISTS (
               SELECT 1 FROM outcomes o WHERE o.task_id = tasks.id AND o.result = 'call_back')"""
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claim_token")
        batch_op.drop_index("ix_tasks_claim")
        batch_op.drop_column("version")
        batch_op.drop_column("callback_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("claimed_by")
