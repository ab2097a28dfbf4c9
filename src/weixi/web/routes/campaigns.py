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
from weixi.dispatch.schemas import CampaignSpec, Capacity
from weixi.errors import ConfigError, NotFoundError
from weixi.store.months import parse_month
from weixi.strategy.schemas import CHANNELS, Text
from weixi.web import jobs as web_jobs
from weixi.web import operations, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import (
    AnalyticsDep,
    DbDep,
    render,
    request_locale,
    require_role,
)
from weixi.web.nav import ACCESS
from weixi.web.routes.jobs import job_partial
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
        raise ConfigError("campaign form: {error}", error=exc) from exc


async def _form(request: Request) -> dict:
    """The wizard's fields (awaited here so that the route itself can be a plain ``def``)."""
    form = await request.form()
    out: dict = {k: form.get(k) for k in form}
    out["channels"] = form.getlist("channels")
    out["actions"] = form.getlist("actions")
    return out


def _defaults(con) -> dict:
    months = readmodels.segmented_months(con)
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
            "can_plan": bool(readmodels.segmented_months(con)),
        },
        user=user,
    )


FormDep = Annotated[dict, Depends(_form)]


@router.post("/campaigns/preview", response_class=HTMLResponse)
def campaign_preview(request: Request, form: FormDep, db: DbDep, user: PlannerUser) -> HTMLResponse:
    """Queue a plan without saving (expected value, cost, funnel, shadow prices: what-if) and
    answer with the job's progress, which polls until the preview is shown."""
    spec = spec_from_form(form)
    settings = request.app.state.settings
    job_id = request.app.state.jobs.submit(
        web_jobs.campaign_preview(spec, settings),
        kind="campaign_preview",
        params={"key": spec.key, "month": month_label(spec.period_start)},
        created_by=user.username,
        writes=web_jobs.KINDS["campaign_preview"][1],
    )
    return job_partial(request, db, user, job_id)


@router.post("/campaigns")
def campaign_create(request: Request, db: DbDep, user: PlannerUser, form: FormDep) -> Response:
    """Queue planning and saving the campaign with its lists as a draft awaiting approval; the
    job page follows it and opens the campaign when it is ready."""
    spec = spec_from_form(form)
    existing = dispatch_service.get_campaign_by_key(session=db, key=spec.key)
    if existing is not None and existing.status != CampaignStatus.draft.value:
        raise ConfigError(
            "campaign {key} is already {status}; choose another key",
            key=spec.key,
            status=existing.status,
        )
    settings = request.app.state.settings
    job_id = request.app.state.jobs.submit(
        web_jobs.campaign_create(spec, settings, user.username),
        kind="campaign_create",
        params={"key": spec.key, "month": month_label(spec.period_start)},
        created_by=user.username,
        writes=web_jobs.KINDS["campaign_create"][1],
    )
    if request.headers.get("hx-request"):
        return job_partial(request, db, user, job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_detail(
    request: Request, campaign_id: int, db: DbDep, con: AnalyticsDep, user: PlannerUser
) -> HTMLResponse:
    campaign = operations.get_campaign(session=db, campaign_id=campaign_id)
    if campaign is None:
        raise NotFoundError("campaign {campaign_id} not found", campaign_id=campaign_id)
    return render(
        request,
        "campaigns/detail.html",
        {
            "page_title": "Campaign",
            "c": campaign,
            "counts": operations.campaign_counts(session=db).get(campaign.id, {}),
            "by_branch": operations.progress(
                session=db,
                by="branch",
                campaign_id=campaign.id,
                prices=operations.Prices.from_library(current_library(request.app.state.settings)),
            )
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
    user: PlannerUser,
    decision: Annotated[str, Form()] = "approve",
) -> Response:
    """Approve a draft (its lists go to the branches), close a live campaign, or cancel one.

    The campaign's stored plan versions follow (an analytics write, so it runs as a job on the
    writer lane): approved plans are the record evaluation measures; a cancelled campaign's
    plans never count and its open tasks are dropped.
    """
    campaign = operations.get_campaign(session=db, campaign_id=campaign_id)
    if campaign is None:
        raise NotFoundError("campaign {campaign_id} not found", campaign_id=campaign_id)
    if decision not in web_jobs.DECISIONS:
        raise ConfigError("decision must be approve, close or cancel")
    job_id = request.app.state.jobs.submit(
        web_jobs.campaign_decide(
            campaign_id=campaign.id,
            decision=decision,
            settings=request.app.state.settings,
            username=user.username,
        ),
        kind="campaign_decide",
        params={"campaign_id": campaign.id, "decision": decision},
        created_by=user.username,
        writes=web_jobs.KINDS["campaign_decide"][1],
    )
    if request.headers.get("hx-request"):
        return job_partial(request, db, user, job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
