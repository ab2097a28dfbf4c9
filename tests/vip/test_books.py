"""Books of business: the HiGHS assignment and the monthly rebalance on the synthetic operator."""

from __future__ import annotations

import numpy as np
import pytest

from tests.segment.helpers import load_history
from weixi.segment.service import segment_month
from weixi.vip import books
from weixi.vip.params import Books, load_params


@pytest.mark.parametrize(
    ("held", "pool", "cap", "moves", "largest", "unplaced"),
    [
        ([450, 100], 20, 400, 50, 400, 0),  # the overload moves, nothing else
        ([300, 300], 0, 400, 0, 300, 0),  # within ratio: nobody moves
        ([0, 0, 0], 90, 400, 0, 30, 0),  # new customers spread evenly
        ([400, 400], 10, 400, 0, 400, 10),  # no room: reported, not forced
    ],
)
def test_assign_minimizes_moves_within_capacity(held, pool, cap, moves, largest, unplaced):
    a = books.assign(np.array(held), pool, cap)
    assert a.moves == moves and a.loads.max() == largest and a.unplaced.sum() == unplaced
    assert a.loads.sum() + a.unplaced.sum() == sum(held) + pool
    assert (a.loads <= cap).all()


def _store(con):
    months = load_history(con, 6000, 1, seed=11)
    segment_month(con, months[0])
    return months[0]


def test_rebalance_first_month_then_keeps_relationships(fresh_con):
    m = _store(fresh_con)
    p = load_params()
    first = books.rebalance(fresh_con, m, p)
    vip = first["vip"]
    assert vip.items > 0 and vip.new == vip.items and vip.moves == 0 and vip.within_ratio
    assert first["group"].within_ratio and first["group"].largest_book <= 50
    # one book per item, every item on a same-branch account manager
    bad = fresh_con.execute(
        """SELECT count(*) FROM books b LEFT JOIN staff s ON s.staff_id = b.staff_id
           WHERE s.channel IS DISTINCT FROM 'account_manager' OR s.branch_id <> b.branch_id"""
    ).fetchone()[0]
    assert bad == 0
    # next month: same customers, a manager leaves and one is overloaded by tight ratios
    nxt = m.replace(month=m.month % 12 + 1, year=m.year + (m.month == 12))
    fresh_con.execute(
        "INSERT INTO segments SELECT * REPLACE (?::DATE AS month) FROM segments", [nxt]
    )
    fresh_con.execute(
        "INSERT INTO snapshot SELECT * REPLACE (?::DATE AS month) FROM snapshot", [nxt]
    )
    # the busiest manager of the branch with the most room leaves
    gone, n_gone = fresh_con.execute(
        """WITH room AS (
             SELECT s.branch_id, count(DISTINCT s.staff_id) * 400 - count(b.key) AS room
             FROM staff s LEFT JOIN books b ON b.staff_id = s.staff_id AND b.kind = 'vip'
             WHERE s.channel = 'account_manager' GROUP BY 1)
           SELECT b.staff_id, count(*) FROM books b
           WHERE b.kind = 'vip' AND b.branch_id = (SELECT branch_id FROM room ORDER BY room DESC
                                                     LIMIT 1)
           GROUP BY 1 ORDER BY 2 DESC LIMIT 1"""
    ).fetchone()
    fresh_con.execute("DELETE FROM staff WHERE staff_id = ?", [gone])
    again = books.rebalance(fresh_con, nxt, p)["vip"]
    assert again.orphaned == n_gone and again.new == 0 and again.moves == 0
    assert again.kept == vip.items - n_gone and again.within_ratio
    # the branch's whole VIP book on one manager, under a tighter ratio (configuration):
    # exactly the excess moves, the rest of the relationships stay
    branch, _total, k = fresh_con.execute(
        """SELECT b.branch_id, count(*), (SELECT count(*) FROM staff s WHERE s.branch_id =
                  b.branch_id AND s.channel = 'account_manager')
           FROM books b WHERE b.month = ? AND b.kind = 'vip' AND b.staff_id = ? GROUP BY 1""",
        [
            nxt,
            fresh_con.execute("SELECT min(staff_id) FROM books WHERE month = ?", [nxt]).fetchone()[
                0
            ],
        ],
    ).fetchone()
    assert k >= 2
    fresh_con.execute("DELETE FROM books WHERE month = ?", [m])
    fresh_con.execute("UPDATE books SET month = ? WHERE month = ?", [m, nxt])
    one = fresh_con.execute(
        "SELECT min(staff_id) FROM staff WHERE branch_id = ? AND channel = 'account_manager'",
        [branch],
    ).fetchone()[0]
    fresh_con.execute(
        "UPDATE books SET staff_id = ? WHERE kind = 'vip' AND branch_id = ?", [one, branch]
    )
    n_branch = fresh_con.execute(
        "SELECT count(*) FROM books WHERE kind = 'vip' AND branch_id = ?", [branch]
    ).fetchone()[0]
    cap = -(-n_branch // k)
    tight = p.model_copy(update={"books": Books(vip_per_manager=cap)})
    res = books.rebalance(fresh_con, nxt, tight)["vip"]
    moved, largest_b = fresh_con.execute(
        """SELECT count(*) FILTER (WHERE status = 'moved'),
                  (SELECT max(n) FROM (SELECT count(*) AS n FROM books WHERE month = $m
                   AND kind = 'vip' AND branch_id = $b GROUP BY staff_id))
           FROM books WHERE month = $m AND kind = 'vip' AND branch_id = $b""",
        {"m": nxt, "b": branch},
    ).fetchone()
    assert moved == n_branch - cap > 0 and largest_b <= cap
    assert res.largest_by_branch[branch] == largest_b
    out = books.report_dict(nxt, {"vip": res})
    assert out["books"]["vip"]["moves"] == res.moves >= moved
