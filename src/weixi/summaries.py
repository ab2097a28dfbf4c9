"""The pages' read models: small per-month summaries the monthly job writes, the web app reads.

A page over a 10 M-line month must not scan the month per request. Each read model here is one
small table of the analytics store (declared in :mod:`weixi.store.schema.tables`, prefix
``rm_``) holding a month's figures per branch (or per scope: ``'*'`` = province-wide, else a
branch id, for figures that do not add up across branches such as deciles and top-N lists):

========================  ==========================================================================
``rm_months``             dashboard trend: active lines, revenue, churn and value retention,
                          mid/high-end retention per month × branch
``rm_segments``           segments page and dashboard: lines per stability group × urgency ×
                          exclusion, with the group profile's sums (ARPU, data, tenure, P(churn))
``rm_needs``              needs grids (D × E × F mobile, G × H × I broadband)
``rm_migration``          the migration Sankey from the previous segmented month, four dimensions
``rm_churn``              score histogram (20 bins) per model version, high-risk counts
``rm_churn_reasons``      stored churn reasons per code
``rm_churn_deciles``      calibration deciles (written once the next month's snapshot exists)
``rm_top_risk``           the riskiest :data:`TOP_N` lines per scope with their page columns
``rm_evaluation``         the evaluation page's overview per evaluated month × scope × locale
``rm_lookup``             customer search keys (customer id, phone) of the latest month, sorted
========================  ==========================================================================

:func:`refresh` rewrites one month's rows (and the previous month's deciles, whose labels the
month brings) in SQL; the monthly job calls it last (:func:`weixi.flows.run_month`) and the
schema step that introduced the tables backfills every month of an existing store. Each
``*_sql(month)`` below is the one definition of a summary: the refresh stores its rows, and a
page reading a store whose read model is still empty (one built without the monthly job) runs
the same SELECT live (:func:`source`), so both paths give the same figures.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

import duckdb

from weixi.store.months import add_months

log = logging.getLogger(__name__)

#: Lines kept per scope in ``rm_top_risk`` (the churn page's export is capped at this).
TOP_N = 5000
HIGH_RISK = 0.3  # p_churn at or above this counts as high risk
PROVINCE = "*"  # the scope of province-wide rows
MIGRATION_DIMENSIONS = ("urgency", "a", "b", "c")

CHURNED = "(n.subscriber_id IS NULL OR n.status = 'cancelled')"


def _d(month: dt.date) -> str:
    return f"DATE '{month.isoformat()}'"


def months_sql(month: dt.date) -> str:
    """``rm_months`` rows of ``month``: the month's active base and revenue per branch, and the
    churn of the previous month's active lines (the label ``month`` brings)."""
    m, pm = _d(month), _d(add_months(month, -1))
    return f"""
    WITH cur AS (
      SELECT branch_id, count(*) FILTER (WHERE status <> 'cancelled') AS subscribers,
             sum(arpu) FILTER (WHERE status <> 'cancelled') AS revenue,
             count(arpu) FILTER (WHERE status <> 'cancelled') AS arpu_n
      FROM snapshot WHERE month = {m} GROUP BY branch_id),
    lab AS (
      SELECT s.branch_id, count(*) AS base_n,
             sum(CASE WHEN {CHURNED} THEN 1 ELSE 0 END) AS churned,
             sum(s.arpu) AS base_revenue,
             sum(CASE WHEN {CHURNED} THEN 0 ELSE s.arpu END) AS kept_revenue
      FROM snapshot s LEFT JOIN snapshot n ON n.subscriber_id = s.subscriber_id AND n.month = {m}
      WHERE s.month = {pm} AND s.status <> 'cancelled' GROUP BY s.branch_id),
    hi AS (
      SELECT h.branch_id, count(*) AS midhigh_base,
             sum(CASE WHEN {CHURNED} THEN 0 ELSE 1 END) AS midhigh_kept
      FROM segments h LEFT JOIN snapshot n ON n.subscriber_id = h.subscriber_id AND n.month = {m}
      WHERE h.month = {pm} AND h.b IN ('B1', 'B2') AND NOT h.excluded
        AND EXISTS (SELECT 1 FROM snapshot WHERE month = {m})
      GROUP BY h.branch_id)
    SELECT {m} AS month, branch_id, cur.subscribers, cur.revenue, cur.arpu_n, lab.base_n,
           lab.churned, lab.base_revenue, lab.kept_revenue, hi.midhigh_base, hi.midhigh_kept
    FROM cur FULL JOIN lab USING (branch_id) FULL JOIN hi USING (branch_id)
    WHERE EXISTS (SELECT 1 FROM snapshot WHERE month = {m})"""


