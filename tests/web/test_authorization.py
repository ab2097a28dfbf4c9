"""Every route × every role: the expected status (200/303/403/404/422), generated from the app.

A new route fails ``test_every_route_is_in_the_table`` until it gets a row here, so no page or
API endpoint can ship without a decision on who may open it.
"""

from __future__ import annotations

import pytest

from weixi.auth.models import ALL_ROLES
from weixi.web.app import route_table

ROLES = [r.value for r in ALL_ROLES]
SID = "{sid}"  # replaced by a line of the test branch (fixture ``sid``)
A, P, BM, AM, AG, AN = ROLES


def allowed(*roles: str, ok: int = 200, deny: int = 403) -> dict[str, int]:
    return {r: (ok if r in roles else deny) for r in ROLES}


EVERYONE = allowed(*ROLES)

#: (method, path template) -> (concrete path, form data or None, {role: status})
TABLE: dict[tuple[str, str], tuple[str, dict | None, dict[str, int]]] = {
    ("GET", "/healthz"): ("/healthz", None, EVERYONE),
    ("GET", "/"): ("/", None, allowed(*ROLES, ok=303)),
    ("GET", "/login"): ("/login", None, allowed(*ROLES, ok=303)),  # logged in: go to next
    ("POST", "/login"): (
        "/login",
        {"username": "nobody", "password": "x"},
        allowed(*ROLES, ok=401),
    ),
    ("POST", "/logout"): ("/logout", "SKIP", {}),  # would end the shared session: own test
    ("POST", "/lang"): ("/lang", {"lang": "en"}, allowed(*ROLES, ok=303)),
    ("GET", "/dashboard"): ("/dashboard", None, EVERYONE),
    ("GET", "/data"): ("/data", None, allowed(A, P, AN)),
    ("GET", "/data/quarantine"): ("/data/quarantine", None, allowed(A, P, AN)),
    ("GET", "/segments"): ("/segments", None, allowed(P, BM, AN)),
    ("GET", "/churn"): ("/churn", None, allowed(P, BM, AN)),
    ("GET", "/churn/export.{fmt}"): ("/churn/export.csv", None, allowed(P, BM, AN, ok=303)),
    ("GET", "/customers"): ("/customers?q=S00", None, allowed(P, BM, AM, AN)),
    ("GET", "/customers/{subscriber_id}"): (
        f"/customers/{SID}",
        None,
        allowed(P, BM, AM, AN),
    ),
    ("POST", "/customers/{subscriber_id}/unmask"): (
        f"/customers/{SID}/unmask",
        {},
        # account managers: only their book; agents: only their queue (test_ownership.py)
        {**allowed(BM), AM: 404, AG: 404},
    ),
    ("GET", "/book"): ("/book", None, allowed(P, BM, AM)),
    ("GET", "/groups"): ("/groups", None, allowed(P, BM, AM, AN)),
    # no group KPIs in this store: every allowed role gets the same 404 (test_vip_pages.py)
    ("GET", "/groups/{group_id}"): ("/groups/G000000", None, allowed(P, BM, AM, AN, ok=404)),
    ("GET", "/admin/users"): ("/admin/users", None, allowed(A)),
    ("POST", "/admin/users"): ("/admin/users", {}, allowed(A, ok=422)),
    ("POST", "/admin/users/{user_id}"): ("/admin/users/999999", {}, allowed(A, ok=404)),
    ("GET", "/admin/audit"): ("/admin/audit", None, allowed(A)),
    ("GET", "/admin/audit/export.csv"): ("/admin/audit/export.csv", None, allowed(A)),
    ("GET", "/campaigns"): ("/campaigns", None, allowed(P)),
    ("POST", "/campaigns/preview"): ("/campaigns/preview", {}, allowed(P, ok=400)),
    ("POST", "/campaigns"): ("/campaigns", {}, allowed(P, ok=400)),
    ("GET", "/campaigns/{campaign_id}"): ("/campaigns/999999", None, allowed(P, ok=404)),
    ("POST", "/campaigns/{campaign_id}/approve"): (
        "/campaigns/999999/approve",
        {},
        allowed(P, ok=404),
    ),
    ("GET", "/dispatch"): ("/dispatch", None, allowed(P, BM)),
    ("POST", "/dispatch/assign"): ("/dispatch/assign", {}, allowed(BM, ok=422)),
    ("GET", "/queue"): ("/queue", None, allowed(AM, AG)),
    ("POST", "/queue/{task_id}/outcome"): (
        "/queue/999999/outcome",
        {"result": "accepted"},
        allowed(AM, AG, ok=404),
    ),
    ("GET", "/monitoring"): ("/monitoring", None, allowed(P, BM, AN)),
    ("GET", "/evaluation"): ("/evaluation", None, allowed(P, BM, AN)),
    ("GET", "/triggers"): ("/triggers", None, allowed(P, BM, AN)),
    ("POST", "/api/v1/outcomes"): ("/api/v1/outcomes", {}, allowed(P, BM, AM, AG, ok=422)),
    ("GET", "/strategy"): ("/strategy", None, allowed(P, BM, AN)),
    ("POST", "/strategy/offers/{offer_key}"): ("/strategy/offers/x", {}, allowed(P, ok=422)),
    ("GET", "/outcomes/upload"): ("/outcomes/upload", None, allowed(P, BM)),
    ("POST", "/outcomes/upload"): ("/outcomes/upload", {}, allowed(P, BM, ok=400)),
    ("GET", "/api/v1/openapi.json"): ("/api/v1/openapi.json", None, EVERYONE),
    ("GET", "/api/v1/me"): ("/api/v1/me", None, EVERYONE),
    ("GET", "/api/v1/dashboard"): ("/api/v1/dashboard", None, EVERYONE),
    ("GET", "/api/v1/segments/grid"): ("/api/v1/segments/grid", None, allowed(P, BM, AN)),
    ("GET", "/api/v1/churn/summary"): ("/api/v1/churn/summary", None, allowed(P, BM, AN)),
    ("GET", "/api/v1/churn/top-risk"): ("/api/v1/churn/top-risk", None, allowed(P, BM, AN)),
    ("GET", "/api/v1/customers/{subscriber_id}"): (
        f"/api/v1/customers/{SID}",
        None,
        allowed(P, BM, AM, AN),
    ),
    ("POST", "/api/v1/customers/{subscriber_id}/unmask"): (
        f"/api/v1/customers/{SID}/unmask",
        {},
        {**allowed(BM), AM: 404, AG: 404},  # as the page: book / queue only
    ),
    ("GET", "/api/v1/customers/{subscriber_id}/360"): (
        f"/api/v1/customers/{SID}/360",
        None,
        allowed(P, BM, AM, AN),
    ),
    ("GET", "/complaints"): ("/complaints", None, allowed(P, BM, AM, AG, AN)),
    ("POST", "/complaints"): ("/complaints", {}, allowed(P, BM, AM, AG, ok=422)),
    ("GET", "/complaints/{complaint_id}"): (
        "/complaints/999999",
        None,
        allowed(P, BM, AM, AG, AN, ok=404),
    ),
    ("POST", "/complaints/{complaint_id}/advance"): (
        "/complaints/999999/advance",
        {"to_status": "classified"},
        allowed(P, BM, AM, AG, ok=404),
    ),
    ("GET", "/api/v1/complaints"): ("/api/v1/complaints", None, allowed(P, BM, AM, AG, AN)),
    ("POST", "/api/v1/complaints"): ("/api/v1/complaints", {}, allowed(P, BM, AM, AG, ok=422)),
    ("POST", "/api/v1/complaints/{complaint_id}/advance"): (
        "/api/v1/complaints/999999/advance",
        {},
        allowed(P, BM, AM, AG, ok=422),
    ),
    ("GET", "/churn/analysis"): ("/churn/analysis", None, allowed(P, BM, AN)),
    ("GET", "/churn/analysis/export.xlsx"): (
        "/churn/analysis/export.xlsx",
        None,
        allowed(P, BM, AN),
    ),
    ("GET", "/churn/winback"): ("/churn/winback", None, allowed(P, BM, AN)),
    # an empty month is refused (400) before any job is queued
    ("POST", "/churn/winback/dispatch"): (
        "/churn/winback/dispatch",
        {"month": ""},
        allowed(P, ok=400),
    ),
    ("POST", "/api/v1/queue/next"): ("/api/v1/queue/next", {}, allowed(AM, AG)),
    ("GET", "/api/v1/import-runs"): ("/api/v1/import-runs", None, allowed(A, P, AN)),
    ("GET", "/api/v1/audit"): ("/api/v1/audit", None, allowed(A)),
    # a job is visible to the user who started it (and admins); own test in test_jobs.py
    ("GET", "/jobs/{job_id}"): ("/jobs/999999", None, allowed(*ROLES, ok=404, deny=404)),
    ("GET", "/jobs/{job_id}/download"): (
        "/jobs/999999/download",
        None,
        allowed(*ROLES, ok=404, deny=404),
    ),
    ("GET", "/api/v1/jobs/{job_id}"): (
        "/api/v1/jobs/999999",
        None,
        allowed(*ROLES, ok=404, deny=404),
    ),
}

