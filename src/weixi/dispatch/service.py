"""Dispatch services: plan a month (match → policy → holdouts → allocate → lists), keep lists up
to date, record outcomes, export lists.

I/O lives here; the pure steps are :mod:`weixi.strategy.match` (SQL), :mod:`.allocate` (solver)
and :mod:`.holdout`. Services ``flush()`` and never ``commit()``: the CLI or route commits.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from weixi.dispatch import allocate, plans
from weixi.dispatch.holdout import in_control_sql, size_control
from weixi.dispatch.models import (
    Campaign,
    CampaignStatus,
    ContactLog,
    Outcome,
    OutcomeResult,
    Task,
    TaskStatus,
)
from weixi.dispatch.policy import channel_block_sql, consent_frame, contact_history, suppression_sql
from weixi.dispatch.schemas import CampaignSpec
from weixi.errors import ConfigError, ConflictError, NotFoundError
from weixi.i18n import t
from weixi.store.bulk import insert_arrow
from weixi.store.months import format_month
from weixi.store.sqlrun import Run, exact_avg, open_run, uniform_sql
from weixi.strategy.match import MatchResult, match, store_matches
from weixi.strategy.schemas import StrategyLibrary, conditions_sql, sql_literal

FUNNEL_ORDER = (
    "excluded",
    "no_strategy",
    "household",
    "outside_campaign",
    "do_not_disturb",
    "credit_list",
    "contact_cap",
    "cooldown",
    "no_channel",
    "global_holdout",
    "control",
    "low_value",
    "over_capacity",
)
FUNNEL_TEXT = {
    "subscribers": "Subscribers this month",
    "excluded": "Excluded before segmentation",
    "no_strategy": "No matching strategy or offer",
    "household": "Another line of the household carries the action",
    "outside_campaign": "Outside the campaign's target groups",
    "do_not_disturb": "Do not disturb",
    "credit_list": "On the red/black list",
    "contact_cap": "Monthly contact cap reached",
    "cooldown": "Cool-down after a refusal",
    "no_channel": "No consented channel",
    "global_holdout": "Global long-term holdout",
    "control": "Campaign control group",
    "low_value": "Expected value too low",
    "over_capacity": "Over capacity or budget",
    "on_list": "On a list",
}
# Part of the reason of every customer put on a list by ``must_dispatch_a1`` (found by the pages).
A1_NOTE_EN = "A1: all binding-warning customers dispatched"
STAFF_PER_DAY = {
    "call_center": "agent_contacts_per_day",
    "account_manager": "am_contacts_per_day",
    "store": "store_contacts_per_day",
}
STAFF_WORD = {
    "call_center": ("agent-day", "坐席人天"),
    "account_manager": ("account-manager-day", "客户经理人天"),
    "store": ("store-staff-day", "营业员人天"),
}


@dataclass
class PlanResult:
    """What ``weixi plan`` reports."""

    month: str
    campaign: str
    solver: str
    subscribers: int
    on_list: int
    control: int
    expected_value: float
    cost: float
    budget: float | None
    infeasible: bool
    message: str
    funnel: list[dict[str, Any]] = field(default_factory=list)
    shadow_prices: list[dict[str, Any]] = field(default_factory=list)
    by_branch: list[dict[str, Any]] = field(default_factory=list)
    by_channel: list[dict[str, Any]] = field(default_factory=list)
    capacity: list[dict[str, Any]] = field(default_factory=list)
    a1_required: int = 0
    a1_dispatched: int = 0
    # Forced by must_dispatch_a1: A1 customers on a list although their expected net value is
    # negative (the plan loses money on them); the planner should review or turn the option off.
    a1_negative_ev: int = 0
    a1_negative_ev_value: float = 0.0
    tasks_written: int = 0
    explored: int = 0
    uplift_sources: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # Life cycle: "preview" (nothing stored), else the stored version's status and number.
    status: str = "preview"
    plan_version: int | None = None
    # The control share the plan used (sized by power when control_sizing.auto) and the power
    # report: the CI half-width it gives and the smallest share for the target (holdout.Power).
    control_share: float = 0.0
    control_share_auto: bool = False
    power: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


# --------------------------------------------------------------------------- campaigns


def get_campaign_by_key(*, session: Session, key: str) -> Campaign | None:
    """Return the campaign with ``key`` or None."""
    return session.execute(select(Campaign).where(Campaign.key == key)).scalar_one_or_none()


def get_or_create_campaign(
    *, session: Session, spec: CampaignSpec, status: str = CampaignStatus.active.value
) -> Campaign:
    """Return the campaign row for ``spec`` (created with ``status``, or updated from the spec)."""
    row = get_campaign_by_key(session=session, key=spec.key)
    values = dict(
        name_en=spec.name.en,
        name_zh=spec.name.zh,
        period_start=spec.period_start,
        period_end=spec.period_end,
        budget=spec.budget,
        control_share=spec.control_share,
        salt=spec.control_salt,
        channels=list(spec.channels),
        actions=list(spec.actions or []),
        spec=spec.model_dump(mode="json", by_alias=True),
    )
    if row is None:
        row = Campaign(key=spec.key, status=status, **values)
        session.add(row)
    else:
        for k, v in values.items():
            setattr(row, k, v)
    session.flush()
    return row


def recover_pending(*, con: duckdb.DuckDBPyConnection, session: Session) -> dict[str, int]:
    """Settle plan versions left pending by a crash between the two stores' commits.

    A pending version whose tasks landed in the operational database (tasks of the campaign and
    month created at or after the version) is approved; one without is cancelled (it was never
    dispatched). Returns ``{"approved": n, "cancelled": n}``.
    """
    out = {"approved": 0, "cancelled": 0}
    for month, key, version, created in plans.pending(con):
        landed = session.execute(
            select(func.count(Task.id))
            .join(Campaign, Campaign.id == Task.campaign_id)
            .where(Campaign.key == key, Task.month == month, Task.created_at >= created)
        ).scalar_one()
        if landed:
            plans.confirm(con, month=month, campaign=key, version=version)
            out["approved"] += 1
        else:
            con.execute(
                "UPDATE plans SET status = 'cancelled' "
                "WHERE month = ? AND campaign_id = ? AND version = ?",
                [month, key, version],
            )
            out["cancelled"] += 1
    return out


def decide_campaign(
    *, con: duckdb.DuckDBPyConnection, session: Session, campaign: Campaign, decision: str
) -> None:
    """Approve a draft campaign, close a live one or cancel one; its plan versions follow.

    approve: draft → approved (its draft plans become the executed record, its tasks go live);
    close: live → closed (plans stay evaluated); cancel: draft or live → cancelled (plans never
    count, open tasks are dropped with reason ``cancelled``).
    """
    live = (CampaignStatus.approved.value, CampaignStatus.active.value)
    moves = {
        "approve": ((CampaignStatus.draft.value,), CampaignStatus.approved, "approved"),
        "close": (live, CampaignStatus.closed, "closed"),
        "cancel": ((CampaignStatus.draft.value, *live), CampaignStatus.cancelled, "cancelled"),
    }
    if decision not in moves:
        raise ConfigError("decision must be approve, close or cancel")
    allowed, to, plan_status = moves[decision]
    if campaign.status not in allowed:
        raise ConfigError(
            "campaign {key} is {status}: it cannot be {decision}d (only {allowed})",
            key=campaign.key,
            status=campaign.status,
            decision=decision,
            allowed=", ".join(allowed),
        )
    plans.set_status(con, campaign=campaign.key, status=plan_status)
    campaign.status = to.value
    if to is CampaignStatus.cancelled:
        session.execute(
            update(Task)
            .where(Task.campaign_id == campaign.id, Task.status == TaskStatus.open.value)
            .values(status=TaskStatus.dropped.value, drop_reason="cancelled")
        )
    session.flush()


# --------------------------------------------------------------------------- planning


def _capacity_and_staff(
    con: duckdb.DuckDBPyConnection,
    spec: CampaignSpec,
    branches: list[str],
    month: dt.date,
    base: str,
    run: Run,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Capacity (contacts this month) per branch × channel, and the staff roster."""
    cap = spec.capacity
    channels = list(spec.channels)
    staff = None
    staff = con.execute(
        "SELECT CAST(staff_id AS VARCHAR) AS staff_id, CAST(branch_id AS VARCHAR) AS branch_id, "
        "CAST(channel AS VARCHAR) AS channel FROM staff"
    ).df()
    if staff.empty:  # no staff reference table imported
        staff = None
    if staff is None:
        # Pseudo staff from the configured ratios (1 AM per 400 VIP, 1 per 50 group customers).
        counts = run.df(
            f"""SELECT branch_id,
                   sum(CASE WHEN COALESCE(lower(CAST(vip_tier AS VARCHAR)), 'none')
                            NOT IN ('none', '', 'no', 'false') THEN 1 ELSE 0 END) AS vip,
                   sum(CASE WHEN upper(CAST(group_class AS VARCHAR)) IN ('A', 'B', 'C')
                            THEN 1 ELSE 0 END) AS grp
            FROM {base} GROUP BY branch_id"""
        )
        counts = counts.set_index("branch_id")
        rows = []
        for b in branches:
            vip = float(counts["vip"].get(b, 0)) if len(counts) else 0.0
            grp = float(counts["grp"].get(b, 0)) if len(counts) else 0.0
            n_am = math.ceil(vip / cap.am_vip_per_manager + grp / cap.am_group_per_manager)
            for i in range(n_am):
                rows.append((f"AM-{b}-{i + 1:02d}", b, "account_manager"))
            for i in range(cap.pseudo_agents_per_branch):
                rows.append((f"CC-{b}-{i + 1:02d}", b, "call_center"))
            for i in range(cap.pseudo_store_staff_per_branch):
                rows.append((f"ST-{b}-{i + 1:02d}", b, "store"))
        staff = pd.DataFrame(rows, columns=["staff_id", "branch_id", "channel"])
    heads = staff.groupby(["branch_id", "channel"]).size()
    out = np.full((len(branches), len(channels)), math.inf)
    for bi, b in enumerate(branches):
        for ci, ch in enumerate(channels):
            if ch in STAFF_PER_DAY:
                n = float(heads.get((b, ch), 0))
                per_day = getattr(cap, STAFF_PER_DAY[ch])
                out[bi, ci] = math.floor(n * per_day * cap.working_days * cap.campaign_share)
            elif ch == "sms" and cap.sms_per_branch is not None:
                out[bi, ci] = cap.sms_per_branch
            elif ch == "app" and cap.app_per_branch is not None:
                out[bi, ci] = cap.app_per_branch
            if ch in cap.overrides.get(b, {}):
                out[bi, ci] = float(cap.overrides[b][ch])
    return out, staff


