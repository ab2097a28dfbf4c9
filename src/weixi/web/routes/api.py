"""JSON API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``); same roles and masking."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import AfterValidator, BaseModel, Field

from weixi.auth.models import User
from weixi.errors import ConfigError, NotFoundError
from weixi.security import access, audit
from weixi.security.masking import PII_COLUMNS, mask_id, mask_record, mask_records
from weixi.web import customer360, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import (
    MAX_INT,
    AnalyticsDep,
    ClaimTokenDep,
    CurrentUser,
    DbDep,
    request_locale,
    require_role,
)
from weixi.web.nav import ACCESS

router = APIRouter(prefix="/api/v1", tags=["weixi"])


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


#: A stored (naive UTC) time, answered with its offset: OpenAPI's ``date-time`` is RFC 3339,
#: which needs one ("2026-01-31T15:00:00Z", not "2026-01-31T15:00:00").
UtcDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    branch_id: str | None
    locale: str
    can_unmask: bool


class AuditEventOut(BaseModel):
    id: int
    at: UtcDateTime
    username: str
    role: str
    branch_id: str | None
    action: str
    object_type: str
    object_id: str
    detail: str
    ip: str | None


def _jsonable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        out.append(
            {
                k: (month_label(v) if k == "month" else v.isoformat())
                if isinstance(v, dt.date)
                else v
                for k, v in r.items()
            }
        )
    return out


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """The authenticated user."""
    return Me(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        branch_id=user.branch_id,
        locale=user.locale,
        can_unmask=user.can_unmask,
    )


@router.get("/dashboard")
def api_dashboard(
    con: AnalyticsDep, user: Annotated[User, Depends(require_role(*ACCESS["dashboard"]))]
) -> dict[str, Any]:
    """Monthly KPI trend within the user's scope."""
    d = readmodels.dashboard(con, user.scope_branch)
    return {
        "months": [month_label(m) for m in d["months"]],
        "trend": _jsonable(d["trend"]),
        "urgency": d["urgency"],
    }


@router.get("/segments/grid")
def api_segment_grid(
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["segments"]))],
    month: str | None = None,
    line_type: str = "mobile",
) -> dict[str, Any]:
    """The 36 stability groups of a month: count, urgency and priority per group."""
    m = readmodels.pick_month(readmodels.summary_months(con, "rm_segments"), month)
    if m is None:
        return {"month": None, "groups": []}
    g = readmodels.segment_grid(con, user.scope_branch, m, line_type)
    groups = [{"group": f"{a}-{b}-{c}", **v} for (a, b, c), v in sorted(g["grid"].items())]
    return {"month": month_label(m), "line_type": line_type, "groups": groups}


@router.get("/churn/summary")
def api_churn_summary(
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["churn"]))],
    month: str | None = None,
) -> dict[str, Any]:
    """Score distribution, calibration by decile and top reason codes."""
    m = readmodels.pick_month(readmodels.summary_months(con, "rm_churn"), month)
    s = readmodels.churn_summary(con, user.scope_branch, m)
    s.pop("models", None)
    model = s.pop("model", None)
    return {
        "month": month_label(m) if m else None,
        **{k: (_jsonable(v) if isinstance(v, list) else v) for k, v in s.items()},
        "model": _jsonable([model])[0] if model else None,
    }


@router.get("/churn/top-risk")
def api_top_risk(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["churn"]))],
    month: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Highest-risk lines with segment and reasons (personal data masked)."""
    m = readmodels.pick_month(readmodels.summary_months(con, "rm_churn"), month)
    rows = readmodels.top_risk(con, user.scope_branch, m, min(max(limit, 1), 1000))
    locale = request_locale(request, user)
    for r in rows:
        r["reason_texts"] = [readmodels.describe_reason(x, locale) for x in r["reasons"]]
    return {"month": month_label(m) if m else None, "rows": _jsonable(mask_records(rows))}


@router.get("/customers/{subscriber_id}")
def api_customer(
    subscriber_id: str,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["customers"]))],
) -> dict[str, Any]:
    """Customer 360 (personal data masked; 404 outside the user's branch)."""
    view = readmodels.customer(con, user.scope_branch, subscriber_id)
    if view is None:
        raise NotFoundError("customer {sid} not found", sid=subscriber_id)
    return {
        "profile": _jsonable([mask_record(view["profile"])])[0],
        "history": _jsonable(view["history"]),
        "segments": _jsonable(view["segments"]),
        "scores": _jsonable(view["scores"]),
    }


@router.get("/customers/{subscriber_id}/360")
def api_customer_360(
    subscriber_id: str,
    db: DbDep,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["customers"]))],
) -> dict[str, Any]:
    """The whole customer 360 in one call: profile (masked), segment history, churn scores and
    reasons, campaigns with contacts and outcomes, complaints, VIP tier and group."""
    v = customer360.as_json(
        customer360.build(session=db, con=con, user=user, subscriber_id=subscriber_id)
    )
    out: dict[str, Any] = {}
    for key, value in v.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out[key] = _jsonable(value)
        elif isinstance(value, dict) and key == "profile":
            out[key] = _jsonable([value])[0]
        else:
            out[key] = value
    return out


