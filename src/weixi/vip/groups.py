"""Enterprise groups (集团客户): grade, members, key persons, coverage, stability and alerts.

One DuckDB query per month over the imported snapshot, the segments (the group grade A/B/C is
the segmentation's ``group_class``: one truth), the ``enterprise_groups`` and
``group_contacts`` reference tables and the books of business (the group's account manager).

- **member coverage (集团成员覆盖率)** of a group: its live member lines on our network over
  the group's handsets (``handset_count``); of a branch or manager: the same sums' ratio; of the
  operator (the seed's 27 %): member lines over all live mobile lines.
- **group stability (集团客户稳定率)**: of last month's live member lines, the share still live
  members of the same group this month.
- **group alert (集团异动预警)**: ≥ ``member_share`` of last month's members left (groups with
  at least ``min_members``), or ≥ ``key_persons`` of its key persons (联系人) left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from weixi.errors import NotFoundError
from weixi.store.months import add_months, parse_month
from weixi.vip.params import VipParams, load_params

KPI_TABLE = "group_kpis"  # declared in weixi.store.schema.tables


@dataclass(frozen=True)
class GroupKpiRun:
    """What :func:`compute_month` wrote: the month, the table and the counts."""

    month: dt.date
    table: str
    groups: int
    alerts: int


def _live(alias: str) -> str:
    return f"{alias}.status <> 'cancelled'"


def compute_month(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, params: VipParams | None = None
) -> GroupKpiRun:
    """Compute and store (replace) the month's per-group KPIs and alerts in ``group_kpis``."""
    p = (params or load_params()).group_alert
    m = parse_month(month)
    prev = add_months(m, -1)
    if not con.execute("SELECT EXISTS (SELECT 1 FROM enterprise_groups)").fetchall()[0][0]:
        raise NotFoundError("no enterprise groups: import a month with its reference tables")
    if not con.execute("SELECT count(*) FROM snapshot WHERE month = ?", [m]).fetchall()[0][0]:
        raise NotFoundError("month {month:%Y-%m} is not imported", month=m)
    grade = """(SELECT s.group_id, mode(g.group_class) AS grade FROM snapshot s
             JOIN segments g ON g.month = s.month AND g.subscriber_id = s.subscriber_id
             WHERE s.month = $m AND s.group_id IS NOT NULL GROUP BY s.group_id)"""
    contacts = "(SELECT subscriber_id, group_id FROM group_contacts)"
    books = """(SELECT key AS group_id, staff_id FROM books WHERE kind = 'group' AND month =
             (SELECT max(month) FROM books WHERE kind = 'group' AND month <= $m))"""
    con.execute(f"DELETE FROM {KPI_TABLE} WHERE month = $m", {"m": m})
    con.execute(
        f"""
        INSERT INTO {KPI_TABLE}
        WITH cur AS (
          SELECT subscriber_id, group_id FROM snapshot s
          WHERE s.month = $m AND s.group_id IS NOT NULL AND {_live("s")}),
        prv AS (
          SELECT subscriber_id, group_id FROM snapshot s
          WHERE s.month = $prev AND s.group_id IS NOT NULL AND {_live("s")}),
        moves AS (
          SELECT p.group_id, p.subscriber_id, c.subscriber_id IS NOT NULL AS stayed,
                 k.subscriber_id IS NOT NULL AS is_key
          FROM prv p
          LEFT JOIN cur c ON c.subscriber_id = p.subscriber_id AND c.group_id = p.group_id
          LEFT JOIN {contacts} k ON k.subscriber_id = p.subscriber_id AND k.group_id = p.group_id),
        mv AS (
          SELECT group_id, count(*) AS members_prev, count(*) FILTER (WHERE stayed) AS stayed,
                 count(*) FILTER (WHERE NOT stayed) AS left_group,
                 count(*) FILTER (WHERE NOT stayed AND is_key) AS key_left
          FROM moves GROUP BY group_id),
        cm AS (SELECT group_id, count(*) AS members FROM cur GROUP BY group_id),
        kp AS (
          SELECT k.group_id, count(*) AS key_persons FROM {contacts} k
          JOIN cur c ON c.subscriber_id = k.subscriber_id AND c.group_id = k.group_id
          GROUP BY k.group_id),
        base AS (
          SELECT g.group_id, g.name, g.branch_id, g.industry, gr.grade, g.handset_count,
                 coalesce(cm.members, 0) AS members, coalesce(mv.members_prev, 0) AS members_prev,
                 coalesce(mv.stayed, 0) AS stayed, coalesce(mv.left_group, 0) AS left_group,
                 coalesce(kp.key_persons, 0) AS key_persons, coalesce(mv.key_left, 0) AS key_left,
                 b.staff_id
          FROM enterprise_groups g
          LEFT JOIN cm USING (group_id) LEFT JOIN mv USING (group_id)
          LEFT JOIN kp USING (group_id) LEFT JOIN {grade} gr USING (group_id)
          LEFT JOIN {books} b USING (group_id))
        SELECT $m, group_id, name, branch_id, industry, grade, handset_count, members,
               members_prev, stayed, left_group, key_persons, key_left,
               CASE WHEN handset_count > 0 THEN least(members / handset_count, 1.0) END,
               CASE WHEN members_prev > 0 THEN stayed / members_prev END,
               share_hit OR key_hit,
               CASE WHEN share_hit AND key_hit THEN 'members_and_key_persons'
                    WHEN share_hit THEN 'members' WHEN key_hit THEN 'key_persons' END,
               staff_id
        FROM (SELECT *,
                members_prev >= $min_members AND left_group >= $share * members_prev AS share_hit,
                key_left >= $key_persons AS key_hit
              FROM base)
        """,
        {
            "m": m,
            "prev": prev,
            "share": p.member_share,
            "key_persons": p.key_persons,
            "min_members": p.min_members,
        },
    )
    n, alerts = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE alert) FROM {KPI_TABLE} WHERE month = ?", [m]
    ).fetchall()[0]
    return GroupKpiRun(m, KPI_TABLE, int(n), int(alerts))


