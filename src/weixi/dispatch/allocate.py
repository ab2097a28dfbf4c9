"""Capacity-constrained allocation (pure): who gets the action through which channel.

The problem is stated over *cells*: customers with identical (branch, action, offer, allowed
channels, A1 flag, value bucket). Decision ``x[o]`` = number of customers of option ``o``'s cell
treated through option ``o``'s channel. Maximize ``Σ value[o]·x[o]`` (value = expected net value per
customer = P(churn)·uplift·effect·CLV − cost) subject to

* cell rows       ``Σ_ch x[cell, ch] ≤ n[cell]`` (``= n`` for A1 binding-warning cells: all dispatched)
* capacity rows   ``Σ x[branch, ch] ≤ capacity[branch, ch]`` (agents, account managers, stores…)
* budget          ``Σ cost[o]·x[o] ≤ budget``
* branch quotas   ``Σ x[branch, ·] ≤ quota[branch]`` and ``Σ cost·x[branch, ·] ≤ budget[branch]``

Within a cell every customer has (nearly) the same value, so the LP over cells equals the LP over
customers for the linear objective; 1 M customers become a few thousand cells. HiGHS solves the
LP (``highspy``); its row duals are the shadow prices. The LP optimum is floored and then repaired
greedily (A1 first, then by value) so every constraint holds on integers. For instances with more
than ``max_lp_cells`` options the same greedy runs alone (fast fallback).

When not every A1 customer can be dispatched (capacity or budget too small), the solver does not
fail: phase 1 maximizes A1 coverage, phase 2 maximizes value with that coverage fixed, and
``Solution.infeasible`` plus ``Solution.message`` and ``Solution.a1_shortfall`` say which branch
misses how many A1 customers and which resources bind (non-zero duals in phase 1).
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

INF = math.inf


@dataclass
class Problem:
    """Arrays describing an allocation instance (one entry per option = cell × channel)."""

    opt_cell: np.ndarray
    opt_branch: np.ndarray
    opt_channel: np.ndarray
    opt_value: np.ndarray
    opt_cost: np.ndarray
    cell_n: np.ndarray
    cell_must: np.ndarray
    branches: list[str]
    channels: list[str]
    capacity: np.ndarray  # (n_branch, n_channel), inf = unlimited
    budget: float | None = None
    branch_quota: np.ndarray | None = None  # (n_branch,)
    branch_budget: np.ndarray | None = None  # (n_branch,)
    opt_weight: np.ndarray | None = None  # capacity/quota units per customer (default 1)

    def __post_init__(self) -> None:
        nb = len(self.branches)
        if self.branch_quota is None:
            self.branch_quota = np.full(nb, INF)
        if self.branch_budget is None:
            self.branch_budget = np.full(nb, INF)
        self.opt_cell = np.asarray(self.opt_cell, dtype=np.int64)
        self.opt_branch = np.asarray(self.opt_branch, dtype=np.int64)
        self.opt_channel = np.asarray(self.opt_channel, dtype=np.int64)
        self.opt_value = np.asarray(self.opt_value, dtype=float)
        self.opt_cost = np.asarray(self.opt_cost, dtype=float)
        self.cell_n = np.asarray(self.cell_n, dtype=np.int64)
        self.cell_must = np.asarray(self.cell_must, dtype=bool)
        if self.opt_weight is None:
            self.opt_weight = np.ones(len(self.opt_cell))
        self.opt_weight = np.asarray(self.opt_weight, dtype=float)

    @property
    def n_options(self) -> int:
        return len(self.opt_cell)


@dataclass
class ShadowPrice:
    """Value of one more unit of a binding resource."""

    resource: str  # capacity | budget | quota | branch_budget
    branch: str | None
    channel: str | None
    per_unit: float  # yuan per extra contact (capacity/quota) or per extra yuan (budget)


@dataclass
class Solution:
    """Integer allocation per option and what the solver learned."""

    x: np.ndarray
    method: str
    objective: float
    cost: float
    lp_objective: float | None = None
    shadow: list[ShadowPrice] = field(default_factory=list)
    infeasible: bool = False
    message: str = ""
    a1_required: dict[str, int] = field(default_factory=dict)
    a1_dispatched: dict[str, int] = field(default_factory=dict)

    @property
    def a1_shortfall(self) -> dict[str, int]:
        """Branch → A1 customers that could not be dispatched (empty when all were)."""
        return {
            b: self.a1_required[b] - self.a1_dispatched.get(b, 0)
            for b in self.a1_required
            if self.a1_required[b] > self.a1_dispatched.get(b, 0)
        }


class _Resources:
    """Remaining resources during greedy fill/repair (checked per option, never per customer)."""

    def __init__(self, p: Problem, x: np.ndarray) -> None:
        self.p = p
        used_cell = np.bincount(p.opt_cell, weights=x, minlength=len(p.cell_n))
        self.cell_rem = p.cell_n - used_cell
        nb, nc = p.capacity.shape
        flat = p.opt_branch * nc + p.opt_channel
        wx = p.opt_weight * x
        used_cap = np.bincount(flat, weights=wx, minlength=nb * nc).reshape(nb, nc)
        self.cap_rem = p.capacity - used_cap
        spend = p.opt_cost * x
        self.budget_rem = (p.budget if p.budget is not None else INF) - spend.sum()
        self.quota_rem = p.branch_quota - np.bincount(p.opt_branch, weights=wx, minlength=nb)
        self.bbudget_rem = p.branch_budget - np.bincount(p.opt_branch, weights=spend, minlength=nb)

    def room(self, o: int) -> int:
        p = self.p
        b, ch, c = p.opt_branch[o], p.opt_channel[o], p.opt_cell[o]
        w = p.opt_weight[o]
        lim = min(self.cell_rem[c], self.cap_rem[b, ch] / w, self.quota_rem[b] / w)
        cost = p.opt_cost[o]
        if cost > 0:
            lim = min(lim, self.budget_rem / cost, self.bbudget_rem[b] / cost)
        return math.floor(lim + 1e-9) if lim > 0 else 0

    def take(self, o: int, k: int) -> None:
        p = self.p
        b, ch, c = p.opt_branch[o], p.opt_channel[o], p.opt_cell[o]
        self.cell_rem[c] -= k
        self.cap_rem[b, ch] -= k * p.opt_weight[o]
        self.quota_rem[b] -= k * p.opt_weight[o]
        spend = p.opt_cost[o] * k
        self.budget_rem -= spend
        self.bbudget_rem[b] -= spend


def _fill(p: Problem, x: np.ndarray, order: np.ndarray, *, positive_only: bool) -> np.ndarray:
    res = _Resources(p, x)
    for o in order:
        if positive_only and p.opt_value[o] <= 0:
            continue
        k = res.room(int(o))
        if k > 0:
            x[o] += k
            res.take(int(o), k)
    return x


def _a1_stats(p: Problem, x: np.ndarray, sol: Solution) -> None:
    must_opts = p.cell_must[p.opt_cell]
    req = np.zeros(len(p.branches))
    cell_branch = np.zeros(len(p.cell_n), dtype=np.int64)
    cell_branch[p.opt_cell] = p.opt_branch
    np.add.at(req, cell_branch[p.cell_must], p.cell_n[p.cell_must])
    got = np.bincount(p.opt_branch[must_opts], weights=x[must_opts], minlength=len(p.branches))
    sol.a1_required = {p.branches[i]: int(req[i]) for i in range(len(p.branches)) if req[i] > 0}
    sol.a1_dispatched = {p.branches[i]: int(got[i]) for i in range(len(p.branches)) if req[i] > 0}


def _greedy_orders(p: Problem) -> list[np.ndarray]:
    """Candidate orders: by value, by value per yuan, and by value net of the budget's price."""
    orders = [np.argsort(-p.opt_value, kind="stable")]
    if p.budget is not None or np.isfinite(p.branch_budget).any():
        density = p.opt_value / np.maximum(p.opt_cost, 1e-6)
        by_density = np.argsort(-density, kind="stable")
        orders.append(by_density)
        if p.budget is not None:
            # the density at which the budget runs out approximates the budget's shadow price
            n = p.cell_n[p.opt_cell]
            spend = np.cumsum(p.opt_cost[by_density] * n[by_density])
            cut = int(np.searchsorted(spend, p.budget))
            lam = float(max(density[by_density[min(cut, len(by_density) - 1)]], 0.0))
            orders.append(np.argsort(-(p.opt_value - lam * p.opt_cost), kind="stable"))
    return orders


