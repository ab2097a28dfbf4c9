"""Plan versions and their life cycle, kept with the plan in the analytics store.

A plan is one campaign's assignment of one month: who is treated, who is the randomized
control, through which action, channel and person. Its record is what evaluation measures, so
it is written once and never rewritten after it was dispatched:

- **preview** — a what-if; planned in temporary tables, nothing is stored (not a status here).
- **draft** — saved and awaiting approval; a new plan of the same month and campaign replaces
  it (same version number).
- **pending** — dispatched but its tasks not yet committed in the operational database (the two
  stores cannot commit together): it becomes **approved** when the tasks commit. A crash in
  between leaves it pending; :func:`weixi.dispatch.service.recover_pending` settles it on the
  next plan or monthly run (approved if its tasks landed, else cancelled). Never evaluated.
- **approved** — dispatched: its tasks are live. Re-planning creates a new version; the old one
  becomes **superseded** and keeps its rows (evaluable on request, ``plan_version``).
- **closed** — the campaign ended; still evaluated.
- **cancelled** — never executed (or stopped before execution); never evaluated.

Only *executed* plans (approved or closed) count in evaluation, the plan adjustment and uplift
training: :func:`executed_sql` is the one definition every reader uses.

This module owns the tables ``plans``, ``plan_assignments`` and ``plan_not_on_list``.

Example:
    >>> from weixi.store.analytics import connect
    >>> con = connect(":memory:")
    >>> v = next_version(con, dt.date(2026, 3, 1), "q1")
    >>> v
    1
    >>> record(con, month=dt.date(2026, 3, 1), campaign="q1", version=v, status="draft")
    >>> set_status(con, campaign="q1", status="approved", month=dt.date(2026, 3, 1))
    1
    >>> [(r["version"], r["status"]) for r in get_all(con, campaign="q1")]
    [(1, 'approved')]
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import duckdb

from weixi.errors import ConfigError
from weixi.strategy.schemas import sql_literal


class PlanStatus(enum.StrEnum):
    """Life cycle of a stored plan version."""

    draft = "draft"
    pending = "pending"
    approved = "approved"
    closed = "closed"
    cancelled = "cancelled"
    superseded = "superseded"


#: English text of each status (translated by ``t``).
STATUS_TEXT = {
    "preview": "Preview",
    "draft": "Draft",
    "pending": "Dispatching",
    "approved": "Approved",
    "closed": "Closed",
    "cancelled": "Cancelled by the planner",
    "superseded": "Superseded by a re-plan",
}

#: Campaign ids of event triggers (``weixi.triggers``): one campaign per rule, typed "trigger".
TRIGGER_PREFIX = "trigger-"

#: The action of win-back plan rows (``weixi.dispatch.winback``): customers who already left,
#: measured by who comes back (``winback_evaluations``), never by the retention evaluation.
WINBACK_ACTION = "winback"


#: Plans whose treated/control record is evaluated (they were dispatched).
EXECUTED = (PlanStatus.approved.value, PlanStatus.closed.value)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def latest(con: duckdb.DuckDBPyConnection, month: dt.date, campaign: str) -> tuple[int, str] | None:
    """(version, status) of the newest stored plan of ``campaign`` in ``month``, or None."""
    rows = con.execute(
        "SELECT version, status FROM plans WHERE month = ? AND campaign_id = ? "
        "ORDER BY version DESC LIMIT 1",
        [month, campaign],
    ).fetchall()
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


def next_version(con: duckdb.DuckDBPyConnection, month: dt.date, campaign: str) -> int:
    """The version a new plan of ``campaign`` in ``month`` is stored under.

    A draft is replaced (its number is reused); after anything else a new number is taken, so a
    dispatched plan's record is never overwritten.
    """
    last = latest(con, month, campaign)
    if last is None:
        return 1
    version, status = last
    return version if status == PlanStatus.draft.value else version + 1


def confirm(con: duckdb.DuckDBPyConnection, *, month: dt.date, campaign: str, version: int) -> None:
    """A pending version's tasks committed: it becomes approved (superseding earlier ones)."""
    con.execute(
        "UPDATE plans SET status = 'approved', updated_at = ? "
        "WHERE month = ? AND campaign_id = ? AND version = ? AND status = 'pending'",
        [_now(), month, campaign, version],
    )
    _supersede(con, month, campaign, version)


