"""Tasks carry the enterprise group they work (``tasks.group_id``): a group task of a group
retention campaign (集团客户维系活动) is one task for the whole group, on a key person's line

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("group_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_tasks_group", ["group_id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_group")
        batch.drop_column("group_id")
