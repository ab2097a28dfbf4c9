"""The closed-loop simulator runs the product: its monthly job, its planner, its evaluation."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import weixi.synth
from weixi.evaluate.metrics import aa_false_positive_rate
from weixi.synth.simulate import SimParams, policy_campaign, simulate

SYNTH = Path(weixi.synth.__file__).parent


def test_no_second_implementation_of_a_product_step_lives_under_synth():
    """The test bed generates data and plays the dialer; it never segments, matches, models or
    allocates itself (no learner or solver library, no copy of the seed's matrix or channels)."""
    forbidden_imports = {"lightgbm", "highspy", "sklearn", "scipy"}
    forbidden_names = {"knapsack", "seed_segments", "seed_actions", "build_options", "CHANNELS"}
    for path in SYNTH.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    mods.append(node.module)
                assert not {m.split(".")[0] for m in mods} & forbidden_imports, (path, mods)
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Name):
                name = getattr(node, "name", None) or getattr(node, "id", None)
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    assert name not in forbidden_names, (path, name)


def test_policies_are_campaign_configurations():
    import datetime as dt

    m = dt.date(2026, 3, 1)
    rules, model, uplift = (policy_campaign(p, m, 1000.0) for p in ("rules", "model", "uplift"))
    assert rules.solver == "priority" and not rules.learning.enabled
    assert model.solver == "auto" and not model.learning.enabled
    assert model.action_choice == "priority" and model.match_scope == "rules"
    assert uplift.learning.enabled and uplift.match_scope == "all"
    assert uplift.action_choice == "value"
    assert {s.budget for s in (rules, model, uplift)} == {1000.0}


def test_a_run_goes_through_the_product_services(monkeypatch):
    """Every month is imported, run through the monthly job and planned by the product; the
    references are previews of the same planner on the truth."""
    import weixi.dispatch.service as dispatch
    import weixi.flows as flows
    import weixi.ingest.service as ingest
    import weixi.synth.dialer as dialer

    calls: dict[str, list] = {"import": [], "run": [], "plan": [], "file": []}
    real_import, real_run, real_plan = ingest.import_month, flows.run_month, dispatch.plan_month
    real_file = dialer.record_file

    def spy_file(**kw):
        report = real_file(**kw)
        calls["file"].append(report)
        return report

    def spy_import(**kw):
        calls["import"].append(kw["month"])
        return real_import(**kw)

    def spy_run(**kw):
        calls["run"].append((kw["month"], kw["plan"]))
        return real_run(**kw)

    def spy_plan(**kw):
        calls["plan"].append((kw["month"], kw.get("preview", False)))
        return real_plan(**kw)

    monkeypatch.setattr(ingest, "import_month", spy_import)
    monkeypatch.setattr(flows, "run_month", spy_run)
    monkeypatch.setattr(dispatch, "plan_month", spy_plan)
    monkeypatch.setattr(dialer, "record_file", spy_file)
    res = simulate(SimParams(subscribers=3000, months=2, policy="model", warmup=1, seed=4))
    assert [m.month for m in res.months] == ["2026-02", "2026-03"]
    # the first model is trained in the first month with labels; learning is off for `model`
    assert res.months[0].learning == {
        "churn_retrain": ["no_model"],
        "reduction_scale": None,
        "reduction_by_level": {},
    }
    # warm-up, two campaign months, and the month that evaluates the last one
    assert len(calls["import"]) == 4
    assert [p for _m, p in calls["run"]] == [False, True, True, False]
    previews = [m for m, pv in calls["plan"] if pv]
    # each campaign month: the power-sizing probe, the oracle and the attainable reference
    assert len(previews) >= 4
    # the dialer's results go through the product's outcome-file path, every row recorded
    assert len(calls["file"]) == 2
    assert all(r.recorded > 0 and r.balanced and not r.rejected for r in calls["file"])
    for m in res.months:
        assert m.n_treated > 0 and m.n_control > 0
        assert m.oracle_value > 0 and m.attainable_value > 0
        # the full-information plan is the ceiling of the attainable one (same constraints)
        assert m.oracle_value >= m.attainable_value - 1e-6
        lo, hi = m.lift_ci
        assert m.measured_lift is not None and lo <= m.measured_lift <= hi
        assert -0.2 < m.true_lift < 0.2 and m.true_lift != 0
        assert m.seconds["job"] > 0


