"""The group view shows the group's campaign state (treated or control, its task, the outcome),
branch-scoped, masked and bilingual; the account manager's queue card marks a group task.
Operational data on both databases (``op_db``); screenshots in the browser test."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.web.conftest import BRANCH, PASSWORD, clear_phones, csrf_of, login, make_users
from weixi.config import Settings
from weixi.store.analytics import connect
from weixi.store.db import session_scope
from weixi.vip import books, campaign, groups
from weixi.vip.params import GroupAlert, load_params
from weixi.web import migrate

KEY = "gc-web"


@pytest.fixture(scope="module")
def gc_world(tmp_path_factory, store_path, fresh_db_url):
    """The shared web store: books and group KPIs of its last two months, and a group campaign
    dispatched in the second-to-last month (half the groups control), measured by the last."""
    home = tmp_path_factory.mktemp("gchome")
    store = home / "weixi.duckdb"
    shutil.copy(store_path, store)
    url = fresh_db_url(home)
    migrate.upgrade(url)
    make_users(url)
    p = load_params()
    p = p.model_copy(
        update={
            "group_alert": GroupAlert(min_members=2),  # the test world is small (900 lines)
            "group_campaign": p.group_campaign.model_copy(update={"top_n": 1000, "min_members": 1}),
        }
    )
    con = connect(store)
    try:
        months = [
            r[0] for r in con.execute("SELECT DISTINCT month FROM snapshot ORDER BY 1").fetchall()
        ]
        dm, last = months[-2], months[-1]
        for m in (dm, last):
            books.rebalance(con, m, p)
            groups.compute_month(con, m, p)
        with session_scope(url) as s:
            campaign.dispatch(con=con, session=s, month=dm, key=KEY, share=0.5, params=p)
        arms = con.execute(
            """SELECT c.group_id, c.is_control, c.outcome, c.staff_id FROM group_campaign c
               JOIN enterprise_groups g USING (group_id)
               WHERE g.branch_id = ? ORDER BY c.group_id""",
            [BRANCH],
        ).fetchall()
    finally:
        con.close()
    treated = next(g for g, ctl, out, _ in arms if not ctl and out == "task")
    control = next(g for g, ctl, _, _ in arms if ctl)
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store,
        database_url=url,
        secret_key="group-campaign-test-secret",
    )
    return settings, treated, control, arms


@pytest.fixture(scope="module")
def gc_clients(gc_world):
    from weixi.web.app import create_app

    app = create_app(gc_world[0])
    return {
        "bm": login(app, "u_branch_manager"),
        "other_bm": login(app, "u_other_bm"),
        "planner": login(app, "u_planner"),
        "am": login(app, "u_account_manager"),
    }


def test_group_view_shows_the_arm_task_and_outcome(gc_world, gc_clients):
    _, treated, control, _ = gc_world
    page = gc_clients["bm"].get(f"/groups/{treated}")
    assert page.status_code == 200 and 'id="group-campaign"' in page.text
    assert "Treated: the account manager works the group" in page.text
    task = re.search(r'id="camp-task">#(\d+) · Open', page.text)
    assert task, page.text[page.text.find("camp-task") :][:300]
    assert re.search(r"\d+ of \d+ members left the group by", page.text)  # measured
    assert not clear_phones(page.text)
    ctl = gc_clients["bm"].get(f"/groups/{control}").text
    assert "Control group: no task, measured for comparison" in ctl
    assert re.search(r'id="camp-task">–', ctl)
    # branch-scoped: another branch's manager does not see the group at all
    assert gc_clients["other_bm"].get(f"/groups/{treated}").status_code == 404


def test_groups_page_shows_the_campaign_evaluation_of_the_branch(gc_world, gc_clients):
    _, _, _, arms = gc_world  # the HZ groups of the campaign
    page = gc_clients["bm"].get("/groups").text
    card = re.search(r'id="group-campaign-eval">(.*?)</div>\s*</div>', page, re.S)
    assert card and KEY in card.group(1)
    rows = re.findall(r"<tr><td>(Treated|Control)</td><td class=\"num\">(\d+)</td>", card.group(1))
    got = {arm: int(n) for arm, n in rows}
    assert got == {
        "Treated": sum(not c for _, c, _, _ in arms),
        "Control": sum(bool(c) for _, c, _, _ in arms),
    }
    assert "Effect on member churn (control − treated)" in page
    planner = gc_clients["planner"].get("/groups").text  # the whole operator: more groups
    whole = re.findall(r"<tr><td>(?:Treated|Control)</td><td class=\"num\">(\d+)</td>", planner)
    assert sum(map(int, whole)) > sum(got.values())


def test_group_view_in_chinese(gc_world, gc_clients):
    _, treated, _, _ = gc_world
    client = gc_clients["planner"]
    token = csrf_of(client)
    client.post("/lang", data={"lang": "zh-CN", "next": "/groups", "csrf_token": token})
    zh = client.get(f"/groups/{treated}").text
    assert "集团客户维系活动" in zh and "维系组：由客户经理维系整个集团" in zh
    assert "Treated: the account manager" not in zh and "名成员中" in zh


def test_the_account_managers_queue_marks_the_group_task(gc_world, gc_clients):
    _, _, _, arms = gc_world
    mine = {g for g, ctl, out, staff in arms if not ctl and out == "task" and staff == "HZAM0001"}
    assert mine  # the shared store gives HZAM0001 groups of the campaign
    page = gc_clients["am"].get("/queue").text
    card = re.search(r'id="task-group">(.*?)</dd>', page, re.S)
    assert card and "Group task" in card.group(1)
    assert re.search(r'href="/groups/(G\d+)"', card.group(1)).group(1) in mine
    assert "Group retention" in page  # the action's label
    assert not clear_phones(page)


@pytest.mark.browser
def test_group_campaign_in_the_browser(gc_world):
    import socket
    import threading
    import time

    import uvicorn

    from tests.web.test_browser import ARGS, CHROMIUM, SHOTS
    from weixi.web.app import create_app

    settings, treated, control, _ = gc_world
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
        assert time.time() < deadline
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            ctx = b.new_context(viewport={"width": 1366, "height": 900})
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/login")
            page.fill("#username", "u_branch_manager")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            for lang in ("en", "zh-CN"):
                page.goto(f"{base}/groups")
                page.wait_for_load_state("networkidle")
                if lang == "zh-CN" and page.locator("header button[value='zh-CN']").count():
                    page.click("header button[value='zh-CN']")
                    page.wait_for_load_state("networkidle")
                assert page.locator("#group-campaign-eval").is_visible()
                out = SHOTS / ("zh" if lang == "zh-CN" else "en") / "group-campaign-groups.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                for name, gid in (
                    ("group-campaign-treated", treated),
                    ("group-campaign-control", control),
                ):
                    page.goto(f"{base}/groups/{gid}")
                    page.wait_for_load_state("networkidle")
                    if lang == "zh-CN" and page.locator("header button[value='zh-CN']").count():
                        page.click("header button[value='zh-CN']")
                        page.wait_for_load_state("networkidle")
                    card = page.locator("#group-campaign")
                    assert card.is_visible()
                    text = card.inner_text()
                    assert ("维系组" if lang == "zh-CN" else "Treated") in text or name.endswith(
                        "control"
                    )
                    assert not clear_phones(page.inner_text("body"))
                    out = SHOTS / ("zh" if lang == "zh-CN" else "en") / f"{name}.png"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(out), full_page=True)
            assert not errors, errors
            ctx.close()
            ctx = b.new_context(viewport={"width": 1366, "height": 900})
            page = ctx.new_page()
            page.goto(f"{base}/login")
            page.fill("#username", "u_account_manager")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{base}/queue")
            page.wait_for_load_state("networkidle")
            assert page.locator("#task-group").is_visible()
            assert not clear_phones(page.inner_text("body"))
            page.screenshot(path=str(SHOTS / "en" / "group-campaign-queue.png"), full_page=True)
            ctx.close()
            b.close()
    finally:
        srv.should_exit = True
        thread.join(10)