def segments_sql(month: dt.date) -> str:
    """``rm_segments`` rows of ``month``: lines per branch × line type × stability group ×
    urgency × exclusion, with the sums the group profiles average (lines with a snapshot row)."""
    m = _d(month)
    return f"""
    SELECT g.month, g.branch_id, g.line_type, g.a, g.b, g.c, g.stability_group, g.urgency,
           g.excluded, g.exclusion_reason, count(*) AS n, min(g.priority_rank) AS priority_rank,
           count(s.subscriber_id) AS profile_n, sum(s.arpu) AS sum_arpu, count(s.arpu) AS n_arpu,
           sum(s.data_mb) AS sum_data_mb, count(s.data_mb) AS n_data_mb,
           sum(date_diff('month', s.activation_date, g.month)) AS sum_tenure,
           count(date_diff('month', s.activation_date, g.month)) AS n_tenure,
           sum(c.p_churn) FILTER (WHERE s.subscriber_id IS NOT NULL) AS sum_p_churn,
           count(c.p_churn) FILTER (WHERE s.subscriber_id IS NOT NULL) AS n_p_churn
    FROM segments g
    LEFT JOIN snapshot s ON s.subscriber_id = g.subscriber_id AND s.month = g.month
    LEFT JOIN churn_scores c ON c.subscriber_id = g.subscriber_id AND c.month = g.month
    WHERE g.month = {m}
    GROUP BY ALL"""


def needs_sql(month: dt.date) -> str:
    """``rm_needs`` rows of ``month``: included lines per needs cell (D×E×F or G×H×I)."""
    m = _d(month)
    return f"""
    SELECT month, branch_id, line_type,
           CASE WHEN line_type = 'mobile' THEN d ELSE g END AS x,
           CASE WHEN line_type = 'mobile' THEN e ELSE h END AS y,
           CASE WHEN line_type = 'mobile' THEN f ELSE i END AS z, count(*) AS n
    FROM segments
    WHERE month = {m} AND NOT excluded AND (CASE WHEN line_type = 'mobile' THEN d ELSE g END)
          IS NOT NULL
    GROUP BY ALL"""


def migration_sql(con: duckdb.DuckDBPyConnection, month: dt.date) -> str | None:
    """``rm_migration`` rows of ``month``: flows from the previous segmented month per branch
    (of the earlier row) and dimension; None when no earlier month is segmented."""
    prev, here = con.execute(
        "SELECT max(month) FILTER (WHERE month < $m), bool_or(month = $m) FROM segments",
        {"m": month},
    ).fetchall()[0]
    if prev is None or not here:
        return None
    m, p = _d(month), _d(prev)
    dims = " UNION ALL ".join(
        f"""SELECT '{d}' AS dimension, branch_id,
                   CASE WHEN pe THEN 'excluded' ELSE p_{d} END AS source,
                   CASE WHEN gone THEN 'left' WHEN ne THEN 'excluded' ELSE n_{d} END AS target
            FROM j"""
        for d in MIGRATION_DIMENSIONS
    )
    cols = ", ".join(f"p.{d} AS p_{d}, n.{d} AS n_{d}" for d in MIGRATION_DIMENSIONS)
    return f"""
    WITH j AS MATERIALIZED (
      SELECT p.branch_id, p.excluded AS pe, n.subscriber_id IS NULL AS gone, n.excluded AS ne,
             {cols}
      FROM segments p LEFT JOIN segments n ON n.subscriber_id = p.subscriber_id AND n.month = {m}
      WHERE p.month = {p})
    SELECT {m} AS month, {p} AS prev_month, branch_id, dimension, source, target,
           count(*) AS value
    FROM ({dims}) GROUP BY ALL"""


