"""The work queue under concurrency, on SQLite and on a real PostgreSQL server.

Twenty browser sessions of one agent work the same pooled queue at once: no task is handed to
two sessions, no task takes two outcomes, and the contact log has one row per outcome. Twenty
concurrent API posts with one Idempotency-Key store one outcome and all answer it. The per-cell
figures the database keeps (monitoring's) equal a recount after the concurrent sessions. A closed
task takes no second outcome; a call-back returns to the queue at its time, not before.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import csrf_of, login
from tests.web.worlds import CSRF_RE, TASK_RE, World, build_world
from weixi.dispatch import cells
from weixi.dispatch import queue as work_queue
from weixi.dispatch.models import Task
from weixi.dispatch.service import record_outcome
from weixi.errors import ConflictError
from weixi.store.db import session_scope

SESSIONS = 20
POOLED = 200
STATS: dict[str, dict] = {}  # figures quoted in docs/reliability.md (printed with -s)


@pytest.fixture(scope="module")
def world(op_db, tmp_path_factory, store_path, fresh_db_url) -> World:
    """One world per database kind (the suite runs on SQLite and PostgreSQL: ``op_db``)."""
    home = tmp_path_factory.mktemp(f"queue-{op_db}")
    w = build_world(fresh_db_url(home), home, store_path)
    w.kind = op_db  # type: ignore[attr-defined]
    return w


def _run_threads(n: int, target) -> list:
    """Run ``target(i, barrier)`` in ``n`` threads started together; return their results."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        try:
            results[i] = target(i, barrier)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    assert not errors, errors[:3]
    return results


def test_twenty_sessions_of_one_agent_never_share_a_task(world):
    ids = world.add_tasks(
        [
            {"subscriber_id": f"Q{i:05d}", "priority_rank": i % 7, "expected_value": i % 13}
            for i in range(POOLED)
        ]
    )
    clients = [login(world.app, "u_agent") for _ in range(SESSIONS)]
    rng = random.Random(7)
    choices = [rng.choice(["accepted", "refused", "not_reached"]) for _ in range(POOLED * 2)]
    statuses: Counter = Counter()

    def work(i: int, barrier: threading.Barrier) -> list[int]:
        client, handed = clients[i], []
        barrier.wait()
        while True:
            page = client.get("/queue")
            assert page.status_code == 200, page.text[:300]
            found = TASK_RE.search(page.text)
            if not found:
                return handed
            task_id = int(found.group(1))
            handed.append(task_id)
            result = choices[(task_id + i) % len(choices)]
            resp = client.post(
                f"/queue/{task_id}/outcome",
                data={
                    "result": result,
                    "refusal_reason": "price",
                    "csrf_token": CSRF_RE.search(page.text).group(1),
                },
            )
            statuses[resp.status_code] += 1

    t0 = time.perf_counter()
    handed = _run_threads(SESSIONS, work)
    seconds = time.perf_counter() - t0
    every = [t for h in handed for t in h]
    twice = [t for t, n in Counter(every).items() if n > 1]
    assert not twice, f"tasks handed to two sessions: {twice[:10]}"
    assert sorted(every) == sorted(ids), "every pooled task was worked exactly once"
    assert statuses == Counter({303: POOLED}), statuses
    c = world.counts(ids)
    assert set(c["per_task"].values()) == {1} and len(c["per_task"]) == POOLED
    assert c["contacts"] == POOLED  # one contact-log row per outcome
    assert c["statuses"] == {"done": POOLED}
    with session_scope(world.url) as s:  # the kept per-cell figures followed every outcome
        assert cells.differences(s) == []
    STATS[f"sessions-{world.kind}"] = {
        "sessions": SESSIONS,
        "tasks": POOLED,
        "handed": len(every),
        "outcomes": sum(c["per_task"].values()),
        "contacts": c["contacts"],
        "busiest_session": max(len(h) for h in handed),
        "seconds": round(seconds, 1),
    }
    print(STATS)


