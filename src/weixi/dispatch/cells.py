"""Per-cell task counts (``task_cells``), kept by the database itself.

Monitoring groups the live tasks by branch × channel × person × action × priority, with what
their outcomes say; on a province's operational database (hundreds of thousands of tasks) the
GROUP BY over the tasks and the join of the outcomes to their tasks take most of a second, and
grow with the month's outcomes. So the database keeps:

- on each task, what its outcomes say (``last_result``, ``attempts`` — outcomes other than
  ``already_churned`` — and whether any outcome reached the customer / was accepted), set by
  triggers on ``outcomes`` (insert, delete, update);
- one row per cell (campaign × branch × channel × staff × action × priority × category × offer
  × dropped) with its tasks, expected value and those outcome figures summed, set by triggers
  on ``tasks`` (insert, delete, and an update that moves a task to another cell or changes one
  of its figures).

Both are written in the transaction of the write that changes them, by every write path
(dispatch's bulk inserts and COPY, ``weixi lists update``'s drops, reassignments, outcomes from
the web, the API and files, triggered and group tasks, erasure, cascades): they cannot drift
from the tasks. :func:`recount` rebuilds them (``weixi db recount-tasks``), :func:`differences`
compares them with a recount.

Keys are never NULL in the cells (a unique key must compare equal): no staff is stored as
``''``, no category or offer as ``''``, no priority rank as ``-1``; :func:`cell_key` maps them
back.

SQLite: row triggers (its writers are serialized anyway). PostgreSQL: statement triggers over
the transition tables, so a bulk ``COPY`` of a plan's tasks or an outcome file adds one upsert
per cell, not per row; cells are upserted in key order (concurrent writers lock them in the same
order). On SQLite, ``batch_alter_table("tasks")`` (a table copy) loses the triggers: a later
migration doing that must re-create them (:func:`trigger_statements`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

#: the cell key columns, in the order of the primary key
KEYS = (
    "campaign_id",
    "branch_id",
    "channel",
    "staff_id",
    "action",
    "priority_rank",
    "category",
    "offer_id",
    "dropped",
)
_KEY_LIST = ", ".join(KEYS)
#: stored for a NULL key
NO_STAFF = ""
NO_CATEGORY = ""
NO_OFFER = ""
NO_PRIORITY = -1

_REACHED = "('accepted', 'refused', 'call_back')"


def _values(r: str) -> dict[str, str]:
    """What one task row (``r``) adds to its cell, by cell column."""
    last = f"{r}.last_result"
    one = "THEN 1 ELSE 0 END"
    return {
        "tasks": "1",
        "expected_value": f"COALESCE({r}.expected_value, 0)",
        "valued": f"CASE WHEN {r}.expected_value IS NULL THEN 0 ELSE 1 END",
        "worked": f"CASE WHEN {last} IS NULL THEN 0 ELSE 1 END",
        "reached": f"CASE WHEN {last} IN {_REACHED} {one}",
        "accepted": f"CASE WHEN {last} = 'accepted' {one}",
        "refused": f"CASE WHEN {last} = 'refused' {one}",
        "call_back": f"CASE WHEN {last} = 'call_back' {one}",
        "churned": f"CASE WHEN {last} = 'already_churned' {one}",
        "attempts": f"COALESCE({r}.attempts, 0)",
        "reached_any": f"COALESCE({r}.reached_any, 0)",
        "accepted_any": f"COALESCE({r}.accepted_any, 0)",
    }


#: what a cell sums
VALUES = tuple(_values("t"))
_FLOATS = {"expected_value"}
_KEY_LIST = ", ".join(KEYS)
_ALL_LIST = ", ".join((*KEYS, *VALUES))


def _key_exprs(row: str, *, named: bool = False) -> str:
    """The cell key of a task row (``NEW``/``OLD`` or a table alias), NULLs replaced (named
    after the key columns with ``named``)."""
    exprs = (
        f"{row}.campaign_id",
        f"{row}.branch_id",
        f"{row}.channel",
        f"COALESCE({row}.staff_id, '{NO_STAFF}')",
        f"{row}.action",
        f"COALESCE({row}.priority_rank, {NO_PRIORITY})",
        f"COALESCE({row}.category, '{NO_CATEGORY}')",
        f"COALESCE({row}.offer_id, '{NO_OFFER}')",
        f"CASE WHEN {row}.status = 'dropped' THEN 1 ELSE 0 END",
    )
    if named:
        exprs = tuple(f"{e} AS {k}" for e, k in zip(exprs, KEYS, strict=True))
    return ", ".join(exprs)


def _sums(row: str, sign: int = 1) -> str:
    """The cell values of the rows aliased ``row``, summed (a GROUP BY's select list)."""
    s = "" if sign > 0 else "-"
    return ", ".join(f"{s}sum({e}) AS {k}" for k, e in _values(row).items())


#: the task columns a cell depends on
_TASK_COLUMNS = (
    "campaign_id",
    "branch_id",
    "channel",
    "staff_id",
    "action",
    "priority_rank",
    "category",
    "offer_id",
    "status",
    "expected_value",
    "last_result",
    "attempts",
    "reached_any",
    "accepted_any",
)


def _changed(old: str, new: str, distinct: str) -> str:
    """A condition true when a task moved to another cell or one of its figures changed."""
    parts = [f"{old}.{c} {distinct} {new}.{c}" for c in _TASK_COLUMNS if c != "status"]
    parts.append(
        f"(CASE WHEN {old}.status = 'dropped' THEN 1 ELSE 0 END)"
        f" <> (CASE WHEN {new}.status = 'dropped' THEN 1 ELSE 0 END)"
    )
    return " OR ".join(parts)


_UPSERT_TAIL = f" ON CONFLICT ({_KEY_LIST}) DO UPDATE SET " + ", ".join(
    f"{v} = task_cells.{v} + excluded.{v}" for v in VALUES
)


def _sqlite_upsert(row: str, sign: int) -> str:
    s = "" if sign > 0 else "-"
    vals = ", ".join(f"{s}({e})" for e in _values(row).values())
    return (
        f"INSERT INTO task_cells ({_ALL_LIST}) VALUES ({_key_exprs(row)}, {vals})"
        + _UPSERT_TAIL
        + ";"
    )


#: what a task's outcomes say, for the task ``tid`` (a row value: last result, attempts,
#: reached any, accepted any)
def _outcome_summary(tid: str) -> str:
    return (
        f"(SELECT (SELECT o.result FROM outcomes o WHERE o.task_id = {tid}"
        " ORDER BY o.id DESC LIMIT 1),"
        " COALESCE(sum(CASE WHEN o.result <> 'already_churned' THEN 1 ELSE 0 END), 0),"
        f" COALESCE(max(CASE WHEN o.result IN {_REACHED} THEN 1 ELSE 0 END), 0),"
        " COALESCE(max(CASE WHEN o.result = 'accepted' THEN 1 ELSE 0 END), 0)"
        f" FROM outcomes o WHERE o.task_id = {tid})"
    )


_SUMMARY_COLUMNS = "(last_result, attempts, reached_any, accepted_any)"


def _sqlite_summarize(tid: str) -> str:
    return f"UPDATE tasks SET {_SUMMARY_COLUMNS} = {_outcome_summary(tid)} WHERE id = {tid};"


SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS task_cells_insert AFTER INSERT ON tasks BEGIN "
    + _sqlite_upsert("NEW", 1)
    + " END",
    "CREATE TRIGGER IF NOT EXISTS task_cells_delete AFTER DELETE ON tasks BEGIN "
    + _sqlite_upsert("OLD", -1)
    + " END",
    f"CREATE TRIGGER IF NOT EXISTS task_cells_update AFTER UPDATE OF {', '.join(_TASK_COLUMNS)}"
    f" ON tasks WHEN {_changed('OLD', 'NEW', 'IS NOT')} BEGIN "
    + _sqlite_upsert("OLD", -1)
    + " "
    + _sqlite_upsert("NEW", 1)
    + " END",
    "CREATE TRIGGER IF NOT EXISTS task_outcomes_insert AFTER INSERT ON outcomes BEGIN "
    + _sqlite_summarize("NEW.task_id")
    + " END",
    "CREATE TRIGGER IF NOT EXISTS task_outcomes_delete AFTER DELETE ON outcomes BEGIN "
    + _sqlite_summarize("OLD.task_id")
    + " END",
    "CREATE TRIGGER IF NOT EXISTS task_outcomes_update AFTER UPDATE OF task_id, result"
    " ON outcomes BEGIN "
    + _sqlite_summarize("OLD.task_id")
    + " "
    + _sqlite_summarize("NEW.task_id")
    + " END",
)


