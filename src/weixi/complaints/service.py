"""Complaint workflow: receive, move one step at a time, escalate overdue ones, list, export.

Every step is written to the complaint's own history (``complaint_steps``) and to the audit
log (:func:`weixi.security.audit.record`). Services flush; the route, command or job commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from weixi.auth.models import User
from weixi.complaints.models import (
    CATEGORIES,
    CHANNELS,
    CLOSED,
    FLOW,
    Complaint,
    ComplaintStatus,
    ComplaintStep,
)
from weixi.errors import IngestError, NotFoundError, WeixiError
from weixi.security import audit

#: Days to answer a complaint (the default deadline from reception).
DEFAULT_DEADLINE_DAYS = 3
#: Columns of a complaint file (CSV or Excel); category, received_at and owner are optional.
FILE_COLUMNS = ("subscriber_id", "summary")
#: Event type handed to the trigger engine for a complaint filed (``events`` table).
EVENT_TYPE = "complaint_filed"


class ComplaintError(WeixiError, ValueError):
    """A complaint step is not allowed (wrong order, unknown category, missing owner)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _who(user: User | None) -> str:
    return user.username if user else "system"


def _audit(session: Session, action: str, c: Complaint, user: User | None, **detail: Any) -> None:
    audit.record(
        session=session,
        action=action,
        user=user,
        username=None if user else "system",
        object_type="complaint",
        object_id=str(c.id),
        # no subscriber id in the detail: the append-only log cannot be erased under PIPL; the
        # complaint row (whose ids erasure pseudonymizes) links the event to the customer
        detail={"status": c.status, **detail},
    )


def create(
    *,
    session: Session,
    subscriber_id: str,
    summary: str,
    branch_id: str | None = None,
    customer_id: str | None = None,
    channel: str = "web",
    category: str | None = None,
    owner: str | None = None,
    received_at: dt.datetime | None = None,
    deadline_days: int = DEFAULT_DEADLINE_DAYS,
    user: User | None = None,
) -> Complaint:
    """Receive a complaint (status ``received``; classified at once when a category is given)."""
    if channel not in CHANNELS:
        raise ComplaintError("unknown channel {channel}", channel=channel)
    if category is not None and category not in CATEGORIES:
        raise ComplaintError("unknown category {category}", category=category)
    if not str(subscriber_id).strip():
        raise ComplaintError("a complaint needs the subscriber id")
    at = received_at or _now()
    c = Complaint(
        subscriber_id=str(subscriber_id).strip(),
        customer_id=customer_id,
        branch_id=branch_id,
        channel=channel,
        summary=summary or "",
        status=ComplaintStatus.received.value,
        owner=owner,
        received_at=at,
        deadline=at + dt.timedelta(days=deadline_days),
        created_by=_who(user),
    )
    session.add(c)
    session.flush()
    c.steps.append(ComplaintStep(to_status=c.status, by=_who(user), note=f"channel: {channel}"))
    _audit(session, "complaint_received", c, user, channel=channel)
    if category is not None:
        advance(session=session, complaint=c, to_status="classified", category=category, user=user)
    session.flush()
    return c


def advance(
    *,
    session: Session,
    complaint: Complaint,
    to_status: str,
    user: User | None = None,
    category: str | None = None,
    owner: str | None = None,
    note: str = "",
    churn_reason: bool | None = None,
) -> Complaint:
    """Move a complaint one step forward; classifying needs a category (audited)."""
    if to_status not in FLOW:
        raise ComplaintError("unknown status {status}", status=to_status)
    if complaint.next_status != to_status:
        raise ComplaintError(
            "complaint {id} is {status}: the next step is {next}, not {to}",
            id=complaint.id,
            status=complaint.status,
            next=complaint.next_status or "none",
            to=to_status,
        )
    if category is not None and category not in CATEGORIES:
        raise ComplaintError("unknown category {category}", category=category)
    if to_status == ComplaintStatus.classified.value and not (category or complaint.category):
        raise ComplaintError("classifying a complaint needs a category")
    if category:
        complaint.category = category
    if owner:
        complaint.owner = owner
    if churn_reason is not None:
        complaint.churn_reason = churn_reason
    now = _now()
    if to_status == ComplaintStatus.answered.value:
        complaint.answered_at = now
    if to_status == ComplaintStatus.archived.value:
        complaint.archived_at = now
    prev = complaint.status
    complaint.status = to_status
    complaint.steps.append(
        ComplaintStep(from_status=prev, to_status=to_status, by=_who(user), note=note or "", at=now)
    )
    session.flush()
    _audit(
        session,
        f"complaint_{to_status}",
        complaint,
        user,
        category=complaint.category,
        owner=complaint.owner,
    )
    return complaint


