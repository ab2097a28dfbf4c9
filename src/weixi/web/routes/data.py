"""Data: import runs with their reconciliation, loaded months, and the quarantine browser."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from weixi.auth.models import User
from weixi.ingest import service as ingest_service
from weixi.security.masking import mask_raw_row, mask_value
from weixi.web import readmodels
from weixi.web.deps import AnalyticsDep, render, require_role, wants_fragment
from weixi.web.nav import ACCESS

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/data", response_class=HTMLResponse)
def data_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["data"]))],
) -> HTMLResponse:
    runs = ingest_service.get_runs(con=con) if con is not None else []
    return render(
        request,
        "data.html",
        {
            "page_title": "Data",
            "has_store": con is not None,
            "runs": runs,
            "counts": readmodels.snapshot_counts(con, user.scope_branch),
        },
        user=user,
    )


@router.get("/data/quarantine", response_class=HTMLResponse)
def quarantine_page(
    request: Request,
    con: AnalyticsDep,
    user: Annotated[User, Depends(require_role(*ACCESS["data"]))],
    run_id: str | None = None,
    reason: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    """One run's quarantined values (personal data masked), by reason, a page at a time."""
    runs = ingest_service.get_runs(con=con) if con is not None else []
    run = next((r for r in runs if r.run_id == run_id), None)
    if run is None:
        run = next((r for r in runs if r.quarantined), runs[0] if runs else None)
    page = max(page, 1)
    rows, total = [], 0
    if run is not None:
        total = ingest_service.count_quarantine(con=con, run_id=run.run_id, reason=reason or None)
        found = ingest_service.get_quarantine(
            con=con,
            run_id=run.run_id,
            reason=reason or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        for q in found:
            r = q.model_dump()
            r["raw_value"] = mask_value(q.column_name or "", q.raw_value)
            r["raw_row"] = mask_raw_row(q.raw_row)
            rows.append(r)
    template = "partials/_quarantine.html" if wants_fragment(request) else "quarantine.html"
    return render(
        request,
        template,
        {
            "page_title": "Quarantine",
            "runs": runs,
            "run": run,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "reason": reason or "",
        },
        user=user,
    )
