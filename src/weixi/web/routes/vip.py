"""VIP and group pages: an account manager's book, the groups list and one group's view.

Branch-scoped (a branch user sees their branch only), personal data masked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi.auth.models import Role, User
from weixi.errors import NotFoundError
from weixi.security.masking import mask_records
from weixi.vip import books, campaign, groups, programme
from weixi.vip.params import load_params
from weixi.web.deps import AnalyticsDep, DbDep, render, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)

#: English msgids of the alert reasons and grades (vip.po has the Chinese).
LABELS = {
    "alert_labels": {
        "members": "Members leaving together",
        "key_persons": "Key persons leaving",
        "members_and_key_persons": "Members and key persons leaving",
    },
    "grade_labels": {"A": "Class A", "B": "Class B", "C": "Class C", "none": "No class"},
}


@router.get("/book", response_class=HTMLResponse)
def my_book(
    request: Request,
    con: AnalyticsDep,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["book"]))],
    staff: str = "",
) -> HTMLResponse:
    # an account manager sees their own book; managers pick one of their branch's
    staff_id = user.staff_id if Role(user.role) == Role.account_manager else staff
    month = books.latest_month(con) if con is not None else None
    book = {"vip": [], "group": []}
    warn, grp, tasks, choices = [], [], [], []
    if month is not None:
        choices = [
            s
            for s in con.execute(
                "SELECT staff_id, branch_id FROM staff WHERE channel = 'account_manager' "
                "ORDER BY branch_id, staff_id"
            ).fetchall()
            if user.scope_branch in (None, s[1])
        ]
        if staff_id and any(s[0] == staff_id for s in choices):
            book = books.book_of(con, month, staff_id)
            gm = groups.latest_month(con)
            grp = groups.get_all(con, gm, staff_id=staff_id) if gm else []
            tasks = books.open_tasks(session=db, staff_id=staff_id)
        else:
            staff_id = staff_id if staff_id else ""
    vip = mask_records(book["vip"])
    warn = [r for r in vip if (r.get("p_churn") or 0) >= 0.3]
    return render(
        request,
        "vip/book.html",
        {
            "page_title": "My book",
            "month": month,
            "staff_id": staff_id,
            "choices": [c[0] for c in choices],
            "vip": vip,
            "warn": warn,
            "groups": grp,
            "alerts": [g for g in grp if g["alert"]],
            "tasks": tasks,
            "has_store": con is not None,
            **LABELS,
        },
        user=user,
    )


@router.get("/groups", response_class=HTMLResponse)
def groups_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["groups"]))],
) -> HTMLResponse:
    month = groups.latest_month(con) if con is not None else None
    summary = rows = camp = None
    if month is not None:
        summary = groups.summary(con, month, branch=user.scope_branch)
        rows = groups.get_all(con, month, branch=user.scope_branch)
        key = campaign.latest(con)
        if key is not None:  # the latest group campaign, treated vs. control, of this scope
            camp = campaign.evaluate(con, key, branch=user.scope_branch)
    return render(
        request,
        "vip/groups.html",
        {
            "page_title": "Enterprise groups",
            "month": month,
            "s": summary,
            "rows": rows or [],
            "camp": camp,
            **LABELS,
        },
        user=user,
    )


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_detail(
    request: Request,
    group_id: str,
    con: AnalyticsDep,
    db: DbDep,
    user: Annotated[User, Depends(require_role(*ACCESS["groups"]))],
) -> HTMLResponse:
    month = groups.latest_month(con) if con is not None else None
    found = (
        [
            r
            for r in groups.get_all(con, month, branch=user.scope_branch)
            if r["group_id"] == group_id
        ]
        if month
        else []
    )
    if not found:  # outside the user's branch looks like missing (no existence leak)
        raise NotFoundError("group {group_id} not found", group_id=group_id)
    members = mask_records(groups.members(con, month, group_id))
    camp = campaign.group_state(con, group_id, session=db)
    return render(
        request,
        "vip/group.html",
        {
            "page_title": "Enterprise group detail",
            "month": month,
            "g": found[0],
            "members": members,
            "key_persons": [m for m in members if m["key_role"]],
            "camp": camp,
            "camp_reasons": {
                k: (v.en, v.zh) for k, v in load_params().group_campaign.reasons.items()
            },
            "camp_outcomes": campaign.OUTCOME_TEXT,
            **LABELS,
        },
        user=user,
    )


def dashboard_kpis(con, branch: str | None) -> dict | None:
    """Group and VIP KPIs for the dashboard (None before `weixi groups kpis` ran)."""
    month = groups.latest_month(con) if con is not None else None
    if month is None:
        return None
    out = groups.summary(con, month, branch=branch)["total"]
    out["month"] = month
    try:
        out["vip_warning"] = len(
            programme.churn_warning(con, month, branch=branch, limit=1_000_000, min_p=0.3)
        )
    except NotFoundError:
        out["vip_warning"] = None
    return out
