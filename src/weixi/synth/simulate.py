"""The closed-loop simulator: the synthetic operator month by month through the real monthly job.

Nothing here re-implements a step of the product. Each month, in a temporary weixi home:

1. the synthetic operator writes its monthly export (:func:`weixi.synth.raw.write_raw`) and the
   validated import loads it (:func:`weixi.ingest.service.import_month`);
2. the monthly job runs (:func:`weixi.flows.run_month`): evaluate last month against its control,
   adjust, segment, train the churn challenger and score, learn uplift, plan with HiGHS under the
   contact policy and the randomized control, write lists and tasks;
3. the simulated dialer (:mod:`weixi.synth.dialer`) works the real tasks and records their
   outcomes in bulk from the operator's hidden responses; the accepted offers change next month's
   churn (:meth:`SyntheticOperator.advance`).

A **policy** is a campaign configuration (:func:`policy_campaign`), nothing more:

- ``rules`` — the seed's rule of thumb: seed matching, category priority, priority groups worked
  in order (by ARPU inside a group) until capacity or budget ends; no value estimate decides;
- ``model`` — seed matching valued with the churn model × the library's configured effects; the
  allocation maximizes expected net value;
- ``uplift`` — every action whose offer fits is a candidate, valued with the learned uplift; the
  action with the highest value is chosen (a plan choosing by value takes no segment Thompson
  draw by default: an action without evidence is tried through its configured effect).

Each campaign month is also planned twice more with the *product's own* planner in preview (same
budget, capacity and contact policy, no control group, no global holdout, no exploration), on a
scratch store where the hidden truth replaces the estimates:

- the **oracle** knows each line's true churn probability and its own acceptance and churn
  reduction for every action (taste draws included), and the true contact rates;
- the **attainable reference** uses the product's churn scores and the true response *functions*
  with the customer's own taste integrated out — the most a model of the customer's attributes
  could learn.

Every plan — the executed one and both references — is valued the same way with the truth: Σ over
treated customers of reach × P(accept) × churn reduction × P(churn) × CLV − (contact cost + reach ×
P(accept) × offer cost), CLV from the library's value model. The randomized evaluation of month t
(run by month t+1's job) gives ``measured_lift`` and ``lift_ci``; ``true_lift`` is the true
difference in expected churn between the control and the treated arm of the month's plan, which
is what that comparison estimates (the control is persistent, so it includes the lasting effect
of earlier months' accepted offers).

Example:
    >>> res = simulate(SimParams(subscribers=3000, months=1, policy="rules", warmup=1))
    >>> m = res.as_dict()["months"][0]
    >>> m["month"], {"value", "oracle_value", "attainable_value", "lift_ci"} <= set(m)
    ('2026-02', True)
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field, field_validator

from weixi.errors import ConfigError
from weixi.store.months import format_month, parse_month
from weixi.strategy.schemas import StrategyLibrary, sql_literal

POLICIES = ("rules", "model", "uplift")
REFERENCE_LABELS = {
    "oracle_resolution_1.15": "oracle at the default cell resolution (values within 15 %)",
    "action_mean_share": "one churn reduction per action, of the attainable value",
    "level_mean_share": "one churn reduction per action and level of its learning "
    "dimensions (learning.reduction_by, else the library's learn_by), of the attainable value",
}


class SimParams(BaseModel):
    """Settings of one simulation run."""

    subscribers: int = Field(20_000, ge=500)
    months: int = Field(3, ge=1, le=36, description="campaign months")
    policy: str = Field("uplift", pattern="^(rules|model|uplift)$")
    seed: int = 0
    budget: float | None = Field(None, gt=0, description="yuan per month; default 0.15 × lines")
    warmup: int = Field(2, ge=1, le=12, description="months without a campaign (model labels)")
    start_month: str = "2026-01"
    diagnose: bool = Field(
        False,
        description="also plan the oracle at the default resolution and the ceilings of one "
        "churn reduction per action and per action and level",
    )
    resolution: float = Field(
        1.02, gt=1, le=3, description="value_bucket_ratio of the reference plans"
    )
    home: str | None = Field(
        None, description="the home folder of the run's stores (default: a temporary one)"
    )
    reduction_by: str | None = Field(
        None,
        description="the uplift policy's learning.reduction_by: library (each action's "
        "learn_by), a segment dimension, or none (default: one reduction per action)",
    )

    @field_validator("reduction_by")
    @classmethod
    def _levels(cls, v: str | None) -> str | None:
        from weixi.dispatch.schemas import Learning

        Learning(reduction_by=v)  # a segment dimension or "library"
        return v

    def monthly_budget(self) -> float:
        """The treated spend each month (the plans are sized so controls do not use it)."""
        return float(self.budget if self.budget is not None else 0.15 * self.subscribers)


@dataclass
class MonthResult:
    """One simulated campaign month (measured figures arrive with the next month's job)."""

    month: str
    value: float  # true expected net value of the executed plan's treated customers (yuan)
    oracle_value: float
    attainable_value: float
    cost: float  # true expected cost of the executed plan's treated customers
    oracle_cost: float
    attainable_cost: float
    budget: float
    n_treated: int
    n_control: int
    control_share: float
    measured_lift: float | None = None  # retention(treated) − retention(control)
    lift_ci: list[float | None] = field(default_factory=list)
    true_lift: float = 0.0
    value_share: float | None = None  # value / oracle_value
    attainable_share: float | None = None  # value / attainable_value
    actions: dict[str, int] = field(default_factory=dict)
    uplift_sources: dict[str, int] = field(default_factory=dict)
    references: dict[str, float] = field(default_factory=dict)
    # with ``diagnose``: treated customers per channel/action of the policy and the references
    mix: dict[str, dict[str, int]] = field(default_factory=dict)
    # with ``diagnose``: per action of the executed plan's treated customers, what the plan
    # believed (churn score, take rate, churn reduction, reach, value) next to the truth
    # (taste integrated out, as the attainable reference sees it); see :func:`belief_vs_truth`
    belief: dict[str, dict[str, float]] = field(default_factory=dict)
    # with ``diagnose``, from the second campaign month: per action, how far the evidence the
    # learner had (the treated of the months evaluated so far) could tell its learning levels
    # apart — the truth's spread between levels against the standard error that even a perfect
    # counterfactual leaves; see :func:`learnability`
    learnability: dict[str, dict[str, float]] = field(default_factory=dict)
    # what the monthly job learned: churn retrain reasons (empty: the champion scored on) and
    # the pooled scale of the configured reductions (None before learning starts)
    learning: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class SimResult:
    """All campaign months of one run."""

    params: dict
    months: list[MonthResult]
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-ready dict: ``{"params", "seconds", "months": [{"month", "value", …}]}``."""
        return {
            "params": self.params,
            "seconds": self.seconds,
            "months": [asdict(m) for m in self.months],
        }


def policy_campaign(
    policy: str, month: dt.date, budget: float | None, reduction_by: str | None = None
):
    """The monthly campaign a policy plans with: the default campaign plus the policy's choices
    (``reduction_by``: the uplift policy's ``learning.reduction_by``)."""
    from weixi.dispatch.schemas import Learning, default_campaign

    if policy not in POLICIES:
        raise ConfigError(
            "policy must be one of {policies}, got {policy!r}",
            policies=", ".join(POLICIES),
            policy=policy,
        )
    spec = default_campaign(month)
    update: dict[str, Any] = {"budget": budget, "echannel_tasks": True}
    if policy == "rules":
        # the seed's rule of thumb: no value estimate filters or orders anyone
        update |= {
            "solver": "priority",
            "min_value": -1e12,
            "learning": Learning(enabled=False),
        }
    elif policy == "model":
        update |= {"learning": Learning(enabled=False)}
    else:
        update |= {"match_scope": "all", "action_choice": "value"}
        if reduction_by is not None:
            learning = Learning(**(spec.learning.model_dump() | {"reduction_by": reduction_by}))
            update |= {"learning": learning}
    return spec.model_copy(update=update)


@contextmanager
def temporary_home(path: Path) -> Iterator[Path]:
    """Point weixi's settings at ``path`` (embedded stores) for the block, then restore them."""
    from weixi import config
    from weixi.store import db

    keys = ("WEIXI_HOME", "WEIXI_DATABASE_URL", "WEIXI_ANALYTICS_PATH")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["WEIXI_HOME"] = str(path)
    os.environ.pop("WEIXI_DATABASE_URL", None)
    os.environ.pop("WEIXI_ANALYTICS_PATH", None)
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        yield path
    finally:
        db.get_engine().dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.get_settings.cache_clear()
        db.get_engine.cache_clear()


# ------------------------------------------------------------------------- valuing with truth
def _truth_tables(
    con: duckdb.DuckDBPyConnection,
    lib: StrategyLibrary,
    op,
    *,
    systematic: bool = False,
    action_mean: bool = False,
    level: dict[str, list[str]] | None = None,
) -> None:
    """Register the month's hidden truth and the library's costs as temp tables of ``con``.

    ``action_mean``: every line's churn reduction is its action's mean over the live lines —
    the truth a learner of one reduction per action could at best know; with ``level`` (each
    action's columns of ``con``'s ``segments``), its mean over the action's lines of the same
    level.
    """
    from weixi.evaluate.acceptance import level_sql
    from weixi.synth.dialer import CONTACT_RATES

    con.register("_sim_p_df", op.true_churn_prob())
    con.register("_sim_r_df", op.hidden_responses(systematic=systematic))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _sim_p AS SELECT subscriber_id, p_churn FROM _sim_p_df "
        "WHERE p_churn IS NOT NULL;"
        "CREATE OR REPLACE TEMP TABLE _sim_r AS SELECT subscriber_id, action, p_accept, "
        "churn_reduction FROM _sim_r_df"
    )
    if action_mean:
        by, join = ("r.action", "")
        if level:
            by = f"r.action, {level_sql(level, 'r.action', 'g')}"
            join = "LEFT JOIN segments g ON g.subscriber_id = r.subscriber_id"
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _sim_r AS SELECT r.subscriber_id, r.action, "
            f"r.p_accept, avg(r.churn_reduction) OVER (PARTITION BY {by}) AS churn_reduction "
            f"FROM _sim_r r {join}"
        )
    con.unregister("_sim_p_df")
    con.unregister("_sim_r_df")
    chans = ", ".join(
        f"({sql_literal(c.key)}, {CONTACT_RATES.get(c.key, 0.5)!r}::DOUBLE, "
        f"{c.contact_cost!r}::DOUBLE)"
        for c in lib.channels
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _sim_ch AS SELECT * FROM (VALUES {chans}) "
        "t(channel, reach, contact_cost)"
    )
    offers = ", ".join(
        f"({sql_literal(o.key)}, {o.unit_cost!r}::DOUBLE)" for _e, _p, o in lib.offers()
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _sim_offer AS SELECT * FROM (VALUES {offers}) "
        "t(offer_id, unit_cost)"
    )


