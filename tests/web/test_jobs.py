"""Long actions run as background jobs: while one runs, every other request answers fast and
from the last published snapshot; jobs report progress, results and errors in both languages.

These tests drive a real uvicorn server from several threads (TestClient would give every
request its own event loop and hide a blocked one).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.web.conftest import PASSWORD, make_users
from weixi.config import Settings
from weixi.jobs.worker import STORE_BUSY, JobContext

FAST = 0.5  # seconds: what "answers fast" means while a job runs


@pytest.fixture(scope="module")
def live(tmp_path_factory, store_path, fresh_db_url):
    """A uvicorn server on a copy of the test store; yields (base url, app)."""
    import uvicorn

    from weixi.web.app import create_app

    home = tmp_path_factory.mktemp("jobshome")
    store = home / "weixi.duckdb"
    shutil.copy(store_path, store)
    settings = Settings(
        env="dev",  # plain-http cookies for httpx
        home=home,
        analytics_path=store,
        database_url=fresh_db_url(home),
        secret_key="jobs-test-secret",
    )
    make_users(settings.db_url)
    app = create_app(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(10)


def _csrf(text: str) -> str:
    return text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def client_for(base: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    token = _csrf(c.get("/login").text)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text[:300]
    return c


def _month(app) -> str:
    from weixi.store import snapshots

    path = app.state.settings.duckdb_file
    if snapshots.current(path) is None:  # no page has been read yet (the test ran alone)
        snapshots.publish_file(path)
    with snapshots.open_snapshot(path) as con:
        return con.execute("SELECT strftime(max(month), '%Y-%m') FROM segments").fetchone()[0]


FORM = {
    "name_en": "Jobs test",
    "name_zh": "任务测试",
    "months": "1",
    "budget": "20000",
    "control_pct": "10",
    "seats_pct": "100",
    "agent_per_day": "85",
    "channels": ["call_center", "account_manager", "sms"],
}


def wait_job(client: httpx.Client, job_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/v1/jobs/{job_id}").json()
        if status["status"] in ("done", "failed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def started_job(response: httpx.Response) -> int:
    found = re.search(r'id="job-(\d+)"', response.text)
    assert response.status_code == 200 and found, response.text[:500]
    return int(found.group(1))


@contextlib.contextmanager
def slow_writer_job(app, seconds: float):
    """A test-only job that holds this process's writable analytics connection (and writes)
    for ``seconds``, like a long plan; yields its id once it holds the store."""
    holding = threading.Event()

    def run(ctx: JobContext) -> dict:
        with ctx.analytics() as con:
            ctx.progress(0.5, "Matching strategies and solving the plan")
            con.execute("CREATE OR REPLACE TABLE test_slow_job AS SELECT 1 AS x")
            holding.set()
            time.sleep(seconds)
        return {"slept": seconds}

    job_id = app.state.jobs.submit(run, kind="test_sleep", created_by="u_planner", writes=True)
    assert holding.wait(30), "the slow job never got the store"
    try:
        yield job_id
    finally:  # even when the block fails: the next test must not find the file still held
        app.state.jobs.wait_idle(timeout=seconds + 30)


def timed_gets(base: str, jobs: list[tuple[httpx.Client, str]], repeat: int, workers: int):
    """GET every (client, path) ``repeat`` times from ``workers`` threads: [(path, s, resp)]."""

    def one(item):
        client, path = item
        t0 = time.perf_counter()
        resp = client.get(path)
        return path, time.perf_counter() - t0, resp

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, jobs * repeat))


@pytest.fixture(scope="module")
def queue_ready(live):
    """An approved campaign (created through its job) with tasks in the agent's queue."""
    base, app = live
    planner, manager = client_for(base, "u_planner"), client_for(base, "u_branch_manager")
    token = _csrf(planner.get("/campaigns").text)
    created = planner.post(
        "/campaigns", data={**FORM, "key": "jobs-queue", "month": _month(app), "csrf_token": token}
    )
    assert created.status_code == 303 and created.headers["location"].startswith("/jobs/")
    job_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert wait_job(planner, job_id)["status"] == "done"
    opened = planner.get(f"/jobs/{job_id}")  # the job page opens the campaign when done
    assert opened.status_code == 303
    detail = opened.headers["location"]
    ok = planner.post(f"{detail}/approve", data={"decision": "approve", "csrf_token": token})
    assert ok.status_code == 303
    assert wait_job(planner, int(ok.headers["location"].rsplit("/", 1)[1]))["status"] == "done"
    mtoken = _csrf(manager.get("/dispatch").text)
    moved = manager.post(
        "/dispatch/assign",
        data={"channel": "call_center", "to_staff": "HZCC0001", "count": "5", "csrf_token": mtoken},
    )
    assert moved.status_code == 303
    return detail


