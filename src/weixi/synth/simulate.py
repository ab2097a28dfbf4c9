"""The closed-loop simulator: run weixi's monthly cycle on the synthetic operator.

Each campaign month t:

1. **Data** — take the operator's snapshot of month t (canonical fields) and build features
   (the snapshot plus last month's ARPU / minutes, as the segmentation's ``arpu_drop_pct`` does).
2. **Exclusion and segments** — the SPEC's exclusions (status, line type, free / public / dedicated
   lines, red/black list, do-not-disturb, tenure under 3 months) and the seed's A/B/C and needs
   dimensions, computed directly from the snapshot (a vectorized re-implementation, not the
   ``segments`` table: the simulator never touches a database, for speed).
3. **Churn warning** — a LightGBM churn model trained on every untreated customer of the months
   seen so far (features of month t−1, label = gone or cancelled in month t); the simulator
   starts with ``warmup`` months without campaigns so the first model has data.
4. **Plan** under a fixed monthly budget with a randomized holdout. An *option* is an
   (action, channel) pair; every option has an expected benefit (churn probability removed ×
   customer value, value = ``clv_months`` × ARPU, as the strategy library's value model) and an
   expected cost (channel contact cost + contact rate × acceptance × offer cost by ARPU tier,
   from the seed strategy library). The policies differ in how they estimate these:

   - ``rules`` — seed matching only: the seed's matrix picks the action (conflicts by category
     priority A > B > C), account managers serve VIP / group customers and the call center
     everyone else; customers are worked in the seed's priority order (binding warning first,
     then high value with high/medium tendency, then the rest; by ARPU inside a group) until the
     budget (at configured take rates) is spent. No model.
   - ``model`` — churn model × configured effect: the seed-matched actions, valued with the
     model's churn probability × the strategy library's configured uplift and take rate ×
     channel effect; the budget goes where that value per yuan is highest (the allocator below).
   - ``uplift`` — learned uplift: per customer × action, P(accept | contacted) and the relative
     churn reduction of an accepted offer are learned from every past treated and control
     customer (:func:`weixi.evaluate.uplift.fit_response_uplift`); the allocator chooses among
     *all* actions of the line type. Before enough evidence exists it behaves like ``model``.
     A decaying share of planned customers gets a random action (exploration).

   The allocator picks at most one option per customer to maximise Σ(benefit − cost) subject to
   Σ cost ≤ budget — a multiple-choice knapsack solved by Lagrangian relaxation (bisection on the
   budget's shadow price): exact for the LP relaxation, so within one customer of the integer
   optimum. ``holdout`` of the planned customers are drawn at random as the control and not
   treated (the plan is sized for budget / (1 − holdout) so that the treated spend ≈ budget).
5. **Execute** with outcomes drawn from the hidden truth: contacted ~ channel contact rate,
   accepted ~ the line's hidden ``p_accept``; the accepted actions go to
   ``SyntheticOperator.advance`` which applies the hidden ``churn_reduction``.
6. **Evaluate** month t from month t+1's snapshot: the retention lift of treated vs holdout with
   its 95 % interval (:func:`weixi.evaluate.metrics.rate_diff_ci`), next to the true lift (the mean
   true churn-probability reduction over the planned customers, which is what the randomized
   comparison estimates).
7. **Adjust** — the policy's models are retrained on the data accumulated so far.

Per month the simulator reports the policy's **value** (true expected net value of the treated
customers: Σ true churn-probability reduction × value − true expected cost) and the
**oracle's value**: the same knapsack solved with the hidden truth (true churn probability,
acceptance and churn reduction) under the same budget.

With ``diagnose`` every month also reports :func:`references`: the oracle share reached by plans
that know *part* of the truth (true or modelled churn × true, systematic or configured responses,
and the policy's own estimates). They locate the gap: e.g. the churn model with the exact
response functions bounds what any learner using that churn model can reach.

Example:
    >>> res = simulate(SimParams(subscribers=4000, months=1, policy="rules", warmup=1))
    >>> m = res.as_dict()["months"][0]
    >>> m["month"], {"value", "oracle_value", "true_lift", "measured_lift_ci"} <= set(m)
    ('2026-02', True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from weixi.errors import ConfigError
from weixi.evaluate.metrics import rate_diff_ci
from weixi.evaluate.uplift import ResponseUpliftModel, fit_response_uplift
from weixi.store.months import format_month
from weixi.synth.generate import BROADBAND_ACTIONS, MOBILE_ACTIONS, SyntheticOperator

POLICIES = ("rules", "model", "uplift")
ACTIONS = (*MOBILE_ACTIONS, *(a for a in BROADBAND_ACTIONS if a not in MOBILE_ACTIONS))

# Channels of the seed strategy library: (contact rate = the library's channel effect, contact cost)
CHANNELS: dict[str, tuple[float, float]] = {
    "account_manager": (1.0, 12.0),
    "call_center": (0.8, 3.0),
    "store": (0.6, 5.0),
    "sms": (0.2, 0.1),
    "app": (0.15, 0.05),
}
CHANNEL_KEYS = tuple(CHANNELS)


@dataclass(frozen=True)
class ActionConfig:
    """An action as the seed strategy library configures it."""

    category: str
    uplift: float  # configured share of would-be churners kept when it reaches them
    take_rate: float  # configured acceptance
    channels: tuple[str, ...]
    cost_tiers: tuple[tuple[float, float], ...]  # (arpu_3m at least, offer cost), highest first


ACTION_CONFIG: dict[str, ActionConfig] = {
    "handset_upgrade": ActionConfig(
        "A",
        0.35,
        0.25,
        ("account_manager", "call_center", "store"),
        ((80, 600.0), (20, 300.0), (0, 150.0)),
    ),
    "care_call": ActionConfig(
        "A", 0.15, 1.0, ("account_manager", "call_center", "store", "sms"), ((80, 20.0), (0, 0.0))
    ),
    "add_mobile": ActionConfig(
        "A",
        0.30,
        0.2,
        ("account_manager", "call_center", "store", "sms"),
        ((120, 80.0), (0, 50.0)),
    ),
    "prepay_data": ActionConfig("B", 0.30, 0.3, CHANNEL_KEYS, ((80, 40.0), (20, 25.0), (0, 10.0))),
    "prepay_credit": ActionConfig(
        "B", 0.30, 0.3, CHANNEL_KEYS, ((80, 60.0), (20, 30.0), (0, 12.0))
    ),
    "prepay_speedup": ActionConfig(
        "B", 0.25, 0.3, ("call_center", "store", "sms", "app"), ((0, 30.0),)
    ),
    "prepay_annual": ActionConfig("B", 0.30, 0.3, CHANNEL_KEYS, ((120, 100.0), (0, 60.0))),
    "package_fit": ActionConfig(
        "C", 0.20, 0.3, ("account_manager", "call_center", "sms", "app"), ((80, 20.0), (0, 10.0))
    ),
    "data_pack": ActionConfig("C", 0.10, 0.3, ("call_center", "sms", "app"), ((0, 5.0),)),
    "itv_addon": ActionConfig("C", 0.12, 0.3, ("call_center", "store", "sms", "app"), ((0, 15.0),)),
}


class SimParams(BaseModel):
    """Settings of one simulation run."""

    subscribers: int = Field(20_000, ge=500)
    months: int = Field(3, ge=1, le=36)
    policy: str = Field("uplift", pattern="^(rules|model|uplift)$")
    seed: int = 0
    budget: float | None = Field(None, gt=0, description="yuan per month; default 0.15 × lines")
    holdout: float = Field(0.1, ge=0.01, le=0.5)
    warmup: int = Field(2, ge=1, le=12)
    clv_months: float = 12.0
    start_month: str = "2026-01"
    explore_first: float = Field(0.3, ge=0, le=1, description="random-action share, month 1")
    explore_decay: float = Field(0.5, ge=0, le=1)
    explore_min: float = Field(0.03, ge=0, le=1)
    num_threads: int = Field(1, ge=1, description="LightGBM threads (1 is fastest on a busy box)")
    max_train_rows: int = Field(200_000, ge=10_000)
    uplift_cells: bool = Field(False, description="effects per segment cell × action")
    uplift_prior_events: float = Field(
        50.0, ge=0, description="weight of the configured effect, in expected churners"
    )
    uplift_min_events: int = Field(
        400, ge=1, description="churners among contacted customers before effects vary by customer"
    )
    diagnose: bool = Field(
        False, description="also value reference plans that each know part of the truth"
    )

    def monthly_budget(self) -> float:
        return float(self.budget if self.budget is not None else 0.15 * self.subscribers)


@dataclass
class MonthResult:
    """One simulated campaign month."""

    month: str
    value: float  # true expected net value of the treated customers (yuan)
    oracle_value: float  # the oracle's, same budget
    cost: float  # true expected cost of the treated customers
    oracle_cost: float
    budget: float
    n_planned: int
    n_treated: int
    n_control: int
    measured_lift: float  # retention(treated) − retention(control)
    measured_lift_ci: list[float]
    true_lift: float  # mean true churn-probability reduction over planned customers
    value_share: float  # value / oracle_value
    actions: dict[str, int] = field(default_factory=dict)
    # with ``diagnose``: value share of the oracle reached by reference plans (see references())
    references: dict[str, float] = field(default_factory=dict)


@dataclass
class SimResult:
    """All months of one run."""

    params: dict
    months: list[MonthResult]

    def as_dict(self) -> dict:
        """JSON-ready dict: ``{"params": …, "months": [{"month", "value", …}, …]}``."""
        return {"params": self.params, "months": [asdict(m) for m in self.months]}


# ---------------------------------------------------------------------------------- features
_NUMERIC = (
    "arpu",
    "voice_minutes",
    "data_mb",
    "zero_call_days",
    "complaints",
    "competitor_contacts",
    "group_payment_amount",
    "package_fee",
    "annual_spend",
    "satisfaction_score",
    "bb_speed_mbps",
    "bb_online_hours",
    "sms_mms_spend",
    "vas_spend",
)
_FLAGS = (
    "is_converged",
    "dual_competitor",
    "has_iptv",
    "has_mobile_line",
    "handset_smart",
    "snapshot_midhigh",
)
_CODES = {
    "line_type": ("mobile", "broadband", "data_card", "iot", "payphone", "fixed"),
    "status": ("active", "suspended", "arrears_stopped", "cancelling", "cancelled"),
    "contract_type": (
        "none",
        "handset_subsidy",
        "prepaid_credit",
        "package_prepay",
        "deposit_bonus",
        "broadband_annual",
    ),
    "handset_generation": ("2g", "3g", "4g", "5g"),
    "vip_level": ("none", "silver", "gold", "diamond"),
    "payment_type": ("personal", "corporate"),
    "credit_list": ("none", "red", "grey", "black"),
}


def _num(t: pa.Table, name: str) -> np.ndarray:
    col = t.column(name)
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.float64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64)


def _code(t: pa.Table, name: str) -> np.ndarray:
    vocab = _CODES[name]
    idx = pc.index_in(t.column(name), value_set=pa.array(vocab)).to_numpy(zero_copy_only=False)
    return np.where(np.isnan(idx.astype(float)), -1, idx).astype(np.int64)


def _days_until(t: pa.Table, name: str, month: dt.date) -> np.ndarray:
    col = pc.cast(t.column(name), pa.int32()).to_numpy(zero_copy_only=False).astype(float)
    return col - (month - dt.date(1970, 1, 1)).days


@dataclass
class Frame:
    """One month of the population as arrays (row i = line i of the snapshot)."""

    month: dt.date
    keys: np.ndarray  # integer subscriber key
    X: np.ndarray  # features (float32)
    names: list[str]
    cols: dict[str, np.ndarray]  # named raw columns used by exclusions, segments, value


def subscriber_keys(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Integer keys of ``S0000000123``-style subscriber ids."""
    return pc.cast(pc.utf8_slice_codeunits(ids, 1), pa.int64()).to_numpy(zero_copy_only=False)