def greedy(p: Problem) -> Solution:
    """Fast fallback: A1 options first, then every option with positive value, in the best of a
    few value orders (by value, value per yuan, value net of the budget's price).

    Respects every constraint; optimal when only cell limits bind, near-optimal otherwise.
    """
    must = p.cell_must[p.opt_cell]
    best: np.ndarray | None = None
    for order in _greedy_orders(p):
        x = np.zeros(p.n_options)
        x = _fill(p, x, order[must[order]], positive_only=False)
        x = _fill(p, x, order, positive_only=True)
        if best is None or p.opt_value @ x > p.opt_value @ best:
            best = x
    x = best
    sol = Solution(
        x=x, method="greedy", objective=float(p.opt_value @ x), cost=float(p.opt_cost @ x)
    )
    _a1_stats(p, x, sol)
    if sol.a1_shortfall:
        sol.infeasible = True
        sol.message = _shortfall_text(sol, [])
    return sol


def priority_order(p: Problem, cell_order: np.ndarray, *, positive_only: bool = True) -> Solution:
    """The rule-of-thumb baseline: work cells in priority order (A1 first, then priority group),
    each customer through their best channel that still has room, until budget or capacity runs
    out; with ``positive_only`` contacts worth nothing are skipped (except A1). No optimization
    across customers. A campaign with ``solver: priority`` plans this way (the options it passes
    already exclude those below its ``min_value``).
    """
    pos = np.empty(len(p.cell_n), dtype=np.int64)
    pos[np.asarray(cell_order)] = np.arange(len(cell_order))
    order = np.lexsort((-p.opt_value, pos[p.opt_cell]))
    must = p.cell_must[p.opt_cell]
    x = np.zeros(p.n_options)
    res = _Resources(p, x)
    for o in order:
        if positive_only and p.opt_value[o] <= 0 and not must[o]:
            continue
        k = res.room(int(o))
        if k > 0:
            x[o] += k
            res.take(int(o), k)
    sol = Solution(
        x=x, method="priority", objective=float(p.opt_value @ x), cost=float(p.opt_cost @ x)
    )
    _a1_stats(p, x, sol)
    return sol


