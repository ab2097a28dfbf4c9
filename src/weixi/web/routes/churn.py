"""Churn warning: model metrics, score distribution, calibration, top reasons, top-risk list."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weixi.auth.models import User
from weixi.errors import ConfigError
from weixi.i18n import t
from weixi.security.masking import mask_records
from weixi.web import charts, exports, readmodels
from weixi.web import jobs as web_jobs
from weixi.web.app_helpers import month_label
from weixi.web.deps import AnalyticsDep, DbDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)

EXPORT_LIMIT = 5000


def _overview(con) -> dict | None:
    """The registry's champion/challenger overview, or None without a registry."""
    import duckdb

    from weixi.churn import registry

    if con is None or not readmodels.has(con, "churn_models"):
        return None
    try:
        return registry.overview(con)
    except duckdb.Error:  # an older registry layout: the page shows the flattened metrics only
        return None


def _validation(view: dict, version: str | None, key: str) -> float | None:
    """A version's own next-month hold-out figure (``auc``, ``top_decile_lift``)."""
    model = next((m for m in view["models"] if m["version"] == version), None)
    if model is None:
        return None
    return ((model.get("metrics") or {}).get("h1_holdout_raw") or {}).get(key)


def _champion_view(view: dict | None, locale: str, serving: str | None = None) -> dict | None:
    """Champion and challenger side by side, formatted for the page (None: no registry)."""
    from weixi.churn import champion

    if view is None or (view["champion"] is None and view["challenger"] is None):
        return None
    cmp = view["comparison"]
    sides = [view["champion"], view["challenger"]]

    def cell(side: dict | None, key: str, fmt: str) -> str:
        return fmt.format(side[key]) if side and side.get(key) is not None else "–"

    def diff(key: str, fmt: str) -> str:
        if not cmp or cmp.get(key) is None:
            return "–"
        lo, hi = fmt.format(cmp[key + "_lo"]), fmt.format(cmp[key + "_hi"])
        return f"{fmt.format(cmp[key])} [{lo}, {hi}]"

    def validation(side: dict | None, key: str, fmt: str) -> str:
        v = _validation(view, side["version"], key) if side else None
        return "–" if v is None else fmt.format(v)

    def serves(side: dict | None) -> str:
        if not side:
            return "–"
        return t("yes", locale) if side["version"] == serving else t("no", locale)

    rows = [
        (t("Role", locale), *(t(s["role"], locale) if s else "–" for s in sides), ""),
        (t("Scores shown on this page", locale), *(serves(s) for s in sides), ""),
        (
            t("Trained as of", locale),
            *(f"{s['as_of_month']:%Y-%m}" if s else "–" for s in sides),
            "",
        ),
        ("AUC", *(cell(s, "auc", "{:.4f}") for s in sides), diff("d_auc", "{:+.4f}")),
        (
            t("Top-decile lift", locale),
            *(cell(s, "top_decile_lift", "{:.2f}") for s in sides),
            diff("d_lift", "{:+.2f}"),
        ),
        (
            t("Validation AUC, next month (own held-out month)", locale),
            *(validation(s, "auc", "{:.4f}") for s in sides),
            "",
        ),
        (
            t("Validation top-decile lift, next month (own held-out month)", locale),
            *(validation(s, "top_decile_lift", "{:.2f}") for s in sides),
            "",
        ),
    ]
    headings = {"champion": "Champion", "challenger": "Challenger", "retired": "Retired"}
    return {
        "champion": view["champion"],
        "challenger": view["challenger"],
        "other_heading": t(headings[sides[1]["role"] if sides[1] else "challenger"], locale),
        "rows": rows,
        "month": f"{cmp['eval_month']:%Y-%m}" if cmp and cmp.get("eval_month") else None,
        "n": cmp.get("n") if cmp else None,
        "churners": cmp.get("churners") if cmp else None,
        "promoted": bool(cmp and cmp["decision"] == "promoted"),
        "subject": cmp["version"] if cmp else None,
        "reason": champion.describe(cmp, locale) if cmp else None,
        "serving": serving,
        "confidence": round(json.loads(cmp["rule"]).get("confidence", 0.9) * 100)
        if cmp and cmp.get("rule")
        else None,
    }


