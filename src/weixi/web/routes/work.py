"""Dispatch board (province → branch → channel/person), agent work queue, monitoring."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weixi.auth.models import Role, User
from weixi.dispatch import queue as work_queue_service
from weixi.dispatch import service as dispatch_service
from weixi.errors import ConfigError
from weixi.security import access
from weixi.security.masking import mask_record
from weixi.web import charts, operations, readmodels
from weixi.web import jobs as web_jobs
from weixi.web.deps import (
    AnalyticsDep,
    ClaimTokenDep,
    DbDep,
    render,
    request_locale,
    require_role,
    wants_fragment,
)
from weixi.web.labels import label
from weixi.web.nav import ACCESS
from weixi.web.routes.jobs import job_partial
from weixi.web.routes.strategy import current_library

router = APIRouter(include_in_schema=False)

REFUSAL_REASONS = (
    "price",
    "happy_with_current_plan",
    "switching_to_competitor",
    "network_quality",
    "no_need",
    "other",
)


# --- dispatch board --------------------------------------------------------------------------


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_board(
    request: Request,
    db: DbDep,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["dispatch"]))],
    ok: int | None = None,
) -> HTMLResponse:
    branch = user.scope_branch
    rows = operations.board(session=db, branch=branch)
    branches: dict[str, dict] = {}
    for r in rows:
        b = branches.setdefault(r["branch_id"], {"tasks": 0, "open": 0, "done": 0, "channels": {}})
        b["tasks"] += r["tasks"]
        b["open"] += r["open"] or 0
        b["done"] += r["done"] or 0
        ch = b["channels"].setdefault(
            r["channel"], {"tasks": 0, "open": 0, "done": 0, "people": []}
        )
        ch["tasks"] += r["tasks"]
        ch["open"] += r["open"] or 0
        ch["done"] += r["done"] or 0
        ch["people"].append(r)
    staff = readmodels.staff(con, branch) if branch else []
    return render(
        request,
        "work/dispatch.html",
        {
            "page_title": "Dispatch board",
            "branches": branches,
            "staff": staff,
            "moved": ok,
            "can_assign": user.role == Role.branch_manager.value,
        },
        user=user,
    )


@router.post("/dispatch/assign")
def dispatch_assign(
    db: DbDep,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(Role.branch_manager))],
    channel: Annotated[str, Form()],
    to_staff: Annotated[str, Form()],
    count: Annotated[int, Form()],
    from_staff: Annotated[str, Form()] = "",
) -> Response:
    """Assign open tasks of the branch's channel to a person (from the pool or a colleague)."""
    known = {s["staff_id"]: s for s in readmodels.staff(con, user.branch_id)}
    if known and to_staff not in known:
        raise ConfigError(
            "staff {staff} does not work in branch {branch}", staff=to_staff, branch=user.branch_id
        )
    moved = operations.reassign(
        session=db,
        branch=user.branch_id or "",
        channel=channel,
        from_staff=from_staff or None,
        to_staff=to_staff,
        count=count,
    )
    db.commit()
    return RedirectResponse(f"/dispatch?ok={moved}", status_code=303)


# --- agent work queue -----------------------------------------------------------------------


#: Facts of a queue card; a line missing from the analytics store shows dashes, not an error.
BRIEF_KEYS = ("phone", "name", "package_name", "arpu", "contract_end", "code", "urgency")


def _line(brief: dict[str, dict], subscriber_id: str) -> dict:
    return mask_record({k: None for k in BRIEF_KEYS} | brief.get(subscriber_id, {}))


@router.get("/queue", response_class=HTMLResponse)
def work_queue(
    request: Request,
    db: DbDep,
    con: AnalyticsDep,
    token: ClaimTokenDep,
    user: Annotated[User, Depends(require_role(*ACCESS["queue"]))],
) -> HTMLResponse:
    """The next customer, claimed for this session before it is shown (reloading keeps it)."""
    locale = request_locale(request, user)
    settings = request.app.state.settings
    me = access.worker(user, token)
    current = work_queue_service.claim_next(
        session=db, worker=me, timeout=dt.timedelta(minutes=settings.claim_timeout_minutes)
    )
    db.commit()
    upcoming = [t_ for t_ in work_queue_service.upcoming(session=db, worker=me) if t_ != current]
    shown = ([current] if current else []) + upcoming
    brief = readmodels.lines_brief(con, [t_.subscriber_id for t_ in shown])
    lib = current_library(settings)
    offers = {o.key: (e, p, o) for e, p, o in lib.offers()}
    actions = {a.key: a for a in lib.actions}
    ctx: dict = {
        "page_title": "My work queue",
        "waiting": work_queue_service.waiting(session=db, worker=me),
        "current": current,
        "line": _line(brief, current.subscriber_id) if current else {},
        "upcoming": [(t_, _line(brief, t_.subscriber_id)) for t_ in upcoming],
        "callbacks": work_queue_service.scheduled_callbacks(session=db, worker=me),
        "today": operations.worked_today(session=db, username=user.username),
        "refusal_reasons": REFUSAL_REASONS,
        "results": operations.RESULTS,
    }
    if current is not None:
        offer = offers.get(current.offer_id or "")
        action = actions.get(current.action)
        ctx["offer_name"] = offer[2].name.get(locale) if offer else (current.offer_id or "–")
        ctx["script"] = offer[2].script.get(locale) if offer else ""
        ctx["action_name"] = action.name.get(locale) if action else label(current.action, locale)
    return render(request, "work/queue.html", ctx, user=user)


