"""The win-back page on both databases (``op_db``): the list of a month, its dispatch into the
work queues (a job), and its evaluation against the control group, in English and Chinese."""

from __future__ import annotations

import datetime as dt

import duckdb
from sqlalchemy import select

from tests.web.conftest import csrf_of, follow_job, login, make_users
from weixi.config import Settings
from weixi.dispatch.models import Task
from weixi.store import schema, snapshots
from weixi.store.db import session_scope

MAR, APR, MAY = dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)


def _line(con, month, sid, cust, arpu, branch="HZ"):
    con.execute(
        "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, status, "
        "activation_date, arpu) VALUES (?, ?, ?, ?, 'mobile', 'active', DATE '2020-01-01', ?)",
        [month, sid, cust, branch, arpu],
    )


def test_winback_page_lists_dispatches_and_evaluates(tmp_path, fresh_db_url):
    from weixi.web.app import create_app

    store = tmp_path / "weixi.duckdb"
    con = duckdb.connect(str(store))
    schema.ensure(con)
    for i in range(60):  # 60 high-value lines leave in April (HZ and NB)
        _line(con, MAR, f"h{i:02d}", f"C{i:02d}", 250.0, "HZ" if i % 2 else "NB")
    _line(con, MAR, "stay", "Cs", 300.0)
    _line(con, APR, "stay", "Cs", 300.0)
    con.close()
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        analytics_path=store,
        database_url=fresh_db_url(tmp_path / "home"),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    app = create_app(settings)
    planner = login(app, "u_planner")
    page = planner.get("/churn/winback?month=2026-04")
    assert page.status_code == 200
    assert page.text.count('href="/customers/h') == 60 and "Not dispatched yet." in page.text
    # a branch manager sees their branch only and cannot dispatch
    bm = login(app, "u_branch_manager")
    bm_page = bm.get("/churn/winback?month=2026-04").text
    assert bm_page.count('href="/customers/h') == 30 and 'id="wb-dispatch-button"' not in bm_page
    csrf = csrf_of(planner)
    resp = planner.post("/churn/winback/dispatch", data={"month": "2026-04", "csrf_token": csrf})
    assert resp.status_code == 303
    card = follow_job(planner, resp)
    assert card.status_code == 200
    with session_scope(settings.db_url) as s:
        tasks = s.execute(select(Task).where(Task.action == "winback")).scalars().all()
    assert 40 <= len(tasks) < 60 and all(t.channel == "call_center" for t in tasks)
    page = planner.get("/churn/winback?month=2026-04").text
    assert "Dispatched:" in page and "no snapshot month after 2026-04 is loaded" in page
    # May: three contacted customers are back on a new line; the page measures the lift
    back = sorted(t.customer_id for t in tasks)[:3]
    con = duckdb.connect(str(store))
    for c in back:
        _line(con, MAY, "new_" + c, c, 80.0)
    _line(con, MAY, "stay", "Cs", 300.0)
    con.close()
    snapshots.publish_file(store)
    page = planner.get("/churn/winback?month=2026-04").text
    assert "months measured" in page and "2026-05" in page
    n_treated = len(tasks)
    lift = round(3 / n_treated * 100, 1)
    assert f"{lift} pp" in page
    planner.post("/lang", data={"lang": "zh-CN", "csrf_token": csrf_of(planner)})
    zh = planner.get("/churn/winback?month=2026-04").text
    assert "挽回效果（对比对照组）" in zh and "已派发" in zh and "Won back" not in zh


def test_every_winback_text_has_a_chinese_translation():
    import re
    from pathlib import Path

    from weixi.i18n import catalog

    src = Path(__file__).resolve().parents[2] / "src" / "weixi"
    used = set(re.findall(r"_\('([^']+)'", (src / "web/templates/winback.html").read_text("utf-8")))
    used |= {"Win-back", "Win-back dispatch", "Writing the win-back tasks", "Ported out"}
    zh = catalog("zh-CN")
    assert not sorted(m for m in used if m not in zh)


def test_evaluation_page_shows_the_winback_lists_the_monthly_job_measured(tmp_path, fresh_db_url):
    """The monthly job's win-back step stores each matured list's result; the evaluation page
    shows it (lists, arms, lift) in English and Chinese, linking to the list's own page."""
    from weixi.dispatch.winback import dispatch_winback, evaluate_matured
    from weixi.web.app import create_app

    store = tmp_path / "weixi.duckdb"
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        analytics_path=store,
        database_url=fresh_db_url(tmp_path / "home"),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    con = duckdb.connect(str(store))
    schema.ensure(con)
    for i in range(60):
        _line(con, MAR, f"h{i:02d}", f"C{i:02d}", 250.0)
    _line(con, MAR, "stay", "Cs", 300.0)
    _line(con, APR, "stay", "Cs", 300.0)
    with session_scope(settings.db_url) as s:
        out = dispatch_winback(con=con, session=s, month=APR)
        tasks = s.execute(select(Task).where(Task.action == "winback")).scalars().all()
        back = sorted(t.customer_id for t in tasks)[:6]
    for c in back:  # six contacted customers back in May on a new line
        _line(con, MAY, "new_" + c, c, 80.0)
    _line(con, MAY, "stay", "Cs", 300.0)
    _line(con, dt.date(2026, 6, 1), "stay", "Cs", 300.0)
    with session_scope(settings.db_url) as s:
        step = evaluate_matured(con=con, session=s, month=dt.date(2026, 6, 1))
    con.close()
    assert len(step["evaluated"]) == 1
    app = create_app(settings)
    analyst = login(app, "u_analyst")
    page = analyst.get("/evaluation").text
    assert 'id="winback-evaluations"' in page
    assert "Win-back lists evaluated by the monthly job" in page
    assert 'href="/churn/winback?month=2026-04&amp;horizon=2"' in page
    lift = round((6 / out["treated"] - 0.0) * 100, 1)
    assert f"{lift} pp" in page and f">{out['treated']}<" in page
    analyst.post("/lang", data={"lang": "zh-CN", "csrf_token": csrf_of(analyst, "/evaluation")})
    zh = analyst.get("/evaluation").text
    assert "月度作业评估的挽回名单" in zh and "全省" in zh and "观察期" in zh
    assert "Win-back lists evaluated" not in zh and "Won back" not in zh


def test_every_evaluation_winback_text_has_a_chinese_translation():
    import re
    from pathlib import Path

    from weixi.i18n import catalog

    src = Path(__file__).resolve().parents[2] / "src" / "weixi"
    html = (src / "web/templates/evaluation.html").read_text("utf-8")
    card = html[html.index('id="winback-evaluations"') :]
    used = set(re.findall(r"_\('([^']+)'", card))
    used |= {
        "Win-back {campaign} {month}: won back within {h} months — treated {tw} of {tn}, "
        "control {cw} of {cn}; lift {lift}",
        "Win-back {campaign} {month}: evaluated once {matures} is loaded",
    }
    zh = catalog("zh-CN")
    assert len(used) > 8 and not sorted(m for m in used if m not in zh)