#: Routes whose objects belong to a branch: a manager of another branch gets 404, not the data.
OTHER_BRANCH_404 = [
    f"/customers/{SID}",
    f"/api/v1/customers/{SID}",
    f"/api/v1/customers/{SID}/360",
]


def test_every_route_is_in_the_table(app):
    routes = {(m, p) for m, p in route_table(app) if not p.startswith("/static")}
    missing = sorted(routes - set(TABLE))
    stale = sorted(set(TABLE) - routes)
    assert not missing, f"add these routes to TABLE with their expected statuses: {missing}"
    assert not stale, f"these routes no longer exist: {stale}"


def _call(client, method: str, path: str, data, csrf: str):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={**(data or {}), "csrf_token": csrf})


@pytest.mark.parametrize("role", ROLES)
def test_route_role_table(clients, role, sid):
    from tests.web.conftest import csrf_of

    client = clients[role]
    csrf = csrf_of(client)
    wrong = []
    for (method, template), (path, data, expected) in sorted(TABLE.items()):
        if data == "SKIP":
            continue
        got = _call(client, method, path.format(sid=sid), data, csrf).status_code
        if got != expected[role]:
            wrong.append(f"{method} {template} as {role}: expected {expected[role]}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_anonymous_is_sent_to_login(app, sid):
    from fastapi.testclient import TestClient

    anon = TestClient(app, base_url="https://testserver", follow_redirects=False)
    public = {"/healthz", "/login", "/api/v1/openapi.json"}
    for (method, _template), (path, _data, _exp) in TABLE.items():
        if method != "GET" or path in public:
            continue
        path = path.format(sid=sid)
        resp = anon.get(path)
        if path.startswith("/api/"):
            assert resp.status_code == 401, path
        else:
            assert resp.status_code == 303 and resp.headers["location"].startswith("/login"), path


def test_other_branch_gets_404(clients, sid):
    for path in (p.format(sid=sid) for p in OTHER_BRANCH_404):
        assert clients["other_bm"].get(path).status_code == 404, path
        assert clients["branch_manager"].get(path).status_code == 200, path
