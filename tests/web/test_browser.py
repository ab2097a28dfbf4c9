"""The roles walk the loop in Debian chromium (Playwright), and every page is screenshotted in
English and Chinese under ``test-artifacts/screenshots/`` for people to look at.

planner creates and approves a campaign → branch manager assigns it → the agent works five
customers → monitoring and the dashboard show those outcomes.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD, make_users

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


class Server(str):
    """The test server's base URL; ``.store`` is its analytics file."""

    store: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory, store_path):
    import uvicorn

    from weixi.config import Settings
    from weixi.web.app import create_app

    home = tmp_path_factory.mktemp("browserhome")
    store = home / "weixi.duckdb"
    shutil.copy(store_path, store)  # planning writes plan tables: keep the shared store clean
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store,
        database_url=f"sqlite:///{home / 'weixi.sqlite'}",
        secret_key="browser-test-secret",
    )
    make_users(settings.db_url)
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
    url = Server(f"http://127.0.0.1:{port}")
    url.store = store
    yield url
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: make sysdeps (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Session:
    """One logged-in browser context of a role."""

    def __init__(self, browser, base: str, username: str):
        self.base = base
        self.ctx = browser.new_context(viewport={"width": 1366, "height": 900})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base}/login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/(dashboard|queue).*|.*/$"))

    def go(self, path: str):
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def lang(self, code: str) -> None:
        self.page.click(f"header button[value='{code}']")
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str, lang: str) -> Path:
        if self.page.locator("[data-chart]").count():
            self.page.wait_for_selector("html[data-charts-ready='1']", state="attached")
            self.page.wait_for_timeout(250)
        out = SHOTS / lang / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(out), full_page=True)
        return out

    def close(self) -> None:
        assert not self.errors, f"JavaScript errors: {self.errors}"
        self.ctx.close()


PAGES = {
    "planner": [
        ("dashboard", "/dashboard"),
        ("data", "/data"),
        ("quarantine", "/data/quarantine"),
        ("segments", "/segments"),
        ("segments-migration-value", "/segments?dimension=b"),
        ("churn", "/churn"),
        ("strategy", "/strategy"),
        ("campaigns", "/campaigns"),
        ("campaign", "/campaigns/1"),
        ("dispatch-province", "/dispatch"),
        ("monitoring", "/monitoring"),
        ("evaluation", "/evaluation"),
        ("outcome-files", "/outcomes/upload"),
        ("customers", "/customers?q={sid}"),
        ("customer-360", "/customers/{sid}"),
    ],
    "branch_manager": [("dispatch-branch", "/dispatch"), ("dashboard-branch", "/dashboard")],
    "agent": [("queue", "/queue")],
    "admin": [("users", "/admin/users"), ("audit", "/admin/audit")],
}


