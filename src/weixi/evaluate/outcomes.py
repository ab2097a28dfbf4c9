"""Observed results of a month's campaign customers, read from the next month's snapshot.

When month t+1 is imported, every customer in month t's *executed* plans (approved or closed
plan versions, :func:`weixi.dispatch.plans.executed_sql`; previews, drafts, cancelled and
superseded versions never count) — treated and randomized control alike — gets an outcome: did the line stay (present and not cancelled in
t+1), what ARPU it billed in t+1 (0 if it left), and, for treated customers, whether it was
contacted and accepted the offer (when execution outcomes are known).

Two costs per row (0 for the control): ``planned_cost`` is the plan's price of the option
(one contact attempt + expected acceptance × offer cost); ``actual_cost`` is what execution
spent: contact cost × attempts + offer cost × accepted, from ``contact_outcomes`` (written by
:func:`weixi.flows.sync_contact_outcomes`). A treated customer without a contact record in an
executed month costs 0; ``actual_cost`` is NULL when the month's execution was never recorded.

The SQL is built here and run by :mod:`weixi.evaluate.service`; the result is stored in the
``evaluation_outcomes`` table (one row per planned customer per month).

Example:
    >>> "LEFT JOIN snapshot n" in outcomes_sql(dt.date(2026, 3, 1))
    True
"""

from __future__ import annotations

import datetime as dt

import duckdb

from weixi.dispatch.plans import executed_sql

OUTCOME_COLUMNS = (
    "month",
    "campaign_id",
    "subscriber_id",
    "customer_id",
    "branch_id",
    "action",
    "offer_id",
    "channel",
    "staff_id",
    "is_control",
    "p_churn",
    "expected_value",
    "planned_cost",
    "actual_cost",
    "arpu_before",
    "stayed",
    "arpu_after",
    "contacted",
    "accepted",
    "segment",
    "urgency",
)

OUTCOMES_DDL = """
CREATE TABLE IF NOT EXISTS evaluation_outcomes (
  month DATE, campaign_id VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, branch_id VARCHAR,
  action VARCHAR, offer_id VARCHAR, channel VARCHAR, staff_id VARCHAR, is_control BOOLEAN,
  p_churn DOUBLE, expected_value DOUBLE, planned_cost DOUBLE, actual_cost DOUBLE,
  arpu_before DOUBLE, stayed INTEGER, arpu_after DOUBLE, contacted BOOLEAN, accepted BOOLEAN,
  segment VARCHAR, urgency VARCHAR
)
"""

# The execution record of a month's treated plan customers, one row per campaign × subscriber
# (written by weixi.flows.sync_contact_outcomes): attempts (every recorded outcome except
# already_churned; a gateway-batch SMS/app send without a task counts one), contacted (reached
# at least once; NULL when the channel cannot tell), accepted, the prices in force (contact_cost
# per attempt, offer_cost per acceptance) and actual_cost = contact_cost × attempts +
# offer_cost × accepted.
CONTACTS_DDL = """
CREATE TABLE IF NOT EXISTS contact_outcomes (
  month DATE, subscriber_id VARCHAR, contacted BOOLEAN, accepted BOOLEAN, campaign_id VARCHAR,
  channel VARCHAR, offer_id VARCHAR, attempts INTEGER, contact_cost DOUBLE, offer_cost DOUBLE,
  actual_cost DOUBLE
)
"""
# Columns added after the first release (older analytics files get them on the next write).
_CONTACTS_NEW = (
    "campaign_id VARCHAR",
    "channel VARCHAR",
    "offer_id VARCHAR",
    "attempts INTEGER",
    "contact_cost DOUBLE",
    "offer_cost DOUBLE",
    "actual_cost DOUBLE",
)