def _pg_cell_sums(rows: str, sign: int) -> str:
    """Per-cell sums of a transition table (``rows``), signed."""
    return (
        f"SELECT {_key_exprs('t', named=True)}, {_sums('t', sign)} FROM {rows} t"
        f" GROUP BY {', '.join(str(i) for i in range(1, len(KEYS) + 1))}"
    )


def _pg_apply(select: str) -> str:
    sums = ", ".join(f"sum({v})" for v in VALUES)
    return (
        f"INSERT INTO task_cells ({_ALL_LIST})"
        f" SELECT {_KEY_LIST}, {sums} FROM ({select}) d GROUP BY {_KEY_LIST}"
        f" ORDER BY {_KEY_LIST}" + _UPSERT_TAIL + ";"
    )


def _pg_moved(side: str) -> str:
    return (
        f"(SELECT {side}.* FROM task_cells_old o JOIN task_cells_new n ON n.id = o.id"
        f" WHERE {_changed('o', 'n', 'IS DISTINCT FROM')})"
    )


def _pg_summarize(ids: str) -> str:
    """Set the outcome summary of the tasks ``ids`` (a query of task ids), where it changed."""
    return (
        f"UPDATE tasks t SET {_SUMMARY_COLUMNS} = {_outcome_summary('t.id')} WHERE t.id IN ({ids});"
    )


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{body} RETURN NULL; END $$"
    )


