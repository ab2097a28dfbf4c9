"""Outcome files: validated as a whole, recorded in one bulk write, every row accounted for."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, insert, select

from weixi.auth.models import User
from weixi.dispatch import outcome_files
from weixi.dispatch.models import Campaign, ContactLog, Outcome, Task
from weixi.dispatch.outcome_files import record_file
from weixi.dispatch.service import record_outcome
from weixi.store.db import Base, get_engine, session_factory

NOW = dt.datetime(2026, 3, 10, 12, 0)


@pytest.fixture
def session(settings):
    import weixi.security.audit  # noqa: F401  (registers the audit table)

    Base.metadata.create_all(get_engine())
    s = session_factory()()
    camp = Campaign(
        key="c1",
        name_en="c1",
        status="approved",
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        salt="s",
    )
    s.add(camp)
    s.flush()
    rows = [
        {
            "campaign_id": camp.id,
            "month": dt.date(2026, 3, 1),
            "subscriber_id": f"S{i:04d}",
            "customer_id": f"C{i:04d}",
            "branch_id": "HZ" if i < 8 else "NB",
            "channel": "call_center",
            "staff_id": "HZCC0001" if i == 1 else None,
            "action": "retain",
        }
        for i in range(10)
    ]
    s.execute(insert(Task), rows)
    s.flush()
    yield s
    s.close()


def _user(role: str, branch: str | None = None) -> User:
    return User(username=f"{role}-1", role=role, branch_id=branch, password_hash="x")


def _ids(session) -> list[int]:
    return session.execute(select(Task.id).order_by(Task.id)).scalars().all()


@pytest.mark.parametrize("look_up", ["range", "staged"])
def test_file_rows_are_recorded_repeated_or_rejected_with_the_reason(session, look_up, monkeypatch):
    # the file's task ids are read by one range scan when dense, else staged and joined
    if look_up == "staged":
        monkeypatch.setattr(outcome_files, "DENSE", 0)
    ids = _ids(session)
    # task 5 is held by someone else's live claim; task 6 is already done
    held, done = session.get(Task, ids[5]), session.get(Task, ids[6])
    held.claimed_by, held.claimed_until = "agent-2", NOW + dt.timedelta(minutes=10)
    held.claim_token = "tok-live"
    # task 0 was claimed by an agent whose claim has expired: the file's outcome releases it
    stale = session.get(Task, ids[0])
    stale.claimed_by, stale.claim_token = "agent-3", "tok-stale"
    stale.claimed_until = NOW - dt.timedelta(minutes=1)
    record_outcome(session=session, task_id=done.id, result="accepted", at=NOW)
    body = "\n".join(
        [
            "Task_ID, result ,refusal_reason,callback_at,staff_id,idempotency_key",
            f"{ids[0]},accepted,,,,",
            f"{ids[1]},refused,price,,HZCC0001,",
            f"{ids[2]},call_back,,2026-03-20 15:00,,",
            f"{ids[2]},accepted,,,,",  # the task waits for the call back the row above set
            f"{ids[3]},refused,,,,",  # no reason
            f"{ids[4]},not_reached,,,HZCC0009,",  # pooled: credited to HZCC0009
            f"{ids[1]},accepted,,,HZCC0002,",  # assigned to HZCC0001
            f"{ids[5]},accepted,,,,",
            f"{ids[6]},accepted,,,,",
            f"{ids[7]},maybe,,,,",
            "abc,accepted,,,,",
            "99999,accepted,,,,",
            f"{ids[8]},accepted,,,,",  # other branch
            f"{ids[7]},call_back,,soon,,",
            f"{ids[7]},already_churned,,,,k-1",
        ]
    )
    rep = record_file(
        session=session,
        user=_user("branch_manager", "HZ"),
        name="d.csv",
        data=body.encode(),
        now=NOW,
    )
    assert rep.read == 15 and rep.balanced
    assert rep.recorded == 5 and rep.repeated == 0
    reasons = {r["row"]: r["reason"] for r in rep.rejected}
    assert reasons == {
        5: f"task {ids[2]} waits for its call back at 2026-03-20 15:00 UTC; "
        "it returns to the queue then",
        6: "a refusal needs refusal_reason",
        8: f"task {ids[1]} is assigned to HZCC0001, not HZCC0002",
        9: f"task {ids[5]} is being worked by agent-2 until 12:10 UTC",
        10: f"task {ids[6]} is already done: it takes no further outcome",
        11: "unknown outcome 'maybe': use one of "
        "['not_reached', 'accepted', 'refused', 'call_back', 'already_churned']",
        12: "task_id 'abc' is not a number",
        13: "task 99999 not found",
        14: f"task {ids[8]} not found",
        15: "callback_at must look like 2026-01-31 15:00",
    }
    session.expire_all()
    status = {t.id: (t.status, t.staff_id, t.callback_at) for t in session.scalars(select(Task))}
    assert status[ids[0]][0] == "done" and status[ids[1]][:2] == ("done", "HZCC0001")
    assert status[ids[2]] == ("open", None, dt.datetime(2026, 3, 20, 15))
    assert status[ids[4]][:2] == ("done", "HZCC0009")
    assert status[ids[7]][0] == "done"
    first, held = session.get(Task, ids[0]), session.get(Task, ids[5])
    assert (first.claimed_by, first.claim_token, first.claimed_until) == (None, None, None)
    assert (held.claimed_by, held.claim_token) == ("agent-2", "tok-live")
    # each task's outcome summary: its newest result, attempts, reached, accepted
    summary = {
        t.id: (t.last_result, t.attempts, t.reached_any, t.accepted_any)
        for t in session.scalars(select(Task))
    }
    assert summary[ids[0]] == ("accepted", 1, 1, 1)
    assert summary[ids[2]] == ("call_back", 1, 1, 0)
    assert summary[ids[4]] == ("not_reached", 1, 0, 0)
    assert summary[ids[7]] == ("already_churned", 0, 0, 0)
    assert summary[ids[3]] == (None, 0, 0, 0)
    # five outcomes from the file (plus the earlier one); no contact for already_churned
    n_out = session.scalar(
        select(func.count()).select_from(Outcome).where(Outcome.source == "file")
    )
    assert n_out == 5
    cb = session.scalars(select(Outcome).where(Outcome.task_id == ids[2])).one()
    assert (cb.result, cb.callback_at, cb.recorded_at) == ("call_back", status[ids[2]][2], NOW)
    assert (cb.source, cb.recorded_by, cb.refusal_reason) == ("file", "branch_manager-1", None)
    n_log = session.scalar(select(func.count()).select_from(ContactLog))
    assert n_log == 1 + 4

    # the same file again: every recorded row is a repeat, the rest is rejected again
    again = record_file(
        session=session,
        user=_user("branch_manager", "HZ"),
        name="d.csv",
        data=body.encode(),
        now=NOW,
    )
    assert (again.recorded, again.repeated, len(again.rejected)) == (0, 5, 10)
    assert session.scalar(select(func.count()).select_from(Outcome)) == 6


def test_a_key_used_for_another_task_is_rejected(session):
    ids = _ids(session)
    body = f"task_id,result,idempotency_key\n{ids[0]},not_reached,k\n{ids[1]},not_reached,k\n"
    rep = record_file(session=session, user=_user("planner"), name="k.csv", data=body.encode())
    assert (rep.recorded, rep.repeated) == (1, 0)
    assert rep.rejected[0]["reason"] == (
        f"idempotency key 'k' was already used for task {ids[0]}, not task {ids[1]}: "
        "use a new key for each outcome"
    )


def test_roles_without_outcomes_find_no_task(session):
    ids = _ids(session)
    body = f"task_id,result\n{ids[0]},accepted\n"
    for role in ("admin", "analyst"):
        rep = record_file(session=session, user=_user(role), name="r.csv", data=body.encode())
        assert rep.rejected[0]["reason"] == f"task {ids[0]} not found"