def ensure_contacts_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``contact_outcomes`` or add the columns an older analytics file lacks."""
    con.execute(CONTACTS_DDL)
    for col in _CONTACTS_NEW:
        con.execute(f"ALTER TABLE contact_outcomes ADD COLUMN IF NOT EXISTS {col}")


def ensure_outcomes_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``evaluation_outcomes``; an older file's single ``cost`` becomes ``planned_cost``.

    Months evaluated before actual costs existed keep ``actual_cost`` NULL (unknown).
    """
    con.execute(OUTCOMES_DDL)
    cols = {r[0] for r in con.execute("DESCRIBE evaluation_outcomes").fetchall()}
    if "cost" in cols:
        con.execute("ALTER TABLE evaluation_outcomes RENAME COLUMN cost TO planned_cost")
    for col in ("planned_cost DOUBLE", "actual_cost DOUBLE"):
        con.execute(f"ALTER TABLE evaluation_outcomes ADD COLUMN IF NOT EXISTS {col}")


def outcomes_sql(
    month: dt.date,
    *,
    with_segments: bool = False,
    contacts_table: str | None = None,
    plan_version: int | None = None,
) -> str:
    """SQL selecting the outcomes of ``month``'s planned customers (needs month+1 loaded).

    Args:
        month: the campaign month (first day).
        with_segments: join ``segments`` for the stability group and urgency of month t.
        contacts_table: optional table shaped like ``contact_outcomes`` with the execution
            outcomes of treated customers; contacted, accepted and actual_cost are NULL if absent.
        plan_version: evaluate that stored version of each campaign (e.g. a superseded one)
            instead of the executed plans.
    """
    m = f"DATE '{month.isoformat()}'"
    seg_cols = (
        "g.stability_group AS segment, g.urgency"
        if with_segments
        else ("CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS VARCHAR) AS urgency")
    )
    seg_join = (
        f"LEFT JOIN segments g ON g.subscriber_id = p.subscriber_id AND g.month = {m}"
        if with_segments
        else ""
    )
    if contacts_table:
        c_cols = (
            "CASE WHEN p.is_control THEN NULL ELSE c.contacted END AS contacted, "
            "CASE WHEN p.is_control THEN NULL ELSE c.accepted END AS accepted"
        )
        actual = "c.actual_cost"
        # Rows of older files carry no campaign: they match the subscriber in any campaign.
        c_join = (
            f"LEFT JOIN {contacts_table} c ON c.subscriber_id = p.subscriber_id AND c.month = {m}"
            " AND COALESCE(c.campaign_id, CAST(p.campaign_id AS VARCHAR))"
            " = CAST(p.campaign_id AS VARCHAR)"
        )
    else:
        c_cols = "CAST(NULL AS BOOLEAN) AS contacted, CAST(NULL AS BOOLEAN) AS accepted"
        actual = "CAST(NULL AS DOUBLE)"
        c_join = ""
    return f"""
SELECT p.month, CAST(p.campaign_id AS VARCHAR) AS campaign_id, p.subscriber_id, p.customer_id,
       p.branch_id, p.action, CAST(p.offer_id AS VARCHAR) AS offer_id, p.channel,
       CAST(p.staff_id AS VARCHAR) AS staff_id, p.is_control, p.p_churn, p.expected_value,
       CASE WHEN p.is_control THEN 0.0 ELSE COALESCE(p.cost, 0.0) END AS planned_cost,
       CASE WHEN p.is_control THEN 0.0 ELSE {actual} END AS actual_cost,
       COALESCE(s.arpu, 0.0) AS arpu_before,
       CASE WHEN n.subscriber_id IS NULL OR n.status = 'cancelled' THEN 0 ELSE 1 END AS stayed,
       CASE WHEN n.subscriber_id IS NULL OR n.status = 'cancelled' THEN 0.0
            ELSE COALESCE(n.arpu, 0.0) END AS arpu_after,
       {c_cols},
       {seg_cols}
FROM ({executed_sql(m, version=plan_version)}) p
LEFT JOIN snapshot s ON s.subscriber_id = p.subscriber_id AND s.month = {m}
LEFT JOIN snapshot n ON n.subscriber_id = p.subscriber_id AND n.month = {m} + INTERVAL 1 MONTH
{seg_join}
{c_join}
WHERE p.month = {m}
ORDER BY p.campaign_id, p.subscriber_id
"""