def get(*, session: Session, complaint_id: int, branch: str | None = None) -> Complaint | None:
    """One complaint within ``branch`` (None for a province-wide user); None outside it."""
    c = session.get(Complaint, complaint_id)
    if c is None or (branch is not None and c.branch_id != branch):
        return None
    return c


def get_or_raise(*, session: Session, complaint_id: int, branch: str | None = None) -> Complaint:
    """:func:`get`, raising NotFoundError when missing or outside the branch."""
    c = get(session=session, complaint_id=complaint_id, branch=branch)
    if c is None:
        raise NotFoundError("complaint {id} not found", id=complaint_id)
    return c


def get_all(
    *,
    session: Session,
    branch: str | None = None,
    status: str | None = None,
    subscriber_id: str | None = None,
    overdue: bool = False,
    limit: int = 500,
    now: dt.datetime | None = None,
) -> list[Complaint]:
    """Complaints within ``branch``, newest first, filtered by status, subscriber or overdue."""
    q = select(Complaint)
    if branch is not None:
        q = q.where(Complaint.branch_id == branch)
    if status == "open":
        q = q.where(Complaint.status.not_in(CLOSED))
    elif status:
        q = q.where(Complaint.status == status)
    if subscriber_id:
        q = q.where(Complaint.subscriber_id == subscriber_id)
    if overdue:
        q = q.where(Complaint.status.not_in(CLOSED), Complaint.deadline < (now or _now()))
    return list(session.scalars(q.order_by(Complaint.id.desc()).limit(limit)).all())


def escalate_overdue(*, session: Session, now: dt.datetime | None = None) -> list[Complaint]:
    """Escalate every open complaint past its deadline (one level per overdue day, audited).

    A complaint is escalated again only when a further day has passed since its last
    escalation, so the job can run as often as wanted.
    """
    now = now or _now()
    due = session.scalars(
        select(Complaint).where(Complaint.status.not_in(CLOSED), Complaint.deadline < now)
    ).all()
    out = []
    for c in due:  # overdue complaints are a handful a day, not subscribers
        level = 1 + int((now - c.deadline) / dt.timedelta(days=1))
        if level <= c.escalation_level:
            continue
        c.escalation_level = level
        c.escalated_at = now
        c.steps.append(
            ComplaintStep(
                from_status=c.status,
                to_status="escalated",
                by="system",
                note=f"overdue since {c.deadline:%Y-%m-%d %H:%M}; level {level}",
                at=now,
            )
        )
        session.flush()
        _audit(session, "complaint_escalated", c, None, level=level)
        out.append(c)
    return out


