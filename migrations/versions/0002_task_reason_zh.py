"""Tasks carry the Chinese reason (``tasks.reason_zh``) beside the English one

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: tasks written before this revision keep their English reason and
    # are shown in English until the next plan of their campaign month rewrites them.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_zh", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("reason_zh")
