"""Hash-chain the audit log: ``audit_events.prev_hash``/``hash`` and the ``audit_chain_head`` row

Events already in the database are chained in id order by this migration, so an upgraded
database verifies like a new one (``weixi audit verify``).

Revision ID: 0005
Revises: 0002 (re-chain onto the current head when merging)
Create Date: 2026-12-04 10:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from weixi.auth.models import AUDIT_GENESIS, audit_trigger_statements

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The hashed columns (``weixi.security.audit.CHAINED_FIELDS`` minus ``prev_hash``), typed so
#: that ``at`` reads back as a datetime on SQLite too.
_FIELDS = {
    "id": sa.Integer(),
    "at": sa.DateTime(),
    "user_id": sa.Integer(),
    "username": sa.String(),
    "role": sa.String(),
    "branch_id": sa.String(),
    "action": sa.String(),
    "object_type": sa.String(),
    "object_id": sa.String(),
    "detail": sa.Text(),
    "ip": sa.String(),
}


def _drop_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")


def _create_triggers(dialect: str) -> None:
    for stmt in audit_trigger_statements(dialect):
        op.execute(stmt)


def upgrade() -> None:
    # the hash function is weixi's own, so rows hashed here verify like rows written later
    from weixi.security.audit import event_hash

    bind = op.get_bind()
    dialect = bind.dialect.name
    # ADD COLUMN in place (no table copy on SQLite, so the triggers stay; dropped below anyway)
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    events = sa.table(
        "audit_events",
        *(sa.column(name, typ) for name, typ in _FIELDS.items()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    # Chain the existing events in id order. The chain is sequential by nature (each hash needs
    # the previous one); audit logs are thousands, not millions, of rows.
    _drop_triggers(dialect)
    prev, last_id = AUDIT_GENESIS, 0
    rows = bind.execute(sa.select(*(events.c[n] for n in _FIELDS)).order_by(events.c.id)).all()
    updates = []
    for row in rows:
        fields = {**dict(zip(_FIELDS, row, strict=True)), "prev_hash": prev}
        digest = event_hash(fields)
        updates.append({"b_id": fields["id"], "prev_hash": prev, "hash": digest})
        prev, last_id = digest, fields["id"]
    if updates:
        bind.execute(
            events.update()
            .where(events.c.id == sa.bindparam("b_id"))
            .values(prev_hash=sa.bindparam("prev_hash"), hash=sa.bindparam("hash")),
            updates,
        )
    _create_triggers(dialect)
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, last_id, last_hash) VALUES (1, :last_id, :h)"
        ).bindparams(last_id=last_id, h=prev)
    )
    if dialect == "postgresql" and last_id:  # record() sets ids itself; keep the sequence ahead
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), "
            "(SELECT max(id) FROM audit_events))"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("audit_chain_head")
    _drop_triggers(dialect)  # SQLite drops columns by copying the table
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    _create_triggers(dialect)
