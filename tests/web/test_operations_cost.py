"""Monitoring and the dashboard count the money spent as evaluation does (actual cost)."""

from __future__ import annotations

import datetime as dt

from weixi.dispatch.models import Campaign, Task
from weixi.dispatch.service import record_outcome
from weixi.store.db import session_factory
from weixi.web import migrate, operations

M = dt.date(2026, 1, 1)
AT = dt.datetime(2026, 1, 10, 9)


def test_cost_is_contacts_times_attempts_plus_offers_accepted(settings):
    migrate.upgrade()
    s = session_factory()()
    camp = Campaign(key="k", name_en="k", period_start=M, period_end=M, salt="k", status="active")
    s.add(camp)
    s.flush()
    scripts = [(), ("not_reached",), ("call_back", "accepted"), ("refused",), ("already_churned",)]
    for i, script in enumerate(scripts):
        task = Task(
            campaign_id=camp.id,
            month=M,
            subscriber_id=f"s{i}",
            branch_id="b1",
            channel="call_center" if i % 2 else "store",
            staff_id="S1",
            action="care_call",
            offer_id="gift",
            cost=999.0,  # the planned price is not what was spent
        )
        s.add(task)
        s.flush()
        for k, result in enumerate(script):
            record_outcome(
                session=s,
                task_id=task.id,
                result=result,
                at=AT + dt.timedelta(hours=k),
                callback_at=AT + dt.timedelta(hours=k + 1) if result == "call_back" else None,
                refusal_reason="price" if result == "refused" else None,
            )
    s.commit()
    prices = operations.Prices(contact={"call_center": 2.0, "store": 10.0}, offer={"gift": 50.0})
    # attempts: s1 1 × 2.0 (call centre), s2 2 × 10.0 + gift 50 (store), s3 1 × 2.0
    expected = 2.0 + 20.0 + 50.0 + 2.0
    k = operations.execution_kpis(session=s, prices=prices)
    # reached = answered (an already-churned line was worked, not reached)
    assert (k["tasks"], k["worked"], k["contacted"], k["accepted"]) == (5, 4, 2, 1)
    assert k["cost"] == expected
    rows = operations.progress(session=s, by="branch", prices=prices)
    assert len(rows) == 1 and rows[0]["cost"] == expected and rows[0]["tasks"] == 5
    s.close()
