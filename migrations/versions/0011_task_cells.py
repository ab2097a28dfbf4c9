"""Per-cell task counts (``task_cells``), outcomes per day, branch and result (``outcome_days``)
and the tasks' outcome summaries (``tasks.last_result``,
``attempts``, ``reached_any``, ``accepted_any``), kept by triggers on ``tasks`` and ``outcomes``
(weixi.dispatch.cells): monitoring and the dashboard's execution KPIs read them instead of
grouping every task and joining its outcomes

Both are back-filled from the tasks and outcomes there are; ``weixi db recount-tasks`` rebuilds
them.
Note for later revisions: on SQLite, ``batch_alter_table("tasks")`` copies the table and loses
its triggers — re-create them (``cells.trigger_statements``) after such a step.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from weixi.dispatch import cells

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # in place (ADD COLUMN, no table copy on SQLite)
    op.add_column("tasks", sa.Column("last_result", sa.String(length=24), nullable=True))
    for name in ("attempts", "reached_any", "accepted_any"):
        op.add_column("tasks", sa.Column(name, sa.Integer(), server_default="0", nullable=False))
    op.execute(cells.SUMMARIZE_ALL)
    op.create_table(
        "task_cells",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("priority_rank", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("category", sa.String(length=2), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("dropped", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("expected_value", sa.Float(), nullable=False),
        sa.Column("valued", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in cells.VALUES
            if name not in ("tasks", "expected_value", "valued")
        ),
        sa.PrimaryKeyConstraint(*cells.KEYS),
    )
    op.execute(cells.BACKFILL)
    op.create_table(
        "outcome_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("branch_id", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=24), nullable=False),
        sa.Column("outcomes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "branch_id", "result"),
    )
    op.execute(cells.days_backfill(op.get_bind().dialect.name))
    for stmt in cells.trigger_statements(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in cells.drop_statements(op.get_bind().dialect.name):
        op.execute(stmt)
    op.drop_table("outcome_days")
    op.drop_table("task_cells")
    with op.batch_alter_table("tasks") as batch:
        for name in ("last_result", "attempts", "reached_any", "accepted_any"):
            batch.drop_column(name)
