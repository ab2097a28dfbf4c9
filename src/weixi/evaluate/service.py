"""Evaluation services: outcomes from the next month, lift reports, Excel export, uplift models.

I/O lives here (DuckDB, model files, workbooks); the arithmetic is in :mod:`metrics` and
:mod:`uplift`. Functions take the DuckDB connection as keyword ``con``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from weixi.config import get_settings
from weixi.dispatch.plans import TRIGGER_PREFIX, executed_sql
from weixi.errors import ConfigError, ModelError, NotFoundError
from weixi.evaluate import metrics
from weixi.evaluate.outcomes import outcomes_sql
from weixi.evaluate.uplift import (
    CONTROL,
    UpliftModel,
    UpliftParams,
    fit_uplift,
    qini_coefficient,
    uplift_by_decile,
)
from weixi.i18n import t
from weixi.store.months import add_months, format_month, loaded_months
from weixi.store.sqlrun import exact_avg

# Report dimensions: column of evaluation_outcomes -> English label (translated by t()).
DIMENSIONS: dict[str, str] = {
    "campaign_id": "Campaign",
    "campaign_type": "Campaign type",  # campaign or trigger (weixi.triggers)
    "action": "Strategy",
    "offer_id": "Offer",
    "segment": "Segment",
    "branch_id": "Branch",
    "channel": "Channel",
    "staff_id": "Person",
}

# Columns of a lift row -> English header (translated by t()).
COLUMNS: dict[str, str] = {
    "group": "Group",
    "n_treated": "Treated",
    "n_control": "Control",
    "retention_treated": "Retention (treated)",
    "retention_control": "Retention (control)",
    "churn_rate_treated": "Churn rate (treated)",
    "churn_rate_control": "Churn rate (control)",
    "retention_lift": "Retention lift",
    "retention_lift_low": "Lift 95% low",
    "retention_lift_high": "Lift 95% high",
    "value_lift": "Value lift (yuan/customer)",
    "value_lift_low": "Value lift 95% low",
    "value_lift_high": "Value lift 95% high",
    "value_retention_treated": "Value retention (treated)",
    "value_retention_control": "Value retention (control)",
    "planned_cost": "Planned cost",
    "actual_cost": "Actual cost",
    "retained_revenue": "Retained revenue",
    "net_value": "Net value retained",
    "roi": "ROI (actual cost)",
    "contact_rate": "Contact rate",
    "success_rate": "Success rate",
    "verdict": "Verdict",
}

UPLIFT_FEATURES = (
    "arpu",
    "voice_minutes",
    "data_mb",
    "zero_call_days",
    "complaints",
    "competitor_contacts",
    "group_payment_amount",
    "package_fee",
    "annual_spend",
    "satisfaction_score",
    "bb_speed_mbps",
    "tenure_months",
    "months_to_contract_end",
    "handset_age_years",
    "is_converged",
    "dual_competitor",
    "has_iptv",
    "snapshot_midhigh",
    "is_mobile",
)


def _verdict(sig: bool, small: bool, lift: float, locale: str | None) -> str:
    if small:
        return t("inconclusive (group too small)", locale)
    if not sig:
        return t("no significant effect", locale)
    return t("significant gain", locale) if lift > 0 else t("significant loss", locale)


def _planned_count(
    con: duckdb.DuckDBPyConnection, month: dt.date, plan_version: int | None = None
) -> int:
    sql = executed_sql("?", version=plan_version)
    return int(con.execute(f"SELECT count(*) FROM ({sql})", [month]).fetchone()[0])


def _outcomes_select(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    plan_version: int | None = None,
    *,
    ordered: bool = True,
) -> str:
    """The outcomes SELECT of ``month``'s executed plans (checks that they can be measured)."""
    if not _planned_count(con, month, plan_version):
        if plan_version is not None:
            raise NotFoundError(
                "no version {version} plan in {month}: only dispatched plans are evaluated "
                "(previews, drafts and cancelled campaigns never are)",
                version=plan_version,
                month=format_month(month),
            )
        raise NotFoundError(
            "no approved or closed plan in {month}: only dispatched plans are evaluated "
            "(previews, drafts and cancelled campaigns never are)",
            month=format_month(month),
        )
    nxt = add_months(month, 1)
    if nxt not in loaded_months(con):
        raise NotFoundError(
            "month {next_month} is not imported yet: outcomes of "
            "{month} come from the next month's snapshot (weixi import …)",
            next_month=format_month(nxt),
            month=format_month(month),
        )
    return outcomes_sql(
        month,
        with_segments=True,
        contacts_table="contact_outcomes",
        plan_version=plan_version,
        ordered=ordered,
    )