def _funnel(con: duckdb.DuckDBPyConnection, month: dt.date) -> list[dict[str, Any]]:
    m = sql_literal(month)
    total = con.execute(f"SELECT count(*) FROM segments WHERE month = {m}").fetchall()[0][0]
    counts = dict(con.execute("SELECT reason, count(*) FROM _pl_not GROUP BY reason").fetchall())
    on_list = con.execute("SELECT count(*) FROM _pl_assign WHERE NOT is_control").fetchall()[0][0]
    out = [{"stage": "subscribers", "count": int(total), "remaining": int(total)}]
    remaining = int(total)
    for r in FUNNEL_ORDER:
        n = int(counts.get(r, 0))
        remaining -= n
        out.append({"stage": r, "count": n, "remaining": remaining})
    out.append({"stage": "on_list", "count": int(on_list), "remaining": int(on_list)})
    return out


def plan_month(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: CampaignSpec,
    library: StrategyLibrary,
    session: Session | None = None,
    as_of: dt.datetime | None = None,
    status: str = plans.PlanStatus.approved.value,
    preview: bool = False,
    engine: str = "duckdb",
) -> PlanResult:
    """Plan ``month`` for campaign ``spec`` and store it as a plan version with ``status``.

    Stores ``plan_assignments`` and ``plan_not_on_list`` under a new version (a draft of the
    month and campaign is replaced, a dispatched plan never is: see :mod:`.plans`) and, with a
    ``session``, the campaign and its open tasks. ``preview`` plans in temporary tables only:
    no analytics or operational table changes (the contact history is only read).

    ``engine`` runs matching and the plan's per-line work (suppression, cells, hand-back to
    customers, the not-on-list reasons) on ``duckdb`` or ``spark`` from one SQL definition
    (:mod:`weixi.store.sqlrun`); the HiGHS solve runs on the driver over cell aggregates, and the
    plan's rows are stored and dispatched the same way on both.
    """
    if status not in (plans.PlanStatus.draft.value, plans.PlanStatus.approved.value):
        raise ConfigError(
            "a new plan is stored as draft or approved, not {status!r}", status=status
        )
    run = open_run(con, engine, plan_inputs(con, month))
    try:
        sizing = spec.control_sizing
        if not sizing.auto:
            return _plan_once(con, month, spec, library, session, as_of, status, preview, run)[0]
        # Size the control by power: a what-if at the upper bound gives the plan's volume and
        # churn rate (neither depends much on the share), then the plan runs at the share that
        # measures the lift to the target half-width. Matching, the campaign's target, the
        # contact policy and the channels do not depend on the share: the plan reuses the
        # what-if's match and those tables, and the what-if stops at its lists.
        if session is not None and not preview:
            recover_pending(con=con, session=session)  # before the what-if reads the history
        fixed = sizing.model_copy(update={"auto": False})
        probe_spec = spec.model_copy(
            update={"control_share": sizing.max_share, "control_sizing": fixed}
        )
        probe, mx = _plan_once(
            con, month, probe_spec, library, session, as_of, status, True, run, probe=True
        )
        share = float(probe.power["recommended_share"])
        final = spec.model_copy(update={"control_share": share, "control_sizing": fixed})
        result, _ = _plan_once(
            con, month, final, library, session, as_of, status, preview, run, matched=mx
        )
        result.control_share_auto = True
        result.seconds["total"] = round(result.seconds["total"] + probe.seconds["total"], 3)
        return result
    finally:
        run.close()
        _drop_work_tables(con)


