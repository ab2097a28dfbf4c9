"""The monthly job: cross-domain orchestration in one place (ingest → segment → churn → plan).

Domains never call each other's services; this module does, in the loop's order. The CLI's
``weixi run`` and ``weixi demo`` are thin doors onto it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from weixi.dispatch.plans import executed_months, executed_sql
from weixi.store.analytics import table_exists
from weixi.store.months import add_months, format_month, loaded_months

if TYPE_CHECKING:
    from weixi.strategy.schemas import StrategyLibrary

Step = Callable[[str], None]

# Probability that a worked customer is actually reached, per channel (demo execution only).
DEMO_CONTACT_RATES = {
    "account_manager": 0.85,
    "call_center": 0.62,
    "store": 0.35,
    "sms": 0.95,
    "app": 0.55,
}


@dataclass
class MonthReport:
    """What the monthly job did for one month."""

    month: str
    steps: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"month": self.month, "steps": self.steps, "seconds": self.seconds}


def _timed(report: MonthReport, name: str, func: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = func()
    report.seconds[name] = round(time.perf_counter() - start, 2)
    return out


def run_month(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    month: dt.date,
    preset: str = "seed",
    engine: str = "duckdb",
    campaign=None,
    library=None,
    train: bool = True,
    plan: bool = True,
    on_step: Step | None = None,
    locale: str | None = None,
) -> MonthReport:
    """Run the loop for a loaded month: evaluate and adjust last month, segment, churn, learn, plan.

    The closed loop: last month's campaign is evaluated against its randomized control, the
    plan adjustment (Thompson sampling over segment × action) writes this month's action shares
    and its "what changed and why" report, and — once the campaign's ``learning`` thresholds
    hold — the uplift model is trained on every evaluated month and scores this month's lines,
    so the plan uses learned effects instead of configured ones. Steps whose inputs are missing
    are skipped and reported (e.g. no churn model before a month with labels exists).
    """
    from weixi.churn import registry as churn_registry
    from weixi.churn import service as churn_service
    from weixi.dispatch.schemas import default_campaign
    from weixi.dispatch.service import plan_month
    from weixi.evaluate import service as evaluate_service
    from weixi.i18n import current_locale
    from weixi.segment.service import segment_month
    from weixi.strategy.library import load_library

    say = on_step or (lambda _msg: None)
    report = MonthReport(month=format_month(month))
    prev = add_months(month, -1)
    spec = campaign or default_campaign(month)
    lib = library or load_library(None)
    loc = locale or current_locale()
    evaluated = False

    if prev in executed_months(con):
        say(f"evaluate {format_month(prev)}")
        sync_contact_outcomes(con=con, session=session, month=prev, library=lib)
        ev = _timed(
            report,
            "evaluate",
            lambda: evaluate_service.evaluate_month(con=con, month=prev, rebuild=True),
        )
        report.steps["evaluate"] = _summary(ev)
        evaluated = True
    if evaluated and spec.learning.enabled:
        say(f"adjust plan {format_month(prev)} → {report.month}")
        report.steps["adjust"] = _timed(
            report, "adjust", lambda: _adjust(con=con, month=prev, spec=spec, lib=lib, locale=loc)
        )

    say(f"segment {report.month}")
    seg = _timed(report, "segment", lambda: segment_month(con, month, preset=preset, engine=engine))
    report.steps["segment"] = _summary(seg)

    if train and prev in loaded_months(con):
        # Trained "as of" this month: labels of every earlier month whose outcome is known now.
        # The new model is a challenger: it replaces the champion only if the promotion rule
        # (churn params, `promotion`) finds it better on the latest out-of-time month.
        say(f"churn train as of {report.month}")
        trained = _timed(
            report,
            "churn_train",
            lambda: churn_service.train(
                con=con, month=month, promote="challenger", actor="monthly job"
            ),
        )
        report.steps["churn_train"] = _summary(trained)
    if churn_registry.get_active(con) is not None:
        say(f"churn score {report.month}")
        scored = _timed(report, "churn_score", lambda: churn_service.score(con=con, month=month))
        report.steps["churn_score"] = _summary(scored)
        if plan:
            say(f"learn uplift for {report.month}")
            report.steps["uplift"] = _timed(
                report,
                "uplift",
                lambda: learn_uplift(con=con, month=month, learning=spec.learning, library=lib),
            )
            say(f"plan {report.month}")
            result = _timed(
                report,
                "plan",
                lambda: plan_month(con=con, month=month, spec=spec, library=lib, session=session),
            )
            report.steps["plan"] = result.to_dict()
    else:
        report.steps["churn_score"] = "skipped: no churn model yet (needs a month with labels)"
    return report


def _adjust(*, con: duckdb.DuckDBPyConnection, month: dt.date, spec, lib, locale: str) -> dict:
    """Plan adjustment of ``month`` (writes next month's shares); the step's report."""
    from weixi.evaluate.service import adjust_plan

    lrn = spec.learning
    out = adjust_plan(
        con=con,
        month=month,
        prior_uplift={a.key: a.uplift for a in lib.actions},
        channel_effect={c.key: c.effect for c in lib.channels},
        prior_strength=lrn.prior_strength,
        uplift_range=(lrn.uplift_min, lrn.uplift_max),
        clv_months=lib.value.clv_months,
        holdout_share=spec.control_share,
        explore_share=lrn.explore_share if lrn.explore else 0.0,
        locale=locale,
        seed=month.year * 100 + month.month,
    )
    return {
        "next_month": out["next_month"],
        "segments": len({r["segment"] for r in out["shares"]}),
        "cells": len(out["shares"]),
        "report": out["report"],
    }


def learn_uplift(
    *, con: duckdb.DuckDBPyConnection, month: dt.date, learning, library
) -> dict[str, Any]:
    """Train the uplift model on every evaluated month before ``month`` and score ``month``.

    Runs only when the evidence meets ``learning``'s thresholds (campaign spec); otherwise
    ``month``'s rows of the ``uplift`` table are removed so the configured effects stay in
    force, and the step says why. Actions with fewer than ``min_treated_per_action`` treated
    customers keep their configured effect (no rows for them).

    Returns:
        The step's report: ``status`` ("trained" or "skipped: <reason>"), the evidence, the
        thresholds and, when trained, the model version, its Qini and the mean learned uplift
        per action next to the configured one.
    """
    from weixi.errors import ModelError
    from weixi.evaluate import service as evaluate_service
    from weixi.evaluate.uplift import UpliftParams

    lrn = learning
    thresholds = {
        "min_months": lrn.min_months,
        "min_treated": lrn.min_treated,
        "min_control": lrn.min_control,
        "min_churners": lrn.min_churners,
        "min_treated_per_action": lrn.min_treated_per_action,
        "min_control_per_action": lrn.min_control_per_action,
    }
    months = evaluate_service.evaluated_months(con=con, up_to=add_months(month, -1))
    ev = evaluate_service.learning_evidence(con=con, months=months)
    out: dict[str, Any] = {
        "evidence": {k: v for k, v in ev.items() if not k.endswith("_by_action")},
        "thresholds": thresholds,
    }

    def skipped(reason: str) -> dict[str, Any]:
        if table_exists(con, "uplift"):
            con.execute("DELETE FROM uplift WHERE month = ?", [month])
        return {"status": f"skipped: {reason}", **out}

    if not lrn.enabled:
        return skipped("learning is disabled in the campaign (learning.enabled)")
    short = [
        f"{have} {what} < {need}"
        for have, what, need in (
            (ev["months"], "evaluated months", lrn.min_months),
            (ev["treated"], "treated customers", lrn.min_treated),
            (ev["control"], "control customers", lrn.min_control),
            (ev["churners"], "churners", lrn.min_churners),
        )
        if have < need
    ]
    if short:
        return skipped("not enough evidence yet (" + ", ".join(short) + ")")
    # an action learns against its own randomized controls, so it needs enough of both
    enough = [
        a
        for a, n in ev["treated_by_action"].items()
        if n >= lrn.min_treated_per_action
        and ev["control_by_action"].get(a, 0) >= lrn.min_control_per_action
    ]
    if not enough:
        return skipped(
            f"no action has {lrn.min_treated_per_action} treated customers and "
            f"{lrn.min_control_per_action} of its own controls yet"
        )
    test_share = 0.25
    params = UpliftParams(
        learner=lrn.learner,
        min_arm_size=max(20, int(lrn.min_treated_per_action * (1 - test_share))),
        min_control_arm=max(15, int(lrn.min_control_per_action * (1 - test_share))),
        min_child_samples=50,
    )
    try:
        meta = evaluate_service.train_uplift(
            con=con, months=months, params=params, test_share=test_share
        )
    except ModelError as exc:
        return skipped(str(exc))
    found = evaluate_service.get_uplift_model(meta["version"])
    assert found is not None  # just written
    model = found[0]
    effect = evaluate_service.mean_channel_effect(
        con=con, months=months, channel_effect={c.key: c.effect for c in library.channels}
    )
    fallback = sorted(a for a in ev["treated_by_action"] if a not in enough)
    scored = evaluate_service.score_uplift(
        con=con,
        month=month,
        model=model,
        version=meta["version"],
        action_line_types={a.key: a.line_type for a in library.actions},
        mean_effect=dict(zip(effect["action"], effect["effect"], strict=True)),
        skip_actions=fallback,
        uplift_range=(lrn.uplift_min, lrn.uplift_max),
        p_churn_floor=lrn.p_churn_floor,
        prior_uplift={a.key: a.uplift for a in library.actions},
        n_treated=ev["treated_by_action"],
        shrink_treated=lrn.shrink_treated,
    )
    configured = {a.key: a.uplift for a in library.actions}
    return {
        "status": "trained",
        "version": meta["version"],
        "months": meta["months"],
        "qini": meta.get("qini"),
        "rows": scored["rows"],
        "lines": scored["lines"],
        "learned": {
            a: {
                "learned": v,
                "configured": configured.get(a),
                "weight": scored["weights"].get(a),
            }
            for a, v in scored["actions"].items()
        },
        "configured_only": sorted(set(configured) - set(scored["actions"])),
        **out,
    }


def _summary(obj: Any) -> Any:
    """The scalar fields of a step's result (dataclass ``to_dict`` or pydantic model)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    elif hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        keep = {}
        for k, v in obj.items():
            if isinstance(v, int | float | str | bool) or v is None:
                keep[k] = v
            elif isinstance(v, dt.date):
                keep[k] = v.isoformat()
        return keep
    return str(obj)


def sync_contact_outcomes(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    month: dt.date,
    library: StrategyLibrary | None = None,
) -> int:
    """Copy ``month``'s execution record (operational DB) into DuckDB ``contact_outcomes``.

    One row per treated customer of ``month``'s executed plans (approved or closed versions;
    campaign × subscriber): attempts (every recorded outcome but ``already_churned``),
    contacted (reached at least once), accepted, the channel's contact cost and the offer's
    cost from the strategy ``library`` (default: the configured one) and
    ``actual_cost = contact_cost × attempts + offer_cost × accepted``.
    A customer whose task has no outcome was never attempted (cost 0); a month without any
    task writes nothing (its actual cost stays unknown). SMS/app customers sent
    through the gateway batch without a task (``echannel_tasks`` off) count one send each;
    whether they were reached or accepted is unknown there (NULL), so no offer cost is booked.
    Bulk: one aggregate query on the operational DB, one insert in DuckDB. Returns the rows.
    """
    import pandas as pd
    from sqlalchemy import case, func

    from weixi.dispatch.models import Campaign, Outcome, OutcomeResult, Task
    from weixi.evaluate.outcomes import ensure_contacts_table
    from weixi.strategy.library import load_library

    lib = library or load_library(None)
    res = Outcome.result
    reached = [OutcomeResult(r).value for r in ("accepted", "refused", "call_back")]
    tasks = session.execute(
        select(
            Campaign.key,
            Task.subscriber_id,
            Task.channel,
            Task.offer_id,
            func.count(Outcome.id)
            - func.count(case((res == OutcomeResult.already_churned.value, 1))),
            func.count(case((res.in_(reached), 1))),
            func.count(case((res == OutcomeResult.accepted.value, 1))),
        )
        .join(Campaign, Campaign.id == Task.campaign_id)
        .outerjoin(Outcome, Outcome.task_id == Task.id)
        .where(Task.month == month)
        .group_by(Task.id, Campaign.key)
    ).all()
    names = ["campaign_id", "subscriber_id", "channel", "offer_id"]
    names += ["attempts", "reached", "accepted"]  # the aggregates, in the SELECT's order
    # columns via zip (C speed): a DataFrame built from 10^5 Row objects takes seconds
    columns = list(zip(*tasks, strict=True)) if tasks else [()] * len(names)
    frame = pd.DataFrame(dict(zip(names, columns, strict=True))).astype(
        {"attempts": "int64", "reached": "int64", "accepted": "int64"}
    )
    channels = pd.DataFrame(
        [(c.key, c.contact_cost) for c in lib.channels], columns=["channel", "contact_cost"]
    )
    offers = pd.DataFrame(
        [(o.key, o.unit_cost) for _e, _p, o in lib.offers()], columns=["offer_id", "offer_cost"]
    )
    ensure_contacts_table(con)
    con.execute("DELETE FROM contact_outcomes WHERE month = ?", [month])
    if not tasks or not table_exists(con, "plans"):
        return 0  # no task of the month: execution is not recorded here (actual cost unknown)
    for name, df in (("_co_tasks", frame), ("_co_channels", channels), ("_co_offers", offers)):
        con.register(name, df)
    try:
        con.execute(
            f"""
            INSERT INTO contact_outcomes BY NAME
            WITH plan AS (
                SELECT CAST(campaign_id AS VARCHAR) AS campaign_id, subscriber_id,
                       any_value(channel) AS channel, any_value(offer_id) AS offer_id,
                       bool_and(staff_id IS NULL) AS batch
                FROM ({executed_sql("$m")}) WHERE NOT is_control
                GROUP BY 1, 2
            ), task AS (
                SELECT campaign_id, subscriber_id, any_value(channel) AS channel,
                       any_value(offer_id) AS offer_id, sum(attempts) AS attempts,
                       sum(reached) > 0 AS contacted, sum(accepted) > 0 AS accepted
                FROM _co_tasks GROUP BY 1, 2
            ), ex AS (
                SELECT p.campaign_id, p.subscriber_id,
                       COALESCE(t.channel, p.channel) AS channel,
                       COALESCE(t.offer_id, p.offer_id) AS offer_id,
                       CASE WHEN t.subscriber_id IS NOT NULL THEN t.attempts
                            WHEN p.batch THEN 1 ELSE 0 END AS attempts,
                       CASE WHEN t.subscriber_id IS NOT NULL THEN t.contacted
                            WHEN NOT p.batch THEN FALSE END AS contacted,
                       CASE WHEN t.subscriber_id IS NOT NULL THEN t.accepted
                            WHEN NOT p.batch THEN FALSE END AS accepted
                FROM plan p
                LEFT JOIN task t USING (campaign_id, subscriber_id)
            )
            SELECT $m AS month, ex.*, ch.contact_cost, o.offer_cost,
                   CASE WHEN ex.attempts > 0 THEN ex.attempts * ch.contact_cost ELSE 0.0 END
                   + CASE WHEN ex.accepted THEN o.offer_cost ELSE 0.0 END AS actual_cost
            FROM ex
            LEFT JOIN _co_channels ch USING (channel)
            LEFT JOIN _co_offers o USING (offer_id)
            """,
            {"m": month},
        )
    finally:
        for name in ("_co_tasks", "_co_channels", "_co_offers"):
            con.unregister(name)
    return int(
        con.execute("SELECT count(*) FROM contact_outcomes WHERE month = ?", [month]).fetchone()[0]
    )


def execute_with_hidden_responses(
    *,
    session: Session,
    month: dt.date,
    responses: pa.Table,
    seed: int,
    share_worked: float = 1.0,
) -> pa.Table:
    """Simulate front-line work on ``month``'s open tasks from the synthetic operator's truth.

    Each task is worked with probability ``share_worked``; a worked customer is reached with
    the channel's contact rate and accepts with the hidden ``p_accept`` of the planned action.
    Outcomes are written in bulk (as a dialer file import would) and the accepted actions are
    returned as ``(subscriber_id, action, accepted)`` for ``SyntheticOperator.advance``.
    """
    from weixi.dispatch.models import ContactLog, Outcome, Task, TaskStatus

    tasks = session.execute(
        select(
            Task.id,
            Task.subscriber_id,
            Task.customer_id,
            Task.campaign_id,
            Task.channel,
            Task.action,
        )
        .where(Task.month == month, Task.status == TaskStatus.open.value)
        # the random draws follow the subscribers, not the order the lists were written in
        .order_by(Task.campaign_id, Task.subscriber_id)
    ).all()
    empty = pa.table(
        {
            "subscriber_id": pa.array([], pa.string()),
            "action": pa.array([], pa.string()),
            "accepted": pa.array([], pa.bool_()),
        }
    )
    if not tasks:
        return empty
    ids = np.array([t[0] for t in tasks])
    subs = np.array([t[1] for t in tasks], dtype=object)
    channels = np.array([t[4] for t in tasks], dtype=object)
    actions = np.array([t[5] for t in tasks], dtype=object)

    # hidden p_accept of each task's (subscriber, action)
    import pandas as pd

    resp = responses.select(["subscriber_id", "action", "p_accept"]).to_pandas()
    frame = pd.DataFrame({"subscriber_id": subs.astype(str), "action": actions.astype(str)})
    p_accept = (
        frame.merge(resp, on=["subscriber_id", "action"], how="left")["p_accept"]
        .fillna(0.0)
        .to_numpy(dtype=float)
    )

    rng = np.random.default_rng(seed)
    worked = rng.random(len(ids)) < share_worked
    rate = pd.Series(channels).map(DEMO_CONTACT_RATES).fillna(0.5).to_numpy(dtype=float)
    reached = worked & (rng.random(len(ids)) < rate)
    accepted = reached & (rng.random(len(ids)) < p_accept)
    refused = reached & ~accepted
    reasons = np.array(["price", "no_need", "competitor_offer", "busy"], dtype=object)
    refusal = reasons[rng.integers(0, len(reasons), len(ids))]

    when = dt.datetime.combine(add_months(month, 1) - dt.timedelta(days=3), dt.time(18, 0))
    result = np.where(accepted, "accepted", np.where(refused, "refused", "not_reached"))
    w = np.flatnonzero(worked)
    if len(w):
        session.execute(
            insert(Outcome),
            [
                {
                    "task_id": int(ids[i]),
                    "result": str(result[i]),
                    "refusal_reason": str(refusal[i]) if refused[i] else None,
                    "source": "file",
                    "recorded_by": "demo-dialer",
                    "recorded_at": when,
                }
                for i in w
            ],
        )
        session.execute(
            insert(ContactLog),
            [
                {
                    "subscriber_id": str(subs[i]),
                    "customer_id": tasks[i][2],
                    "campaign_id": tasks[i][3],
                    "task_id": int(ids[i]),
                    "channel": str(channels[i]),
                    "result": str(result[i]),
                    "contacted_at": when,
                }
                for i in w
            ],
        )
        session.execute(
            update(Task)
            .where(Task.id.in_([int(i) for i in ids[w]]))
            .values(status=TaskStatus.done.value)
        )
        session.flush()
    return pa.table(
        {
            "subscriber_id": pa.array(subs[w].astype(str), pa.string()),
            "action": pa.array(actions[w].astype(str), pa.string()),
            "accepted": pa.array(accepted[w], pa.bool_()),
        }
    )


def build_demo(
    *,
    con: duckdb.DuckDBPyConnection,
    session_scope: Callable[[], Any],
    out_dir: Path,
    subscribers: int,
    months: int,
    seed: int = 7,
    start: str = "2026-06",
    on_step: Step | None = None,
    learning=None,
) -> list[dict[str, Any]]:
    """Run the closed loop on a synthetic operator, month by month, through the real pipeline.

    For every month: the operator's raw export is written and imported through the validated
    import, then segmented, scored and planned; the plan's tasks are worked by a simulated
    dialer against the operator's hidden responses, and the accepted offers change next
    month's churn. The last month's lists stay open for the web app's work queues.
    ``learning`` (a :class:`~weixi.dispatch.schemas.Learning`) replaces the campaign's default
    evidence thresholds.
    """
    from weixi.dispatch.schemas import default_campaign
    from weixi.ingest.service import import_month
    from weixi.store.months import parse_month
    from weixi.synth.generate import SyntheticOperator
    from weixi.synth.raw import write_raw

    say = on_step or (lambda _msg: None)
    op = SyntheticOperator(subscribers, seed=seed, start_month=parse_month(start))
    reports: list[dict[str, Any]] = []
    treatments: pa.Table | None = None
    for i in range(months):
        if i:
            op.advance(treatments)
        month = op.month
        raw_dir = out_dir / "raw"
        say(f"generate {format_month(month)}")
        written = write_raw(op, raw_dir, months=1)
        files = [Path(f["file"]) for f in written["months"]]
        say(f"import {format_month(month)}")
        imported = import_month(con=con, month=month, mapping=Path(written["mapping"]), paths=files)
        with session_scope() as session:
            # SMS/app customers get tasks too, so the simulated gateway can report on them.
            update: dict[str, Any] = {"echannel_tasks": True}
            if learning is not None:
                update["learning"] = learning
            spec = default_campaign(month).model_copy(update=update)
            rep = run_month(con=con, session=session, month=month, campaign=spec, on_step=say)
            rep.steps["import"] = _summary(imported)
            last = i == months - 1
            treatments = None
            if not last and "plan" in rep.steps:
                say(f"execute {format_month(month)} (simulated dialer)")
                treatments = execute_with_hidden_responses(
                    session=session,
                    month=month,
                    responses=op.hidden_responses(),
                    seed=seed + i,
                )
                rep.steps["execute"] = {
                    "worked": treatments.num_rows,
                    "accepted": int(np.asarray(treatments["accepted"]).sum()),
                }
        reports.append(rep.to_dict())
    return reports
