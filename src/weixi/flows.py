"""The monthly job: cross-domain orchestration in one place (ingest → segment → churn → plan).

Domains never call each other's services; this module does, in the loop's order. The CLI's
``weixi run`` is a thin door onto it. The synthetic operator's simulated dialer and the demo
loop that drives this job month by month live with the synthetic operator
(:mod:`weixi.synth.dialer`, :mod:`weixi.synth.demo`), apart from the production job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from weixi.dispatch.plans import executed_months, executed_sql
from weixi.store.months import add_months, format_month, loaded_months

if TYPE_CHECKING:
    from weixi.strategy.schemas import StrategyLibrary

Step = Callable[[str], None]


@dataclass
class MonthReport:
    """What the monthly job did for one month."""

    month: str
    steps: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)  # which engine ran each step

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "month": self.month,
            "steps": self.steps,
            "seconds": self.seconds,
            "engines": self.engines,
        }


def _timed(report: MonthReport, name: str, func: Callable[[], Any], engine: str = "duckdb") -> Any:
    from weixi.memory import release_freed_memory

    start = time.perf_counter()
    out = func()
    # what the step freed goes back to the system, so the next step starts from what is live
    release_freed_memory()
    report.seconds[name] = round(time.perf_counter() - start, 2)
    report.engines[name] = engine
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
    churn_params=None,
    inputs: Sequence[str | Path] | None = None,
    mapping=None,
) -> MonthReport:
    """Run the loop for a month: (import,) evaluate and adjust last month, segment, churn, learn, plan.

    The closed loop: last month's campaign is evaluated against its randomized control (and
    every dispatched win-back list whose window has matured against its own, step
    ``winback``: :func:`weixi.dispatch.winback.evaluate_matured`), the
    plan adjustment (Thompson sampling over segment × action) writes this month's action shares
    and its "what changed and why" report, and — once the campaign's ``learning`` thresholds
    hold — the uplift model is trained on every evaluated month and scores this month's lines,
    so the plan uses learned effects instead of configured ones. Steps whose inputs are missing
    are skipped and reported (e.g. no churn model before a month with labels exists).

    A churn challenger is trained only when it is due (:mod:`weixi.churn.cadence`: no model
    yet, the retrain cadence, score or feature drift, a fall of the champion's realized AUC);
    ``churn_params`` (default: the shipped churn parameters) sets the cadence and the models.

    With ``inputs`` (the month's files, CSV or Parquet; on Spark any path Spark reads) and
    ``mapping``, the month is imported first, on ``engine`` (step ``import``,
    :func:`weixi.ingest.service.import_month`); a refused import stops the job.
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

    if inputs:
        from weixi.ingest.service import import_month

        say(f"import {report.month}")
        report.steps["import"] = summarize(
            _timed(
                report,
                "import",
                lambda: import_month(
                    con=con, month=month, mapping=mapping, paths=list(inputs), engine=engine
                ),
                engine,
            )
        )

    # a dispatch interrupted between the two stores' commits is settled before anything reads it
    from weixi.dispatch.service import recover_pending

    recovered = recover_pending(con=con, session=session)
    if any(recovered.values()):
        report.steps["recovered_plans"] = recovered
    if prev in executed_months(con):
        say(f"evaluate {format_month(prev)}")
        sync_contact_outcomes(con=con, session=session, month=prev, library=lib)
        ev = _timed(
            report,
            "evaluate",
            lambda: evaluate_service.evaluate_month(
                con=con, month=prev, rebuild=True, engine=engine
            ),
            engine,
        )
        # the campaign month's overall row (lift, its interval, costs) travels with the report
        report.steps["evaluate"] = {**summarize(ev), "overall": ev.get("overall")}
        evaluated = True
    if evaluated and spec.learning.enabled:
        say(f"adjust plan {format_month(prev)} → {report.month}")
        report.steps["adjust"] = _timed(
            report, "adjust", lambda: _adjust(con=con, month=prev, spec=spec, lib=lib, locale=loc)
        )

    from weixi.dispatch import winback

    if winback.dispatched_lists(con):
        # win-back lists whose window (won back = a live line again within N months) matured
        say(f"evaluate win-back up to {report.month}")
        report.steps["winback"] = _timed(
            report,
            "winback",
            lambda: winback.evaluate_matured(con=con, session=session, month=month),
        )

    say(f"segment {report.month}")
    seg = _timed(
        report,
        "segment",
        lambda: segment_month(con, month, preset=preset, engine=engine),
        engine,
    )
    report.steps["segment"] = summarize(seg)

    if train and prev in loaded_months(con):
        # Trained "as of" this month: labels of every earlier month whose outcome is known now.
        # The new model is a challenger: it replaces the champion only if the promotion rule
        # (churn params, `promotion`) finds it better on the latest out-of-time month. It is
        # trained when due (churn params, `retrain`); otherwise the champion scores on.
        from weixi.churn import cadence
        from weixi.churn.params import load_params

        cparams = churn_params or load_params()
        check = cadence.retrain_due(con, month=month, params=cparams)
        if check["due"]:
            say(f"churn train as of {report.month}")
            trained = _timed(
                report,
                "churn_train",
                lambda: churn_service.train(
                    con=con,
                    month=month,
                    params=cparams,
                    promote="challenger",
                    actor="monthly job",
                ),
            )
            report.steps["churn_train"] = {**summarize(trained), "due": check}
        else:
            report.steps["churn_train"] = {
                "status": "skipped: not due",
                "due": check,
                "text": cadence.describe(check, loc),
            }
    if churn_registry.get_active(con) is not None:
        say(f"churn score {report.month}")
        if engine == "spark":
            from weixi.churn import spark as churn_spark

            scored = _timed(
                report,
                "churn_score",
                lambda: churn_spark.score_store_month(con, month, params=churn_params),
                "spark",
            )
        else:
            scored = _timed(
                report,
                "churn_score",
                lambda: churn_service.score(con=con, month=month, params=churn_params),
            )
        report.steps["churn_score"] = summarize(scored)
        if plan:
            say(f"learn uplift for {report.month}")
            report.steps["uplift"] = _timed(
                report,
                "uplift",
                lambda: learn_uplift(
                    con=con, month=month, learning=spec.learning, library=lib, engine=engine
                ),
            )
            # the engine that scored the month's lines; a step without per-line work (skipped,
            # or the response learner's per-action reductions) ran on the driver
            report.engines["uplift"] = report.steps["uplift"].get("scored_on", "duckdb")
            if spec.learning.enabled and spec.learning.acceptance:
                say(f"learn acceptance for {report.month}")
                report.steps["acceptance"] = _timed(
                    report,
                    "acceptance",
                    lambda: learn_acceptance(
                        con=con,
                        month=month,
                        learning=spec.learning,
                        library=lib,
                        reduction=(report.steps.get("uplift") or {}).get("reduction"),
                        by_level=(report.steps.get("uplift") or {}).get("reduction_by_level"),
                        engine=engine,
                    ),
                )
                report.engines["acceptance"] = report.steps["acceptance"].get("scored_on", "duckdb")
            say(f"plan {report.month}")
            result = _timed(
                report,
                "plan",
                lambda: plan_month(
                    con=con, month=month, spec=spec, library=lib, session=session, engine=engine
                ),
                engine,
            )
            report.steps["plan"] = result.to_dict()
    else:
        report.steps["churn_score"] = "skipped: no churn model yet (needs a month with labels)"
    from weixi import summaries

    say(f"read models {report.month}")
    report.steps["read_models"] = _timed(
        report, "read_models", lambda: summaries.refresh(con, month)
    )
    return report


def _adjust(*, con: duckdb.DuckDBPyConnection, month: dt.date, spec, lib, locale: str) -> dict:
    """Plan adjustment of ``month`` (writes next month's shares); the step's report."""
    from weixi.evaluate.service import adjust_plan

    lrn = spec.learning
    # The segment posterior's uplift is its measured lift over (base churn × reach); matching
    # multiplies it by the reach it uses, which is the measured one once reach is learned. So
    # divide by that same reach — dividing by the configured one (SMS 0.2 where 0.9 of the
    # customers are reached) inflated the learned uplift by the ratio of the two.
    channel_effect = {c.key: c.effect for c in lib.channels}
    if lrn.enabled and lrn.acceptance:
        from weixi.evaluate.acceptance import channel_effects
        from weixi.evaluate.service import evaluated_months

        measured = channel_effects(
            con=con,
            months=evaluated_months(con=con, up_to=month),
            configured=channel_effect,
        )
        channel_effect |= {c: v["effect"] for c, v in measured.items()}
    out = adjust_plan(
        con=con,
        month=month,
        prior_uplift={a.key: a.uplift for a in lib.actions},
        channel_effect=channel_effect,
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
    *, con: duckdb.DuckDBPyConnection, month: dt.date, learning, library, engine: str = "duckdb"
) -> dict[str, Any]:
    """Train the uplift model on every evaluated month before ``month`` and score ``month``.

    The model is trained on the driver; ``month``'s lines are scored on ``engine`` (on Spark
    inside ``mapInArrow`` on the executors, :mod:`weixi.evaluate.scoring`).

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
        "min_months": lrn.months_needed,
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
        con.execute("DELETE FROM uplift WHERE month = ?", [month])
        return {"status": f"skipped: {reason}", **out}

    if not lrn.enabled:
        return skipped("learning is disabled in the campaign (learning.enabled)")
    short = [
        f"{have} {what} < {need}"
        for have, what, need in (
            (ev["months"], "evaluated months", lrn.months_needed),
            (ev["treated"], "treated customers", lrn.min_treated),
            (ev["control"], "control customers", lrn.min_control),
            (ev["churners"], "churners", lrn.min_churners),
        )
        if have < need
    ]
    if short:
        return skipped("not enough evidence yet (" + ", ".join(short) + ")")
    if lrn.learner == "response":
        # uplift = learned take rate × the action's measured reduction (the acceptance step
        # applies it); no per-customer churn-outcome model
        from weixi.evaluate.acceptance import reduction_by_level, reduction_per_action

        con.execute("DELETE FROM uplift WHERE month = ?", [month])
        prior = {
            a.key: (a.uplift / a.take_rate if a.take_rate > 0 else a.uplift)
            for a in library.actions
        }
        red = reduction_per_action(
            con=con, months=months, prior=prior, counterfactual=lrn.counterfactual
        )
        if red:
            # an action no campaign has tried yet is still wrong with the library: it takes the
            # pooled scale × its configured reduction, not the configured one
            scale = next(iter(red.values()))["scale"]
            for a, p in prior.items():
                if a not in red:
                    red[a] = {
                        "reduction": float(min(max(scale * p, -0.5), 1.0)),
                        "measured": None,
                        "weight": 0.0,
                        "prior": float(scale * p),
                        "scale": float(scale),
                        "calibration": None,
                        "treated": 0,
                        "control": 0,
                    }
        dims = lrn.level_dims(library)
        levels = (
            reduction_by_level(
                con=con,
                months=months,
                actions=red,
                dims=dims,
                counterfactual=lrn.counterfactual,
            )
            if dims
            else {}
        )
        return {
            "status": "trained",
            "learner": "response",
            "months": [format_month(m) for m in months],
            "reduction": {a: round(v["reduction"], 4) for a, v in red.items()},
            # per level of learning.reduction_by, where a level had enough treated customers
            "reduction_by": lrn.reduction_by,
            "reduction_dims": {a: "+".join(c) for a, c in dims.items() if a in levels},
            "reduction_by_level": {
                a: {g: round(v["reduction"], 4) for g, v in lv.items()} for a, lv in levels.items()
            },
            # the common scale of the configured reductions the evidence supports
            "scale": round(next(iter(red.values()))["scale"], 4) if red else None,
            "learned": {
                a: {
                    "learned": round(v["reduction"], 4),
                    "measured": None if v["measured"] is None else round(v["measured"], 4),
                    "configured": round(prior[a], 4),
                    "prior": round(v["prior"], 4),
                    "weight": round(v["weight"], 3),
                    # the churn scores' calibration on this action's customers
                    "calibration": None if v["calibration"] is None else round(v["calibration"], 4),
                }
                for a, v in red.items()
            },
            **out,
        }
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
        engine=engine,
    )
    configured = {a.key: a.uplift for a in library.actions}
    return {
        "status": "trained",
        "scored_on": engine,
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


def learn_acceptance(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    learning,
    library,
    reduction: dict[str, float] | None = None,
    by_level: dict[str, dict[str, float]] | None = None,
    engine: str = "duckdb",
) -> dict[str, Any]:
    """Learn the response to contacts from the evaluated months' execution records.

    Writes ``month``'s predicted take rates (who accepts which offer when reached) into the
    ``uplift`` table and each channel's measured effect (how often it reaches the customer) into
    ``channel_effects``; with the ``response`` learner's per-action ``reduction`` (and its
    reductions per level of each action's dimensions, ``learning.level_dims``: ``by_level``) the
    learned uplift becomes
    take rate × reduction (see :mod:`weixi.evaluate.acceptance`). The take rates
    are skipped, with the reason, while no action has ``learning.min_contacted_per_action``
    reached customers with an answer. The model is trained on the driver; ``month``'s lines
    are scored on ``engine`` (:mod:`weixi.evaluate.scoring`).
    """
    from weixi.errors import NotFoundError
    from weixi.evaluate import acceptance
    from weixi.evaluate import service as evaluate_service

    months = evaluate_service.evaluated_months(con=con, up_to=add_months(month, -1))
    effects = acceptance.channel_effects(
        con=con, months=months, configured={c.key: c.effect for c in library.channels}
    )
    acceptance.write_channel_effects(con=con, month=month, effects=effects)
    channels = {c: round(v["effect"], 4) for c, v in effects.items()}
    try:
        df, X = acceptance.training_frame(con=con, months=months)
        model = acceptance.fit_acceptance(
            X,
            df["action"].astype(str).to_numpy(),
            df["accepted"].astype(bool).to_numpy(),
            feature_names=list(evaluate_service.UPLIFT_FEATURES),
            min_contacted=learning.min_contacted_per_action,
        )
    except NotFoundError as exc:
        con.execute("UPDATE uplift SET take_rate = NULL WHERE month = ?", [month])
        return {"status": f"skipped: {exc}", "channel_effect": channels}
    version = f"acceptance-{format_month(month)}"
    folder = evaluate_service._uplift_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.json").write_text(model.to_json(), encoding="utf-8")
    written = acceptance.write_take_rates(
        con=con,
        month=month,
        model=model,
        version=version,
        action_line_types={a.key: a.line_type for a in library.actions},
        engine=engine,
    )
    applied = acceptance.apply_reduction(
        con=con,
        month=month,
        reduction=reduction or {},
        uplift_range=(learning.uplift_min, learning.uplift_max),
        version=version,
        by_level=by_level,
        dims=learning.level_dims(library),
        configured_take={a.key: a.take_rate for a in library.actions},
        action_line_types={a.key: a.line_type for a in library.actions},
    )
    configured = {a.key: a.take_rate for a in library.actions}
    return {
        "status": "trained",
        "scored_on": engine,
        "version": version,
        "learned_uplift_rows": applied,
        "channel_effect": channels,
        "months": [format_month(m) for m in months],
        "auc": None if model.auc is None else round(model.auc, 4),
        "rows": written["rows"],
        "take_rate": {
            a: {"learned": v, "configured": configured.get(a), "n": model.n_train.get(a)}
            for a, v in written["actions"].items()
        },
    }


def summarize(obj: Any) -> Any:
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
    con.execute("DELETE FROM contact_outcomes WHERE month = ?", [month])
    if not tasks:
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


def outcome_reasons(*, session: Session) -> Any:
    """Each subscriber's last stated reason on a contact: the refusal reason, or
    ``already_churned`` (a frame ``subscriber_id, reason``; the churn analysis's first source)."""
    import pandas as pd

    from weixi.dispatch.models import Outcome, Task

    rows = session.execute(
        select(Task.subscriber_id, Outcome.result, Outcome.refusal_reason, Outcome.recorded_at)
        .join(Outcome, Outcome.task_id == Task.id)
        .where((Outcome.refusal_reason.is_not(None)) | (Outcome.result == "already_churned"))
    ).all()
    df = pd.DataFrame(rows, columns=["subscriber_id", "result", "refusal_reason", "at"])
    if df.empty:
        return pd.DataFrame(columns=["subscriber_id", "reason"])
    df = df.sort_values("at").drop_duplicates("subscriber_id", keep="last")
    reason = "outcome_" + df["refusal_reason"].fillna(df["result"]).astype(str)
    return pd.DataFrame({"subscriber_id": df["subscriber_id"], "reason": reason})


def churn_analysis(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    month: dt.date,
    branch: str | None = None,
) -> dict[str, Any]:
    """Who left in ``month`` (:func:`weixi.churn.analysis.analyse`) with the contact outcomes'
    stated reasons from the operational database."""
    from weixi.churn import analysis

    return analysis.analyse(
        con, month, branch=branch, outcome_reasons=outcome_reasons(session=session)
    )


def run_day(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    day: dt.date,
    mapping: Any,
    paths: list,
    triggers: Any = None,
    library: Any = None,
    source: str = "feed",
) -> dict[str, Any]:
    """One day's event feed: the validated import, then the trigger rules fire at once.

    Returns the import's reconciliation (``read``, ``loaded``, ``quarantined``…) with the
    trigger results (``tasks_created``, ``control``, ``suppressed`` by reason, ``by_rule``).
    The caller commits (the tasks are flushed, the analytics rows written).
    """
    from weixi.ingest.events import import_events
    from weixi.strategy.library import load_library
    from weixi.triggers.rules import load_triggers
    from weixi.triggers.service import fire_day

    imported = import_events(con=con, date=day, mapping=mapping, paths=paths, source=source)
    out = imported.model_dump(mode="json")
    if triggers is False:
        return out
    ts = (
        triggers
        if triggers is not None and not isinstance(triggers, str)
        else load_triggers(triggers or "seed")
    )
    fired = fire_day(
        con=con, session=session, day=day, triggers=ts, library=library or load_library()
    )
    out["triggers"] = fired.to_dict()
    for k in ("tasks_created", "control", "suppressed"):
        out[k] = out["triggers"][k]
    return out
