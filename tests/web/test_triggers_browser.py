"""The event-triggers page (rules, firings, suppressions) in both languages, and date inputs that
follow the page language (the queue's call-back picker showed mm/dd/yyyy in Chinese)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
import socket
import threading
import time

import duckdb
import pytest
from sqlalchemy import select

from tests.web.conftest import make_users
from tests.web.test_browser import SHOTS, Session, browser  # noqa: F401  (fixture)
from weixi.store.months import add_months

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trig_server(tmp_path_factory, store_path):
    """A server on a copy of the web store after three days of synthetic event feeds."""
    import uvicorn

    from weixi.config import Settings
    from weixi.store.db import session_scope
    from weixi.synth.events import simulate_days
    from weixi.web.app import create_app

    home = tmp_path_factory.mktemp("trighome")
    store = home / "weixi.duckdb"
    shutil.copy(store_path, store)
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store,
        database_url=f"sqlite:///{home / 'weixi.sqlite'}",
        secret_key="browser-test-secret",
    )
    make_users(settings.db_url)
    con = duckdb.connect(str(store))
    start = add_months(con.execute("SELECT max(month) FROM segments").fetchone()[0], 1)
    reps = simulate_days(
        con=con,
        session_scope=functools.partial(session_scope, settings.db_url),
        out_dir=home / "feeds",
        start=start,
        days=3,
        seed=3,
    )
    con.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", settings, reps
    srv.should_exit = True
    thread.join(10)


def test_triggers_page_lists_rules_and_firings_in_both_languages(trig_server, browser):  # noqa: F811
    base, _settings, reps = trig_server
    assert sum(r["tasks_created"] for r in reps) > 0
    planner = Session(browser, base, "u_planner")
    page = planner.go("/triggers")
    text = page.inner_text(".content")
    assert "Trigger rules" in text and "Called a competitor's service number" in text
    assert "value >= usage_drop_pct and arpu_3m >= 20" in text
    day = reps[0]["date"]
    assert day in page.inner_text("#trigger-days")
    # the day's task count on the page is the import's
    rows = page.locator(f"#trigger-days tbody tr:has(td:text-is('{day}'))")
    shown = sum(int(rows.nth(i).locator("td").nth(2).inner_text()) for i in range(rows.count()))
    assert shown == reps[0]["tasks_created"]
    planner.shot("triggers", "en")
    planner.lang("zh-CN")
    page = planner.go("/triggers")
    zh = page.inner_text(".content")
    assert "触发规则" in zh and "拨打竞争对手客服电话" in zh and "每日触发情况" in zh
    assert "Trigger rules" not in zh
    planner.shot("triggers", "zh-CN")
    # a branch manager sees the branch's firings only
    manager = Session(browser, base, "u_branch_manager")
    rows = manager.go("/triggers").locator("#trigger-recent tbody tr")
    branches = {rows.nth(i).locator("td").nth(4).inner_text() for i in range(rows.count())}
    assert len(branches) <= 1
    for s in (planner, manager):
        s.close()


def test_callback_date_input_follows_the_page_language(trig_server, browser):  # noqa: F811
    base, settings, _reps = trig_server
    from weixi.dispatch.models import Task
    from weixi.store.db import session_scope

    ctx_agent = Session(browser, base, "u_agent")
    # the input in English: English month names, the same ISO value format
    ctx_agent.lang("en")
    page = ctx_agent.go("/queue")
    page.locator("input[name=callback_at]").click()
    title = page.locator(".datepicker .dp-title").inner_text()
    assert re.fullmatch(r"[A-Z][a-z]+ \d{4}", title), title
    assert page.locator("input[name=callback_at]").get_attribute("placeholder") == (
        "YYYY-MM-DD hh:mm"
    )
    ctx_agent.shot("queue-callback-picker", "en")
    # an English browser (en-US locale) on a Chinese page: no mm/dd/yyyy anywhere
    ctx_agent.lang("zh-CN")
    page = ctx_agent.go("/queue")
    box = page.locator("input[name=callback_at]")
    assert box.get_attribute("type") == "text"
    assert box.get_attribute("placeholder") == "年-月-日 时:分"
    box.click()
    picker = page.locator(".datepicker")
    picker.wait_for()
    title = picker.locator(".dp-title").inner_text()
    assert re.fullmatch(r"\d{4}年\d{1,2}月", title), title
    assert "周一" in picker.inner_text() or "一" in picker.locator(".dp-wd").first.inner_text()
    ctx_agent.shot("queue-callback-picker", "zh-CN")
    picker.locator("select[aria-label='时']").select_option("15")
    picker.locator("select[aria-label='分']").select_option("30")
    picker.locator("button[aria-label='下个月']").click()
    picker.locator(".dp-day[data-day$='-12']").click()
    value = box.input_value()
    assert re.fullmatch(r"\d{4}-\d{2}-12 15:30", value), value
    task_id = int(re.search(r"/queue/(\d+)/outcome", page.content()).group(1))
    page.click("button[value=call_back]")
    page.wait_for_url(re.compile(r".*/queue$"))
    with session_scope(settings.db_url) as s:
        when = s.execute(select(Task.callback_at).where(Task.id == task_id)).scalar_one()
    assert when == dt.datetime.fromisoformat(value)
    ctx_agent.close()
