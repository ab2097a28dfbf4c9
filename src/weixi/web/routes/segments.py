"""Segments: the 36-group stability grid by urgency, needs grids, profiles, migration Sankey."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi.auth.models import User
from weixi.i18n import t
from weixi.web import charts, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import AnalyticsDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)

LINE_TYPES = ("mobile", "broadband")


@router.get("/segments", response_class=HTMLResponse)
def segments_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["segments"]))],
    month: str | None = None,
    line_type: str = "mobile",
    dimension: str = "urgency",
) -> HTMLResponse:
    locale = request_locale(request, user)
    line_type = line_type if line_type in LINE_TYPES else "mobile"
    available = readmodels.summary_months(con, "rm_segments")
    m = readmodels.pick_month(available, month)
    ctx: dict = {
        "page_title": "Segments",
        "months": [month_label(x) for x in available],
        "month": month_label(m) if m else None,
        "line_type": line_type,
        "line_types": LINE_TYPES,
        "dimension": dimension if dimension in readmodels.MIGRATION_DIMENSIONS else "urgency",
        "dimensions": readmodels.MIGRATION_DIMENSIONS,
        "levels": (readmodels.A_LEVELS, readmodels.B_LEVELS, readmodels.C_LEVELS),
    }
    if m is not None:
        branch = user.scope_branch
        ctx["stab"] = readmodels.segment_grid(con, branch, m, line_type)
        ctx["needs"] = readmodels.needs_grid(con, branch, m, line_type)
        ctx["profiles"] = readmodels.segment_profiles(con, branch, m, line_type)
        mig = readmodels.migration(con, branch, m, ctx["dimension"])
        ctx["mig"] = mig
        if mig["links"]:

            def label(key: str) -> str:
                if key in charts.URGENCY_COLORS:
                    return t(key.capitalize(), locale)
                return t(key, locale) if key in ("left", "excluded") else (key or "–")

            ctx["chart_sankey"] = charts.sankey(
                mig["links"], month_label(mig["prev"]), month_label(m), label
            )
    return render(request, "segments.html", ctx, user=user)
