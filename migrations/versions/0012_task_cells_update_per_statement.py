"""PostgreSQL: the task cells follow task updates with a statement trigger over the transition
tables (one grouped upsert per statement) instead of a row trigger (two upserts per task): an
outcome file's summaries of a hundred thousand tasks had made outcome files 2.3 times slower
(weixi.dispatch.cells). SQLite keeps its row triggers: nothing to do there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 04:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from weixi.dispatch import cells

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _statements() -> list[str]:
    """This revision's function and trigger of ``task_cells_update`` (from weixi.dispatch.cells)."""
    return [
        s
        for s in cells.POSTGRES_TRIGGERS
        if "task_cells_moved()" in s or s.startswith("CREATE TRIGGER task_cells_update ")
    ]


#: revision 0011's row trigger, restored by the downgrade
_ROW_FUNCTION = (
    "CREATE OR REPLACE FUNCTION task_cells_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + cells._sqlite_upsert("OLD", -1)
    + " "
    + cells._sqlite_upsert("NEW", 1)
    + " RETURN NULL; END $$"
)
_ROW_TRIGGER = (
    f"CREATE TRIGGER task_cells_update AFTER UPDATE OF {', '.join(cells._TASK_COLUMNS)} ON tasks"
    f" FOR EACH ROW WHEN ({cells._changed('OLD', 'NEW', 'IS DISTINCT FROM')})"
    " EXECUTE FUNCTION task_cells_moved()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS task_cells_update ON tasks")
    stmts = _statements()
    assert len(stmts) == 2, stmts
    for stmt in stmts:
        op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS task_cells_update ON tasks")
    op.execute(_ROW_FUNCTION)
    op.execute(_ROW_TRIGGER)
