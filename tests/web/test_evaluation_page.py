"""The evaluation page shows an evaluated month's lift and the plan adjustment it led to."""

from __future__ import annotations

from tests.evaluate.test_service import _load
from tests.web.conftest import csrf_of, login, make_users
from weixi.config import Settings
from weixi.evaluate import service
from weixi.store.analytics import connect
from weixi.store.months import parse_month


def test_evaluation_page_shows_what_changed_in_both_languages(tmp_path, fresh_db_url):
    store = tmp_path / "weixi.duckdb"
    con = connect(store)
    try:
        _load(con, n=1500, months=2)
        service.adjust_plan(con=con, month=parse_month("2026-01"))
        con.execute(
            "CREATE OR REPLACE TABLE uplift AS SELECT DATE '2026-02-01' AS month, subscriber_id, "
            "'care_call' AS action, 0.25 AS uplift, 0.01 AS delta_p, 'uplift-2026-01' AS "
            "model_version FROM snapshot WHERE month = DATE '2026-02-01' LIMIT 40"
        )
    finally:
        con.close()
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        analytics_path=store,
        database_url=fresh_db_url(tmp_path),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    from weixi.web.app import create_app

    client = login(create_app(settings), "u_analyst")
    page = client.get("/evaluation")
    assert page.status_code == 200
    text = page.text
    assert "What changed in the plan and why" in text and "2026-01 → 2026-02" in text
    assert "segments change their main action" in text
    assert "uplift-2026-01" in text and "25.0%" in text  # the learned uplift the plan used
    switched = client.post(
        "/lang", data={"lang": "zh-CN", "csrf_token": csrf_of(client, "/evaluation")}
    )
    assert switched.status_code == 303
    zh = client.get("/evaluation?month=2026-01")
    assert zh.status_code == 200
    assert "方案调整了什么、为什么" in zh.text and "随机对照组比例保持" in zh.text
    # an unknown month falls back to the newest evaluated one
    assert "2026-01 → 2026-02" in client.get("/evaluation?month=1999-13").text


def test_branch_managers_see_their_branch_lift(tmp_path, fresh_db_url):
    store = tmp_path / "weixi.duckdb"
    con = connect(store)
    try:
        _load(con, n=1500, months=2)
        month = parse_month("2026-01")
        service.get_outcomes(con=con, month=month)  # next month's data → outcomes
        everyone = service.overview(con=con, month=month)["overall"]["n_treated"]
        hz = service.overview(con=con, month=month, branch="HZ")["overall"]["n_treated"]
        expected = con.execute(
            "SELECT count(*) FROM evaluation_outcomes WHERE month = ? AND branch_id = 'HZ' "
            "AND NOT is_control",
            [month],
        ).fetchone()[0]
    finally:
        con.close()
    assert 0 < hz == expected < everyone
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        analytics_path=store,
        database_url=fresh_db_url(tmp_path),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    from weixi.web.app import create_app

    client = login(create_app(settings), "u_branch_manager")
    page = client.get("/evaluation")
    assert page.status_code == 200
    assert "Branch HZ" in page.text and "province-wide" in page.text


def test_evaluation_page_shows_planned_and_actual_cost(tmp_path, settings, fresh_db_url):
    from tests.evaluate.test_costs import executed_month
    from weixi.store.db import session_factory

    store = tmp_path / "weixi.duckdb"
    db_url = fresh_db_url(tmp_path)
    con = connect(store)
    session = session_factory(db_url)()
    try:
        _load(con, n=1500, months=2)
        expected = executed_month(con, session, db_url=db_url)
        session.commit()
        service.get_outcomes(con=con, month=parse_month("2026-01"))  # what the monthly job does
    finally:
        session.close()
        con.close()
    web = Settings(
        env="test",
        home=tmp_path / "home",
        analytics_path=store,
        database_url=db_url,
        secret_key="test-secret-key-not-dev",
    )
    make_users(web.db_url)
    from weixi.web.app import create_app

    client = login(create_app(web), "u_analyst")
    text = client.get("/evaluation").text
    assert "Planned cost" in text and "Actual cost" in text and "ROI (actual cost)" in text
    assert f"¥{3.0 * len(expected):,.0f}" in text  # planned: the plan's price of every row
    assert f"¥{expected['expected'].sum():,.0f}" in text  # actual: what execution spent
    assert 'id="by-channel"' in text
    # the planner is told whether the campaign paid, from the same figures
    assert 'id="money-verdict"' in text and "net value retained" in text
    client.post("/lang", data={"lang": "zh-CN", "csrf_token": csrf_of(client, "/evaluation")})
    zh = client.get("/evaluation").text
    assert "计划成本" in zh and "实际成本" in zh and "投入产出比（按实际成本）" in zh