def read_file(path: Path) -> pd.DataFrame:
    """Read a complaint file (CSV, UTF-8 or GBK, or Excel) into a frame of strings."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            df = pd.read_excel(path, dtype=str)
        else:
            try:
                df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            except UnicodeDecodeError:
                df = pd.read_csv(path, dtype=str, encoding="gbk")
    except (OSError, ValueError) as exc:
        raise IngestError(
            "cannot read complaint file {path}: {error}", path=path, error=str(exc)
        ) from exc
    missing = [c for c in FILE_COLUMNS if c not in df.columns]
    if missing:
        raise IngestError(
            "complaint file {path} lacks column(s) {missing}; "
            "expected {expected} (+ category, received_at, owner)",
            path=path,
            missing=", ".join(missing),
            expected=", ".join(FILE_COLUMNS),
        )
    return df.fillna("")


def import_frame(
    *,
    session: Session,
    df: pd.DataFrame,
    lines: Mapping[str, Mapping[str, Any]],
    user: User | None = None,
) -> dict[str, Any]:
    """Receive the complaints of a file frame; rows of unknown lines or categories are rejected.

    ``lines`` maps subscriber id to its branch and customer id (from the snapshot).
    """
    loaded, rejected = [], []
    for i, row in enumerate(df.to_dict("records"), start=2):  # one complaint per file row
        sid = str(row.get("subscriber_id", "")).strip()
        cat = str(row.get("category", "") or "").strip() or None
        line = lines.get(sid)
        if line is None:
            rejected.append({"row": i, "subscriber_id": sid, "reason": "unknown subscriber"})
            continue
        if cat is not None and cat not in CATEGORIES:
            rejected.append({"row": i, "subscriber_id": sid, "reason": f"unknown category {cat}"})
            continue
        at = str(row.get("received_at", "") or "").strip()
        c = create(
            session=session,
            subscriber_id=sid,
            summary=str(row.get("summary", "")),
            branch_id=line.get("branch_id"),
            customer_id=line.get("customer_id"),
            channel="file",
            category=cat,
            owner=str(row.get("owner", "") or "").strip() or None,
            received_at=pd.Timestamp(at).to_pydatetime() if at else None,
            user=user,
        )
        loaded.append(c.id)
    return {"read": len(df), "loaded": len(loaded), "rejected": rejected, "ids": loaded}


def frame(*, session: Session, until: dt.datetime | None = None) -> pd.DataFrame:
    """Every complaint received up to ``until`` as a frame (the analytics copy and features)."""
    cols = [
        Complaint.id,
        Complaint.subscriber_id,
        Complaint.customer_id,
        Complaint.branch_id,
        Complaint.category,
        Complaint.status,
        Complaint.received_at,
        Complaint.deadline,
        Complaint.answered_at,
        Complaint.escalation_level,
        Complaint.churn_reason,
    ]
    q = select(*cols)
    if until is not None:
        q = q.where(Complaint.received_at <= until)
    rows = session.execute(q.order_by(Complaint.id)).all()
    df = pd.DataFrame(rows, columns=[c.key for c in cols])
    for c in ("received_at", "deadline", "answered_at"):
        df[c] = pd.to_datetime(df[c])
    return df


def complaint_events(
    *, session: Session, since: dt.date | None = None, until: dt.date | None = None
) -> pd.DataFrame:
    """Complaints filed as trigger events: ``event_date, customer_id, event_type, attributes``.

    ``customer_id`` is the subscriber id (the line the trigger acts on); ``attributes`` is a
    JSON text with the complaint id, category, branch and channel.
    """
    q = select(
        Complaint.id,
        Complaint.subscriber_id,
        Complaint.category,
        Complaint.branch_id,
        Complaint.channel,
        Complaint.received_at,
    )
    if since is not None:
        q = q.where(Complaint.received_at >= dt.datetime.combine(since, dt.time()))
    if until is not None:
        q = q.where(Complaint.received_at < dt.datetime.combine(until, dt.time()) + dt.timedelta(1))
    rows = session.execute(q.order_by(Complaint.id)).all()
    return pd.DataFrame(
        {
            "event_date": [r.received_at.date() for r in rows],
            "customer_id": [r.subscriber_id for r in rows],
            "event_type": [EVENT_TYPE] * len(rows),
            "attributes": [
                json.dumps(
                    {
                        "complaint_id": r.id,
                        "category": r.category,
                        "branch_id": r.branch_id,
                        "channel": r.channel,
                    }
                )
                for r in rows
            ],
        },
        columns=["event_date", "customer_id", "event_type", "attributes"],
    )


def summary(complaints: list[Complaint], now: dt.datetime | None = None) -> dict[str, Any]:
    """Counts of a customer's complaints: total, open, overdue, by category, days since last."""
    now = now or _now()
    by_cat: dict[str, int] = {}
    for c in complaints:
        by_cat[c.category or "unclassified"] = by_cat.get(c.category or "unclassified", 0) + 1
    last = max((c.received_at for c in complaints), default=None)
    return {
        "count": len(complaints),
        "open": sum(c.is_open for c in complaints),
        "overdue": sum(c.overdue(now) for c in complaints),
        "by_category": by_cat,
        "days_since_last": (now - last).days if last else None,
    }


def sync_analytics(*, session: Session, con: Any) -> int:
    """Copy the complaint history into the analytics store (``complaint_log``, replaced whole in
    one transaction) for the churn features (:func:`weixi.churn.features.complaint_sql`);
    returns the number of complaints."""
    from weixi.churn.features import COMPLAINT_TABLE

    df = frame(session=session)
    df["churn_reason"] = df["churn_reason"].astype(bool)
    con.register("_complaint_frame", df)
    try:
        con.execute("BEGIN")
        con.execute(f"DELETE FROM {COMPLAINT_TABLE}")
        con.execute(
            f"""INSERT INTO {COMPLAINT_TABLE} BY NAME
                SELECT CAST(id AS BIGINT) AS id, CAST(subscriber_id AS VARCHAR) AS subscriber_id,
                       CAST(customer_id AS VARCHAR) AS customer_id,
                       CAST(branch_id AS VARCHAR) AS branch_id,
                       CAST(category AS VARCHAR) AS category, CAST(status AS VARCHAR) AS status,
                       CAST(received_at AS TIMESTAMP) AS received_at,
                       CAST(deadline AS TIMESTAMP) AS deadline,
                       CAST(answered_at AS TIMESTAMP) AS answered_at,
                       CAST(escalation_level AS INTEGER) AS escalation_level,
                       CAST(churn_reason AS BOOLEAN) AS churn_reason
                FROM _complaint_frame"""
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_complaint_frame")
    return len(df)