def build_frame(snap: pa.Table, month: dt.date, prev: Frame | None) -> Frame:
    """Feature matrix and raw columns of one snapshot (vectorized, no loop over lines)."""
    keys = subscriber_keys(snap.column("subscriber_id"))
    cols = {n: _num(snap, n) for n in (*_NUMERIC, *_FLAGS)}
    cols.update({n: _code(snap, n) for n in _CODES})
    for n in ("is_free_account", "is_public_paid", "is_dedicated_line", "do_not_disturb"):
        cols[n] = _num(snap, n)
    cols["tenure_months"] = -_days_until(snap, "activation_date", month) / 30.44
    mte = _days_until(snap, "contract_end", month) / 30.44
    cols["months_to_contract_end"] = np.where(np.isnan(mte), 99.0, mte)
    age = -_days_until(snap, "handset_first_use_date", month) / 365.25
    cols["handset_age_years"] = age
    cols["in_group"] = (~pc.is_null(snap.column("group_id")).to_numpy(zero_copy_only=False)).astype(
        float
    )
    arpu_prev = np.full(len(keys), np.nan)
    min_prev = np.full(len(keys), np.nan)
    if prev is not None:
        order = np.argsort(prev.keys)
        pos = np.searchsorted(prev.keys, keys, sorter=order)
        pos = np.minimum(pos, len(order) - 1)
        hit = prev.keys[order[pos]] == keys
        arpu_prev[hit] = prev.cols["arpu"][order[pos[hit]]]
        min_prev[hit] = prev.cols["voice_minutes"][order[pos[hit]]]
    cols["arpu_prev"] = arpu_prev
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["arpu_change"] = np.where(arpu_prev > 0, cols["arpu"] / arpu_prev - 1, np.nan)
        cols["minutes_change"] = np.where(
            min_prev > 0, cols["voice_minutes"] / min_prev - 1, np.nan
        )
        cols["arpu_to_fee"] = np.where(
            cols["package_fee"] > 0, cols["arpu"] / cols["package_fee"], np.nan
        )
        cols["arpu_to_annual"] = np.where(
            cols["annual_spend"] > 0, 12 * cols["arpu"] / cols["annual_spend"], np.nan
        )
    names = [
        *_NUMERIC,
        *_FLAGS,
        *_CODES,
        "tenure_months",
        "months_to_contract_end",
        "handset_age_years",
        "in_group",
        "arpu_change",
        "minutes_change",
        "arpu_to_fee",
        "arpu_to_annual",
    ]
    X = np.column_stack([cols[n].astype(np.float32) for n in names])
    return Frame(month=month, keys=keys, X=X, names=names, cols=cols)