def _shortfall_text(sol: Solution, binding: list[str]) -> str:
    parts = [
        f"{b} {sol.a1_dispatched.get(b, 0)}/{sol.a1_required[b]}" for b in sorted(sol.a1_shortfall)
    ]
    text = "A1 binding-warning customers dispatched (of required) — " + ", ".join(parts)
    if binding:
        text += "; binding: " + ", ".join(binding)
    return text


def _build_rows(p: Problem, must_equal: bool):
    """Return (row_lower, row_upper, coo rows, coo cols, coo vals, row_meta)."""
    nopt = p.n_options
    idx = np.arange(nopt)
    lower, upper, meta = [], [], []
    rows, cols, vals = [], [], []
    ncell = len(p.cell_n)
    # cell rows
    lower.extend(np.where(p.cell_must & must_equal, p.cell_n, 0).astype(float).tolist())
    upper.extend(p.cell_n.astype(float).tolist())
    meta.extend([("cell", None, None)] * ncell)
    rows.append(p.opt_cell)
    cols.append(idx)
    vals.append(np.ones(nopt))
    r = ncell
    nb, nc = p.capacity.shape
    cap_row = np.full((nb, nc), -1)
    for b in range(nb):
        for c in range(nc):
            if np.isfinite(p.capacity[b, c]):
                cap_row[b, c] = r
                lower.append(0.0)
                upper.append(max(float(p.capacity[b, c]), 0.0))
                meta.append(("capacity", p.branches[b], p.channels[c]))
                r += 1
    cr = cap_row[p.opt_branch, p.opt_channel]
    has = cr >= 0
    rows.append(cr[has])
    cols.append(idx[has])
    vals.append(p.opt_weight[has])
    if p.budget is not None:
        lower.append(0.0)
        upper.append(float(p.budget))
        meta.append(("budget", None, None))
        rows.append(np.full(nopt, r))
        cols.append(idx)
        vals.append(p.opt_cost)
        r += 1
    for b in range(nb):
        if np.isfinite(p.branch_quota[b]):
            sel = p.opt_branch == b
            lower.append(0.0)
            upper.append(float(p.branch_quota[b]))
            meta.append(("quota", p.branches[b], None))
            rows.append(np.full(int(sel.sum()), r))
            cols.append(idx[sel])
            vals.append(p.opt_weight[sel])
            r += 1
        if np.isfinite(p.branch_budget[b]):
            sel = p.opt_branch == b
            lower.append(0.0)
            upper.append(float(p.branch_budget[b]))
            meta.append(("branch_budget", p.branches[b], None))
            rows.append(np.full(int(sel.sum()), r))
            cols.append(idx[sel])
            vals.append(p.opt_cost[sel])
            r += 1
    return (
        np.asarray(lower, dtype=float),
        np.asarray(upper, dtype=float),
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(vals),
        meta,
    )


