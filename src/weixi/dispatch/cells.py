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

SQLite: row triggers (its writers are serialized anyway); the two bulk writes — a plan's tasks
(:func:`sqlite_bulk_tasks`) and an outcome file (:func:`sqlite_bulk_outcomes`) — drop the
triggers they would fire per row for the length of the write and keep the same figures with
grouped statements, in the write's transaction. PostgreSQL: statement triggers over
the transition tables (inserts, deletes and updates of tasks and outcomes), so a bulk ``COPY`` of
a plan's tasks or an outcome file (and the task summaries it updates) adds one upsert per cell,
not per row; cells are upserted in key order (concurrent writers lock them in the same
order). On SQLite, ``batch_alter_table("tasks")`` (a table copy) loses the triggers: a later
migration doing that must re-create them (:func:`trigger_statements`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, case, func, text
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

#: the results that reached the customer
REACHED_RESULTS = ("accepted", "refused", "call_back")
_REACHED = "(" + ", ".join(f"'{r}'" for r in REACHED_RESULTS) + ")"


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


def summary_after(tasks: Table, result: ColumnElement) -> dict[str, ColumnElement]:
    """A task's outcome summary once one more outcome, ``result``, is added as its newest: the
    values for an ``UPDATE`` of ``tasks`` (what the outcome-insert trigger would recompute)."""
    c = tasks.c
    return {
        "last_result": result,
        "attempts": func.coalesce(c.attempts, 0) + case((result != "already_churned", 1), else_=0),
        "reached_any": case(
            (result.in_(REACHED_RESULTS), 1), else_=func.coalesce(c.reached_any, 0)
        ),
        "accepted_any": case((result == "accepted", 1), else_=func.coalesce(c.accepted_any, 0)),
    }


def _sqlite_summarize(tid: str) -> str:
    return f"UPDATE tasks SET {_SUMMARY_COLUMNS} = {_outcome_summary(tid)} WHERE id = {tid};"


SQLITE_TRIGGERS = (
    # (dropped for the length of a bulk insert: :func:`sqlite_bulk_tasks`)
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


def _pg_apply(select: str, *, changed_only: bool = False) -> str:
    """Upsert the per-cell sums of ``select`` (signed rows), in key order; ``changed_only``
    leaves out the cells whose sums net to nothing (an update that moved no task)."""
    sums = ", ".join(f"sum({v})" for v in VALUES)
    having = " HAVING " + " OR ".join(f"sum({v}) <> 0" for v in VALUES) if changed_only else ""
    return (
        f"INSERT INTO task_cells ({_ALL_LIST})"
        f" SELECT {_KEY_LIST}, {sums} FROM ({select}) d GROUP BY {_KEY_LIST}{having}"
        f" ORDER BY {_KEY_LIST}" + _UPSERT_TAIL + ";"
    )


def _pg_summarize(ids: str) -> str:
    """Set the outcome summary of the tasks ``ids`` (a query of distinct task ids) where it
    changed: one grouped pass over their outcomes, joined to the tasks (a task left without
    outcomes gets the empty summary)."""
    agg = (
        "SELECT o.task_id, (array_agg(o.result ORDER BY o.id DESC))[1] AS last_result,"
        " sum(CASE WHEN o.result <> 'already_churned' THEN 1 ELSE 0 END) AS attempts,"
        f" max(CASE WHEN o.result IN {_REACHED} THEN 1 ELSE 0 END) AS reached_any,"
        " max(CASE WHEN o.result = 'accepted' THEN 1 ELSE 0 END) AS accepted_any"
        f" FROM outcomes o WHERE o.task_id IN ({ids}) GROUP BY o.task_id"
    )
    return (
        "UPDATE tasks t SET last_result = s.last_result, attempts = s.attempts,"
        " reached_any = s.reached_any, accepted_any = s.accepted_any"
        " FROM (SELECT x.task_id, a.last_result, COALESCE(a.attempts, 0) AS attempts,"
        " COALESCE(a.reached_any, 0) AS reached_any, COALESCE(a.accepted_any, 0) AS accepted_any"
        f" FROM ({ids}) x(task_id) LEFT JOIN ({agg}) a ON a.task_id = x.task_id) s"
        " WHERE t.id = s.task_id AND (t.last_result IS DISTINCT FROM s.last_result"
        " OR t.attempts <> s.attempts OR t.reached_any <> s.reached_any"
        " OR t.accepted_any <> s.accepted_any);"
    )


def _pg_function(name: str, body: str) -> str:
    """A statement trigger's function running ``body`` (one statement) as dynamic SQL: planned
    on every call for the transition tables it gets. A static statement would keep the plan
    of its session's first call — one made for a bulk COPY's hundred thousand rows took about
    a second on every single-row claim that followed on the same pooled connection."""
    stmt = body.strip().rstrip(";")
    assert "$q$" not in stmt
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"EXECUTE $q${stmt}$q$; RETURN NULL; END $$"
    )


def _pg_trigger(name: str, event: str, table: str, refs: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


POSTGRES_TRIGGERS = (
    _pg_function("task_cells_added", _pg_apply(_pg_cell_sums("task_cells_new", 1))),
    _pg_function("task_cells_removed", _pg_apply(_pg_cell_sums("task_cells_old", -1))),
    # an update: a statement trigger too — the old rows taken from their cells and the new
    # ones added, grouped per cell (no join of the two transition tables), and only the cells
    # whose sums changed are written: the outcome summaries of an outcome file's hundred
    # thousand tasks move their cells in one upsert, not two per task (a row trigger did that
    # and made outcome files 2.3 times slower); a claim or a call-back time writes nothing
    _pg_function(
        "task_cells_moved",
        _pg_apply(
            _pg_cell_sums("task_cells_new", 1)
            + " UNION ALL "
            + _pg_cell_sums("task_cells_old", -1),
            changed_only=True,
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
        "task_cells_moved",
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

# --- outcomes per day, branch and result (monitoring's chart) --------------------------------
# A task's branch is looked up when its outcome is written; a task deleted with its outcomes
# (a cascade) takes its outcomes' counts away before the row goes (a BEFORE DELETE trigger:
# during the cascade the outcomes' own triggers no longer find the task), and a task moved to
# another branch moves its outcomes' counts.

_DAYS_TAIL = (
    " ON CONFLICT (day, branch_id, result) DO UPDATE SET"
    " outcomes = outcome_days.outcomes + excluded.outcomes"
)
_DAYS_INSERT = "INSERT INTO outcome_days (day, branch_id, result, outcomes) "


def _sqlite_day_row(o: str, sign: int) -> str:
    return (
        f"{_DAYS_INSERT}SELECT date({o}.recorded_at), t.branch_id, {o}.result, {sign}"
        f" FROM tasks t WHERE t.id = {o}.task_id{_DAYS_TAIL};"
    )


def _sqlite_task_days(task: str, branch: str, sign: int) -> str:
    s = "" if sign > 0 else "-"
    return (
        f"{_DAYS_INSERT}SELECT date(o.recorded_at), {branch}, o.result, {s}count(*)"
        f" FROM outcomes o WHERE o.task_id = {task} GROUP BY 1, 3{_DAYS_TAIL};"
    )


_SQLITE_DAYS = (
    "CREATE TRIGGER IF NOT EXISTS outcome_days_insert AFTER INSERT ON outcomes BEGIN "
    + _sqlite_day_row("NEW", 1)
    + " END",
    "CREATE TRIGGER IF NOT EXISTS outcome_days_delete AFTER DELETE ON outcomes BEGIN "
    + _sqlite_day_row("OLD", -1)
    + " END",
    "CREATE TRIGGER IF NOT EXISTS outcome_days_update AFTER UPDATE OF task_id, result,"
    " recorded_at ON outcomes WHEN OLD.task_id IS NOT NEW.task_id OR OLD.result IS NOT NEW.result"
    " OR date(OLD.recorded_at) IS NOT date(NEW.recorded_at) BEGIN "
    + _sqlite_day_row("OLD", -1)
    + " "
    + _sqlite_day_row("NEW", 1)
    + " END",
    "CREATE TRIGGER IF NOT EXISTS outcome_days_task_delete BEFORE DELETE ON tasks BEGIN "
    + _sqlite_task_days("OLD.id", "OLD.branch_id", -1)
    + " END",
    "CREATE TRIGGER IF NOT EXISTS outcome_days_task_branch AFTER UPDATE OF branch_id ON tasks"
    " WHEN OLD.branch_id IS NOT NEW.branch_id BEGIN "
    + _sqlite_task_days("NEW.id", "OLD.branch_id", -1)
    + " "
    + _sqlite_task_days("NEW.id", "NEW.branch_id", 1)
    + " END",
)


def _pg_days_apply(select: str) -> str:
    return (
        f"{_DAYS_INSERT}SELECT day, branch_id, result, sum(n) FROM ({select}) d"
        f" GROUP BY day, branch_id, result HAVING sum(n) <> 0 ORDER BY day, branch_id, result"
        f"{_DAYS_TAIL};"
    )


def _pg_days_of(outcomes: str, sign: int) -> str:
    s = "" if sign > 0 else "-"
    return (
        f"SELECT CAST(o.recorded_at AS DATE) AS day, t.branch_id, o.result, {s}count(*) AS n"
        f" FROM {outcomes} o JOIN tasks t ON t.id = o.task_id GROUP BY 1, 2, 3"
    )


def _pg_outcome_moved(side: str) -> str:
    return (
        f"(SELECT {side}.* FROM days_old o JOIN days_new n ON n.id = o.id"
        " WHERE o.task_id <> n.task_id OR o.result <> n.result"
        " OR CAST(o.recorded_at AS DATE) <> CAST(n.recorded_at AS DATE))"
    )


def _pg_task_days(branch: str, sign: int) -> str:
    """A task's outcomes per day and result added to (or taken from) ``branch``."""
    s = "" if sign > 0 else "-"
    return (
        f"{_DAYS_INSERT}SELECT CAST(o.recorded_at AS DATE), {branch}, o.result, {s}count(*)"
        f" FROM outcomes o WHERE o.task_id = NEW.id GROUP BY 1, 3 ORDER BY 1, 3{_DAYS_TAIL};"
    )


_PG_DAYS = (
    _pg_function("outcome_days_added", _pg_days_apply(_pg_days_of("days_new", 1))),
    _pg_function("outcome_days_removed", _pg_days_apply(_pg_days_of("days_old", -1))),
    _pg_function(
        "outcome_days_changed",
        _pg_days_apply(
            _pg_days_of(_pg_outcome_moved("o"), -1)
            + " UNION ALL "
            + _pg_days_of(_pg_outcome_moved("n"), 1)
        ),
    ),
    "CREATE OR REPLACE FUNCTION outcome_days_task_moved() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN "
    + _pg_task_days("OLD.branch_id", -1)
    + " "
    + _pg_task_days("NEW.branch_id", 1)
    + " RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION outcome_days_task_removed() RETURNS trigger LANGUAGE plpgsql"
    f" AS $$ BEGIN {_DAYS_INSERT}SELECT CAST(o.recorded_at AS DATE), OLD.branch_id, o.result,"
    " -count(*) FROM outcomes o WHERE o.task_id = OLD.id GROUP BY 1, 3 ORDER BY 1, 3"
    f"{_DAYS_TAIL}; RETURN OLD; END $$",
    _pg_trigger(
        "outcome_days_insert", "INSERT", "outcomes", "NEW TABLE AS days_new", "outcome_days_added"
    ),
    _pg_trigger(
        "outcome_days_delete", "DELETE", "outcomes", "OLD TABLE AS days_old", "outcome_days_removed"
    ),
    _pg_trigger(
        "outcome_days_update",
        "UPDATE",
        "outcomes",
        "OLD TABLE AS days_old NEW TABLE AS days_new",
        "outcome_days_changed",
    ),
    "CREATE TRIGGER outcome_days_task_branch AFTER UPDATE OF branch_id ON tasks FOR EACH ROW"
    " WHEN (OLD.branch_id IS DISTINCT FROM NEW.branch_id)"
    " EXECUTE FUNCTION outcome_days_task_moved()",
    "CREATE TRIGGER outcome_days_task_delete BEFORE DELETE ON tasks FOR EACH ROW"
    " EXECUTE FUNCTION outcome_days_task_removed()",
)

#: outcomes per day, branch and result as they are (the recount)
DAYS_RECOUNT = {
    "sqlite": "SELECT date(o.recorded_at) AS day, t.branch_id, o.result, count(*) AS outcomes"
    " FROM outcomes o JOIN tasks t ON t.id = o.task_id GROUP BY 1, 2, 3",
    "postgresql": "SELECT CAST(o.recorded_at AS DATE) AS day, t.branch_id, o.result,"
    " count(*) AS outcomes FROM outcomes o JOIN tasks t ON t.id = o.task_id GROUP BY 1, 2, 3",
}


def days_backfill(dialect: str) -> str:
    """The statement that fills ``outcome_days`` from the outcomes there are."""
    return f"{_DAYS_INSERT}{DAYS_RECOUNT.get(dialect, DAYS_RECOUNT['sqlite'])}"


_TRIGGERS = (
    ("tasks", "task_cells_insert"),
    ("tasks", "task_cells_delete"),
    ("tasks", "task_cells_update"),
    ("outcomes", "task_outcomes_insert"),
    ("outcomes", "task_outcomes_delete"),
    ("outcomes", "task_outcomes_update"),
    ("outcomes", "outcome_days_insert"),
    ("outcomes", "outcome_days_delete"),
    ("outcomes", "outcome_days_update"),
    ("tasks", "outcome_days_task_delete"),
    ("tasks", "outcome_days_task_branch"),
)
SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {name}" for _t, name in _TRIGGERS)
POSTGRES_DROP = tuple(f"DROP TRIGGER IF EXISTS {name} ON {t}" for t, name in _TRIGGERS) + tuple(
    f"DROP FUNCTION IF EXISTS {f}()"
    for f in (
        "task_cells_added",
        "task_cells_removed",
        "task_cells_moved",
        "task_outcomes_added",
        "task_outcomes_removed",
        "task_outcomes_changed",
        "outcome_days_added",
        "outcome_days_removed",
        "outcome_days_changed",
        "outcome_days_task_moved",
        "outcome_days_task_removed",
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
#: add the tasks with an id above ``:after`` to their cells (a bulk insert's, on SQLite)
ADD_NEWER = (
    f"INSERT INTO task_cells ({_ALL_LIST}) SELECT {_key_exprs('t', named=True)}, {_sums('t')}"
    f" FROM tasks t WHERE t.id > :after GROUP BY"
    f" {', '.join(str(i) for i in range(1, len(KEYS) + 1))}" + _UPSERT_TAIL
)


def trigger_statements(dialect: str) -> tuple[str, ...]:
    """The DDL that keeps ``task_cells`` on ``dialect`` (empty for another database)."""
    if dialect == "sqlite":
        return SQLITE_TRIGGERS + _SQLITE_DAYS
    if dialect == "postgresql":
        return POSTGRES_TRIGGERS + _PG_DAYS
    return ()


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The DDL that removes the triggers (and functions) of :func:`trigger_statements`."""
    return {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(dialect, ())


@contextmanager
def sqlite_bulk_tasks(conn: Connection) -> Iterator[None]:
    """Around a bulk insert of new tasks on SQLite (ids assigned by the database): the row
    trigger is dropped and the new tasks are added to their cells by one grouped upsert after
    the insert, then the trigger is re-created — all in the insert's transaction (SQLite's DDL is
    transactional, and its one writer lets no other write in meanwhile), as PostgreSQL's
    statement trigger does. A row trigger, even one skipped by its WHEN clause, more than
    doubled the time of a plan's 545 k-task insert. Rows inserted before a failure are counted
    too, and the trigger is back whatever happens."""
    # Python's sqlite3 opens its transaction only before a DML statement, and runs DDL outside
    # one otherwise: a no-op DELETE first, so the DROP is part of the insert's transaction
    conn.exec_driver_sql("DELETE FROM task_cells WHERE 0 = 1")
    if not conn.connection.driver_connection.in_transaction:
        raise RuntimeError("the bulk insert of tasks must run in a transaction")
    after = conn.exec_driver_sql("SELECT COALESCE(max(id), 0) FROM tasks").scalar()
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS task_cells_insert")
    try:
        yield
    finally:
        conn.execute(text(ADD_NEWER), {"after": after})
        conn.exec_driver_sql(SQLITE_TRIGGERS[0])


#: the row triggers an outcome file's bulk write fires once per row on SQLite
_OUTCOME_FILE_TRIGGERS = ("task_cells_update", "task_outcomes_insert", "outcome_days_insert")


def _cells_of(rows: str, sign: int) -> str:
    """Add (``sign`` 1) or take away (-1) the tasks whose ids are in table ``rows`` (column
    ``id``) to or from their cells: one grouped upsert."""
    s = "" if sign > 0 else "-"
    sums = ", ".join(f"{s}sum({e}) AS {k}" for k, e in _values("t").items())
    return (
        f"INSERT INTO task_cells ({_ALL_LIST}) SELECT {_key_exprs('t', named=True)}, {sums}"
        f" FROM tasks t WHERE t.id IN (SELECT id FROM {rows}) GROUP BY"
        f" {', '.join(str(i) for i in range(1, len(KEYS) + 1))}" + _UPSERT_TAIL
    )


@contextmanager
def sqlite_bulk_outcomes(conn: Connection, rows: str) -> Iterator[None]:
    """Around an outcome file's bulk write on SQLite (``rows``: a table with the ``id`` of every
    task the write moves and adds one outcome to): the row triggers it would fire a million
    times — the task update's cell move, the outcome insert's task summary and its day count —
    are dropped, and the same figures are kept by grouped statements instead: the file's tasks
    leave their cells before the write and come back after it (moved, with their new summary),
    and the new outcomes are counted per day. The write's own task update sets each task's
    summary (:func:`summary_after`: one outcome more, the newest). All in the write's
    transaction, like :func:`sqlite_bulk_tasks`, which rolls back as a whole if it fails; the
    triggers are back whatever happens."""
    conn.exec_driver_sql("DELETE FROM task_cells WHERE 0 = 1")  # opens the transaction
    if not conn.connection.driver_connection.in_transaction:
        raise RuntimeError("the bulk write of outcomes must run in a transaction")
    after = conn.exec_driver_sql("SELECT COALESCE(max(id), 0) FROM outcomes").scalar()
    conn.exec_driver_sql(_cells_of(rows, -1))
    for name in _OUTCOME_FILE_TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        conn.exec_driver_sql(_cells_of(rows, 1))
        conn.execute(
            text(
                f"{_DAYS_INSERT}SELECT date(o.recorded_at), t.branch_id, o.result, count(*)"
                " FROM outcomes o JOIN tasks t ON t.id = o.task_id WHERE o.id > :after"
                f" GROUP BY 1, 2, 3{_DAYS_TAIL}"
            ),
            {"after": after},
        )
        by_name = {stmt.split()[5]: stmt for stmt in (*SQLITE_TRIGGERS, *_SQLITE_DAYS)}
        for name in _OUTCOME_FILE_TRIGGERS:
            conn.exec_driver_sql(by_name[name])


def has_insert_trigger(conn: Connection) -> bool:
    """Whether the SQLite database keeps task cells (revision 0011: the insert trigger)."""
    return bool(
        conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
            " AND name = 'task_cells_insert'"
        ).scalar()
    )


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
    dialect = session.get_bind().dialect.name
    days = {
        (str(d), b, r): int(n)
        for d, b, r, n in session.execute(
            text("SELECT day, branch_id, result, outcomes FROM outcome_days")
        )
    }
    days_counted = {
        (str(d), b, r): int(n)
        for d, b, r, n in session.execute(text(DAYS_RECOUNT.get(dialect, DAYS_RECOUNT["sqlite"])))
    }
    for key in sorted(set(days) | set(days_counted)):
        if days.get(key, 0) != days_counted.get(key, 0):
            out.append(
                {"day": key[0], "branch_id": key[1], "result": key[2]}
                | {"kept": days.get(key, 0), "counted": days_counted.get(key, 0)}
            )
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
    session.execute(text("DELETE FROM outcome_days"))
    session.execute(text(days_backfill(session.get_bind().dialect.name)))
    return int(session.execute(text("SELECT count(*) FROM task_cells")).scalar_one())
