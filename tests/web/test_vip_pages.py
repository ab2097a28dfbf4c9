"""My book, the groups list and one group's view, and the group KPIs on the dashboard:
branch-scoped, masked, bilingual; screenshots in English and Chinese under
``test-artifacts/screenshots/`` (Debian chromium via Playwright)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.web.conftest import BRANCH, PASSWORD, clear_phones, csrf_of, login, make_users
from weixi.auth.models import ALL_ROLES
from weixi.config import Settings
from weixi.store.analytics import connect
from weixi.vip import books, groups
from weixi.vip.params import GroupAlert, load_params


@pytest.fixture(scope="module")
def vip_settings(tmp_path_factory, store_path):
    """The shared web store plus books and group KPIs; one HZ group loses 30 % of its members."""
    home = tmp_path_factory.mktemp("viphome")
    store = home / "weixi.duckdb"
    shutil.copy(store_path, store)
    con = connect(store)
    try:
        last = con.execute("SELECT max(month) FROM snapshot").fetchone()[0]
        gid, n = con.execute(
            """SELECT s.group_id, count(*) FROM snapshot s
               JOIN enterprise_groups g ON g.group_id = s.group_id
               WHERE s.month = ? AND g.branch_id = ? AND s.status <> 'cancelled'
               GROUP BY 1 ORDER BY 2 DESC LIMIT 1""",
            [last, BRANCH],
        ).fetchone()
        con.execute(
            """UPDATE snapshot SET status = 'cancelled' WHERE month = ? AND subscriber_id IN (
                 SELECT subscriber_id FROM snapshot WHERE month = ? AND group_id = ?
                 AND status <> 'cancelled' ORDER BY subscriber_id LIMIT ?)""",
            [last, last, gid, max(1, round(n * 0.3))],
        )
        books.rebalance(con, last)
        # the test world is small (900 lines): alert from 2 members on
        small = load_params().model_copy(update={"group_alert": GroupAlert(min_members=2)})
        groups.compute_month(con, last, small)
    finally:
        con.close()
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store,
        database_url=f"sqlite:///{home / 'weixi.sqlite'}",
        secret_key="vip-test-secret-key",
    )
    make_users(settings.db_url)
    return settings, gid


@pytest.fixture(scope="module")
def vip_clients(vip_settings):
    from weixi.web.app import create_app

    app = create_app(vip_settings[0])
    out = {role.value: login(app, f"u_{role.value}") for role in ALL_ROLES}
    out["other_bm"] = login(app, "u_other_bm")
    return out


def test_my_book_is_the_managers_own_and_masked(vip_clients):
    page = vip_clients["account_manager"].get("/book")
    assert page.status_code == 200
    assert "HZAM0001" not in page.text or "book-vip" in page.text
    assert 'id="book-vip"' in page.text and not clear_phones(page.text)
    # an account manager cannot read another manager's book through ?staff=
    other = vip_clients["account_manager"].get("/book?staff=NBAM0001")
    assert other.text.count("<tr>") == page.text.count("<tr>")
    assert vip_clients["agent"].get("/book").status_code == 403


def test_groups_are_branch_scoped(vip_clients, vip_settings):
    _, gid = vip_settings
    bm = vip_clients["branch_manager"].get("/groups").text
    listed = set(re.findall(r'href="/groups/(G\d+)"', bm))
    assert gid in listed and 'class="badge red"' in bm
    other = vip_clients["other_bm"].get("/groups").text
    assert gid not in set(re.findall(r'href="/groups/(G\d+)"', other))
    assert vip_clients["other_bm"].get(f"/groups/{gid}").status_code == 404
    detail = vip_clients["branch_manager"].get(f"/groups/{gid}")
    assert detail.status_code == 200 and 'id="group-alert"' in detail.text
    assert not clear_phones(detail.text)
    assert vip_clients["agent"].get("/groups").status_code == 403


def test_dashboard_shows_group_kpis_in_both_languages(vip_clients):
    en = vip_clients["planner"].get("/dashboard").text
    assert "Group member coverage" in en and "Group alerts" in en
    analyst = vip_clients["analyst"]
    token = csrf_of(analyst)
    analyst.post("/lang", data={"lang": "zh-CN", "next": "/dashboard", "csrf_token": token})
    zh = analyst.get("/dashboard").text
    assert "集团成员覆盖率" in zh and "集团异动预警" in zh
    groups_zh = analyst.get("/groups").text
    assert "集团客户稳定率" in groups_zh and "Group stability" not in groups_zh


@pytest.mark.browser
def test_vip_pages_in_the_browser(vip_settings, tmp_path_factory):
    import socket
    import threading
    import time

    import uvicorn

    from tests.web.test_browser import ARGS, CHROMIUM, SHOTS
    from weixi.web.app import create_app

    settings, gid = vip_settings
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
            for user, shots in (
                ("u_account_manager", [("vip-book", "/book")]),
                ("u_branch_manager", [("vip-groups", "/groups"), ("vip-group", f"/groups/{gid}")]),
                ("u_planner", [("vip-dashboard", "/dashboard")]),
            ):
                ctx = b.new_context(viewport={"width": 1366, "height": 900})
                page = ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.goto(f"{base}/login")
                page.fill("#username", user)
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                for lang in ("en", "zh-CN"):
                    for name, path in shots:
                        page.goto(base + path)
                        page.wait_for_load_state("networkidle")
                        if lang == "zh-CN" and page.locator("header button[value='zh-CN']").count():
                            page.click("header button[value='zh-CN']")
                            page.wait_for_load_state("networkidle")
                        text = page.inner_text("body")
                        assert not clear_phones(text), name
                        out = SHOTS / ("zh" if lang == "zh-CN" else "en") / f"{name}.png"
                        out.parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(out), full_page=True)
                assert not errors, errors
                ctx.close()
            b.close()
    finally:
        srv.should_exit = True
        thread.join(10)