def test_cli_simulate_json():
    from weixi.cli import app

    res = CliRunner().invoke(
        app,
        [
            "simulate",
            "-n",
            "3000",
            "--months",
            "1",
            "--warmup",
            "1",
            "--policy",
            "rules",
            "--diagnose",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    m = out["months"][0]
    assert set(m) >= {
        "month",
        "value",
        "oracle_value",
        "attainable_value",
        "cost",
        "measured_lift",
        "lift_ci",
        "true_lift",
        "learning",
        "references",
    }
    # the rules policy learns no reduction
    assert m["learning"]["reduction_scale"] is None
    # the default cell resolution loses little of the fine-resolution oracle
    assert 0.9 <= m["references"]["oracle_resolution_1.15"] <= 1.0 + 1e-6
    # one churn reduction per action (its true mean) plans worse than the per-line truth
    assert 0.0 < m["references"]["action_mean_share"] < 1.0
    # … and one per action and binding level (the response learner's reach) too
    assert 0.0 < m["references"]["level_mean_share"] < 1.0
    # what the plan believed of its treated customers, by action, next to the truth
    belief = m["belief"]
    assert sum(b["n"] for b in belief.values()) == m["n_treated"]
    for b in belief.values():
        assert 0.0 <= b["p_churn"] <= 1.0 and 0.0 <= b["p_true"] <= 1.0
        assert 0.0 < b["take"] <= 1.0 and 0.0 < b["take_true"] < 1.0
        assert -0.3 <= b["reduction_true"] <= 0.9 and 0.0 < b["reach_true"] <= 1.0
    # the seed library's configured reductions are above what its offers do on this operator
    believed = sum(b["n"] * b["reduction"] for b in belief.values())
    true = sum(b["n"] * b["reduction_true"] for b in belief.values())
    assert believed > 1.5 * true
    # the first campaign month has no evaluated month to learn from
    assert m["learnability"] == {}
    assert out["seconds"] > 0


def test_aa_on_the_synthetic_operators_churn_probabilities():
    """A/A with the operator's true churn probabilities: no lift in ≥ 95 % of 2 000 seeds."""
    from weixi.synth.generate import SyntheticOperator

    p = SyntheticOperator(20_000, seed=5).true_churn_prob().column("p_churn").to_numpy()
    p = p[~np.isnan(p)]
    top = np.sort(p)[-4000:]  # a planned list: the riskiest customers, 10 % holdout
    out = aa_false_positive_rate(top, n_seeds=2000, holdout=0.1, seed=3)
    assert out["positive_share"] <= 0.05
    assert out["significant_share"] <= 0.065


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_policies_on_a_mid_size_operator_rank_and_measure_honestly():
    """40 k lines, 3 campaign months: figures in docs/evaluation.md ("The simulator")."""
    runs = {
        p: simulate(SimParams(subscribers=40_000, months=3, policy=p, seed=0))
        for p in ("rules", "uplift")
    }
    for res in runs.values():
        for m in res.months:
            assert m.oracle_value >= m.attainable_value - 1e-6
            lo, hi = m.lift_ci
            assert lo is not None and hi is not None
    up = sum(m.value for m in runs["uplift"].months)
    ru = sum(m.value for m in runs["rules"].months)
    assert up > ru


def test_the_uplift_policy_can_learn_reductions_per_level():
    """--reduction-by sets the uplift policy's learning.reduction_by (library: each action's
    learn_by); the other policies do not learn; an unknown dimension is refused up front."""
    import datetime as dt

    from pydantic import ValidationError

    from weixi.synth.simulate import SimParams, policy_campaign

    month = dt.date(2026, 3, 1)
    assert policy_campaign("uplift", month, 100.0).learning.reduction_by is None
    spec = policy_campaign("uplift", month, 100.0, "library")
    assert spec.learning.reduction_by == "library" and spec.learning.enabled
    assert policy_campaign("model", month, 100.0, "library").learning.enabled is False
    assert SimParams(reduction_by="a").reduction_by == "a"
    with pytest.raises(ValidationError, match="not a segment dimension"):
        SimParams(reduction_by="phone")


def test_learnability_sets_the_truths_spread_between_levels_against_the_standard_error_floor():
    """Per action and level: the true reduction weighted as the measurement weighs it, the
    spread between levels and the floor sqrt(c (1 - c) / n) / mean(accepted × p), worked by
    hand; controls, later months and thin cells stay out of the levels."""
    import datetime as dt

    import duckdb

    from weixi.store import schema
    from weixi.synth.simulate import learnability

    con = duckdb.connect()
    schema.upgrade(con)
    con.execute(
        "CREATE TEMP TABLE _sim_truth_hist (month DATE, subscriber_id VARCHAR, "
        "action VARCHAR, churn_reduction DOUBLE, p_true DOUBLE)"
    )
    march, april = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
    rows = []  # (month, id, level, is_control, accepted, churned, p_true, reduction)
    rows += [(march, f"a{i}", "B1", False, True, i < 10, 0.2, 0.5) for i in range(100)]
    rows += [(march, f"b{i}", "B2", False, i < 25, False, 0.1, 0.1) for i in range(50)]
    rows += [(march, f"c{i}", "B3", False, True, False, 0.4, 0.9) for i in range(5)]
    rows += [(march, f"k{i}", "B1", True, None, i < 50, 0.2, 0.5) for i in range(60)]
    rows += [(april, f"z{i}", "B2", False, True, True, 0.9, 0.9) for i in range(40)]
    for m, sid, lv, ctl, acc, churned, p, r in rows:
        con.execute(
            "INSERT INTO evaluation_outcomes (month, subscriber_id, action, is_control, "
            "accepted, stayed) VALUES (?, ?, 'care_call', ?, ?, ?)",
            [m, sid, ctl, acc, 0 if churned else 1],
        )
        con.execute("INSERT INTO segments (month, subscriber_id, b) VALUES (?, ?, ?)", [m, sid, lv])
        con.execute("INSERT INTO _sim_truth_hist VALUES (?, ?, 'care_call', ?, ?)", [m, sid, r, p])
    out = learnability(con, april, {"care_call": ["b"]}, {"reduction": {"care_call": 0.3}})
    cc = out["care_call"]
    assert cc["treated"] == 155 and cc["levels"] == 2 and cc["learned"] == 0.3
    # Σ accepted × p × r / Σ accepted × p over all 155 treated: (10 + 0.25 + 1.8) / (20 + 2.5 + 2)
    assert cc["true_reduction"] == pytest.approx(12.05 / 24.5, abs=1e-4)
    # B1: r 0.5, weight 100 × 0.2; B2: r 0.1, weight 50 × 0.05
    mean = (20 * 0.5 + 2.5 * 0.1) / 22.5
    spread = np.sqrt((20 * (0.5 - mean) ** 2 + 2.5 * (0.1 - mean) ** 2) / 22.5)
    assert cc["level_spread"] == pytest.approx(spread, abs=1e-4)
    # B1: sqrt(0.1 × 0.9 / 100) / 0.2; B2 has no churner: one event's variance, / 0.05
    assert cc["se_floor_largest"] == pytest.approx(0.15, abs=1e-4)
    assert cc["se_floor_median"] == pytest.approx((0.15 + 0.4) / 2, abs=1e-4)
    # without the kept truth (a run without --diagnose) there is nothing to say
    con.execute("DROP TABLE _sim_truth_hist")
    assert learnability(con, april, {"care_call": ["b"]}) == {}
