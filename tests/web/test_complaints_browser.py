"""One complaint followed through every state in a real browser (Debian chromium), then seen on
the customer 360, in the 360 API, in the audit log and in the churn model's features; the
complaint, 360 and churn-analysis pages are screenshotted in English and Chinese."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import select

from tests.web.test_browser import Session, browser, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

STEPS = ("classified", "investigated", "handled", "answered", "archived")


def test_a_complaint_through_every_state_on_the_360_and_in_the_churn_features(
    server,  # noqa: F811
    browser,  # noqa: F811
    sid,
    tmp_path,
):
    bm = Session(browser, server, "u_branch_manager")
    page = bm.go("/complaints")
    page.fill("#n-sid", sid)
    page.fill("#n-sum", "信号差，回电 13812345678")
    page.click("#new-complaint button[type=submit]")
    page.wait_for_url(lambda u: "/complaints/" in u)
    cid = int(page.url.rsplit("/", 1)[1])
    assert page.inner_text("#c-status") == "Received"
    # the branch manager calls the customer back: the summary in clear (audited)
    assert "13812345678" in page.inner_text(".props")
    bm.shot("complaint-received", "en")
    for status in STEPS:
        if status == "classified":
            page.select_option("#a-cat", "technical")
            page.fill("#a-owner", "u_branch_manager")
        if status == "answered":
            page.check("input[name=churn_reason]")
        page.fill("#a-note", f"step {status}")
        page.click("#advance-btn")
        page.wait_for_selector(f"#c-status:has-text('{status.capitalize()}')")
    assert [
        c.strip() for c in page.locator("#steps tbody tr td:nth-child(3)").all_inner_texts()
    ] == [
        "Received",
        *(s.capitalize() for s in STEPS),
    ]
    assert "Archived: nothing left to do." in page.inner_text("body")
    bm.shot("complaint-archived", "en")
    bm.lang("zh-CN")
    assert "已归档" in page.inner_text("#c-status")
    bm.shot("complaint-archived", "zh-CN")
    bm.lang("en")

    # the list masks the phone number in the summary
    page = bm.go("/complaints")
    assert "138****5678" in page.inner_text("#complaints") and "13812345678" not in page.content()
    bm.shot("complaints", "en")

    # the customer 360 shows it (planner: province-wide, masked)
    planner = Session(browser, server, "u_planner")
    page = planner.go(f"/customers/{sid}")
    box = page.inner_text("#complaints")
    assert str(cid) in box and "Archived" in box and "Technical" in box
    assert "13812345678" not in page.content()
    assert page.locator("#vip-group").count() == 1
    planner.shot("customer-360-complaints", "en")
    planner.lang("zh-CN")
    planner.go(f"/customers/{sid}")
    assert "技术" in planner.page.inner_text("#complaints")
    planner.shot("customer-360-complaints", "zh-CN")
    planner.lang("en")
    api = planner.page.request.get(f"{server}/api/v1/customers/{sid}/360").json()
    assert [c["id"] for c in api["complaints"]] == [cid]
    assert api["complaint_summary"]["count"] == 1 and api["complaint_summary"]["open"] == 0
    assert set(api) >= {"profile", "segments", "scores", "campaigns", "vip", "group"}

    page = planner.go("/churn/analysis")
    assert page.locator("#by-branch [data-chart]").count() == 1
    planner.shot("churn-analysis", "en")
    planner.lang("zh-CN")
    planner.go("/churn/analysis")
    planner.shot("churn-analysis", "zh-CN")
    planner.lang("en")

    # every step is in the audit log
    from weixi.auth.models import AuditEvent
    from weixi.store.db import session_scope

    db_url = f"sqlite:///{server.store.parent / 'weixi.sqlite'}"
    with session_scope(db_url) as s:
        actions = s.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "complaint", AuditEvent.object_id == str(cid)
            )
        ).all()
        assert [a for a in actions if a.startswith("complaint_")] == [
            "complaint_received",
            *(f"complaint_{s}" for s in STEPS),
        ]
        # ... and in the churn features of the month it was filed in, once that month is loaded
        from weixi.churn import features as F
        from weixi.complaints import service
        from weixi.store.analytics import connect

        store = tmp_path / "copy.duckdb"
        shutil.copy(server.store, store)
        con = connect(store)
        today = dt.date.today().replace(day=1)
        con.execute(
            "INSERT INTO snapshot SELECT * REPLACE (CAST(? AS DATE) AS month) FROM snapshot "
            "WHERE subscriber_id = ? AND month = (SELECT max(month) FROM snapshot)",
            [today, sid],
        )
        assert service.sync_analytics(session=s, con=con) == 1
        df = F.load_features(con, [today], with_complaints=True).set_index("subscriber_id")
        con.close()
    row = df.loc[sid]
    assert row.cmp_count_6m == 1 and row.cmp_open == 0 and row.cmp_last_category == "technical"
    bm.close()
    planner.close()
