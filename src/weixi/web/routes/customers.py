"""Customer 360: search, profile, segment history, score and reasons, contacts and outcomes.

Personal data is masked; roles that contact customers can unmask one customer at a time
(``POST /customers/{id}/unmask``), and every unmask is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi.auth.models import User
from weixi.complaints.models import CATEGORY_LABELS
from weixi.errors import NotFoundError
from weixi.i18n import t
from weixi.security import access, audit
from weixi.security.masking import PII_COLUMNS, mask_id, mask_records
from weixi.web import charts, customer360, readmodels
from weixi.web.app_helpers import month_label
from weixi.web.deps import AnalyticsDep, DbDep, render, request_locale, require_role
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)

PROFILE_FIELDS = (
    "subscriber_id",
    "customer_id",
    "phone",
    "name",
    "id_number",
    "branch_id",
    "district",
    "line_type",
    "status",
    "activation_date",
    "package_name",
    "package_fee",
    "contract_type",
    "contract_end",
    "arpu",
    "voice_minutes",
    "data_mb",
    "handset_model",
    "vip_level",
    "credit_list",
    "do_not_disturb",
    "complaints",
)


@router.get("/customers", response_class=HTMLResponse)
def customer_search(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["customers"]))],
    q: str = "",
) -> HTMLResponse:
    results = mask_records(readmodels.search_customers(con, user.scope_branch, q)) if q else []
    return render(
        request,
        "customers/search.html",
        {"page_title": "Customer 360", "q": q, "results": results, "has_store": con is not None},
        user=user,
    )


@router.get("/customers/{subscriber_id}", response_class=HTMLResponse)
def customer_detail(
    request: Request,
    subscriber_id: str,
    db: DbDep,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["customers"]))],
) -> HTMLResponse:
    locale = request_locale(request, user)
    view = customer360.build(session=db, con=con, user=user, subscriber_id=subscriber_id)
    profile = view["profile"]
    for s in view["scores"]:
        s["reason_texts"] = [readmodels.describe_reason(r, locale) for r in s["reasons"]]
    hist = view["history"]
    x = [month_label(h["month"]) for h in hist]
    chart_usage = charts.trend(
        x,
        bars={t("ARPU", locale): [h["arpu"] for h in hist]},
        lines={t("Data (MB)", locale): [h["data_mb"] for h in hist]},
        lines_percent=False,
    )
    chart_score = (
        charts.trend(
            [month_label(s["month"]) for s in view["scores"]],
            lines={t("Churn probability", locale): [s["p_churn"] for s in view["scores"]]},
        )
        if view["scores"]
        else None
    )
    return render(
        request,
        "customers/detail.html",
        {
            "page_title": "Customer 360",
            "sid": subscriber_id,
            "profile": profile,
            "fields": [f for f in PROFILE_FIELDS if f in profile],
            "pii": PII_COLUMNS,
            "view": view,
            "tasks": view["tasks"],
            "cats": CATEGORY_LABELS,
            "chart_usage": chart_usage,
            "chart_score": chart_score,
            # the button only where the click is allowed: branch, book or queue
            "can_unmask": access.customer_in_scope(db, user, subscriber_id),
        },
        user=user,
    )


@router.post("/customers/{subscriber_id}/unmask", response_class=HTMLResponse)
def customer_unmask(
    request: Request,
    subscriber_id: str,
    db: DbDep,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["unmask"]))],
) -> HTMLResponse:
    """Show one customer's phone, name and ID number in clear (audited): managers within
    their branch, account managers within their book, agents within their queue."""
    access.require_customer(db, user, subscriber_id)
    found = readmodels.profile(con, user.scope_branch, subscriber_id)
    if found is None:
        raise NotFoundError("customer {sid} not found", sid=subscriber_id)
    clear = {k: found.get(k) for k in PII_COLUMNS}
    if user.role == "agent":  # an agent calls the customer: phone and name, never the ID number
        clear["id_number"] = mask_id(clear.get("id_number"))
    audit.record(
        session=db,
        action="unmask",
        user=user,
        object_type="customer",
        object_id=subscriber_id,
        detail={"fields": list(PII_COLUMNS), "page": "customer_360"},
        ip=request.client.host if request.client else None,
    )
    db.commit()
    return render(request, "partials/_pii.html", {"clear": clear, "sid": subscriber_id}, user=user)
