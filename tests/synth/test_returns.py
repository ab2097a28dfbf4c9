"""The synthetic operator's returns (回流): leavers come back on a new line of the same customer
at a small base rate, much more often after accepting a win-back offer (hidden response)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from weixi.synth.generate import _RETURN_BASE, WINBACK_ACTION, SyntheticOperator


def _live_customers(op) -> set[str]:
    snap = op.snapshot()
    return set(snap.filter(pc.not_equal(snap["status"], "cancelled"))["customer_id"].to_pylist())


def test_accepted_winback_offers_bring_customers_back_more_than_the_base_rate():
    op = SyntheticOperator(30000, seed=4, start_month="2026-01", return_rate=_RETURN_BASE)
    op.advance()
    op.advance()  # two months of leavers in the pool
    pool = op.winback_responses()
    assert pool.num_rows > 500 and set(pool["action"].to_pylist()) == {WINBACK_ACTION}
    p = pool["p_accept"].to_numpy()
    assert 0.1 < p.mean() < 0.5 and p.min() > 0.05 and p.max() < 0.7
    snap = op.snapshot()
    old_ids = set(pool["subscriber_id"].to_pylist())
    assert not old_ids & set(  # the pool is the lines that left
        snap.filter(pc.not_equal(snap["status"], "cancelled"))["subscriber_id"].to_pylist()
    )
    # the customer of each pooled line, from the hidden state
    cust = dict(
        zip(
            pa.array([f"S{k:010d}" for k in op._pool()["key"]]).to_pylist(),
            [f"C{c:010d}" for c in op._pool()["cust"]],
            strict=True,
        )
    )
    ids = sorted(old_ids)
    offered, others = ids[::2], ids[1::2]
    treat = pa.table(
        {
            "subscriber_id": offered,
            "action": [WINBACK_ACTION] * len(offered),
            "accepted": [True] * len(offered),
        }
    )
    before = _live_customers(op)
    op.advance(treat)
    after = _live_customers(op)
    came_back = after - before
    rate_offered = sum(cust[s] in came_back for s in offered) / len(offered)
    rate_others = sum(cust[s] in came_back for s in others) / len(others)
    assert 0.3 <= rate_offered <= 0.7, rate_offered  # hidden p of 0.3-0.7 after accepting
    assert rate_others <= 0.05, rate_others  # the base rate, about 1 % a month
    # the returned customers are on new lines, activated this month
    snap = op.snapshot()
    new = snap.filter(pc.is_in(snap["customer_id"], pa.array(sorted(came_back))))
    assert not set(new["subscriber_id"].to_pylist()) & old_ids


def test_customers_return_at_a_base_rate_without_any_offer():
    op = SyntheticOperator(30000, seed=6, start_month="2026-01", return_rate=_RETURN_BASE)
    prev = _live_customers(op)
    left: set[str] = set()
    returned: set[str] = set()
    for _ in range(4):
        op.advance()
        live = _live_customers(op)
        returned |= live & left
        left = (left | (prev - live)) - live
        prev = live
    assert len(left) > 1000
    # about 1 % of the recent leavers a month, with no offer at all
    assert 0 < len(returned) < 0.05 * (len(left) + len(returned)), (len(returned), len(left))


def test_without_a_return_rate_only_accepted_offers_bring_customers_back():
    op = SyntheticOperator(20000, seed=6, start_month="2026-01")
    prev = _live_customers(op)
    left: set[str] = set()
    for _ in range(3):
        op.advance()
        live = _live_customers(op)
        assert not live & left  # nobody comes back unprompted
        left = (left | (prev - live)) - live
        prev = live
