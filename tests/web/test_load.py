"""The app under load over HTTP. More concurrent requests than threads and pooled connections
never stall the app (a request holds a database connection only while it holds a thread).
The work queue: 30 agents with API tokens claim and close tasks for 20 s
against the real app under uvicorn and a real PostgreSQL server (``bench/loadtest.py`` at a
reduced size; ``make loadtest`` runs 200 agents for 5 minutes).

Asserts the correctness counts only (latencies depend on the machine): no lost or duplicated
outcome, idempotent re-posts stored once, no task handed to two agents at once, one contact-log
row per outcome.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.web.worlds import build_world, new_db_url
from weixi.auth import service as auth_service
from weixi.store.db import session_scope

BENCH = Path(__file__).resolve().parents[2] / "bench" / "loadtest.py"


def _loadtest():
    spec = importlib.util.spec_from_file_location("weixi_bench_loadtest", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def live_world(tmp_path, store_path, fresh_db_url):
    """The app over the run's database, served by uvicorn on a free loopback port; yields
    (url, token)."""
    import uvicorn

    world = build_world(fresh_db_url(tmp_path), tmp_path, store_path)
    with session_scope(world.url) as s:
        user = auth_service.get_by_username(session=s, username="u_agent")
        token = auth_service.create_api_token(session=s, user=user, name="load")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(10)


def test_more_concurrent_requests_than_threads_and_connections_do_not_stall(live_world):
    """300 authenticated requests at once (the thread pool has 40 threads, the connection pool
    15 connections): before, requests holding a connection from the authentication step waited
    for a thread held by requests waiting for a connection, until the pool's 30 s timeout
    answered 500."""
    base, token = live_world

    async def burst() -> tuple[Counter, float]:
        limits = httpx.Limits(max_connections=400)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, timeout=90, limits=limits) as client:
            t0 = time.monotonic()
            answers = await asyncio.gather(
                *(client.get("/api/v1/me", headers=headers) for _ in range(300))
            )
            return Counter(r.status_code for r in answers), time.monotonic() - t0

    codes, seconds = asyncio.run(burst())
    assert codes == Counter({200: 300}), codes
    assert seconds < 25, seconds  # well under the pool's 30 s timeout


@pytest.mark.postgres
def test_thirty_agents_for_twenty_seconds_lose_and_duplicate_nothing(postgres_url, tmp_path):
    loadtest = _loadtest()
    url = new_db_url("postgres", tmp_path, postgres_url)
    report = loadtest.run(url, agents=30, seconds=20, tasks=3000, branches=11)
    print(report)
    counts = report["counts"]
    assert counts["errors"] == 0, report["first_errors"]
    assert counts["outcomes_answered"] > 100 and counts["reposts"] > 0, counts
    assert counts["call_backs"] > 0, counts
    assert set(counts["answers"]) <= {"claim 200", "outcome 200", "repost 200"}, counts
    assert all(n == 0 for n in report["problems"].values()), report["problems"]
