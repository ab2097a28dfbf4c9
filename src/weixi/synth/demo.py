"""The demo loop: a synthetic operator month by month through the real monthly job.

Each month: the operator's raw export → the validated import → :func:`weixi.flows.run_month`
(evaluate, adjust, segment, churn, uplift, plan) → the simulated dialer
(:mod:`weixi.synth.dialer`) works the lists from the hidden truth → next month. ``weixi demo``
and the end-to-end test run it.

The operator's leavers come back on their own at the realistic base rate
(``_RETURN_BASE``, about 1 % a month) and more often after accepting a win-back offer: the
demo dispatches one win-back campaign (:func:`weixi.dispatch.winback.dispatch_winback`) in
its second month, which the monthly job evaluates once its window has matured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from weixi.flows import Step, run_month, summarize
from weixi.store.months import format_month
from weixi.synth.dialer import execute_with_hidden_responses

#: The demo month (0-based) that dispatches a win-back campaign: the first with leavers.
WINBACK_AT = 1


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
    churn_params=None,
) -> list[dict[str, Any]]:
    """Run the closed loop on a synthetic operator, month by month, through the real pipeline.

    For every month: the operator's raw export is written and imported through the validated
    import, then segmented, scored and planned; the plan's tasks are worked by a simulated
    dialer against the operator's hidden responses, and the accepted offers change next
    month's churn. The last month's lists stay open for the web app's work queues.
    ``learning`` (a :class:`~weixi.dispatch.schemas.Learning`) replaces the campaign's default
    evidence thresholds; ``churn_params`` the churn parameters (models, retrain cadence).
    """
    from weixi.dispatch.schemas import default_campaign
    from weixi.dispatch.winback import dispatch_winback
    from weixi.ingest.service import import_month
    from weixi.store.months import parse_month
    from weixi.synth.generate import _RETURN_BASE, SyntheticOperator
    from weixi.synth.raw import write_raw

    say = on_step or (lambda _msg: None)
    op = SyntheticOperator(
        subscribers, seed=seed, start_month=parse_month(start), return_rate=_RETURN_BASE
    )
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
            rep = run_month(
                con=con,
                session=session,
                month=month,
                campaign=spec,
                on_step=say,
                churn_params=churn_params,
            )
            rep.steps["import"] = summarize(imported)
            last = i == months - 1
            if i == WINBACK_AT:  # the first month with leavers: one win-back campaign
                say(f"win-back {format_month(month)}")
                rep.steps["winback_dispatch"] = summarize(
                    dispatch_winback(con=con, session=session, month=month)
                )
            treatments = None
            if not last and "plan" in rep.steps:
                say(f"execute {format_month(month)} (simulated dialer)")
                treatments = execute_with_hidden_responses(
                    session=session,
                    month=month,
                    # the win-back offers go to the leavers (their own hidden responses)
                    responses=pa.concat_tables([op.hidden_responses(), op.winback_responses()]),
                    seed=seed + i,
                )
                rep.steps["execute"] = {
                    "worked": treatments.num_rows,
                    "accepted": int(np.asarray(treatments["accepted"]).sum()),
                }
        reports.append(rep.to_dict())
    return reports