def parse_callback(value: str | None) -> dt.datetime | None:
    """A call-back time from a form, API or file (local wall time as typed, naive)."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=None)
    except ValueError:
        raise ConfigError("call back time must look like 2026-01-31T15:00") from None


@router.post("/queue/{task_id}/outcome")
def record_outcome(
    task_id: int,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["queue"]))],
    result: Annotated[str, Form()],
    refusal_reason: Annotated[str, Form()] = "",
    callback_at: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """One-click outcome: not reached / accepted / refused with reason / call back / churned."""
    task = access.require_task(db, user, task_id)
    when = parse_callback(callback_at) if result == "call_back" else None
    if result == "refused" and not refusal_reason:
        raise ConfigError("choose the reason the customer refused")
    dispatch_service.record_outcome(
        session=db,
        task_id=task.id,
        result=result,
        refusal_reason=refusal_reason or None,
        callback_at=when,
        note=note.strip() or None,
        source="web",
        recorded_by=user.username,
        credit_staff=user.staff_id,
    )
    db.commit()
    return RedirectResponse("/queue", status_code=303)


# --- monitoring -----------------------------------------------------------------------------

DIMENSIONS = ("branch", "channel", "staff", "action", "priority")
#: groups per page of a monitoring table (a province has tens of thousands of people)
MONITORING_PAGE = 50


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(
    request: Request,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["monitoring"]))],
    by: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    """Progress of the live lists: totals, outcomes per day, and one grouping at a time (by
    branch, channel, person, strategy or segment priority), a page of it. Each grouping is
    one grouped query over the kept per-cell counts, so the page costs the same on a
    province of millions of lines as on the demo."""
    locale = request_locale(request, user)
    branch = user.scope_branch
    by = by if by in DIMENSIONS else ("staff" if branch else "branch")
    prices = operations.Prices.from_library(current_library(request.app.state.settings))

    def page_of(n: int) -> operations.ProgressPage:
        return operations.progress_page(
            session=db,
            by=by,
            limit=MONITORING_PAGE,
            offset=(n - 1) * MONITORING_PAGE,
            branch=branch,
            prices=prices,
        )

    page = max(page, 1)
    found = page_of(page)
    last = max(-(-found.groups // MONITORING_PAGE), 1)
    if page > last:  # past the end (the groups shrank since the link was drawn): the last page
        page = last
        found = page_of(page)
    ctx = {
        "page_title": "Monitoring",
        "by": by,
        "dims": DIMENSIONS,
        "rows": found.rows,
        "groups": found.groups,
        "page": page,
        "pages": last,
        "k": found.total,
    }
    if wants_fragment(request):  # a tab or a page of the table
        return render(request, "work/_monitoring_table.html", ctx, user=user)
    days = operations.outcomes_by_day(session=db, branch=branch)
    x = sorted({str(d["day"]) for d in days})
    series = {}
    for res in operations.RESULTS:
        counts = {str(d["day"]): d["n"] for d in days if d["result"] == res}
        series[label(res, locale)] = [counts.get(day, 0) for day in x]
    ctx["chart_days"] = charts.stacked(x, series) if x else None
    return render(request, "work/monitoring.html", ctx, user=user)


# --- outcome files ----------------------------------------------------------------------------


@router.get("/outcomes/upload", response_class=HTMLResponse)
def outcome_upload_form(
    request: Request, user: Annotated[User, Depends(require_role(*ACCESS["outcome_files"]))]
) -> HTMLResponse:
    return render(
        request, "work/upload.html", {"page_title": "Outcome files", "report": None}, user=user
    )


async def _upload(request: Request) -> tuple[str, bytes]:
    """The uploaded file's name and bytes (awaited here so the route can be a plain ``def``)."""
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ConfigError("choose a CSV file to upload")
    return upload.filename or "upload.csv", await upload.read()


@router.post("/outcomes/upload", response_class=HTMLResponse)
def outcome_upload(
    request: Request,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["outcome_files"]))],
    upload: Annotated[tuple[str, bytes], Depends(_upload)],
) -> Response:
    """Queue recording an external dialer / SMS gateway outcome file; the job's result lists
    every rejected row."""
    name, data = upload
    job_id = request.app.state.jobs.submit(
        web_jobs.outcome_file(
            settings=request.app.state.settings, user_id=user.id, name=name, data=data
        ),
        kind="outcome_file",
        params={"file": name, "bytes": len(data)},
        created_by=user.username,
        writes=web_jobs.KINDS["outcome_file"][1],
    )
    if request.headers.get("hx-request"):
        return job_partial(request, db, user, job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
