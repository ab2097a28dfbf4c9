"""The planner is told about loss-making forced A1 customers; agents read the list reason in
their language."""

from __future__ import annotations

import re

import duckdb

from tests.web.conftest import csrf_of, follow_job
from weixi.dispatch.models import Task
from weixi.dispatch.service import A1_NOTE_EN
from weixi.store.db import session_scope

FORM = {
    "name_en": "A1 warning test",
    "name_zh": "A1 警告测试",
    "months": "1",
    "budget": "",
    "control_pct": "10",
    "seats_pct": "100",
    "agent_per_day": "85",
    "channels": ["call_center", "account_manager", "sms"],
    "a1_option": "1",
}
WARNING_EN = "are on the lists only because"
WARNING_ZH = "仅因开启了“A1 客户全部出单”而进入清单"


def _month(store_path) -> str:
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        return con.execute("SELECT strftime(max(month), '%Y-%m') FROM segments").fetchone()[0]
    finally:
        con.close()


def _forced_negative(store_path, key: str) -> tuple[int, float]:
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        if not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'plan_assignments'"
        ).fetchone()[0]:
            return 0, 0.0
        n, value = con.execute(
            """SELECT count(*), COALESCE(sum(expected_value), 0) FROM plan_assignments
               WHERE campaign_id = ? AND NOT is_control AND expected_value < 0
                 AND forced_a1 AND contains(reason, ?)""",
            [key, A1_NOTE_EN],
        ).fetchall()[0]
    finally:
        con.close()
    return int(n), float(value)


def _set_lang(client, lang: str) -> None:
    client.post("/lang", data={"lang": lang, "csrf_token": csrf_of(client)})


def test_preview_and_campaign_page_warn_about_forced_negative_a1(clients, store_path, op_db):
    planner = clients["planner"]
    # the analytics store is shared by the SQLite and PostgreSQL runs: one campaign key each
    key = f"a1-warn-{op_db}"
    form = {**FORM, "key": key, "month": _month(store_path), "must_dispatch_a1": "1"}
    assert 'name="must_dispatch_a1" value="1" checked' in planner.get("/campaigns").text
    page = follow_job(
        planner, planner.post("/campaigns/preview", data={**form, "csrf_token": csrf_of(planner)})
    )
    assert page.status_code == 200
    # a preview stores nothing: the warning's figures are checked against the saved draft
    assert _forced_negative(store_path, key) == (0, 0.0)
    created = planner.post("/campaigns", data={**form, "csrf_token": csrf_of(planner)})
    assert created.status_code == 303
    follow_job(planner, created)
    n, value = _forced_negative(store_path, key)
    assert n > 0, "the test store should hold A1 customers worth less than their contact"
    assert WARNING_EN in page.text and 'id="a1-negative-ev"' in page.text
    assert re.search(rf"\b{n:,}\b A1 \(binding warning\) customers", page.text)
    assert f"¥{value:,.0f}" in page.text
    try:
        _set_lang(planner, "zh-CN")
        zh = follow_job(
            planner,
            planner.post("/campaigns/preview", data={**form, "csrf_token": csrf_of(planner)}),
        )
        assert WARNING_ZH in zh.text and "请复核这些客户，或关闭该选项" in zh.text
        # the saved campaign's page keeps the warning
        created = planner.post("/campaigns", data={**form, "csrf_token": csrf_of(planner)})
        assert created.status_code == 303
        campaign = follow_job(planner, created).headers["HX-Redirect"]
        detail = planner.get(campaign).text
        assert WARNING_ZH in detail
    finally:
        _set_lang(planner, "en")
    assert WARNING_EN in planner.get(campaign).text

    # the option unticked: no forced A1 customer, no warning
    off = {k: v for k, v in form.items() if k != "must_dispatch_a1"} | {"key": "a1-off"}
    page = follow_job(
        planner, planner.post("/campaigns/preview", data={**off, "csrf_token": csrf_of(planner)})
    )
    assert page.status_code == 200 and WARNING_EN not in page.text


def test_queue_shows_the_reason_in_the_agents_language(clients, store_path, web_settings):
    planner, manager, agent = clients["planner"], clients["branch_manager"], clients["agent"]
    form = {**FORM, "key": "reason-lang", "month": _month(store_path)}
    created = planner.post("/campaigns", data={**form, "csrf_token": csrf_of(planner)})
    assert created.status_code == 303
    detail = follow_job(planner, created).headers["HX-Redirect"]
    follow_job(
        planner,
        planner.post(
            f"{detail}/approve", data={"decision": "approve", "csrf_token": csrf_of(planner)}
        ),
    )
    moved = manager.post(
        "/dispatch/assign",
        data={
            "channel": "call_center",
            "to_staff": "HZCC0001",
            "count": "3",
            "csrf_token": csrf_of(manager),
        },
    )
    assert moved.status_code == 303
    try:
        _set_lang(agent, "zh-CN")
        page = agent.get("/queue").text
    finally:
        _set_lang(agent, "en")
    task_id = int(re.search(r'action="/queue/(\d+)/outcome"', page).group(1))
    with session_scope(web_settings.db_url) as s:
        task = s.get(Task, task_id)
        reason, reason_zh = task.reason, task.reason_zh
    assert reason_zh and "离网概率" in reason_zh and "P(churn)" in reason
    shown = page.split("入选原因", 1)[1].split("</dd>", 1)[0]
    assert reason_zh in _unescape(shown) and "P(churn)" not in shown
    english = agent.get("/queue").text.split("Why on the list", 1)[1].split("</dd>", 1)[0]
    assert reason in _unescape(english)


def _unescape(html: str) -> str:
    import html as _html

    return _html.unescape(html)