def targetable(f: Frame) -> np.ndarray:
    """The SPEC's exclusions, as a mask of lines that may be targeted."""
    c = f.cols
    return (
        (c["status"] == 0)
        & np.isin(c["line_type"], (0, 1))
        & (c["is_free_account"] == 0)
        & (c["is_public_paid"] == 0)
        & (c["is_dedicated_line"] == 0)
        & (c["do_not_disturb"] == 0)
        & ~np.isin(c["credit_list"], (1, 3))
        & (c["tenure_months"] >= 3)
    )


def seed_segments(f: Frame) -> dict[str, np.ndarray]:
    """The seed's A (binding), B (value), C (tendency) and needs dimensions as integer codes.

    A: 1 binding warning (< 3 months to contract end), 2 unbound, 3 bound. B: 1 snapshot
    mid/high-end, 2 ARPU ≥ 80 (broadband 120), 3 ≥ 20 (30), 4 lower. C: 1 ARPU or minutes down
    ≥ 30 %, 3 corporate / group-paid > 50 / converged, 2 the rest. D: 1 current generation
    smart, 2 current non-smart, 3 older generation; E: handset age 1 ≥ 1.5 y, 2 1–1.5 y, 3 < 1 y;
    F (modern preset): 1 ≥ 10 GB, 2 1–10 GB, 3 < 1 GB. G: 1 has a mobile line; H (modern): 1 ≥
    500 M, 2 100–499 M, 3 < 100 M; I: 1 has ITV.
    """
    c = f.cols
    bb = c["line_type"] == 1
    mte = c["months_to_contract_end"]
    a = np.where(c["contract_type"] == 0, 2, np.where(mte < 3, 1, 3))
    arpu = np.where(np.isnan(c["arpu_prev"]), c["arpu"], (c["arpu"] + c["arpu_prev"]) / 2)
    hi, mid = np.where(bb, 120, 80), np.where(bb, 30, 20)
    b = np.where(c["snapshot_midhigh"] > 0, 1, np.where(arpu >= hi, 2, np.where(arpu >= mid, 3, 4)))
    drop = (np.nan_to_num(c["arpu_change"]) <= -0.3) | (np.nan_to_num(c["minutes_change"]) <= -0.3)
    stable = (c["payment_type"] == 1) | (c["group_payment_amount"] > 50) | (c["is_converged"] > 0)
    cc = np.where(drop, 1, np.where(stable, 3, 2))
    gen = c["handset_generation"]
    d = np.where(gen >= 2, np.where(c["handset_smart"] > 0, 1, 2), 3)
    age = np.nan_to_num(c["handset_age_years"])
    e = np.where(age >= 1.5, 1, np.where(age >= 1.0, 2, 3))
    data = c["data_mb"]
    fdim = np.where(data >= 10_000, 1, np.where(data >= 1_000, 2, 3))
    g = np.where(c["has_mobile_line"] > 0, 1, 2)
    speed = np.nan_to_num(c["bb_speed_mbps"])
    h = np.where(speed >= 500, 1, np.where(speed >= 100, 2, 3))
    i = np.where(c["has_iptv"] > 0, 1, 2)
    return {"a": a, "b": b, "c": cc, "d": d, "e": e, "f": fdim, "g": g, "h": h, "i": i}