#: The plan's lines, left as a temporary table for a preview's caller; matching's and the
#: plan's other per-line tables (``_mx_*``, ``strategy_options``, ``_pl_*``) end with the plan.
PLAN_LINES = "_pl_assign"


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop matching's and the plan's temporary work tables but :data:`PLAN_LINES`: they hold
    about eight times the cells of the month's ``segments`` (50 000 random lines:
    9.2 M against 1.15 M), and in a long-lived connection (the monthly job's next steps, a
    simulation's next month) they held memory, spilled to disk when a later step needed it."""
    try:
        names = con.execute(
            """SELECT table_name FROM duckdb_tables()
               WHERE temporary AND (starts_with(table_name, '_pl_')
                                    OR starts_with(table_name, '_mx_')
                                    OR table_name = 'strategy_options')
                 AND table_name <> ?""",
            [PLAN_LINES],
        ).fetchall()
        for (name,) in names:
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
    except duckdb.Error:  # a failed plan's aborted transaction: they go with the connection
        pass


def _plan_once(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: CampaignSpec,
    library: StrategyLibrary,
    session: Session | None,
    as_of: dt.datetime | None,
    status: str,
    preview: bool,
    run: Run,
    matched: MatchResult | None = None,
    probe: bool = False,
) -> tuple[PlanResult, MatchResult]:
    """One plan of ``month`` at ``spec``'s fixed control share (see :func:`plan_month`); with
    ``matched``, the month's match and the share-independent tables of the what-if (``probe``)
    already on ``run``. The plan and its match."""
    if not spec.covers(month):
        raise ConfigError(
            "campaign {key} runs {start:%Y-%m}..{end:%Y-%m}, "
            "not {month}: pick a month inside the period or edit the campaign",
            key=spec.key,
            start=spec.period_start,
            end=spec.period_end,
            month=format_month(month),
        )
    if session is not None and not preview:
        recover_pending(con=con, session=session)
    t0 = time.perf_counter()
    as_of = as_of or dt.datetime.combine(month, dt.time())
    if session is None:
        campaign_row = None
    elif preview:
        campaign_row = get_campaign_by_key(session=session, key=spec.key)
    else:
        new = (
            CampaignStatus.draft.value
            if status == plans.PlanStatus.draft.value
            else CampaignStatus.active.value
        )
        campaign_row = get_or_create_campaign(session=session, spec=spec, status=new)
        if campaign_row.status == CampaignStatus.draft.value and status == "approved":
            campaign_row.status = CampaignStatus.approved.value
    return _plan_month(
        con=con,
        month=month,
        spec=spec,
        library=library,
        session=session,
        as_of=as_of,
        status=status,
        preview=preview,
        run=run,
        campaign_row=campaign_row,
        t0=t0,
        matched=matched,
        probe=probe,
    )


def plan_inputs(con: duckdb.DuckDBPyConnection, month: dt.date) -> dict[str, str]:
    """The store's rows that matching and planning read for ``month`` (view name → DuckDB
    ``SELECT``): what a Spark run is handed (on a cluster, the lake's tables of the month)."""
    m = sql_literal(month)
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    monthly = ("segments", "churn_scores", "channel_effects", "plan_adjustments")
    out = {t: f"SELECT * FROM {t} WHERE month = {m}" for t in monthly if t in present}
    if "snapshot" in present:
        # only what matching and the contact policy read: no personal data leaves the store
        used = ("month", "subscriber_id", "arpu", "do_not_disturb", "credit_list")
        cols = [c for c in used if _has_col(con, "snapshot", c)]
        out["snapshot"] = f"SELECT {', '.join(cols)} FROM snapshot WHERE month = {m}"
    if "uplift" in present:
        out["uplift"] = (
            f"SELECT * FROM uplift WHERE month = {m}"
            if _has_col(con, "uplift", "month")
            else "SELECT * FROM uplift"
        )
    return out


def _plan_month(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: CampaignSpec,
    library: StrategyLibrary,
    session: Session | None,
    as_of: dt.datetime,
    status: str,
    preview: bool,
    run: Run,
    campaign_row: Any,
    t0: float,
    matched: MatchResult | None = None,
    probe: bool = False,
) -> tuple[PlanResult, MatchResult]:
    """:func:`plan_month` once the control share is fixed and the campaign row is known; the
    per-line SQL runs on ``run`` (the store's DuckDB, or Spark). Returns the plan and the match
    it used (``matched`` when given: stored as the month's matches unless ``preview``, and the
    campaign's target, contact policy and channels are taken from the what-if before it).

    ``probe`` (the what-if of the power sizing, a preview): stops once the lists are drawn and
    returns only what sizing the control needs — the counts, the power report and the seconds —
    without the not-on-list reasons or the plan's summary."""
    timings: dict[str, float] = {}
    m = sql_literal(month)
    ckey = spec.key
    lrn = spec.learning
    if spec.match_scope == "all":
        library = library.open_matching()
    if matched is not None:
        mx = matched
        if not preview:
            store_matches(con, run, month)
    else:
        mx = match(
            con,
            month,
            library,
            actions=spec.actions,
            learned=lrn.enabled,
            adjust=lrn.enabled,
            explore=lrn.explores(spec.action_choice),
            explore_share=lrn.explore_share,
            min_segment_treated=lrn.min_segment_treated,
            write=not preview,
            choose=spec.action_choice,
            run=run,
        )
    timings["match"] = time.perf_counter() - t0

    if matched is None:
        _share_free_tables(con, month, spec, library, session, as_of, run, campaign_row, mx)
    ctl = _control_sql(spec, "s")
    mv = float(spec.min_value)
    # Cells: identical (branch, action, offer, A1 flag, set of allowed channels) and a value
    # bucket (log scale: values within a factor `value_bucket_ratio` share a bucket).
    step = math.log(float(spec.value_bucket_ratio))
    # The priority rule of thumb works priority groups in order, by ARPU (CLV) inside a group:
    # its cells are priority groups, not value buckets.
    rule_of_thumb = spec.solver == "priority"
    bucket = (
        "CAST(COALESCE(s.priority_rank, 999999) AS INTEGER)"
        if rule_of_thumb
        else f"CAST(floor(ln(1 + greatest(s.gross_value, 0)) / {step!r}) AS INTEGER)"
    )
    within = "clv" if rule_of_thumb else "gross_value"
    chan_bits = " ".join(
        f"WHEN {sql_literal(c)} THEN {1 << i}"
        for i, c in enumerate(ch.key for ch in library.channels)
    )
    run.create(
        "_pl_cust0",
        f"""WITH o AS (
            SELECT o.sid, o.channel FROM _pl_opt o JOIN _pl_status s USING (sid)
            WHERE s.blocked IS NULL AND (o.ev > {mv!r} OR s.must_a1)
        ), chset AS (
            SELECT sid, sum(CASE channel {chan_bits} ELSE 0 END)::INTEGER AS chmask
            FROM o GROUP BY sid
        )
        SELECT s.sid, s.branch_id, s.action, s.offer_id, s.{within} AS rank_value, s.must_a1,
               {ctl} AS is_control, c.chmask, {bucket} AS bucket
        FROM _pl_status s JOIN chset c USING (sid)""",
    )
    cell_key = "branch_id, action, offer_id, must_a1, chmask, bucket"
    run.create(
        "_pl_cells",
        f"""SELECT row_number() OVER (ORDER BY {cell_key}) - 1 AS cell, *
        FROM (SELECT {cell_key},
                     count(*) FILTER (WHERE NOT is_control) AS n_treat,
                     count(*) FILTER (WHERE is_control) AS n_control
              FROM _pl_cust0 GROUP BY {cell_key})""",
    )
    run.create(
        "_pl_cust",
        f"SELECT c.*, k.cell FROM _pl_cust0 c JOIN _pl_cells k USING ({cell_key})",
    )
    options = run.df(
        f"""SELECT c.cell, c.branch_id, o.channel, {exact_avg("o.ev")} AS value,
               {exact_avg("o.cost")} AS cost
        FROM _pl_cust c JOIN _pl_opt o USING (sid)
        WHERE o.ev > {mv!r} OR c.must_a1
        GROUP BY c.cell, c.branch_id, o.channel ORDER BY c.cell, o.channel"""
    )
    cells = run.df(
        "SELECT cell, branch_id, must_a1, bucket, n_treat, n_control FROM _pl_cells ORDER BY cell"
    )
    timings["prepare"] = time.perf_counter() - t0 - timings["match"]

    branches = sorted(r[0] for r in run.rows(f"SELECT DISTINCT branch_id FROM {mx.base}"))
    bidx = {b: i for i, b in enumerate(branches)}
    channels = list(spec.channels)
    cidx = {c: i for i, c in enumerate(channels)}
    capacity, staff = _capacity_and_staff(con, spec, branches, month, mx.base, run)
    quota = np.array([spec.branch_quotas.get(b, math.inf) for b in branches], dtype=float)
    bbudget = np.array([spec.branch_budgets.get(b, math.inf) for b in branches], dtype=float)
    # The control group is drawn among the customers the plan selects (so treated and control
    # are comparable): the solver sees treated + control customers with every resource scaled
    # by 1 / (1 − control share); controls are then held back and the treated rows are trimmed
    # to the real limits (a few customers, from the binomial fluctuation of the draw).
    # A1 cells are all dispatched, so their controls are simply all A1 controls: those cells
    # hold the treated customers only, each using 1 / (1 − share) of the scaled resources.
    inflate = 1.0 / (1.0 - spec.control_share)
    must_cell = cells["must_a1"].to_numpy(dtype=bool)
    opt_must = must_cell[options["cell"].to_numpy()]
    problem = allocate.Problem(
        opt_cell=options["cell"].to_numpy(),
        opt_branch=options["branch_id"].map(bidx).to_numpy(),
        opt_channel=options["channel"].map(cidx).to_numpy(),
        opt_value=options["value"].to_numpy(),
        opt_cost=options["cost"].to_numpy() * np.where(opt_must, inflate, 1.0),
        opt_weight=np.where(opt_must, inflate, 1.0),
        cell_n=np.where(must_cell, cells["n_treat"], cells["n_treat"] + cells["n_control"]).astype(
            np.int64
        ),
        cell_must=cells["must_a1"].to_numpy(),
        branches=branches,
        channels=channels,
        capacity=capacity * inflate,
        budget=None if spec.budget is None else spec.budget * inflate,
        branch_quota=quota * inflate,
        branch_budget=bbudget * inflate,
    )
    t1 = time.perf_counter()
    if rule_of_thumb:
        order = np.lexsort((cells["bucket"].to_numpy(), ~must_cell))
        sol = allocate.priority_order(problem, order, positive_only=False)
    else:
        sol = allocate.solve(problem, method=spec.solver, max_lp_options=spec.max_lp_cells)
    timings["solve"] = time.perf_counter() - t1

    # Hand the integer allocation back to customers: within a cell the highest-value customers
    # get the channel with the highest value per customer.
    alloc = options.assign(x=sol.x)
    alloc = alloc[alloc["x"] > 0].sort_values(["cell", "value"], ascending=[True, False])
    alloc["hi"] = alloc.groupby("cell")["x"].cumsum()
    alloc["lo"] = alloc["hi"] - alloc["x"]
    run.frame("_pl_alloc", alloc[["cell", "channel", "lo", "hi", "value", "cost"]])
    big = 1e18
    limits = pd.DataFrame(
        [
            (
                b,
                ch,
                float(capacity[bi, ci]) if np.isfinite(capacity[bi, ci]) else big,
                float(quota[bi]) if np.isfinite(quota[bi]) else big,
                float(spec.budget) if spec.budget is not None else big,
                float(bbudget[bi]) if np.isfinite(bbudget[bi]) else big,
            )
            for bi, b in enumerate(branches)
            for ci, ch in enumerate(channels)
        ],
        columns=["branch_id", "channel", "cap", "quota", "budget", "bbudget"],
    )
    run.frame("_pl_limits", limits)
    # The hand-back. A picked row carries only what the plan stores (sid, branch, action,
    # offer, channel, arm, value, cost, the A1 flag): every union below names one column list
    # (``x.*`` of a USING join puts the join keys first on Spark, not on DuckDB).
    row = "sid, branch_id, action, offer_id, channel, is_control, expected_value, cost, must_a1"
    lists = f"""WITH ranked AS (
            SELECT c.*, c.must_a1 AND c.is_control AS a1_control,
                   row_number() OVER (PARTITION BY c.cell, c.must_a1 AND c.is_control
                                      ORDER BY c.rank_value DESC, c.sid) AS r
            FROM _pl_cust c
        ), a1_x AS (
            SELECT cell, max(hi) AS x FROM _pl_alloc GROUP BY cell
        ), a1_whole AS (
            -- did every A1 customer go out (the seed's rule held within the limits)?
            SELECT coalesce(bool_and(coalesce(a.x, 0) >= k.n_treat), TRUE) AS whole
            FROM _pl_cells k LEFT JOIN a1_x a USING (cell)
            WHERE k.must_a1 AND k.n_treat > 0
        ), a1_cut AS (
            -- where the allocation stopped in each A1 cell: its last treated customer in the
            -- cell's order (all of them when the cell was dispatched whole)
            SELECT r.cell, r.rank_value AS cut_rv, r.sid AS cut_sid, r.r = k.n_treat AS all_in
            FROM ranked r
            JOIN a1_x a ON a.cell = r.cell AND r.r = a.x
            JOIN _pl_cells k ON k.cell = r.cell
            WHERE r.must_a1 AND NOT r.a1_control
        ), picked AS (
            SELECT r.sid, r.branch_id, r.action, r.offer_id, a.channel, r.is_control,
                   o.ev AS expected_value, o.cost, r.must_a1
            FROM ranked r JOIN _pl_alloc a ON a.cell = r.cell
              AND NOT r.a1_control AND r.r > a.lo AND r.r <= a.hi
            JOIN _pl_opt o ON o.sid = r.sid AND o.channel = a.channel
            UNION ALL
            -- A1 controls of the A1 customers the plan dispatched: every A1 control when every
            -- A1 customer went out; else (a budget or capacity stopped the seed's "every A1
            -- customer") a cell's controls when the cell went out whole, those ahead of where
            -- its allocation stopped in the same order when it was cut, none when it got
            -- nobody — so the two arms of a cell stay comparable; through the channel with the
            -- best expected value for that customer
            SELECT r.sid, r.branch_id, r.action, r.offer_id, b.channel, r.is_control,
                   b.ev AS expected_value, b.cost, r.must_a1
            FROM ranked r JOIN (
                -- a tie of value goes to the library's first channel, on every engine
                SELECT sid, arg_max(channel, (ev, -channel_idx)) AS channel, max(ev) AS ev,
                       arg_max(cost, (ev, -channel_idx)) AS cost
                FROM _pl_opt GROUP BY sid
            ) b USING (sid)
            LEFT JOIN a1_cut u ON u.cell = r.cell
            WHERE r.a1_control
              AND ((SELECT whole FROM a1_whole) OR u.all_in OR r.rank_value > u.cut_rv
                   OR (r.rank_value = u.cut_rv AND r.sid < u.cut_sid))
        ), trt AS (
            SELECT t.*,
                   k_cap <= l.cap AND k_quota <= l.quota AND spend <= l.budget + 1e-6
                       AND bspend <= l.bbudget + 1e-6 AS fits
            FROM (
                SELECT p.*,
                  row_number() OVER (PARTITION BY branch_id, channel
                                     ORDER BY must_a1 DESC, expected_value DESC, sid) AS k_cap,
                  row_number() OVER (PARTITION BY branch_id
                                     ORDER BY must_a1 DESC, expected_value DESC, sid) AS k_quota,
                  sum(cost) OVER (ORDER BY must_a1 DESC, expected_value DESC, sid
                                  ROWS UNBOUNDED PRECEDING) AS spend,
                  sum(cost) OVER (PARTITION BY branch_id
                                  ORDER BY must_a1 DESC, expected_value DESC, sid
                                  ROWS UNBOUNDED PRECEDING) AS bspend
                FROM picked p WHERE NOT is_control
            ) t JOIN _pl_limits l USING (branch_id, channel)
        ), cut AS (
            -- The kept treated rows of a branch × channel are a prefix of its order (every limit
            -- is a prefix of the same order); controls past the first trimmed row are trimmed
            -- too, so treated and control of a stratum are cut at the same place.
            SELECT branch_id, channel, must_a1 AS c_a1, expected_value AS c_ev, sid AS c_sid
            FROM trt WHERE NOT fits
            QUALIFY row_number() OVER (PARTITION BY branch_id, channel
                                       ORDER BY must_a1 DESC, expected_value DESC, sid) = 1
        ), chosen AS (
            SELECT {", ".join("p." + c for c in row.split(", "))}
            FROM picked p LEFT JOIN cut USING (branch_id, channel)
            WHERE p.is_control AND (cut.c_sid IS NULL OR p.must_a1::INT > cut.c_a1::INT
                  OR (p.must_a1 = cut.c_a1 AND (p.expected_value > cut.c_ev
                      OR (p.expected_value = cut.c_ev AND p.sid < cut.c_sid))))
            UNION ALL
            SELECT {row} FROM trt WHERE fits
        )"""
    if probe:  # the what-if sizes the control from counts, values and churn scores only
        run.create(
            "_pl_assign",
            f"""{lists}
            SELECT ch.sid, ch.is_control, ch.expected_value, ch.cost, p.p_churn
            FROM chosen ch JOIN {mx.primary} p ON p.sid = ch.sid""",
        )
        return _probe_result(con, month, spec, sol, run, timings, t0, t1), mx
    # the lists' staff (in turn per branch and channel) and the rules' notes for the reasons
    run.frame("_pl_staff_in", staff)
    run.create(
        "_pl_staff",
        "SELECT *, row_number() OVER "
        "(PARTITION BY branch_id, channel ORDER BY staff_id) - 1 AS k, count(*) OVER "
        "(PARTITION BY branch_id, channel) AS n FROM _pl_staff_in",
    )
    notes = [
        (r.key, r.note.en if r.note else r.key, r.note.zh if r.note else r.key)
        for r in library.rules
    ]
    run.frame("_pl_notes", pd.DataFrame(notes, columns=["rule_key", "note_en", "note_zh"]))
    run.create(
        "_pl_assign",
        f"""{lists}, withstaff AS (
            SELECT ch.*, row_number() OVER (PARTITION BY ch.branch_id, ch.channel, ch.is_control
                                            ORDER BY ch.expected_value DESC, ch.sid) - 1
                       AS q
            FROM chosen ch
        ), slotted AS (
            -- each row's turn among its branch × channel's staff, so that the staff join is on
            -- equal keys (a join on branch and channel alone, filtered by the turn, paired
            -- every row with each of its branch's agents first: 3.6 s of the 8 s this query
            -- took at 10 M lines)
            SELECT w.*, w.q % sn.n AS slot
            FROM withstaff w LEFT JOIN (SELECT DISTINCT branch_id, channel, n FROM _pl_staff) sn
              ON sn.branch_id = w.branch_id AND sn.channel = w.channel
        )
        SELECT {m} AS month, {sql_literal(ckey)} AS campaign_id, p.subscriber_id, p.customer_id,
               w.branch_id, w.action, w.offer_id, w.channel,
               st.staff_id,
               w.is_control, p.p_churn, w.expected_value, w.cost, w.sid,
               concat_ws('; ', nt.note_en, 'group ' || p.stability_group,
                         'P(churn) ' || CAST(round(p.p_churn * 100) AS INTEGER) || '%',
                         'expected value ¥' || CAST(round(w.expected_value) AS INTEGER),
                         CASE WHEN w.must_a1 THEN {sql_literal(A1_NOTE_EN)} END)
                   AS reason,
               concat_ws('；', nt.note_zh, '客户群 ' || p.stability_group,
                         '离网概率 ' || CAST(round(p.p_churn * 100) AS INTEGER) || '%',
                         '预期价值 ¥' || CAST(round(w.expected_value) AS INTEGER),
                         CASE WHEN w.must_a1 THEN 'A1捆绑预警客户全部出单' END) AS reason_zh,
               p.category, CAST(p.priority_rank AS INTEGER) AS priority_rank,
               p.uplift, p.uplift_source, w.must_a1 AS forced_a1
        FROM slotted w
        JOIN {mx.primary} p ON p.sid = w.sid
        LEFT JOIN _pl_notes nt ON nt.rule_key = p.rules
        LEFT JOIN _pl_staff st ON st.branch_id = w.branch_id AND st.channel = w.channel
             AND st.k = w.slot""",
    )
    # Why every other subscriber of the month is not on a list.
    detail = (
        "CAST(s.exclusion_reason AS VARCHAR)"
        if _has_col(con, "segments", "exclusion_reason")
        else "CAST(NULL AS VARCHAR)"
    )
    run.create(
        "_pl_not",
        f"""SELECT s.subscriber_id, s.branch_id, 'excluded' AS reason, {detail} AS detail
        FROM segments s WHERE s.month = {m} AND COALESCE(s.excluded, FALSE)
        UNION ALL
        SELECT b.subscriber_id, b.branch_id,
          CASE WHEN st.sid IS NOT NULL THEN
                    COALESCE(st.blocked,
                             CASE WHEN {_control_sql(spec, "st")} THEN 'control' END,
                             'over_capacity')
               WHEN hh.sid IS NOT NULL THEN 'household'
               ELSE 'no_strategy' END AS reason,
          CAST(NULL AS VARCHAR) AS detail
        FROM {mx.base} b
        LEFT JOIN _pl_assign a ON a.sid = b.sid AND NOT a.is_control
        LEFT JOIN _pl_status st ON st.sid = b.sid
        LEFT JOIN {mx.matched} hh ON hh.sid = b.sid
        WHERE a.sid IS NULL""",
    )
    # the rows the store keeps and the summary reads, from the Parquet the engine wrote
    _into_store(con, run, "_pl_assign", "_pl_not", "_pl_status")
    timings["lists"] = time.perf_counter() - t1 - timings["solve"]
    result = _summarize(con, month, spec, sol, problem, capacity, branches, channels)

    tasks_written = 0
    if not preview:
        # Dispatching writes two stores that cannot commit together: the version is stored
        # pending and becomes approved once the tasks commit (recover_pending settles a crash).
        dispatching = status == plans.PlanStatus.approved.value and campaign_row is not None
        stored = plans.PlanStatus.pending.value if dispatching else status
        result.status = status
        result.plan_version = _store_plan(con, month, spec, stored, result)
        if dispatching:
            version = result.plan_version

            def _confirm(_session: Session) -> None:
                plans.confirm(con, month=month, campaign=spec.key, version=version)

            event.listen(session, "after_commit", _confirm, once=True)
        # A dispatched plan's tasks go live; a draft's wait with its draft campaign (approval
        # shows them). A draft re-plan of a live campaign leaves the live tasks alone.
        live = campaign_row is not None and campaign_row.status in (
            CampaignStatus.approved.value,
            CampaignStatus.active.value,
        )
        if campaign_row is not None and (status == "approved" or not live):
            t2 = time.perf_counter()
            tasks_written = _write_tasks(
                con, session, campaign_row, month, echannel=spec.echannel_tasks
            )
            timings["tasks"] = time.perf_counter() - t2

    result.tasks_written = tasks_written
    result.explored = mx.explored
    result.uplift_sources = {
        str(k): int(n)
        for k, n in con.execute(
            "SELECT uplift_source, count(*) FROM _pl_assign WHERE NOT is_control GROUP BY 1 "
            "ORDER BY 1"
        ).fetchall()
    }
    result.control_share = float(spec.control_share)
    cut = any(r["stage"] == "over_capacity" and r["count"] > 0 for r in result.funnel)
    result.power = _power(con, spec, result.on_list, result.control, cut)
    result.seconds = {k: round(v, 3) for k, v in timings.items()}
    result.seconds["total"] = round(time.perf_counter() - t0, 3)
    return result, mx


def _share_free_tables(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: CampaignSpec,
    library: StrategyLibrary,
    session: Session | None,
    as_of: dt.datetime,
    run: Run,
    campaign_row: Any,
    mx: MatchResult,
) -> None:
    """The plan's tables that do not depend on the control share, on ``run``: the contact
    policy's suppression (``_pl_hist``, ``_pl_consent``, ``_pl_sup``), each line's allowed
    channels (``_pl_opt``) and its status (``_pl_status``: the campaign's A1 rule, what blocks
    the line — outside the campaign's target groups, suppressed, … — and the uniform draw
    :func:`_control_sql` compares with the share)."""
    target = conditions_sql(spec.target, "p.")
    if spec.max_priority_rank is not None:
        target += f" AND COALESCE(p.priority_rank, 999999) <= {int(spec.max_priority_rank)}"
    run.frame(
        "_pl_hist",
        contact_history(
            session, month, exclude_campaign_id=campaign_row.id if campaign_row else None
        ),
    )
    run.frame("_pl_consent", consent_frame(session))
    sup = suppression_sql(
        con, month, spec.policy, table=mx.primary, history="_pl_hist", as_of=as_of, base=mx.base
    )
    run.create("_pl_sup", sup)
    chans = ", ".join(sql_literal(c) for c in spec.channels)
    block = channel_block_sql(library, spec.policy, "_pl_consent")
    run.create(
        "_pl_opt",
        f"""SELECT o.* FROM {mx.options} o
        WHERE o.channel IN ({chans}) AND NOT {block}""",
    )
    glob = in_control_sql("p.subscriber_id", spec.holdout.salt, spec.holdout.share)
    must = f"(p.a = 'A1' AND {str(spec.must_dispatch_a1).upper()})"
    mv = float(spec.min_value)
    # only the columns the plan reads: at 10 M lines a copy of the whole match (29 columns of
    # 4 M households) cost seconds and memory the later steps then spilled for
    run.create(
        "_pl_status",
        f"""WITH ch AS (
            SELECT sid, count(*) AS n_channels,
                   count(*) FILTER (WHERE ev > {mv!r}) AS n_positive
            FROM _pl_opt GROUP BY sid
        )
        SELECT p.sid, p.subscriber_id, p.branch_id, p.action, p.offer_id, p.gross_value, p.clv,
               p.priority_rank, {must} AS must_a1,
               CASE WHEN NOT ({target}) THEN 'outside_campaign'
                    WHEN s.suppressed IS NOT NULL THEN s.suppressed
                    WHEN COALESCE(ch.n_channels, 0) = 0 THEN 'no_channel'
                    WHEN {glob} THEN 'global_holdout'
                    WHEN NOT {must} AND COALESCE(ch.n_positive, 0) = 0 THEN 'low_value'
               END AS blocked,
               {uniform_sql("p.subscriber_id", spec.control_salt)} AS u_control
        FROM {mx.primary} p JOIN _pl_sup s USING (subscriber_id)
        LEFT JOIN ch USING (sid)""",
    )


def _control_sql(spec: CampaignSpec, alias: str) -> str:
    """SQL: the line of ``_pl_status`` row ``alias`` is in ``spec``'s control group — its uniform
    draw (``u_control``, under the control salt) falls below the share. The only part of a
    line's status that depends on the share: the what-if and the plan share the rest."""
    return f"({alias}.u_control < {float(spec.control_share)!r})"


def _into_store(con: duckdb.DuckDBPyConnection, run: Run, *names: str) -> None:
    """Copy ``run``'s tables ``names`` into the store's temporary tables (a no-op on DuckDB,
    where they already are)."""
    if run.engine == "duckdb":
        return
    for name in names:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {run.relation(name)}")


def _totals(con: duckdb.DuckDBPyConnection) -> tuple:
    """Treated count, control count, expected value and cost of the treated in ``_pl_assign``."""
    return con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_control), count(*) FILTER (WHERE is_control), "
        "COALESCE(sum(expected_value) FILTER (WHERE NOT is_control), 0), "
        "COALESCE(sum(cost) FILTER (WHERE NOT is_control), 0) FROM _pl_assign"
    ).fetchall()[0]