def _value(
    con: duckdb.DuckDBPyConnection, plan: str, month: dt.date, lib: StrategyLibrary
) -> dict[str, float]:
    """True expected value of ``plan`` (subscriber_id, action, offer_id, channel, is_control).

    ``value`` and ``cost`` over the treated rows; ``true_lift``: the control arm's mean true
    churn probability minus the treated arm's expected one after this month's work — what the
    randomized comparison of the two arms estimates. The control is persistent (one salt every
    month), so earlier months' accepted offers (new contracts, handsets) are part of it.
    """
    v = lib.value
    row = con.execute(
        f"""WITH x AS (
            SELECT a.is_control,
                   c.reach * COALESCE(r.p_accept, 0) AS take,
                   COALESCE(r.churn_reduction, 0) * COALESCE(p.p_churn, 0) AS drop,
                   COALESCE(s.arpu_3m, 0) * {v.margin!r} * {v.clv_months!r} AS clv,
                   COALESCE(p.p_churn, 0) AS p_true,
                   c.contact_cost, COALESCE(o.unit_cost, 0) AS unit_cost
            FROM {plan} a
            JOIN _sim_ch c USING (channel)
            LEFT JOIN _sim_r r USING (subscriber_id, action)
            LEFT JOIN _sim_p p USING (subscriber_id)
            LEFT JOIN _sim_offer o USING (offer_id)
            LEFT JOIN segments s ON s.month = {sql_literal(month)}
                 AND s.subscriber_id = a.subscriber_id
        )
        SELECT COALESCE(sum(take * drop * clv - contact_cost - take * unit_cost)
                        FILTER (WHERE NOT is_control), 0),
               COALESCE(sum(contact_cost + take * unit_cost) FILTER (WHERE NOT is_control), 0),
               COALESCE(avg(p_true) FILTER (WHERE is_control)
                        - avg(p_true - take * drop) FILTER (WHERE NOT is_control), 0),
               count(*) FILTER (WHERE NOT is_control), count(*) FILTER (WHERE is_control)
        FROM x"""
    ).fetchall()[0]
    return {
        "value": float(row[0]),
        "cost": float(row[1]),
        "true_lift": float(row[2]),
        "treated": int(row[3]),
        "control": int(row[4]),
    }