def _libc_flush() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - non-POSIX
        pass


@contextmanager
def _quiet_stdout():
    """Silence C-level writes to file descriptor 1 for the duration of the block."""
    sys.stdout.flush()
    fd = 1  # C code writes to file descriptor 1, whatever Python's sys.stdout is
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        _libc_flush()  # C stdio buffers (not a tty) would otherwise print after we restore
        os.dup2(saved, fd)
        os.close(saved)


def _solve_lp(p, objective, row_lower, row_upper, coo, extra_rows=None):
    import highspy
    from scipy.sparse import coo_matrix

    rows, cols, vals = coo
    nrow = len(row_lower)
    if extra_rows is not None:
        er_coef, er_lower = extra_rows
        sel = np.nonzero(er_coef)[0]
        rows = np.concatenate([rows, np.full(len(sel), nrow)])
        cols = np.concatenate([cols, sel])
        vals = np.concatenate([vals, er_coef[sel]])
        row_lower = np.append(row_lower, er_lower)
        row_upper = np.append(row_upper, highspy.kHighsInf)
        nrow += 1
    a = coo_matrix((vals, (rows, cols)), shape=(nrow, p.n_options)).tocsc()
    a.sum_duplicates()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = p.n_options
    lp.num_row_ = nrow
    lp.col_cost_ = np.asarray(objective, dtype=float)
    lp.col_lower_ = np.zeros(p.n_options)
    lp.col_upper_ = p.cell_n[p.opt_cell].astype(float)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    with _quiet_stdout():  # HiGHS prints a banner on stdout (would spoil `--json` output)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        h.run()
    status = h.getModelStatus()
    ok = status == highspy.HighsModelStatus.kOptimal
    sol = h.getSolution()
    x = np.asarray(sol.col_value) if ok else None
    duals = np.asarray(sol.row_dual) if ok else None
    return ok, x, duals


