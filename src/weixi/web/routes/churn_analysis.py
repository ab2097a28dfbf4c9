"""Churn analysis page (流失分析): who left in a month and why, with charts and an Excel export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from weixi import flows
from weixi.auth.models import User
from weixi.i18n import t
from weixi.security import audit
from weixi.store.months import add_months
from weixi.web import charts, exports, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import AnalyticsDep, DbDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)
AnalysisUser = Annotated[User, Depends(require_role(*ACCESS["churn_analysis"]))]

#: Breakdown -> English title (msgid).
TITLES = {
    "segment": "By segment",
    "branch": "By branch",
    "tenure": "By tenure",
    "value": "By ARPU band",
    "reason": "By reason",
    "destination": "By destination",
}


def key_label(dim: str, key: Any, locale: str, branch_label) -> str:
    """A breakdown key in the reader's language (reason codes carry their source as prefix)."""
    if key is None:
        return "–"
    key = str(key)
    if dim == "branch":
        return branch_label(key)
    if dim == "reason":
        src, _, code = key.partition("_")
        if src == "complaint":
            from weixi.complaints.models import CATEGORY_LABELS

            return t("Complaint: {c}", locale, c=t(CATEGORY_LABELS.get(code, code), locale))
        if src == "outcome":
            from weixi.web.labels import label

            return t("Said: {c}", locale, c=label(code, locale))
        if src == "score":
            return t("Model: {c}", locale, c=readmodels.reason_label(code, locale))
    if dim == "destination":
        from weixi.ingest.events import PORT_OUT_DESTINATIONS

        if key in PORT_OUT_DESTINATIONS:
            en, zh = PORT_OUT_DESTINATIONS[key]
            return zh if locale.startswith("zh") else en
        return t("not ported (unknown)", locale)
    if dim == "tenure":
        return {
            "<1y": t("under 1 year", locale),
            "1-2y": t("1-2 years", locale),
            "2-5y": t("2-5 years", locale),
            "5y+": t("5 years and more", locale),
        }.get(key, key)
    return t(key, locale)


def _analysis(request: Request, con, db, user: User, month: str | None):
    available = readmodels.months(con) if con is not None else []
    # a month can be analysed when the month before it is loaded too
    choices = [m for m in available if add_months(m, -1) in set(available)]
    m = readmodels.pick_month(choices, month)
    if m is None:
        return choices, None, None
    return choices, m, flows.churn_analysis(con=con, session=db, month=m, branch=user.scope_branch)


@router.get("/churn/analysis", response_class=HTMLResponse)
def analysis_page(
    request: Request, con: AnalyticsDep, db: DbDep, user: AnalysisUser, month: str | None = None
) -> HTMLResponse:
    locale = request_locale(request, user)
    choices, m, out = _analysis(request, con, db, user, month)
    from weixi.web.deps import branch_label

    def blabel(b):
        return branch_label(request, b, locale)

    chart_list = []
    if out:
        for dim in out["by"]:
            rows = out["by"][dim]
            cats = [key_label(dim, r["key"], locale, blabel) for r in rows]
            chart_list.append(
                {
                    "dim": dim,
                    "title": TITLES[dim],
                    "rows": [{**r, "label": c} for r, c in zip(rows, cats, strict=True)],
                    "chart": charts.bars(
                        cats, [r["left"] for r in rows], t("Leavers", locale), horizontal=True
                    ),
                }
            )
    return render(
        request,
        "churn_analysis.html",
        {
            "page_title": "Churn analysis",
            "months": [month_label(x) for x in choices],
            "month": month_label(m) if m else None,
            "out": out,
            "charts": chart_list,
            "can_export": user.role in {r.value for r in ACCESS["export"]},
        },
        user=user,
    )


@router.get("/churn/analysis/export.xlsx")
def analysis_export(
    request: Request,
    con: AnalyticsDep,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["export"]))],
    month: str | None = None,
) -> Response:
    """The analysis as a bilingual Excel workbook, one sheet per breakdown (audited)."""
    locale = request_locale(request, user)
    _choices, _m, out = _analysis(request, con, db, user, month)
    if out is None:
        from weixi.errors import NotFoundError

        raise NotFoundError("no month can be analysed yet")
    from weixi.web.deps import branch_label

    cols = [
        ("label", "Key / 分组"),
        ("left", "Left / 流失数"),
        ("live", "Lines / 在网数"),
        ("rate", "Churn rate / 流失率"),
        ("arpu_lost", "ARPU lost / 流失ARPU"),
    ]
    sheets = []
    for dim, rows in out["by"].items():
        recs = [
            {
                **r,
                "label": key_label(
                    dim, r["key"], locale, lambda b: branch_label(request, b, locale)
                ),
            }
            for r in rows
        ]
        sheet = f"{t(TITLES[dim], 'en')} {t(TITLES[dim], 'zh-CN')}"
        sheets.append((sheet, recs, cols))
    title = f"Churn analysis / 流失分析 {out['month']}"
    body = exports.to_xlsx_sheets(sheets, title=title)
    audit.record(
        session=db,
        action="export",
        user=user,
        object_type="churn_analysis",
        object_id=out["month"],
        detail={"format": "xlsx", "rows": sum(len(r) for r in out["by"].values())},
        ip=request.client.host if request.client else None,
    )
    db.commit()
    name = f"churn-analysis-{out['month']}.xlsx"
    return Response(
        body,
        media_type=exports.XLSX_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