def test_pages_answer_fast_and_full_while_a_job_writes(live, queue_ready):
    base, app = live
    planner, agent = client_for(base, "u_planner"), client_for(base, "u_agent")
    anon = httpx.Client(base_url=base, timeout=60)
    # warm up: the first read of a new snapshot computes its cached read models
    for c, path in ((planner, "/dashboard"), (agent, "/queue"), (planner, "/data")):
        assert c.get(path).status_code == 200
    with slow_writer_job(app, seconds=4) as job_id:
        t0 = time.monotonic()
        got = timed_gets(
            base,
            [(anon, "/healthz"), (planner, "/dashboard"), (agent, "/queue"), (planner, "/data")],
            repeat=4,
            workers=4,
        )
        assert time.monotonic() - t0 < 4, "the checks must overlap the job"
        assert planner.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running"
    slow = [(p, round(s, 3)) for p, s, _ in got if s >= FAST]
    every = sorted((round(s, 3), p) for p, s, _ in got)
    assert not slow, f"slower than {FAST} s while a job held the store: {slow}; all: {every}"
    for path, _s, resp in got:
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        if path == "/dashboard":
            assert "No data loaded yet" not in resp.text and "Active lines" in resp.text
        if path == "/queue":  # the #16 500: 'dict object' has no attribute 'arpu'
            assert "ARPU" in resp.text
        if path == "/data":
            assert "No data loaded yet" not in resp.text
    assert wait_job(planner, job_id)["status"] == "done"


def test_server_start_freezes_the_heap_it_was_built_with(live):
    # a full collection holds the GIL while it scans every tracked object: with the start-up
    # heap (and here the whole test process's) frozen, it scans only what was made since
    import gc

    assert gc.get_freeze_count() > len(gc.get_objects(generation=2))


def test_healthz_stays_fast_during_a_real_preview(live):
    base, app = live
    planner = client_for(base, "u_planner")
    anon = httpx.Client(base_url=base, timeout=60)
    form = {**FORM, "key": "jobs-health", "month": _month(app)}
    token = _csrf(planner.get("/campaigns").text)
    t0 = time.perf_counter()
    started = planner.post("/campaigns/preview", data={**form, "csrf_token": token})
    assert time.perf_counter() - t0 < FAST  # the route only queues the job
    job_id = started_job(started)
    times = []
    while planner.get(f"/api/v1/jobs/{job_id}").json()["status"] not in ("done", "failed"):
        t1 = time.perf_counter()
        assert anon.get("/healthz").status_code == 200
        times.append(time.perf_counter() - t1)
    # a preview that blocked the event loop would stall the probes for its seconds; one probe
    # over FAST is tolerated (a full garbage collection of the test process's own heap, which
    # the server shares here, once took 0.57 s before the server froze its start-up heap), a
    # second one or any probe over 2 × FAST is not
    slow = [round(t, 3) for t in times if t >= FAST]
    assert times and len(slow) <= 1 and max(times) < 2 * FAST, (slow, times)
    assert wait_job(planner, job_id)["status"] == "done"


def test_two_concurrent_previews_both_succeed(live):
    base, app = live
    month = _month(app)
    a, b = client_for(base, "u_planner"), client_for(base, "u_planner")

    def preview(client: httpx.Client, key: str) -> str:
        token = _csrf(client.get("/campaigns").text)
        resp = client.post(
            "/campaigns/preview", data={**FORM, "key": key, "month": month, "csrf_token": token}
        )
        job_id = started_job(resp)
        assert wait_job(client, job_id)["status"] == "done"
        return client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).text

    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(preview, (a, b), ("jobs-two-a", "jobs-two-b")))
    for page in pages:
        assert "Shadow prices" in page and 'data-job-status="done"' in page
        assert "analytics store is busy" not in page