def _scored(month: dt.date) -> str:
    return f"""churn_scores c JOIN snapshot s
               ON s.subscriber_id = c.subscriber_id AND s.month = c.month
               WHERE c.month = {_d(month)}"""


def churn_sql(month: dt.date) -> str:
    """``rm_churn`` rows of ``month``: scored lines per branch × model version × 5 % bin."""
    return f"""
    SELECT c.month, s.branch_id, c.model_version,
           least(floor(c.p_churn * 20), 19) / 20 AS bin, count(*) AS n,
           sum(c.p_churn) AS sum_p, count(c.p_churn) AS n_p,
           count(*) FILTER (WHERE c.p_churn >= {HIGH_RISK}) AS high_risk
    FROM {_scored(month)}
    GROUP BY ALL"""


def churn_reasons_sql(month: dt.date) -> str:
    """``rm_churn_reasons`` rows of ``month``: stored reasons per branch × code."""
    return f"""
    SELECT {_d(month)} AS month, branch_id, json_extract_string(r, '$.code') AS code,
           count(*) AS n,
           sum(TRY_CAST(json_extract(r, '$.contribution') AS DOUBLE)) AS sum_contribution,
           count(TRY_CAST(json_extract(r, '$.contribution') AS DOUBLE)) AS n_contribution
    FROM (SELECT s.branch_id, unnest(json_extract(c.reasons, '$[*]')) AS r
          FROM {_scored(month)} AND c.reasons IS NOT NULL)
    GROUP BY ALL"""


def deciles_sql(month: dt.date) -> str:
    """``rm_churn_deciles`` rows of ``month`` (needs the next month's snapshot for the labels):
    predicted against actual churn per score decile, province-wide and per branch."""
    m, nm = _d(month), _d(add_months(month, 1))
    return f"""
    WITH sc AS (SELECT c.subscriber_id, c.p_churn, s.branch_id FROM {_scored(month)}),
    lab AS (SELECT s.subscriber_id, CASE WHEN {CHURNED} THEN 1 ELSE 0 END AS churned
            FROM snapshot s LEFT JOIN snapshot n
              ON n.subscriber_id = s.subscriber_id AND n.month = {nm}
            WHERE s.month = {m}),
    j AS MATERIALIZED (SELECT subscriber_id, sc.branch_id, sc.p_churn, lab.churned
                       FROM sc JOIN lab USING (subscriber_id)),
    -- lines tied on the score are split between deciles by subscriber id: the same month
    -- gives the same deciles whatever order its rows are read in
    d AS (SELECT '{PROVINCE}' AS scope, p_churn, churned,
                 ntile(10) OVER (ORDER BY p_churn, subscriber_id) AS decile FROM j
          UNION ALL
          SELECT branch_id, p_churn, churned,
                 ntile(10) OVER (PARTITION BY branch_id ORDER BY p_churn, subscriber_id) FROM j
          WHERE branch_id IS NOT NULL)
    SELECT {m} AS month, scope, decile, count(*) AS n, sum(p_churn) AS sum_p,
           count(p_churn) AS n_p, sum(churned) AS churned
    FROM d WHERE EXISTS (SELECT 1 FROM snapshot WHERE month = {nm})
    GROUP BY ALL"""


