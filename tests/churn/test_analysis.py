"""Churn analysis over the declared tables: with ``complaint_log`` and ``events`` empty the
reason and destination are ``unknown``; a complaint and a port-out event name them."""

from __future__ import annotations

import datetime as dt

from weixi.churn import analysis
from weixi.churn import features as F

APRIL = dt.date(2026, 4, 1)


def _store(con) -> None:
    con.execute(
        """INSERT INTO snapshot (month, subscriber_id, customer_id, branch_id, line_type, status,
                                 arpu, activation_date)
           VALUES (DATE '2026-03-01', 'S1', 'C1', 'HZ', 'mobile', 'active', 80, DATE '2020-01-01'),
                  (DATE '2026-03-01', 'S2', 'C2', 'HZ', 'mobile', 'active', 30, DATE '2025-09-01'),
                  (DATE '2026-03-01', 'S3', 'C3', 'HZ', 'mobile', 'active', 50, DATE '2024-01-01'),
                  (DATE '2026-04-01', 'S2', 'C2', 'HZ', 'mobile', 'cancelled', 30,
                   DATE '2025-09-01'),
                  (DATE '2026-04-01', 'S3', 'C3', 'HZ', 'mobile', 'active', 50,
                   DATE '2024-01-01')"""
    )


def _by(out: dict, dim: str) -> dict:
    return {r["key"]: r["left"] for r in out["by"][dim]}


def test_empty_complaint_log_and_events_give_unknown(fresh_con):
    _store(fresh_con)
    assert not F.has_complaints(fresh_con)
    out = analysis.analyse(fresh_con, APRIL)
    assert (out["live"], out["left"]) == (3, 2)
    assert _by(out, "reason") == {"unknown": 2}
    assert _by(out, "destination") == {"unknown": 2}
    assert _by(out, "segment") == {"unsegmented": 2}


def test_a_complaint_and_a_port_out_name_reason_and_destination(fresh_con):
    _store(fresh_con)
    fresh_con.execute(
        "INSERT INTO events (event_id, event_date, customer_id, subscriber_id, event_type, detail) "
        "VALUES ('E1', DATE '2026-04-10', 'C1', 'S1', 'port_out', 'china_unicom')"
    )
    fresh_con.execute(
        "INSERT INTO complaint_log (id, subscriber_id, category, received_at) "
        "VALUES (1, 'S2', 'price', TIMESTAMP '2026-03-20 10:00')"
    )
    assert F.has_complaints(fresh_con)
    out = analysis.analyse(fresh_con, APRIL)
    assert _by(out, "reason") == {"complaint_price": 1, "unknown": 1}
    assert _by(out, "destination") == {"china_unicom": 1, "unknown": 1}
