"""The loop over HTTP (no browser): plan → preview → create → approve → assign → outcomes by
the page and by the token API (idempotent) → monitoring counts them."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of, follow_job, job_id_of
from weixi.web.routes import work as work_routes

FORM = {
    "key": "flow-test",
    "name_en": "Flow test",
    "name_zh": "流程测试",
    "months": "1",
    "budget": "20000",
    "control_pct": "10",
    "seats_pct": "100",
    "agent_per_day": "85",
    "channels": ["call_center", "account_manager", "sms"],
}


def test_campaign_to_outcomes(clients, web_settings, store_path, monkeypatch):
    import duckdb

    con = duckdb.connect(str(store_path), read_only=True)
    month = con.execute("SELECT strftime(max(month), '%Y-%m') FROM segments").fetchone()[0]
    con.close()
    planner, manager, agent = clients["planner"], clients["branch_manager"], clients["agent"]
    form = {**FORM, "month": month, "csrf_token": csrf_of(planner)}
    started = planner.post("/campaigns/preview", data=form)
    assert started.status_code == 200 and 'hx-get="/jobs/' in started.text  # polls its job
    preview = follow_job(planner, started)
    assert preview.status_code == 200 and "Shadow prices" in preview.text
    created = planner.post("/campaigns", data=form)
    assert created.status_code == 303 and created.headers["location"].startswith("/jobs/")
    done = follow_job(planner, created)
    detail = done.headers["HX-Redirect"]  # htmx opens the campaign when the job is done
    page = planner.get(f"/jobs/{job_id_of(created)}")
    assert page.status_code == 303 and page.headers["location"] == detail
    assert "draft" in planner.get(detail).text.lower()
    assert agent.get("/queue").text.count('action="/queue/') == 0  # not approved yet
    ok = planner.post(
        f"{detail}/approve", data={"decision": "approve", "csrf_token": csrf_of(planner)}
    )
    assert ok.status_code == 303 and ok.headers["location"].startswith("/jobs/")
    assert follow_job(planner, ok).headers["HX-Redirect"] == detail
    assert "approved" in planner.get(detail).text.lower()
    moved = manager.post(
        "/dispatch/assign",
        data={
            "channel": "call_center",
            "to_staff": "HZCC0001",
            "count": "5",
            "csrf_token": csrf_of(manager),
        },
    )
    assert moved.status_code == 303
    queue = agent.get("/queue").text
    task_id = int(re.search(r'action="/queue/(\d+)/outcome"', queue).group(1))
    r = agent.post(
        f"/queue/{task_id}/outcome",
        data={"result": "refused", "csrf_token": csrf_of(agent, "/queue")},
    )
    assert r.status_code == 400  # a refusal needs its reason
    r = agent.post(
        f"/queue/{task_id}/outcome",
        data={
            "result": "refused",
            "refusal_reason": "price",
            "csrf_token": csrf_of(agent, "/queue"),
        },
    )
    assert r.status_code == 303 and f"/queue/{task_id}/" not in agent.get("/queue").text

    # the dialer posts the next one through the API with a token; a retry is idempotent
    from weixi.auth import service
    from weixi.store.db import session_scope

    with session_scope(web_settings.db_url) as s:
        token = service.create_api_token(
            session=s, user=service.get_by_username(session=s, username="u_agent"), name="dialer"
        )
    nxt = int(re.search(r'action="/queue/(\d+)/outcome"', agent.get("/queue").text).group(1))
    from fastapi.testclient import TestClient

    api = TestClient(agent.app, base_url="https://testserver")
    body = {"task_id": nxt, "result": "accepted"}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"dialer-{nxt}"}
    first = api.post("/api/v1/outcomes", json=body, headers=headers)
    again = api.post("/api/v1/outcomes", json=body, headers=headers)
    assert first.status_code == 200 and first.json()["source"] == "api"
    assert again.json()["id"] == first.json()["id"]
    bad = api.post(
        "/api/v1/outcomes",
        json={"task_id": nxt, "result": "maybe"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 400 and "unknown outcome" in bad.json()["detail"]
    other = clients["other_bm"].post(
        "/api/v1/outcomes", json=body, headers={"X-CSRF-Token": csrf_of(clients["other_bm"])}
    )
    assert other.status_code == 404  # another branch's task

    text = re.sub(r"<[^>]+>", " ", planner.get("/monitoring?by=staff").text)
    assert re.search(r"HZCC0001\s+\d+\s+2\s+2\s+1\s+1", text), text[:3000]

    # a tab (htmx) answers the table alone; a branch manager opens on their people
    frag = planner.get("/monitoring?by=channel", headers={"HX-Request": "true"}).text
    assert "<html" not in frag and "<table" in frag
    assert re.search(r'href="/monitoring\?by=channel"[^>]*aria-current="page"', frag)
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in planner.get("/monitoring?by=channel", headers=restore).text
    own = manager.get("/monitoring").text
    assert re.search(r'href="/monitoring\?by=staff"[^>]*aria-current="page"', own)
    # one group a page: the pages walk the priorities; past the end shows the last page
    monkeypatch.setattr(work_routes, "MONITORING_PAGE", 1)
    first = planner.get("/monitoring?by=priority").text
    whole = int(re.search(r"([\d,]+) groups</span>", first).group(1))
    assert whole > 1 and f"Page 1 / {whole}" in first and "Previous" not in first
    past = re.sub(r"<[^>]+>", " ", planner.get("/monitoring?by=priority&page=99").text)
    assert f"Page {whole} / {whole}" in past and "Previous" in past and "Next" not in past


def test_outcome_file_upload_accounts_for_every_row(clients, web_settings):
    import re as _re

    from sqlalchemy import select

    from tests.web.conftest import csrf_of as _csrf
    from weixi.dispatch.models import Task
    from weixi.store.db import session_scope

    manager = clients["branch_manager"]
    with session_scope(web_settings.db_url) as s:  # an open task of the agent, not on a screen
        task_id = s.scalar(
            select(Task.id)
            .where(Task.staff_id == "HZCC0001", Task.status == "open", Task.claimed_until.is_(None))
            .limit(1)
        )
    assert task_id, "the flow test leaves open tasks in the agent's queue"
    csv_text = (
        "task_id,result,refusal_reason,callback_at\n"
        f"{task_id},call_back,,2026-01-31 15:00\n"
        f"{task_id},maybe,,\n"
        "99999999,accepted,,\n"
        f"{task_id},refused,,\n"
    )
    files = {"file": ("dialer.csv", csv_text.encode(), "text/csv")}
    started = manager.post("/outcomes/upload", data={"csrf_token": _csrf(manager)}, files=files)
    first = follow_job(manager, started)
    text = _re.sub(r"<[^>]+>", " ", first.text)
    assert first.status_code == 200
    assert _re.search(r"Rows read\s+4", text) and _re.search(r"Recorded\s+1", text), text[:2000]
    assert "unknown outcome" in text and "task 99999999 not found" in text
    assert "a refusal needs refusal_reason" in text and "balanced" in text
    again = follow_job(
        manager,
        manager.post("/outcomes/upload", data={"csrf_token": _csrf(manager)}, files=files),
    )
    assert _re.search(r"Already recorded\s+1", _re.sub(r"<[^>]+>", " ", again.text))
    bad = manager.post(
        "/outcomes/upload",
        data={"csrf_token": _csrf(manager)},
        files={"file": ("x.csv", b"id,outcome\n1,accepted\n", "text/csv")},
    )
    failed = follow_job(manager, bad)
    assert 'data-job-status="failed"' in failed.text and "missing column" in failed.text


def test_pushed_fragments_restore_as_whole_pages(clients):
    """The pages whose htmx swaps push a URL (the audit log's and the quarantine's filters,
    monitoring's tabs) answer the fragment to a swap and the whole page to htmx restoring that
    URL from history after its cache missed."""
    swap = {"HX-Request": "true"}
    restore = {**swap, "HX-History-Restore-Request": "true"}
    for role, url in (
        ("admin", "/admin/audit?action=login"),
        ("planner", "/data/quarantine?page=1"),
        ("planner", "/monitoring?by=action"),
    ):
        client = clients[role]
        assert "<html" not in client.get(url, headers=swap).text, url
        page = client.get(url, headers=restore)
        assert page.status_code == 200 and "<html" in page.text, url
