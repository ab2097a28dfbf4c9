"""Thompson sampling plan adjustment and its bilingual report."""

from __future__ import annotations

import numpy as np
import pytest

from weixi.evaluate.adjust import SegmentActionStats, change_report, thompson_adjust

# pure computations (an in-memory DuckDB at most): no operational database, one run
pytestmark = pytest.mark.one_db


def _stats(n_t, k_t, n_c=400, k_c=60):
    return SegmentActionStats(
        segments=["A1-B2-C1", "A3-B1-C2"],
        actions=["care_call", "prepay_credit"],
        n_treated=np.array(n_t),
        churned_treated=np.array(k_t),
        n_control=np.array([n_c, n_c]),
        churned_control=np.array([k_c, k_c]),
        value=np.array([800.0, 800.0]),
        cost=np.array([5.0, 30.0]),
        prior_effect=np.full((2, 2), 0.02),
    )


def test_evidence_moves_the_choice_and_no_evidence_follows_the_prior_and_cost():
    s = _stats([[2000, 2000], [0, 0]], [[200, 100], [0, 0]])
    adj = thompson_adjust(s, seed=1)
    best = adj.best_action()
    assert best[0] == "prepay_credit" and adj.p_best[0, 1] > 0.9
    # no data: same configured effect, so the cheaper action is more often best
    assert best[1] == "care_call"
    assert np.allclose(adj.p_best.sum(axis=1), 1.0)
    assert adj.holdout_share == 0.1


def test_ineligible_actions_never_chosen():
    s = _stats([[2000, 2000], [10, 10]], [[200, 100], [1, 1]])
    s.eligible = np.array([[True, False], [True, True]])
    adj = thompson_adjust(s, seed=0)
    assert adj.p_best[0, 1] == 0 and adj.best_action()[0] == "care_call"


def test_change_report_explains_in_both_languages():
    s = _stats([[2000, 2000], [0, 0]], [[200, 100], [0, 0]])
    adj = thompson_adjust(s, seed=1)
    en = change_report(["care_call", "care_call"], adj, locale="en")
    zh = change_report(["care_call", "care_call"], adj, locale="zh-CN")
    assert "1 of 2 segments" in en[0] and "10%" in en[0]
    assert "A1-B2-C1: care_call → prepay_credit" in en[1]
    assert "维系组" in zh[1] and "对照组" in zh[1]
    same = change_report(adj.best_action(), adj, locale="en")
    assert same[0].startswith("0 of 2") and "confirms" in same[-1]
    assert "keep their action while the evidence is thin" in same[1]


def test_thin_evidence_keeps_the_action_and_a_clear_lead_switches_it():
    # segment 2 has no evidence and both actions cost the same: the posterior is near even, so
    # only explore_share of its customers take the draw and the main action stays last month's
    s = _stats([[2000, 2000], [0, 0]], [[200, 100], [0, 0]])
    s.cost = np.array([5.0, 5.0])
    adj = thompson_adjust(s, seed=1, explore_share=0.1)
    follow = adj.follow()
    assert follow[0] > 0.8  # prepay_credit is surely better in segment 1
    assert follow[1] < 0.2
    assert adj.main_action(["care_call", "prepay_credit"]) == ["prepay_credit", "prepay_credit"]
    assert adj.main_action(["care_call", "care_call"]) == ["prepay_credit", "care_call"]
    report = change_report(["care_call", "prepay_credit"], adj, locale="en")
    assert report[0].startswith("1 of 2") and "A1-B2-C1: care_call → prepay_credit" in report[1]
    assert "1 segments keep their action" in report[2]
    # …and the share trying alternatives is those who draw, and draw another action
    alt = follow[1] * (1 - adj.p_best[1, adj.actions.index("prepay_credit")])
    assert f"{alt:.0%}–{alt:.0%} of their customers try the alternatives" in report[2]
    # with every customer exploring, the most likely best action is the main one
    adj.explore_share = 1.0
    assert adj.main_action(["care_call", "prepay_credit"]) == adj.best_action()


def test_each_action_is_measured_against_its_own_controls():
    # one segment, two actions planned for different customers: care_call's customers churn at
    # 30 % untreated, prepay_credit's at 10 %. Both cut churn by 3 pp. Pooled controls (20 %)
    # would credit care_call with −7 pp and prepay_credit with +13 pp.
    s = SegmentActionStats(
        segments=["A2-B2-C1"],
        actions=["care_call", "prepay_credit"],
        n_treated=np.array([[9000, 9000]]),
        churned_treated=np.array([[2430, 630]]),
        n_control=np.array([[1000, 1000]]),
        churned_control=np.array([[300, 100]]),
        value=np.array([800.0]),
        cost=np.array([5.0, 5.0]),
        prior_effect=np.full((1, 2), 0.02),
        control_prior=np.full((1, 2), 0.2),
    )
    adj = thompson_adjust(s, seed=0)
    assert adj.n_control.tolist() == [[1000, 1000]]
    for j in range(2):
        assert adj.lift_low[0, j] < 0.03 < adj.lift_high[0, j]
        assert abs(adj.lift_mean[0, j] - 0.03) < 0.01