def top_risk_sql(month: dt.date, limit: int = TOP_N) -> str:
    """``rm_top_risk`` rows of ``month``: the ``limit`` riskiest lines province-wide and per
    branch (rank 1 = riskiest; ties by subscriber id) with the columns the churn page lists."""
    m = _d(month)
    return f"""
    WITH sc AS MATERIALIZED (
      SELECT c.subscriber_id, s.branch_id, c.p_churn FROM {_scored(month)}),
    -- the limit-th highest score per branch and province-wide (one pass, a heap per group):
    -- only lines at or above their thresholds can rank, so only those are sorted
    th AS (SELECT branch_id, list_min(max_by(p_churn, p_churn, {int(limit)})) AS t
           FROM sc WHERE p_churn IS NOT NULL GROUP BY branch_id),
    tp AS (SELECT list_min(max_by(p_churn, p_churn, {int(limit)})) AS t
           FROM sc WHERE p_churn IS NOT NULL),
    cand AS (SELECT sc.* FROM sc LEFT JOIN th USING (branch_id)
             WHERE sc.p_churn IS NULL OR sc.p_churn >= least(th.t, (SELECT t FROM tp))),
    ranked AS (
      SELECT '{PROVINCE}' AS scope, subscriber_id,
             row_number() OVER (ORDER BY p_churn DESC NULLS LAST, subscriber_id) AS rank
      FROM cand QUALIFY rank <= {int(limit)}
      UNION ALL
      SELECT branch_id, subscriber_id,
             row_number() OVER (PARTITION BY branch_id
                                ORDER BY p_churn DESC NULLS LAST, subscriber_id)
      FROM cand WHERE branch_id IS NOT NULL QUALIFY row_number() OVER (
          PARTITION BY branch_id ORDER BY p_churn DESC NULLS LAST, subscriber_id) <= {int(limit)}),
    picked AS (SELECT DISTINCT subscriber_id FROM ranked)
    SELECT {m} AS month, r.scope, r.rank, c.subscriber_id, s.customer_id, s.phone, s.name,
           s.branch_id, s.line_type, s.arpu, c.p_churn, c.reasons, g.code, g.urgency
    FROM ranked r
    JOIN churn_scores c ON c.subscriber_id = r.subscriber_id AND c.month = {m}
    JOIN snapshot s ON s.subscriber_id = r.subscriber_id AND s.month = {m}
    LEFT JOIN segments g ON g.subscriber_id = r.subscriber_id AND g.month = {m}
    WHERE c.subscriber_id IN (SELECT subscriber_id FROM picked)
      AND s.subscriber_id IN (SELECT subscriber_id FROM picked)"""


def lookup_sql(month: dt.date) -> str:
    """``rm_lookup`` rows of ``month``: each line's customer id and phone number as a search
    key, sorted by key (the zone maps of a sorted column let a look-up read one row group)."""
    m = _d(month)
    return f"""
    SELECT {m} AS month, key, subscriber_id FROM (
      SELECT customer_id AS key, subscriber_id FROM snapshot
      WHERE month = {m} AND customer_id IS NOT NULL
      UNION ALL
      SELECT phone, subscriber_id FROM snapshot WHERE month = {m} AND phone IS NOT NULL)
    ORDER BY key, subscriber_id"""


def refresh_lookup(con: duckdb.DuckDBPyConnection, month: dt.date) -> int:
    """Rewrite ``rm_lookup`` for ``month`` when it is the store's latest month (the customer
    search looks up the latest month only); 0 otherwise, the table left as it was."""
    latest = con.execute("SELECT max(month) FROM snapshot").fetchall()[0][0]
    if latest != month:
        return 0
    con.execute("DELETE FROM rm_lookup")
    con.execute(f"INSERT INTO rm_lookup BY NAME {lookup_sql(month)}")
    return int(con.execute("SELECT count(*) FROM rm_lookup").fetchall()[0][0])


