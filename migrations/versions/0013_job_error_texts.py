"""A failed job keeps its error in every language of the app (``jobs.error_texts``): the error
is one of weixi's templates filled with values (a month, a key, a count) that only the running
job has, so the job card cannot translate the stored English text afterwards.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("error_texts", sa.JSON(), nullable=True))  # in place


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("error_texts")
