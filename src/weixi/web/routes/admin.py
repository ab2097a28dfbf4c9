"""Administration: user accounts and the audit log browser (admins only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from weixi.auth import service as auth_service
from weixi.auth.models import ALL_ROLES, User
from weixi.errors import ConfigError, NotFoundError, localized
from weixi.security import audit
from weixi.web import exports
from weixi.web.deps import DbDep, render, request_locale, require_role, wants_fragment
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False, prefix="/admin")
AdminUser = Annotated[User, Depends(require_role(*ACCESS["admin"]))]
PAGE_SIZE = 50


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, db: DbDep, user: AdminUser, error: str | None = None, ok: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "admin/users.html",
        {
            "page_title": "Users",
            "users": auth_service.get_all(session=db),
            "roles": [r.value for r in ALL_ROLES],
            "error": error,
            "ok": ok,
            "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        },
        user=user,
    )


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    db: DbDep,
    user: AdminUser,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    branch_id: Annotated[str, Form()] = "",
    staff_id: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> Response:
    try:
        auth_service.create(
            session=db,
            username=username,
            password=password,
            role=role,
            branch_id=branch_id.strip() or None,
            staff_id=staff_id.strip() or None,
            display_name=display_name.strip(),
            actor=user,
        )
    except ConfigError as exc:
        db.rollback()
        return users_page(request, db, user, error=localized(exc, request_locale(request, user)))
    db.commit()
    return RedirectResponse("/admin/users?ok=created", status_code=303)


@router.post("/users/{user_id}", response_class=HTMLResponse)
def update_user(
    request: Request,
    user_id: int,
    db: DbDep,
    user: AdminUser,
    role: Annotated[str | None, Form()] = None,
    branch_id: Annotated[str | None, Form()] = None,
    active: Annotated[str | None, Form()] = None,
    unlock: Annotated[str | None, Form()] = None,
) -> Response:
    target = auth_service.get(session=db, user_id=user_id)
    if target is None:
        raise NotFoundError("user {user_id} not found", user_id=user_id)
    try:
        auth_service.update(
            session=db,
            user=target,
            actor=user,
            role=role,
            branch_id=branch_id,
            is_active=None if active is None else active == "1",
            unlock=bool(unlock),
        )
    except (ConfigError, ValueError) as exc:
        db.rollback()
        return users_page(request, db, user, error=localized(exc, request_locale(request, user)))
    db.commit()
    return RedirectResponse("/admin/users?ok=updated", status_code=303)


def _filter(
    username: str | None, action: str | None, since: str | None, until: str | None
) -> audit.AuditFilter:
    def day(text: str | None) -> dt.datetime | None:
        if not text:
            return None
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError("dates must look like YYYY-MM-DD, got {text!r}", text=text) from None

    until_dt = day(until)
    return audit.AuditFilter(
        username=username or None,
        action=action or None,
        since=day(since),
        until=until_dt + dt.timedelta(days=1) if until_dt else None,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    db: DbDep,
    user: AdminUser,
    username: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    flt = _filter(username, action, since, until)
    page = max(page, 1)
    total = audit.count(session=db, flt=flt)
    events = audit.get_all(session=db, flt=flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    ctx = {
        "page_title": "Audit log",
        "events": events,
        "total": total,
        "page": page,
        "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        "actions": audit.ACTIONS,
        "f": {
            "username": username or "",
            "action": action or "",
            "since": since or "",
            "until": until or "",
        },
    }
    template = "partials/_audit_rows.html" if wants_fragment(request) else "admin/audit.html"
    return render(request, template, ctx, user=user)


@router.get("/audit/export.csv")
def audit_export(
    request: Request,
    db: DbDep,
    user: AdminUser,
    username: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """The filtered audit log as CSV (the export itself is audited)."""
    flt = _filter(username, action, since, until)
    events = audit.get_all(session=db, flt=flt, limit=100_000)
    records = [
        {
            "at": e.at,
            "username": e.username,
            "role": e.role,
            "branch_id": e.branch_id,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "detail": e.detail,
            "ip": e.ip,
        }
        for e in events
    ]
    cols = [(k, k) for k in records[0]] if records else [("at", "at")]
    body = exports.to_csv(records, cols)
    audit.record(
        session=db,
        action="export",
        user=user,
        object_type="audit_log",
        detail={"format": "csv", "rows": len(records)},
        ip=request.client.host if request.client else None,
    )
    db.commit()
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="weixi-audit.csv"'},
    )
