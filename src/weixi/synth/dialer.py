"""The synthetic operator's simulated dialer: works a month's open tasks from the hidden truth.

Test bed only — never part of the production monthly job (:mod:`weixi.flows`). The outcomes are
written as an external dialer's result file and recorded through the product's outcome-file path
(:func:`weixi.dispatch.outcome_files.record_file`: the same validation and bulk write as an
uploaded file), and the accepted actions go back to the operator
(``SyntheticOperator.advance``).
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import select
from sqlalchemy.orm import Session

from weixi.auth.models import User
from weixi.dispatch.outcome_files import record_file
from weixi.store.months import add_months
from weixi.synth.generate import hash_uniform

# The operator's hidden truth: probability that a worked customer is actually reached, per
# channel. The strategy library's channel `effect` is the product's (configured) belief about it.
CONTACT_RATES = {
    "account_manager": 0.85,
    "call_center": 0.62,
    "store": 0.35,
    "sms": 0.95,
    "app": 0.55,
}

#: The dialer's independent draws per customer and month (salts of :func:`hash_uniform`).
_STREAMS = {"worked": 0, "reached": 1, "accepted": 2, "reason": 3}
REFUSAL_REASONS = ("price", "no_need", "competitor_offer", "busy")


def draw_outcomes(
    subscriber_ids: np.ndarray,
    channels: np.ndarray,
    p_accept: np.ndarray,
    *,
    seed: int,
    share_worked: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whether each task is worked, its customer reached and the offer accepted, and a refusal
    reason (used where reached and not accepted).

    Each customer's draws are their own — a counter-based hash of ``seed`` and the subscriber
    id, not of the task's place in the month's lists: a plan that works one more or one other
    customer leaves everyone else's outcome as it was, so two plans of the same month meet the
    same luck (common random numbers), and a change in one line does not reshuffle the rest.
    """
    import pandas as pd

    key = pd.util.hash_array(np.asarray(subscriber_ids, dtype=object))

    def draw(stream: str) -> np.ndarray:
        return hash_uniform(key, seed * len(_STREAMS) + _STREAMS[stream])

    worked = draw("worked") < share_worked
    rate = pd.Series(channels).map(CONTACT_RATES).fillna(0.5).to_numpy(dtype=float)
    reached = worked & (draw("reached") < rate)
    accepted = reached & (draw("accepted") < p_accept)
    reasons = np.array(REFUSAL_REASONS, dtype=object)
    refusal = reasons[(draw("reason") * len(reasons)).astype(np.int64)]
    return worked, reached, accepted, refusal


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
    The draws are keyed by ``seed`` and the subscriber id (:func:`draw_outcomes`).
    Outcomes are recorded as a dialer's result file (``record_file``) and the accepted actions are
    returned as ``(subscriber_id, action, accepted)`` for ``SyntheticOperator.advance``.
    """
    from weixi.dispatch.models import Task, TaskStatus

    tasks = session.execute(
        select(Task.id, Task.subscriber_id, Task.channel, Task.action)
        .where(Task.month == month, Task.status == TaskStatus.open.value)
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
    # columns via zip (C speed), not a Python loop per task
    id_col, sub_col, chan_col, act_col = zip(*tasks, strict=True)
    ids = np.array(id_col, dtype=np.int64)
    subs = np.array(sub_col, dtype=object)
    channels = np.array(chan_col, dtype=object)
    actions = np.array(act_col, dtype=object)

    # hidden p_accept of each task's (subscriber, action)
    import pandas as pd

    resp = responses.select(["subscriber_id", "action", "p_accept"]).to_pandas()
    frame = pd.DataFrame({"subscriber_id": subs.astype(str), "action": actions.astype(str)})
    p_accept = (
        frame.merge(resp, on=["subscriber_id", "action"], how="left")["p_accept"]
        .fillna(0.0)
        .to_numpy(dtype=float)
    )

    worked, reached, accepted, refusal = draw_outcomes(
        subs.astype(str), channels, p_accept, seed=seed, share_worked=share_worked
    )
    refused = reached & ~accepted

    when = dt.datetime.combine(add_months(month, 1) - dt.timedelta(days=3), dt.time(18, 0))
    result = np.where(accepted, "accepted", np.where(refused, "refused", "not_reached"))
    w = np.flatnonzero(worked)
    if len(w):
        # the dialer's result file goes through the product's outcome path (weixi.dispatch.
        # outcome_files): validated as a whole, one bulk write of outcomes, contact log and tasks
        refusal_w = np.where(refused[w], refusal[w], None)
        buf = io.BytesIO()
        pacsv.write_csv(
            pa.table(
                {
                    "task_id": pa.array(ids[w], pa.int64()),
                    "result": pa.array(result[w].astype(str), pa.string()),
                    "refusal_reason": pa.array(refusal_w, pa.string()),
                }
            ),
            buf,
        )
        dialer = User(username="demo-dialer", role="planner", password_hash="-")
        report = record_file(
            session=session,
            user=dialer,
            name=f"dialer-{month:%Y-%m}.csv",
            data=buf.getvalue(),
            now=when,
        )
        if report.recorded != len(w) or not report.balanced:
            raise RuntimeError(
                f"the dialer's file for {month:%Y-%m} was not recorded whole: {len(w)} rows, "
                f"{report.recorded} recorded, {report.repeated} already recorded, "
                f"{len(report.rejected)} rejected (first: {report.rejected[:1]})"
            )
        session.flush()
    return pa.table(
        {
            "subscriber_id": pa.array(subs[w].astype(str), pa.string()),
            "action": pa.array(actions[w].astype(str), pa.string()),
            "accepted": pa.array(accepted[w], pa.bool_()),
        }
    )
