"""Churn analysis (流失分析): who left in a month, by segment, branch, tenure, value, reason and
destination, computed in DuckDB SQL over the snapshot (one truth: the churn label of
:func:`weixi.store.months.churn_label_sql`).

A line *left in month M* when it was live in M-1 and is gone or cancelled in M. Its reason is,
in order: the customer's own words (a refusal reason recorded on a contact outcome, passed in
as ``outcome_reasons``), the category of a complaint filed in the 3 months before leaving
(``complaint_log``), the top reason of its churn score in M-1, else ``unknown``. Its
destination is the competitor it ported to (携号转网) — the ``detail`` of its latest
``port_out`` event in the daily ``events`` feed — else ``unknown``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from weixi.churn.features import COMPLAINT_TABLE
from weixi.errors import NotFoundError
from weixi.store.months import add_months, churn_label_sql, format_month, loaded_months

#: Breakdowns of the analysis, in page order.
DIMENSIONS = ("segment", "branch", "tenure", "value", "reason", "destination")
TENURE_BANDS = (
    "CASE WHEN tenure < 12 THEN '<1y' WHEN tenure < 24 THEN '1-2y' "
    "WHEN tenure < 60 THEN '2-5y' ELSE '5y+' END"
)
VALUE_BANDS = (
    "CASE WHEN arpu < 50 THEN '<50' WHEN arpu < 100 THEN '50-100' "
    "WHEN arpu < 200 THEN '100-200' ELSE '200+' END"
)


def leavers_sql(month: dt.date, *, with_outcomes: bool, with_computed_reasons: bool = False) -> str:
    """SQL of the base month's live lines with ``left_`` (1 when gone or cancelled in ``month``)
    and the attributes the breakdowns use. ``with_computed_reasons``: the registered
    ``_computed_reasons (subscriber_id, reasons)`` stands in for score reasons not stored."""
    base = add_months(month, -1)
    b = f"DATE '{base.isoformat()}'"
    seg = "coalesce(g.code, 'unsegmented')"
    joins = [f"LEFT JOIN segments g ON g.subscriber_id = s.subscriber_id AND g.month = {b}"]
    reasons = []
    if with_outcomes:
        joins.append("LEFT JOIN _outcome_reasons o ON o.subscriber_id = s.subscriber_id")
        reasons.append("o.reason")
    joins.append(
        f"""LEFT JOIN (
                  SELECT subscriber_id, 'complaint_' || arg_max(coalesce(category, 'unclassified'),
                         received_at) AS reason
                  FROM {COMPLAINT_TABLE}
                  WHERE received_at >= {b} - INTERVAL 2 MONTH
                    AND received_at < DATE '{month.isoformat()}' + INTERVAL 1 MONTH
                  GROUP BY subscriber_id) k ON k.subscriber_id = s.subscriber_id"""
    )
    reasons.append("k.reason")
    stored, computed = "c.reasons", ""
    if with_computed_reasons:
        stored = "coalesce(c.reasons, d.reasons)"
        computed = "LEFT JOIN _computed_reasons d ON d.subscriber_id = c.subscriber_id"
    joins.append(
        f"""LEFT JOIN (SELECT c.subscriber_id,
              'score_' || json_extract_string({stored}, '$[0].code') AS reason
            FROM churn_scores c {computed}
            WHERE c.month = {b}) r ON r.subscriber_id = s.subscriber_id"""
    )
    reasons.append("r.reason")
    # number portability: the latest port-out of the line up to the end of the month
    joins.append(
        f"""LEFT JOIN (
              SELECT subscriber_id, arg_max(detail, event_date) AS destination
              FROM events
              WHERE event_type = 'port_out' AND subscriber_id IS NOT NULL
                AND event_date < DATE '{month.isoformat()}' + INTERVAL 1 MONTH
              GROUP BY subscriber_id) p ON p.subscriber_id = s.subscriber_id"""
    )
    dest = "coalesce(p.destination, 'unknown')"
    reason = "coalesce(" + ", ".join([*reasons, "'unknown'"]) + ")"
    return f"""
SELECT s.subscriber_id, s.branch_id, s.line_type, CAST(s.arpu AS DOUBLE) AS arpu, l.churned AS left_,
  date_diff('month', s.activation_date, s.month) AS tenure, {seg} AS segment,
  {reason} AS reason, {dest} AS destination
