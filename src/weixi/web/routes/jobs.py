"""Background jobs: the progress partial htmx polls, the job page, and the JSON status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy.orm import Session

from weixi.auth.models import Role, User
from weixi.dispatch import service as dispatch_service
from weixi.errors import NotFoundError
from weixi.jobs import service as job_service
from weixi.jobs.models import Job, JobStatus
from weixi.web import jobs as web_jobs
from weixi.web.deps import MAX_INT, CurrentUser, DbDep, render, request_locale

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["jobs"])

POLL_MS = 700


def visible_job(db: Session, user: User, job_id: int) -> Job:
    """The job if ``user`` started it (administrators see every job); 404 otherwise."""
    job = job_service.get(session=db, job_id=job_id)
    if job is None or (job.created_by != user.username and user.role != Role.admin.value):
        raise NotFoundError("job {job_id} not found", job_id=job_id)
    return job


def _context(request: Request, user: User, job: Job) -> dict:
    locale = request_locale(request, user)
    title = web_jobs.KINDS.get(job.kind, (job.kind, False))[0]
    ctx: dict = {"job": job, "title": title, "poll_ms": POLL_MS}
    if job.status == JobStatus.done.value and job.kind == "campaign_preview":
        ctx.update(
            r=job.result,
            capacity=(job.result or {}).get("capacity_by_channel", []),
            funnel_text=lambda stage: dispatch_service.funnel_text(stage, locale),
        )
    if job.status == JobStatus.done.value and job.kind == "outcome_file":
        ctx["report"] = job.result
    return ctx


def job_partial(request: Request, db: Session, user: User, job_id: int) -> HTMLResponse:
    """The job's card: progress that polls itself while it runs, then the result or error."""
    job = visible_job(db, user, job_id)
    response = render(request, "partials/_job.html", _context(request, user, job), user=user)
    if job.status == JobStatus.done.value and job.kind in web_jobs.OPENS_CAMPAIGN and job.result:
        response.headers["HX-Redirect"] = f"/campaigns/{job.result['campaign_id']}"
    return response


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, db: DbDep, user: CurrentUser) -> Response:
    """The job's card (htmx polls it) or, opened directly, a page around it."""
    if request.headers.get("hx-request"):
        return job_partial(request, db, user, job_id)
    job = visible_job(db, user, job_id)
    if job.status == JobStatus.done.value and job.kind in web_jobs.OPENS_CAMPAIGN and job.result:
        return RedirectResponse(f"/campaigns/{job.result['campaign_id']}", status_code=303)
    ctx = _context(request, user, job)
    ctx["page_title"] = ctx["title"]
    return render(request, "jobs/page.html", ctx, user=user)


@router.get("/jobs/{job_id}/download")
def job_download(request: Request, job_id: int, db: DbDep, user: CurrentUser) -> Response:
    """The file an export job wrote (to the user who started it)."""
    job = visible_job(db, user, job_id)
    result = job.result or {}
    if job.status != JobStatus.done.value or "file" not in result or "fmt" not in result:
        raise NotFoundError("job {job_id} has no file to download", job_id=job_id)
    path = web_jobs.export_path(request.app.state.settings, job.id, result["fmt"])
    if not path.exists():
        raise NotFoundError("the file of job {job_id} is gone; export again", job_id=job_id)
    return FileResponse(path, media_type=result["media"], filename=result["file"])


@api_router.get("/jobs/{job_id}")
def job_status(
    job_id: Annotated[int, Path(ge=1, le=MAX_INT)], db: DbDep, user: CurrentUser
) -> JSONResponse:
    """A job's status, stage, progress (0..1), result when done and error when failed."""
    job = visible_job(db, user, job_id)
    return JSONResponse(
        {
            "id": job.id,
            "kind": job.kind,
            "status": job.status,
            "stage": job.stage,
            "progress": job.progress,
            "result": job.result if job.status == JobStatus.done.value else None,
            "error": job.error,
            "error_texts": job.error_texts,  # {"en": …, "zh-CN": …} for weixi's own errors
            "created_at": job.created_at.isoformat() if job.created_at else None,
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        }
    )
