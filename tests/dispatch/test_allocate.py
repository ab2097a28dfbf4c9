"""The allocation solver: every constraint holds, shadow prices are right, A1 infeasibility is
reported, and under a halved budget or capacity the optimizer loses less than the priority-order
greedy baseline."""

from __future__ import annotations

import numpy as np
import pytest

from weixi.dispatch.allocate import Problem, check, greedy, priority_order, solve


def _problem(seed=0, ncell=400, nb=3, budget=None, cap=300.0, must_share=0.05):
    rng = np.random.default_rng(seed)
    channels = ["account_manager", "call_center", "sms"]
    nc = len(channels)
    cell_b = rng.integers(0, nb, ncell)
    opt_cell = np.repeat(np.arange(ncell), nc)
    opt_ch = np.tile(np.arange(nc), ncell)
    gross = rng.gamma(1.5, 30, ncell)[opt_cell]
    effect = np.array([1.0, 0.8, 0.2])[opt_ch]
    cost = np.array([12.0, 3.0, 0.1])[opt_ch] + rng.uniform(0, 20, ncell)[opt_cell] * effect
    capacity = np.full((nb, nc), cap)
    capacity[:, 0] = cap / 3
    capacity[:, 2] = np.inf
    return Problem(
        opt_cell=opt_cell,
        opt_branch=cell_b[opt_cell],
        opt_channel=opt_ch,
        opt_value=gross * effect - cost,
        opt_cost=cost,
        cell_n=rng.integers(1, 20, ncell),
        cell_must=rng.random(ncell) < must_share,
        branches=[f"b{i}" for i in range(nb)],
        channels=channels,
        capacity=capacity,
        budget=budget,
    )


def test_solution_respects_every_constraint():
    p = _problem(budget=20_000.0)
    p.branch_quota = np.array([500.0, np.inf, 800.0])
    p.branch_budget = np.array([np.inf, 6_000.0, np.inf])
    for method in ("lp", "greedy"):
        sol = solve(p, method=method)
        assert check(p, sol.x) == [], method
        assert not sol.infeasible
        assert sol.a1_shortfall == {}
    lp, gr = solve(p, method="lp"), solve(p, method="greedy")
    assert lp.objective >= gr.objective - 1e-6
    # integer repair loses almost nothing against the LP bound
    assert lp.objective >= 0.99 * lp.lp_objective


def test_check_catches_violations():
    p = _problem(budget=1_000.0)
    x = np.zeros(p.n_options)
    x[:] = p.cell_n[p.opt_cell]
    errs = check(p, x)
    assert "a cell is over-assigned" in errs
    assert "budget exceeded" in errs
    assert "channel capacity exceeded" in errs


def test_shadow_price_equals_value_of_one_more_unit():
    p = _problem(cap=200.0)
    sol = solve(p, method="lp")
    cap_prices = [s for s in sol.shadow if s.resource == "capacity"]
    assert cap_prices, "capacity should bind in this instance"
    s = max(cap_prices, key=lambda s: s.per_unit)
    b, c = p.branches.index(s.branch), p.channels.index(s.channel)
    p2 = _problem(cap=200.0)
    p2.capacity[b, c] += 0.1  # duals hold for small changes (same basis)
    sol2 = solve(p2, method="lp")
    assert sol2.lp_objective - sol.lp_objective == pytest.approx(0.1 * s.per_unit, rel=1e-6)


def test_budget_shadow_price():
    p = _problem(budget=5_000.0, cap=1e9)
    sol = solve(p, method="lp")
    (bud,) = [s for s in sol.shadow if s.resource == "budget"]
    p2 = _problem(budget=5_000.5, cap=1e9)
    assert solve(p2, method="lp").lp_objective - sol.lp_objective == pytest.approx(
        0.5 * bud.per_unit, rel=1e-6
    )


def test_a1_all_dispatched_when_feasible_even_at_negative_value():
    p = _problem(must_share=0.2)
    must_opts = p.cell_must[p.opt_cell]
    p.opt_value[must_opts] = -5.0  # not worth it on value alone, but the rule says dispatch
    sol = solve(p, method="lp")
    assert check(p, sol.x) == []
    assert not sol.infeasible
    got = np.bincount(p.opt_cell, weights=sol.x, minlength=len(p.cell_n))
    assert np.array_equal(got[p.cell_must], p.cell_n[p.cell_must])


def test_a1_infeasibility_is_reported_not_raised():
    p = _problem(must_share=0.5, cap=30.0)
    p.channels = ["account_manager", "call_center", "store"]
    p.capacity[:, 2] = 10.0  # every channel is scarce now
    sol = solve(p, method="lp")
    assert check(p, sol.x) == []
    assert sol.infeasible
    assert sol.a1_shortfall
    assert "A1 binding-warning customers dispatched" in sol.message
    assert "capacity" in sol.message  # the binding resources are named
    # coverage is the most the capacity allows: every channel of the branch is full of A1
    for bi, b in enumerate(p.branches):
        if b in sol.a1_shortfall:
            must = p.cell_must[p.opt_cell] & (p.opt_branch == bi)
            assert sol.x[must].sum() == pytest.approx(p.capacity[bi].sum())


def _relative_loss(full: float, half: float) -> float:
    return (full - half) / full


@pytest.mark.parametrize("cut", ["budget", "cap"])
def test_halving_hurts_optimizer_less_than_priority_baseline(cut):
    # cut one resource at a time, with the other one not binding
    full = dict(budget=30_000.0, cap=1e9) if cut == "budget" else dict(budget=None, cap=900.0)
    half = dict(full)
    half[cut] = full[cut] / 2
    order_rng = np.random.default_rng(7)
    results = {}
    for name, kw in (("full", full), ("half", half)):
        p = _problem(seed=3, ncell=1500, must_share=0.03, **kw)
        # the branch's rule of thumb: A1 first, then priority groups (unrelated to value)
        order = np.lexsort((order_rng.permutation(len(p.cell_n)), ~p.cell_must))
        opt = solve(p, method="lp")
        base = priority_order(p, order)
        gr = greedy(p)
        for sol in (opt, base, gr):
            assert check(p, sol.x) == []
            assert sol.a1_shortfall == {}
        results[name] = (opt.objective, base.objective, gr.objective)
    (o_full, b_full, g_full), (o_half, b_half, g_half) = results["full"], results["half"]
    assert o_full >= b_full and o_half >= b_half
    assert o_full >= g_full - 1e-6 and o_half >= g_half - 1e-6
    assert _relative_loss(o_full, o_half) < _relative_loss(b_full, b_half)
    assert o_half - b_half > 0.2 * abs(b_half)  # not a rounding-error win


def test_large_instance_uses_greedy_fallback():
    p = _problem(ncell=3000)
    sol = solve(p, method="auto", max_lp_options=1000)
    assert sol.method == "greedy"
    assert check(p, sol.x) == []