def seed_actions(f: Frame, seg: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean matrix (lines × ACTIONS) of the actions the seed's matching matrix calls for."""
    a, b, c, d, e, fd = seg["a"], seg["b"], seg["c"], seg["d"], seg["e"], seg["f"]
    mob = f.cols["line_type"] == 0
    bb = f.cols["line_type"] == 1
    m = {k: np.zeros(len(a), bool) for k in ACTIONS}
    young = (d <= 2) & (e >= 2)
    old = ((d <= 2) & (e == 1)) | (d == 3)
    m["prepay_credit"] |= mob & (a == 1) & young & (fd == 3)
    m["prepay_data"] |= mob & (a == 1) & young & (fd <= 2)
    m["handset_upgrade"] |= mob & (a == 1) & old
    unb = mob & (a == 2) & (c <= 2)
    m["prepay_credit"] |= unb & young & (fd == 3)
    m["prepay_data"] |= unb & young & (fd <= 2)
    m["handset_upgrade"] |= unb & old
    m["care_call"] |= unb
    m["care_call"] |= mob & (a == 3) & (c == 1)
    m["package_fit"] |= mob & (a == 3) & (b <= 2)
    ab = bb & (a <= 2)
    m["add_mobile"] |= ab & (seg["g"] == 2)
    m["prepay_speedup"] |= ab & (seg["h"] >= 2)
    m["prepay_annual"] |= ab & (seg["h"] == 1)
    m["itv_addon"] |= ab & (seg["i"] == 2)
    m["care_call"] |= bb & (c == 1)
    return np.column_stack([m[k] for k in ACTIONS])


N_CELLS = 2 * 3 * 3 * 2 * 3 * 3


def segment_cells(f: Frame, seg: dict[str, np.ndarray]) -> np.ndarray:
    """Integer cell per line from the seed's dimensions (line type × A × C × needs × value).

    Mobile: A × C × old handset (E1 or D3) × F × value (B1/B2, B3, B4); broadband: A × C × G ×
    H × I (same code space, 324 cells in all).
    """
    a, c = seg["a"] - 1, seg["c"] - 1
    bval = np.where(seg["b"] <= 2, 0, seg["b"] - 2)
    old = ((seg["e"] == 1) | (seg["d"] == 3)).astype(int)
    mob = (((a * 3 + c) * 2 + old) * 3 + (seg["f"] - 1)) * 3 + bval
    bbc = (((a * 3 + c) * 2 + (seg["g"] - 1)) * 3 + (seg["h"] - 1)) * 3 + (seg["i"] - 1)
    half = N_CELLS // 2
    return np.where(f.cols["line_type"] == 1, half + bbc % half, mob % half)


def _primary_action(matched: np.ndarray) -> np.ndarray:
    """One primary action per line by category priority A > B > C (−1 = none matched)."""
    order = sorted(range(len(ACTIONS)), key=lambda j: ACTION_CONFIG[ACTIONS[j]].category)
    out = np.full(len(matched), -1)
    for j in reversed(order):  # a handful of actions, vectorized inside
        out = np.where(matched[:, j], j, out)
    return out


# ----------------------------------------------------------------------------- options
@dataclass
class Options:
    """Every (action, channel) option and the per-line facts the value of an option needs."""

    action: np.ndarray  # (O,) index into ACTIONS
    channel: np.ndarray  # (O,) index into CHANNEL_KEYS
    contact: np.ndarray  # (O,) contact rate
    contact_cost: np.ndarray  # (O,)
    allowed: np.ndarray  # (n, O) bool
    offer_cost: np.ndarray  # (n, A) offer cost by ARPU tier
    value: np.ndarray  # (n,) customer value (yuan)


def build_options(f: Frame, mask: np.ndarray, clv_months: float) -> Options:
    """Options per line: the action must fit the line type, AMs serve VIP / group lines only."""
    pairs = [
        (j, CHANNEL_KEYS.index(ch))
        for j, a in enumerate(ACTIONS)
        for ch in ACTION_CONFIG[a].channels
    ]
    act = np.array([p[0] for p in pairs])
    chan = np.array([p[1] for p in pairs])
    mob = f.cols["line_type"] == 0
    bb = f.cols["line_type"] == 1
    fits = np.column_stack(
        [(mob & (a in MOBILE_ACTIONS)) | (bb & (a in BROADBAND_ACTIONS)) for a in ACTIONS]
    )
    vip_or_group = (f.cols["vip_level"] > 0) | (f.cols["in_group"] > 0)
    am = CHANNEL_KEYS.index("account_manager")
    allowed = fits[:, act] & mask[:, None]
    allowed &= (chan != am)[None, :] | vip_or_group[:, None]
    arpu3 = np.where(
        np.isnan(f.cols["arpu_prev"]), f.cols["arpu"], (f.cols["arpu"] + f.cols["arpu_prev"]) / 2
    )
    offer = np.zeros((len(arpu3), len(ACTIONS)))
    for j, a in enumerate(ACTIONS):
        cost = np.full(len(arpu3), ACTION_CONFIG[a].cost_tiers[-1][1])
        for floor, c in reversed(ACTION_CONFIG[a].cost_tiers):
            cost = np.where(arpu3 >= floor, c, cost)
        offer[:, j] = cost
    return Options(
        action=act,
        channel=chan,
        contact=np.array([CHANNELS[CHANNEL_KEYS[c]][0] for c in chan]),
        contact_cost=np.array([CHANNELS[CHANNEL_KEYS[c]][1] for c in chan]),
        allowed=allowed,
        offer_cost=offer,
        value=clv_months * np.nan_to_num(arpu3),
    )


def option_economics(
    opts: Options, p_churn: np.ndarray, accept: np.ndarray, effect: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Benefit and cost matrices (n × O) from churn prob (n,), acceptance and effect (n × A).

    ``effect`` is the relative churn reduction per contacted customer (acceptance × the
    reduction an accepted offer brings). benefit = contact × effect × p_churn × value;
    cost = contact cost + contact × accept × offer cost. Disallowed options get benefit −inf.
    """
    a, ch = opts.action, opts.contact
    uplift = effect[:, a] * (p_churn * opts.value)[:, None] * ch[None, :]
    cost = opts.contact_cost[None, :] + ch[None, :] * accept[:, a] * opts.offer_cost[:, a]
    benefit = np.where(opts.allowed, uplift, -np.inf)
    return benefit.astype(np.float64), cost.astype(np.float64)


def knapsack(benefit: np.ndarray, cost: np.ndarray, budget: float, iters: int = 50) -> np.ndarray:
    """Choose at most one option per row maximising Σ(benefit − cost) with Σ cost ≤ budget.

    Lagrangian relaxation: for a shadow price λ every row takes its option with the highest
    ``benefit − (1 + λ)·cost`` when positive; total cost falls as λ rises, so λ is found by
    bisection. The result is optimal for the LP relaxation (within one row of the integer
    optimum).

    Returns:
        Chosen option per row, −1 for none.

    Example:
        >>> b = np.array([[10.0, 14.0], [6.0, -np.inf], [2.0, 3.0]])
        >>> c = np.array([[2.0, 5.0], [2.0, 1.0], [1.0, 1.0]])
        >>> knapsack(b, c, budget=4.0).tolist()
        [0, 0, -1]
    """
    out = np.full(len(benefit), -1)
    if benefit.shape[1] == 0:
        return out
    # rows without any option worth its cost are never chosen, whatever the shadow price
    live = np.flatnonzero((benefit - cost).max(axis=1) > 0)
    if len(live) == 0:
        return out
    out[live] = _knapsack_rows(benefit[live], cost[live], budget, iters)
    return out


def _knapsack_rows(benefit: np.ndarray, cost: np.ndarray, budget: float, iters: int) -> np.ndarray:
    rows = np.arange(len(benefit))

    def pick(lam: float) -> tuple[np.ndarray, float]:
        score = benefit - (1.0 + lam) * cost
        j = np.argmax(score, axis=1)
        best = score[rows, j]
        choice = np.where(best > 0, j, -1)
        spent = float(cost[rows, np.maximum(choice, 0)][choice >= 0].sum())
        return choice, spent

    choice, spent = pick(0.0)
    if spent <= budget:
        return choice
    lo, hi = 0.0, 1.0
    while pick(hi)[1] > budget and hi < 1e9:
        lo, hi = hi, hi * 4
    for _ in range(iters):
        mid = (lo + hi) / 2
        if pick(mid)[1] > budget:
            lo = mid
        else:
            hi = mid
    choice, spent = pick(hi)
    # fill what the shadow price left unspent: best remaining rows by net value per yuan
    free = np.flatnonzero(choice < 0)
    net = benefit[free] - cost[free]
    j = np.argmax(net, axis=1)
    gain = net[np.arange(len(free)), j]
    c = cost[free, j]
    ok = gain > 0
    free, j, gain, c = free[ok], j[ok], gain[ok], c[ok]
    order = np.argsort(-gain / np.maximum(c, 1e-12))
    fits = np.cumsum(c[order]) <= budget - spent
    choice[free[order[fits]]] = j[order[fits]]
    return choice


# --------------------------------------------------------------------------------- models
def _lgb_params(seed: int, threads: int) -> dict:
    return {
        "objective": "binary",
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_data_in_leaf": 200,
        "max_bin": 63,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "seed": seed,
        "num_threads": threads,
        "verbose": -1,
    }


def train_churn_model(
    X: np.ndarray, churned: np.ndarray, seed: int, threads: int, max_rows: int = 250_000
) -> lgb.Booster:
    """LightGBM churn model (the simulator's stand-in for ``weixi churn train``).

    Keeps every churner and a random sample of stayers (weighted by 1 / sampling rate, so the
    probabilities stay calibrated) when there are more than ``max_rows`` rows.
    """
    y = churned.astype(np.float64)
    w = np.ones(len(y))
    n_pos = int(y.sum())
    if len(y) > max_rows and n_pos < max_rows:
        rate = (max_rows - n_pos) / (len(y) - n_pos)
        keep = (y > 0) | (np.random.default_rng(seed).random(len(y)) < rate)
        X, y, w = X[keep], y[keep], np.where(y[keep] > 0, 1.0, 1.0 / rate)
    data = lgb.Dataset(X, label=y, weight=w, params={"max_bin": 63}, free_raw_data=True)
    return lgb.train(_lgb_params(seed, threads), data, num_boost_round=100)


# ------------------------------------------------------------------------------- the truth
def truth_matrices(
    op: SyntheticOperator, keys: np.ndarray, systematic: bool = False
) -> tuple[np.ndarray, ...]:
    """True p_churn (n,), p_accept and churn_reduction (n × ACTIONS) aligned to ``keys``.

    ``systematic``: the response functions without each customer's own taste draws
    (:meth:`SyntheticOperator.hidden_responses`).
    """
    p_tab = op.true_churn_prob()
    order = np.argsort(keys)

    def rows_of(ids) -> tuple[np.ndarray, np.ndarray]:
        k = subscriber_keys(ids)
        pos = np.minimum(np.searchsorted(keys, k, sorter=order), len(keys) - 1)
        hit = keys[order[pos]] == k
        return order[pos], hit

    p = np.zeros(len(keys))
    r, hit = rows_of(p_tab.column("subscriber_id"))
    p[r[hit]] = np.nan_to_num(p_tab.column("p_churn").to_numpy(zero_copy_only=False))[hit]
    acc = np.zeros((len(keys), len(ACTIONS)))
    red = np.zeros((len(keys), len(ACTIONS)))
    h = op.hidden_responses(systematic=systematic)
    r, hit = rows_of(h.column("subscriber_id"))
    a_idx = pc.index_in(h.column("action"), value_set=pa.array(ACTIONS)).to_numpy(
        zero_copy_only=False
    )
    acc[r[hit], a_idx[hit]] = h.column("p_accept").to_numpy()[hit]
    red[r[hit], a_idx[hit]] = h.column("churn_reduction").to_numpy()[hit]
    return p, acc, red


# ----------------------------------------------------------------------------- the loop
@dataclass
class _History:
    """Accumulated campaign data for learning (features of month t, outcome in t+1)."""

    X_untreated: list[np.ndarray] = field(default_factory=list)
    y_untreated: list[np.ndarray] = field(default_factory=list)
    X_treated: list[np.ndarray] = field(default_factory=list)
    a_treated: list[np.ndarray] = field(default_factory=list)
    contacted: list[np.ndarray] = field(default_factory=list)
    accepted: list[np.ndarray] = field(default_factory=list)
    y_treated: list[np.ndarray] = field(default_factory=list)
    X_control: list[np.ndarray] = field(default_factory=list)
    cells: list[np.ndarray] = field(default_factory=list)
    y_control: list[np.ndarray] = field(default_factory=list)


def _stayed_next(keys: np.ndarray, snap_next: pa.Table) -> np.ndarray:
    """1 where the line is in next month's snapshot and not cancelled."""
    k = subscriber_keys(snap_next.column("subscriber_id"))
    live = pc.not_equal(snap_next.column("status"), "cancelled").to_numpy(zero_copy_only=False)
    return np.isin(keys, k[live]).astype(np.int8)


def simulate(
    params: SimParams, *, on_month: Callable[[MonthResult], None] | None = None
) -> SimResult:
    """Run ``params.months`` campaign months of ``params.policy`` (see the module docstring).

    Args:
        params: :class:`SimParams`.
        on_month: called with each :class:`MonthResult` as soon as it is known.

    Returns:
        :class:`SimResult`.
    """
    if params.policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {params.policy!r}")
    rng = np.random.default_rng(params.seed + 7919)
    op = SyntheticOperator(params.subscribers, seed=params.seed, start_month=params.start_month)
    budget = params.monthly_budget()
    hist = _History()
    prev: Frame | None = None
    frame = build_frame(op.snapshot(), op.month, None)
    churn_model: lgb.Booster | None = None
    uplift_model: ResponseUpliftModel | None = None
    results: list[MonthResult] = []
    explore = params.explore_first

    for step in range(params.warmup + params.months):
        campaign = step >= params.warmup
        live = frame.cols["status"] != 4
        treated_rows = np.zeros(0, int)
        if campaign:
            mask = targetable(frame) & live
            opts = build_options(frame, mask, params.clv_months)
            p_true, acc_true, red_true = truth_matrices(op, frame.keys)
            b_true, c_true = option_economics(opts, p_true, acc_true, acc_true * red_true)
            oracle = knapsack(b_true, c_true, budget)
            seg = seed_segments(frame)
            matched = seed_actions(frame, seg) & mask[:, None]
            plan_budget = budget / (1.0 - params.holdout)
            if params.policy == "rules":
                choice = _rules_plan(frame, seg, matched, opts, plan_budget)
            else:
                assert churn_model is not None
                p_hat = churn_model.predict(frame.X, num_threads=params.num_threads)
                if params.policy == "uplift" and uplift_model is not None:
                    acc_hat, eff_hat = uplift_model.predict(
                        frame.X, p_hat, rows=mask, cells=segment_cells(frame, seg)
                    )
                    p_cal = np.clip(uplift_model.calibration * p_hat, 0.0, 1.0)
                    b_hat, c_hat = option_economics(opts, p_cal, acc_hat, eff_hat)
                else:
                    acc_cfg, eff_cfg = _configured(len(frame.keys))
                    b_hat, c_hat = option_economics(opts, p_hat, acc_cfg, eff_cfg)
                    if params.policy == "model" or uplift_model is None:
                        b_hat = np.where(matched[:, opts.action], b_hat, -np.inf)
                choice = knapsack(b_hat, c_hat, plan_budget)
                if params.diagnose:
                    refs = references(
                        op,
                        frame,
                        opts,
                        budget,
                        (p_true, acc_true, red_true),
                        b_true,
                        c_true,
                        oracle,
                        p_hat,
                        b_hat,
                        c_hat,
                        accept=acc_hat if params.policy == "uplift" and uplift_model else None,
                    )
                if params.policy == "uplift":
                    choice = _explore(choice, opts, b_hat, c_hat, plan_budget, rng, explore)
                    explore = max(params.explore_min, explore * params.explore_decay)
            planned = np.flatnonzero(choice >= 0)
            control = rng.random(len(planned)) < params.holdout
            treated_rows = planned[~control]
            control_rows = planned[control]
            o = choice[treated_rows]
            a_t = opts.action[o]
            contacted = rng.random(len(o)) < opts.contact[o]
            accepted = contacted & (rng.random(len(o)) < acc_true[treated_rows, a_t])
            rows_all = np.arange(len(frame.keys))
            if params.diagnose and params.policy == "rules":
                truth = (p_true, acc_true, red_true)
                refs = references(op, frame, opts, budget, truth, b_true, c_true, oracle)

            value, cost = _net(b_true, c_true, treated_rows, o)
            o_rows = rows_all[oracle >= 0]
            oracle_value, oracle_cost = _net(b_true, c_true, o_rows, oracle[o_rows])
            o_pl = choice[planned]
            true_dp = (
                opts.contact[o_pl]
                * acc_true[planned, opts.action[o_pl]]
                * red_true[planned, opts.action[o_pl]]
                * p_true[planned]
            )
            treatments = pa.table(
                {
                    "subscriber_id": pc.binary_join_element_wise(
                        "S",
                        pc.utf8_lpad(
                            pc.cast(pa.array(frame.keys[treated_rows]), pa.string()), 10, "0"
                        ),
                        "",
                    ),
                    "action": pa.array(np.array(ACTIONS)[a_t]),
                    "accepted": pa.array(accepted),
                }
            )
            op.advance(treatments)
        else:
            op.advance()
        snap_next = op.snapshot()
        stayed = _stayed_next(frame.keys, snap_next)
        # learning data: untreated lines (everyone not treated this month) and treated lines
        untreated = live.copy()
        untreated[treated_rows] = False
        hist.X_untreated.append(frame.X[untreated])
        hist.y_untreated.append(1 - stayed[untreated])
        if campaign:
            hist.X_treated.append(frame.X[treated_rows])
            hist.a_treated.append(a_t)
            hist.cells.append(segment_cells(frame, seg)[treated_rows])
            hist.contacted.append(contacted)
            hist.accepted.append(accepted)
            hist.y_treated.append(1 - stayed[treated_rows])
            hist.X_control.append(frame.X[control_rows])
            hist.y_control.append(1 - stayed[control_rows])
            s_t = stayed[treated_rows]
            s_c = stayed[control_rows]
            iv = rate_diff_ci(s_t.sum(), len(s_t), s_c.sum(), len(s_c))
            counts = np.bincount(a_t, minlength=len(ACTIONS))
            res = MonthResult(
                month=format_month(frame.month),
                value=round(value, 2),
                oracle_value=round(oracle_value, 2),
                cost=round(cost, 2),
                oracle_cost=round(oracle_cost, 2),
                budget=budget,
                n_planned=len(planned),
                n_treated=len(treated_rows),
                n_control=len(control_rows),
                measured_lift=float(iv.estimate),
                measured_lift_ci=[float(iv.low), float(iv.high)],
                true_lift=float(true_dp.mean()) if len(true_dp) else 0.0,
                value_share=round(value / oracle_value, 4) if oracle_value > 0 else float("nan"),
                actions={ACTIONS[j]: int(c) for j, c in enumerate(counts) if c},
                references=refs if params.diagnose else {},
            )
            results.append(res)
            if on_month:
                on_month(res)
        # adjust: retrain on everything seen so far
        if step + 1 < params.warmup + params.months and params.policy != "rules":
            churn_model = train_churn_model(
                np.concatenate(hist.X_untreated),
                np.concatenate(hist.y_untreated),
                params.seed,
                params.num_threads,
                params.max_train_rows,
            )
            if params.policy == "uplift" and hist.X_treated:
                Xt = np.concatenate(hist.X_treated)
                uplift_model = fit_response_uplift(
                    Xt,
                    np.concatenate(hist.a_treated),
                    np.concatenate(hist.contacted),
                    np.concatenate(hist.accepted),
                    np.concatenate(hist.y_treated),
                    base_p=churn_model.predict(Xt, num_threads=params.num_threads),
                    n_actions=len(ACTIONS),
                    prior_effect=_configured(1)[1][0],
                    control_p=churn_model.predict(
                        np.concatenate(hist.X_control), num_threads=params.num_threads
                    ),
                    control_churned=np.concatenate(hist.y_control),
                    seed=params.seed,
                    threads=params.num_threads,
                    min_events=params.uplift_min_events,
                    prior_events=params.uplift_prior_events,
                    cells=np.concatenate(hist.cells) if params.uplift_cells else None,
                    n_cells=N_CELLS,
                )
        prev = frame
        frame = build_frame(snap_next, op.month, prev)
    return SimResult(params=params.model_dump(), months=results)


REFERENCE_LABELS = {
    "true_churn+systematic_response": "true churn, response functions",
    "true_churn+configured_response": "true churn, configured response",
    "model_churn+true_response": "churn model, true responses",
    "model_churn+systematic_response": "churn model, response functions",
    "model_churn+configured_response": "churn model, configured response",
    "policy_estimates": "the policy's own estimates",
    "model_churn+learned_accept+configured_reduction": (
        "churn model, learned acceptance, configured reduction"
    ),
    "model_churn+true_accept+configured_reduction": (
        "churn model, true acceptance, configured reduction"
    ),
}


def references(
    op: SyntheticOperator,
    frame: Frame,
    opts: Options,
    budget: float,
    truth: tuple[np.ndarray, np.ndarray, np.ndarray],
    b_true: np.ndarray,
    c_true: np.ndarray,
    oracle: np.ndarray,
    p_hat: np.ndarray | None = None,
    b_hat: np.ndarray | None = None,
    c_hat: np.ndarray | None = None,
    accept: np.ndarray | None = None,
) -> dict[str, float]:
    """Share of the oracle's net value reached by reference plans that know part of the truth.

    Each plan is the same knapsack under the same ``budget`` (no holdout, no exploration),
    valued with the true economics. ``true_churn`` / ``model_churn`` is the operator's true
    churn probability or the policy's churn model; ``true_response`` the hidden per-customer
    responses (what the oracle uses), ``systematic_response`` the response functions without
    each customer's own taste draws (the most any model of customer attributes could learn),
    ``configured_response`` the strategy library's take rate × uplift. ``policy_estimates`` is
    the policy's own plan before holdout and exploration. The gaps between them locate the
    loss: e.g. ``model_churn+systematic_response`` bounds any learner that uses this churn model.
    """
    p_true, acc_true, red_true = truth  # the month's truth_matrices(), already computed
    _, acc_sys, red_sys = truth_matrices(op, frame.keys, systematic=True)
    acc_cfg, eff_cfg = _configured(len(frame.keys))
    r0 = np.flatnonzero(oracle >= 0)
    v0 = float((b_true[r0, oracle[r0]] - c_true[r0, oracle[r0]]).sum())

    def share(b: np.ndarray, c: np.ndarray) -> float:
        ch = knapsack(b, c, budget)
        r = np.flatnonzero(ch >= 0)
        v = float((b_true[r, ch[r]] - c_true[r, ch[r]]).sum())
        return round(v / v0, 4) if v0 > 0 else float("nan")

    out = {
        "true_churn+systematic_response": share(
            *option_economics(opts, p_true, acc_sys, acc_sys * red_sys)
        ),
        "true_churn+configured_response": share(*option_economics(opts, p_true, acc_cfg, eff_cfg)),
    }
    if p_hat is not None:
        out["model_churn+true_response"] = share(
            *option_economics(opts, p_hat, acc_true, acc_true * red_true)
        )
        out["model_churn+systematic_response"] = share(
            *option_economics(opts, p_hat, acc_sys, acc_sys * red_sys)
        )
        out["model_churn+configured_response"] = share(
            *option_economics(opts, p_hat, acc_cfg, eff_cfg)
        )
    if b_hat is not None and c_hat is not None:
        out["policy_estimates"] = share(b_hat, c_hat)
    if p_hat is not None and accept is not None:
        r_cfg = np.array([ACTION_CONFIG[a].uplift for a in ACTIONS])[None, :]
        out["model_churn+learned_accept+configured_reduction"] = share(
            *option_economics(opts, p_hat, accept, accept * r_cfg)
        )
        out["model_churn+true_accept+configured_reduction"] = share(
            *option_economics(opts, p_hat, acc_true, acc_true * r_cfg)
        )
    return out


def _net(benefit, cost, rows: np.ndarray, opt: np.ndarray) -> tuple[float, float]:
    """Σ(benefit − cost) and Σ cost of the chosen options of ``rows``."""
    b = benefit[rows, opt]
    c = cost[rows, opt]
    return float((b - c).sum()), float(c.sum())


def _configured(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Configured take rate and effect per contact (take rate × uplift) as n × A matrices."""
    acc = np.array([ACTION_CONFIG[a].take_rate for a in ACTIONS])
    eff = acc * np.array([ACTION_CONFIG[a].uplift for a in ACTIONS])
    return np.broadcast_to(acc, (n, len(ACTIONS))), np.broadcast_to(eff, (n, len(ACTIONS)))


def _rules_plan(
    f: Frame, seg: dict[str, np.ndarray], matched: np.ndarray, opts: Options, budget: float
) -> np.ndarray:
    """Seed matching + priority order, no model: work the list in priority order to budget."""
    primary = _primary_action(matched)
    vip_or_group = (f.cols["vip_level"] > 0) | (f.cols["in_group"] > 0)
    am, cc = CHANNEL_KEYS.index("account_manager"), CHANNEL_KEYS.index("call_center")
    chan = np.where(vip_or_group, am, cc)
    # option index of (primary action, channel); fall back to call center if AM not offered
    lookup = {
        (int(a), int(c)): i for i, (a, c) in enumerate(zip(opts.action, opts.channel, strict=True))
    }
    table = np.full((len(ACTIONS), len(CHANNEL_KEYS)), -1)
    for (a, c), i in lookup.items():
        table[a, c] = i
    opt = np.where(primary >= 0, table[np.maximum(primary, 0), chan], -1)
    opt = np.where((opt < 0) & (primary >= 0), table[np.maximum(primary, 0), cc], opt)
    rows = np.flatnonzero(opt >= 0)
    a, b, c = seg["a"][rows], seg["b"][rows], seg["c"][rows]
    group = np.where(a == 1, 0, np.where((b <= 2) & (c <= 2), 1, np.where(c == 1, 2, 3)))
    order = np.lexsort((-f.cols["arpu"][rows], group))
    rows = rows[order]
    o = opt[rows]
    acc_cfg = np.array([ACTION_CONFIG[x].take_rate for x in ACTIONS])[opts.action[o]]
    cost = opts.contact_cost[o] + opts.contact[o] * acc_cfg * opts.offer_cost[rows, opts.action[o]]
    within = np.cumsum(cost) <= budget
    choice = np.full(len(f.keys), -1)
    choice[rows[within]] = o[within]
    return choice


def _explore(
    choice: np.ndarray,
    opts: Options,
    benefit: np.ndarray,
    cost: np.ndarray,
    budget: float,
    rng: np.random.Generator,
    share: float,
) -> np.ndarray:
    """Spend ``share`` of the budget on random actions for random planned lines, the rest on the
    plan's best lines (by estimated net value per yuan), so every action keeps being tried at a
    bounded cost. The random action keeps the planned channel when it serves it, else uses the
    call center."""
    planned = rng.permutation(np.flatnonzero(choice >= 0))
    if len(planned) == 0 or share <= 0:
        return choice
    table = np.full((len(ACTIONS), len(CHANNEL_KEYS)), -1)
    table[opts.action, opts.channel] = np.arange(len(opts.action))
    cc = CHANNEL_KEYS.index("call_center")
    good = opts.allowed[planned]
    fits = np.zeros((len(planned), len(ACTIONS)), bool)
    for j in range(len(ACTIONS)):  # ten actions, vectorized inside
        fits[:, j] = good[:, table[j][table[j] >= 0]].any(axis=1)
    act = np.argmax(np.where(fits, rng.random(fits.shape), -1.0), axis=1)
    rows = np.arange(len(planned))
    o = table[act, opts.channel[choice[planned]]]
    ok = (o >= 0) & good[rows, np.maximum(o, 0)]
    o = np.where(ok, o, table[act, cc])
    ok = (o >= 0) & good[rows, np.maximum(o, 0)]
    c_explore = np.where(ok, cost[planned, np.maximum(o, 0)], np.inf)
    take = ok & (np.cumsum(np.where(ok, c_explore, 0.0)) <= share * budget)
    out = np.full(len(choice), -1)
    out[planned[take]] = o[take]
    rest = planned[~take]
    c_rest = cost[rest, choice[rest]]
    ratio = (benefit[rest, choice[rest]] - c_rest) / np.maximum(c_rest, 1e-9)
    order = np.argsort(-ratio)
    room = budget - c_explore[take].sum()
    keep = np.cumsum(c_rest[order]) <= room
    out[rest[order[keep]]] = choice[rest[order[keep]]]
    return out