def build_outcomes(
    *, con: duckdb.DuckDBPyConnection, month: dt.date, engine: str = "duckdb"
) -> int:
    """Write the outcomes of ``month``'s executed plans into ``evaluation_outcomes``.

    ``engine="spark"`` joins the planned customers with the two months' snapshots on Spark
    (the same query, :func:`weixi.evaluate.outcomes.outcomes_sql`, generated for Spark); the
    rows come back as Parquet into the table.

    Raises:
        NotFoundError: no executed plan in the month, or the next month is not loaded yet.
    """
    if engine == "spark":
        _build_outcomes_spark(con, month, _outcomes_select(con, month))
        return _planned_count(con, month)
    # The joins first, then the sort, as two statements: in one, the sort of the planned lines
    # and the joins' hash tables held DuckDB's memory together, and a 10 M month's 2.2 M
    # planned lines ran out of its 3 GB ("could not allocate block"); the stored order is the
    # same (campaign, subscriber).
    rows = "_weixi_outcome_rows"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {rows} AS {_outcomes_select(con, month, ordered=False)}"
    )
    try:
        con.execute("DELETE FROM evaluation_outcomes WHERE month = ?", [month])
        con.execute(
            f"INSERT INTO evaluation_outcomes BY NAME SELECT * FROM {rows} "
            "ORDER BY campaign_id, subscriber_id"
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {rows}")
    return _planned_count(con, month)


def _build_outcomes_spark(con: duckdb.DuckDBPyConnection, month: dt.date, sql: str) -> None:
    """:func:`build_outcomes` on Spark: the month's rows of the tables the outcomes query
    reads go to Spark as views of the same names, the outcomes come back as Parquet."""
    import shutil
    import tempfile

    from weixi.store.backends import spark_sql, spark_views

    m = f"DATE '{month.isoformat()}'"
    nxt = f"DATE '{add_months(month, 1).isoformat()}'"
    tmp = Path(tempfile.mkdtemp(prefix="weixi-outcomes-spark-"))
    try:
        spark = spark_views(
            con,
            tmp,
            {
                "plan_assignments": f"SELECT * FROM plan_assignments WHERE month = {m}",
                "plans": f"SELECT * FROM plans WHERE month = {m}",
                "snapshot": "SELECT month, subscriber_id, status, arpu FROM snapshot "
                f"WHERE month IN ({m}, {nxt})",
                "segments": "SELECT month, subscriber_id, stability_group, urgency "
                f"FROM segments WHERE month = {m}",
                "contact_outcomes": f"SELECT * FROM contact_outcomes WHERE month = {m}",
            },
        )
        out = tmp / "outcomes"
        spark.sql(spark_sql(sql)).write.mode("overwrite").parquet(f"file://{out}")
        con.execute("BEGIN")
        try:
            con.execute("DELETE FROM evaluation_outcomes WHERE month = ?", [month])
            con.execute(
                "INSERT INTO evaluation_outcomes BY NAME "
                f"SELECT * FROM read_parquet('{out}/*.parquet') ORDER BY campaign_id, subscriber_id"
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def get_outcomes(
    *, con: duckdb.DuckDBPyConnection, month: dt.date, plan_version: int | None = None
) -> pd.DataFrame:
    """Outcomes of ``month`` (built from the snapshots on first use).

    ``plan_version`` measures that stored version of each campaign instead (e.g. a superseded
    one); that reading is computed on the fly and not stored.
    """
    if plan_version is not None:
        return con.execute(_outcomes_select(con, month, plan_version)).df()
    if not con.execute(
        "SELECT count(*) FROM evaluation_outcomes WHERE month = ?", [month]
    ).fetchone()[0]:
        build_outcomes(con=con, month=month)
    # a fixed row order: the bootstrap resamples rows, so the figures depend on it
    df = con.execute(
        "SELECT * FROM evaluation_outcomes WHERE month = ? ORDER BY campaign_id, subscriber_id",
        [month],
    ).df()
    # A file written before actual costs (read-only here, so not migrated): planned cost only.
    if "planned_cost" not in df.columns:
        df = df.rename(columns={"cost": "planned_cost"})
    if "actual_cost" not in df.columns:
        df["actual_cost"] = np.nan
    return df


def lift_rows(
    df: pd.DataFrame,
    dim: str | None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    locale: str | None = None,
    value_interval: metrics.Interval | None = None,
) -> list[dict]:
    """Lift and KPI rows of ``df`` grouped by ``dim`` (None = one overall row).

    ``value_interval``: the value lift's bootstrap interval per group of :func:`_codes` when
    already drawn for several breakdowns at once.
    """
    if df.empty:
        return []
    codes, labels = _codes(df, dim, locale)
    contacted = df["contacted"].astype("float") if df["contacted"].notna().any() else None
    accepted = df["accepted"].astype("float") if df["accepted"].notna().any() else None
    out = metrics.lift_summary(
        df["stayed"].to_numpy(float),
        ~df["is_control"].to_numpy(bool),
        df["arpu_before"].to_numpy(float),
        df["arpu_after"].to_numpy(float),
        planned_cost=df["planned_cost"].to_numpy(float),
        actual_cost=df["actual_cost"].to_numpy(float),
        contacted=None if contacted is None else contacted.fillna(0).to_numpy(),
        accepted=None if accepted is None else accepted.fillna(0).to_numpy(),
        groups=codes,
        n_boot=n_boot,
        seed=seed,
        value_interval=value_interval,
    )
    rows = []
    for i, label in enumerate(labels):
        row: dict = {"group": label}
        for k, v in out.items():
            x = v[i]
            row[k] = x.item() if hasattr(x, "item") else x
            if isinstance(row[k], float) and not np.isfinite(row[k]):
                row[k] = None
        row["verdict"] = _verdict(
            bool(out["significant"][i]),
            bool(out["inconclusive"][i]),
            float(out["retention_lift"][i]),
            locale,
        )
        rows.append(row)
    return rows


def _codes(df: pd.DataFrame, dim: str | None, locale: str | None) -> tuple[np.ndarray, list]:
    """Integer group codes of ``df``'s rows by ``dim`` and the groups' labels."""
    if dim is None:
        return np.zeros(len(df), dtype=np.int64), [t("All", locale)]
    codes, uniq = pd.factorize(df[dim].fillna("-").astype(str), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniq]


def evaluate_month(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    dimensions: list[str] | None = None,
    n_boot: int = 1000,
    locale: str | None = None,
    branch: str | None = None,
    plan_version: int | None = None,
    rebuild: bool = False,
    engine: str = "duckdb",
    memo: dict | None = None,
) -> dict:
    """Evaluate ``month``'s executed campaigns against their randomized control.

    ``branch`` limits the evaluation to one branch's customers (a branch manager's scope);
    ``plan_version`` measures that stored version instead of the executed one; ``rebuild``
    recomputes the stored outcomes first (after plans were approved, closed or cancelled), on
    ``engine`` (:func:`build_outcomes`). The lifts and their bootstrap intervals are computed
    on the driver: the bootstrap resamples customers (the value lift is a mean of ARPU
    changes), so it reads the month's outcome rows, not aggregates. ``memo`` (a dict the caller
    keeps) holds the month's outcome rows and each scope's bootstrap intervals for the next
    call: the read models evaluate one month for every branch and language.

    Returns:
        ``{"month", "overall": row, "by": {dimension: [rows]}}`` where a row holds the lift,
        its 95 % interval, the KPIs and a verdict (small groups: inconclusive).
    """
    dims = dimensions or list(DIMENSIONS)
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise ConfigError(
            "unknown dimensions {bad}; use {dimensions}", bad=bad, dimensions=", ".join(DIMENSIONS)
        )
    if rebuild and plan_version is None:
        build_outcomes(con=con, month=month, engine=engine)
    if memo is None or plan_version is not None or rebuild:
        df = get_outcomes(con=con, month=month, plan_version=plan_version)
    else:
        if ("outcomes", month) not in memo:
            memo[("outcomes", month)] = get_outcomes(con=con, month=month)
        df = memo[("outcomes", month)]
    if branch is not None:
        df = df[df["branch_id"] == branch]
    # a trigger rule is evaluated as a campaign of type "trigger" (its own control group)
    df = df.assign(
        campaign_type=np.where(
            df["campaign_id"].astype(str).str.startswith(TRIGGER_PREFIX), "trigger", "campaign"
        )
    )
    used = [None] + [d for d in dims if df[d].notna().any()]
    # one set of bootstrap draws for every breakdown (the draws are most of the work); the
    # groups' codes do not depend on the language, so neither do the intervals
    key = ("intervals", month, branch, plan_version, tuple(used), n_boot)
    if memo is not None and key in memo:
        intervals = memo[key]
    else:
        intervals = (
            metrics.bootstrap_diff_cis(
                (df["arpu_after"] - df["arpu_before"]).to_numpy(float),
                ~df["is_control"].to_numpy(bool),
                [_codes(df, d, locale)[0] for d in used],
                n_boot=n_boot,
            )
            if not df.empty
            else [None] * len(used)
        )
        if memo is not None:
            memo[key] = intervals
    rows = {
        d: lift_rows(df, d, n_boot=n_boot, locale=locale, value_interval=iv)
        for d, iv in zip(used, intervals, strict=True)
    }
    overall = rows.pop(None)
    by = rows
    return {"month": format_month(month), "overall": overall[0] if overall else None, "by": by}


def export_excel(report: dict, path: Path | str, *, locale: str | None = None) -> Path:
    """Write an evaluation report to an ``.xlsx`` workbook (one sheet per dimension)."""
    import xlsxwriter

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ConfigError("the export file must end in .xlsx, got {name}", name=path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    pct = wb.add_format({"num_format": "0.00%"})
    money = wb.add_format({"num_format": "#,##0.00"})
    grey = wb.add_format({"font_color": "#808080", "italic": True})
    pct_cols = {
        "retention_treated",
        "retention_control",
        "churn_rate_treated",
        "churn_rate_control",
        "retention_lift",
        "retention_lift_low",
        "retention_lift_high",
        "value_retention_treated",
        "value_retention_control",
        "roi",
        "contact_rate",
        "success_rate",
    }

    def sheet(name: str, rows: list[dict]) -> None:
        ws = wb.add_worksheet(name[:31])
        cols = list(COLUMNS)
        for j, c in enumerate(cols):
            ws.write(0, j, t(COLUMNS[c], locale), head)
            ws.set_column(j, j, 14 if c != "group" else 22)
        for i, row in enumerate(rows, start=1):
            small = bool(row.get("inconclusive"))
            for j, c in enumerate(cols):
                v = row.get(c)
                if v is None:
                    ws.write_blank(i, j, None)
                elif isinstance(v, str):
                    ws.write_string(i, j, v, grey if small and c == "verdict" else None)
                else:
                    ws.write_number(i, j, float(v), pct if c in pct_cols else money)
        ws.freeze_panes(1, 1)

    title = wb.add_worksheet(t("Summary", locale)[:31])
    title.write(0, 0, t("Campaign evaluation against the randomized control", locale), head)
    title.write(1, 0, t("Month", locale))
    title.write(1, 1, report["month"])
    title.write(
        2,
        0,
        t(
            "Groups with fewer than {n} customers in an arm are marked inconclusive.",
            locale,
            n=metrics.MIN_N,
        ),
    )
    title.write(
        3,
        0,
        t(
            "Planned cost: the plan's price (one contact + expected acceptances × offer cost). "
            "Actual cost: contact cost × attempts + offer cost × accepted offers. "
            "ROI = (retained revenue − actual cost) / actual cost.",
            locale,
        ),
    )
    if report.get("overall"):
        sheet(t("All", locale), [report["overall"]])
    for dim, rows in report.get("by", {}).items():
        sheet(t(DIMENSIONS[dim], locale), rows)
    wb.close()
    return path


# ------------------------------------------------------------------------------ uplift
def _feature_sql(month_col: str) -> str:
    """SELECT list of :data:`UPLIFT_FEATURES` over snapshot ``s`` as of ``month_col``.

    Day counts are cast to DOUBLE before dividing: Spark (the same query generated for it, see
    :func:`uplift_scoring_sql`) would otherwise divide by a DECIMAL literal and round."""

    def days(a: str, b: str) -> str:
        return f"CAST(date_diff('day', {a}, {b}) AS DOUBLE)"

    return ", ".join(
        {
            "tenure_months": f"{days('s.activation_date', month_col)} / 30.44",
            "months_to_contract_end": f"COALESCE({days(month_col, 's.contract_end')} / 30.44, 99)",
            "handset_age_years": f"{days('s.handset_first_use_date', month_col)} / 365.25",
            "is_mobile": "CAST(s.line_type = 'mobile' AS DOUBLE)",
        }.get(f, f"CAST(s.{f} AS DOUBLE)")
        + f" AS {f}"
        for f in UPLIFT_FEATURES
    )


def uplift_training_frame(*, con: duckdb.DuckDBPyConnection, months: list[dt.date]):
    """Features, arm (action or '' for control) and stayed of the given months' outcomes."""
    if not months:
        raise NotFoundError("no evaluated months to learn from")
    marks = ", ".join("?" for _ in months)
    df = con.execute(
        f"""SELECT o.month, o.subscriber_id, o.action, o.is_control, o.stayed,
                   {_feature_sql("o.month")}
            FROM evaluation_outcomes o
            JOIN snapshot s ON s.subscriber_id = o.subscriber_id AND s.month = o.month
            WHERE o.month IN ({marks})""",
        months,
    ).df()
    X = df[list(UPLIFT_FEATURES)].to_numpy(np.float64)
    arm = np.where(df["is_control"].to_numpy(bool), CONTROL, df["action"].astype(str).to_numpy())
    return df, X, arm, df["stayed"].to_numpy(np.float64)


def uplift_scoring_sql(month: dt.date, *, dialect: str = "duckdb") -> str:
    """The SELECT of ``month``'s targetable lines (segmented, not excluded): subscriber_id,
    line_type, p_churn (0 when the line has no churn score) and :data:`UPLIFT_FEATURES`.

    One definition (DuckDB SQL, ordered by subscriber_id); ``dialect="spark"`` generates the
    same query for Spark (:func:`weixi.store.backends.spark_sql`; unordered: the executors
    score rows independently).
    """
    m = f"DATE '{month.isoformat()}'"
    sql = f"""SELECT s.subscriber_id, s.line_type, COALESCE(cs.p_churn, 0.0) AS p_churn,
                   {_feature_sql("s.month")}
            FROM snapshot s
            JOIN segments g ON g.subscriber_id = s.subscriber_id AND g.month = s.month
            LEFT JOIN (SELECT subscriber_id, arg_max(p_churn, model_version) AS p_churn
                       FROM churn_scores WHERE month = {m} GROUP BY subscriber_id) cs
              ON cs.subscriber_id = s.subscriber_id
            WHERE s.month = {m} AND NOT COALESCE(g.excluded, FALSE)
            ORDER BY s.subscriber_id"""
    if dialect == "duckdb":
        return sql
    from weixi.store.backends import spark_sql

    return spark_sql(sql)


def uplift_scoring_frame(*, con: duckdb.DuckDBPyConnection, month: dt.date):
    """Features of ``month``'s targetable lines (segmented, not excluded) with their P(churn).

    Returns ``(frame, X)``: the frame has subscriber_id, line_type and p_churn (0 when the line
    has no churn score), X the :data:`UPLIFT_FEATURES` matrix in the same row order
    (:func:`uplift_scoring_sql`).
    """
    df = con.execute(uplift_scoring_sql(month)).df()
    return df, df[list(UPLIFT_FEATURES)].to_numpy(np.float64)


def evaluated_months(*, con: duckdb.DuckDBPyConnection, up_to: dt.date | None = None) -> list:
    """Months whose campaign outcomes are known (``evaluation_outcomes``), oldest first."""
    rows = con.execute(
        "SELECT DISTINCT month FROM evaluation_outcomes WHERE month <= COALESCE(?, month) "
        "ORDER BY month",
        [up_to],
    ).fetchall()
    return [r[0] for r in rows]


def learning_evidence(*, con: duckdb.DuckDBPyConnection, months: list[dt.date]) -> dict:
    """How much campaign evidence the evaluated ``months`` hold (thresholds decide on it).

    Returns ``{"months", "treated", "control", "churners", "treated_by_action": {...},
    "control_by_action": {...}}`` (controls by the action the plan meant for them).
    """
    out = {"months": len(months), "treated": 0, "control": 0, "churners": 0}
    out["treated_by_action"] = {}
    out["control_by_action"] = {}
    if not months:
        return out
    marks = ", ".join("?" for _ in months)
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE NOT is_control), count(*) FILTER (WHERE is_control),
                   count(*) FILTER (WHERE stayed = 0)
            FROM evaluation_outcomes WHERE month IN ({marks})""",
        months,
    ).fetchone()
    out.update(treated=int(row[0]), control=int(row[1]), churners=int(row[2]))
    out["treated_by_action"] = {}
    out["control_by_action"] = {}
    for a, ctl, n in con.execute(
        f"""SELECT action, is_control, count(*) FROM evaluation_outcomes
            WHERE month IN ({marks}) GROUP BY ALL ORDER BY ALL""",
        months,
    ).fetchall():
        out["control_by_action" if ctl else "treated_by_action"][a] = int(n)
    return out


def mean_channel_effect(
    *,
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date],
    channel_effect: dict[str, float],
    by_segment: bool = False,
) -> pd.DataFrame:
    """Mean configured channel effect of the treated customers per action (and segment).

    The measured effect of a planned customer is delivered through the channel the plan chose,
    so converting it back to the library's unit (effect when the action *reaches* the customer
    through a channel of effect 1) divides by this mean.
    """
    eff = pd.DataFrame(
        {"channel": list(channel_effect), "effect": [float(v) for v in channel_effect.values()]}
    )
    marks = ", ".join("?" for _ in months)
    seg = "COALESCE(o.segment, '-') AS segment, " if by_segment else ""
    con.register("_ch_effect", eff)
    try:
        return con.execute(
            f"""SELECT {seg}o.action, avg(COALESCE(e.effect, 1.0)) AS effect
                FROM evaluation_outcomes o LEFT JOIN _ch_effect e ON e.channel = o.channel
                WHERE o.month IN ({marks}) AND NOT o.is_control GROUP BY ALL""",
            months,
        ).df()
    finally:
        con.unregister("_ch_effect")


def score_uplift(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    model: UpliftModel,
    version: str,
    action_line_types: dict[str, str],
    mean_effect: dict[str, float],
    skip_actions: list[str] | tuple[str, ...] = (),
    uplift_range: tuple[float, float] = (0.0, 0.9),
    p_churn_floor: float = 0.01,
    prior_uplift: dict[str, float] | None = None,
    n_treated: dict[str, int] | None = None,
    shrink_treated: float = 0.0,
    engine: str = "duckdb",
) -> dict:
    """Write ``month``'s learned uplift per targetable line × action into the ``uplift`` table.

    The model predicts the increase in P(stay) of a *planned* customer (``delta_p``, absolute,
    through the channel mix the action had). The strategy library's unit is the share of
    would-be churners kept when the action reaches the customer, and matching values an option
    as ``P(churn) × uplift × CLV × channel effect``; so::

        uplift = delta_p / (max(P(churn), p_churn_floor) × mean channel effect of the action)

    clipped to ``uplift_range``. Per-customer estimates from a few hundred treated customers are
    mostly noise, so with ``prior_uplift`` (the configured uplift per action) and ``n_treated``
    (treated customers per action in the training months) the stored value is shrunk towards the
    configuration: ``w · learned + (1 − w) · configured`` with ``w = n / (n + shrink_treated)``.
    Rows only for the actions the line's type allows (``action_line_types``: action →
    mobile|broadband|any) and that the model learned (``skip_actions`` keep their configured
    effect). ``engine``: where the lines are scored (:mod:`weixi.evaluate.scoring`: on the
    driver with DuckDB, or inside ``mapInArrow`` on the Spark executors).

    Returns:
        ``{"version", "rows", "lines", "actions": {action: mean learned uplift}}``.
    """
    from weixi.evaluate.scoring import scored_lines

    acts = [a for a in model.actions if a in action_line_types and a not in set(skip_actions)]
    con.execute("DELETE FROM uplift WHERE month = ?", [month])
    weight = np.ones(len(acts))
    prior = np.zeros(len(acts))
    if prior_uplift is not None and shrink_treated > 0:
        n = np.array([float((n_treated or {}).get(a, 0)) for a in acts])
        weight = n / (n + shrink_treated)
        prior = np.array([float(prior_uplift.get(a, 0.0)) for a in acts])
    rule = {
        "actions": acts,
        "kind": [action_line_types[a] for a in acts],
        "effect": [max(float(mean_effect.get(a, 1.0)), 1e-3) for a in acts],
        "weight": weight.tolist(),
        "prior": prior.tolist(),
        "range": tuple(float(x) for x in uplift_range),
        "floor": float(p_churn_floor),
    }

    def score(fitted: UpliftModel, df: pd.DataFrame) -> pd.DataFrame:
        return uplift_rows(fitted, df, rule)

    with scored_lines(
        con,
        month,
        engine=engine,
        model=model,
        model_text=model.to_json(),
        load=UpliftModel.from_json,
        score=score,
        schema="subscriber_id string, action string, uplift double, delta_p double",
    ) as (rel, lines):
        con.execute(
            f"""INSERT INTO uplift BY NAME
                SELECT CAST(? AS DATE) AS month, subscriber_id, action, uplift, delta_p,
                       ? AS model_version
                FROM {rel}""",
            [month, version],
        )
        means = dict(
            con.execute(f"SELECT action, avg(uplift) FROM {rel} GROUP BY action").fetchall()
        )
        rows = int(con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0][0])
    return {
        "version": version,
        "rows": rows,
        "lines": lines,
        "actions": {a: round(float(means[a]), 4) for a in acts if a in means},
        "weights": {a: round(float(w), 3) for a, w in zip(acts, weight, strict=True)},
    }


def uplift_rows(model: UpliftModel, df: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """Learned uplift rows (subscriber_id, action, uplift, delta_p) of a batch of scoring rows
    (:func:`uplift_scoring_sql`) under ``rule`` (built by :func:`score_uplift`): one
    prediction over the batch's feature matrix, the same on the driver and on an executor."""
    acts = rule["actions"]
    empty = pd.DataFrame(
        {
            "subscriber_id": pd.Series(dtype=object),
            "action": pd.Series(dtype=object),
            "uplift": pd.Series(dtype=float),
            "delta_p": pd.Series(dtype=float),
        }
    )
    if not acts or df.empty:
        return empty
    X = df[list(UPLIFT_FEATURES)].to_numpy(np.float64)
    cols = [model.actions.index(a) for a in acts]
    delta = model.predict(X)[:, cols]  # (n, A) increase in P(stay) = decrease in P(churn)
    line = df["line_type"].astype(str).to_numpy()
    kind = np.array(rule["kind"])
    allowed = (kind[None, :] == "any") | (kind[None, :] == line[:, None])
    eff = np.array(rule["effect"])
    p = np.maximum(df["p_churn"].to_numpy(float), rule["floor"])
    learned = np.clip(delta / (p[:, None] * eff[None, :]), *rule["range"])
    weight, prior = np.array(rule["weight"]), np.array(rule["prior"])
    if (weight < 1).any():
        learned = np.clip(
            weight[None, :] * learned + (1 - weight[None, :]) * prior[None, :], *rule["range"]
        )
    i, j = np.nonzero(allowed)
    return pd.DataFrame(
        {
            "subscriber_id": df["subscriber_id"].to_numpy()[i],
            "action": np.array(acts, dtype=object)[j],
            "uplift": learned[i, j],
            "delta_p": delta[i, j],
        }
    )


