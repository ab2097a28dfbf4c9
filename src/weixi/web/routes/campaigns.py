"""Campaign wizard: groups → strategies → budget and channels → control share → preview with
expected value and shadow prices (what-if) → create → approval by the planner."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weixi.auth.models import User
from weixi.dispatch import plans
from weixi.dispatch import service as dispatch_service
from weixi.dispatch.models import CampaignStatus
from weixi.dispatch.plans import PlanStatus
from weixi.dispatch.schemas import CampaignSpec, Capacity
from weixi.errors import ConfigError, NotFoundError
from weixi.store.months import parse_month
from weixi.strategy.schemas import CHANNELS, Text
from weixi.web import operations, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import (
    AnalyticsDep,
    DbDep,
    WritableAnalyticsDep,
    render,
    request_locale,
    require_role,
)
from weixi.web.nav import ACCESS
from weixi.web.routes.strategy import current_library

router = APIRouter(include_in_schema=False)
PlannerUser = Annotated[User, Depends(require_role(*ACCESS["campaigns"]))]


def spec_from_form(form: dict) -> CampaignSpec:
    """Build and validate a CampaignSpec from the wizard's fields (errors say what to fix)."""
    try:
        month = parse_month(str(form.get("month") or ""))
        months = max(int(form.get("months") or 1), 1)
        end = (month.replace(day=28) + dt.timedelta(days=31 * (months - 1) + 4)).replace(day=1)
        budget = float(form["budget"]) if form.get("budget") else None
        control = float(form.get("control_pct") or 10) / 100
        seats = float(form.get("seats_pct") or 100) / 100
        per_day = float(form.get("agent_per_day") or 85)
        max_rank = int(form["max_rank"]) if form.get("max_rank") else None
        channels = form.get("channels") or list(CHANNELS)
        actions = form.get("actions") or None
        # the wizard always sends a1_option; an unticked box then means "off" (default: on)
        must_a1 = bool(form.get("must_dispatch_a1")) or not form.get("a1_option")
        return CampaignSpec(
            key=str(form.get("key") or "").strip(),
            name=Text(
                en=str(form.get("name_en") or "").strip() or str(form.get("key")),
                zh=str(form.get("name_zh") or "").strip() or str(form.get("key")),
            ),
            period_start=month,
            period_end=end,
            budget=budget,
            channels=channels,
            actions=actions,
            control_share=control,
            max_priority_rank=max_rank,
            must_dispatch_a1=must_a1,
            capacity=Capacity(campaign_share=seats, agent_contacts_per_day=per_day),
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"campaign form: {exc}") from exc


def _capacity_by_channel(rows: list[dict]) -> list[dict]:
    """Province totals of the plan's capacity use per channel (None capacity = unlimited)."""
    out: dict[str, dict] = {}
    for r in rows:
        c = out.setdefault(r["channel"], {"channel": r["channel"], "used": 0, "capacity": 0})
        c["used"] += r["used"] or 0
        c["capacity"] = (
            None
            if c["capacity"] is None or r["capacity"] is None
            else (c["capacity"] + r["capacity"])
        )
    return list(out.values())


async def _form(request: Request) -> dict:
    form = await request.form()
    out: dict = {k: form.get(k) for k in form}
    out["channels"] = form.getlist("channels")
    out["actions"] = form.getlist("actions")
    return out


def _defaults(con) -> dict:
    months = readmodels.months(con, "segments")
    m = months[-1] if months else None
    return {
        "key": f"retention-{month_label(m)}" if m else "",
        "name_en": f"Retention {month_label(m)}" if m else "",
        "name_zh": f"{month_label(m)} 客户维系" if m else "",
        "month": month_label(m) if m else "",
        "months": 1,
        "budget": "",
        "control_pct": 10,
        "seats_pct": 100,
        "agent_per_day": 85,
        "max_rank": "",
        "channels": list(CHANNELS),
        "actions": [],
        "must_dispatch_a1": True,
    }


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request, db: DbDep, con: AnalyticsDep, user: PlannerUser
) -> HTMLResponse:
    lib = current_library(request.app.state.settings)
    locale = request_locale(request, user)
    return render(
        request,
        "campaigns/list.html",
        {
            "page_title": "Campaigns",
            "campaigns": operations.campaigns(session=db),
            "counts": operations.campaign_counts(session=db),
            "form": _defaults(con),
            "channels": CHANNELS,
            "actions": [(a.key, a.name.get(locale)) for a in lib.actions],
            "can_plan": bool(readmodels.months(con, "segments")),
        },
        user=user,
    )