def _pg_trigger(name: str, event: str, table: str, refs: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


POSTGRES_TRIGGERS = (
    _pg_function("task_cells_added", _pg_apply(_pg_cell_sums("task_cells_new", 1))),
    _pg_function("task_cells_removed", _pg_apply(_pg_cell_sums("task_cells_old", -1))),
    _pg_function(
        "task_cells_changed",
        _pg_apply(
            _pg_cell_sums(_pg_moved("o"), -1) + " UNION ALL " + _pg_cell_sums(_pg_moved("n"), 1)
        ),
    ),
    _pg_function("task_outcomes_added", _pg_summarize("SELECT DISTINCT task_id FROM outcomes_new")),
    _pg_function(
        "task_outcomes_removed", _pg_summarize("SELECT DISTINCT task_id FROM outcomes_old")
    ),
    _pg_function(
        "task_outcomes_changed",
        _pg_summarize("SELECT task_id FROM outcomes_old UNION SELECT task_id FROM outcomes_new"),
    ),
    _pg_trigger(
        "task_cells_insert", "INSERT", "tasks", "NEW TABLE AS task_cells_new", "task_cells_added"
    ),
    _pg_trigger(
        "task_cells_delete", "DELETE", "tasks", "OLD TABLE AS task_cells_old", "task_cells_removed"
    ),
    _pg_trigger(
        "task_cells_update",
        "UPDATE",
        "tasks",
        "OLD TABLE AS task_cells_old NEW TABLE AS task_cells_new",
        "task_cells_changed",
    ),
    _pg_trigger(
        "task_outcomes_insert",
        "INSERT",
        "outcomes",
        "NEW TABLE AS outcomes_new",
        "task_outcomes_added",
    ),
    _pg_trigger(
        "task_outcomes_delete",
        "DELETE",
        "outcomes",
        "OLD TABLE AS outcomes_old",
        "task_outcomes_removed",
    ),
    _pg_trigger(
        "task_outcomes_update",
        "UPDATE",
        "outcomes",
        "OLD TABLE AS outcomes_old NEW TABLE AS outcomes_new",
        "task_outcomes_changed",
    ),
)

_TRIGGERS = (
    ("tasks", "task_cells_insert"),
    ("tasks", "task_cells_delete"),
    ("tasks", "task_cells_update"),
    ("outcomes", "task_outcomes_insert"),
    ("outcomes", "task_outcomes_delete"),
    ("outcomes", "task_outcomes_update"),
)
SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {name}" for _t, name in _TRIGGERS)
POSTGRES_DROP = tuple(f"DROP TRIGGER IF EXISTS {name} ON {t}" for t, name in _TRIGGERS) + tuple(
    f"DROP FUNCTION IF EXISTS {f}()"
    for f in (
        "task_cells_added",
        "task_cells_removed",
        "task_cells_changed",
        "task_outcomes_added",
        "task_outcomes_removed",
        "task_outcomes_changed",
    )
)

#: the outcome summary of every task that has outcomes (the back-fill of the task columns)
SUMMARIZE_ALL = (
    f"UPDATE tasks SET {_SUMMARY_COLUMNS} = {_outcome_summary('tasks.id')}"
    " WHERE id IN (SELECT task_id FROM outcomes)"
)
#: the cells of the tasks as they are (the recount)
RECOUNT = (
    f"SELECT {_key_exprs('t', named=True)}, {_sums('t')} FROM tasks t"
    f" GROUP BY {', '.join(str(i) for i in range(1, len(KEYS) + 1))}"
)
BACKFILL = f"INSERT INTO task_cells ({_ALL_LIST}) {RECOUNT}"


def trigger_statements(dialect: str) -> tuple[str, ...]:
    """The DDL that keeps ``task_cells`` on ``dialect`` (empty for another database)."""
    if dialect == "sqlite":
        return SQLITE_TRIGGERS
    if dialect == "postgresql":
        return POSTGRES_TRIGGERS
    return ()


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The DDL that removes the triggers (and functions) of :func:`trigger_statements`."""
    return {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(dialect, ())


def cell_key(row: dict[str, Any]) -> dict[str, Any]:
    """A cell's keys with the stored stand-ins mapped back to NULL (None)."""
    out = dict(row)
    if out.get("staff_id") == NO_STAFF:
        out["staff_id"] = None
    if out.get("category") == NO_CATEGORY:
        out["category"] = None
    if out.get("offer_id") == NO_OFFER:
        out["offer_id"] = None
    if out.get("priority_rank") == NO_PRIORITY:
        out["priority_rank"] = None
    return out


def _lock(session: Session) -> None:
    """Hold the tasks' writers off while the cells are compared or rebuilt (PostgreSQL; SQLite
    writers are serialized by the transaction's write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE tasks IN SHARE MODE"))


def _cells(session: Session, sql: str) -> dict[tuple, tuple]:
    n = len(KEYS)
    return {
        tuple(r[:n]): tuple(
            float(v or 0.0) if k in _FLOATS else int(v or 0)
            for k, v in zip(VALUES, r[n:], strict=True)
        )
        for r in session.execute(text(sql))
    }


def differences(session: Session, *, tolerance: float = 1e-6) -> list[dict[str, Any]]:
    """The cells whose kept figures differ from a recount of the tasks (empty: they agree), and
    the tasks whose outcome summary differs from their outcomes (as cells of ``task_id``).

    Cells with no task left (kept at zero) agree with a missing recount cell; expected values
    are compared to ``tolerance`` (relative), as sums of floats added and removed in another
    order than the recount's.
    """
    _lock(session)
    distinct = "IS NOT" if session.get_bind().dialect.name == "sqlite" else "IS DISTINCT FROM"
    summary = (
        "SELECT t.id FROM tasks t LEFT JOIN (SELECT o.task_id, max(o.id) AS last_id,"
        " sum(CASE WHEN o.result <> 'already_churned' THEN 1 ELSE 0 END) AS attempts,"
        f" max(CASE WHEN o.result IN {_REACHED} THEN 1 ELSE 0 END) AS reached_any,"
        " max(CASE WHEN o.result = 'accepted' THEN 1 ELSE 0 END) AS accepted_any"
        " FROM outcomes o GROUP BY o.task_id) s ON s.task_id = t.id"
        " LEFT JOIN outcomes l ON l.id = s.last_id"
        f" WHERE t.last_result {distinct} l.result"
        " OR COALESCE(t.attempts, 0) <> COALESCE(s.attempts, 0)"
        " OR COALESCE(t.reached_any, 0) <> COALESCE(s.reached_any, 0)"
        " OR COALESCE(t.accepted_any, 0) <> COALESCE(s.accepted_any, 0)"
    )
    out: list[dict[str, Any]] = [
        {"task_id": tid, "kept": "outcome summary", "counted": "outcomes"}
        for (tid,) in session.execute(text(summary))
    ]
    kept = _cells(session, f"SELECT {_ALL_LIST} FROM task_cells")
    counted = _cells(session, RECOUNT)
    zero = tuple(0.0 if k in _FLOATS else 0 for k in VALUES)
    for key in sorted(set(kept) | set(counted), key=repr):
        a, b = kept.get(key, zero), counted.get(key, zero)
        same = all(
            abs(x - y) <= tolerance * max(1.0, abs(x), abs(y)) if k in _FLOATS else x == y
            for k, x, y in zip(VALUES, a, b, strict=True)
        )
        if not same:
            out.append(
                cell_key(dict(zip(KEYS, key, strict=True)))
                | {"kept": dict(zip(VALUES, a, strict=True))}
                | {"counted": dict(zip(VALUES, b, strict=True))}
            )
    return out


def recount(session: Session) -> int:
    """Rebuild the tasks' outcome summaries and ``task_cells`` from the tasks and outcomes (in
    the session's transaction); returns the number of cells."""
    _lock(session)
    session.execute(text(SUMMARIZE_ALL))
    session.execute(text("DELETE FROM task_cells"))
    session.execute(text(BACKFILL))
    return int(session.execute(text("SELECT count(*) FROM task_cells")).scalar_one())
