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


def test_customer_360_api_returns_every_section(clients, sid, store_path):
    """One call, every section: masked profile, each month's history, segment history, scores
    with the latest month's reasons (stored or computed on demand), VIP, group, campaigns,
    complaints and their summary; the same line outside a branch user's branch is a 404."""
    import duckdb

    con = duckdb.connect(str(store_path), read_only=True)
    try:
        months = [
            r[0].isoformat()[:7]
            for r in con.execute(
                "SELECT month FROM snapshot WHERE subscriber_id = ? ORDER BY month", [sid]
            ).fetchall()
        ]
        raw_phone = con.execute(
            "SELECT phone FROM snapshot WHERE subscriber_id = ? ORDER BY month DESC LIMIT 1", [sid]
        ).fetchone()[0]
    finally:
        con.close()
    r = clients["planner"].get(f"/api/v1/customers/{sid}/360")
    assert r.status_code == 200, r.text
    v = r.json()
    assert set(v) == {
        "subscriber_id",
        "profile",
        "history",
        "segments",
        "scores",
        "vip",
        "group",
        "campaigns",
        "complaints",
        "complaint_summary",
    }
    assert v["subscriber_id"] == sid and v["profile"]["subscriber_id"] == sid
    assert v["profile"]["month"] == months[-1] and raw_phone not in str(v)
    assert [h["month"] for h in v["history"]] == months
    assert set(v["history"][0]) == {
        "month",
        "status",
        "arpu",
        "voice_minutes",
        "data_mb",
        "package_name",
    }
    assert v["segments"] and v["segments"][-1]["code"]
    assert v["scores"] and 0 <= v["scores"][-1]["p_churn"] <= 1
    assert v["scores"][-1]["reasons"] and "code" in v["scores"][-1]["reasons"][0]
    assert set(v["vip"]) == {"vip_level", "vip_tier"}
    assert isinstance(v["campaigns"], list) and isinstance(v["complaints"], list)
    assert {"count", "open", "overdue"} <= set(v["complaint_summary"])
    # the branch scope: a manager of another branch does not learn the line exists
    assert clients["other_bm"].get(f"/api/v1/customers/{sid}/360").status_code == 404
