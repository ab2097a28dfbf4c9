"""The per-cell task figures (``task_cells``), the outcomes per day (``outcome_days``) and the
tasks' outcome summaries, kept by the database's triggers, equal a recount after every kind of write — a dispatch (bulk insert),
single outcomes, an outcome file (bulk), a reassignment, drops by ``update_lists``, a
cancelled campaign, deletes — and monitoring reads the same figures as a recount of the tasks
and outcomes; on SQLite and PostgreSQL (``op_db``)."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import func, select, text

from tests.dispatch.test_lifecycle import NEXT, _plan, store  # noqa: F401  (fixture)
from weixi.auth.models import User
from weixi.dispatch import cells
from weixi.dispatch.models import Outcome, Task, TaskCell
from weixi.dispatch.outcome_files import record_file
from weixi.dispatch.service import decide_campaign, record_outcome, update_lists
from weixi.web import operations

AT = dt.datetime(2026, 1, 10, 9, 0)
DIMS = ("branch", "channel", "staff", "action", "priority", "category")
REACHED = ("accepted", "refused", "call_back")


def _prices(session) -> operations.Prices:
    offers = sorted(o for (o,) in session.execute(select(Task.offer_id).distinct()) if o)
    return operations.Prices(
        contact={"call_center": 5.0, "sms": 0.1, "account_manager": 20.0},
        offer={o: float(i + 1) for i, o in enumerate(offers)},
    )


def _recount(session, prices: operations.Prices, dim: str) -> dict:
    """Monitoring's figures for ``dim`` counted from the tasks and their outcomes (live
    campaigns, tasks not dropped): the reference the kept cells must equal."""
    col = {
        "branch": "t.branch_id",
        "channel": "t.channel",
        "staff": "t.staff_id",
        "action": "t.action",
        "priority": "t.priority_rank",
        "category": "t.category",
    }[dim]
    rows = session.execute(
        text(
            f"""SELECT {col} AS k, t.channel, t.offer_id, t.expected_value,
                  (SELECT o.result FROM outcomes o WHERE o.task_id = t.id
                   ORDER BY o.id DESC LIMIT 1) AS last,
                  (SELECT count(*) FROM outcomes o WHERE o.task_id = t.id
                   AND o.result <> 'already_churned') AS attempts
                FROM tasks t JOIN campaigns c ON c.id = t.campaign_id
                WHERE c.status IN ('approved', 'active') AND t.status <> 'dropped'"""
        )
    ).all()
    out: dict = {}
    for k, channel, offer, ev, last, attempts in rows:
        g = out.setdefault(k, {"tasks": 0, "worked": 0, "reached": 0, "accepted": 0, "cost": 0.0})
        g["tasks"] += 1
        g["worked"] += last is not None
        g["reached"] += last in REACHED
        g["accepted"] += last == "accepted"
        g["cost"] += prices.contact.get(channel, 0.0) * attempts + (
            prices.offer.get(offer, 0.0) if last == "accepted" else 0.0
        )
        g["ev"] = (g.get("ev") or 0.0) + ev if ev is not None else g.get("ev")
    return out


def _agree(session) -> None:
    """The kept figures equal a recount, and monitoring shows the recount's figures."""
    assert cells.differences(session) == []
    days = {
        (str(r["day"]), r["result"]): r["n"] for r in operations.outcomes_by_day(session=session)
    }
    counted = session.execute(
        select(func.date(Outcome.recorded_at), Outcome.result, func.count()).group_by(
            func.date(Outcome.recorded_at), Outcome.result
        )
    ).all()
    assert days == {(str(d), r): n for d, r, n in counted}
    prices = _prices(session)
    shown = operations.progress_by(session=session, dims=DIMS, prices=prices)
    for dim in DIMS:
        want = _recount(session, prices, dim)
        got = {r["key"]: r for r in shown[dim]}
        assert set(got) == set(want), dim
        for k, w in want.items():
            g = got[k]
            assert [g[f] for f in ("tasks", "worked", "reached", "accepted")] == [
                w[f] for f in ("tasks", "worked", "reached", "accepted")
            ], (dim, k)
            assert math.isclose(g["cost"], w["cost"], rel_tol=1e-9, abs_tol=1e-6), (dim, k)
            if w.get("ev") is None:
                assert g["expected_value"] is None
            else:
                assert math.isclose(g["expected_value"], w["ev"], rel_tol=1e-9, abs_tol=1e-6)
        # the monitoring page's paged grouping: its pages put together are the whole grouping,
        # in the same order (no key first), and every page carries the totals of all groups
        pages = [
            operations.progress_page(session=session, by=dim, limit=3, offset=o, prices=prices)
            for o in range(0, len(shown[dim]) + 3, 3)
        ]
        assert [r for p in pages for r in p.rows] == shown[dim], dim
        assert {p.groups for p in pages} == {len(shown[dim])}
        for f in ("tasks", "worked", "reached", "accepted"):
            assert {p.total[f] for p in pages} == {sum(w[f] for w in want.values())}, (dim, f)
        for p in pages:
            assert math.isclose(
                p.total["cost"], sum(w["cost"] for w in want.values()), rel_tol=1e-9, abs_tol=1e-6
            )
    # the dashboard's KPIs: every task (any campaign, dropped too), any outcome reached
    kpis = operations.execution_kpis(session=session, prices=prices)
    n = session.scalar(select(func.count(Task.id)))
    worked = session.scalar(select(func.count(func.distinct(Outcome.task_id))))
    reached = session.scalar(
        select(func.count(func.distinct(Outcome.task_id))).where(Outcome.result.in_(REACHED))
    )
    assert kpis is not None and (kpis["tasks"], kpis["worked"], kpis["contacted"]) == (
        n,
        worked,
        reached,
    )