# ------------------------------------------------------------------------------ references
def reference_plan(
    *,
    con: duckdb.DuckDBPyConnection,
    session,
    month: dt.date,
    spec,
    lib: StrategyLibrary,
    op,
    kind: str,
    resolution: float,
) -> dict[str, Any]:
    """Plan ``month`` with the product's planner on a scratch store where truth replaces estimates.

    ``kind`` ``oracle``: true churn probability, each line's own responses, true contact rates;
    ``attainable``: the product's churn scores and the response functions without the line's
    own taste; ``action_mean``: as ``attainable`` with each action's churn reduction at its
    mean over the lines (what one reduction per action can know); ``level_mean``: at its mean
    over the lines of each level of the action's learning dimensions (``learning.level_dims``,
    else the library's ``learn_by``: what the response learner's reductions per level could
    know). Same budget, capacity and contact policy as ``spec``; no control group, no global
    holdout, no exploration; every action whose offer fits is a candidate, chosen by value.
    Returns the plan's true value (see :func:`_value`).
    """
    from weixi.dispatch.schemas import ControlSizing, Holdout, Learning
    from weixi.dispatch.service import plan_month
    from weixi.synth.dialer import CONTACT_RATES

    kinds = ("oracle", "attainable", "action_mean", "level_mean")
    if kind not in kinds:
        raise ConfigError(
            "reference kind must be one of {kinds}: {kind!r}", kinds=", ".join(kinds), kind=kind
        )
    systematic = kind != "oracle"
    from weixi.store import schema

    ref = duckdb.connect()
    ref.execute("SET enable_progress_bar=false")
    try:
        schema.upgrade(ref)  # the declared tables, empty; the month's inputs replace them below
        m = sql_literal(month)
        ref.register(
            "_seg_df", con.sql(f"SELECT * FROM segments WHERE month = {m}").to_arrow_table()
        )
        ref.execute("CREATE OR REPLACE TABLE segments AS SELECT * FROM _seg_df")
        ref.unregister("_seg_df")
        ref.register("_staff_df", con.sql("SELECT * FROM staff").to_arrow_table())
        ref.execute("CREATE OR REPLACE TABLE staff AS SELECT * FROM _staff_df")
        ref.unregister("_staff_df")
        _truth_tables(
            ref,
            lib,
            op,
            systematic=systematic,
            action_mean=kind in ("action_mean", "level_mean"),
            level=_level_dims(spec, lib) if kind == "level_mean" else None,
        )
        if systematic:
            scores = con.sql(
                "SELECT month, subscriber_id, arg_max(p_churn, model_version) AS p_churn "
                f"FROM churn_scores WHERE month = {m} GROUP BY ALL"
            ).to_arrow_table()
            ref.register("_cs_df", scores)
            ref.execute(
                "CREATE OR REPLACE TABLE churn_scores AS SELECT *, 1 AS model_version FROM _cs_df"
            )
            ref.unregister("_cs_df")
        else:
            ref.execute(
                f"CREATE OR REPLACE TABLE churn_scores AS SELECT {m} AS month, subscriber_id, "
                "p_churn, "
                "1 AS model_version FROM _sim_p"
            )
        # the truth in the product's contract: uplift given reach = P(accept) × churn reduction
        ref.execute(
            f"CREATE OR REPLACE TABLE uplift AS SELECT {m} AS month, subscriber_id, action, "
            "p_accept * churn_reduction AS uplift, p_accept AS take_rate FROM _sim_r"
        )
        truth_lib = lib.model_copy(
            update={
                "channels": [
                    c.model_copy(update={"effect": CONTACT_RATES.get(c.key, c.effect)})
                    for c in lib.channels
                ]
            }
        )
        rspec = spec.model_copy(
            update={
                "control_share": 0.0,
                "control_sizing": ControlSizing(auto=False),
                "holdout": Holdout(share=0.0),
                # learned = read the truth's uplift table; no plan adjustment, no exploration
                "learning": Learning(enabled=True, explore=False),
                "match_scope": "all",
                "action_choice": "value",
                "solver": "auto",
                "min_value": 0.0,
                "value_bucket_ratio": resolution,
            }
        )
        plan_month(
            con=ref, month=month, spec=rspec, library=truth_lib, session=session, preview=True
        )
        # value the reference with the full truth (the attainable plan was made without it)
        _truth_tables(ref, lib, op, systematic=False)
        ref.execute(
            "CREATE OR REPLACE TEMP TABLE _sim_plan AS SELECT subscriber_id, action, offer_id, "
            "channel, is_control FROM _pl_assign"
        )
        out: dict[str, Any] = _value(ref, "_sim_plan", month, lib)
        out["mix"] = _mix(ref, "_sim_plan")
        return out
    finally:
        ref.close()


