"""Load test of the work queue over HTTP: many agents claim and close tasks at once, on PostgreSQL.

Starts the real app under uvicorn (a separate process, ``--workers`` of them) on a free loopback
port against PostgreSQL (a throw-away cluster like the test fixture's, or ``--database-url``),
seeds a live campaign with ``--tasks`` open tasks over ``--branches`` branches (bulk ``INSERT``;
a share assigned to the agents' staff ids, the rest pooled call-centre tasks), creates
``--agents`` agent users with an API token each, and runs them concurrently for ``--seconds``
(asyncio + httpx). Each agent loops: ``POST /api/v1/queue/next``, then ``POST /api/v1/outcomes``
with an ``Idempotency-Key``; sometimes it re-posts the same key (a dialer's retry), sometimes the
outcome is a call-back a few seconds later (the task returns to the queue and is closed by
whoever claims it then).

At the end it checks the database against what the agents were answered: no lost outcome
(every 2xx answer is stored, for its task), no duplicate (no task with two closing outcomes,
a re-posted key answers the first outcome and is stored once), no task handed to two agents at
once, one contact-log row per outcome and task statuses that match. It prints JSON with the
counts, throughput and p50/p95/p99 latency of the claim and of the outcome post; the exit code
is 1 when a check fails.

Example:
    python bench/loadtest.py --agents 200 --seconds 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from weixi.auth.models import ApiToken, User
from weixi.auth.passwords import hash_password
from weixi.auth.service import _digest
from weixi.dispatch.models import Campaign, ContactLog, Outcome, Task
from weixi.store.db import get_engine, session_scope
from weixi.web import migrate

ROOT = Path(__file__).resolve().parent.parent
CLOSING = ("not_reached", "accepted", "refused")
MONTH = dt.date(2026, 1, 1)


@dataclasses.dataclass
class Stats:
    """What the agents saw: latencies, answers, hand-outs and the outcomes they were answered."""

    claim_s: list[float] = dataclasses.field(default_factory=list)
    post_s: list[float] = dataclasses.field(default_factory=list)
    repost_s: list[float] = dataclasses.field(default_factory=list)
    codes: Counter = dataclasses.field(default_factory=Counter)
    # task -> [(agent, held from (claim answered), held to (outcome sent))]
    held: dict[int, list[tuple[int, float, float]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    # outcome id -> (task id, key, result) of every 2xx first post
    answered: dict[int, tuple[int, str, str]] = dataclasses.field(default_factory=dict)
    reposts_differ: int = 0  # a re-posted key answered another outcome id
    reposts: int = 0
    transport_retries: int = 0  # a dropped connection, retried (outcomes with the same key)
    empty_queue: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int, children: bool = True) -> float | None:
    """User + system CPU seconds of ``pid`` (and of its reaped children) from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = sum(int(x) for x in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _postmaster(url: str) -> int | None:
    """The pid of the local PostgreSQL server listening on ``url``'s port, if we can see it."""
    port = (make_url(url).port or 5432) if url.startswith("postgresql") else None
    if port is None:
        return None
    needle = f"\0-p\0{port}\0".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"postgres" in cmd.split(b"\0", 1)[0] and needle in cmd + b"\0":
            return int(proc.name)
    return None


def seed(url: str, *, agents: int, tasks: int, branches: int, seed: int = 0) -> list[str]:
    """Migrate ``url``, write a live campaign with ``tasks`` open tasks and ``agents`` agents
    with one API token each (bulk inserts); return the tokens, agent i's at index i."""
    migrate.upgrade(url)
    rng = random.Random(seed)
    pw = hash_password("load-test-password-1")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tokens = [f"wx_load_{i}_{uuid.uuid4().hex}" for i in range(agents)]
    with session_scope(url) as s:
        camp = Campaign(
            key=f"load-{uuid.uuid4().hex[:8]}",
            name_en="Load test",
            name_zh="压力测试",
            status="active",
            period_start=MONTH,
            period_end=MONTH,
            salt="load",
            channels=["call_center"],
            actions=[],
            spec={},
        )
        s.add(camp)
        s.flush()
        users = [
            dict(
                username=f"load_agent_{i:04d}",
                display_name=f"Agent {i}",
                password_hash=pw,
                role="agent",
                branch_id=f"B{i % branches:02d}",
                staff_id=f"CC{i:04d}",
                locale="en",
                is_active=True,
                failed_logins=0,
                created_at=now,
            )
            for i in range(agents)
        ]
        ids = s.scalars(insert(User).returning(User.id), users).all()
        s.execute(
            insert(ApiToken),
            [
                dict(name="loadtest", token_hash=_digest(tok), user_id=uid, created_at=now)
                for uid, tok in zip(ids, tokens, strict=True)
            ],
        )
        # A third of the tasks are assigned to an agent of their branch, the rest pooled.
        rows = []
        for i in range(tasks):
            branch = i % branches
            agent = rng.randrange(agents)
            own = rng.random() < 1 / 3 and agent % branches == branch
            rows.append(
                dict(
                    campaign_id=camp.id,
                    month=MONTH,
                    subscriber_id=f"L{i:08d}",
                    branch_id=f"B{branch:02d}",
                    channel="call_center",
                    staff_id=f"CC{agent:04d}" if own else None,
                    action="care_call",
                    priority_rank=rng.randint(1, 36),
                    p_churn=round(rng.random(), 3),
                    expected_value=round(rng.random() * 500, 2),
                    reason="load test",
                    reason_zh="压力测试",
                    status="open",
                    version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        for i in range(0, len(rows), 20_000):
            s.execute(insert(Task), rows[i : i + 20_000])
    return tokens


@contextlib.contextmanager
def serve(
    url: str, *, workers: int = 1, home: Path | None = None, cpu: dict | None = None
) -> Iterator[str]:
    """Run the app under uvicorn in its own process on a free loopback port; yield its URL.

    ``cpu["server_s"]`` gets the CPU seconds the server process(es) used while serving."""
    home = home or Path(tempfile.mkdtemp(prefix="weixi-load-"))
    port = _free_port()
    env = {
        **os.environ,
        "WEIXI_HOME": str(home),
        "WEIXI_DATABASE_URL": url,
        "WEIXI_ENV": "dev",
        "WEIXI_SECRET_KEY": "load-test-secret-key-0123456789",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    log = open(home / "uvicorn.log", "wb")  # noqa: SIM115 - closed below
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "weixi.web.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"uvicorn did not start: see {home / 'uvicorn.log'}")
            time.sleep(0.2)
        start = _cpu_seconds(proc.pid)
        yield base
        if cpu is not None and start is not None:
            # worker processes are children of the uvicorn supervisor: count them while alive
            own = (_cpu_seconds(proc.pid) or 0.0) - start
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            pids = kids.read_text().split() if kids.exists() else []
            cpu["server_s"] = own + sum(_cpu_seconds(int(p), children=False) or 0.0 for p in pids)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _post(client: httpx.AsyncClient, st: Stats, url: str, **kw) -> httpx.Response:
    """POST, retried on a dropped connection (as a dialer does: an outcome with its same key)."""
    for attempt in range(3):
        try:
            return await client.post(url, **kw)
        except httpx.TransportError:
            if attempt == 2:
                raise
            st.transport_retries += 1
    raise AssertionError("unreachable")


async def _agent(
    i: int,
    client: httpx.AsyncClient,
    token: str,
    until: float,
    st: Stats,
    rng: random.Random,
    repost_share: float,
    callback_share: float,
    think: float,
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    held_from: dict[int, float] = {}
    if think:  # agents with calls to make do not all start in the same second
        await asyncio.sleep(rng.uniform(0, think))
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            r = await _post(client, st, "/api/v1/queue/next", headers=auth)
        except httpx.HTTPError as exc:
            st.errors.append(f"claim: {exc!r}")
            continue
        t1 = time.monotonic()
        st.claim_s.append(t1 - t0)
        st.codes[f"claim {r.status_code}"] += 1
        if r.status_code != 200:
            st.errors.append(f"claim {r.status_code}: {r.text[:200]}")
            continue
        task = r.json()
        if task is None:
            st.empty_queue += 1
            await asyncio.sleep(0.5)
            continue
        tid = task["id"]
        held_from.setdefault(tid, t1)  # a renewed claim keeps its start
        roll = rng.random()
        body: dict = {"task_id": tid}
        if roll < callback_share:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=rng.uniform(2, 6))
            body.update(result="call_back", callback_at=when.isoformat())
        else:
            body["result"] = rng.choice(CLOSING)
            if body["result"] == "refused":
                body["refusal_reason"] = "price"
        key = f"load-{i}-{tid}-{uuid.uuid4().hex[:8]}"
        headers = {**auth, "Idempotency-Key": key}
        t2 = time.monotonic()
        st.held[tid].append((i, held_from.pop(tid), t2))
        try:
            r = await _post(client, st, "/api/v1/outcomes", json=body, headers=headers)
        except httpx.HTTPError as exc:
            st.errors.append(f"outcome: {exc!r}")
            continue
        st.post_s.append(time.monotonic() - t2)
        st.codes[f"outcome {r.status_code}"] += 1
        if r.status_code not in (200, 201):
            st.errors.append(f"outcome {r.status_code}: {r.text[:200]}")
            continue
        oid = r.json()["id"]
        st.answered[oid] = (tid, key, body["result"])
        if rng.random() < repost_share:  # the dialer retries: the same key, the same body
            t3 = time.monotonic()
            again = await _post(client, st, "/api/v1/outcomes", json=body, headers=headers)
            st.repost_s.append(time.monotonic() - t3)
            st.reposts += 1
            st.codes[f"repost {again.status_code}"] += 1
            if again.status_code not in (200, 201) or again.json()["id"] != oid:
                st.reposts_differ += 1
                st.errors.append(f"repost {again.status_code}: {again.text[:200]}")
        if think:  # the call itself: exponential, mean ``think`` seconds
            await asyncio.sleep(min(rng.expovariate(1 / think), until - time.monotonic()))


async def drive(
    base: str,
    tokens: list[str],
    seconds: float,
    *,
    repost_share: float = 0.1,
    callback_share: float = 0.05,
    think: float = 0.0,
    seed: int = 0,
) -> tuple[Stats, float]:
    """Run one agent per token against ``base`` for ``seconds``; return the stats and wall time."""
    st = Stats()
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        t0 = time.monotonic()
        until = t0 + seconds
        await asyncio.gather(
            *(
                _agent(
                    i,
                    client,
                    tok,
                    until,
                    st,
                    random.Random(seed * 100_003 + i),
                    repost_share,
                    callback_share,
                    think,
                )
                for i, tok in enumerate(tokens)
            )
        )
        wall = time.monotonic() - t0
    return st, wall


def check(url: str, st: Stats) -> dict:
    """Compare the database with what the agents were answered; every count should be 0."""
    with session_scope(url) as s:
        stored = {
            o.id: (o.task_id, o.idempotency_key, o.result)
            for o in s.execute(
                select(Outcome.id, Outcome.task_id, Outcome.idempotency_key, Outcome.result)
            )
        }
        per_task_contacts = Counter(
            {
                t: n
                for t, n in s.execute(
                    select(ContactLog.task_id, func.count()).group_by(ContactLog.task_id)
                )
            }
        )
        status = dict(s.execute(select(Task.id, Task.status)).all())
    closing = Counter(tid for tid, _k, res in stored.values() if res != "call_back")
    per_task = Counter(tid for tid, _k, _r in stored.values())
    keys = Counter(k for _t, k, _r in stored.values())
    overlaps = 0  # a span starting before another agent's span on the task has ended
    for spans in st.held.values():
        spans.sort(key=lambda x: x[1])
        holder, end = spans[0][0], spans[0][2]
        for agent, start, stop in spans[1:]:
            overlaps += agent != holder and start < end
            if stop > end:
                holder, end = agent, stop
    return {
        "lost": sum(1 for oid, v in st.answered.items() if stored.get(oid) != v),
        "stored_not_answered": len(set(stored) - set(st.answered)),
        "tasks_with_two_closing_outcomes": sum(1 for n in closing.values() if n > 1),
        "keys_stored_twice": sum(1 for n in keys.values() if n > 1),
        "reposts_answered_another_outcome": st.reposts_differ,
        "handed_to_two_agents_at_once": overlaps,
        "tasks_where_contacts_differ_from_outcomes": sum(
            1 for t in set(per_task) | set(per_task_contacts) if per_task[t] != per_task_contacts[t]
        ),
        "closed_tasks_not_done": sum(1 for t in closing if status.get(t) != "done"),
        "done_tasks_without_outcome": sum(
            1 for t, v in status.items() if v == "done" and t not in closing
        ),
    }


def _pct(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    v = sorted(values)

    def at(q: float) -> float:
        return round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 1)

    return {"n": len(v), "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1)}


def run(
    url: str,
    *,
    agents: int,
    seconds: float,
    tasks: int | None = None,
    branches: int = 11,
    workers: int = 1,
    think: float = 0.0,
    seed_value: int = 0,
) -> dict:
    """Seed ``url``, serve it, drive ``agents`` for ``seconds`` and return the JSON report."""
    tasks = tasks or max(agents * int(seconds) * 2, 1000)
    t0 = time.perf_counter()
    tokens = seed(url, agents=agents, tasks=tasks, branches=branches, seed=seed_value)
    seed_s = time.perf_counter() - t0
    load0 = os.getloadavg()
    cpu: dict = {}
    pm = _postmaster(url)
    pg0 = _cpu_seconds(pm) if pm else None
    me0 = sum(os.times()[:2])
    with serve(url, workers=workers, cpu=cpu) as base:
        st, wall = asyncio.run(drive(base, tokens, seconds, think=think, seed=seed_value))
        client_s = sum(os.times()[:2]) - me0
    # backends exit with the server's connections; the postmaster has reaped them by now
    time.sleep(0.5)
    pg1 = _cpu_seconds(pm) if pm else None
    problems = check(url, st)
    get_engine.cache_clear()
    closing = sum(1 for _t, _k, r in st.answered.values() if r != "call_back")
    return {
        "benchmark": "loadtest",
        "agents": agents,
        "seconds": round(wall, 1),
        "tasks": tasks,
        "branches": branches,
        "uvicorn_workers": workers,
        "think_s": think,
        "seed_s": round(seed_s, 1),
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 1) for x in load0],
        "load_avg_after": [round(x, 1) for x in os.getloadavg()],
        "counts": {
            "claims": len(st.claim_s),
            "empty_queue_answers": st.empty_queue,
            "outcomes_answered": len(st.answered),
            "closing_outcomes": closing,
            "call_backs": len(st.answered) - closing,
            "reposts": st.reposts,
            "transport_retries": st.transport_retries,
            "answers": dict(sorted(st.codes.items())),
            "errors": len(st.errors),
        },
        "throughput_per_s": {
            "claims": round(len(st.claim_s) / wall, 1),
            "outcomes": round(len(st.answered) / wall, 1),
            "requests": round((len(st.claim_s) + len(st.post_s) + len(st.repost_s)) / wall, 1),
        },
        "cpu_seconds": {
            "server": round(cpu["server_s"], 1) if "server_s" in cpu else None,
            "postgres": round(pg1 - pg0, 1) if pg0 is not None and pg1 is not None else None,
            "client": round(client_s, 1),
            "available": round(wall * (os.cpu_count() or 1), 1),
        },
        "latency": {
            "claim": _pct(st.claim_s),
            "outcome": _pct(st.post_s),
            "repost": _pct(st.repost_s),
        },
        "problems": problems,
        "first_errors": st.errors[:5],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--tasks", type=int, default=None, help="default: 2 per agent-second")
    ap.add_argument("--branches", type=int, default=11)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds an agent spends on a call before the next claim (0: none, saturating)",
    )
    ap.add_argument(
        "--database-url",
        default=None,
        help="an empty PostgreSQL database (default: a throw-away cluster)",
    )
    args = ap.parse_args()
    kw = dict(
        agents=args.agents,
        seconds=args.seconds,
        tasks=args.tasks,
        branches=args.branches,
        workers=args.workers,
        think=args.think,
    )
    if args.database_url:
        report = run(args.database_url, **kw)
    else:
        sys.path.insert(0, str(ROOT))
        from tests.pgcluster import throwaway_postgres

        with throwaway_postgres(max_connections=300) as url:
            report = run(url, **kw)
    print(json.dumps(report, indent=2))
    sys.exit(1 if any(report["problems"].values()) or report["counts"]["errors"] else 0)


if __name__ == "__main__":
    main()
