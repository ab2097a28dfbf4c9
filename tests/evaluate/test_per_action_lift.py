"""Randomize where the question is: each action's lift is measured against its own controls.

A real plan (``plan_month``) of a generated month; next month's outcomes are drawn with known
effects; the product's evaluation (``evaluate_month`` / ``lift_rows``) must find them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tests.dispatch.test_plan import SPEC, _snapshot
from tests.strategy.factories import MONTH, load, random_segments
from weixi.dispatch.holdout import uniform
from weixi.dispatch.schemas import CampaignSpec
from weixi.dispatch.service import plan_month
from weixi.evaluate.service import evaluate_month, get_outcomes, lift_rows
from weixi.store.analytics import connect
from weixi.store.db import session_factory
from weixi.store.months import add_months
from weixi.strategy.library import load_preset
from weixi.web import migrate

NEXT = add_months(MONTH, 1)
SHARE = 0.3


@pytest.fixture
def planned(settings):
    """20 000 lines planned with a 30 % control and no binding limit; the plan's rows."""
    migrate.upgrade()
    con = connect()
    seg, scores = random_segments(20_000, seed=11, n_branches=2)
    load(con, seg, scores)
    snap = _snapshot(seg, MONTH)
    con.register("_s", snap)
    con.execute("CREATE OR REPLACE TABLE snapshot AS SELECT * FROM _s")
    con.unregister("_s")
    session = session_factory()()
    spec = CampaignSpec.model_validate(
        {
            **SPEC,
            "budget": None,
            "branch_quotas": {},
            "branch_budgets": {},
            "control_share": SHARE,
            "capacity": {"agent_contacts_per_day": 10_000, "campaign_share": 1.0},
        }
    )
    plan_month(
        con=con,
        month=MONTH,
        spec=spec,
        library=load_preset(),
        session=session,
        as_of=dt.datetime(2026, 1, 1),
    )
    session.commit()
    session.close()
    rows = con.execute(
        "SELECT subscriber_id, action, is_control FROM plan_assignments ORDER BY subscriber_id"
    ).df()
    yield con, snap, rows, spec
    con.close()


def _two_actions(rows: pd.DataFrame) -> tuple[str, str]:
    top = rows["action"].value_counts().index[:2]
    return str(top[0]), str(top[1])


def test_two_actions_with_different_true_effects_each_covered_by_its_own_interval(planned):
    con, snap, rows, _ = planned
    a, b = _two_actions(rows)
    # untreated churn differs by the action the plan chose (confounded), and so do the effects
    base = np.where(rows["action"] == a, 0.30, np.where(rows["action"] == b, 0.08, 0.15))
    effect = np.where(rows["action"] == a, 0.10, np.where(rows["action"] == b, 0.02, 0.0))
    truth = {a: 0.10, b: 0.02}
    p_churn = base - effect * ~rows["is_control"].to_numpy()
    rng = np.random.default_rng(5)
    left = set(rows["subscriber_id"][rng.random(len(rows)) < p_churn])
    nxt = snap[~snap["subscriber_id"].isin(left)].assign(month=NEXT)
    con.register("_n", nxt)
    con.execute("INSERT INTO snapshot SELECT * FROM _n")
    con.unregister("_n")
    report = evaluate_month(con=con, month=MONTH, dimensions=["action", "staff_id"], n_boot=50)
    by = {r["group"]: r for r in report["by"]["action"]}
    for act, true_lift in truth.items():
        r = by[act]
        assert r["n_control"] > 300 and r["n_treated"] > 700
        # one draw: within 1.7 half-widths (a 95 % interval misses 5 % of draws; coverage is
        # measured below). Pooled controls would credit a with about −5 pp and b with +24 pp.
        half = (r["retention_lift_high"] - r["retention_lift_low"]) / 2
        assert abs(r["retention_lift"] - true_lift) <= 1.7 * half, (act, r)
    # a control keeps its person: per-person lift has controls
    staffed = [r for r in report["by"]["staff_id"] if r["group"] != "-"]
    assert staffed and all(r["n_control"] > 0 for r in staffed)

    # coverage over 400 draws of the outcomes, through the product's lift rows
    df = get_outcomes(con=con, month=MONTH)
    acts = df["action"].to_numpy()
    ctl = df["is_control"].to_numpy(bool)
    p = np.where(acts == a, 0.30, np.where(acts == b, 0.08, 0.15))
    p = p - np.where(acts == a, 0.10, np.where(acts == b, 0.02, 0.0)) * ~ctl
    covered = {a: 0, b: 0}
    rng = np.random.default_rng(7)
    for _ in range(400):
        stayed = (rng.random(len(df)) >= p).astype(int)
        for r in lift_rows(df.assign(stayed=stayed), "action", n_boot=10):
            if r["group"] in truth:
                covered[r["group"]] += (
                    r["retention_lift_low"] <= truth[r["group"]] <= r["retention_lift_high"]
                )
    assert min(covered.values()) / 400 >= 0.92, covered


def test_aa_per_action_false_positive_rate_stays_nominal(planned):
    """A/A over 200 control draws (the product's holdout hash, other salts): no effect."""
    _, _, rows, _ = planned
    rng = np.random.default_rng(3)
    ids = rows["subscriber_id"].to_numpy()
    acts = rows["action"].to_numpy()
    base = rng.uniform(0.03, 0.3, len(rows))  # churn varies by customer, not by arm
    frame = pd.DataFrame(
        {
            "action": acts,
            "arpu_before": 50.0,
            "planned_cost": 0.0,
            "actual_cost": 0.0,
            "contacted": None,
            "accepted": None,
        }
    )
    tests = positive = significant = 0
    for k in range(200):
        control = uniform(ids, f"aa-{k}") < SHARE
        stayed = (rng.random(len(rows)) >= base).astype(int)
        out = lift_rows(
            frame.assign(is_control=control, stayed=stayed, arpu_after=50.0 * stayed),
            "action",
            n_boot=10,
        )
        for r in out:
            if r["n_control"] >= 100:
                tests += 1
                significant += r["verdict"] != "no significant effect"
                positive += r["retention_lift_low"] > 0
    assert tests >= 400
    assert positive / tests <= 0.05
    assert significant / tests <= 0.065  # nominal 5 %, binomial slack over ~tests