def pending(con: duckdb.DuckDBPyConnection) -> list[tuple[dt.date, str, int, dt.datetime]]:
    """(month, campaign, version, created_at) of every pending version."""
    return [
        (r[0], str(r[1]), int(r[2]), r[3])
        for r in con.execute(
            "SELECT month, campaign_id, version, created_at FROM plans WHERE status = 'pending'"
        ).fetchall()
    ]


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    month: dt.date,
    campaign: str,
    version: int,
    status: str,
    on_list: int = 0,
    control: int = 0,
    expected_value: float = 0.0,
    cost: float = 0.0,
    control_share: float | None = None,
) -> None:
    """Store plan version ``version`` with ``status`` (replacing a draft of that number).

    An approved plan supersedes the month's earlier executed versions of the campaign.
    """
    if status not in {s.value for s in PlanStatus}:
        raise ConfigError("unknown plan status {status!r}", status=status)
    now = _now()
    con.execute(
        "DELETE FROM plans WHERE month = ? AND campaign_id = ? AND version = ?",
        [month, campaign, version],
    )
    con.execute(
        "INSERT INTO plans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            month,
            campaign,
            version,
            status,
            now,
            now,
            on_list,
            control,
            expected_value,
            cost,
            control_share,
        ],
    )
    if status == PlanStatus.approved.value:
        _supersede(con, month, campaign, version)


def _supersede(con: duckdb.DuckDBPyConnection, month: dt.date, campaign: str, keep: int) -> None:
    marks = ", ".join(sql_literal(s) for s in EXECUTED)
    con.execute(
        f"""UPDATE plans SET status = 'superseded', updated_at = ?
        WHERE month = ? AND campaign_id = ? AND version < ? AND status IN ({marks})""",
        [_now(), month, campaign, keep],
    )


# Which status a plan may move to from which.
_MOVES = {
    PlanStatus.approved.value: {PlanStatus.draft.value},
    PlanStatus.closed.value: {PlanStatus.approved.value},
    PlanStatus.cancelled.value: {
        PlanStatus.draft.value,
        PlanStatus.pending.value,
        PlanStatus.approved.value,
    },
}


def set_status(
    con: duckdb.DuckDBPyConnection,
    *,
    campaign: str,
    status: str,
    month: dt.date | None = None,
) -> int:
    """Move ``campaign``'s plans (of ``month``, or all months) to ``status``; return how many.

    approve: drafts → approved (superseding earlier executed versions); close: approved →
    closed; cancel: drafts, pending and approved → cancelled.
    """
    if status not in _MOVES:
        raise ConfigError(
            "a plan cannot be set to {status!r}; use approved, closed or cancelled", status=status
        )
    marks = ", ".join(sql_literal(s) for s in sorted(_MOVES[status]))
    rows = con.execute(
        f"""SELECT month, version FROM plans
        WHERE campaign_id = ? AND status IN ({marks}) AND month = COALESCE(?, month)""",
        [campaign, month],
    ).fetchall()
    for m, version in rows:
        con.execute(
            "UPDATE plans SET status = ?, updated_at = ? "
            "WHERE month = ? AND campaign_id = ? AND version = ?",
            [status, _now(), m, campaign, version],
        )
        if status == PlanStatus.approved.value:
            _supersede(con, m, campaign, int(version))
    return len(rows)


def get_all(
    con: duckdb.DuckDBPyConnection,
    *,
    month: dt.date | None = None,
    campaign: str | None = None,
) -> list[dict[str, Any]]:
    """Stored plan versions (newest month first), optionally of one month and/or campaign."""
    df = con.execute(
        """SELECT month, campaign_id, version, status, on_list, control, expected_value, cost,
                  control_share, created_at, updated_at
        FROM plans WHERE month = COALESCE(?, month) AND campaign_id = COALESCE(?, campaign_id)
        ORDER BY month DESC, campaign_id, version""",
        [month, campaign],
    ).fetchall()
    cols = (
        "month",
        "campaign_id",
        "version",
        "status",
        "on_list",
        "control",
        "expected_value",
        "cost",
        "control_share",
        "created_at",
        "updated_at",
    )
    return [dict(zip(cols, r, strict=True)) for r in df]


def executed_sql(
    month_sql: str | None = None, *, version: int | None = None, winback: bool = False
) -> str:
    """SELECT of the executed plans' assignment rows (the record evaluation measures).

    ``month_sql`` limits to one month (an SQL date literal); ``version`` picks that stored
    version of each campaign instead (e.g. a superseded one), whatever its status. Win-back
    rows (action :data:`WINBACK_ACTION`: customers who already left) are left out unless
    ``winback``; they are measured by who comes back, not by who stays.
    """
    marks = ", ".join(sql_literal(s) for s in EXECUTED)
    cond = f"v.version = {int(version)}" if version is not None else f"v.status IN ({marks})"
    where = [f"a.month = {month_sql}"] if month_sql else []
    if not winback:
        where.append(f"a.action IS DISTINCT FROM {sql_literal(WINBACK_ACTION)}")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return f"""SELECT a.* FROM plan_assignments a
        JOIN plans v ON v.month = a.month AND v.campaign_id = a.campaign_id
             AND v.version = a.plan_version AND {cond}
        {clause}"""


def executed_months(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """Months with at least one executed retention plan row (win-back lists aside), oldest
    first: the months the monthly evaluation measures."""
    rows = con.execute(f"SELECT DISTINCT month FROM ({executed_sql()}) ORDER BY month").fetchall()
    return [r[0] for r in rows]
