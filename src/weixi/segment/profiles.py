"""Segment profiles, month-over-month migration and the exclusion funnel (DuckDB SQL).

These run on the stored ``segments`` table in the analytics DuckDB file, after the rules
(which may have run on Spark) wrote the month. Each function returns an ``INSERT … SELECT``
body so the service can run them inside the month's replace transaction.
"""

from __future__ import annotations

import datetime as dt

from weixi.store.months import add_months, churn_label_sql

#: Dimensions profiled and tracked for migration (columns of ``segments``).
PROFILE_DIMENSIONS = (
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "stability_group",
    "urgency",
    "vad",
    "vip_tier",
    "group_class",
    "value_class",
    "relationship",
    "credit",
    "satisfaction_band",
    "cluster",
    "line_type",
)
MIGRATION_DIMENSIONS = ("stability_group", "a", "b", "c", "urgency", "value_class")


def _d(month: dt.date) -> str:
    return f"DATE '{month.isoformat()}'"


def profiles_sql(month: dt.date, next_loaded: bool) -> str:
    """SELECT of the profile rows of ``month`` over kept lines (one block per dimension).

    ``churn_rate_next`` uses ``weixi.store.months.churn_label_sql`` and is NULL when the next
    month is not loaded yet.
    """
    label = (
        f"LEFT JOIN ({churn_label_sql(month)}) l ON l.subscriber_id = s.subscriber_id"
        if next_loaded
        else ""
    )
    churned = "l.churned" if next_loaded else "NULL::INTEGER"
    base = f"""
      SELECT {", ".join(f"s.{c}" for c in ("arpu", *PROFILE_DIMENSIONS))},
             {churned} AS churned_next FROM segments s {label}
      WHERE s.month = {_d(month)} AND NOT s.excluded"""
    blocks = [
        f"""SELECT '{dim}' AS dimension, CAST({dim} AS VARCHAR) AS segment, count(*) AS n,
                 avg(arpu) AS arpu_mean, sum(arpu) AS revenue,
                 sum(churned_next) AS churned_next, avg(churned_next) AS churn_rate_next
          FROM base GROUP BY 2"""
        for dim in ("'all'", *PROFILE_DIMENSIONS)
    ]
    blocks[0] = blocks[0].replace("''all''", "'all'")
    union = "\nUNION ALL\n".join(blocks)
    return f"""
      WITH base AS ({base}),
      p AS ({union}),
      tot AS (SELECT count(*) AS n, sum(arpu) AS revenue FROM base)
      SELECT {_d(month)} AS month, p.dimension, coalesce(p.segment, '(none)') AS segment,
             p.n AS subscribers, p.n / nullif(tot.n, 0) AS share, p.arpu_mean, p.revenue,
             p.revenue / nullif(tot.revenue, 0) AS revenue_share,
             CAST(p.churned_next AS BIGINT) AS churned_next,
             CASE WHEN {str(next_loaded).upper()} THEN p.churn_rate_next END AS churn_rate_next
      FROM p, tot
      WHERE NOT (p.dimension <> 'all' AND p.segment IS NULL)
      ORDER BY p.dimension, segment"""


def migration_sql(month: dt.date) -> str:
    """SELECT of who moved from which group (previous month) to which (``month``).

    '(new)' = not segmented last month, '(gone)' = not in this month, '(excluded)' = excluded.
    The two months are joined once (a materialized CTE); each dimension groups that join.
    """
    prev = add_months(month, -1)
    picked = ", ".join(f"p.{dim} AS p_{dim}, c.{dim} AS c_{dim}" for dim in MIGRATION_DIMENSIONS)
    blocks = []
    for dim in MIGRATION_DIMENSIONS:
        blocks.append(
            f"""SELECT '{dim}' AS dimension,
                   CASE WHEN p_id IS NULL THEN '(new)'
                        WHEN p_excluded THEN '(excluded)'
                        ELSE coalesce(CAST(p_{dim} AS VARCHAR), '(none)') END AS from_segment,
                   CASE WHEN c_id IS NULL THEN '(gone)'
                        WHEN c_excluded THEN '(excluded)'
                        ELSE coalesce(CAST(c_{dim} AS VARCHAR), '(none)') END AS to_segment,
                   count(*) AS subscribers
            FROM j
            GROUP BY 1, 2, 3"""
        )
    return (
        f"""WITH j AS MATERIALIZED (
              SELECT p.subscriber_id AS p_id, p.excluded AS p_excluded,
                     c.subscriber_id AS c_id, c.excluded AS c_excluded, {picked}
              FROM (SELECT * FROM segments WHERE month = {_d(prev)}) p
              FULL OUTER JOIN (SELECT * FROM segments WHERE month = {_d(month)}) c
                ON p.subscriber_id = c.subscriber_id)
            SELECT {_d(month)} AS month, * FROM (\n"""
        + "\nUNION ALL\n".join(blocks)
        + "\n) ORDER BY dimension, from_segment, to_segment"
    )


def funnel_rows(con, month: dt.date, rule_keys: list[str]) -> list[tuple]:
    """Exclusion funnel per branch and line type: each rule's removals in preset order.

    Returns rows ``(month, branch_id, line_type, step, rule, removed, remaining)``; step 0 is
    the starting population (rule ``total``), the last step is ``kept``.
    """
    counts = con.execute(
        f"""SELECT branch_id, line_type, exclusion_reason, count(*) FROM segments
            WHERE month = {_d(month)} GROUP BY ALL"""
    ).fetchall()
    by_key: dict[tuple[str, str], dict[str | None, int]] = {}
    for branch, line_type, reason, n in counts:
        by_key.setdefault((branch, line_type), {})[reason] = n
    rows = []
    for (branch, line_type), reasons in sorted(
        by_key.items(), key=lambda kv: tuple(map(str, kv[0]))
    ):
        remaining = sum(reasons.values())
        rows.append((month, branch, line_type, 0, "total", 0, remaining))
        for step, key in enumerate(rule_keys, start=1):
            removed = reasons.get(key, 0)
            remaining -= removed
            rows.append((month, branch, line_type, step, key, removed, remaining))
        rows.append((month, branch, line_type, len(rule_keys) + 1, "kept", 0, remaining))
    return rows