#: read model -> the function giving its SELECT for a month (None: nothing to write)
TABLES = {
    "rm_months": lambda con, m: months_sql(m),
    "rm_segments": lambda con, m: segments_sql(m),
    "rm_needs": lambda con, m: needs_sql(m),
    "rm_migration": migration_sql,
    "rm_churn": lambda con, m: churn_sql(m),
    "rm_churn_reasons": lambda con, m: churn_reasons_sql(m),
    "rm_top_risk": lambda con, m: top_risk_sql(m),
}


#: read model -> the table whose months it summarises
SOURCES = {
    "rm_months": "snapshot",
    "rm_segments": "segments",
    "rm_needs": "segments",
    "rm_migration": "segments",
    "rm_churn": "churn_scores",
    "rm_churn_reasons": "churn_scores",
    "rm_churn_deciles": "churn_scores",
    "rm_top_risk": "churn_scores",
}


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchall()[0][0])


def source(con: duckdb.DuckDBPyConnection, table: str, month: dt.date | None = None) -> str:
    """The relation a page reads ``table``'s rows from: the stored read model once the store
    keeps read models (``"rm_x"``: the monthly job has written them), else the same SELECT
    computed live (a store built without the monthly job: tests, an old store before ``weixi
    db upgrade``) for ``month`` or, with ``month`` None, for every month of the source.

    A read model the job wrote no row of yet is read as it is, empty: the calibration deciles
    of the first scored month wait for the next month's snapshot, and computing them live
    instead cost every view of the churn page 5 s on a 10 M month."""
    if _exists(con, table) or in_use(con):
        return table
    months = [month] if month else _source_months(con, SOURCES[table])
    if table == "rm_churn_deciles":
        sqls = [deciles_sql(m) for m in months]
    else:
        sqls = [s for s in (TABLES[table](con, m) for m in months) if s]
    if not sqls:
        return f"(SELECT * FROM {table} WHERE false)"
    return "(" + " UNION ALL ".join(f"SELECT * FROM ({s})" for s in sqls) + ")"


def _source_months(con: duckdb.DuckDBPyConnection, table: str) -> list[dt.date]:
    return [r[0] for r in con.execute(f"SELECT DISTINCT month FROM {table} ORDER BY 1").fetchall()]


def _write(con: duckdb.DuckDBPyConnection, table: str, month: dt.date, sql: str | None) -> int:
    con.execute(f"DELETE FROM {table} WHERE month = ?", [month])
    if sql is None:
        return 0
    con.execute(f"INSERT INTO {table} BY NAME {sql}")
    return int(
        con.execute(f"SELECT count(*) FROM {table} WHERE month = ?", [month]).fetchall()[0][0]
    )


