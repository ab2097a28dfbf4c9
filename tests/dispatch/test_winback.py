"""Win-back lists: recent high-value leavers only, an offer by ARPU band, a stable control."""

from __future__ import annotations

import datetime as dt

from weixi.dispatch import holdout
from weixi.dispatch.winback import load_winback, winback_list
from weixi.store import schema

FEB, MAR, APR = dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)


def _line(con, month, sid, arpu, status="active"):
    con.execute(
        "INSERT INTO snapshot (month, subscriber_id, branch_id, line_type, status, "
        "activation_date, arpu) VALUES (?, ?, 'HZ', 'mobile', ?, DATE '2020-01-01', ?)",
        [month, sid, status, arpu],
    )


def test_recent_high_value_leavers_get_an_offer_and_a_control_draw(fresh_con):
    schema.ensure(fresh_con)
    for i in range(400):  # 400 high-value lines live in March; 300 leave in April
        _line(fresh_con, MAR, f"h{i}", 250.0 if i % 2 else 150.0)
        if i >= 300:
            _line(fresh_con, APR, f"h{i}", 250.0)
    _line(fresh_con, MAR, "low", 20.0)  # low value: never listed
    _line(fresh_con, MAR, "gone_cancelled", 300.0)
    _line(fresh_con, APR, "gone_cancelled", 0.0, status="cancelled")  # cancelled counts as left
    _line(fresh_con, FEB, "old", 300.0)  # left in March: outside a 1-month lookback
    spec = load_winback()
    df, summary = winback_list(fresh_con, APR, spec)
    assert set(df["subscriber_id"]) == {f"h{i}" for i in range(300)} | {"gone_cancelled"}
    top = df.set_index("subscriber_id")
    assert top.loc["h1", "offer_key"] == "WB_TOP_RETURN"
    assert top.loc["h2", "offer_key"] == "WB_MID_RETURN"
    # the control group is the holdout module's persistent draw under the spec's salt
    expected = holdout.uniform(df["subscriber_id"], spec.key) < spec.control_share
    assert (df["is_control"].to_numpy() == expected).all()
    assert 10 <= summary["control"] <= 60 and summary["treated"] + summary["control"] == 301
    assert sum(summary["by_offer"].values()) == summary["treated"]
    wider = spec.model_copy(update={"lookback_months": 2})
    assert "old" in set(winback_list(fresh_con, APR, wider)[0]["subscriber_id"])
