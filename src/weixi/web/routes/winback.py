"""Win-back page (离网挽回): the month's list of recent high-value leavers, its offers and
control group, the dispatch into the work queue (a job on the writer lane) and the evaluation
against the control (won back = a live line again within N months)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weixi.auth.models import User
from weixi.dispatch import plans
from weixi.dispatch.winback import evaluate_winback, load_winback, winback_list
from weixi.store.months import add_months, parse_month
from weixi.web import jobs as web_jobs
from weixi.web import readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import AnalyticsDep, DbDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)
WinbackUser = Annotated[User, Depends(require_role(*ACCESS["churn_analysis"]))]
PlannerUser = Annotated[User, Depends(require_role(*ACCESS["campaigns"]))]
LIST_ROWS = 100  # lines shown on the page (the CLI writes the whole list)


def _choices(con) -> list:
    available = readmodels.months(con) if con is not None else []
    have = set(available)
    return [m for m in available if add_months(m, -1) in have]


@router.get("/churn/winback", response_class=HTMLResponse)
def winback_page(
    request: Request,
    con: AnalyticsDep,
    db: DbDep,
    user: WinbackUser,
    month: str | None = None,
    horizon: int | None = None,
) -> HTMLResponse:
    """The win-back list of a month (a branch user sees their branch) and its evaluation
    (window: ``horizon``, else the spec's ``horizon_months``)."""
    locale = request_locale(request, user)
    horizon = min(max(int(horizon or load_winback().horizon_months), 1), 12)
    choices = _choices(con)
    m = readmodels.pick_month(choices, month)
    ctx: dict = {"page_title": "Win-back", "months": [month_label(x) for x in choices]}
    if m is not None:
        spec = load_winback()
        df, summary = winback_list(con, m, spec)
        if user.scope_branch:
            df = df[df["branch_id"] == user.scope_branch]
        zh = locale.startswith("zh")
        names = {o.key: (o.name.zh if zh else o.name.en) for o in spec.offers}
        rows = [
            {
                "subscriber_id": r.subscriber_id,
                "branch_id": r.branch_id,
                "arpu": float(r.arpu),
                "last_month": month_label(r.last_month),
                "offer": names.get(r.offer_key, r.offer_key),
                "is_control": bool(r.is_control),
            }
            for r in df.head(LIST_ROWS).itertuples(index=False)
        ]
        dispatched = plans.latest(con, m, spec.key) is not None
        ctx.update(
            month=month_label(m),
            summary=summary,
            shown=len(df),
            rows=rows,
            by_offer=[{"offer": names.get(k, k), "n": v} for k, v in summary["by_offer"].items()],
            dispatched=dispatched,
            evaluation=evaluate_winback(con, m, spec, horizon=horizon) if dispatched else None,
            horizon=horizon,
            can_dispatch=user.role in {r.value for r in ACCESS["campaigns"]},
            spec_name=spec.name.zh if zh else spec.name.en,
        )
    return render(request, "winback.html", ctx, user=user)


@router.post("/churn/winback/dispatch")
def winback_dispatch(
    request: Request,
    db: DbDep,
    user: PlannerUser,
    month: Annotated[str, Form()] = "",
) -> Response:
    """Dispatch the month's win-back list as a campaign (a job: it writes the analytics store)."""
    m = parse_month(month)  # ConfigError (400) when not YYYY-MM
    job_id = request.app.state.jobs.submit(
        web_jobs.winback_dispatch(month=m, settings=request.app.state.settings),
        kind="winback_dispatch",
        params={"month": month_label(m)},
        created_by=user.username,
        writes=web_jobs.KINDS["winback_dispatch"][1],
    )
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