def _probe_result(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: CampaignSpec,
    sol: allocate.Solution,
    run: Run,
    timings: dict[str, float],
    t0: float,
    t1: float,
) -> PlanResult:
    """The what-if's counts and power report from its lists (``_pl_assign``) and the lines'
    status (``_pl_status``): what :func:`_summarize` and the funnel would count, without the
    not-on-list reasons. A line the plan wanted (nothing blocked it, not a control) that no
    list took is over capacity, as in the funnel."""
    _into_store(con, run, "_pl_assign", "_pl_status")
    timings["lists"] = time.perf_counter() - t1 - timings["solve"]
    treated, control, value, cost = _totals(con)
    over = con.execute(
        f"""SELECT count(*) FROM _pl_status st
            ANTI JOIN (SELECT sid FROM _pl_assign WHERE NOT is_control) a USING (sid)
            WHERE st.blocked IS NULL AND NOT {_control_sql(spec, "st")}"""
    ).fetchall()[0][0]
    result = PlanResult(
        month=format_month(month),
        campaign=spec.key,
        solver=sol.method,
        subscribers=0,
        on_list=int(treated),
        control=int(control),
        expected_value=round(float(value), 2),
        cost=round(float(cost), 2),
        budget=spec.budget,
        infeasible=False,
        message="",
        control_share=float(spec.control_share),
    )
    result.power = _power(con, spec, result.on_list, result.control, int(over) > 0)
    result.seconds = {k: round(v, 3) for k, v in timings.items()}
    result.seconds["total"] = round(time.perf_counter() - t0, 3)
    return result


