"""The whole customer 360 in one call: profile (masked), segment history, churn score and
reasons over time, campaigns and tasks with contacts and outcomes, complaints, VIP tier and
enterprise group. The page and ``GET /api/v1/customers/{id}/360`` both read it from here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from weixi.auth.models import User
from weixi.complaints import service as complaints
from weixi.errors import NotFoundError
from weixi.security.masking import mask_record, mask_text
from weixi.web import operations, readmodels


def group_of(con: Any, group_id: str | None) -> dict[str, Any] | None:
    """The enterprise group a line belongs to (reference table when loaded), or None."""
    if not group_id:
        return None
    if readmodels.has(con, "enterprise_groups"):
        found = readmodels.rows(
            con,
            """SELECT group_id, name, industry, handset_count, is_top500_taxpayer
               FROM enterprise_groups WHERE group_id = ? LIMIT 1""",
            [group_id],
        )
        if found:
            return found[0]
    return {"group_id": group_id}


def complaint_rows(items: list, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Complaints as plain rows with the summary masked (phone and ID numbers in free text)."""
    return [
        {
            "id": c.id,
            "subscriber_id": c.subscriber_id,
            "received_at": c.received_at,
            "category": c.category,
            "status": c.status,
            "owner": c.owner,
            "deadline": c.deadline,
            "overdue": c.overdue(now),
            "escalation_level": c.escalation_level,
            "channel": c.channel,
            "summary": mask_text(c.summary),
        }
        for c in items
    ]


def build(*, session: Session, con: Any, user: User, subscriber_id: str) -> dict[str, Any]:
    """Everything about one line within the user's branch; NotFoundError outside it."""
    view = readmodels.customer(con, user.scope_branch, subscriber_id) if con is not None else None
    if view is None:
        raise NotFoundError("customer {sid} not found", sid=subscriber_id)
    raw = view["profile"]
    last_seg = view["segments"][-1] if view["segments"] else {}
    items = complaints.get_all(
        session=session, branch=user.scope_branch, subscriber_id=subscriber_id
    )
    tasks = operations.customer_tasks(session=session, subscriber_id=subscriber_id)
    return {
        "subscriber_id": subscriber_id,
        "profile": mask_record(raw),
        "history": view["history"],
        "segments": view["segments"],
        "scores": view["scores"],
        "vip": {"vip_level": raw.get("vip_level"), "vip_tier": last_seg.get("vip_tier")},
        "group": group_of(con, raw.get("group_id")),
        "tasks": tasks,
        "complaints": complaint_rows(items),
        "complaint_summary": complaints.summary(items),
    }


def as_json(v: dict[str, Any]) -> dict[str, Any]:
    """The 360 as JSON-ready values (tasks flattened to campaign, task and outcome fields)."""
    return {
        **{k: v[k] for k in ("subscriber_id", "profile", "history", "segments", "scores")},
        "vip": v["vip"],
        "group": v["group"],
        "campaigns": [
            {
                "task_id": r["task"].id,
                "campaign": r["campaign"].key,
                "campaign_name_en": r["campaign"].name_en,
                "campaign_name_zh": r["campaign"].name_zh,
                "month": r["task"].month,
                "action": r["task"].action,
                "channel": r["task"].channel,
                "offer_id": r["task"].offer_id,
                "status": r["task"].status,
                "outcomes": [
                    {"result": o.result, "refusal_reason": o.refusal_reason, "at": o.recorded_at}
                    for o in r["outcomes"]
                ],
            }
            for r in v["tasks"]
        ],
        "complaints": v["complaints"],
        "complaint_summary": v["complaint_summary"],
    }
