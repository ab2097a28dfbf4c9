"""The monthly job end to end on a small synthetic operator (what `weixi demo` runs)."""

from __future__ import annotations

import pytest

from weixi.churn.params import RetrainParams, load_params
from weixi.dispatch.schemas import Learning
from weixi.store.analytics import connect
from weixi.store.db import session_scope
from weixi.synth.demo import build_demo
from weixi.web import migrate

MONTHLY = load_params().model_copy(update={"retrain": RetrainParams(every_months=1)})
LEARN = Learning(
    min_months=1,
    min_treated=300,
    min_control=50,
    min_churners=10,
    min_treated_per_action=60,
    min_control_per_action=20,
    reduction_by="a",  # reductions per binding level for every action (default: learn_by)
)


def test_demo_loop_imports_plans_executes_and_evaluates(tmp_path, capsys):
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
            # thresholds a 4 000-line operator reaches after one evaluated month (~800 treated,
            # ~80 control): the third month plans with learned effects
            learning=LEARN,
            # a challenger every month (the shipped cadence is quarterly): the champion/challenger
            # checks below need two trainings
            churn_params=MONTHLY,
        )
        months = [r["month"] for r in reports]
        assert months == ["2026-06", "2026-07", "2026-08"]
        # every month went through the validated import with nothing lost
        for r in reports:
            imp = r["steps"]["import"]
            assert imp["read"] == imp["loaded"] + imp["quarantined"]
            seg = r["steps"]["segment"]  # a summary, not a repr
            assert seg["month"] == r["month"] + "-01" and seg["subscribers"] > 3000
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
        # the loop priced what execution did: every treated customer has an actual cost
        unknown, actual, planned = con.execute(
            "SELECT count(*) FILTER (WHERE actual_cost IS NULL), sum(actual_cost), "
            "sum(planned_cost) FROM evaluation_outcomes "
            "WHERE month = DATE '2026-07-01' AND NOT is_control"
        ).fetchone()
        assert unknown == 0 and actual > 0 and planned > 0
        # the last month's lists stay open for the work queues
        open_tasks = con.execute(
            "SELECT count(*) FROM plan_assignments WHERE month = DATE '2026-08-01' "
            "AND NOT is_control"
        ).fetchone()[0]
        assert open_tasks > 0
        _assert_closed_loop(con, reports)
        _assert_champion_challenger(con, reports)
        # the demo dispatched one win-back list in its second month; the retention evaluation
        # leaves it out and the monthly job reports it pending until its window has matured
        wb = reports[1]["steps"]["winback_dispatch"]
        assert wb["campaign"] == "winback" and wb["tasks_created"] == wb["treated"] > 0
        assert not con.execute(
            "SELECT count(*) FROM evaluation_outcomes WHERE action = 'winback'"
        ).fetchone()[0]
        assert reports[2]["steps"]["winback"] == {
            "evaluated": [],
            "pending": [{"campaign": "winback", "month": "2026-07", "matures": "2026-09"}],
        }
        # `weixi run` prints the learning status and the "what changed" lines
        from weixi.cli.demo import _print_report

        capsys.readouterr()
        _print_report(reports[2])
        out = capsys.readouterr().out
        assert "Learned uplift: used in this plan" in out
        assert "What changed in the plan and why" in out
        flat = " ".join(out.split())  # the console wraps long lines
        assert "Win-back winback 2026-07: evaluated once 2026-09 is loaded" in flat
        _print_report(reports[1])
        assert "Learned uplift: not yet (not enough evidence yet" in capsys.readouterr().out
    finally:
        con.close()


