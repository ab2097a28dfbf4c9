"""Bulk writes (COPY on PostgreSQL, executemany on SQLite) keep every value as written, and the
queue's pick is served by an index, on both databases (``op_db``)."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select

from weixi.dispatch import queue as work_queue
from weixi.dispatch.models import Campaign, Task
from weixi.store import bulk
from weixi.store.db import session_scope
from weixi.web import migrate

MONTH = dt.date(2026, 1, 1)
NOW = dt.datetime(2026, 1, 20, 9, 30, 15, 123456)


def _campaign(s) -> int:
    c = Campaign(
        key="bulk",
        name_en="Bulk",
        name_zh="批量",
        status="active",
        period_start=MONTH,
        period_end=MONTH,
        salt="s",
        channels=["call_center"],
        actions=[],
        spec={},
    )
    s.add(c)
    s.flush()
    return c.id


def _tasks(cid: int, n: int, *, branches: int, open_every: int) -> pa.Table:
    i = np.arange(n)
    status = np.where(i % open_every == 0, "open", "done")
    return pa.table(
        {
            "campaign_id": pa.array(np.full(n, cid), pa.int64()),
            "month": pa.array([MONTH] * n, pa.date32()),
            "subscriber_id": pa.array([f"S{k:07d}" for k in i], pa.string()),
            "branch_id": pa.array([f"B{k % branches:02d}" for k in i], pa.string()),
            "channel": pa.array(np.where(i % 3 == 0, "account_manager", "call_center")),
            "staff_id": pa.array([None] * n, pa.string()),
            "action": pa.array(np.full(n, "care_call")),
            "priority_rank": pa.array(i % 12, pa.int64()),
            "expected_value": pa.array((i % 97) / 7.0, pa.float64()),
            "status": pa.array(status),
            "created_at": pa.array(np.full(n, np.datetime64(NOW, "us")), pa.timestamp("us")),
            "updated_at": pa.array(np.full(n, np.datetime64(NOW, "us")), pa.timestamp("us")),
        }
    )


def test_bulk_insert_round_trips_values(settings):
    migrate.upgrade()
    tricky = pa.table(
        {
            "subscriber_id": ["A1", "A2", "A3"],
            "customer_id": ["", None, 'quote " and, comma'],  # empty string is not NULL
            "branch_id": ["HZ", "HZ", "NB"],
            "channel": ["call_center"] * 3,
            "action": ["care_call"] * 3,
            "reason": ["多行\n原因", None, "tab\there"],
            "priority_rank": pa.array([1, None, 3], pa.int64()),
            "p_churn": [0.1 + 0.2, 1e-300, None],  # shortest round-trip digits survive
            "status": ["open"] * 3,
            "created_at": pa.array([NOW] * 3, pa.timestamp("us")),
            "updated_at": pa.array([NOW] * 3, pa.timestamp("us")),
            "month": pa.array([MONTH] * 3, pa.date32()),
        }
    )
    with session_scope() as s:
        cid = _campaign(s)
        data = tricky.append_column("campaign_id", pa.array([cid] * 3, pa.int64()))
        assert bulk.insert_arrow(s, "tasks", data) == 3
    with session_scope() as s:
        rows = s.execute(
            select(
                Task.subscriber_id,
                Task.customer_id,
                Task.reason,
                Task.priority_rank,
                Task.p_churn,
                Task.created_at,
                Task.month,
                Task.version,
            ).order_by(Task.subscriber_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("A1", "", "多行\n原因", 1, 0.1 + 0.2, NOW, MONTH, 0),
        ("A2", None, None, None, 1e-300, NOW, MONTH, 0),
        ("A3", 'quote " and, comma', "tab\there", 3, None, NOW, MONTH, 0),
    ]


def _explain(session, stmt) -> str:
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), dict(compiled.params)).all()
        return "\n".join(r[0] for r in rows)
    params = tuple(compiled.params[k] for k in compiled.positiontup)
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params).all()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "assigned"])
def test_queue_pick_uses_the_claim_index(settings, op_db, pooled):
    migrate.upgrade()
    with session_scope() as s:
        cid = _campaign(s)
        bulk.insert_arrow(s, "tasks", _tasks(cid, 30_000, branches=31, open_every=5))
    with session_scope() as s:
        s.connection().exec_driver_sql("ANALYZE")
    worker = work_queue.Worker(
        username="u",
        token="t",
        branch_id="B07",
        staff_id=None if pooled else "HZCC0001",
        pool_channel="call_center" if pooled else None,
    )
    with session_scope() as s:
        pick = work_queue.pick_query(worker, NOW)
        if op_db == "postgres":
            pick = pick.with_for_update(skip_locked=True)
        plan = _explain(s, pick)
        # the claim really picks from that plan: an open pooled call-centre task of B07
        tid = s.scalar(pick)
        if pooled:
            task = s.get(Task, tid)
            assert (task.branch_id, task.status, task.channel) == ("B07", "open", "call_center")
        else:
            assert tid is None
    if op_db == "postgres":
        assert "Seq Scan on tasks" not in plan, plan
        scan = re.search(
            r"Index (Only )?Scan using (ix_tasks_\w+) on tasks.*\n\s*Index Cond: (.*)", plan
        )
        assert scan and scan.group(2) in ("ix_tasks_claim", "ix_tasks_queue"), plan
        assert "branch_id" in scan.group(3) and "status" in scan.group(3), plan
    else:
        assert "ix_tasks_claim" in plan, plan
        assert not any(
            line.startswith("SCAN tasks") for line in plan.splitlines() if "INDEX" not in line
        ), plan