def test_kept_figures_equal_a_recount_through_a_month_of_writes(store):  # noqa: F811
    con, session = store
    res = _plan(con, session)  # the dispatch: the plan's tasks in one bulk insert
    assert res.tasks_written > 100
    assert session.scalar(select(func.count()).select_from(TaskCell)) > 0
    _agree(session)
    ids = session.scalars(select(Task.id).order_by(Task.id)).all()
    # single outcomes (the web/API path), a call back then its result
    for i, result in enumerate(["accepted", "refused", "not_reached", "already_churned"] * 5):
        record_outcome(
            session=session,
            task_id=ids[i],
            result=result,
            refusal_reason="price" if result == "refused" else None,
            at=AT,
        )
    record_outcome(
        session=session,
        task_id=ids[30],
        result="call_back",
        callback_at=AT + dt.timedelta(hours=1),
        at=AT,
    )
    record_outcome(
        session=session, task_id=ids[30], result="accepted", at=AT + dt.timedelta(hours=2)
    )
    # a call back not due yet: the task stays open, with an outcome
    record_outcome(
        session=session,
        task_id=ids[31],
        result="call_back",
        callback_at=AT + dt.timedelta(days=3),
        at=AT,
    )
    session.commit()
    _agree(session)
    # an outcome file (the bulk path)
    body = "task_id,result,refusal_reason\n" + "\n".join(
        f"{t},{r},{'price' if r == 'refused' else ''}"
        for t, r in zip(ids[40:100], ["accepted", "refused", "not_reached"] * 20, strict=True)
    )
    planner = User(username="planner-1", role="planner", password_hash="x")
    rep = record_file(session=session, user=planner, name="d.csv", data=body.encode(), now=AT)
    assert rep.recorded == 60 and rep.balanced
    session.commit()
    _agree(session)
    # a reassignment of open tasks (with and without outcomes) to another person
    task = session.get(Task, ids[31])  # open, with an outcome
    moved = operations.reassign(
        session=session,
        branch=task.branch_id,
        channel=task.channel,
        from_staff=task.staff_id,
        to_staff="ELSEWHERE1",
        count=10_000,
    )
    assert moved > 0 and task.last_result == "call_back"
    session.commit()
    session.refresh(task)
    assert task.staff_id == "ELSEWHERE1"
    _agree(session)
    # next month: churned, converted and excluded customers' open tasks are dropped
    from weixi.segment.service import segment_month

    if not con.execute(f"SELECT count(*) FROM segments WHERE month = DATE '{NEXT}'").fetchone()[0]:
        con.execute(
            f"INSERT INTO segments SELECT * REPLACE (DATE '{NEXT}' AS month) FROM segments"
            f" WHERE subscriber_id IN (SELECT subscriber_id FROM snapshot"
            f" WHERE month = DATE '{NEXT}')"
        )
    assert segment_month is not None
    dropped = update_lists(con=con, session=session, month=NEXT)
    session.commit()
    assert dropped["churned"] > 0
    _agree(session)
    # an outcome and a task deleted (erasure, cascades), a key changed by hand
    session.execute(text("DELETE FROM outcomes WHERE task_id = :t"), {"t": ids[0]})
    session.execute(text("DELETE FROM tasks WHERE id = :t"), {"t": ids[1]})
    session.execute(text("UPDATE tasks SET branch_id = 'ZZ' WHERE id = :t"), {"t": ids[40]})
    session.execute(
        text("UPDATE outcomes SET recorded_at = :at WHERE task_id = :t"),
        {"at": AT - dt.timedelta(days=3), "t": ids[41]},
    )
    session.execute(
        text("UPDATE tasks SET priority_rank = NULL, category = NULL WHERE id = :t"), {"t": ids[3]}
    )
    session.commit()
    _agree(session)
    # the campaign cancelled: its open tasks are dropped, monitoring shows nothing live
    campaign = session.get(Task, ids[5]).campaign
    decide_campaign(con=con, session=session, campaign=campaign, decision="cancel")
    session.commit()
    _agree(session)
    assert operations.progress_by(session=session, dims=("branch",))["branch"] == []
    empty = operations.progress_page(session=session, by="staff", limit=50)
    assert (empty.rows, empty.groups, empty.total["tasks"]) == ([], 0, 0)


