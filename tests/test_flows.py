"""The monthly job end to end on a small synthetic operator (what `weixi demo` runs)."""

from __future__ import annotations

from weixi.flows import build_demo
from weixi.store.analytics import connect
from weixi.store.db import session_scope
from weixi.web import migrate


def test_demo_loop_imports_plans_executes_and_evaluates(tmp_path):
    migrate.upgrade()
    con = connect()
    try:
        reports = build_demo(
            con=con,
            session_scope=session_scope,
            out_dir=tmp_path,
            subscribers=4000,
            months=3,
            seed=3,
        )
        months = [r["month"] for r in reports]
        assert months == ["2026-06", "2026-07", "2026-08"]
        # every month went through the validated import with nothing lost
        for r in reports:
            imp = r["steps"]["import"]
            assert imp["read"] == imp["loaded"] + imp["quarantined"]
        # a model exists from the second month on, and that month was planned and worked
        assert "plan" in reports[1]["steps"] and "execute" in reports[1]["steps"]
        assert reports[1]["steps"]["execute"]["worked"] > 0
        # the third month evaluated the second against its control group
        assert "evaluate" in reports[2]["steps"]
        arms = con.execute(
            "SELECT is_control, count(*), count(contacted) FROM evaluation_outcomes "
            "WHERE month = DATE '2026-07-01' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert [a[0] for a in arms] == [False, True]
        treated, control = arms
        assert treated[1] > 0 and control[1] > 0
        assert treated[2] > 0 and control[2] == 0  # only treated customers carry contact results
        # the last month's lists stay open for the work queues
        open_tasks = con.execute(
            "SELECT count(*) FROM plan_assignments WHERE month = DATE '2026-08-01' "
            "AND NOT is_control"
        ).fetchone()[0]
        assert open_tasks > 0
    finally:
        con.close()
