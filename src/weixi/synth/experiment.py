"""A randomized experiment of one retention action on the synthetic operator.

The operator offers ``action`` to a random ``treated_share`` of the lines it applies to, every
offered line answers with its hidden ``p_accept``, an accepted offer multiplies the line's churn
probability by ``1 - churn_reduction``, and the operator moves one month on: a line has
*stayed* when it is still in next month's snapshot and not cancelled. The result is the kind of
file an operator's A/B test produces — the lines' observable fields, the arm and the outcome —
for ``weixi uplift fit-eval``; a second table holds what no real experiment shows, each line's
true effect, so that a learner's ranking can be compared with the truth.

The features are the operator's own export fields, without personal data and identifiers (name,
phone, ID number, customer/account/group ids); dates become day counts at the last day of the
experiment's month (``tenure_days``, ``days_to_contract_end``, ``handset_days``). No product step is involved:
this is the synthetic operator answering an offer, as :meth:`SyntheticOperator.advance` does for
the simulator's dialer.

Example:
    >>> exp = randomized_experiment(3_000, action="care_call", seed=2, warmup=1)
    >>> sorted(set(exp.table.column("arm").to_pylist()))
    ['control', 'treated']
    >>> exp.table.num_rows == exp.truth.num_rows
    True
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weixi.errors import ConfigError
from weixi.synth.generate import ACTIONS, SyntheticOperator

#: snapshot fields never written to an experiment file (personal data, identifiers, the month)
_DROPPED = (
    "month",
    "phone",
    "name",
    "id_number",
    "customer_id",
    "account_id",
    "group_id",
    "contract_start",
)
#: date fields written as whole days at the experiment's month: name in the file, sign
_DAYS = {
    "activation_date": ("tenure_days", -1),
    "contract_end": ("days_to_contract_end", 1),
    "handset_first_use_date": ("handset_days", -1),
}


@dataclass(frozen=True)
class Experiment:
    """One randomized experiment: the file and the hidden truth of its lines.

    ``table``: ``subscriber_id``, the observable fields, ``arm`` (treated|control),
    ``accepted`` (treated lines; null for controls) and ``stayed`` (1/0).
    ``truth``: ``subscriber_id``, ``p_churn`` (untreated), ``p_accept`` (the line's own take
    rate) and ``systematic_p_accept`` (taste integrated out), ``true_uplift`` (the line's own
    expected rise in P(stay) when offered, its taste included) and ``systematic_uplift`` (the
    same with taste integrated out: the most a model of the observable fields can learn).
    """

    month: dt.date
    action: str
    table: pa.Table
    truth: pa.Table

    def summary(self) -> dict:
        """Counts and rates per arm, and the true average effect."""
        arm = self.table.column("arm").to_numpy(zero_copy_only=False)
        stayed = self.table.column("stayed").to_numpy()
        t = arm == "treated"
        up = self.truth.column("true_uplift").to_numpy()
        return {
            "month": self.month.strftime("%Y-%m"),
            "action": self.action,
            "rows": len(arm),
            "treated": int(t.sum()),
            "control": int((~t).sum()),
            "churn_treated": round(float(1 - stayed[t].mean()), 5) if t.any() else None,
            "churn_control": round(float(1 - stayed[~t].mean()), 5) if (~t).any() else None,
            "accepted_share": round(float(pc.mean(self.table.column("accepted")).as_py()), 4)
            if t.any()
            else None,
            "true_ate": round(float(up.mean()), 6),
        }


def randomized_experiment(
    n_subscribers: int,
    *,
    action: str,
    treated_share: float = 0.5,
    seed: int = 0,
    warmup: int = 2,
    start_month: str | dt.date = "2025-09",
) -> Experiment:
    """Run the experiment on a fresh operator after ``warmup`` months of history.

    Every line the action applies to (mobile or broadband, live this month) is assigned to the
    treated arm with probability ``treated_share``, independently.
    """
    if action not in ACTIONS:
        raise ConfigError(
            "unknown action {action!r}; known: {known}", action=action, known=", ".join(ACTIONS)
        )
    if not 0 < treated_share < 1:
        raise ConfigError(
            "treated_share must be in (0, 1), got {treated_share}", treated_share=treated_share
        )
    op = SyntheticOperator(n_subscribers, seed=seed, start_month=start_month)
    for _ in range(warmup):
        op.advance()
    month = op.month
    responses = op.hidden_responses().filter(pc.equal(pc.field("action"), action))
    systematic = op.hidden_responses(systematic=True).filter(pc.equal(pc.field("action"), action))
    ids = responses.column("subscriber_id")
    if not pc.all(pc.equal(ids, systematic.column("subscriber_id"))).as_py():
        raise AssertionError("hidden responses out of order")  # pragma: no cover
    rng = np.random.default_rng([seed, 7919])
    n = len(ids)
    treated = rng.random(n) < treated_share
    p_acc = responses.column("p_accept").to_numpy()
    accepted = treated & (rng.random(n) < p_acc)
    op_p = op.true_churn_prob()
    p_churn = _lookup(op_p, ids, "p_churn")
    snap = op.snapshot()
    op.advance(
        pa.table(
            {
                "subscriber_id": ids.filter(pa.array(treated)),
                "action": pa.array(np.full(int(treated.sum()), action)),
                "accepted": pa.array(accepted[treated]),
            }
        )
    )
    nxt = op.snapshot().select(["subscriber_id", "status"])
    live = pc.filter(nxt.column("subscriber_id"), pc.not_equal(nxt.column("status"), "cancelled"))
    stayed = pc.is_in(ids, value_set=live).to_numpy(zero_copy_only=False)
    features = _features(snap, ids, month)
    table = features.append_column("arm", pa.array(np.where(treated, "treated", "control")))
    table = table.append_column(
        "accepted", pa.array(np.where(treated, accepted, False), mask=~treated)
    ).append_column("stayed", pa.array(stayed.astype(np.int8)))
    sys_acc = systematic.column("p_accept").to_numpy()
    truth = pa.table(
        {
            "subscriber_id": ids,
            "p_churn": pa.array(p_churn),
            "p_accept": pa.array(p_acc),
            "systematic_p_accept": pa.array(sys_acc),
            "true_uplift": pa.array(
                p_churn * p_acc * responses.column("churn_reduction").to_numpy()
            ),
            "systematic_uplift": pa.array(
                p_churn * sys_acc * systematic.column("churn_reduction").to_numpy()
            ),
        }
    )
    return Experiment(month=month, action=action, table=table, truth=truth)


def _lookup(table: pa.Table, ids: pa.Array, column: str) -> np.ndarray:
    """``table[column]`` for each of ``ids`` (every id is in ``table.subscriber_id``)."""
    pos = pc.index_in(ids, value_set=table.column("subscriber_id"))
    return pc.take(table.column(column), pos).to_numpy(zero_copy_only=False).astype(np.float64)


def _features(snap: pa.Table, ids: pa.ChunkedArray | pa.Array, month: dt.date) -> pa.Table:
    """The observable fields of ``ids``' rows, dates as day counts at ``month``'s last day (the
    snapshot's as-of date: a line activated during the month has a tenure of a few days)."""
    from weixi.store.months import add_months

    rows = snap.take(pc.index_in(ids, value_set=snap.column("subscriber_id")))
    ref = np.datetime64(add_months(month, 1), "D") - np.timedelta64(1, "D")
    cols: dict[str, pa.Array] = {}
    for name in rows.column_names:
        if name in _DROPPED:
            continue
        col = rows.column(name)
        if name in _DAYS:
            label, sign = _DAYS[name]
            d = col.to_numpy(zero_copy_only=False).astype("datetime64[D]")
            days = (d - ref).astype("float64") * sign
            cols[label] = pa.array(days, mask=np.isnat(d))
        else:
            cols[name] = col
    return pa.table(cols)