def solve(p: Problem, *, method: str = "auto", max_lp_options: int = 150_000) -> Solution:
    """Allocate with HiGHS (LP over cells, then integer repair) or the greedy fallback.

    Args:
        p: the instance.
        method: ``lp``, ``greedy`` or ``auto`` (LP unless the instance exceeds ``max_lp_options``).
        max_lp_options: the size above which ``auto`` switches to greedy.

    Returns:
        A :class:`Solution` with integer ``x`` per option satisfying every constraint.
    """
    if p.n_options == 0:
        return Solution(x=np.zeros(0), method="empty", objective=0.0, cost=0.0)
    if method == "greedy" or (method == "auto" and p.n_options > max_lp_options):
        return greedy(p)
    lo, up, r, c, v, meta = _build_rows(p, must_equal=True)
    ok, x, duals = _solve_lp(p, p.opt_value, lo, up, (r, c, v))
    binding: list[str] = []
    infeasible = False
    if not ok:
        # Phase 1: the most A1 coverage the resources allow; phase 2: best value with it fixed.
        lo1, up1, r1, c1, v1, meta1 = _build_rows(p, must_equal=False)
        must = p.cell_must[p.opt_cell].astype(float)
        ok1, x1, d1 = _solve_lp(p, must, lo1, up1, (r1, c1, v1))
        if not ok1:
            return greedy(p)
        coverage = float(must @ x1)
        binding = [
            f"{kind} {b or ''} {ch or ''}".replace("  ", " ").strip()
            for (kind, b, ch), d in zip(meta1, d1, strict=True)
            if kind != "cell" and abs(d) > 1e-9
        ]
        ok, x, duals = _solve_lp(
            p, p.opt_value, lo1, up1, (r1, c1, v1), extra_rows=(must, coverage - 1e-6)
        )
        meta = [*meta1, ("a1_coverage", None, None)]
        infeasible = True
        if not ok:
            x, duals = x1, d1
            meta = meta1
    lp_obj = float(p.opt_value @ x)
    xi = np.floor(x + 1e-6)
    must = p.cell_must[p.opt_cell]
    by_value = np.argsort(-p.opt_value, kind="stable")
    xi = _fill(p, xi, by_value[must[by_value]], positive_only=False)
    xi = _fill(p, xi, by_value, positive_only=True)
    sol = Solution(
        x=xi,
        method="lp",
        objective=float(p.opt_value @ xi),
        cost=float(p.opt_cost @ xi),
        lp_objective=lp_obj,
    )
    for (kind, b, ch), d in zip(meta, duals, strict=True):
        if kind in ("capacity", "budget", "quota", "branch_budget") and abs(d) > 1e-9:
            sol.shadow.append(ShadowPrice(kind, b, ch, float(abs(d))))
    _a1_stats(p, xi, sol)
    if infeasible or sol.a1_shortfall:
        sol.infeasible = True
        sol.message = _shortfall_text(sol, binding)
    return sol


def check(p: Problem, x: np.ndarray, *, tol: float = 1e-6) -> list[str]:
    """Return every violated constraint of ``x`` (empty list = feasible). Used by the tests."""
    errs: list[str] = []
    if np.any(x < -tol) or np.any(np.abs(x - np.round(x)) > tol):
        errs.append("x must be non-negative integers")
    used = np.bincount(p.opt_cell, weights=x, minlength=len(p.cell_n))
    if np.any(used > p.cell_n + tol):
        errs.append("a cell is over-assigned")
    nb, nc = p.capacity.shape
    wx = p.opt_weight * x
    cap = np.bincount(p.opt_branch * nc + p.opt_channel, weights=wx, minlength=nb * nc).reshape(
        nb, nc
    )
    if np.any(cap > p.capacity + tol):
        errs.append("channel capacity exceeded")
    spend = p.opt_cost * x
    if p.budget is not None and spend.sum() > p.budget + tol:
        errs.append("budget exceeded")
    if np.any(np.bincount(p.opt_branch, weights=wx, minlength=nb) > p.branch_quota + tol):
        errs.append("branch quota exceeded")
    if np.any(np.bincount(p.opt_branch, weights=spend, minlength=nb) > p.branch_budget + tol):
        errs.append("branch budget exceeded")
    return errs