def test_one_idempotency_key_twenty_concurrent_posts(world):
    from weixi.auth import service

    (task_id,) = world.add_tasks([{"subscriber_id": "IDEM1", "staff_id": "HZCC0001"}])
    with session_scope(world.url) as s:
        token = service.create_api_token(
            session=s, user=service.get_by_username(session=s, username="u_agent"), name="dialer"
        )
    body = {"task_id": task_id, "result": "accepted"}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"dialer-{task_id}"}

    def post(i: int, barrier: threading.Barrier):
        client = TestClient(world.app, base_url="https://testserver")
        barrier.wait()
        r = client.post("/api/v1/outcomes", json=body, headers=headers)
        return r.status_code, (r.json().get("id") if r.status_code in (200, 201) else r.text)

    answers = _run_threads(SESSIONS, post)
    codes = Counter(code for code, _ in answers)
    assert set(codes) <= {200, 201}, answers
    assert len({oid for _, oid in answers}) == 1, answers
    c = world.counts([task_id])
    assert c["per_task"] == {task_id: 1} and c["contacts"] == 1
    STATS[f"idempotency-{world.kind}"] = {"posts": SESSIONS, "codes": dict(codes), "stored": 1}
    print(STATS)


def test_a_refused_task_takes_no_accepted(world):
    agent = login(world.app, "u_agent")
    (task_id,) = world.add_tasks([{"subscriber_id": "REF1", "staff_id": "HZCC0001"}])
    csrf = csrf_of(agent, "/dashboard")
    first = agent.post(
        f"/queue/{task_id}/outcome",
        data={"result": "refused", "refusal_reason": "price", "csrf_token": csrf},
    )
    assert first.status_code == 303
    again = agent.post(f"/queue/{task_id}/outcome", data={"result": "accepted", "csrf_token": csrf})
    assert again.status_code == 409 and "already done" in again.text
    agent.post("/lang", data={"lang": "zh-CN", "csrf_token": csrf})
    try:  # the page speaks the agent's language
        zh = agent.post(
            f"/queue/{task_id}/outcome", data={"result": "accepted", "csrf_token": csrf}
        )
        assert zh.status_code == 409 and f"任务 {task_id} 已经是 done 状态" in zh.text
    finally:
        agent.post("/lang", data={"lang": "en", "csrf_token": csrf})
    api = agent.post(
        "/api/v1/outcomes",
        json={"task_id": task_id, "result": "accepted"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 409 and "already done" in api.json()["detail"]
    c = world.counts([task_id])
    assert c["per_task"] == {task_id: 1} and c["contacts"] == 1


def test_call_back_returns_to_the_queue_when_due_and_first(world):
    now = dt.datetime(2030, 1, 1, 9, 0)
    # The agent's own tasks: the call-back one has the lowest priority (rank 9).
    late, urgent = world.add_tasks(
        [
            {"subscriber_id": "CB-LATE", "staff_id": "HZCC0009", "priority_rank": 9},
            {"subscriber_id": "CB-URGENT", "staff_id": "HZCC0009", "priority_rank": 1},
        ]
    )
    me = work_queue.Worker("u_cb", "tok-a", "HZ", "HZCC0009", None)
    minutes = dt.timedelta(minutes=15)
    with session_scope(world.url) as s:
        assert work_queue.claim_next(session=s, worker=me, timeout=minutes, now=now).id == urgent
        record_outcome(
            session=s,
            task_id=urgent,
            result="call_back",
            callback_at=now + dt.timedelta(hours=2),
            recorded_by="u_cb",
            at=now,
        )
    with session_scope(world.url) as s:
        # before its time the call-back is not in the queue, and takes no outcome
        assert work_queue.claim_next(session=s, worker=me, timeout=minutes, now=now).id == late
        with pytest.raises(ConflictError, match="waits for its call back"):
            record_outcome(session=s, task_id=urgent, result="accepted", at=now)
        work_queue.release(session=s, worker=me, task_id=late)
    due = now + dt.timedelta(hours=2, minutes=1)
    with session_scope(world.url) as s:
        # at its time it comes first, before a higher priority rank
        task = work_queue.claim_next(session=s, worker=me, timeout=minutes, now=due)
        assert task.id == urgent and task.callback_at is not None
        record_outcome(session=s, task_id=urgent, result="accepted", recorded_by="u_cb", at=due)
    c = world.counts([urgent])
    assert c["per_task"] == {urgent: 2} and c["statuses"] == {"done": 1}


def test_queue_orders_by_urgency_then_value_and_claims_expire(world):
    now = dt.datetime(2030, 2, 1, 9, 0)
    low_value, high_value, a1 = world.add_tasks(
        [
            {"subscriber_id": "ORD-1", "staff_id": "HZCC0008", "priority_rank": 5},
            {
                "subscriber_id": "ORD-2",
                "staff_id": "HZCC0008",
                "priority_rank": 5,
                "expected_value": 99.0,
            },
            {"subscriber_id": "ORD-3", "staff_id": "HZCC0008", "priority_rank": 1},
        ]
    )
    one = work_queue.Worker("u_o", "tok-1", "HZ", "HZCC0008", None)
    two = work_queue.Worker("u_o", "tok-2", "HZ", "HZCC0008", None)
    timeout = dt.timedelta(minutes=10)
    order = []
    with session_scope(world.url) as s:
        for w in (one, two):
            order.append(work_queue.claim_next(session=s, worker=w, timeout=timeout, now=now).id)
    with session_scope(world.url) as s:  # a reload keeps the session's own claim
        assert work_queue.claim_next(session=s, worker=one, timeout=timeout, now=now).id == a1
        three = work_queue.Worker("u_o", "tok-3", "HZ", "HZCC0008", None)
        order.append(work_queue.claim_next(session=s, worker=three, timeout=timeout, now=now).id)
    assert order == [a1, high_value, low_value]
    later = now + timeout + dt.timedelta(seconds=1)
    four = work_queue.Worker("u_o", "tok-4", "HZ", "HZCC0008", None)
    with session_scope(world.url) as s:  # expired claims return to the queue, in order
        assert work_queue.claim_next(session=s, worker=four, timeout=timeout, now=later).id == a1
        task = s.get(Task, a1)
        assert task.claim_token == "tok-4"


def test_a_key_committed_meanwhile_is_a_clean_answer_not_a_500(world, monkeypatch):
    """The IntegrityError race, made deterministic: the key check misses an outcome that
    another request commits just before this one inserts the same key."""
    from sqlalchemy.orm import Session

    from weixi.dispatch import service
    from weixi.store.db import get_engine

    first, second = world.add_tasks(
        [
            {"subscriber_id": "RACE-1", "staff_id": "HZCC0001"},
            {"subscriber_id": "RACE-2", "staff_id": "HZCC0001"},
        ]
    )
    with session_scope(world.url) as s:
        stored = record_outcome(
            session=s, task_id=first, result="accepted", idempotency_key="race-key"
        ).id
    real = service._outcome_by_key
    calls = {"n": 0}

    def stale_once(session, key, task_id):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, key, task_id)

    monkeypatch.setattr(service, "_outcome_by_key", stale_once)
    with Session(get_engine(world.url)) as s:
        # the same key for another task: a 409 naming the first task, never a 500
        with pytest.raises(ConflictError, match=f"already used for task {first}"):
            record_outcome(session=s, task_id=second, result="accepted", idempotency_key="race-key")
        s.rollback()
    monkeypatch.setattr(service, "_outcome_by_key", real)
    with session_scope(world.url) as s:
        # the retry of the same task answers the stored outcome
        again = record_outcome(
            session=s, task_id=first, result="accepted", idempotency_key="race-key"
        )
        assert again.id == stored
    c = world.counts([first, second])
    assert c["per_task"] == {first: 1} and c["statuses"] == {"done": 1, "open": 1}