def test_recount_repairs_cells_and_summaries(store):  # noqa: F811
    con, session = store
    _plan(con, session)
    ids = session.scalars(select(Task.id).order_by(Task.id)).all()
    record_outcome(session=session, task_id=ids[0], result="accepted", at=AT)
    session.commit()
    before = operations.execution_kpis(session=session)
    # a drifted cell and a drifted task summary (as if written with the triggers off)
    session.execute(text("UPDATE task_cells SET tasks = tasks + 3, worked = worked + 1"))
    session.execute(text("UPDATE tasks SET last_result = NULL WHERE id = :t"), {"t": ids[0]})
    session.commit()
    found = cells.differences(session)
    assert any(d.get("task_id") == ids[0] for d in found)
    assert any("campaign_id" in d for d in found)
    assert cells.recount(session) > 0
    session.commit()
    assert cells.differences(session) == []
    assert operations.execution_kpis(session=session) == before


def test_cli_checks_and_repairs(store):  # noqa: F811
    from typer.testing import CliRunner

    from weixi.cli import app

    con, session = store
    _plan(con, session)
    session.execute(text("UPDATE task_cells SET tasks = tasks + 1"))
    session.commit()
    runner = CliRunner()
    bad = runner.invoke(app, ["db", "recount-tasks", "--check", "--json"])
    assert bad.exit_code == 1 and '"differences": 0' not in bad.output
    fixed = runner.invoke(app, ["db", "recount-tasks", "--json"])
    assert fixed.exit_code == 0 and '"rebuilt_cells": null' not in fixed.output, fixed.output
    good = runner.invoke(app, ["db", "recount-tasks", "--check"])
    assert good.exit_code == 0 and "equal a recount" in good.output
    session.rollback()
    assert cells.differences(session) == []


