"""The VIP programme's monthly views: tier moves with notices, the care calendar, churn warning.

All read the segmentation (``segments.vip_tier`` is the one tier assignment; its thresholds are
the segment preset's) and are per customer: a customer's tier is their best line's tier.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import duckdb
import pyarrow as pa

from weixi.errors import NotFoundError
from weixi.i18n import t
from weixi.store.months import add_months, parse_month
from weixi.vip.params import VipParams, load_params

#: Columns of the events the trigger rules consume (branch ``events``): one row per event.
EVENT_SCHEMA = pa.schema(
    [
        ("event_date", pa.date32()),
        ("customer_id", pa.string()),
        ("event_type", pa.string()),
        ("attributes", pa.string()),  # JSON
    ]
)


def _require_segments(con: duckdb.DuckDBPyConnection, m: dt.date) -> None:
    if not con.execute("SELECT count(*) FROM segments WHERE month = ?", [m]).fetchall()[0][0]:
        raise NotFoundError(
            "month {month:%Y-%m} is not segmented: run `weixi segment` first", month=m
        )


def rank_case(p: VipParams, column: str = "vip_tier") -> str:
    """SQL ``CASE`` giving a tier code's rank (``none`` 0, the lowest tier 1)."""
    whens = " ".join(f"WHEN '{c}' THEN {r}" for c, r in p.tier_rank().items())
    return f"(CASE {column} {whens} ELSE 0 END)"


def _tiers_sql(p: VipParams) -> str:
    """SQL of ``(month, customer_id, branch_id, rank, tier)``: each customer's best tier."""
    case = rank_case(p)
    return f"""
        SELECT month, customer_id, arg_max(branch_id, arpu_3m) AS branch_id,
               max({case}) AS rank, arg_max(vip_tier, {case}) AS tier
        FROM segments GROUP BY month, customer_id"""