_METRIC_NAMES = {
    "auc": "AUC",
    "pr_auc": "PR-AUC",
    "top_decile_lift": "Top-decile lift",
    "ece": "Calibration error (ECE), raw",
    "ece_calibrated": "Calibration error (ECE), calibrated",
    "ece_cross_fitted": "Calibration error (ECE), calibrated, out of sample",
    "ece_base_rate": "Calibration error (ECE) at the base rate",
    "version": "Version",
    "model_version": "Version",
    "as_of_month": "Trained as of",
    "created_at": "Created",
    "trained_at": "Trained",
    "n_train": "Training lines",
}


def metric_label(key: str, locale: str) -> str:
    """A readable, translated name for a flattened model metric key.

    ``h1_holdout_raw.top_decile_lift`` -> "Churn next month · Top-decile lift" (held-out month).
    """
    import re

    group, _, name = key.rpartition(".")
    label = t(_METRIC_NAMES.get(name, name.replace("_", " ")), locale)
    m = re.fullmatch(r"h(\d+)_holdout(?:_raw)?", group)
    if m:
        h = int(m.group(1))
        horizon = (
            t("Churn next month", locale) if h == 1 else t("Churn within {h} months", locale, h=h)
        )
        return f"{horizon} · {label}"
    return f"{group} · {label}" if group else label


# the per-horizon rows of the model card, in the order an analyst reads them
_CARD_METRICS = (
    ("top_decile_lift", "{:.2f}"),
    ("auc", "{:.4f}"),
    ("pr_auc", "{:.4f}"),
    ("ece", "{:.4f}"),
    ("ece_cross_fitted", "{:.4f}"),
    ("ece_base_rate", "{:.4f}"),
)


def _horizon_name(h: int, locale: str) -> str:
    return t("Churn next month", locale) if h == 1 else t("Churn within {h} months", locale, h=h)


def model_card(model: dict | None, locale: str) -> dict | None:
    """The serving model's figures on its held-out month: one column per horizon, one row per
    named metric, and the gains/calibration points stored at training (None: no model)."""
    import re

    if not model:
        return None
    metrics = model.get("metrics") or {}
    horizons = sorted(
        int(m.group(1))
        for k in metrics
        if (m := re.fullmatch(r"h(\d+)_holdout_raw", k)) and isinstance(metrics[k], dict)
    )
    rows = []
    for key, fmt in _CARD_METRICS:
        values = [metrics[f"h{h}_holdout_raw"].get(key) for h in horizons]
        if any(v is not None for v in values):
            cells = ["–" if v is None else fmt.format(v) for v in values]
            rows.append((t(_METRIC_NAMES[key], locale), cells))
    stored = metrics.get("curves") or {}
    curves = {h: stored[f"h{h}"] for h in horizons if stored.get(f"h{h}")}
    held_out = {h: ", ".join(m[:7] for m in curves[h].get("months", [])) for h in curves}
    return {
        "version": model.get("version"),
        "as_of": f"{model['as_of_month']:%Y-%m}" if model.get("as_of_month") else None,
        "created_at": model.get("created_at"),
        "n_train": model.get("n_train"),
        "role": model.get("role"),
        "horizons": [_horizon_name(h, locale) for h in horizons],
        "rows": rows,
        "curves": curves,
        "held_out": [held_out.get(h, "") for h in horizons],
    }


def _describe(rows: list[dict], locale: str) -> list[dict]:
    for r in rows:
        r["reason_text"] = "; ".join(
            readmodels.describe_reason(x, locale) for x in r.get("reasons") or []
        )
    return rows


