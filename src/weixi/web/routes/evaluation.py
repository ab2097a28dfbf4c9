"""Evaluation: lift against the randomized control, and what the plan learned from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi import summaries
from weixi.auth.models import User
from weixi.dispatch.winback import stored_evaluations
from weixi.errors import ConfigError
from weixi.evaluate import service as evaluate_service
from weixi.store.months import parse_month
from weixi.web.deps import AnalyticsDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)


@router.get("/evaluation", response_class=HTMLResponse)
def evaluation_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["evaluation"]))],
    month: str | None = None,
) -> HTMLResponse:
    """An evaluated month's lift and the plan adjustment ("what changed and why") it led to."""
    try:
        m = parse_month(month) if month else None
    except (ValueError, ConfigError):
        m = None
    data = (
        summaries.evaluation(con, m, locale=request_locale(request, user), branch=user.scope_branch)
        if con is not None
        else evaluate_service.overview(
            con=con, month=m, locale=request_locale(request, user), branch=user.scope_branch
        )
    )
    winback = stored_evaluations(con)  # win-back lists the monthly job measured (province-wide)
    return render(
        request,
        "evaluation.html",
        {"page_title": "Evaluation", "ev": data, "winback": winback},
        user=user,
    )
