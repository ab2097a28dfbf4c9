"""The web app's long actions as background jobs (campaign preview and create, outcome files).

Each function builds a job body ``(ctx) -> result dict`` that :class:`weixi.jobs.worker.JobRunner`
runs off the request; the route only validates the input, queues the job and answers with the
job's progress partial, which htmx polls until the result is shown.
"""

from __future__ import annotations

from typing import Any

from weixi.config import Settings
from weixi.dispatch import service as dispatch_service
from weixi.dispatch.models import Campaign, CampaignStatus
from weixi.dispatch.plans import PlanStatus
from weixi.dispatch.schemas import CampaignSpec
from weixi.errors import ConfigError, NotFoundError
from weixi.jobs.worker import JobContext, JobFunc
from weixi.store.db import session_scope

#: kind -> (English title shown on the job card, writes the analytics store)
KINDS: dict[str, tuple[str, bool]] = {
    "campaign_preview": ("Campaign preview", False),  # temp tables on a snapshot: reader lane
    "campaign_create": ("Create campaign", True),
    "campaign_decide": ("Campaign decision", True),
    "outcome_file": ("Outcome file", False),
    "churn_export": ("Export of the top churn risk", False),
    "winback_dispatch": ("Win-back dispatch", True),
}
#: kinds whose finished job opens the campaign it worked on
OPENS_CAMPAIGN = ("campaign_create", "campaign_decide")
DECISIONS = ("approve", "close", "cancel")


def capacity_by_channel(rows: list[dict]) -> list[dict]:
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


def campaign_preview(spec: CampaignSpec, settings: Settings) -> JobFunc:
    """Plan ``spec`` without saving a campaign: expected value, cost, funnel, shadow prices."""
    from weixi.web.routes.strategy import current_library

    def run(ctx: JobContext) -> dict[str, Any]:
        library = current_library(settings)
        # A preview plans in temporary tables and stores nothing, so it runs on a read-only
        # snapshot connection, side by side with other previews and never behind a writer.
        with ctx.snapshot() as con, session_scope(settings.db_url) as db:
            ctx.progress(0.2, "Matching strategies and solving the plan")
            result = dispatch_service.plan_month(
                con=con,
                month=spec.period_start,
                spec=spec,
                library=library,
                session=db,  # read only: the campaign's contact history
                preview=True,
            )
        out = result.to_dict()
        out["capacity_by_channel"] = capacity_by_channel(result.capacity)
        return out

    return run


def campaign_create(spec: CampaignSpec, settings: Settings, username: str) -> JobFunc:
    """Plan ``spec`` and save the campaign with its lists as a draft awaiting approval."""
    from weixi.web.routes.strategy import current_library

    def run(ctx: JobContext) -> dict[str, Any]:
        library = current_library(settings)
        with ctx.analytics() as con:
            ctx.progress(0.2, "Matching strategies and solving the plan")
            # progress rows are written by other sessions: none while this one holds SQLite's
            # write lock; it commits before the snapshot is published
            with session_scope(settings.db_url) as db:
                existing = dispatch_service.get_campaign_by_key(session=db, key=spec.key)
                if existing is not None and existing.status != CampaignStatus.draft.value:
                    raise ConfigError(
                        "campaign {key} is already {status}; choose another key",
                        key=spec.key,
                        status=existing.status,
                    )
                result = dispatch_service.plan_month(
                    con=con,
                    month=spec.period_start,
                    spec=spec,
                    library=library,
                    session=db,
                    status=PlanStatus.draft.value,
                )
                campaign = dispatch_service.get_campaign_by_key(session=db, key=spec.key)
                campaign.status = CampaignStatus.draft.value
                campaign.created_by = username
                db.flush()
                campaign_id = campaign.id
        return {"campaign_id": campaign_id, "on_list": result.on_list, "key": spec.key}

    return run


def campaign_decide(
    *, campaign_id: int, decision: str, settings: Settings, username: str
) -> JobFunc:
    """Approve, close or cancel a campaign; its plan versions in the analytics store follow."""

    def run(ctx: JobContext) -> dict[str, Any]:
        with ctx.analytics() as con:
            ctx.progress(0.3, "Recording the decision")
            with session_scope(settings.db_url) as db:  # commits before the publish
                campaign = db.get(Campaign, campaign_id)
                if campaign is None:
                    raise NotFoundError("campaign {campaign_id} not found", campaign_id=campaign_id)
                dispatch_service.decide_campaign(
                    con=con, session=db, campaign=campaign, decision=decision
                )
                if decision == "approve":
                    campaign.approved_by = username
                db.flush()
        return {"campaign_id": campaign_id, "decision": decision}

    return run


def winback_dispatch(*, month, settings: Settings) -> JobFunc:
    """Dispatch ``month``'s win-back list: treated lines become tasks, the control stays out."""
    from weixi.dispatch.winback import dispatch_winback

    def run(ctx: JobContext) -> dict[str, Any]:
        with ctx.analytics() as con:
            ctx.progress(0.3, "Writing the win-back tasks")
            with session_scope(settings.db_url) as db:  # commits before the publish
                out = dispatch_winback(con=con, session=db, month=month)
        return {k: out[k] for k in ("month", "lines", "treated", "control", "tasks_created")}

    return run


def outcome_file(*, settings: Settings, user_id: int, name: str, data: bytes) -> JobFunc:
    """Validate and record an outcome CSV; the result lists every rejected row."""
    from weixi.auth.models import User
    from weixi.dispatch.outcome_files import record_file

    def run(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(0.1, "Reading the file")
        with session_scope(settings.db_url) as db:
            user = db.get(User, user_id)
            report = record_file(session=db, user=user, name=name, data=data)
        return {
            "file": report.file,
            "read": report.read,
            "recorded": report.recorded,
            "repeated": report.repeated,
            "rejected": report.rejected,
            "balanced": report.balanced,
        }

    return run


def export_path(settings: Settings, job_id: int, fmt: str):
    """Where an export job leaves its file (``<home>/exports/``)."""
    return settings.home / "exports" / f"job-{job_id}.{fmt}"


def churn_export(
    *,
    settings: Settings,
    user_id: int,
    fmt: str,
    month: str | None,
    locale: str,
    ip: str | None,
) -> JobFunc:
    """Write the masked top-risk list of the user's scope as Excel or CSV and audit it."""
    from weixi.auth.models import User
    from weixi.security import audit
    from weixi.web.routes.churn import build_export

    def run(ctx: JobContext) -> dict[str, Any]:
        with session_scope(settings.db_url) as db:
            user = db.get(User, user_id)
            db.expunge(user)
        ctx.progress(0.1, "Reading the list")
        with ctx.snapshot() as con:
            body, media, name, rows, month_text = build_export(
                con, user=user, fmt=fmt, month=month, locale=locale
            )
        path = export_path(settings, ctx.job_id, fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        with session_scope(settings.db_url) as db:
            audit.record(
                session=db,
                action="export",
                user=db.get(User, user_id),
                object_type="churn_top_risk",
                object_id=month_text,
                detail={"format": fmt, "rows": rows, "masked": True},
                ip=ip,
            )
        return {"file": name, "media": media, "rows": rows, "bytes": len(body), "fmt": fmt}

    return run
