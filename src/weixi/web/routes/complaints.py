"""Complaints (客户投诉): the list, filing one, its page with the next step, and the JSON API.

A branch user sees the complaints of their branch only; the summary is masked (phone and ID
numbers in free text) except on the complaint's page for roles that contact customers, where
the clear view is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from weixi.auth.models import User
from weixi.complaints import service
from weixi.complaints.models import CATEGORIES, CATEGORY_LABELS, FLOW, Complaint
from weixi.errors import NotFoundError
from weixi.security import audit
from weixi.security.masking import mask_text
from weixi.web import readmodels
from weixi.web.customer360 import complaint_rows
from weixi.web.deps import MAX_INT, AnalyticsDep, DbDep, render, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["weixi"])

ComplaintId = Annotated[int, Path(ge=1, le=MAX_INT)]
ViewUser = Annotated[User, Depends(require_role(*ACCESS["complaints"]))]
EditUser = Annotated[User, Depends(require_role(*ACCESS["complaints_edit"]))]


def _line(con: Any, user: User, subscriber_id: str) -> dict[str, Any]:
    found = readmodels.profile(con, user.scope_branch, subscriber_id.strip()) if con else None
    if found is None:
        raise NotFoundError("customer {sid} not found", sid=subscriber_id)
    return found


def _receive(
    db, con, user: User, *, subscriber_id: str, summary: str, category: str | None, channel: str
) -> Complaint:
    line = _line(con, user, subscriber_id)
    return service.create(
        session=db,
        subscriber_id=line["subscriber_id"],
        customer_id=line.get("customer_id"),
        branch_id=line.get("branch_id"),
        summary=summary,
        category=category or None,
        channel=channel,
        user=user,
    )


@router.get("/complaints", response_class=HTMLResponse)
def complaint_list(
    request: Request, db: DbDep, user: ViewUser, status: str = "", overdue: bool = False
) -> HTMLResponse:
    items = service.get_all(
        session=db, branch=user.scope_branch, status=status or None, overdue=overdue
    )
    return render(
        request,
        "complaints/list.html",
        {
            "page_title": "Complaints",
            "rows": complaint_rows(items),
            "status": status,
            "overdue": overdue,
            "flow": FLOW,
            "categories": CATEGORIES,
            "cats": CATEGORY_LABELS,
            "can_edit": user.role in {r.value for r in ACCESS["complaints_edit"]},
        },
        user=user,
    )


@router.post("/complaints")
def complaint_file(
    db: DbDep,
    con: AnalyticsDep,
    user: EditUser,
    subscriber_id: Annotated[str, Form()],
    summary: Annotated[str, Form()],
    category: Annotated[str, Form()] = "",
) -> Response:
    c = _receive(
        db,
        con,
        user,
        subscriber_id=subscriber_id,
        summary=summary,
        category=category,
        channel="web",
    )
    db.commit()
    return RedirectResponse(f"/complaints/{c.id}", status_code=303)


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_detail(
    request: Request, complaint_id: ComplaintId, db: DbDep, user: ViewUser
) -> HTMLResponse:
    c = service.get_or_raise(session=db, complaint_id=complaint_id, branch=user.scope_branch)
    clear = user.can_unmask
    if clear:  # the complainant's words in clear, for the person who calls back: audited
        audit.record(
            session=db,
            action="unmask",
            user=user,
            object_type="complaint",
            object_id=str(c.id),
            detail={"fields": ["summary"], "page": "complaint"},
            ip=request.client.host if request.client else None,
        )
        db.commit()
    return render(
        request,
        "complaints/detail.html",
        {
            "page_title": "Complaint",
            "c": c,
            "summary_text": c.summary if clear else mask_text(c.summary),
            "overdue": c.overdue(),
            "flow": FLOW,
            "categories": CATEGORIES,
            "cats": CATEGORY_LABELS,
            "can_edit": user.role in {r.value for r in ACCESS["complaints_edit"]},
        },
        user=user,
    )


@router.post("/complaints/{complaint_id}/advance")
def complaint_advance(
    complaint_id: ComplaintId,
    db: DbDep,
    user: EditUser,
    to_status: Annotated[str, Form()],
    category: Annotated[str, Form()] = "",
    owner: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    churn_reason: Annotated[str, Form()] = "",
) -> Response:
    c = service.get_or_raise(session=db, complaint_id=complaint_id, branch=user.scope_branch)
    service.advance(
        session=db,
        complaint=c,
        to_status=to_status,
        user=user,
        category=category or None,
        owner=owner.strip() or None,
        note=note.strip(),
        churn_reason=True if churn_reason else None,
    )
    db.commit()
    return RedirectResponse(f"/complaints/{c.id}", status_code=303)


# --- JSON API -------------------------------------------------------------------------------


class ComplaintIn(BaseModel):
    subscriber_id: str = Field(min_length=1, max_length=64)
    summary: str = Field(default="", max_length=4000)
    category: str | None = None


class AdvanceIn(BaseModel):
    to_status: str
    category: str | None = None
    owner: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=4000)
    churn_reason: bool | None = None


def _utc(value: Any) -> Any:
    """A stored naive UTC time answered with its offset (RFC 3339), as the rest of the API."""
    return value.replace(tzinfo=dt.UTC).isoformat() if isinstance(value, dt.datetime) else value


def _out(c: Complaint) -> dict[str, Any]:
    row = {k: _utc(v) for k, v in complaint_rows([c])[0].items()}
    return {
        **row,
        "branch_id": c.branch_id,
        "steps": [
            {"at": _utc(s.at), "from": s.from_status, "to": s.to_status, "by": s.by}
            for s in c.steps
        ],
    }


@api_router.get("/complaints")
def api_complaints(
    db: DbDep,
    user: ViewUser,
    status: str | None = None,
    subscriber_id: str | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    """Complaints of the user's branch, newest first (summary masked)."""
    items = service.get_all(
        session=db,
        branch=user.scope_branch,
        status=status,
        subscriber_id=subscriber_id,
        overdue=overdue,
    )
    return [_out(c) for c in items]


@api_router.post("/complaints")
def api_complaint_file(
    body: ComplaintIn, db: DbDep, con: AnalyticsDep, user: EditUser
) -> dict[str, Any]:
    """Receive a complaint (classified at once when a category is given)."""
    c = _receive(
        db,
        con,
        user,
        subscriber_id=body.subscriber_id,
        summary=body.summary,
        category=body.category,
        channel="api",
    )
    db.commit()
    return _out(c)


@api_router.post("/complaints/{complaint_id}/advance")
def api_complaint_advance(
    complaint_id: ComplaintId, body: AdvanceIn, db: DbDep, user: EditUser
) -> dict[str, Any]:
    """Move a complaint to its next status (classified needs a category)."""
    c = service.get_or_raise(session=db, complaint_id=complaint_id, branch=user.scope_branch)
    service.advance(
        session=db,
        complaint=c,
        to_status=body.to_status,
        user=user,
        category=body.category,
        owner=body.owner,
        note=body.note,
        churn_reason=body.churn_reason,
    )
    db.commit()
    return _out(c)