def _require(con: duckdb.DuckDBPyConnection, m: dt.date) -> None:
    if not con.execute(f"SELECT count(*) FROM {KPI_TABLE} WHERE month = ?", [m]).fetchall()[0][0]:
        raise NotFoundError(
            "no group KPIs for {month:%Y-%m}: run `weixi groups kpis --month {month:%Y-%m}`",
            month=m,
        )


def _where(branch: str | None) -> tuple[str, list]:
    return ("AND branch_id = ?", [branch]) if branch else ("", [])


def summary(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, *, branch: str | None = None
) -> dict:
    """Return the month's grade shares, coverage and stability overall, by branch and by manager."""
    m = parse_month(month)
    _require(con, m)
    where, args = _where(branch)

    def rows(sql: str, extra: list | None = None) -> list[dict]:
        cur = con.execute(sql, [m, *args, *(extra or [])])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    agg = """count(*) AS groups, sum(members) AS members, sum(handset_count) AS handsets,
             round(sum(members) / nullif(sum(handset_count), 0), 4) AS coverage,
             round(sum(stayed) / nullif(sum(members_prev), 0), 4) AS stability,
             count(*) FILTER (WHERE alert) AS alerts"""
    grades = rows(
        f"""SELECT coalesce(grade, 'none') AS grade, count(*) AS groups,
                   round(count(*) / sum(count(*)) OVER (), 4) AS share
            FROM {KPI_TABLE} WHERE month = ? {where} GROUP BY 1 ORDER BY 1"""
    )
    total = rows(f"SELECT {agg} FROM {KPI_TABLE} WHERE month = ? {where}")[0]
    bwhere = "AND s.branch_id = ?" if branch else ""
    lines = con.execute(
        f"""SELECT count(*) FILTER (WHERE group_id IS NOT NULL), count(*) FROM snapshot s
            WHERE month = ? AND line_type = 'mobile' AND status <> 'cancelled' {bwhere}""",
        [m, *args],
    ).fetchall()[0]
    total["member_lines_share"] = round(lines[0] / lines[1], 4) if lines[1] else None
    return {
        "month": f"{m:%Y-%m}",
        "branch": branch,
        "grades": grades,
        "total": total,
        "by_branch": rows(
            f"SELECT branch_id, {agg} FROM {KPI_TABLE} WHERE month = ? {where} "
            "GROUP BY branch_id ORDER BY branch_id"
        ),
        "by_manager": rows(
            f"SELECT coalesce(staff_id, '') AS staff_id, {agg} FROM {KPI_TABLE} "
            f"WHERE month = ? {where} GROUP BY 1 ORDER BY 1"
        ),
    }


def get_all(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    *,
    branch: str | None = None,
    staff_id: str | None = None,
    alerts_only: bool = False,
) -> list[dict]:
    """Return the month's groups (alerts first, then by size), optionally filtered."""
    m = parse_month(month)
    _require(con, m)
    where, args = _where(branch)
    if staff_id:
        where += " AND staff_id = ?"
        args.append(staff_id)
    if alerts_only:
        where += " AND alert"
    cur = con.execute(
        f"SELECT * FROM {KPI_TABLE} WHERE month = ? {where} "
        "ORDER BY alert DESC, members DESC, group_id",
        [m, *args],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def members(con: duckdb.DuckDBPyConnection, month: str | dt.date, group_id: str) -> list[dict]:
    """Return a group's live member lines this month with tier, churn risk and key-person role."""
    m = parse_month(month)
    cur = con.execute(
        """
        SELECT s.subscriber_id, s.customer_id, s.phone, s.name, s.branch_id, s.arpu,
               g.vip_tier, c.p_churn, k.role AS key_role
        FROM snapshot s
        LEFT JOIN segments g ON g.month = s.month AND g.subscriber_id = s.subscriber_id
        LEFT JOIN churn_scores c ON c.month = s.month AND c.subscriber_id = s.subscriber_id
        LEFT JOIN group_contacts k ON k.subscriber_id = s.subscriber_id
             AND k.group_id = s.group_id
        WHERE s.month = ? AND s.group_id = ? AND s.status <> 'cancelled'
        ORDER BY key_role IS NULL, p_churn DESC NULLS LAST, s.subscriber_id
        """,
        [m, group_id],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def campaign_targets(con: duckdb.DuckDBPyConnection, month: str | dt.date) -> list[dict]:
    """Return the alerted groups with their remaining members (``weixi groups alerts``).

    One row per group: its manager, the reason, and how many live members and key persons are
    left to visit. The group retention campaign (:mod:`weixi.vip.campaign`) starts from these
    alerts, adds the riskiest groups and holds whole groups back as its control.
    """
    rows = get_all(con, month, alerts_only=True)
    return [
        {
            "group_id": r["group_id"],
            "name": r["name"],
            "branch_id": r["branch_id"],
            "grade": r["grade"],
            "staff_id": r["staff_id"],
            "reason": r["alert_reason"],
            "left_group": r["left_group"],
            "members": r["members"],
            "key_persons": r["key_persons"],
        }
        for r in rows
    ]


def latest_month(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """Return the latest month with group KPIs, or None."""
    return con.execute(f"SELECT max(month) FROM {KPI_TABLE}").fetchall()[0][0]