@router.get("/churn", response_class=HTMLResponse)
def churn_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["churn"]))],
    month: str | None = None,
) -> HTMLResponse:
    locale = request_locale(request, user)

    def _(msg: str, **kw) -> str:
        return t(msg, locale, **kw)

    available = readmodels.summary_months(con, "rm_churn")
    m = readmodels.pick_month(available, month)
    s = readmodels.churn_summary(con, user.scope_branch, m)
    top = mask_records(_describe(readmodels.top_risk(con, user.scope_branch, m, 25), locale))
    view = _overview(con)
    serving = readmodels.serving_version(con, m)
    model = None
    if view is not None:
        model = next((x for x in view["models"] if x["version"] == serving), None) or next(
            (x for x in view["models"] if x["role"] == "champion"), None
        )
    card = model_card(model, locale)
    curves = card["curves"] if card else {}
    ctx = {
        "page_title": "Churn warning",
        "months": [month_label(x) for x in available],
        "month": month_label(m) if m else None,
        "s": s,
        "top": top,
        "chart_hist": charts.bars(
            [f"{float(h['bin']) * 100:.0f}%" for h in s["histogram"]],
            [h["n"] for h in s["histogram"]],
            _("Lines"),
        ),
        "chart_reasons": charts.bars(
            [readmodels.reason_label(r["code"], locale) for r in s["reasons"]],
            [r["n"] for r in s["reasons"]],
            _("Lines"),
            horizontal=True,
            color="#d99a22",
            label_width=110 if locale == "zh-CN" else 190,
        ),
        "chart_calibration": charts.calibration(s["deciles"], _) if s["deciles"] else None,
        "cc": _champion_view(view, locale, serving),
        "card": card,
        "chart_gains": charts.gains(curves, _)
        if any(c.get("gains") for c in curves.values())
        else None,
        "chart_reliability": charts.reliability(curves, _)
        if any(c.get("calibration") for c in curves.values())
        else None,
        "model_items": [
            (metric_label(k, locale), v)
            for k, v in (s["model"] or {}).items()
            if k not in ("auc",) and v is not None
        ],
    }
    return render(request, "churn.html", ctx, user=user)


def build_export(
    con, *, user: User, fmt: str, month: str | None, locale: str
) -> tuple[bytes, str, str, int, str]:
    """The masked top-risk list of ``user``'s scope: (body, media type, file name, rows,
    month label)."""
    m = readmodels.pick_month(readmodels.summary_months(con, "rm_churn"), month)
    records = _describe(readmodels.top_risk(con, user.scope_branch, m, EXPORT_LIMIT), locale)
    columns = [
        ("subscriber_id", t("Subscriber", locale)),
        ("phone", t("Phone", locale)),
        ("name", t("Customer name", locale)),
        ("branch_id", t("Branch", locale)),
        ("line_type", t("Line type", locale)),
        ("code", t("Segment", locale)),
        ("urgency", t("Urgency", locale)),
        ("arpu", t("ARPU", locale)),
        ("p_churn", t("Churn probability", locale)),
        ("reason_text", t("Reasons", locale)),
    ]
    name = f"weixi-churn-top-risk-{month_label(m)}.{fmt}"
    if fmt == "csv":
        body, media = exports.to_csv(records, columns), "text/csv; charset=utf-8"
    else:
        title = f"{t('Top churn risk', locale)} {month_label(m)}"
        body, media = exports.to_xlsx(records, columns, title=title), exports.XLSX_MEDIA
    return body, media, name, len(records), month_label(m)


@router.get("/churn/export.{fmt}")
def churn_export(
    request: Request,
    fmt: str,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["export"]))],
    month: str | None = None,
) -> Response:
    """Queue the top-risk list as Excel or CSV (masked; audited when written); the job page
    offers the file when it is ready."""
    if fmt not in ("csv", "xlsx"):
        raise ConfigError("export format must be csv or xlsx")
    job_id = request.app.state.jobs.submit(
        web_jobs.churn_export(
            settings=request.app.state.settings,
            user_id=user.id,
            fmt=fmt,
            month=month,
            locale=request_locale(request, user),
            ip=request.client.host if request.client else None,
        ),
        kind="churn_export",
        params={"format": fmt, "month": month},
        created_by=user.username,
        writes=web_jobs.KINDS["churn_export"][1],
    )
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