FROM snapshot s
JOIN ({churn_label_sql(base)}) l ON l.subscriber_id = s.subscriber_id AND l.month = s.month
{" ".join(joins)}
WHERE s.month = {b}
"""


def analyse(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    branch: str | None = None,
    outcome_reasons: pd.DataFrame | None = None,
    top: int = 20,
) -> dict[str, Any]:
    """Who left in ``month``: totals and one breakdown per :data:`DIMENSIONS`.

    Args:
        con: the analytics store with ``snapshot`` holding ``month`` and the month before.
        month: the month the customers left in (first day).
        branch: limit to one branch (a branch user).
        outcome_reasons: optional frame ``(subscriber_id, reason)`` of refusal reasons or
            ``already_churned`` notes recorded on contacts (the operational database).
        top: rows kept per breakdown (largest first).

    Returns:
        ``{"month", "base_month", "live", "left", "churn_rate", "arpu_lost", "ported_out",
        "by": {dim: rows}}`` where each row is ``{key, left, live, rate, arpu_lost}``
        (``ported_out``: leavers with a known destination).
    """
    base = add_months(month, -1)
    have = set(loaded_months(con))
    if month not in have or base not in have:
        raise NotFoundError(
            "churn analysis of {m} needs {b} and {m} loaded",
            m=format_month(month),
            b=format_month(base),
        )
    with_out = outcome_reasons is not None and len(outcome_reasons) > 0
    if with_out:
        con.register("_outcome_reasons", outcome_reasons[["subscriber_id", "reason"]])
    computed = _leaver_reasons(con, base)
    if computed is not None:
        con.register("_computed_reasons", computed)
    try:
        sql = leavers_sql(month, with_outcomes=with_out, with_computed_reasons=computed is not None)
        where = "WHERE branch_id = ?" if branch else ""
        params = [branch] if branch else []
        cte = f"WITH _leavers AS (SELECT * FROM ({sql}) {where}) "
        live, left, lost, ported = con.execute(
            cte + "SELECT count(*), coalesce(sum(left_), 0), coalesce(sum(arpu * left_), 0), "
            "count(*) FILTER (WHERE left_ = 1 AND destination <> 'unknown') FROM _leavers",
            params,
        ).fetchall()[0]
        by = {dim: _breakdown(con, cte, params, dim, top) for dim in DIMENSIONS}
    finally:
        if with_out:
            con.unregister("_outcome_reasons")
        if computed is not None:
            con.unregister("_computed_reasons")
    return {
        "month": format_month(month),
        "base_month": format_month(base),
        "branch": branch,
        "live": int(live),
        "left": int(left),
        "churn_rate": round(left / live, 4) if live else None,
        "arpu_lost": round(float(lost), 2),
        "ported_out": int(ported),
        "by": by,
    }


def _leaver_reasons(con: duckdb.DuckDBPyConnection, base: dt.date):
    """Score reasons of the lines that left after ``base`` and were scored there without
    stored reasons, computed on demand (``subscriber_id, reasons`` JSON), or None if none."""
    import json

    import pyarrow as pa

    from weixi.churn.service import reasons_for

    ids = [
        r[0]
        for r in con.execute(
            f"""SELECT c.subscriber_id FROM churn_scores c
                JOIN ({churn_label_sql(base)}) l
                  ON l.subscriber_id = c.subscriber_id AND l.month = c.month
                WHERE c.month = ? AND c.reasons IS NULL AND l.churned = 1""",
            [base],
        ).fetchall()
    ]
    if not ids:
        return None
    try:
        got = reasons_for(con=con, month=base, subscriber_ids=ids)
    except NotFoundError:  # the scoring model's files are gone: those leavers stay unknown
        return None
    return pa.table(
        {
            "subscriber_id": pa.array(list(got), pa.string()),
            "reasons": pa.array([json.dumps(v) for v in got.values()], pa.string()),
        }
    )


_KEYS = {
    "segment": "segment",
    "branch": "branch_id",
    "tenure": TENURE_BANDS,
    "value": VALUE_BANDS,
    "reason": "reason",
    "destination": "destination",
}


def _breakdown(con, cte: str, params: list, dim: str, top: int) -> list[dict[str, Any]]:
    leavers_only = dim in ("reason", "destination")  # known for leavers only
    rows = con.execute(
        cte
        + f"""SELECT {_KEYS[dim]} AS key, CAST(sum(left_) AS BIGINT) AS n_left,
                   count(*) AS live, round(sum(left_) / count(*), 4) AS rate,
                   round(sum(arpu * left_), 2) AS arpu_lost
            FROM _leavers {"WHERE left_ = 1" if leavers_only else ""}
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(top)}""",
        params,
    ).fetchall()
    return [
        {
            "key": k,
            "left": int(n),
            **({} if leavers_only else {"live": int(v), "rate": float(r)}),
            "arpu_lost": float(a or 0),
        }
        for k, n, v, r, a in rows
    ]
