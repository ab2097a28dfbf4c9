"""On a fresh store (every declared table present, all empty) the VIP and group views say
"no data yet": empty results or the NotFoundError naming the step to run, never a SQL error."""

from __future__ import annotations

import pytest

from weixi.errors import NotFoundError
from weixi.vip import books, groups, points, programme


def test_empty_store_gives_empty_views_and_next_steps(fresh_con):
    con = fresh_con
    assert books.latest_month(con) is None
    assert groups.latest_month(con) is None
    assert books.book_of(con, "2026-03", "AM1") == {"vip": [], "group": []}
    assert groups.members(con, "2026-03", "G1") == []
    with pytest.raises(NotFoundError, match="no staff table"):
        books.rebalance(con, "2026-03")
    with pytest.raises(NotFoundError, match="no enterprise groups"):
        groups.compute_month(con, "2026-03")
    with pytest.raises(NotFoundError, match="no group KPIs for 2026-03"):
        groups.summary(con, "2026-03")
    with pytest.raises(NotFoundError, match="no segments"):
        points.earned(con, "2026-03")
    with pytest.raises(NotFoundError, match="2026-03 is not segmented"):
        programme.churn_warning(con, "2026-03")


def test_churn_warning_without_scores_names_the_scoring_step(fresh_con):
    con = fresh_con
    con.execute(
        "INSERT INTO segments (month, subscriber_id, customer_id, vip_tier) "
        "VALUES (DATE '2026-03-01', 'S1', 'C1', 'gold')"
    )
    with pytest.raises(NotFoundError, match="no churn scores: run `weixi churn score"):
        programme.churn_warning(con, "2026-03")
    con.execute(
        "INSERT INTO churn_scores (month, subscriber_id, model_version, p_churn) "
        "VALUES (DATE '2026-02-01', 'S0', 'm1', 0.5)"
    )
    assert programme.churn_warning(con, "2026-03") == []  # scored, just not this month's VIPs