def refresh_evaluation(
    con: duckdb.DuckDBPyConnection, month: dt.date, *, branches: list[str] | None = None
) -> int:
    """Store the evaluation page's overview of the evaluated ``month`` for the province and
    each branch in both languages (``rm_evaluation``); 0 when ``month`` is not evaluated."""
    from weixi.evaluate import service as evaluate_service
    from weixi.i18n import LOCALES

    con.execute("DELETE FROM rm_evaluation WHERE month = ?", [month])
    if month not in evaluate_service.evaluated_months(con=con):
        return 0
    if branches is None:
        branches = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT branch_id FROM evaluation_outcomes WHERE month = ? "
                "AND branch_id IS NOT NULL ORDER BY 1",
                [month],
            ).fetchall()
        ]
    rows = []
    memo: dict = {}  # the month's outcomes read once; each scope's bootstrap drawn once
    for scope in [None, *branches]:
        for locale in LOCALES:
            view = evaluate_service.overview(
                con=con, month=month, locale=locale, branch=scope, memo=memo
            )
            rows.append((month, scope or PROVINCE, locale, json.dumps(view, default=_plain)))
    con.executemany("INSERT INTO rm_evaluation VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def _plain(value: Any) -> Any:
    """JSON for the numpy scalars and dates an overview may hold."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def evaluation(
    con: duckdb.DuckDBPyConnection,
    month: dt.date | None,
    *,
    locale: str,
    branch: str | None,
) -> dict:
    """The evaluation page's overview: the stored one the monthly job wrote for this month,
    scope and locale (the newest stored month when ``month`` has none).

    Once the store keeps read models (:func:`in_use`, or ``rm_evaluation``), the page never computes an overview
    itself: on a province's month that is minutes of bootstrap. A branch without a stored
    overview had nobody in the month's plan or control group: it gets the province's
    adjustment and learned uplift (province-wide anyway) and no lift (``scope_empty``). An
    evaluated month the job has not summarised yet gives an empty view naming it (``pending``).
    Before any read model exists the overview is computed (:func:`weixi.evaluate.service.overview`).
    """
    from weixi.evaluate import service as evaluate_service

    kept = _exists(con, "rm_evaluation")
    if kept:
        months = [
            r[0]
            for r in con.execute("SELECT DISTINCT month FROM rm_evaluation ORDER BY 1").fetchall()
        ]
        target = month if month in months else (months[-1] if months else None)

        def stored(scope: str) -> dict | None:
            found = con.execute(
                "SELECT report FROM rm_evaluation WHERE month = ? AND scope = ? AND locale = ?",
                [target, scope, locale],
            ).fetchall()
            return json.loads(found[0][0]) if found else None

        view = stored(branch or PROVINCE)
        if view is None and branch and target is not None:
            view = stored(PROVINCE)
            if view is not None:  # nobody of this branch in the month's plan or control group
                view.update(branch=branch, overall=None, by={}, money=None, scope_empty=True)
        if view is not None:
            view["months"] = [f"{m:%Y-%m}" for m in months]
            return view
    if not (kept or in_use(con)):
        return evaluate_service.overview(con=con, month=month, locale=locale, branch=branch)
    evaluated = evaluate_service.evaluated_months(con=con)
    pending = evaluated[-1] if evaluated else None
    return {"months": [], "month": None, "pending": f"{pending:%Y-%m}" if pending else None}


#: read model -> {source table: the months it reads, as offsets from the month a row
#: summarises}: what a step that changed one table of one month makes stale. The evaluation
#: overview (not listed: always stale) reads the evaluated month's outcomes, which only
#: ``weixi evaluate`` writes (:func:`refresh_after_evaluation`).
READS: dict[str, dict[str, tuple[int, ...]]] = {
    "rm_months": {"snapshot": (0, -1), "segments": (-1,)},
    "rm_segments": {"segments": (0,), "snapshot": (0,), "churn_scores": (0,)},
    "rm_needs": {"segments": (0,)},
    "rm_migration": {"segments": (0, -1)},
    "rm_churn": {"churn_scores": (0,), "snapshot": (0,)},
    "rm_churn_reasons": {"churn_scores": (0,), "snapshot": (0,)},
    "rm_top_risk": {"churn_scores": (0,), "snapshot": (0,), "segments": (0,)},
    "rm_churn_deciles": {"churn_scores": (0,), "snapshot": (0, 1)},
    "rm_lookup": {"snapshot": (0,)},
}


def refresh(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    evaluation: bool = True,
    changed: dict[str, dt.date] | None = None,
) -> dict[str, Any]:
    """Rewrite ``month``'s rows of every read model (and the previous month's deciles and,
    unless ``evaluation`` is off, its evaluation overviews, which ``month`` completes).
    ``changed`` ({source table: month}) limits the rewrite to the read models that read one of
    those tables' months (:data:`READS`). Returns rows written per table and the seconds each
    took (``seconds``)."""
    out: dict[str, Any] = {}
    took: dict[str, float] = {}
    prev = add_months(month, -1)
    jobs: list[tuple[str, dt.date, Any]] = [
        (table, month, lambda table=table, make=make: _write(con, table, month, make(con, month)))
        for table, make in TABLES.items()
    ]
    jobs.append(
        (
            "rm_churn_deciles",
            prev,
            lambda: _write(con, "rm_churn_deciles", prev, deciles_sql(prev)),
        )
    )
    if evaluation:
        jobs.append(("rm_evaluation", prev, lambda: refresh_evaluation(con, prev)))
    jobs.append(("rm_lookup", month, lambda: refresh_lookup(con, month)))
    for table, written, job in jobs:
        if changed is not None and not _reads(table, written, changed):
            continue
        t0 = time.perf_counter()
        out[table] = job()
        took[table] = round(time.perf_counter() - t0, 3)
    out["seconds"] = took
    log.info("read models of %s refreshed: %s", month, out)
    return out


def _reads(table: str, month: dt.date, changed: dict[str, dt.date]) -> bool:
    """True when read model ``table``'s rows of ``month`` read a month ``changed`` rewrote
    (always for a read model :data:`READS` does not list)."""
    if table not in READS:
        return True
    return any(
        add_months(month, offset) == changed[source]
        for source, offsets in READS[table].items()
        if source in changed
        for offset in offsets
    )


def in_use(con: duckdb.DuckDBPyConnection) -> bool:
    """True once the store keeps read models (the monthly job or ``weixi db upgrade`` wrote
    them); before that, the pages compute every figure live and nothing can be stale."""
    return any(_exists(con, t) for t in (*TABLES, "rm_churn_deciles"))


def refresh_after_step(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    evaluation: bool = True,
    changed: str | None = None,
) -> dict[str, Any]:
    """Rewrite the read models a step run outside the monthly job made stale: ``weixi
    import``, ``segment``, ``churn score`` or ``evaluate`` of ``month`` changed its rows, which
    ``month``'s read models summarise and the next month's read (migration from ``month``,
    churn labels, deciles, the evaluation of ``month``). Without read models in use, nothing
    (the pages read the month live). Returns the rows written per month and table.

    ``evaluation=False`` for the steps no evaluation overview reads (segmentation and churn
    scores: the overview reads the evaluated month's outcomes, plans and adjustments): their
    overviews are minutes of bootstrap on a province's month, recomputed for nothing.
    ``changed`` names the one table the step rewrote for ``month`` (``segments``,
    ``churn_scores``): only the read models that read it are rewritten (:data:`READS`; on a
    10 M-line month the refresh after a scoring took 16.5 s instead of 40, after a
    segmentation 9.8 s instead of 44). Without it, every read model of both months."""
    if not in_use(con):
        return {}
    out: dict[str, Any] = {}
    stale = None if changed is None else {changed: month}
    for m in (month, add_months(month, 1)):
        if con.execute("SELECT 1 FROM snapshot WHERE month = ? LIMIT 1", [m]).fetchall():
            out[m.isoformat()[:7]] = refresh(con, m, evaluation=evaluation, changed=stale)
    return out


def refresh_after_evaluation(con: duckdb.DuckDBPyConnection, month: dt.date) -> int:
    """Rewrite what ``weixi evaluate`` of ``month`` made stale: the month's evaluation
    overviews (:func:`refresh_evaluation`). An evaluation changes only the month's outcomes and
    execution record, which no other read model reads (they summarise the snapshot, segments
    and churn scores): rewriting them all, for the month and the next, took about two minutes
    of a province's evaluation for nothing. Without read models in use, nothing (the page
    computes the overview live). Returns the overviews written."""
    if not in_use(con):
        return 0
    return refresh_evaluation(con, month)


def backfill(con: duckdb.DuckDBPyConnection) -> None:
    """Write every read model for every month of the store (the schema step's backfill)."""
    for (m,) in con.execute(
        "SELECT DISTINCT month FROM segments UNION SELECT DISTINCT month FROM snapshot ORDER BY 1"
    ).fetchall():
        refresh(con, m)
