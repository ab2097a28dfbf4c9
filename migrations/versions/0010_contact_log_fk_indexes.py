"""Index the contact log's foreign keys (``task_id``, ``campaign_id``).

Deleting a task (a re-plan replaces a month's open tasks) makes the database set the contact
log's ``task_id`` to NULL; without an index on it, SQLite and PostgreSQL scan the whole contact
log once per deleted task. On a 1 M-line demo a re-plan's DELETE of its open tasks ran for
minutes (347 870 tasks, 189 143 contact-log rows).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 02:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contact_log_task_id", "contact_log", ["task_id"])
    op.create_index("ix_contact_log_campaign_id", "contact_log", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_contact_log_campaign_id", table_name="contact_log")
    op.drop_index("ix_contact_log_task_id", table_name="contact_log")
