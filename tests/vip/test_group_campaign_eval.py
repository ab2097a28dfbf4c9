"""Evaluation of a group campaign (集团客户维系活动): member churn of treated vs. control groups
with a cluster-robust interval, members lost and kept, and group stability."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vip import group_world as gw
from weixi.evaluate.metrics import rate_diff_ci
from weixi.store.db import session_scope
from weixi.vip import campaign
from weixi.vip.params import load_params
from weixi.web import migrate


def _dispatched(con, n_groups: int, key: str) -> dict[str, bool]:
    migrate.upgrade()
    gw.build(con, n_groups)
    p = load_params()
    p = p.model_copy(
        update={"group_campaign": p.group_campaign.model_copy(update={"top_n": 10_000})}
    )
    with session_scope() as s:
        campaign.dispatch(con=con, session=s, month=gw.M1, key=key, share=0.3, params=p)
        s.commit()
    rows = con.execute(
        "SELECT group_id, is_control FROM group_campaign WHERE campaign_id = ?", [key]
    ).fetchall()
    return dict(rows)


def test_treated_groups_losing_fewer_members_is_a_positive_effect(fresh_con):
    arms = _dispatched(fresh_con, 160, "gc-eval")
    rng = np.random.default_rng(1)
    # group-level heterogeneity: most groups lose ~5 %, a few lose a lot; the campaign halves
    # every treated group's losses
    base = {i: (0.35 if rng.random() < 0.1 else 0.06) for i in range(160)}

    def lost(i, n, is_control):
        rate = base[i] * (1.0 if is_control else 0.4)
        return int(rng.binomial(n, rate))

    gw.next_month(fresh_con, arms, lost)
    out = campaign.evaluate(fresh_con, "gc-eval")
    e = out["churn_effect"]
    assert out["measured_months"] == ["2026-07"] and out["not_measured_groups"] == 0
    t, c = out["treated"], out["control"]
    assert t["groups"] + c["groups"] == 160 and c["groups"] == sum(arms.values())
    assert t["churn_rate"] < c["churn_rate"]
    assert e["effect"] == pytest.approx(c["churn_rate"] - t["churn_rate"], abs=1e-4)
    assert e["effect"] > 0 and e["ci_low"] > 0 and e["p_value"] < 0.05 and e["significant"]
    assert not e["few_groups"]
    assert t["kept"] + t["left_group"] == t["members"]
    # only cancellations here: stability is one minus churn, and its lift is the same
    assert t["stability"] == pytest.approx(1 - t["churn_rate"], abs=1e-4)
    assert out["stability_effect"]["effect"] == pytest.approx(e["effect"], abs=1e-4)
    with session_scope() as s:
        full = campaign.evaluate(fresh_con, "gc-eval", session=s)
    assert full["tasks"]["status_open"] == t["groups"]


def test_an_aa_split_gives_an_interval_around_zero(fresh_con):
    arms = _dispatched(fresh_con, 160, "gc-aa")
    rng = np.random.default_rng(2)
    base = {i: (0.35 if rng.random() < 0.1 else 0.06) for i in range(160)}
    gw.next_month(fresh_con, arms, lambda i, n, _c: int(rng.binomial(n, base[i])))
    e = campaign.evaluate(fresh_con, "gc-aa")["churn_effect"]
    assert e["ci_low"] < 0 < e["ci_high"] and e["significant"] is False
    assert e["p_value"] > 0.05


def test_not_measured_before_the_next_month_is_loaded(fresh_con):
    _dispatched(fresh_con, 20, "gc-early")
    out = campaign.evaluate(fresh_con, "gc-early")
    assert out["measured_months"] == [] and out["not_measured_groups"] == 20
    assert out["churn_effect"]["effect"] is None


def test_cluster_interval_holds_its_level_where_a_member_level_one_does_not():
    """A/A on clustered churn (whole groups leave together): over 300 random splits the
    cluster-robust 95 % interval excludes 0 about 5 % of the time; the member-level
    (binomial) interval far more often — why groups must be the unit."""
    rng = np.random.default_rng(7)
    g = 150
    n = rng.integers(8, 40, g)
    p = np.where(rng.random(g) < 0.1, 0.5, 0.05)  # a few groups leave en bloc
    y = rng.binomial(n, p)
    cluster_fp = naive_fp = 0
    for _ in range(300):
        d = rng.random(g) < 0.5
        r = campaign.cluster_rate_diff(y, n, d, permutations=0)
        cluster_fp += not (r["ci_low"] < 0 < r["ci_high"])
        ci = rate_diff_ci(
            n[d].sum() - y[d].sum(), n[d].sum(), n[~d].sum() - y[~d].sum(), n[~d].sum()
        )
        naive_fp += not (float(ci.low) < 0 < float(ci.high))
    assert cluster_fp / 300 <= 0.09
    assert naive_fp / 300 >= 0.2


def test_randomization_p_value_holds_its_level_with_few_groups_in_an_arm():
    """An arm of ~7 groups: the sandwich interval is too narrow there (flagged few_groups),
    the randomization p-value is not."""
    rng = np.random.default_rng(8)
    g = 150
    n = rng.integers(8, 40, g)
    y = rng.binomial(n, np.where(rng.random(g) < 0.1, 0.5, 0.05))
    runs = rejected = 0
    for _ in range(120):
        d = rng.random(g) < 0.05
        if d.sum() < 2:
            continue
        r = campaign.cluster_rate_diff(y, n, d, permutations=999)
        runs += 1
        rejected += r["p_value"] < 0.05
    assert runs >= 100 and rejected / runs <= 0.11
    e = campaign._effect(campaign.cluster_rate_diff(y, n, rng.random(g) < 0.05), 0.95)
    assert e["few_groups"] and e["p_value"] is not None


def test_cluster_rate_diff_edge_cases():
    one = campaign.cluster_rate_diff(np.array([1, 5]), np.array([10, 10]), np.array([1, 0]))
    assert one["diff"] == pytest.approx(0.4) and one["ci_low"] is None  # one group an arm
    none = campaign.cluster_rate_diff(np.array([1, 2]), np.array([10, 10]), np.array([1, 1]))
    assert none["diff"] is None and none["control_rate"] is None


def test_a_group_seen_in_two_months_is_one_cluster():
    """Rows of the same group (dispatched in two months) are one cluster: the interval uses
    the groups, and the randomization test (rows as units) is not offered."""
    rng = np.random.default_rng(3)
    n = rng.integers(10, 30, 40)
    y = rng.binomial(n, np.where(rng.random(40) < 0.2, 0.4, 0.05))
    d = np.arange(40) % 2 == 0
    once = campaign.cluster_rate_diff(y, n, d)
    twice = campaign.cluster_rate_diff(
        np.r_[y, y], np.r_[n, n], np.r_[d, d], np.r_[np.arange(40), np.arange(40)]
    )
    assert twice["diff"] == pytest.approx(once["diff"])
    assert twice["se"] == pytest.approx(once["se"], rel=0.05)  # not the halved row-level se
    assert twice["p_value"] is None and once["p_value"] is not None
