"""The append-only audit log: record an event, browse and filter events. Nothing else.

There is deliberately no update or delete function; the ORM and database triggers refuse both
(see ``weixi.auth.models``). Every unmask and every export calls :func:`record`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from weixi.auth.models import AuditEvent, User, utcnow

#: Actions written by weixi (the filter list of the audit page).
ACTIONS = (
    "login",
    "login_failed",
    "locked_out",
    "logout",
    "unmask",
    "export",
    "user_created",
    "user_updated",
    "password_changed",
    "token_created",
    "model_promoted",
)


@dataclass(frozen=True)
class AuditFilter:
    """Filters of the audit browser; every field optional."""

    username: str | None = None
    action: str | None = None
    object_type: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def record(
    *,
    session: Session,
    action: str,
    user: User | None = None,
    username: str | None = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one event to the audit log (flushes; the caller commits)."""
    event = AuditEvent(
        at=utcnow(),
        user_id=user.id if user else None,
        username=(user.username if user else username) or "",
        role=user.role if user else "",
        branch_id=user.branch_id if user else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:128],
        detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
        ip=ip,
    )
    session.add(event)
    session.flush()
    return event


def _filtered(stmt, flt: AuditFilter):
    if flt.username:
        stmt = stmt.where(AuditEvent.username == flt.username)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.object_type:
        stmt = stmt.where(AuditEvent.object_type == flt.object_type)
    if flt.since:
        stmt = stmt.where(AuditEvent.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.at < flt.until)
    return stmt


def get_all(
    *, session: Session, flt: AuditFilter | None = None, limit: int = 100, offset: int = 0
) -> list[AuditEvent]:
    """Return audit events matching ``flt``, newest first."""
    stmt = _filtered(select(AuditEvent), flt or AuditFilter())
    stmt = stmt.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count(*, session: Session, flt: AuditFilter | None = None) -> int:
    """Return how many audit events match ``flt``."""
    stmt = _filtered(select(func.count(AuditEvent.id)), flt or AuditFilter())
    return int(session.scalar(stmt) or 0)
