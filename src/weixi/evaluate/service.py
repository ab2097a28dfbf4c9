"""Evaluation services: outcomes from the next month, lift reports, Excel export, uplift models.

I/O lives here (DuckDB, model files, workbooks); the arithmetic is in :mod:`metrics` and
:mod:`uplift`. Functions take the DuckDB connection as keyword ``con``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from weixi.config import get_settings
from weixi.errors import ConfigError, ModelError, NotFoundError
from weixi.evaluate import metrics
from weixi.evaluate.outcomes import OUTCOMES_DDL, outcomes_sql
from weixi.evaluate.uplift import (
    CONTROL,
    UpliftModel,
    UpliftParams,
    fit_uplift,
    qini_coefficient,
    uplift_by_decile,
)
from weixi.i18n import t
from weixi.store.analytics import table_exists
from weixi.store.months import add_months, format_month, loaded_months

# Report dimensions: column of evaluation_outcomes -> English label (translated by t()).
DIMENSIONS: dict[str, str] = {
    "campaign_id": "Campaign",
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
    "cost": "Cost",
    "retained_revenue": "Retained revenue",
    "roi": "ROI",
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


def build_outcomes(*, con: duckdb.DuckDBPyConnection, month: dt.date) -> int:
    """Write the outcomes of ``month``'s planned customers into ``evaluation_outcomes``.

    Raises:
        NotFoundError: no plan for the month, or the next month's snapshot is not loaded yet.
    """
    if not table_exists(con, "plan_assignments"):
        raise NotFoundError("no plan_assignments table: plan and dispatch a campaign first")
    n_plan = con.execute(
        "SELECT count(*) FROM plan_assignments WHERE month = ?", [month]
    ).fetchone()[0]
    if not n_plan:
        raise NotFoundError(f"no planned customers in {format_month(month)}")
    nxt = add_months(month, 1)
    if nxt not in loaded_months(con):
        raise NotFoundError(
            f"month {format_month(nxt)} is not imported yet: outcomes of "
            f"{format_month(month)} come from the next month's snapshot (weixi ingest …)"
        )
    contacts = "contact_outcomes" if table_exists(con, "contact_outcomes") else None
    sql = outcomes_sql(month, with_segments=table_exists(con, "segments"), contacts_table=contacts)
    con.execute(OUTCOMES_DDL)
    con.execute("DELETE FROM evaluation_outcomes WHERE month = ?", [month])
    con.execute(f"INSERT INTO evaluation_outcomes {sql}")
    return int(n_plan)


def get_outcomes(*, con: duckdb.DuckDBPyConnection, month: dt.date) -> pd.DataFrame:
    """Outcomes of ``month`` (built from the snapshots on first use)."""
    if (
        not table_exists(con, "evaluation_outcomes")
        or not con.execute(
            "SELECT count(*) FROM evaluation_outcomes WHERE month = ?", [month]
        ).fetchone()[0]
    ):
        build_outcomes(con=con, month=month)
    return con.execute("SELECT * FROM evaluation_outcomes WHERE month = ?", [month]).df()


def lift_rows(
    df: pd.DataFrame,
    dim: str | None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    locale: str | None = None,
) -> list[dict]:
    """Lift and KPI rows of ``df`` grouped by ``dim`` (None = one overall row)."""
    if df.empty:
        return []
    if dim is None:
        codes = np.zeros(len(df), dtype=np.int64)
        labels = [t("All", locale)]
    else:
        codes, uniq = pd.factorize(df[dim].fillna("-").astype(str), sort=True)
        labels = [str(u) for u in uniq]
    contacted = df["contacted"].astype("float") if df["contacted"].notna().any() else None
    accepted = df["accepted"].astype("float") if df["accepted"].notna().any() else None
    out = metrics.lift_summary(
        df["stayed"].to_numpy(float),
        ~df["is_control"].to_numpy(bool),
        df["arpu_before"].to_numpy(float),
        df["arpu_after"].to_numpy(float),
        cost=df["cost"].to_numpy(float),
        contacted=None if contacted is None else contacted.fillna(0).to_numpy(),
        accepted=None if accepted is None else accepted.fillna(0).to_numpy(),
        groups=codes,
        n_boot=n_boot,
        seed=seed,
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


def evaluate_month(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    dimensions: list[str] | None = None,
    n_boot: int = 1000,
    locale: str | None = None,
) -> dict:
    """Evaluate ``month``'s campaigns against their randomized control.

    Returns:
        ``{"month", "overall": row, "by": {dimension: [rows]}}`` where a row holds the lift,
        its 95 % interval, the KPIs and a verdict (small groups: inconclusive).
    """
    dims = dimensions or list(DIMENSIONS)
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise ConfigError(f"unknown dimensions {bad}; use {', '.join(DIMENSIONS)}")
    df = get_outcomes(con=con, month=month)
    overall = lift_rows(df, None, n_boot=n_boot, locale=locale)
    by = {d: lift_rows(df, d, n_boot=n_boot, locale=locale) for d in dims if df[d].notna().any()}
    return {"month": format_month(month), "overall": overall[0] if overall else None, "by": by}


def export_excel(report: dict, path: Path | str, *, locale: str | None = None) -> Path:
    """Write an evaluation report to an ``.xlsx`` workbook (one sheet per dimension)."""
    import xlsxwriter

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ConfigError(f"the export file must end in .xlsx, got {path.name}")
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
    if report.get("overall"):
        sheet(t("All", locale), [report["overall"]])
    for dim, rows in report.get("by", {}).items():
        sheet(t(DIMENSIONS[dim], locale), rows)
    wb.close()
    return path


# ------------------------------------------------------------------------------ uplift
def uplift_training_frame(*, con: duckdb.DuckDBPyConnection, months: list[dt.date]):
    """Features, arm (action or '' for control) and stayed of the given months' outcomes."""
    if not months:
        raise NotFoundError("no evaluated months to learn from")
    feats = ", ".join(
        {
            "tenure_months": "date_diff('day', s.activation_date, o.month) / 30.44",
            "months_to_contract_end": "COALESCE(date_diff('day', o.month, s.contract_end) / 30.44,"
            " 99)",
            "handset_age_years": "date_diff('day', s.handset_first_use_date, o.month) / 365.25",
            "is_mobile": "CAST(s.line_type = 'mobile' AS DOUBLE)",
        }.get(f, f"CAST(s.{f} AS DOUBLE)")
        + f" AS {f}"
        for f in UPLIFT_FEATURES
    )
    marks = ", ".join("?" for _ in months)
    df = con.execute(
        f"""SELECT o.month, o.subscriber_id, o.action, o.is_control, o.stayed, {feats}
            FROM evaluation_outcomes o
            JOIN snapshot s ON s.subscriber_id = o.subscriber_id AND s.month = o.month
            WHERE o.month IN ({marks})""",
        months,
    ).df()
    X = df[list(UPLIFT_FEATURES)].to_numpy(np.float64)
    arm = np.where(df["is_control"].to_numpy(bool), CONTROL, df["action"].astype(str).to_numpy())
    return df, X, arm, df["stayed"].to_numpy(np.float64)


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
        if not table_exists(con, "evaluation_outcomes"):
            raise NotFoundError("no evaluated campaigns yet: run `weixi evaluate --month M` first")
        months = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT month FROM evaluation_outcomes ORDER BY month"
            ).fetchall()
        ]
    p = params or UpliftParams()
    df, X, arm, y = uplift_training_frame(con=con, months=months)
    rng = np.random.default_rng(p.seed)
    test = rng.random(len(y)) < test_share
    model = fit_uplift(
        X[~test], arm[~test], y[~test], params=p, feature_names=list(UPLIFT_FEATURES)
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
ADJUST_DDL = """
CREATE TABLE IF NOT EXISTS plan_adjustments (
  month DATE, segment VARCHAR, action VARCHAR, p_best DOUBLE, lift_mean DOUBLE,
  lift_low DOUBLE, lift_high DOUBLE, net_value DOUBLE, n_treated BIGINT, n_control BIGINT
)
"""


def adjust_plan(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    prior_effect: float = 0.02,
    clv_months: float = 12.0,
    holdout_share: float = 0.1,
    locale: str | None = None,
    seed: int = 0,
) -> dict:
    """Thompson-sampling plan adjustment from every evaluated month up to ``month``.

    Writes the action shares for the month after ``month`` into ``plan_adjustments`` and
    returns ``{"month", "next_month", "shares": [...], "report": [lines]}``.
    """
    from weixi.evaluate.adjust import SegmentActionStats, change_report, thompson_adjust

    get_outcomes(con=con, month=month)
    df = con.execute(
        """SELECT COALESCE(segment, '-') AS segment, action, is_control, stayed, arpu_before, cost,
                  month
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
    n_c = np.bincount(si[ctrl], minlength=S).astype(float)
    k_c = np.bincount(si[ctrl], weights=churn[ctrl], minlength=S)
    value = clv_months * np.bincount(si, weights=df["arpu_before"].to_numpy(float), minlength=S)
    value = value / np.maximum(np.bincount(si, minlength=S), 1)
    cost_sum = np.bincount(ai[~ctrl], weights=df["cost"].to_numpy(float)[~ctrl], minlength=A)
    cost = cost_sum / np.maximum(np.bincount(ai[~ctrl], minlength=A), 1)
    stats = SegmentActionStats(
        segments=segs,
        actions=acts,
        n_treated=n_t,
        churned_treated=k_t,
        n_control=n_c,
        churned_control=k_c,
        value=value,
        cost=cost,
        prior_effect=np.full((S, A), prior_effect),
    )
    adj = thompson_adjust(stats, holdout_share=holdout_share, seed=seed)
    # last month's main action per segment = the most planned one
    last = df[(df["month"] == pd.Timestamp(month)) & ~df["is_control"]]
    before = last.groupby("segment")["action"].agg(lambda s: s.value_counts().index[0]).to_dict()
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
            int(adj.n_control[i]),
        )
        for i, s in enumerate(segs)
        for j, a in enumerate(acts)
    ]
    con.execute(ADJUST_DDL)
    con.execute("DELETE FROM plan_adjustments WHERE month = ?", [nxt])
    if rows:
        con.executemany("INSERT INTO plan_adjustments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
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
            }
            for r in rows
        ],
        "report": change_report(before_list, adj, locale=locale or "en"),
    }