@router.post("/campaigns/preview", response_class=HTMLResponse)
async def campaign_preview(
    request: Request, db: DbDep, con: WritableAnalyticsDep, user: PlannerUser
) -> HTMLResponse:
    """Plan without saving: expected value, cost, funnel and shadow prices (what-if).

    A preview plans in temporary tables and stores nothing: the evaluated record of every
    campaign, and its tasks, stay as they were.
    """
    form = await _form(request)
    spec = spec_from_form(form)
    result = dispatch_service.plan_month(
        con=con,
        month=spec.period_start,
        spec=spec,
        library=current_library(request.app.state.settings),
        session=db,
        preview=True,
    )
    locale = request_locale(request, user)
    return render(
        request,
        "campaigns/_preview.html",
        {
            "r": result,
            "spec": spec,
            "funnel_text": lambda stage: dispatch_service.funnel_text(stage, locale),
            "capacity": _capacity_by_channel(result.capacity),
        },
        user=user,
    )


@router.post("/campaigns")
async def campaign_create(
    request: Request, db: DbDep, con: WritableAnalyticsDep, user: PlannerUser
) -> Response:
    """Plan and save the campaign with its lists as a draft awaiting approval."""
    form = await _form(request)
    spec = spec_from_form(form)
    existing = dispatch_service.get_campaign_by_key(session=db, key=spec.key)
    if existing is not None and existing.status != CampaignStatus.draft.value:
        raise ConfigError(f"campaign {spec.key} is already {existing.status}; choose another key")
    dispatch_service.plan_month(
        con=con,
        month=spec.period_start,
        spec=spec,
        library=current_library(request.app.state.settings),
        session=db,
        status=PlanStatus.draft.value,
    )
    campaign = dispatch_service.get_campaign_by_key(session=db, key=spec.key)
    campaign.status = CampaignStatus.draft.value
    campaign.created_by = user.username
    db.commit()
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_detail(
    request: Request, campaign_id: int, db: DbDep, con: AnalyticsDep, user: PlannerUser
) -> HTMLResponse:
    campaign = operations.get_campaign(session=db, campaign_id=campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    return render(
        request,
        "campaigns/detail.html",
        {
            "page_title": "Campaign",
            "c": campaign,
            "counts": operations.campaign_counts(session=db).get(campaign.id, {}),
            "by_branch": operations.progress(session=db, by="branch", campaign_id=campaign.id)
            if campaign.status in operations.LIVE_STATUSES
            else [],
            "plan_board": operations.plan_summary(session=db, campaign_id=campaign.id),
            "a1_negative": readmodels.forced_a1_negative(con, campaign.key),
            "versions": plans.get_all(con, campaign=campaign.key),
        },
        user=user,
    )


@router.post("/campaigns/{campaign_id}/approve")
def campaign_approve(
    request: Request,
    campaign_id: int,
    db: DbDep,
    con: WritableAnalyticsDep,
    user: PlannerUser,
    decision: Annotated[str, Form()] = "approve",
) -> Response:
    """Approve a draft (its lists go to the branches), close a live campaign, or cancel one.

    The campaign's stored plan versions follow: approved plans are the record evaluation
    measures; a cancelled campaign's plans never count and its open tasks are dropped.
    """
    campaign = operations.get_campaign(session=db, campaign_id=campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    dispatch_service.decide_campaign(con=con, session=db, campaign=campaign, decision=decision)
    if decision == "approve":
        campaign.approved_by = user.username
    db.commit()
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)