def _level_dims(spec, lib: StrategyLibrary) -> dict[str, list[str]]:
    """The campaign's learning dimensions per action, else the library's ``learn_by``."""
    from weixi.dispatch.schemas import Learning

    return (
        spec.learning.level_dims(lib)
        or Learning(reduction_by="library").level_dims(lib)
        or {a.key: ["a"] for a in lib.actions}
    )


def _mix(con: duckdb.DuckDBPyConnection, plan: str) -> dict[str, int]:
    """Treated customers per ``channel/action`` of a plan (the diagnosis shows where they go)."""
    return {
        f"{ch}/{a}": int(n)
        for ch, a, n in con.execute(
            f"SELECT channel, action, count(*) FROM {plan} WHERE NOT is_control "
            "GROUP BY ALL ORDER BY 3 DESC"
        ).fetchall()
    }


# ---------------------------------------------------------------------------------- the loop
def simulate(
    params: SimParams, *, on_month: Callable[[MonthResult], None] | None = None
) -> SimResult:
    """Run ``params.warmup`` months without and ``params.months`` months with campaigns.

    Args:
        params: :class:`SimParams`.
        on_month: called with each :class:`MonthResult` once its evaluation is known.

    Returns:
        :class:`SimResult`.
    """
    if params.policy not in POLICIES:
        raise ConfigError(
            "policy must be one of {policies}, got {policy!r}",
            policies=", ".join(POLICIES),
            policy=params.policy,
        )
    start = time.perf_counter()
    if params.home is not None:
        home = Path(params.home)
        home.mkdir(parents=True, exist_ok=True)
        results = _run(params, home, on_month)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="weixi-sim-"))
        try:
            results = _run(params, tmp, on_month)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return SimResult(
        params=params.model_dump(),
        months=results,
        seconds=round(time.perf_counter() - start, 1),
    )


