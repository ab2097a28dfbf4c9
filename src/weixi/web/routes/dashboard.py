"""Dashboard: KPIs of the latest month with their monthly trend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi.auth.models import User
from weixi.i18n import t
from weixi.web import charts, operations, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import AnalyticsDep, DbDep, render, request_locale, require_role
from weixi.web.nav import ACCESS
from weixi.web.readcache import cached
from weixi.web.routes import vip as vip_routes
from weixi.web.routes.strategy import current_library

router = APIRouter(include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    con: AnalyticsDep,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["dashboard"]))],
) -> HTMLResponse:
    locale = request_locale(request, user)

    def _(msg: str, **kw) -> str:
        return t(msg, locale, **kw)

    branch = user.scope_branch
    data = cached(request, "dashboard", (branch,), lambda: readmodels.dashboard(con, branch))
    trend = data["trend"]
    x = [month_label(r["month"]) for r in trend]
    chart_base = charts.trend(
        x,
        bars={_("Active lines"): [r.get("subscribers") for r in trend]},
        lines={_("Churn rate"): [r.get("churn_rate") for r in trend]},
    )
    chart_value = charts.trend(
        x,
        bars={_("Billed revenue (yuan)"): [round(r.get("revenue") or 0) for r in trend]},
        lines={
            _("Mid/high-end retention"): [r.get("midhigh_retention") for r in trend],
            _("Value retention"): [r.get("value_retention") for r in trend],
        },
    )
    chart_urgency = charts.pie(
        [(_(u["urgency"].capitalize()), u["n"]) for u in data["urgency"] if u["urgency"]],
        colors=[charts.URGENCY_COLORS.get(u["urgency"], "#999") for u in data["urgency"]],
    )
    return render(
        request,
        "dashboard.html",
        {
            "page_title": "Dashboard",
            "d": data,
            "chart_base": chart_base,
            "chart_value": chart_value,
            "chart_urgency": chart_urgency,
            "vipk": cached(
                request, "dashboard_vip", (branch,), lambda: vip_routes.dashboard_kpis(con, branch)
            ),
            "ops": operations.execution_kpis(
                session=db,
                branch=user.scope_branch,
                prices=operations.Prices.from_library(current_library(request.app.state.settings)),
            ),
        },
        user=user,
    )
