"""Win-back as a campaign type, on both databases (``op_db``): treated lines become open tasks
(owner: the line's account manager, else the call center), the control stays out, outcomes are
recorded like any task's, and the win-back is evaluated against its control (a live line again
within N months)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from weixi.dispatch import service
from weixi.dispatch.models import Campaign, Task
from weixi.dispatch.winback import dispatch_winback, evaluate_winback, load_winback
from weixi.store import schema
from weixi.store.db import session_scope
from weixi.web import migrate

MAR, APR, MAY, JUN = (dt.date(2026, m, 1) for m in (3, 4, 5, 6))


def _line(con, month, sid, arpu, status="active"):
    con.execute(
        "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, status, "
        "activation_date, arpu) VALUES (?, ?, ?, 'HZ', 'mobile', ?, DATE '2020-01-01', ?)",
        [month, sid, "C" + sid, status, arpu],
    )


def _store(con):
    schema.ensure(con)
    for i in range(200):  # 200 high-value lines live in March, all gone in April
        _line(con, MAR, f"h{i}", 250.0 if i % 2 else 150.0)
    _line(con, MAR, "stay", 300.0)
    _line(con, APR, "stay", 300.0)


def test_winback_dispatches_tasks_keeps_control_out_and_is_evaluated(settings, fresh_con):
    migrate.upgrade()
    _store(fresh_con)
    spec = load_winback()
    with session_scope() as s:  # h1 had an account manager (an earlier AM task)
        old = Campaign(
            key="old",
            name_en="Old",
            name_zh="旧",
            status="active",
            period_start=MAR,
            period_end=MAR,
            salt="o",
            channels=["account_manager"],
            actions=[],
            spec={},
        )
        s.add(old)
        s.flush()
        s.add(
            Task(
                campaign_id=old.id,
                month=MAR,
                subscriber_id="h1",
                branch_id="HZ",
                channel="account_manager",
                staff_id="AM7",
                action="care_call",
                status="done",
            )
        )
    with session_scope() as s:
        out = dispatch_winback(con=fresh_con, session=s, month=APR, spec=spec)
    assert out["lines"] == 200 and out["tasks_created"] == out["treated"]
    assert out["control"] == out["control_added"] and 5 <= out["control"] <= 40
    with session_scope() as s:
        camp = s.execute(select(Campaign).where(Campaign.key == spec.key)).scalar_one()
        assert camp.spec["type"] == "winback"
        tasks = s.execute(select(Task).where(Task.campaign_id == camp.id)).scalars().all()
        subs = {t.subscriber_id for t in tasks}
        assert len(tasks) == out["treated"] and all(t.status == "open" for t in tasks)
        control = set(
            fresh_con.execute(
                "SELECT subscriber_id FROM plan_assignments WHERE campaign_id = ? AND is_control",
                [spec.key],
            ).fetchall()
        )
        assert not subs & {c[0] for c in control}  # the control stays out of the queue
        by_sub = {t.subscriber_id: t for t in tasks}
        if "h1" in by_sub:
            assert (by_sub["h1"].channel, by_sub["h1"].staff_id) == ("account_manager", "AM7")
        others = [t for t in tasks if t.subscriber_id != "h1"]
        assert all(t.channel == "call_center" and t.staff_id is None for t in others)
        assert {t.offer_id for t in tasks} <= {"WB_TOP_RETURN", "WB_MID_RETURN"}
        first = sorted(tasks, key=lambda t: t.subscriber_id)[0]
        service.record_outcome(session=s, task_id=first.id, result="accepted")
    # dispatching again adds nothing
    with session_scope() as s:
        again = dispatch_winback(con=fresh_con, session=s, month=APR, spec=spec)
    assert again["tasks_created"] == 0 and again["already_dispatched"] == 200
    with session_scope() as s:
        assert s.get(Task, first.id).status != "open"
    # not measurable before the months after the list are loaded
    ev = evaluate_winback(fresh_con, APR, spec)
    assert ev["measured_months"] == [] and ev["treated"]["rate"] is None
    # in May, 20 treated customers and 1 control customer are back (a new line, same customer)
    treated = sorted(subs)[:20]
    ctrl = sorted(c[0] for c in control)[:1]
    for sid in [*treated, *ctrl]:
        fresh_con.execute(
            "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, "
            "status, activation_date, arpu) VALUES (?, ?, ?, 'HZ', 'mobile', 'active', ?, 90)",
            [MAY, "new_" + sid, "C" + sid, MAY],
        )
    ev = evaluate_winback(fresh_con, APR, spec, horizon=2)
    assert ev["measured_months"] == ["2026-05"]
    assert ev["treated"]["won_back"] == 20 and ev["control"]["won_back"] == 1
    assert ev["treated"]["n"] == out["treated"] and ev["control"]["n"] == out["control"]
    expected = round(20 / out["treated"] - 1 / out["control"], 4)
    assert abs(ev["lift"] - expected) < 1e-3
    # a 1-month horizon looks at May only
    assert evaluate_winback(fresh_con, APR, spec, horizon=1)["measured_months"] == ["2026-05"]


def test_cli_dispatches_the_winback_list_and_evaluates_it(settings):
    import json

    from typer.testing import CliRunner

    from weixi.cli import app
    from weixi.store.analytics import open_store

    with open_store() as con:
        _store(con)
    runner = CliRunner()
    res = runner.invoke(app, ["churn", "winback", "--month", "2026-04", "--dispatch", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["tasks_created"] == out["treated"] > 100
    with session_scope() as s:
        n = len(s.execute(select(Task.id).where(Task.action == "winback")).all())
    assert n == out["treated"]
    res = runner.invoke(app, ["churn", "winback-eval", "--month", "2026-04", "--json"])
    assert res.exit_code == 0, res.output
    ev = json.loads(res.output)
    assert ev["measured_months"] == [] and ev["horizon"] == 2
    assert ev["treated"]["n"] == out["treated"] and ev["control"]["n"] == out["control"]


def test_monthly_job_step_evaluates_each_list_once_its_window_has_matured(settings, fresh_con):
    """``evaluate_matured`` (the monthly job's win-back step): pending until every month of the
    list's window is loaded, then measured against the control and stored once; a re-run of the
    maturing month measures again (same answer, one row); the retention evaluation leaves the
    win-back rows out."""
    from weixi.dispatch.plans import executed_months, executed_sql
    from weixi.dispatch.winback import evaluate_matured, stored_evaluations

    migrate.upgrade()
    _store(fresh_con)
    spec = load_winback().model_copy(update={"horizon_months": 2})
    with session_scope() as s:
        out = dispatch_winback(con=fresh_con, session=s, month=APR, spec=spec)
    assert out["treated"] > 100 and out["control"] > 0
    # only a win-back plan in April: no retention month to evaluate, no retention rows
    assert APR not in executed_months(fresh_con)
    assert fresh_con.execute(f"SELECT count(*) FROM ({executed_sql()})").fetchone()[0] == 0
    with session_scope() as s:
        step = evaluate_matured(con=fresh_con, session=s, month=APR)
    assert step == {
        "evaluated": [],
        "pending": [{"campaign": "winback", "month": "2026-04", "matures": "2026-06"}],
    }
    control = sorted(
        r[0]
        for r in fresh_con.execute(
            "SELECT subscriber_id FROM plan_assignments WHERE is_control ORDER BY 1"
        ).fetchall()
    )
    treated = sorted(
        r[0]
        for r in fresh_con.execute(
            "SELECT subscriber_id FROM plan_assignments WHERE NOT is_control ORDER BY 1"
        ).fetchall()
    )
    for sid in [*treated[:30], *control[:1]]:  # back in May on a new line, same customer
        fresh_con.execute(
            "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, "
            "status, activation_date, arpu) VALUES (?, ?, ?, 'HZ', 'mobile', 'active', ?, 90)",
            [MAY, "new_" + sid, "C" + sid, MAY],
        )
    with session_scope() as s:  # May loaded: one month of a two-month window, still pending
        assert evaluate_matured(con=fresh_con, session=s, month=MAY)["evaluated"] == []
    _line(fresh_con, JUN, "stay", 300.0)
    with session_scope() as s:
        step = evaluate_matured(con=fresh_con, session=s, month=JUN)
    assert step["pending"] == [] and len(step["evaluated"]) == 1
    ev = step["evaluated"][0]
    assert ev["measured_months"] == ["2026-05", "2026-06"] and ev["horizon"] == 2
    assert ev["treated"] == {"n": out["treated"], "won_back": 30, "rate": ev["treated"]["rate"]}
    assert ev["control"]["won_back"] == 1 and ev["control"]["n"] == out["control"]
    assert abs(ev["lift"] - (30 / out["treated"] - 1 / out["control"])) < 1e-3
    rows = stored_evaluations(fresh_con)
    assert len(rows) == 1 and rows[0]["month"] == APR and rows[0]["campaign_id"] == "winback"
    assert rows[0]["treated_won_back"] == 30 and rows[0]["measured_through"] == JUN
    with session_scope() as s:  # re-run of June: measured again, still one row
        again = evaluate_matured(con=fresh_con, session=s, month=JUN)
    assert again["evaluated"] == step["evaluated"] and len(stored_evaluations(fresh_con)) == 1
    jul = dt.date(2026, 7, 1)
    _line(fresh_con, jul, "stay", 300.0)
    with session_scope() as s:  # a later month: already evaluated, nothing to do
        assert evaluate_matured(con=fresh_con, session=s, month=jul) == {
            "evaluated": [],
            "pending": [],
        }


def test_the_window_is_the_dispatched_campaigns_own(settings, fresh_con):
    """A campaign dispatched with a one-month window is measured as soon as the next month is
    loaded (the horizon stored with the campaign, not the default)."""
    from weixi.dispatch.winback import evaluate_matured

    migrate.upgrade()
    _store(fresh_con)
    spec = load_winback().model_copy(update={"horizon_months": 1, "key": "wb-short"})
    with session_scope() as s:
        dispatch_winback(con=fresh_con, session=s, month=APR, spec=spec)
    _line(fresh_con, MAY, "stay", 300.0)
    with session_scope() as s:
        step = evaluate_matured(con=fresh_con, session=s, month=MAY)
    assert [(e["campaign"], e["horizon"], e["measured_months"]) for e in step["evaluated"]] == [
        ("wb-short", 1, ["2026-05"])
    ]


def test_another_line_that_never_left_is_not_a_win_back(settings, fresh_con):
    """A customer whose other line stayed live all along is not won back by it; a new line of
    the customer after the list month is."""
    migrate.upgrade()
    _store(fresh_con)
    spec = load_winback()
    with session_scope() as s:
        dispatch_winback(con=fresh_con, session=s, month=APR, spec=spec)
    rows = fresh_con.execute(
        "SELECT subscriber_id, customer_id FROM plan_assignments WHERE NOT is_control "
        "ORDER BY subscriber_id LIMIT 2"
    ).fetchall()
    (_, kept), (_, came) = rows
    # the first customer's second line is live in April and May (it never left)
    for m in (APR, MAY):
        fresh_con.execute(
            "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, "
            "status, activation_date, arpu) VALUES (?, 'other', ?, 'HZ', 'broadband', "
            "'active', DATE '2020-01-01', 50)",
            [m, kept],
        )
    # the second customer is back in May on a new line
    fresh_con.execute(
        "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, status, "
        "activation_date, arpu) VALUES (?, 'back', ?, 'HZ', 'mobile', 'active', ?, 90)",
        [MAY, came, MAY],
    )
    ev = evaluate_winback(fresh_con, APR, spec, horizon=1)
    assert ev["treated"]["won_back"] == 1