def _run(
    params: SimParams, home: Path, on_month: Callable[[MonthResult], None] | None
) -> list[MonthResult]:
    from weixi.flows import run_month
    from weixi.ingest.service import import_month
    from weixi.store.analytics import connect
    from weixi.store.db import session_scope
    from weixi.strategy.library import load_library
    from weixi.synth.dialer import execute_with_hidden_responses
    from weixi.synth.generate import SyntheticOperator
    from weixi.synth.raw import write_raw
    from weixi.web import migrate

    lib = load_library(None)
    budget = params.monthly_budget()
    results: list[MonthResult] = []
    pending: MonthResult | None = None
    with temporary_home(home):
        migrate.upgrade()
        con = connect(home / "weixi.duckdb")
        try:
            op = SyntheticOperator(
                params.subscribers, seed=params.seed, start_month=parse_month(params.start_month)
            )
            treatments: pa.Table | None = None
            total = params.warmup + params.months
            for step in range(total + 1):
                if step:
                    op.advance(treatments)
                    treatments = None
                month = op.month
                campaign = params.warmup <= step < total
                secs: dict[str, float] = {}
                t0 = time.perf_counter()
                raw = home / "raw"
                shutil.rmtree(raw, ignore_errors=True)
                written = write_raw(op, raw, months=1)
                import_month(
                    con=con,
                    month=month,
                    mapping=Path(written["mapping"]),
                    paths=[Path(f["file"]) for f in written["months"]],
                )
                secs["import"] = round(time.perf_counter() - t0, 2)
                spec = policy_campaign(params.policy, month, budget, params.reduction_by)
                with session_scope() as session:
                    t1 = time.perf_counter()
                    rep = run_month(
                        con=con,
                        session=session,
                        month=month,
                        campaign=spec,
                        library=lib,
                        plan=campaign,
                        train=step < total,
                    )
                    secs["job"] = round(time.perf_counter() - t1, 2)
                    secs |= {f"job.{k}": v for k, v in rep.seconds.items()}
                    if pending is not None:
                        overall = (rep.steps.get("evaluate") or {}).get("overall") or {}
                        pending.measured_lift = overall.get("retention_lift")
                        pending.lift_ci = [
                            overall.get("retention_lift_low"),
                            overall.get("retention_lift_high"),
                        ]
                        results.append(pending)
                        if on_month:
                            on_month(pending)
                        pending = None
                    if not campaign or "plan" not in rep.steps:
                        continue
                    pending = _campaign_month(
                        con=con,
                        session=session,
                        month=month,
                        spec=spec,
                        lib=lib,
                        op=op,
                        params=params,
                        budget=budget,
                        plan=rep.steps["plan"],
                        secs=secs,
                        steps=rep.steps,
                    )
                    t3 = time.perf_counter()
                    treatments = execute_with_hidden_responses(
                        session=session,
                        month=month,
                        responses=op.hidden_responses(),
                        seed=params.seed * 1000 + step,
                    )
                    secs["execute"] = round(time.perf_counter() - t3, 2)
        finally:
            con.close()
    return results