def tier_moves(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    params: VipParams | None = None,
    *,
    branch: str | None = None,
) -> list[dict]:
    """Return this month's tier moves (up, down, joined, left) with bilingual notices."""
    p = params or load_params()
    m = parse_month(month)
    _require_segments(con, m)
    prev = add_months(m, -1)
    where = "AND coalesce(c.branch_id, o.branch_id) = $b" if branch else ""
    labels = {tr.code: tr.label for tr in p.tiers}

    def label_case(col: str, loc: str) -> str:
        whens = " ".join(f"WHEN '{c}' THEN {_q(lb.get(loc))}" for c, lb in labels.items())
        return f"(CASE {col} {whens} ELSE '' END)"

    def notice(loc: str) -> str:
        # the translated template per move, its {new}/{old} filled in SQL (no row loop)
        whens = " ".join(f"WHEN '{mv}' THEN {_q(t(msg, loc))}" for mv, msg in _NOTICES.items())
        return (
            f"replace(replace(CASE move {whens} END, '{{new}}', {label_case('new_tier', loc)}),"
            f" '{{old}}', {label_case('old_tier', loc)})"
        )

    cur = con.execute(
        f"""
        WITH t AS ({_tiers_sql(p)}),
        mv AS (
          SELECT coalesce(c.customer_id, o.customer_id) AS customer_id,
                 coalesce(c.branch_id, o.branch_id) AS branch_id,
                 coalesce(o.tier, 'none') AS old_tier, coalesce(c.tier, 'none') AS new_tier,
                 coalesce(c.rank, 0) - coalesce(o.rank, 0) AS step
          FROM (SELECT * FROM t WHERE month = $m) c
          FULL JOIN (SELECT * FROM t WHERE month = $prev) o USING (customer_id)
          WHERE coalesce(c.rank, 0) <> coalesce(o.rank, 0)
            AND EXISTS (SELECT 1 FROM segments WHERE month = $prev) {where}),
        named AS (
          SELECT *, CASE WHEN old_tier = 'none' THEN 'joined' WHEN new_tier = 'none' THEN 'left'
                         WHEN step > 0 THEN 'up' ELSE 'down' END AS move FROM mv)
        SELECT customer_id, branch_id, old_tier, new_tier, move,
               {notice("en")} AS notice_en, {notice("zh-CN")} AS notice_zh
        FROM named ORDER BY step DESC, customer_id""",
        {"m": m, "prev": prev, **({"b": branch} if branch else {})},
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


_NOTICES = {
    "joined": "Welcome to the VIP programme: you are now a {new} member.",
    "up": "Congratulations: your membership rises from {old} to {new}.",
    "down": "Your membership changes from {old} to {new} this month; your points are kept.",
    "left": "Your {old} membership ends this month; your points stay valid for 12 months.",
}


def care_events(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, params: VipParams | None = None
) -> pa.Table:
    """Return the month's care events for VIP customers, as the trigger rules consume them.

    Columns ``event_date, customer_id, event_type, attributes`` (:data:`EVENT_SCHEMA`);
    ``event_type`` is ``vip_birthday`` (from the ID number's birth date), ``vip_holiday`` (the
    configured dates) or ``vip_tier_anniversary`` (first day of the month the current tier
    began, in a later year). ``attributes`` is JSON with the tier (and holiday or years).

    Example:
        >>> import duckdb
        >>> care_events(duckdb.connect(), "2026-10").num_rows  # doctest: +SKIP
    """
    p = params or load_params()
    m = parse_month(month)
    _require_segments(con, m)
    nxt = add_months(m, 1)
    parts = []
    vip = f"(SELECT * FROM ({_tiers_sql(p)}) WHERE month = $m AND rank > 0)"
    if p.care.birthday:
        parts.append(
            f"""
            SELECT DISTINCT ON (v.customer_id)
                   make_date(year($m), month(b), least(day(b), day(last_day($m)))) AS event_date,
                   v.customer_id, 'vip_birthday' AS event_type,
                   json_object('tier', v.tier) AS attributes
            FROM {vip} v
            JOIN (SELECT customer_id, try_strptime(substr(id_number, 7, 8), '%Y%m%d')::DATE AS b
                  FROM snapshot WHERE month = $m AND length(id_number) = 18) s
              ON s.customer_id = v.customer_id
            WHERE month(s.b) = month($m)"""
        )
    days = []
    for h in p.care.holidays:
        d = (
            dt.date.fromisoformat(h.date)
            if len(h.date) == 10
            else dt.date(m.year, int(h.date[:2]), int(h.date[3:]))
        )
        if m <= d < nxt:
            days.append((d, h.label.en, h.label.zh))
    if days:
        values = ", ".join(f"(DATE '{d}', {_q(en)}, {_q(zh)})" for d, en, zh in days)
        parts.append(
            f"""
            SELECT h.d, v.customer_id, 'vip_holiday',
                   json_object('tier', v.tier, 'holiday', h.en, 'holiday_zh', h.zh)
            FROM {vip} v CROSS JOIN (VALUES {values}) h(d, en, zh)"""
        )
    if p.care.tier_anniversary:
        # the month the current tier began: the first month of its latest unbroken run
        parts.append(
            f"""
            SELECT $m, v.customer_id, 'vip_tier_anniversary',
                   json_object('tier', v.tier, 'years', year($m) - year(r.since))
            FROM {vip} v
            JOIN (SELECT customer_id, max(month) FILTER (WHERE changed) AS since FROM (
                    SELECT customer_id, month,
                           tier IS DISTINCT FROM lag(tier) OVER (
                             PARTITION BY customer_id ORDER BY month) AS changed
                    FROM ({_tiers_sql(p)}) WHERE month <= $m)
                  GROUP BY customer_id) r ON r.customer_id = v.customer_id
            WHERE month(r.since) = month($m) AND year(r.since) < year($m)"""
        )
    if not parts:
        return EVENT_SCHEMA.empty_table()
    rel = con.sql(
        " UNION ALL ".join(parts) + " ORDER BY 1, 2, 3",
        params={"m": m},
    )
    tbl = rel.to_arrow_table()
    return pa.table(
        [tbl.column(i).cast(f.type) for i, f in enumerate(EVENT_SCHEMA)], schema=EVENT_SCHEMA
    )


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def churn_warning(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    *,
    branch: str | None = None,
    staff_id: str | None = None,
    limit: int = 200,
    min_p: float = 0.0,
    params: VipParams | None = None,
) -> list[dict]:
    """Return VIP customers by churn risk (highest first) with tier, reasons and manager."""
    p = params or load_params()
    m = parse_month(month)
    _require_segments(con, m)
    if not con.execute("SELECT EXISTS (SELECT 1 FROM churn_scores)").fetchall()[0][0]:
        raise NotFoundError(
            "no churn scores: run `weixi churn score --month {month:%Y-%m}` first", month=m
        )
    where = []
    args: dict = {"m": m, "limit": limit, "min_p": min_p}
    where.append("p_churn >= $min_p")
    if branch:
        where.append("branch_id = $b")
        args["b"] = branch
    if staff_id:
        where.append("staff_id = $s")
        args["s"] = staff_id
    cond = ("WHERE " + " AND ".join(where)) if where else ""
    cur = con.execute(
        f"""
        SELECT * FROM (
          SELECT g.customer_id, arg_max(g.branch_id, c.p_churn) AS branch_id,
                 arg_max(g.vip_tier, {rank_case(p, "g.vip_tier")}) AS vip_tier,
                 round(max(c.p_churn), 4) AS p_churn,
                 arg_max(c.subscriber_id, c.p_churn) AS subscriber_id,
                 arg_max_null(c.reasons, c.p_churn) AS reasons,
                 arg_max(s.phone, c.p_churn) AS phone, any_value(s.name) AS name,
                 any_value(b.staff_id) AS staff_id
          FROM segments g
          JOIN snapshot s ON s.month = g.month AND s.subscriber_id = g.subscriber_id
          JOIN churn_scores c ON c.month = g.month AND c.subscriber_id = g.subscriber_id
          LEFT JOIN books b ON b.kind = 'vip' AND b.key = g.customer_id AND b.month =
               (SELECT max(month) FROM books WHERE month <= $m)
          WHERE g.month = $m AND g.vip_tier <> 'none' AND s.status <> 'cancelled'
          GROUP BY g.customer_id) {cond}
        ORDER BY p_churn DESC, customer_id LIMIT $limit""",
        args,
    )
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    todo = [r["subscriber_id"] for r in rows if r["reasons"] is None]
    if todo:  # lines scored without stored reasons (not among the month's riskiest)
        from weixi.churn.service import reasons_for

        got = reasons_for(con=con, month=m, subscriber_ids=todo)
        for r in rows:
            if r["reasons"] is None:
                r["reasons"] = got.get(r["subscriber_id"])
    for r in rows:  # at most `limit` rows
        if isinstance(r["reasons"], str):
            with contextlib.suppress(ValueError):
                r["reasons"] = json.loads(r["reasons"])
    return rows
