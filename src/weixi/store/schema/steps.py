"""The versioned steps of the analytics store's schema, in order.

A step changes what the additive sync cannot: a rename, a backfill, a drop. It runs inside the
upgrade's transaction against the store as it was, before the declared tables
(:data:`weixi.store.schema.tables.TABLES`) are created and their missing columns added; it may
create or alter what it needs itself. A column or a table that only needs to appear needs no
code: declare it in :mod:`.tables` and append a step without ``apply``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from weixi.store.schema.tables import TABLES


@dataclass(frozen=True)
class Step:
    """One schema version: its number, a short name and what it does (None: additive only)."""

    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None] | None = None
    #: run once the upgrade has committed (every declared table exists), in its own
    #: transaction; a failure is logged and leaves the upgrade in place (e.g. a backfill)
    after: Callable[[duckdb.DuckDBPyConnection], None] | None = None


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ?",
            [table],
        ).fetchall()[0][0]
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ?",
            [table],
        ).fetchall()
    }


def _baseline(con: duckdb.DuckDBPyConnection) -> None:
    """Adopt a store written before schema versions (weixi ≤ the 2026-12 main).

    Such a file holds the tables its steps happened to create, some without the columns added
    later (those the sync adds, NULL for old rows). Three older layouts need more than a column:
    a churn registry without roles gets its active model as champion, the others challengers;
    ``evaluation_outcomes.cost`` became ``planned_cost`` (``actual_cost`` stays NULL: unknown),
    and plans stored before plan versions existed were dispatched as soon as planned, so their
    rows become version 1, approved.
    """
    if _has(con, "churn_models") and "role" not in _columns(con, "churn_models"):
        con.execute("ALTER TABLE churn_models ADD COLUMN role VARCHAR DEFAULT 'challenger'")
        con.execute(
            "UPDATE churn_models SET role = CASE WHEN active THEN 'champion' ELSE 'challenger' END"
        )
    if _has(con, "evaluation_outcomes"):
        cols = _columns(con, "evaluation_outcomes")
        if "cost" in cols and "planned_cost" not in cols:
            con.execute("ALTER TABLE evaluation_outcomes RENAME COLUMN cost TO planned_cost")
    if _has(con, "plan_assignments") and not _has(con, "plans"):
        con.execute(TABLES["plans"].ddl())
        for table in ("plan_assignments", "plan_not_on_list"):
            if _has(con, table):
                con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS plan_version INTEGER")
                con.execute(f"UPDATE {table} SET plan_version = 1 WHERE plan_version IS NULL")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        con.execute(
            """INSERT INTO plans
            SELECT month, campaign_id, 1, 'approved', ?, ?,
                   count(*) FILTER (WHERE NOT is_control), count(*) FILTER (WHERE is_control),
                   sum(expected_value) FILTER (WHERE NOT is_control),
                   sum(cost) FILTER (WHERE NOT is_control), NULL
            FROM plan_assignments GROUP BY month, campaign_id""",
            [now, now],
        )


def _read_models(con: duckdb.DuckDBPyConnection) -> None:
    """Write the pages' read models (``rm_*``) for every month of the store, so an upgraded
    store's pages read summaries at once instead of waiting for the next monthly job."""
    from weixi import summaries

    summaries.backfill(con)


#: Every step, in version order (append only; the lead renumbers when merging branches).
STEPS: tuple[Step, ...] = (
    Step(1, "baseline: every table of weixi 0.x", _baseline),
    # the declared tables and columns are created by upgrade() after the steps
    Step(2, "uplift.take_rate and channel_effects (learned response)"),
    Step(
        3,
        "declared: events, complaint_log, books, group_kpis, trigger_firings "
        "(created by their modules before)",
    ),
    Step(4, "add table group_campaign"),
    Step(5, "winback_evaluations (win-back lists measured by the monthly job)"),
    Step(6, "read models of the pages (rm_*), backfilled from every month", after=_read_models),
)