@router.post("/customers/{subscriber_id}/unmask")
def api_customer_unmask(
    request: Request,
    subscriber_id: str,
    db: DbDep,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["unmask"]))],
) -> dict[str, Any]:
    """Phone, name and ID number in clear (audited); only roles that contact customers, and
    only for customers of their branch (managers), book (account managers) or queue (agents)."""
    access.require_customer(db, user, subscriber_id)
    found = readmodels.profile(con, user.scope_branch, subscriber_id)
    if found is None:
        raise NotFoundError("customer {sid} not found", sid=subscriber_id)
    audit.record(
        session=db,
        action="unmask",
        user=user,
        object_type="customer",
        object_id=subscriber_id,
        detail={"fields": list(PII_COLUMNS), "via": "api"},
        ip=request.client.host if request.client else None,
    )
    db.commit()
    clear = {k: found.get(k) for k in PII_COLUMNS}
    if user.role == "agent":  # an agent calls the customer: phone and name, never the ID number
        clear["id_number"] = mask_id(clear.get("id_number"))
    return {"subscriber_id": subscriber_id, **clear}


@router.get("/import-runs")
def api_import_runs(
    con: AnalyticsDep, user: Annotated[User, Depends(require_role(*ACCESS["data"]))]
) -> dict[str, Any]:
    """Import runs recorded by the ingest domain, newest first, with their reconciliation."""
    from weixi.ingest import service as ingest_service

    runs = ingest_service.get_runs(con=con) if con is not None else []
    return {
        "runs": [
            {
                **r.summary(),
                "balanced": r.balanced,
                "error": r.error,
                "interruption": r.interruption,
            }
            for r in runs
        ]
    }


@router.get("/audit", response_model=list[AuditEventOut])
def api_audit(
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["admin"]))],
    username: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEventOut]:
    """Audit events, newest first (admins)."""
    events = audit.get_all(
        session=db,
        flt=audit.AuditFilter(username=username, action=action),
        limit=min(max(limit, 1), 1000),
        offset=min(max(offset, 0), MAX_INT),
    )
    return [AuditEventOut.model_validate(e, from_attributes=True) for e in events]


class OutcomeIn(BaseModel):
    """One outcome from an external dialer, SMS gateway or app."""

    task_id: int = Field(ge=1, le=MAX_INT)
    result: str = Field(description="not_reached, accepted, refused, call_back or already_churned")
    refusal_reason: str | None = None
    callback_at: dt.datetime | None = None
    note: str | None = None
    idempotency_key: str | None = Field(
        None, description="or the Idempotency-Key header; a repeated key returns the first outcome"
    )


class OutcomeOut(BaseModel):
    id: int
    task_id: int
    result: str
    source: str
    recorded_by: str | None
    recorded_at: UtcDateTime
    idempotency_key: str | None


@router.post("/outcomes", response_model=OutcomeOut)
def api_record_outcome(
    body: OutcomeIn,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["outcomes_api"]))],
    idempotency_key: Annotated[str | None, Header()] = None,
) -> OutcomeOut:
    """Record the outcome of a task (bearer token; idempotent by key).

    The same rules as the queue page: a task of your branch (managers), assigned to you, or
    pooled and claimed by you (``POST /api/v1/queue/next``); 404 outside that scope, 409 when
    the task already took its outcome, waits for a call-back or is held by someone else.
    A repeated key answers the first outcome.
    """
    from weixi.dispatch import service as dispatch_service

    key = body.idempotency_key or idempotency_key
    if key:  # the caller's retry answers their stored outcome, whatever happened since
        prior = dispatch_service.get_outcome_by_key(session=db, key=key)
        if prior and prior.task_id == body.task_id and prior.recorded_by == user.username:
            return OutcomeOut.model_validate(prior, from_attributes=True)
    access.require_task(db, user, body.task_id)
    if body.result == "refused" and not body.refusal_reason:
        raise ConfigError("a refusal needs refusal_reason")
    out = dispatch_service.record_outcome(
        session=db,
        task_id=body.task_id,
        result=body.result,
        refusal_reason=body.refusal_reason,
        callback_at=body.callback_at.replace(tzinfo=None) if body.callback_at else None,
        note=body.note,
        source="api",
        idempotency_key=key,
        recorded_by=user.username,
        credit_staff=user.staff_id,
    )
    db.commit()
    return OutcomeOut.model_validate(out, from_attributes=True)


class QueueTaskOut(BaseModel):
    """The task claimed for the caller (no personal data: unmask it separately, audited)."""

    id: int
    subscriber_id: str
    branch_id: str
    channel: str
    action: str
    offer_id: str | None
    priority_rank: int | None
    p_churn: float | None
    expected_value: float | None
    reason: str | None
    callback_at: UtcDateTime | None
    claimed_until: UtcDateTime | None


@router.post("/queue/next", response_model=QueueTaskOut | None)
def api_queue_next(
    request: Request,
    db: DbDep,
    token: ClaimTokenDep,
    user: Annotated[User, Depends(require_role(*ACCESS["queue"]))],
) -> QueueTaskOut | None:
    """Claim the next task of your queue for this token (the one you hold, renewed, if any);
    null when the queue is empty. Claims expire after ``WEIXI_CLAIM_TIMEOUT_MINUTES``."""
    from weixi.dispatch import queue as work_queue

    minutes = request.app.state.settings.claim_timeout_minutes
    task = work_queue.claim_next(
        session=db, worker=access.worker(user, token), timeout=dt.timedelta(minutes=minutes)
    )
    db.commit()
    if task is None:
        return None
    out = QueueTaskOut.model_validate(task, from_attributes=True)
    out.reason = task.reason_in(request_locale(request, user))
    return out
