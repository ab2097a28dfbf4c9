"""The closed-loop simulator: knapsack, oracle, policies, measured vs true lift, the 200 k run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from weixi.evaluate.metrics import aa_false_positive_rate
from weixi.synth.simulate import SimParams, knapsack, simulate


def _brute_force(b, c, budget):
    best = 0.0
    n, o = b.shape
    for code in range((o + 1) ** n):  # tiny instance: every assignment
        total, cost = 0.0, 0.0
        x = code
        for i in range(n):
            j = x % (o + 1) - 1
            x //= o + 1
            if j >= 0:
                total += b[i, j] - c[i, j]
                cost += c[i, j]
        if cost <= budget and total > best:
            best = total
    return best


def test_knapsack_is_near_the_exact_optimum_and_respects_the_budget():
    rng = np.random.default_rng(0)
    for _ in range(20):
        b = rng.uniform(0, 20, (6, 3))
        c = rng.uniform(1, 8, (6, 3))
        budget = float(rng.uniform(5, 25))
        ch = knapsack(b, c, budget)
        rows = np.flatnonzero(ch >= 0)
        assert c[rows, ch[rows]].sum() <= budget + 1e-9
        got = (b[rows, ch[rows]] - c[rows, ch[rows]]).sum()
        best = _brute_force(b, c, budget)
        # Lagrangian solution: optimal up to one row (the largest single net value)
        assert got >= best - (b - c).max() - 1e-9


def test_knapsack_takes_everything_worth_it_when_the_budget_is_loose():
    b = np.array([[5.0, -np.inf], [1.0, 3.0], [0.5, 0.1]])
    c = np.array([[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    assert knapsack(b, c, 100.0).tolist() == [0, 1, -1]


def test_small_run_reports_every_month_and_policies_rank_as_expected():
    runs = {
        p: simulate(SimParams(subscribers=8000, months=2, policy=p, warmup=1, seed=1))
        for p in ("rules", "model")
    }
    for policy, res in runs.items():
        d = res.as_dict()
        assert [m["month"] for m in d["months"]] == ["2026-02", "2026-03"]
        for m in d["months"]:
            assert m["oracle_value"] > 0 and m["value"] <= m["oracle_value"] + 1e-6
            assert m["cost"] > 0
            if policy == "model":  # planned at configured take rates; rules overspend (seed costs)
                assert m["cost"] <= m["budget"] * 1.5
            lo, hi = m["measured_lift_ci"]
            assert lo <= m["measured_lift"] <= hi
            assert m["n_treated"] > 0
            if policy == "model":  # rules plan few, expensive customers at this size
                assert m["n_control"] > 0 and m["n_treated"] > 5 * m["n_control"]
    model = sum(m.value for m in runs["model"].months)
    rules = sum(m.value for m in runs["rules"].months)
    assert model > rules


def test_cli_simulate_json():
    from weixi.cli import app

    res = CliRunner().invoke(
        app,
        ["simulate", "-n", "4000", "--months", "1", "--policy", "rules", "--diagnose", "--json"],
    )
    assert res.exit_code == 0, res.output
    months = json.loads(res.stdout)["months"]
    assert set(months[0]) >= {
        "month",
        "value",
        "oracle_value",
        "cost",
        "measured_lift",
        "measured_lift_ci",
        "true_lift",
        "references",
    }
    assert months[0]["references"]["true_churn+systematic_response"] > 0


def test_diagnose_values_reference_plans_against_the_oracle():
    res = simulate(
        SimParams(subscribers=8000, months=2, policy="uplift", warmup=1, seed=2, diagnose=True)
    )
    first, second = (m.references for m in res.months)
    assert set(first) >= {
        "true_churn+systematic_response",
        "true_churn+configured_response",
        "model_churn+true_response",
        "model_churn+systematic_response",
        "model_churn+configured_response",
        "policy_estimates",
    }
    assert "model_churn+learned_accept+configured_reduction" in second  # once a model exists
    for refs in (first, second):
        # the oracle's plan is the best under the same budget: nothing beats it by more than
        # the Lagrangian knapsack's one-row slack
        assert all(v <= 1.02 for v in refs.values()), refs
        # knowing the response functions beats the library's flat configuration
        assert refs["true_churn+systematic_response"] > refs["true_churn+configured_response"]
        assert refs["model_churn+true_response"] > refs["model_churn+configured_response"]
    assert simulate(SimParams(subscribers=4000, months=1, warmup=1)).months[0].references == {}


def test_aa_on_the_synthetic_operators_churn_probabilities():
    """A/A with the operator's true churn probabilities: no lift in ≥ 95 % of 2 000 seeds."""
    from weixi.synth.generate import SyntheticOperator

    p = SyntheticOperator(20_000, seed=5).true_churn_prob().column("p_churn").to_numpy()
    p = p[~np.isnan(p)]
    top = np.sort(p)[-4000:]  # a planned list: the riskiest customers, 10 % holdout
    out = aa_false_positive_rate(top, n_seeds=2000, holdout=0.1, seed=3)
    assert out["positive_share"] <= 0.05
    assert out["significant_share"] <= 0.065


@pytest.fixture(scope="module")
def runs_200k():
    """The issue's scale: 200 k lines, 6 campaign months, default budget (0.15 yuan × lines)."""
    return {
        p: simulate(SimParams(subscribers=200_000, months=6, policy=p, seed=0))
        for p in ("uplift", "rules")
    }


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_200k_uplift_beats_rules_and_approaches_the_oracle(runs_200k):
    """Figures recorded in docs/evaluation.md (the issue's 90 % is out of reach: see "Gap")."""
    up, ru = runs_200k["uplift"].months, runs_200k["rules"].months
    assert up[-1].value >= 2 * max(ru[-1].value, 0.0) + 1.0
    assert up[-1].value_share >= 0.45  # measured 0.49 at month 6; model policy 0.34
    assert up[-1].value_share > up[0].value_share + 0.15  # learning pays off


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_200k_measured_lift_agrees_with_the_true_effect(runs_200k):
    for month in runs_200k["uplift"].months:
        lo, hi = month.measured_lift_ci
        assert lo <= month.true_lift <= hi, month