def _campaign_month(
    *, con, session, month, spec, lib, op, params, budget, plan, secs, steps=None
) -> MonthResult:
    """Value the executed plan and both references for ``month`` (before the dialer works it)."""
    t2 = time.perf_counter()
    m = sql_literal(month)
    _truth_tables(con, lib, op)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _sim_plan AS SELECT subscriber_id, action, offer_id, "
        f"channel, is_control FROM plan_assignments WHERE month = {m} "
        f"AND campaign_id = {sql_literal(spec.key)} AND plan_version = ("
        f"SELECT max(plan_version) FROM plan_assignments WHERE month = {m} "
        f"AND campaign_id = {sql_literal(spec.key)})"
    )
    learn: dict[str, dict[str, float]] = {}
    if params.diagnose:
        dims = _level_dims(spec, lib)
        learn = learnability(con, month, dims, (steps or {}).get("uplift"))
        _keep_truth(con, month)
    own = _value(con, "_sim_plan", month, lib)
    actions = dict(
        con.execute(
            "SELECT action, count(*) FROM _sim_plan WHERE NOT is_control GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )

    def reference(kind: str, resolution: float) -> dict[str, Any]:
        return reference_plan(
            con=con,
            session=session,
            month=month,
            spec=spec,
            lib=lib,
            op=op,
            kind=kind,
            resolution=resolution,
        )

    refs = {kind: reference(kind, params.resolution) for kind in ("oracle", "attainable")}
    diag: dict[str, float] = {}
    mix: dict[str, dict[str, int]] = {}
    belief: dict[str, dict[str, float]] = {}
    if params.diagnose:
        coarse = reference("oracle", spec.value_bucket_ratio)
        diag["oracle_resolution_1.15"] = round(coarse["value"] / refs["oracle"]["value"], 4)
        # the ceiling of a learner with one churn reduction per action (taste and take-rate
        # heterogeneity kept): its plan's true value as a share of the attainable one
        means = reference("action_mean", params.resolution)
        # … and with one per action and level of its learning dimensions
        levels = reference("level_mean", params.resolution)
        if refs["attainable"]["value"] > 0:
            diag["action_mean_share"] = round(means["value"] / refs["attainable"]["value"], 4)
            diag["level_mean_share"] = round(levels["value"] / refs["attainable"]["value"], 4)
        mix = {"policy": _mix(con, "_sim_plan")} | {k: v["mix"] for k, v in refs.items()}
        belief = belief_vs_truth(con, month, spec.key, lib, op)
    secs["references"] = round(time.perf_counter() - t2, 2)
    ov, av = refs["oracle"]["value"], refs["attainable"]["value"]
    return MonthResult(
        month=format_month(month),
        value=round(own["value"], 2),
        oracle_value=round(ov, 2),
        attainable_value=round(av, 2),
        cost=round(own["cost"], 2),
        oracle_cost=round(refs["oracle"]["cost"], 2),
        attainable_cost=round(refs["attainable"]["cost"], 2),
        budget=budget,
        n_treated=own["treated"],
        n_control=own["control"],
        control_share=float(plan.get("control_share") or 0.0),
        true_lift=round(own["true_lift"], 6),
        value_share=round(own["value"] / ov, 4) if ov > 0 else None,
        attainable_share=round(own["value"] / av, 4) if av > 0 else None,
        actions={str(k): int(v) for k, v in actions.items()},
        uplift_sources=dict(plan.get("uplift_sources") or {}),
        references=diag,
        mix=mix,
        belief=belief,
        learnability=learn,
        learning=_learning(steps or {}),
        seconds=secs,
    )


def _keep_truth(con: duckdb.DuckDBPyConnection, month: dt.date) -> None:
    """Keep the truth of ``month``'s treated lines (their own churn reduction of the planned
    action and their true churn probability) for the learnability of later months."""
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _sim_truth_hist (month DATE, subscriber_id VARCHAR, "
        "action VARCHAR, churn_reduction DOUBLE, p_true DOUBLE)"
    )
    con.execute(
        f"""INSERT INTO _sim_truth_hist
            SELECT {sql_literal(month)}, a.subscriber_id, a.action,
                   COALESCE(r.churn_reduction, 0), COALESCE(p.p_churn, 0)
            FROM _sim_plan a LEFT JOIN _sim_r r USING (subscriber_id, action)
            LEFT JOIN _sim_p p USING (subscriber_id)
            WHERE NOT a.is_control"""
    )


def learnability(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    dims: dict[str, list[str]],
    uplift: dict[str, Any] | None = None,
    *,
    min_treated: int = 30,
) -> dict[str, dict[str, float]]:
    """How well the evidence the learner had for ``month`` could tell each action's levels apart.

    Over the treated customers of the months evaluated before ``month`` (those whose truth
    :func:`_keep_truth` kept: what the monthly job learned from), per action and level of its learning dimensions ``dims``
    (cells of at least ``min_treated``): the true reduction of an accepted offer, weighted as
    the measurement weighs it (Σ accepted × p × r / Σ accepted × p, the customer's own
    reduction and true churn probability), and the **standard-error floor**
    ``sqrt(max(c (1 − c), 1 / n) / n) / mean(accepted × p)`` — the error of the cell's measured reduction
    from the treated's own churn (``c`` of ``n``) alone, i.e. with a perfect counterfactual.
    Per action: ``treated``, ``levels``, ``true_reduction`` (all cells), ``learned`` (the
    job's reduction from ``uplift``, the step report), ``level_spread`` (the weighted standard
    deviation of the cells' true reductions around it), ``se_floor_largest`` (the floor of the
    largest cell) and ``se_floor_median``. Where the floor is above the spread, no learner of
    churn outcomes could place the levels from this evidence.
    """
    from weixi.evaluate.acceptance import level_sql, rate_variance

    have = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_sim_truth_hist'"
    ).fetchall()[0][0]
    dims = {a: c for a, c in dims.items() if c}
    if not have or not dims:
        return {}
    rows = con.execute(
        f"""WITH x AS (
            SELECT o.action, {level_sql(dims, "o.action", "g")} AS level, 1 - o.stayed AS churned,
                   COALESCE(o.accepted, FALSE)::INTEGER * t.p_true AS d,
                   COALESCE(o.accepted, FALSE)::INTEGER * t.p_true * t.churn_reduction AS drop
            FROM evaluation_outcomes o
            JOIN _sim_truth_hist t
              ON t.month = o.month AND t.subscriber_id = o.subscriber_id AND t.action = o.action
            JOIN segments g ON g.month = o.month AND g.subscriber_id = o.subscriber_id
            WHERE NOT o.is_control AND o.month < ? AND o.stayed IS NOT NULL
        )
        SELECT action, level, count(*), avg(churned), avg(d), avg(drop)
        FROM x WHERE level IS NOT NULL GROUP BY ALL ORDER BY 1, 2""",
        [month],
    ).fetchall()
    learned = (uplift or {}).get("reduction") or {}
    by: dict[str, list[tuple[int, float, float, float]]] = {}
    for a, _g, n, c, d, drop in rows:
        by.setdefault(str(a), []).append((int(n), float(c), float(d or 0.0), float(drop or 0.0)))
    out: dict[str, dict[str, float]] = {}
    for a, cells in sorted(by.items()):
        n = np.array([x[0] for x in cells], dtype=float)
        c, d, drop = (np.array([x[i] for x in cells]) for i in (1, 2, 3))
        if not (n * d).sum():
            continue
        r_all = float((n * drop).sum() / (n * d).sum())
        big = (n >= min_treated) & (d > 0)
        entry: dict[str, float] = {
            "treated": int(n.sum()),
            "levels": int(big.sum()),
            "true_reduction": round(r_all, 4),
            "learned": None if learned.get(a) is None else round(float(learned[a]), 4),
        }
        if big.any():
            w, r = (n * d)[big], drop[big] / d[big]
            floor = np.sqrt(rate_variance(c[big], n[big])) / d[big]
            mean = float((w * r).sum() / w.sum())
            entry["level_spread"] = round(float(np.sqrt((w * (r - mean) ** 2).sum() / w.sum())), 4)
            entry["se_floor_largest"] = round(float(floor[np.argmax(n[big])]), 4)
            entry["se_floor_median"] = round(float(np.median(floor)), 4)
        out[a] = entry
    return out


def belief_vs_truth(
    con: duckdb.DuckDBPyConnection, month: dt.date, campaign: str, lib: StrategyLibrary, op
) -> dict[str, dict[str, float]]:
    """What the executed plan believed each treated customer worth, against the truth, by action.

    Per action of ``month``'s latest plan version of ``campaign`` (treated rows): ``n``; the
    churn score the plan used (``p_churn``) and the true churn probability (``p_true``); the
    take rate it used (learned, else configured: ``take``) and the true P(accept) with taste
    integrated out (``take_true``); the churn reduction of an accepted offer it used
    (``uplift / take``: ``reduction``) and the true one, weighted by P(accept) as the measured
    reduction is (``reduction_true``); the reach of the channels it used (measured, else
    configured: ``reach``) and the dialer's (``reach_true``); the plan's expected net value
    (``value``) and its true expected value with the same costs (``value_true``, taste
    integrated out). Where the two columns part, the plan's estimate is what loses value.
    """
    from weixi.synth.dialer import CONTACT_RATES

    m = sql_literal(month)
    con.register("_sim_rs_df", op.hidden_responses(systematic=True))
    con.register("_sim_ps_df", op.true_churn_prob())
    try:
        chans = ", ".join(
            f"({sql_literal(c.key)}, {c.effect!r}::DOUBLE, "
            f"{CONTACT_RATES.get(c.key, 0.5)!r}::DOUBLE)"
            for c in lib.channels
        )
        takes = ", ".join(f"({sql_literal(a.key)}, {a.take_rate!r}::DOUBLE)" for a in lib.actions)
        measured = (
            f"SELECT channel, avg(effect) AS effect FROM channel_effects WHERE month = {m} "
            "GROUP BY channel"
        )
        learned = (
            "SELECT subscriber_id, action, avg(take_rate) AS take_rate FROM uplift "
            f"WHERE month = {m} GROUP BY ALL"
        )
        v = lib.value
        rows = con.execute(
            f"""WITH pa AS (
                SELECT * FROM plan_assignments
                WHERE month = {m} AND campaign_id = {sql_literal(campaign)} AND NOT is_control
                  AND plan_version = (SELECT max(plan_version) FROM plan_assignments
                                      WHERE month = {m} AND campaign_id = {sql_literal(campaign)})
            ), x AS (
                SELECT pa.action, pa.p_churn, pa.uplift, pa.expected_value, pa.cost,
                       COALESCE(u.take_rate, t.take_rate) AS take,
                       COALESCE(ce.effect, ch.effect) AS reach, ch.reach_true,
                       r.p_accept, r.churn_reduction, p.p_churn AS p_true,
                       s.arpu_3m * {v.margin!r} * {v.clv_months!r} AS clv
                FROM pa
                JOIN (VALUES {chans}) ch(channel, effect, reach_true) USING (channel)
                JOIN (VALUES {takes}) t(action, take_rate) USING (action)
                LEFT JOIN ({measured}) ce USING (channel)
                LEFT JOIN ({learned}) u USING (subscriber_id, action)
                LEFT JOIN _sim_rs_df r USING (subscriber_id, action)
                LEFT JOIN _sim_ps_df p USING (subscriber_id)
                LEFT JOIN segments s ON s.month = {m} AND s.subscriber_id = pa.subscriber_id
            )
            SELECT action, count(*), avg(p_churn), avg(p_true), avg(take), avg(p_accept),
                   avg(uplift / nullif(take, 0)),
                   sum(churn_reduction * p_accept) / nullif(sum(p_accept), 0),
                   avg(reach), avg(reach_true), sum(expected_value),
                   sum(reach_true * p_accept * churn_reduction * p_true * clv - cost)
            FROM x GROUP BY action ORDER BY 2 DESC, 1"""
        ).fetchall()
    finally:
        con.unregister("_sim_rs_df")
        con.unregister("_sim_ps_df")
    keys = ("n", "p_churn", "p_true", "take", "take_true", "reduction", "reduction_true")
    keys += ("reach", "reach_true", "value", "value_true")
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        vals = [None if x is None else float(x) for x in row[1:]]
        out[str(row[0])] = {
            k: (
                int(x)
                if k == "n"
                else None
                if x is None
                else round(x, 4 if k != "value" and k != "value_true" else 2)
            )
            for k, x in zip(keys, vals, strict=True)
        }
    return out


def _learning(steps: dict[str, Any]) -> dict[str, Any]:
    """The job's learning decisions of a month, from its step report."""
    train = steps.get("churn_train")
    uplift = steps.get("uplift")
    return {
        "churn_retrain": ((train.get("due") or {}).get("reasons") or [])
        if isinstance(train, dict)
        else [],
        "reduction_scale": uplift.get("scale") if isinstance(uplift, dict) else None,
        # action → level of its learning dimensions → learned reduction (cells with evidence)
        "reduction_by_level": (uplift.get("reduction_by_level") or {})
        if isinstance(uplift, dict)
        else {},
    }
