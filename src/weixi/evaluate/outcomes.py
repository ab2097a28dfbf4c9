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


def outcomes_sql(
    month: dt.date,
    *,
    with_segments: bool = False,
    contacts_table: str | None = None,
    plan_version: int | None = None,
    ordered: bool = True,
) -> str:
    """SQL selecting the outcomes of ``month``'s planned customers (needs month+1 loaded).

    Args:
        month: the campaign month (first day).
        with_segments: join ``segments`` for the stability group and urgency of month t.
        contacts_table: optional table shaped like ``contact_outcomes`` with the execution
            outcomes of treated customers; contacted, accepted and actual_cost are NULL if absent.
        plan_version: evaluate that stored version of each campaign (e.g. a superseded one)
            instead of the executed plans.
        ordered: rows in campaign and subscriber order (else in no particular order).
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
{"ORDER BY p.campaign_id, p.subscriber_id" if ordered else ""}
"""
