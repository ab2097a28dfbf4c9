"""Event triggers: the rules in force and their recent firings and suppressions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi.auth.models import User
from weixi.ingest.events import EVENT_TYPES
from weixi.triggers import service as trigger_service
from weixi.triggers.rules import load_triggers
from weixi.web.deps import AnalyticsDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)


@router.get("/triggers", response_class=HTMLResponse)
def triggers_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["triggers"]))],
    days: int = 7,
) -> HTMLResponse:
    """The trigger rules (the shipped or configured preset) and the last days' firings."""
    loc = request_locale(request, user)
    zh = loc.startswith("zh")
    ts = load_triggers()
    recent = (
        trigger_service.recent_firings(
            con=con, days=max(1, min(days, 31)), limit=50, branch=user.scope_branch
        )
        if con is not None
        else {"summary": [], "rows": []}
    )
    events = {k: (z if zh else e) for k, (e, z) in EVENT_TYPES.items()}
    reasons = {k: (z if zh else e) for k, (e, z) in trigger_service.SUPPRESSION_TEXT.items()}
    return render(
        request,
        "triggers.html",
        {
            "page_title": "Event triggers",
            "ts": ts,
            "rule_labels": {r.key: r.label.get(loc) for r in ts.rules},
            "events": events,
            "reasons": reasons,
            # only the reasons that occurred (keeps the table readable)
            "reason_keys": [
                k
                for k in trigger_service.SUPPRESSION_ORDER
                if any(row[k] for row in recent["summary"])
            ],
            "recent": recent,
        },
        user=user,
    )
