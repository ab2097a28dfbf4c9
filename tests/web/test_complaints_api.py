"""The complaints API: receive, advance in order only, branch scope, masking; the 360 call."""

from __future__ import annotations

from tests.web.conftest import csrf_of


def _post(client, path, body):
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf_of(client)})


def test_complaint_api_in_order_scoped_and_masked(clients, sid):
    bm = clients["branch_manager"]
    r = _post(bm, "/api/v1/complaints", {"subscriber_id": sid, "summary": "call 13900001111"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "received" and c["channel"] == "api" and c["branch_id"] == "HZ"
    assert c["summary"] == "call 139****1111" and c["received_at"].endswith("+00:00")
    bad = _post(bm, f"/api/v1/complaints/{c['id']}/advance", {"to_status": "handled"})
    assert bad.status_code == 400 and "next step is classified" in bad.text
    ok = _post(
        bm,
        f"/api/v1/complaints/{c['id']}/advance",
        {"to_status": "classified", "category": "price", "owner": "u_branch_manager"},
    )
    assert ok.json()["status"] == "classified" and ok.json()["category"] == "price"
    # another branch neither sees nor moves it
    other = clients["other_bm"]
    assert c["id"] not in [x["id"] for x in other.get("/api/v1/complaints").json()]
    moved = _post(other, f"/api/v1/complaints/{c['id']}/advance", {"to_status": "investigated"})
    assert moved.status_code == 404
    # an unknown line is refused; the analyst only reads
    assert _post(bm, "/api/v1/complaints", {"subscriber_id": "NOPE"}).status_code == 404
    assert (
        _post(clients["analyst"], "/api/v1/complaints", {"subscriber_id": sid}).status_code == 403
    )
    # the one-call 360 carries it
    v = clients["planner"].get(f"/api/v1/customers/{sid}/360").json()
    assert c["id"] in [x["id"] for x in v["complaints"]]
    assert v["complaint_summary"]["open"] >= 1 and "139****1111" in str(v["complaints"])
    assert "13900001111" not in str(v)


def test_only_the_churn_analysis_entry_is_active_on_its_page(clients):
    html = clients["planner"].get("/churn/analysis").text
    assert html.count('class="active"') == 1
    assert '<a href="/churn/analysis" class="active">' in html
