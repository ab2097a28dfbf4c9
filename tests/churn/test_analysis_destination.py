"""Leavers' destination (携号转网去向): port-out events of the daily feed, read by the analysis."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weixi.churn.analysis import analyse
from weixi.ingest.events import PORT_OUT_DESTINATIONS
from weixi.store import schema
from weixi.synth.events import PORT_OUT_SHARE, daily_events, destination_shares
from weixi.synth.generate import SyntheticOperator

MAR, APR = dt.date(2026, 3, 1), dt.date(2026, 4, 1)


def _line(con, month, sid, arpu, status="active", line_type="mobile"):
    con.execute(
        "INSERT INTO snapshot (month, subscriber_id, branch_id, line_type, status, "
        "activation_date, arpu) VALUES (?, ?, 'HZ', ?, ?, DATE '2020-01-01', ?)",
        [month, sid, line_type, status, arpu],
    )


def _event(con, day, sid, etype, detail):
    con.execute(
        "INSERT INTO events (event_id, event_date, customer_id, subscriber_id, event_type, "
        "detail, source) VALUES (?, ?, ?, ?, ?, ?, 'feed')",
        [f"E{sid}{day}{etype}", day, f"C{sid}", sid, etype, detail],
    )


def test_analysis_takes_the_latest_port_out_event_as_destination(fresh_con):
    schema.ensure(fresh_con)
    for i in range(10):
        _line(fresh_con, MAR, f"s{i}", 100.0)
        if i >= 4:  # s0..s3 leave in April
            _line(fresh_con, APR, f"s{i}", 100.0)
    _event(fresh_con, dt.date(2026, 4, 3), "s0", "port_out", "china_unicom")
    _event(fresh_con, dt.date(2026, 4, 20), "s0", "port_out", "china_mobile")  # latest wins
    _event(fresh_con, dt.date(2026, 4, 9), "s1", "port_out", "china_mobile")
    _event(fresh_con, dt.date(2026, 4, 9), "s2", "competitor_call", "10086")  # not a port-out
    _event(fresh_con, dt.date(2026, 5, 2), "s3", "port_out", "china_unicom")  # after the month
    out = analyse(fresh_con, APR)
    assert out["left"] == 4 and out["ported_out"] == 2
    dest = {r["key"]: r["left"] for r in out["by"]["destination"]}
    assert dest == {"china_mobile": 2, "unknown": 2}


def test_feed_ports_out_a_share_of_leaving_mobile_lines_once_each():
    op = SyntheticOperator(6000, seed=5, start_month="2026-03")
    snap = op.snapshot()
    leaving = op.leaving()
    days = [APR + dt.timedelta(days=i) for i in range(30)]
    feeds = [
        daily_events(snap, d, risk=np.full(snap.num_rows, 0.02), seed=5, leaving=leaving)
        for d in days
    ]
    ports = pa.concat_tables([f.filter(pc.equal(f["event_type"], "port_out")) for f in feeds])
    sids = ports["subscriber_id"].to_pylist()
    assert len(sids) == len(set(sids))  # one port-out per line, over the whole month
    mobile_leavers = {
        s
        for s, lv, lt in zip(
            snap["subscriber_id"].to_pylist(), leaving, snap["line_type"].to_pylist(), strict=True
        )
        if lv and lt == "mobile"
    }
    assert set(sids) <= mobile_leavers
    share = len(sids) / len(mobile_leavers)
    assert 0.3 <= share <= 0.5, share  # PORT_OUT_SHARE = 0.4 of the leaving mobile lines
    assert abs(share - PORT_OUT_SHARE) < 0.1
    assert set(ports["detail"].to_pylist()) <= set(PORT_OUT_DESTINATIONS)
    # nobody ports out without leaving, and the same seed gives the same feed
    assert not any(
        pc.any(pc.equal(f["event_type"], "port_out")).as_py()
        for f in (daily_events(snap, APR, risk=np.full(snap.num_rows, 0.02), seed=5),)
    )
    again = daily_events(snap, days[3], risk=np.full(snap.num_rows, 0.02), seed=5, leaving=leaving)
    assert again.equals(feeds[3])
    assert destination_shares(5) == destination_shares(5) != destination_shares(6)


def test_leaving_lines_are_gone_or_cancelled_after_an_untreated_transition():
    op = SyntheticOperator(3000, seed=2, start_month="2026-03")
    before = op.snapshot()["subscriber_id"].to_numpy(zero_copy_only=False)
    leaving = op.leaving()
    op.advance()
    nxt = op.snapshot()
    live = set(nxt.filter(pc.not_equal(nxt["status"], "cancelled"))["subscriber_id"].to_pylist())
    assert leaving.sum() > 20
    assert not (set(before[leaving]) & live)
    staying = set(before[~leaving]) & set(nxt["subscriber_id"].to_pylist())
    assert len(staying) > 0.9 * (~leaving).sum()