def test_roles_walk_the_loop(server, browser, sid):
    # --- planner: wizard → preview (what-if) → create → approve
    planner = Session(browser, server, "u_planner")
    page = planner.go("/campaigns")
    page.fill("input[name=budget]", "20000")
    for channel in ("sms", "app", "store"):  # people, not messages, work this campaign
        page.uncheck(f"input[name=channels][value={channel}]")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("#preview .kpi")
    assert "Shadow prices" in page.inner_text("#preview")
    planner.shot("campaign-preview", "en")
    page.fill("input[name=budget]", "5000")  # what-if: a smaller budget
    page.click("button:has-text('Preview')")
    page.wait_for_selector("#preview .kpi:has-text('5,000')")
    page.fill("input[name=budget]", "50000")
    page.click("button[type=submit]:has-text('Create draft')")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    page.click("text=Approve and dispatch to branches")  # a job: its page opens the campaign
    page.wait_for_selector(".toolbar:has-text('Approved')", timeout=60_000)

    # --- branch manager: assign unassigned call-center tasks to the agent
    manager = Session(browser, server, "u_branch_manager")
    page = manager.go("/dispatch")
    if page.locator("form[action='/dispatch/assign']").count():
        page.select_option("select[name=to_staff]", "HZCC0001")
        page.click("form[action='/dispatch/assign'] button[type=submit]")
        page.wait_for_url(re.compile(r".*/dispatch\?ok=\d+"))

    # --- agent: five customers, one unmask to call
    agent = Session(browser, server, "u_agent")
    page = agent.go("/queue")
    page.click("text=Show number to call")
    page.wait_for_selector("#pii-block")
    assert re.search(r"1[3-9]\d{9}", page.inner_text("#pii-block"))
    agent.shot("queue-unmasked", "en")
    for result in ("accepted", "not_reached", "refused", "accepted", "already_churned"):
        page = agent.go("/queue")
        if result == "refused":
            page.select_option("select[name=refusal_reason]", "price")
        page.click(f"button[value={result}]")
        page.wait_for_url(re.compile(r".*/queue$"))
    assert "Accepted 2" in agent.go("/queue").inner_text(".toolbar").replace(" · ", " ")

    # --- monitoring and dashboard show the outcomes
    page = planner.go("/monitoring")  # the province opens by branch; the person tab swaps in
    page.click("#progress nav a[href='/monitoring?by=staff']")
    page.wait_for_url(re.compile(r".*/monitoring\?by=staff$"))
    page.wait_for_selector("#progress nav a[aria-current=page][href='/monitoring?by=staff']")
    text = page.inner_text(".content")
    assert re.search(r"HZCC0001\s+\d+\s+5\s+3\s+2\s+1\s+0\s+1", text), text[:2000]
    planner.shot("monitoring-by-person", "en")
    dash = planner.go("/dashboard").inner_text(".content")
    assert "Success rate" in dash and "Contacts" in dash

    # --- the call-back time reads the same in Chinese (no browser-locale mm/dd/yyyy picker)
    page = agent.go("/queue")
    agent.lang("zh-CN")
    field = agent.page.locator("#callback-at")
    assert field.get_attribute("type") == "text"
    assert field.get_attribute("placeholder").startswith("年-月-日 时:分")
    field.fill("2030-01-31 15:00")
    agent.page.click("button[value=call_back]")
    agent.page.wait_for_url(re.compile(r".*/queue$"))
    assert "2030-01-31 15:00" in agent.go("/queue").inner_text("body")
    agent.lang("en")

    # --- every page, both languages
    sessions = {"planner": planner, "branch_manager": manager, "agent": agent}
    sessions["admin"] = Session(browser, server, "u_admin")
    for lang in ("en", "zh-CN"):
        for role, pages in PAGES.items():
            s = sessions[role]
            s.go("/dashboard" if role != "agent" else "/queue")
            s.lang(lang)
            for name, path in pages:
                s.go(path.format(sid=sid))
                s.shot(name, lang)
    anon = browser.new_page(viewport={"width": 1366, "height": 900})
    anon.goto(f"{server}/login")
    anon.screenshot(path=str(SHOTS / "en" / "login.png"))
    anon.click("text=中文")
    anon.wait_for_load_state("networkidle")
    assert "登录" in anon.inner_text("body")
    anon.screenshot(path=str(SHOTS / "zh-CN" / "login.png"))
    zh = planner.go("/dashboard").inner_text("body")
    assert "仪表盘" in zh and "离网率" in zh
    for s in sessions.values():
        s.close()


def test_jobs_show_progress_then_the_result(server, browser):
    """The preview's card shows progress, then the result replaces it; a create that has to
    wait for another process (a monthly job, say) says so, and the rest of the app stays
    usable meanwhile."""
    import subprocess
    import sys

    planner = Session(browser, server, "u_planner")
    for lang in ("en", "zh-CN"):
        planner.go("/campaigns")
        planner.lang(lang)
        page = planner.go("/campaigns")
        page.fill("input[name=key]", f"progress-{lang}")
        page.click("#wizard button.secondary")
        page.wait_for_selector("#preview .job .spinner")  # the card the POST answered with
        planner.shot("campaign-preview-progress", lang)
        page.wait_for_selector("#preview [data-job-status=done] .kpi", timeout=60_000)
        assert ("Shadow prices" if lang == "en" else "影子价格") in page.inner_text("#preview")
        planner.shot("campaign-preview-done", lang)

        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
                " print('held', flush=True); time.sleep(5)",
                str(server.store),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            page.click(
                "button[type=submit]:has-text('Create draft')"
                if lang == "en"
                else "#wizard button[type=submit]"
            )
            page.wait_for_url(re.compile(r".*/jobs/\d+$"))
            waiting = {"en": "Waiting for the analytics store", "zh-CN": "正在等待分析库"}[lang]
            page.wait_for_selector(f".job:has-text('{waiting}')", timeout=30_000)
            planner.shot("campaign-create-waiting", lang)
            other = planner.ctx.new_page()  # meanwhile the dashboard reads the snapshot
            other.goto(f"{server}/dashboard")
            body = other.inner_text("body")
            assert "No data loaded yet" not in body and "尚未导入数据" not in body
            other.close()
        finally:
            holder.wait(30)
        page.wait_for_url(re.compile(r".*/campaigns/\d+$"), timeout=60_000)
    planner.lang("en")
    planner.close()