def _uplift_dir() -> Path:
    return get_settings().models_dir / "uplift"


def train_uplift(
    *,
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date] | None = None,
    params: UpliftParams | None = None,
    test_share: float = 0.25,
) -> dict:
    """Train the uplift model on evaluated months; save it and its Qini / decile report.

    The customers are split at random: the model learns on ``1 − test_share`` and is judged on
    the rest (Qini coefficient and uplift by decile of the planned action's predicted uplift).
    """
    if months is None:
        months = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT month FROM evaluation_outcomes ORDER BY month"
            ).fetchall()
        ]
        if not months:
            raise NotFoundError("no evaluated campaigns yet: run `weixi evaluate --month M` first")
    p = params or UpliftParams()
    df, X, arm, y = uplift_training_frame(con=con, months=months)
    rng = np.random.default_rng(p.seed)
    test = rng.random(len(y)) < test_share
    # each action learns against its own randomized controls (the customers planned for it)
    planned = df["action"].astype(str).to_numpy()
    model = fit_uplift(
        X[~test],
        arm[~test],
        y[~test],
        params=p,
        feature_names=list(UPLIFT_FEATURES),
        control_action=planned[~test],
    )
    report = _uplift_report(
        model, X[test], df["action"].astype(str).to_numpy()[test], arm[test], y[test]
    )
    version = f"uplift-{format_month(max(months))}"
    folder = _uplift_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.json").write_text(model.to_json(), encoding="utf-8")
    meta = {
        "version": version,
        "months": [format_month(m) for m in months],
        "learner": p.learner,
        "actions": model.actions,
        "n_train": model.n_train,
        **report,
    }
    (folder / f"{version}.meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def _uplift_report(model: UpliftModel, X, planned_action, arm, y) -> dict:
    known = np.isin(planned_action, model.actions)
    if not known.any():
        return {"qini": None, "deciles": []}
    u = model.predict(X[known])
    col = np.array([model.actions.index(a) for a in planned_action[known]])
    score = u[np.arange(len(col)), col]
    treated = arm[known] != CONTROL
    dec = uplift_by_decile(score, treated, y[known])
    rows = [
        {k: (v[i].item() if np.isfinite(v[i]) else None) for k, v in dec.items()}
        for i in range(len(dec["decile"]))
    ]
    return {"qini": qini_coefficient(score, treated, y[known]), "deciles": rows}


def get_uplift_model(version: str | None = None) -> tuple[UpliftModel, dict] | None:
    """Load the newest (or the named) uplift model and its report; None when none is trained."""
    folder = _uplift_dir()
    files = sorted(folder.glob("uplift-*.meta.json")) if folder.exists() else []
    if version:
        files = [f for f in files if f.name == f"{version}.meta.json"]
    if not files:
        return None
    meta = json.loads(files[-1].read_text(encoding="utf-8"))
    model = UpliftModel.from_json((folder / f"{meta['version']}.json").read_text(encoding="utf-8"))
    return model, meta


def uplift_report(*, con: duckdb.DuckDBPyConnection, month: dt.date) -> dict:
    """Qini and uplift by decile of the newest uplift model on ``month``'s outcomes."""
    found = get_uplift_model()
    if found is None:
        raise ModelError("no uplift model yet: run `weixi uplift train` first")
    model, meta = found
    get_outcomes(con=con, month=month)
    df, X, arm, y = uplift_training_frame(con=con, months=[month])
    rep = _uplift_report(model, X, df["action"].astype(str).to_numpy(), arm, y)
    return {"month": format_month(month), "version": meta["version"], **rep}


# ------------------------------------------------------------------------ plan adjustment
# Pseudo-customers of the overall control churn rate behind each segment's base rate.
_BASE_PRIOR = 20.0


def _main_actions(df: pd.DataFrame, month: dt.date) -> dict[str, str]:
    """The most planned (treated) action per segment in ``month``."""
    last = df[(df["month"] == pd.Timestamp(month)) & ~df["is_control"].astype(bool)]
    if last.empty:
        return {}
    return last.groupby("segment")["action"].agg(lambda s: s.value_counts().index[0]).to_dict()


def adjust_plan(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    prior_effect: float = 0.02,
    prior_uplift: dict[str, float] | None = None,
    channel_effect: dict[str, float] | None = None,
    prior_strength: float = 200.0,
    uplift_range: tuple[float, float] = (0.0, 1.0),
    clv_months: float = 12.0,
    holdout_share: float = 0.1,
    explore_share: float = 0.1,
    locale: str | None = None,
    seed: int = 0,
) -> dict:
    """Thompson-sampling plan adjustment from every evaluated month up to ``month``.

    Writes the action shares for the month after ``month`` into ``plan_adjustments`` and
    returns ``{"month", "next_month", "shares": [...], "report": [lines]}``.

    Args:
        prior_effect: configured absolute churn reduction per planned customer, used as the
            prior's centre for actions without ``prior_uplift``.
        prior_uplift: the strategy library's uplift per action (share of would-be churners
            kept when reached); the prior's centre is then ``uplift × segment base churn ×
            mean channel effect``, the same quantity the evidence measures.
        channel_effect: the library's effect per channel (1 for all when None).
        prior_strength: pseudo-customers behind the prior.
        uplift_range: clip of the ``uplift`` column (posterior mean in the library's unit:
            ``lift_mean / (segment base churn × mean channel effect)``).
    """
    from weixi.evaluate.adjust import SegmentActionStats, change_report, thompson_adjust

    get_outcomes(con=con, month=month)
    df = con.execute(
        """SELECT COALESCE(segment, '-') AS segment, action, channel, is_control, stayed,
                  arpu_before, COALESCE(actual_cost, planned_cost) AS cost, month
           FROM evaluation_outcomes WHERE month <= ?""",
        [month],
    ).df()
    segs = sorted(df["segment"].unique())
    acts = sorted(df["action"].dropna().unique())
    si = df["segment"].map({s: i for i, s in enumerate(segs)}).to_numpy()
    ai = df["action"].map({a: i for i, a in enumerate(acts)}).to_numpy()
    ctrl = df["is_control"].to_numpy(bool)
    churn = 1 - df["stayed"].to_numpy(float)
    S, A = len(segs), len(acts)
    n_t = np.zeros((S, A))
    k_t = np.zeros((S, A))
    np.add.at(n_t, (si[~ctrl], ai[~ctrl]), 1)
    np.add.at(k_t, (si[~ctrl], ai[~ctrl]), churn[~ctrl])
    # controls per segment × planned action: an action's lift is measured against the
    # customers planned for that action and held back, never the whole segment's controls
    n_c = np.zeros((S, A))
    k_c = np.zeros((S, A))
    np.add.at(n_c, (si[ctrl], ai[ctrl]), 1)
    np.add.at(k_c, (si[ctrl], ai[ctrl]), churn[ctrl])
    value = clv_months * np.bincount(si, weights=df["arpu_before"].to_numpy(float), minlength=S)
    value = value / np.maximum(np.bincount(si, minlength=S), 1)
    cost_sum = np.bincount(ai[~ctrl], weights=df["cost"].to_numpy(float)[~ctrl], minlength=A)
    cost = cost_sum / np.maximum(np.bincount(ai[~ctrl], minlength=A), 1)
    # Base churn (control) per segment × action, shrunk towards the segment's pooled control
    # rate, itself shrunk towards the overall one: an action's controls are a handful of
    # customers at first.
    overall = (k_c.sum() + 1.0) / (n_c.sum() + 2.0)
    seg_base = (k_c.sum(axis=1) + _BASE_PRIOR * overall) / (n_c.sum(axis=1) + _BASE_PRIOR)
    base = (k_c + _BASE_PRIOR * seg_base[:, None]) / (n_c + _BASE_PRIOR)
    # Mean channel effect of the treated per segment × action (action mean where untried).
    eff_row = df["channel"].map(channel_effect or {}).fillna(1.0).to_numpy(float)
    e_sum = np.zeros((S, A))
    np.add.at(e_sum, (si[~ctrl], ai[~ctrl]), eff_row[~ctrl])
    e_act = np.bincount(ai[~ctrl], weights=eff_row[~ctrl], minlength=A) / np.maximum(
        np.bincount(ai[~ctrl], minlength=A), 1
    )
    e_act = np.where(np.bincount(ai[~ctrl], minlength=A) > 0, e_act, 1.0)
    eff = np.where(n_t > 0, e_sum / np.maximum(n_t, 1), e_act[None, :])
    prior = np.full((S, A), prior_effect)
    if prior_uplift:
        conf = np.array([prior_uplift.get(a, np.nan) for a in acts])
        prior = np.where(np.isnan(conf)[None, :], prior, conf[None, :] * base * eff)
    stats = SegmentActionStats(
        segments=segs,
        actions=acts,
        n_treated=n_t,
        churned_treated=k_t,
        n_control=n_c,
        churned_control=k_c,
        value=value,
        cost=cost,
        prior_effect=prior,
        control_prior=np.broadcast_to(seg_base[:, None], (S, A)),
        control_strength=_BASE_PRIOR,
    )
    adj = thompson_adjust(
        stats,
        prior_strength=prior_strength,
        holdout_share=holdout_share,
        explore_share=explore_share,
        seed=seed,
    )
    unit = np.clip(adj.lift_mean / (base * np.maximum(eff, 1e-3)), *uplift_range)
    before = _main_actions(df, month)
    before_list = [before.get(s, "-") for s in segs]
    nxt = add_months(month, 1)
    rows = [
        (
            nxt,
            s,
            a,
            float(adj.p_best[i, j]),
            float(adj.lift_mean[i, j]),
            float(adj.lift_low[i, j]),
            float(adj.lift_high[i, j]),
            float(adj.net_value_mean[i, j]),
            int(adj.n_treated[i, j]),
            int(adj.n_control[i, j]),
            float(base[i, j]),
            float(unit[i, j]),
            float(holdout_share),
            float(explore_share),
        )
        for i, s in enumerate(segs)
        for j, a in enumerate(acts)
    ]
    con.execute("DELETE FROM plan_adjustments WHERE month = ?", [nxt])
    if rows:
        con.executemany(
            "INSERT INTO plan_adjustments (month, segment, action, p_best, lift_mean, lift_low, "
            "lift_high, net_value, n_treated, n_control, churn_control, uplift, holdout_share, "
            "explore_share) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return {
        "month": format_month(month),
        "next_month": format_month(nxt),
        "shares": [
            {
                "segment": r[1],
                "action": r[2],
                "p_best": r[3],
                "lift_mean": r[4],
                "lift_low": r[5],
                "lift_high": r[6],
                "net_value": r[7],
                "uplift": r[11],
            }
            for r in rows
        ],
        "report": change_report(before_list, adj, locale=locale or "en"),
    }


def plan_changes(
    *, con: duckdb.DuckDBPyConnection, month: dt.date | None = None, locale: str | None = None
) -> dict | None:
    """The "what changed in the plan and why" report of the adjustment *for* ``month``.

    Rebuilt from ``plan_adjustments`` (so the web app can show it in either language);
    ``month`` None = the newest adjustment. None when no adjustment exists.

    Returns:
        ``{"month", "evaluated_month", "report": [lines], "segments": [rows]}`` where a row is
        one segment's chosen action with its evidence.
    """
    from weixi.evaluate.adjust import Adjustment, change_report

    if month is None:
        month = con.execute("SELECT max(month) FROM plan_adjustments").fetchone()[0]
        if month is None:
            return None
    df = con.execute(
        "SELECT * FROM plan_adjustments WHERE month = ? ORDER BY segment, action", [month]
    ).df()
    if df.empty:
        return None
    segs = sorted(df["segment"].unique())
    acts = sorted(df["action"].unique())

    def grid(col: str, fill: float = 0.0) -> np.ndarray:
        if col not in df.columns:
            return np.full((len(segs), len(acts)), fill)
        pv = df.pivot_table(index="segment", columns="action", values=col, aggfunc="first")
        return pv.reindex(index=segs, columns=acts).fillna(fill).to_numpy(float)

    n_control = grid("n_control")
    holdout = df["holdout_share"].dropna() if "holdout_share" in df.columns else pd.Series()
    explore = df["explore_share"].dropna() if "explore_share" in df.columns else pd.Series()
    adj = Adjustment(
        segments=segs,
        actions=acts,
        p_best=grid("p_best"),
        lift_mean=grid("lift_mean"),
        lift_low=grid("lift_low"),
        lift_high=grid("lift_high"),
        net_value_mean=grid("net_value"),
        n_treated=grid("n_treated").astype(np.int64),
        n_control=n_control.astype(np.int64),
        holdout_share=float(holdout.iloc[0]) if len(holdout) else 0.1,
        explore_share=float(explore.iloc[0]) if len(explore) else 0.1,
    )
    prev = add_months(month, -1)
    before = None
    last = con.execute(
        """SELECT COALESCE(segment, '-') AS segment, action, is_control, month
           FROM evaluation_outcomes WHERE month = ?""",
        [prev],
    ).df()
    if not last.empty:
        main = _main_actions(last, prev)
        before = [main.get(s, "-") for s in segs]
    best = adj.main_action(before)
    likely = adj.best_action()
    follow = adj.follow()
    uplift = grid("uplift", np.nan)
    segments = []
    for i, s in enumerate(segs):
        j = acts.index(best[i])
        segments.append(
            {
                "segment": s,
                "before": before[i] if before else None,
                "action": best[i],
                "best_action": likely[i],
                "best_p": float(adj.p_best[i, acts.index(likely[i])]),
                "follow": float(follow[i]),
                "p_best": float(adj.p_best[i, j]),
                "lift_mean": float(adj.lift_mean[i, j]),
                "lift_low": float(adj.lift_low[i, j]),
                "lift_high": float(adj.lift_high[i, j]),
                "uplift": None if np.isnan(uplift[i, j]) else float(uplift[i, j]),
                "n_treated": int(adj.n_treated[i].sum()),
                "n_control": int(adj.n_control[i].sum()),
                "changed": bool(before is not None and before[i] != best[i]),
            }
        )
    segments.sort(key=lambda r: (not r["changed"], -r["n_treated"]))
    return {
        "month": format_month(month),
        "evaluated_month": format_month(prev),
        "report": change_report(before, adj, locale=locale or "en"),
        "segments": segments,
    }


def learned_uplift_summary(*, con: duckdb.DuckDBPyConnection, month: dt.date) -> list[dict]:
    """Per action: lines scored, mean learned uplift and model version of ``month``'s ``uplift``."""
    cols = {r[0] for r in con.execute("DESCRIBE uplift").fetchall()}
    if "month" not in cols:
        return []
    version = "any_value(model_version)" if "model_version" in cols else "NULL"
    rows = con.execute(
        f"""SELECT action, count(*) AS lines, {exact_avg("uplift")} AS uplift,
                   {version} AS version
            FROM uplift WHERE month = ? GROUP BY action ORDER BY action""",
        [month],
    ).fetchall()
    # an action whose rows hold only learned take rates (uplift NULL) has no mean uplift
    return [
        {"action": a, "lines": int(n), "uplift": None if u is None else float(u), "version": v}
        for a, n, u, v in rows
    ]


def money_verdict(overall: dict | None, by_action: list[dict]) -> dict | None:
    """Does the campaign pay? The planner's answer from the measured figures, and which actions do.

    Net value = retained revenue − actual cost, with the value lift's 95 % interval carried
    through (× treated customers). ``status``: ``loses`` (the whole interval below zero),
    ``unproven`` (it includes zero) or ``pays`` (above zero); ``paying`` / ``losing`` list the
    actions whose own interval is above / below zero — the policy that does not lose money keeps
    the first and drops the second. None without an actual cost (execution not recorded).
    """

    def interval(r: dict) -> tuple[float, float] | None:
        if r.get("actual_cost") is None or r.get("value_lift_low") is None:
            return None
        n, cost = float(r["n_treated"]), float(r["actual_cost"])
        return r["value_lift_low"] * n - cost, r["value_lift_high"] * n - cost

    if not overall:
        return None
    iv = interval(overall)
    if iv is None or overall.get("net_value") is None:
        return None
    status = "loses" if iv[1] < 0 else ("pays" if iv[0] > 0 else "unproven")
    paying, losing = [], []
    for r in by_action:
        a = interval(r)
        if a is None or r.get("inconclusive"):
            continue
        if a[0] > 0:
            paying.append(r["group"])
        elif a[1] < 0:
            losing.append(r["group"])
    return {
        "status": status,
        "net_value": overall["net_value"],
        "net_low": iv[0],
        "net_high": iv[1],
        "paying": paying,
        "losing": losing,
    }


def overview(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date | None = None,
    locale: str | None = None,
    n_boot: int = 200,
    branch: str | None = None,
    memo: dict | None = None,
) -> dict:
    """What the evaluation page shows for an evaluated ``month`` (None = the newest).

    Reads only (the web app's connection is read-only): the month's lift against the control,
    overall and by strategy, the plan adjustment it led to ("what changed and why") and the
    learned uplift the next month's plan used. ``branch`` scopes the lift to one branch; the
    plan adjustment and the learned uplift are province-wide (segment × action) and shown as
    such. ``memo``: see :func:`evaluate_month`; it also keeps the adjustment and the learned
    uplift, which are the same for every scope.
    """
    months = evaluated_months(con=con)
    if month is None or month not in months:
        month = months[-1] if months else None
    if month is None:
        return {"months": [], "month": None}
    rep = evaluate_month(
        con=con,
        month=month,
        dimensions=["action", "channel"],
        n_boot=n_boot,
        locale=locale,
        branch=branch,
        memo=memo,
    )
    nxt = add_months(month, 1)
    # the plan adjustment and the learned uplift are province-wide: one per month (and
    # language) for all the scopes of a memo — the adjustment reads the month's outcome rows
    memo = {} if memo is None else memo
    if ("changes", nxt, locale) not in memo:
        memo[("changes", nxt, locale)] = plan_changes(con=con, month=nxt, locale=locale)
    if ("learned", nxt) not in memo:
        memo[("learned", nxt)] = learned_uplift_summary(con=con, month=nxt)
    return {
        "months": [format_month(m) for m in months],
        "month": format_month(month),
        "branch": branch,
        "next_month": format_month(nxt),
        "overall": rep["overall"],
        "by": rep["by"],
        "money": money_verdict(rep["overall"], rep["by"].get("action", [])),
        "changes": copy.deepcopy(memo[("changes", nxt, locale)]),
        "learned": copy.deepcopy(memo[("learned", nxt)]),
    }