def test_a_bulk_insert_on_sqlite_counts_its_tasks_and_keeps_the_trigger(store, op_db):  # noqa: F811
    """SQLite's bulk path drops the row trigger for the insert and counts the new tasks in one
    upsert; afterwards single inserts are counted by the trigger again."""
    import pyarrow as pa
    import pytest
    from sqlalchemy.exc import IntegrityError

    from weixi.store.bulk import insert_arrow

    con, session = store
    _plan(con, session)
    task = session.scalars(select(Task).limit(1)).one()
    rows = pa.table(
        {
            "campaign_id": [task.campaign_id] * 3,
            "month": pa.array([task.month] * 3, pa.date32()),
            "subscriber_id": ["BULK1", "BULK2", "BULK3"],
            "branch_id": [task.branch_id] * 3,
            "channel": ["sms"] * 3,
            "action": ["care_call"] * 3,
            "status": ["open"] * 3,
        }
    )
    import psycopg

    # no created_at: the insert fails (COPY raises the driver's error), nothing is kept
    with pytest.raises((IntegrityError, psycopg.IntegrityError)):
        insert_arrow(session, "tasks", rows)
    session.rollback()
    _agree(session)
    now = pa.array([AT] * 3, pa.timestamp("us"))
    rows = rows.append_column("created_at", now).append_column("updated_at", now)
    assert insert_arrow(session, "tasks", rows) == 3
    session.commit()
    if op_db == "sqlite":
        names = session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
            {"n": "task_cells_insert"},
        ).all()
        assert names, "the insert trigger is back after the bulk insert"
    session.add(
        Task(
            campaign_id=task.campaign_id,
            month=task.month,
            subscriber_id="ONE1",
            branch_id=task.branch_id,
            channel="sms",
            action="care_call",
        )
    )
    session.commit()
    _agree(session)


def test_an_outcome_file_on_tasks_with_outcomes_keeps_the_figures_and_the_triggers(
    store,  # noqa: F811
    op_db,
):
    """The bulk outcome path (grouped statements instead of row triggers on SQLite) on tasks
    that already have outcomes, with call-backs and churned customers in the file; the
    triggers are back afterwards and after a write that failed half-way."""
    import pytest

    con, session = store
    _plan(con, session)
    ids = session.scalars(select(Task.id).order_by(Task.id)).all()
    for i in range(10):  # earlier outcomes: the file's results must add to their attempts
        record_outcome(
            session=session,
            task_id=ids[i],
            result="call_back",
            callback_at=AT - dt.timedelta(hours=1),
            at=AT - dt.timedelta(days=1),
        )
    session.commit()
    results = ["accepted", "refused", "not_reached", "already_churned", "call_back"] * 6
    body = "task_id,result,refusal_reason,callback_at\n" + "\n".join(
        f"{t},{r},{'price' if r == 'refused' else ''},"
        f"{(AT + dt.timedelta(days=2)).isoformat() if r == 'call_back' else ''}"
        for t, r in zip(ids[:30], results, strict=True)
    )
    planner = User(username="planner-1", role="planner", password_hash="x")
    rep = record_file(session=session, user=planner, name="f.csv", data=body.encode(), now=AT)
    assert rep.recorded == 30 and rep.balanced
    session.commit()
    _agree(session)
    first = session.get(Task, ids[0])
    assert (first.last_result, first.attempts) == ("accepted", 2)
    assert session.get(Task, ids[4]).status == "open"  # a call back keeps the task open
    if op_db == "sqlite":
        names = {
            n
            for (n,) in session.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
        }
        assert set(cells._OUTCOME_FILE_TRIGGERS) <= names
        # a write that fails inside the bulk block: rolled back with its dropped triggers
        nested = session.begin_nested()
        conn = session.connection()
        conn.exec_driver_sql("CREATE TEMPORARY TABLE _t_ids (id BIGINT)")
        conn.exec_driver_sql(f"INSERT INTO _t_ids VALUES ({ids[50]})")
        with (
            pytest.raises(RuntimeError, match="half-way"),
            cells.sqlite_bulk_outcomes(conn, "_t_ids"),
        ):
            conn.exec_driver_sql(
                "INSERT INTO outcomes (task_id, result, source, recorded_at)"
                f" VALUES ({ids[50]}, 'refused', 'file', '2026-01-10 09:00:00')"
            )
            raise RuntimeError("half-way")
        nested.rollback()
        session.commit()
        names = {
            n
            for (n,) in session.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
        }
        assert set(cells._OUTCOME_FILE_TRIGGERS) <= names
        _agree(session)
    # single outcomes after the file are counted by the triggers again
    record_outcome(
        session=session, task_id=ids[60], result="refused", refusal_reason="price", at=AT
    )
    session.commit()
    _agree(session)