def _assert_closed_loop(con, reports):
    """Month 3 adjusted the plan from month 2's evaluation and planned with learned uplift."""
    from weixi.evaluate.service import plan_changes
    from weixi.strategy.library import load_library

    # month 2: no evaluated month yet, so the configured effects stay and the step says why
    skipped = reports[1]["steps"]["uplift"]
    assert skipped["status"].startswith("skipped: not enough evidence yet (0 evaluated months")
    assert skipped["thresholds"]["min_months"] == 1
    # month 3: the plan adjustment wrote the month's shares and its report
    adjust = reports[2]["steps"]["adjust"]
    assert adjust["next_month"] == "2026-08" and adjust["report"]
    shares = con.execute(
        "SELECT segment, sum(p_best) FROM plan_adjustments WHERE month = DATE '2026-08-01' "
        "GROUP BY 1"
    ).fetchall()
    assert shares and all(abs(p - 1) < 1e-9 for _, p in shares)
    changes = plan_changes(con=con, month=None, locale="zh-CN")
    assert changes["month"] == "2026-08" and "细分群" in changes["report"][0]
    # … and the uplift model was trained and scored the month's lines
    learned = reports[2]["steps"]["uplift"]
    assert learned["status"] == "trained", learned
    assert learned["learner"] == "response" and learned["reduction"] and learned["learned"]
    # the response learner: take rates from every reached customer × measured reductions
    acc = reports[2]["steps"]["acceptance"]
    assert acc["status"] == "trained", acc
    assert acc["learned_uplift_rows"] > 0 and acc["take_rate"] and acc["channel_effect"]
    assert reports[2]["steps"]["plan"]["explored"] > 0
    n = con.execute(
        "SELECT count(*) FROM uplift WHERE month = DATE '2026-08-01' AND uplift IS NOT NULL"
    ).fetchone()[0]
    assert n == acc["learned_uplift_rows"]
    # where an action's reduction was learned for a binding level, its lines of that level
    # carry take rate × that reduction, the other lines the action's
    assert learned["reduction_by"] == "a" and learned["reduction_by_level"]
    lo, hi = 0.0, 0.9
    for action, levels in learned["reduction_by_level"].items():
        got = con.execute(
            """SELECT g.a, u.uplift, u.take_rate FROM uplift u
               JOIN segments g ON g.month = u.month AND g.subscriber_id = u.subscriber_id
               WHERE u.month = DATE '2026-08-01' AND u.action = ? AND u.take_rate IS NOT NULL""",
            [action],
        ).fetchall()
        for level, uplift, take_rate in got:
            r = levels.get(level, learned["reduction"][action])
            assert uplift == pytest.approx(min(max(take_rate * r, lo), hi), abs=1e-3)
    # the plan carries the learned values where they exist, the configured ones elsewhere
    rows = con.execute(
        """SELECT p.action, p.offer_id, p.uplift, p.uplift_source, u.uplift, u.take_rate
           FROM plan_assignments p
           LEFT JOIN uplift u ON u.month = p.month AND u.subscriber_id = p.subscriber_id
                AND u.action = p.action
           WHERE p.month = DATE '2026-08-01' AND NOT p.is_control"""
    ).fetchall()
    lib = load_library(None)
    configured = {a.key: a.uplift for a in lib.actions}
    offer_uplift = {o.key: o.uplift for _e, _p, o in lib.offers()}
    by_source: dict[str, int] = {}
    differs = 0
    take = {a.key: a.take_rate for a in lib.actions}
    for action, offer, uplift, source, table_value, take_rate in rows:
        by_source[source] = by_source.get(source, 0) + 1
        conf = offer_uplift.get(offer) or configured[action]
        if source == "learned":
            assert uplift == table_value
            differs += abs(uplift - conf) > 1e-6
        elif source in ("offer", "action"):
            # configured, scaled by the customer's learned take rate where one exists
            scale = 1.0 if take_rate is None else take_rate / take[action]
            assert table_value is None and uplift == pytest.approx(min(1.0, conf * scale))
    assert by_source.get("learned", 0) > 0 and differs > 0
    assert reports[2]["steps"]["plan"]["uplift_sources"] == dict(sorted(by_source.items()))
    # the randomized control share is untouched by the learning
    ctl = con.execute(
        "SELECT avg(is_control::INTEGER) FROM plan_assignments WHERE month = DATE '2026-08-01'"
    ).fetchone()[0]
    assert 0.05 < ctl < 0.15


def _assert_champion_challenger(con, reports):
    """The monthly job trains a challenger; the promotion rule decides, and says why."""
    from weixi.churn import registry

    first, second = (r["steps"]["churn_train"] for r in reports[1:])
    assert first["decision"] == "promoted" and first["reason"] == "no_champion"
    assert second["champion"] == first["version"] and second["eval_month"] == "2026-07"
    rule_reasons = {"beats_champion", "auc_not_better", "lift_worse", "too_few_churners"}
    assert second["reason"] in rule_reasons
    assert second["d_auc_lo"] <= second["d_auc"] <= second["d_auc_hi"]
    decisions = registry.get_decisions(con)
    assert {d["actor"] for d in decisions} == {"monthly job"}
    roles = sorted(m["role"] for m in registry.get_all(con))
    assert roles == (
        ["champion", "retired"] if second["decision"] == "promoted" else ["challenger", "champion"]
    )
    # the month was scored with whichever model the rule left active
    active = registry.get_active(con)
    assert reports[2]["steps"]["churn_score"]["model_version"] == active