def _power(
    con: duckdb.DuckDBPyConnection, spec: CampaignSpec, treated: int, control: int, cut: bool
) -> dict[str, Any]:
    """The power report of the plan in ``_pl_assign`` (``treated`` and ``control`` on it;
    ``cut``: a limit left customers the plan wanted off the lists)."""
    sizing = spec.control_sizing
    churn_rate, ev_mean = con.execute(
        # exact averages: the same report whatever order the lists' rows come in
        f"SELECT COALESCE({exact_avg('p_churn')}, 0), "
        f"COALESCE({exact_avg('expected_value', where='NOT is_control')}, 0) FROM _pl_assign"
    ).fetchall()[0]
    return size_control(
        treated=treated,
        control=control,
        share=float(spec.control_share),
        churn_rate=float(churn_rate),
        value_per_customer=float(ev_mean),
        capacity_bound=cut,
        half_width=sizing.half_width,
        level=sizing.level,
        min_share=sizing.min_share,
        max_share=sizing.max_share,
        step=sizing.step,
    ).to_dict()


def _store_plan(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: CampaignSpec,
    status: str,
    result: PlanResult,
) -> int:
    """Store the planned temp tables as a new plan version (one transaction); its number."""
    version = plans.next_version(con, month, spec.key)
    m, ckey = sql_literal(month), sql_literal(spec.key)
    con.execute("BEGIN TRANSACTION")
    try:
        # only a draft of the same number is ever replaced (next_version never reuses another)
        for table in ("plan_assignments", "plan_not_on_list"):
            con.execute(
                f"DELETE FROM {table} WHERE month = {m} AND campaign_id = {ckey} "
                f"AND plan_version = {version}"
            )
        con.execute(
            "INSERT INTO plan_assignments BY NAME "
            f"SELECT * EXCLUDE (sid), {version} AS plan_version FROM _pl_assign"
        )
        con.execute(
            f"INSERT INTO plan_not_on_list BY NAME SELECT {m} AS month, {ckey} AS campaign_id, "
            f"subscriber_id, branch_id, reason, detail, {version} AS plan_version FROM _pl_not"
        )
        plans.record(
            con,
            month=month,
            campaign=spec.key,
            version=version,
            status=status,
            on_list=result.on_list,
            control=result.control,
            expected_value=result.expected_value,
            cost=result.cost,
            control_share=spec.control_share,
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return version


def _has_col(con: duckdb.DuckDBPyConnection, table: str, col: str) -> bool:
    return col in {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}


def _write_tasks(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    campaign: Campaign,
    month: dt.date,
    *,
    echannel: bool,
) -> int:
    session.execute(
        delete(Task).where(
            Task.campaign_id == campaign.id,
            Task.month == month,
            Task.status == TaskStatus.open.value,
        )
    )
    kept = {
        r[0]
        for r in session.execute(
            select(Task.subscriber_id).where(Task.campaign_id == campaign.id, Task.month == month)
        ).all()
    }
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = con.sql(
        f"""SELECT {int(campaign.id)} AS campaign_id, $month::DATE AS month, subscriber_id,
                  customer_id, branch_id, channel, staff_id, action, offer_id, category,
                  priority_rank, p_churn, expected_value, cost, reason, reason_zh,
                  'open' AS status, $now::TIMESTAMP AS created_at, $now::TIMESTAMP AS updated_at
           FROM _pl_assign WHERE NOT is_control {"" if echannel else "AND staff_id IS NOT NULL"}
           ORDER BY branch_id, channel, staff_id""",
        params={"month": month, "now": now},
    ).to_arrow_table()
    if kept:
        rows = rows.filter(pc.invert(pc.is_in(rows["subscriber_id"], pa.array(sorted(kept)))))
    # COPY on PostgreSQL, executemany on SQLite (the ORM path is ~10x slower at 10^5 rows).
    return insert_arrow(session, "tasks", rows)


def shadow_text(
    resource: str,
    branch: str | None,
    channel: str | None,
    per_unit: float,
    spec: CampaignSpec,
    locale: str,
) -> tuple[float, str]:
    """Phrase a shadow price ("one more agent-day in branch X is worth ¥Y") in ``locale``."""
    zh = locale.lower().startswith("zh")
    if resource == "capacity" and channel in STAFF_PER_DAY:
        per_day = getattr(spec.capacity, STAFF_PER_DAY[channel])
        worth = per_unit * per_day
        unit_en, unit_zh = STAFF_WORD[channel]
        if zh:
            return worth, f"{branch} 每增加一个{unit_zh}，预期价值增加 ¥{worth:,.0f}"
        return worth, f"One more {unit_en} in branch {branch} is worth ¥{worth:,.0f}"
    if resource == "capacity":
        if zh:
            return per_unit, f"{branch} 的{channel}渠道每多一次接触，价值 ¥{per_unit:,.2f}"
        return per_unit, f"One more {channel} contact in branch {branch} is worth ¥{per_unit:,.2f}"
    if resource == "budget":
        worth = per_unit * 1000
        if zh:
            return worth, f"预算每增加 ¥1,000，预期价值增加 ¥{worth:,.0f}"
        return worth, f"¥1,000 more budget is worth ¥{worth:,.0f}"
    if resource == "branch_budget":
        worth = per_unit * 1000
        if zh:
            return worth, f"{branch} 预算每增加 ¥1,000，预期价值增加 ¥{worth:,.0f}"
        return worth, f"¥1,000 more budget in branch {branch} is worth ¥{worth:,.0f}"
    if zh:
        return per_unit, f"{branch} 名单配额每多一名客户，价值 ¥{per_unit:,.2f}"
    return per_unit, f"One more customer in branch {branch}'s quota is worth ¥{per_unit:,.2f}"


def _summarize(con, month, spec, sol, problem, capacity, branches, channels) -> PlanResult:
    tot = _totals(con)
    subs = con.execute(
        f"SELECT count(*) FROM segments WHERE month = {sql_literal(month)}"
    ).fetchall()[0][0]
    by_branch = con.execute(
        """SELECT branch_id, count(*) AS on_list, round(sum(expected_value), 2) AS expected_value,
                  round(sum(cost), 2) AS cost
           FROM _pl_assign WHERE NOT is_control GROUP BY branch_id ORDER BY branch_id"""
    ).df()
    by_channel = con.execute(
        """SELECT branch_id, channel, count(*) AS on_list FROM _pl_assign WHERE NOT is_control
           GROUP BY ALL ORDER BY ALL"""
    ).df()
    used = {(r.branch_id, r.channel): int(r.on_list) for r in by_channel.itertuples()}
    cap_rows = []
    for bi, b in enumerate(branches):
        for ci, ch in enumerate(channels):
            c = capacity[bi, ci]
            cap_rows.append(
                {
                    "branch_id": b,
                    "channel": ch,
                    "capacity": None if math.isinf(c) else int(c),
                    "used": used.get((b, ch), 0),
                }
            )
    shadows = []
    for s in sorted(sol.shadow, key=lambda s: -s.per_unit):
        worth_en, text_en = shadow_text(s.resource, s.branch, s.channel, s.per_unit, spec, "en")
        _, text_zh = shadow_text(s.resource, s.branch, s.channel, s.per_unit, spec, "zh-CN")
        shadows.append(
            {
                "resource": s.resource,
                "branch_id": s.branch,
                "channel": s.channel,
                "per_unit": round(s.per_unit, 4),
                "worth": round(worth_en, 2),
                "text_en": text_en,
                "text_zh": text_zh,
            }
        )
    # A1 coverage among the treated (controls are held back by design, never "missing").
    a1 = con.execute(
        f"""SELECT s.branch_id, count(*) AS required, count(a.subscriber_id) AS dispatched
            FROM _pl_status s
            LEFT JOIN _pl_assign a ON a.subscriber_id = s.subscriber_id AND NOT a.is_control
            WHERE s.must_a1 AND s.blocked IS NULL AND NOT {_control_sql(spec, "s")}
            GROUP BY s.branch_id ORDER BY s.branch_id"""
    ).df()
    neg = con.execute(
        """SELECT count(*), COALESCE(sum(a.expected_value), 0) FROM _pl_assign a
           JOIN _pl_status s ON s.sid = a.sid
           WHERE s.must_a1 AND NOT a.is_control AND a.expected_value < 0"""
    ).fetchall()[0]
    short = a1[a1["dispatched"] < a1["required"]]
    message = ""
    if len(short):
        parts = [f"{r.branch_id} {r.dispatched}/{r.required}" for r in short.itertuples()]
        message = "A1 binding-warning customers dispatched (of required) — " + ", ".join(parts)
        if "; binding: " in sol.message:
            message += "; binding: " + sol.message.split("; binding: ", 1)[1]
    return PlanResult(
        month=format_month(month),
        campaign=spec.key,
        solver=sol.method,
        subscribers=int(subs),
        on_list=int(tot[0]),
        control=int(tot[1]),
        expected_value=round(float(tot[2]), 2),
        cost=round(float(tot[3]), 2),
        budget=spec.budget,
        infeasible=not short.empty,
        message=message,
        funnel=_funnel(con, month),
        shadow_prices=shadows,
        by_branch=json.loads(by_branch.to_json(orient="records")),
        by_channel=json.loads(by_channel.to_json(orient="records")),
        capacity=cap_rows,
        a1_required=int(a1["required"].sum()),
        a1_dispatched=int(a1["dispatched"].sum()),
        a1_negative_ev=int(neg[0]),
        a1_negative_ev_value=round(float(neg[1]), 2),
    )


# --------------------------------------------------------------------------- outcomes & lists


def record_outcome(
    *,
    session: Session,
    task_id: int,
    result: str,
    refusal_reason: str | None = None,
    callback_at: dt.datetime | None = None,
    note: str | None = None,
    source: str = "web",
    idempotency_key: str | None = None,
    recorded_by: str | None = None,
    at: dt.datetime | None = None,
    credit_staff: str | None = None,
) -> Outcome:
    """Record an outcome, log the contact (cap / cool-down) and close the task unless call-back.

    Only an open task takes an outcome, and only one at a time: the task row is updated
    against the version it was checked on, so of two concurrent outcomes one lands and the
    other raises ConflictError (as does an outcome on a closed task, on a call-back that is
    not due yet, or on a task someone else holds a live claim on). A repeated
    ``idempotency_key`` returns the first outcome, also when the repeat raced the first.
    A call-back keeps the task open and out of the queue until ``callback_at``.
    ``credit_staff`` assigns a pooled task to the person who worked it.
    """
    try:
        res = OutcomeResult(result)
    except ValueError:
        raise ConfigError(
            "unknown outcome {result!r}: use one of {values}",
            result=result,
            values=[r.value for r in OutcomeResult],
        ) from None
    if res is OutcomeResult.call_back and callback_at is None:
        raise ConfigError("a call back needs its time (callback_at, e.g. 2026-01-31 15:00)")
    stmt = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    task = session.execute(stmt).scalar_one_or_none()
    if task is None:
        raise NotFoundError("task {task} does not exist", task=task_id)
    # The key is looked up after the task is read: an outcome committed with the task's
    # change is then always seen here, even if it landed between the two reads.
    if idempotency_key:
        prior = _outcome_by_key(session, idempotency_key, task_id)
        if prior is not None:
            return prior
    when = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _check_open(task, recorded_by, when)
    values: dict[str, Any] = dict(
        version=task.version + 1,
        claimed_by=None,
        claim_token=None,
        claimed_until=None,
        updated_at=when,
    )
    if res is OutcomeResult.call_back:
        values["callback_at"] = callback_at
    else:
        values.update(status=TaskStatus.done.value, callback_at=None)
    if credit_staff and task.staff_id is None:
        values["staff_id"] = credit_staff
    out = Outcome(
        task_id=task.id,
        result=res.value,
        refusal_reason=refusal_reason,
        callback_at=callback_at,
        note=note,
        source=source,
        idempotency_key=idempotency_key,
        recorded_by=recorded_by,
        recorded_at=when,
    )
    # 1. The task row first: a row lock on PostgreSQL, SQLite's writer lock, and a version
    #    check, so exactly one of several concurrent outcomes moves it.
    moved = session.execute(
        update(Task)
        .where(
            Task.id == task.id,
            Task.version == task.version,
            Task.status == TaskStatus.open.value,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        # Another outcome landed first (it may be this key's first attempt): answer it.
        prior = _outcome_by_key(session, idempotency_key, task_id) if idempotency_key else None
        if prior is not None:
            return prior
        _check_open(session.execute(stmt).scalar_one(), recorded_by, when)
        raise ConflictError(
            "task {task} changed while the outcome was recorded; reload it", task=task_id
        )
    # 2. The outcome and the contact, in a savepoint: a key committed meanwhile by a
    #    concurrent request (for another task, since this one was ours) is a clean conflict.
    try:
        with session.begin_nested():
            session.add(out)
            if res is not OutcomeResult.already_churned:
                session.add(
                    ContactLog(
                        subscriber_id=task.subscriber_id,
                        customer_id=task.customer_id,
                        campaign_id=task.campaign_id,
                        task_id=task.id,
                        channel=task.channel,
                        result=res.value,
                        contacted_at=when,
                    )
                )
    except IntegrityError:
        prior = _outcome_by_key(session, idempotency_key, task_id) if idempotency_key else None
        if prior is None:
            raise
        return prior
    session.refresh(task)
    return out


def get_outcome_by_key(*, session: Session, key: str) -> Outcome | None:
    """Return the outcome recorded under idempotency ``key`` or None."""
    return session.execute(
        select(Outcome)
        .where(Outcome.idempotency_key == key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _outcome_by_key(session: Session, key: str, task_id: int) -> Outcome | None:
    prior = get_outcome_by_key(session=session, key=key)
    if prior is not None and prior.task_id != task_id:
        raise ConflictError(
            "idempotency key {key} was already used for task {first}, not task {task}: "
            "use a new key for each outcome",
            key=repr(key),
            first=prior.task_id,
            task=task_id,
        )
    return prior


def _check_open(task: Task, recorded_by: str | None, now: dt.datetime) -> None:
    """Raise ConflictError unless ``task`` may take an outcome from ``recorded_by`` now."""
    if task.status != TaskStatus.open.value:
        raise ConflictError(
            "task {task} is already {status}: it takes no further outcome",
            task=task.id,
            status=task.status + (f" ({task.drop_reason})" if task.drop_reason else ""),
        )
    if task.callback_at is not None and task.callback_at > now:
        raise ConflictError(
            "task {task} waits for its call back at {time} UTC; it returns to the queue then",
            task=task.id,
            time=f"{task.callback_at:%Y-%m-%d %H:%M}",
        )
    if (
        task.claimed_until is not None
        and task.claimed_until >= now
        and task.claimed_by != recorded_by
    ):
        raise ConflictError(
            "task {task} is being worked by {user} until {time} UTC",
            task=task.id,
            user=task.claimed_by,
            time=f"{task.claimed_until:%H:%M}",
        )


def update_lists(
    *, con: duckdb.DuckDBPyConnection, session: Session, month: dt.date
) -> dict[str, int]:
    """Drop open tasks of customers who churned, converted or became excluded by ``month``.

    churned: absent from the ``month`` snapshot/segments or cancelled/cancelling; converted: an
    accepted outcome on another task this month, or the binding warning resolved (segment A1/A2
    → A3); excluded: ``segments.excluded`` in ``month``. Returns counts per drop reason.
    """
    m = sql_literal(month)
    if con.execute(f"SELECT count(*) FROM segments WHERE month = {m}").fetchall()[0][0] == 0:
        raise NotFoundError(
            "no segments for {month}: segment the month first", month=format_month(month)
        )
    rows = session.execute(
        select(Task.id, Task.subscriber_id, Task.month).where(
            Task.status == TaskStatus.open.value, Task.month <= month
        )
    ).all()
    if not rows:
        return {"open": 0, "churned": 0, "converted": 0, "excluded": 0}
    accepted = session.execute(
        select(Task.subscriber_id)
        .join(Outcome, Outcome.task_id == Task.id)
        .where(Outcome.result == OutcomeResult.accepted.value)
    ).all()
    con.register("_lu_tasks", pd.DataFrame(rows, columns=["task_id", "subscriber_id", "month"]))
    con.register("_lu_acc", pd.DataFrame(accepted, columns=["subscriber_id"]).drop_duplicates())
    # the month's snapshot decides who is gone; without it (segments from elsewhere), segments
    has_snap = bool(
        con.execute(f"SELECT count(*) FROM snapshot WHERE month = {m}").fetchall()[0][0]
    )
    status_join = (
        f"LEFT JOIN snapshot n ON n.month = {m} AND n.subscriber_id = t.subscriber_id"
        if has_snap
        else ""
    )
    gone = (
        "n.subscriber_id IS NULL OR n.status IN ('cancelled', 'cancelling')"
        if has_snap
        else ("s.subscriber_id IS NULL")
    )
    prev = "LEFT JOIN segments ps ON ps.month = t.month AND ps.subscriber_id = t.subscriber_id"
    drops = con.execute(
        f"""SELECT t.task_id,
              CASE WHEN {gone} THEN 'churned'
                   WHEN acc.subscriber_id IS NOT NULL
                        OR (ps.a IN ('A1', 'A2') AND s.a = 'A3') THEN 'converted'
                   WHEN COALESCE(s.excluded, FALSE) THEN 'excluded'
              END AS why
            FROM _lu_tasks t
            LEFT JOIN segments s ON s.month = {m} AND s.subscriber_id = t.subscriber_id
            {status_join} {prev}
            LEFT JOIN _lu_acc acc ON acc.subscriber_id = t.subscriber_id"""
    ).df()
    con.unregister("_lu_tasks")
    con.unregister("_lu_acc")
    drops = drops[drops["why"].notna()]
    counts = {"open": len(rows), "churned": 0, "converted": 0, "excluded": 0}
    for why, grp in drops.groupby("why"):
        ids = [int(i) for i in grp["task_id"]]
        counts[str(why)] = len(ids)
        for i in range(0, len(ids), 5000):
            session.execute(
                update(Task)
                .where(Task.id.in_(ids[i : i + 5000]))
                .values(status=TaskStatus.dropped.value, drop_reason=str(why))
            )
    session.flush()
    return counts


def funnel_text(stage: str, locale: str | None = None) -> str:
    """Human label of a funnel stage."""
    return t(FUNNEL_TEXT.get(stage, stage), locale)
