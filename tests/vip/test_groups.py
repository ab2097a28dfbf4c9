"""Group KPIs and the group alert (集团异动预警) on hand-built and synthetic months."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tests.segment.helpers import load_history, load_months
from weixi.errors import NotFoundError
from weixi.segment.service import segment_month
from weixi.store import schema
from weixi.vip import groups
from weixi.vip.params import GroupAlert, load_params

M0, M1 = dt.date(2026, 5, 1), dt.date(2026, 6, 1)


def _lines(con, month, rows):
    """Insert (subscriber_id, group_id, status) rows as mobile lines of ``month``."""
    schema.ensure(con)
    for sid, gid, status in rows:
        con.execute(
            "INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, "
            "status, group_id) VALUES (?, ?, ?, 'HZ', 'mobile', ?, ?)",
            [month, sid, "C" + sid, status, gid],
        )


def _group_month(con, size: int, leave: int, key_leave: int = 0):
    prev = [(f"S{i:03d}", "G1", "active") for i in range(size)]
    cur = [
        (sid, gid, "cancelled" if i < leave else "active") for i, (sid, gid, _) in enumerate(prev)
    ]
    _lines(con, M0, prev)
    _lines(con, M1, cur)
    load_months(
        con,
        [],
        {
            "enterprise_groups": pa.table(
                {
                    "group_id": ["G1"],
                    "name": ["某集团"],
                    "branch_id": ["HZ"],
                    "handset_count": [size * 2],
                    "industry": ["retail"],
                    "is_top500_taxpayer": [False],
                    "annual_spend": [1000.0],
                }
            ),
            # key persons: the last ones, unless key_leave asks for leavers among them
            "group_contacts": pa.table(
                {
                    "subscriber_id": [f"S{i:03d}" for i in range(key_leave)] + [f"S{size - 1:03d}"],
                    "group_id": ["G1"] * (key_leave + 1),
                    "role": ["contact"] * (key_leave + 1),
                }
            ),
        },
    )
    groups.compute_month(con, M1)
    return groups.get_all(con, M1)[0]


def test_alert_fires_when_20_percent_of_members_leave(fresh_con):
    row = _group_month(fresh_con, size=50, leave=10)
    assert (row["members_prev"], row["left_group"], row["members"]) == (50, 10, 40)
    assert row["alert"] and row["alert_reason"] == "members"
    assert row["stability"] == pytest.approx(0.8)
    assert row["coverage"] == pytest.approx(40 / 100)


def test_no_alert_just_below_20_percent(fresh_con):
    row = _group_month(fresh_con, size=50, leave=9)
    assert row["left_group"] == 9 and not row["alert"] and row["alert_reason"] is None


def test_key_persons_leaving_fire_the_alert_below_the_share(fresh_con):
    row = _group_month(fresh_con, size=50, leave=2, key_leave=2)
    assert row["key_left"] == 2 and row["alert"] and row["alert_reason"] == "key_persons"
    assert row["key_persons"] == 1  # the one still live


def test_thresholds_are_configuration(fresh_con):
    _group_month(fresh_con, size=50, leave=5)
    p = load_params().model_copy(update={"group_alert": GroupAlert(member_share=0.1)})
    groups.compute_month(fresh_con, M1, p)
    assert groups.get_all(fresh_con, M1, alerts_only=True)[0]["left_group"] == 5


def test_synthetic_group_alert_fires_at_20_percent_and_not_below(fresh_con):
    """A real synthetic group: next month is this month again except k of its members leave."""
    (m0,) = load_history(fresh_con, 3000, 1, seed=3)
    m1 = dt.date(m0.year + (m0.month == 12), m0.month % 12 + 1, 1)
    gid, n = fresh_con.execute(
        "SELECT group_id, count(*) FROM snapshot WHERE group_id IS NOT NULL "
        "AND status <> 'cancelled' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchall()[0]
    assert n >= 20
    for k, fires in ((n // 5 + (n % 5 > 0), True), (n // 5 - (n % 5 == 0), False)):
        fresh_con.execute("DELETE FROM snapshot WHERE month = ?", [m1])
        fresh_con.execute(
            "INSERT INTO snapshot SELECT * REPLACE (?::DATE AS month) FROM snapshot "
            "WHERE month = ?",
            [m1, m0],
        )
        fresh_con.execute(
            """UPDATE snapshot SET status = 'cancelled' WHERE month = ? AND subscriber_id IN (
                 SELECT subscriber_id FROM snapshot WHERE month = ? AND group_id = ?
                 AND status <> 'cancelled' AND subscriber_id NOT IN
                   (SELECT subscriber_id FROM group_contacts)
                 ORDER BY subscriber_id LIMIT ?)""",
            [m1, m1, gid, k],
        )
        run = groups.compute_month(fresh_con, m1)
        row = next(r for r in groups.get_all(fresh_con, m1) if r["group_id"] == gid)
        assert row["left_group"] == k and bool(row["alert"]) is fires, (k, n)
        assert run.alerts == (1 if fires else 0)


def test_grades_and_summary_on_the_synthetic_operator(fresh_con):
    months = load_history(fresh_con, 4000, 2, seed=5)
    segment_month(fresh_con, months[-1])
    run = groups.compute_month(fresh_con, months[-1])
    assert run.groups == fresh_con.execute("SELECT count(*) FROM enterprise_groups").fetchone()[0]
    s = groups.summary(fresh_con, months[-1])
    shares = {g["grade"]: g["share"] for g in s["grades"]}
    assert set(shares) <= {"A", "B", "C", "none"}
    assert shares["C"] > shares["B"] >= shares.get("A", 0)
    assert sum(shares.values()) == pytest.approx(1, abs=1e-3)
    t = s["total"]
    assert 0 < t["coverage"] < 1 and 0.8 < t["stability"] <= 1
    assert 0.05 < t["member_lines_share"] < 0.3
    assert sum(b["members"] for b in s["by_branch"]) == t["members"]
    first = groups.get_all(fresh_con, months[-1])[0]
    mem = groups.members(fresh_con, months[-1], first["group_id"])
    assert len(mem) == first["members"]
    assert sum(r["key_role"] is not None for r in mem) == first["key_persons"]


def test_missing_month_is_a_clear_error(fresh_con):
    with pytest.raises(NotFoundError):
        groups.summary(fresh_con, "2026-01")
