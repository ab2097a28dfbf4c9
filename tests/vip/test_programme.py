"""Tier moves with bilingual notices and the care calendar (events for the trigger rules)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from weixi.errors import NotFoundError
from weixi.vip import programme


def _world(con, rows):
    """rows: (month, subscriber_id, customer_id, vip_tier, id_number)."""
    con.execute(
        "CREATE OR REPLACE TABLE segments (month DATE, subscriber_id VARCHAR, customer_id VARCHAR, "
        "branch_id VARCHAR, vip_tier VARCHAR, arpu_3m DOUBLE)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE snapshot (month DATE, subscriber_id VARCHAR, customer_id VARCHAR, "
        "id_number VARCHAR, status VARCHAR)"
    )
    for month, sid, cid, tier, idn in rows:
        con.execute("INSERT INTO segments VALUES (?, ?, ?, 'HZ', ?, 100)", [month, sid, cid, tier])
        con.execute("INSERT INTO snapshot VALUES (?, ?, ?, ?, 'active')", [month, sid, cid, idn])


SEP, OCT = dt.date(2025, 9, 1), dt.date(2025, 10, 1)
ID_OCT_12 = "330102198510120015"  # born 1985-10-12


def test_tier_moves_and_notices(fresh_con):
    _world(
        fresh_con,
        [
            (SEP, "S1", "C1", "silver", None),
            (OCT, "S1", "C1", "gold", None),  # up
            (SEP, "S2", "C2", "diamond", None),
            (OCT, "S2", "C2", "gold", None),  # down
            (SEP, "S3", "C3", "none", None),
            (OCT, "S3", "C3", "silver", None),  # joined
            (SEP, "S4", "C4", "gold", None),  # left (gone)
            (SEP, "S5", "C5", "gold", None),
            (OCT, "S5", "C5", "gold", None),  # no move
            # a customer's tier is their best line's
            (SEP, "S6", "C6", "gold", None),
            (OCT, "S6", "C6", "silver", None),
            (OCT, "S7", "C6", "gold", None),
        ],
    )
    moves = {r["customer_id"]: r for r in programme.tier_moves(fresh_con, OCT)}
    assert {c: r["move"] for c, r in moves.items()} == {
        "C1": "up",
        "C2": "down",
        "C3": "joined",
        "C4": "left",
    }
    assert moves["C1"]["notice_en"] == "Congratulations: your membership rises from Silver to Gold."
    assert "金卡" in moves["C1"]["notice_zh"] and "银卡" in moves["C1"]["notice_zh"]
    assert all(r["notice_zh"] != r["notice_en"] for r in moves.values())


def test_care_events_birthday_holiday_anniversary(fresh_con):
    oct24 = dt.date(2024, 10, 1)
    _world(
        fresh_con,
        [
            (oct24, "S1", "C1", "gold", ID_OCT_12),
            (SEP, "S1", "C1", "gold", ID_OCT_12),
            (OCT, "S1", "C1", "gold", ID_OCT_12),  # gold since 2024-10, born in October
            (OCT, "S2", "C2", "silver", "330102199001010011"),  # born in January
            (OCT, "S3", "C3", "none", ID_OCT_12),  # not a VIP: no care events
        ],
    )
    ev = programme.care_events(fresh_con, OCT)
    assert ev.schema == programme.EVENT_SCHEMA
    rows = ev.to_pylist()
    got = {(r["customer_id"], r["event_type"], r["event_date"]) for r in rows}
    assert ("C1", "vip_birthday", dt.date(2025, 10, 12)) in got
    assert ("C1", "vip_holiday", dt.date(2025, 10, 1)) in got  # National Day
    assert ("C2", "vip_holiday", dt.date(2025, 10, 1)) in got
    assert ("C1", "vip_tier_anniversary", OCT) in got
    assert not any(c == "C2" and t == "vip_birthday" for c, t, _ in got)
    assert not any(c == "C3" for c, _, _ in got)
    anniv = next(r for r in rows if r["event_type"] == "vip_tier_anniversary")
    assert json.loads(anniv["attributes"]) == {"tier": "gold", "years": 1}
    # a tier that began this month has no anniversary; September has no configured holiday
    assert programme.care_events(fresh_con, SEP).num_rows == 0


def test_unsegmented_month_is_a_clear_error(fresh_con):
    with pytest.raises(NotFoundError):
        programme.care_events(fresh_con, "2025-10")