def test_a_writer_job_waits_for_another_process_then_fails_in_both_languages(live):
    base, app = live
    planner = client_for(base, "u_planner")
    store = app.state.settings.duckdb_file
    month = _month(app)  # before the other process locks the store (publishes a snapshot)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(30)",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    runner = app.state.jobs
    wait_before = runner.store_wait_seconds
    try:
        assert holder.stdout.readline().strip() == "held"
        runner.store_wait_seconds = 1.5
        token = _csrf(planner.get("/campaigns").text)
        job_id = started_job(
            planner.post(
                "/campaigns",
                data={**FORM, "key": "jobs-busy", "month": month, "csrf_token": token},
                headers={"HX-Request": "true"},
            )
        )
        # while the other process holds the file, the pages still answer from the snapshot
        t0 = time.perf_counter()
        dash = planner.get("/dashboard")
        assert time.perf_counter() - t0 < FAST and "Active lines" in dash.text
        card = planner.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).text
        assert 'data-job-status="' in card
        status = wait_job(planner, job_id)
        assert status["status"] == "failed" and status["error"] == STORE_BUSY
        en = planner.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).text
        assert "The job failed" in en and "busy with another process" in en
        planner.post("/lang", data={"lang": "zh-CN", "csrf_token": token})
        zh = planner.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).text
        assert "任务失败" in zh and "分析库正被另一个进程" in zh
        planner.post("/lang", data={"lang": "en", "csrf_token": token})
    finally:
        runner.store_wait_seconds = wait_before
        holder.kill()
        holder.wait(10)


def test_a_job_is_only_visible_to_who_started_it(live):
    base, app = live
    planner, analyst = client_for(base, "u_planner"), client_for(base, "u_analyst")
    admin = client_for(base, "u_admin")
    job_id = app.state.jobs.submit(
        lambda ctx: {"n": 1}, kind="test_sleep", created_by="u_planner", writes=False
    )
    assert wait_job(planner, job_id)["result"] == {"n": 1}
    assert analyst.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert analyst.get(f"/jobs/{job_id}").status_code == 404
    assert admin.get(f"/api/v1/jobs/{job_id}").status_code == 200


def test_jobs_of_a_dead_process_are_marked_interrupted(web_settings):
    import socket as _socket

    from weixi.jobs import service
    from weixi.jobs.models import Job
    from weixi.jobs.worker import JobRunner
    from weixi.store.db import session_scope

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    with session_scope(web_settings.db_url) as s:
        job = service.create(session=s, kind="campaign_preview", params=None, created_by="x")
        job.status, job.worker = "running", f"{_socket.gethostname()}:{proc.pid}"
        mine = service.create(session=s, kind="campaign_preview", params=None, created_by="x")
        ids = job.id, mine.id
    runner = JobRunner(db_url=web_settings.db_url, analytics_path=web_settings.duckdb_file)
    assert runner.recover() >= 1
    with session_scope(web_settings.db_url) as s:
        dead, alive = s.get(Job, ids[0]), s.get(Job, ids[1])
        assert dead.status == "failed" and dead.error.startswith("interrupted")
        assert alive.status == "queued"  # this process is alive: its jobs are left alone
        s.delete(alive)
    runner.shutdown()


def test_num_filter_shows_a_dash_for_a_missing_key():
    from jinja2 import Environment

    from weixi.web.app import _fmt_num, _fmt_pct

    env = Environment()
    env.filters.update(num=_fmt_num, pct=_fmt_pct)
    out = env.from_string("{{ line.arpu|num(1) }} {{ line.rate|pct }}").render(line={})
    assert out == "– –"


def test_a_failed_jobs_error_reads_in_the_readers_language(live):
    import datetime as dt

    from weixi.errors import NotFoundError

    base, app = live
    planner = client_for(base, "u_planner")

    def fails(ctx):
        raise NotFoundError("month {month:%Y-%m} is not imported", month=dt.date(2026, 3, 1))

    job_id = app.state.jobs.submit(fails, kind="test_fail", created_by="u_planner", writes=False)
    status = wait_job(planner, job_id)
    assert status["status"] == "failed" and status["error"] == "month 2026-03 is not imported"
    assert (
        "2026-03" in status["error_texts"]["zh-CN"]
        and "month" not in status["error_texts"]["zh-CN"]
    )
    token = _csrf(planner.get("/campaigns").text)
    en = planner.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).text
    assert "month 2026-03 is not imported" in en
    planner.post("/lang", data={"lang": "zh-CN", "csrf_token": token})
    try:
        zh = planner.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).text
        assert (
            "任务失败" in zh
            and status["error_texts"]["zh-CN"] in zh
            and "is not imported" not in zh
        )
    finally:
        planner.post("/lang", data={"lang": "en", "csrf_token": token})
