"""Daily events → trigger rules → tasks: the contact policy (DND, caps, cool-downs) holds across
campaigns and triggers; controls, rule cool-downs, quarantine and the plan record evaluation reads."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import select

from tests.dispatch.test_plan import SPEC, _snapshot
from tests.strategy.factories import MONTH, load, random_segments
from weixi.dispatch.models import ContactLog, Task
from weixi.dispatch.schemas import CampaignSpec
from weixi.dispatch.service import plan_month
from weixi.errors import RuleError
from weixi.flows import run_day
from weixi.ingest.events import EVENT_TYPES
from weixi.store.db import Base, get_engine, session_factory
from weixi.strategy.library import load_preset
from weixi.synth.events import write_daily
from weixi.triggers.rules import load_triggers, parse_triggers

DAY = dt.date(2026, 2, 3)  # worked month: 2026-01 (the last segmented month before February)


@pytest.fixture
def session(settings):
    import weixi.security.audit  # noqa: F401  (registers the audit table)

    Base.metadata.create_all(get_engine())
    s = session_factory()()
    yield s
    s.close()


@pytest.fixture
def world(fresh_con, session):
    seg, scores = random_segments(3000, seed=9, n_branches=2)
    load(fresh_con, seg, scores)
    snap = _snapshot(seg, MONTH)
    fresh_con.register("_snap", snap)
    fresh_con.execute("CREATE OR REPLACE TABLE snapshot AS SELECT * FROM _snap")
    fresh_con.unregister("_snap")
    return fresh_con, session, seg, snap


def _events(seg: pd.DataFrame, ids: list[str], etype: str, day: dt.date, value=90.0) -> pa.Table:
    sub = seg.set_index("subscriber_id").loc[ids]
    n = len(ids)
    return pa.table(
        {
            "event_id": [f"E{day:%Y%m%d}{etype[:3]}{i:05d}" for i in range(n)],
            "event_date": pa.array([day] * n, pa.date32()),
            "customer_id": sub["customer_id"].tolist(),
            "subscriber_id": ids,
            "event_type": [etype] * n,
            "value": pa.array([value] * n, pa.float64()),
            "detail": pa.array([None] * n, pa.string()),
        }
    )


def _day(con, session, table: pa.Table, day: dt.date, tmp_path, **kw) -> dict:
    w = write_daily(table, tmp_path / f"feed-{day}", day)
    rep = run_day(con=con, session=session, day=day, mapping=w["mapping"], paths=[w["file"]], **kw)
    session.commit()
    return rep


def _firings(con, day: dt.date) -> pd.DataFrame:
    return con.execute("SELECT * FROM trigger_firings WHERE event_date = ?", [day]).df()


def test_policy_holds_across_campaigns_and_triggers(world, tmp_path):
    con, session, seg, snap = world
    ok = seg[~seg["excluded"] & seg["credit"].isin(["none", "grey"])]
    dnd = set(snap.loc[snap["do_not_disturb"], "subscriber_id"]) & set(ok["subscriber_id"])
    # the campaign first: its open tasks count against the cap of 2 for the month
    spec = CampaignSpec.model_validate({**SPEC, "capacity": {}, "holdout": {"share": 0.0}})
    plan_month(
        con=con,
        month=MONTH,
        spec=spec,
        library=load_preset(),
        session=session,
        as_of=dt.datetime(2026, 1, 1),
    )
    session.commit()
    on_campaign = {r[0] for r in session.execute(select(Task.subscriber_id)).all()}
    free = [s for s in ok["subscriber_id"] if s not in on_campaign and s not in dnd]
    with_task = [s for s in ok["subscriber_id"] if s in on_campaign and s not in dnd][:40]
    refused = free[:30]
    one_log = free[30:80]  # one contact logged + one trigger task = the cap for the next campaign
    fresh = free[80:400]
    for s in with_task:  # the campaign task + one logged contact = 2 = the cap
        session.add(
            ContactLog(
                subscriber_id=s,
                channel="sms",
                result="not_reached",
                contacted_at=dt.datetime(2026, 1, 5),
            )
        )
    for s in one_log:
        session.add(
            ContactLog(
                subscriber_id=s,
                channel="sms",
                result="not_reached",
                contacted_at=dt.datetime(2026, 1, 6),
            )
        )
    for s in refused:
        session.add(
            ContactLog(
                subscriber_id=s,
                channel="call_center",
                result="refused",
                contacted_at=dt.datetime(2026, 1, 30),
            )
        )
    session.commit()
    ids = [*with_task, *refused, *one_log, *fresh, *sorted(dnd)[:20]]
    rep = _day(con, session, _events(seg, ids, "competitor_call", DAY), DAY, tmp_path)
    assert rep["read"] == rep["loaded"] == len(ids) and rep["quarantined"] == 0
    f = _firings(con, DAY).set_index("subscriber_id")
    assert (f.loc[sorted(dnd)[:20], "reason"] == "do_not_disturb").all()
    assert (f.loc[with_task, "reason"] == "contact_cap").all()
    assert (f.loc[refused, "reason"] == "cooldown").all()
    assert (
        f.loc[[*one_log, *fresh], "reason"].isin([None, "over_capacity"]).all()
        or (
            f.loc[[*one_log, *fresh], "reason"].isna()
            | (f.loc[[*one_log, *fresh], "reason"] == "over_capacity")
        ).all()
    )
    # the JSON's counts are the firings'
    assert rep["suppressed"]["do_not_disturb"] == 20
    assert rep["suppressed"]["contact_cap"] == len(with_task)
    assert rep["suppressed"]["cooldown"] == len(refused)
    tasks = pd.DataFrame(
        session.execute(
            select(Task.subscriber_id, Task.due_at, Task.channel).where(
                Task.campaign_id.in_(
                    select(Task.campaign_id).where(Task.reason.like("Trigger%")).distinct()
                )
            )
        ).all(),
        columns=["subscriber_id", "due_at", "channel"],
    )
    assert len(tasks) == rep["tasks_created"] > 0
    assert set(tasks["subscriber_id"]) == set(f.index[f["outcome"] == "task"])
    assert not set(tasks["subscriber_id"]) & (dnd | set(with_task) | set(refused))
    assert (tasks["due_at"] == dt.datetime.combine(DAY, dt.time(8)) + dt.timedelta(days=1)).all()
    # controls: no task, but in the plan record evaluation reads (is_control)
    ctl = set(f.index[f["outcome"] == "control"])
    assert ctl and not ctl & set(tasks["subscriber_id"])
    pa_ = con.execute(
        "SELECT subscriber_id, is_control FROM plan_assignments "
        "WHERE campaign_id = 'trigger-competitor_call'"
    ).df()
    assert set(pa_.loc[pa_["is_control"], "subscriber_id"]) == ctl
    assert (
        con.execute(
            "SELECT status FROM plans WHERE campaign_id = 'trigger-competitor_call'"
        ).fetchone()[0]
        == "approved"
    )
    # ... and the other way round: a second campaign sees the trigger tasks against its cap
    triggered_one_log = [s for s in one_log if s in set(tasks["subscriber_id"])]
    assert triggered_one_log
    plan_month(
        con=con,
        month=MONTH,
        spec=spec.model_copy(update={"key": "second", "salt": "x"}),
        library=load_preset(),
        session=session,
        as_of=dt.datetime(2026, 2, 3),
    )
    not_on = (
        con.execute(
            "SELECT subscriber_id, reason FROM plan_not_on_list WHERE campaign_id = 'second'"
        )
        .df()
        .set_index("subscriber_id")
    )
    assert (
        not_on.loc[[s for s in triggered_one_log if s in not_on.index], "reason"].isin(
            ["contact_cap", "excluded", "no_strategy", "household"]
        )
    ).all()
    second = {
        r[0]
        for r in session.execute(
            select(Task.subscriber_id).join(Task.campaign).where(Task.campaign.has(key="second"))
        ).all()
    }
    assert not second & set(triggered_one_log)

    # the next day: the same customers again → the rule's cool-down, no second task
    nxt = DAY + dt.timedelta(days=1)
    rep2 = _day(con, session, _events(seg, fresh, "competitor_call", nxt), nxt, tmp_path)
    f2 = _firings(con, nxt).set_index("subscriber_id")
    fired = set(f.index[f["outcome"].isin(["task", "control"])]) & set(fresh)
    assert (f2.loc[sorted(fired), "reason"] == "rule_cooldown").all()
    assert rep2["suppressed"]["rule_cooldown"] >= len(fired)


def test_one_trigger_a_day_capacity_and_quarantine(world, tmp_path):
    con, session, seg, snap = world
    ok = seg[~seg["excluded"] & (seg["credit"] == "none") & (seg["line_type"] == "mobile")]
    ok = ok[~ok["subscriber_id"].isin(snap.loc[snap["do_not_disturb"], "subscriber_id"])]
    ids = ok["subscriber_id"].tolist()[:200]
    both = pa.concat_tables(
        [
            _events(seg, ids, "complaint_filed", DAY),
            _events(seg, ids, "usage_drop", DAY, value=50.0),
        ]
    )
    # a bad row: unknown type and a wrong date → quarantined, the rest loads
    bad = _events(seg, ids[:1], "complaint_filed", DAY).to_pylist()[0]
    bad["event_id"], bad["event_type"] = "BAD1", "usage_drop"
    table = pa.concat_tables([both, pa.Table.from_pylist([bad], schema=both.schema)])
    w = write_daily(table, tmp_path / "feed", DAY)
    text = (tmp_path / "feed" / f"events_{DAY}.csv").read_text(encoding="utf-8")
    text = text.replace('"BAD1","20260203"', '"BAD1","20260204"')
    (tmp_path / "feed" / f"events_{DAY}.csv").write_text(
        text + '"BAD2","20260203","c","s","外星人",,\n', encoding="utf-8"
    )
    ts = load_triggers("seed").model_copy(update={"capacity_share": 0.05})
    rep = run_day(
        con=con, session=session, day=DAY, mapping=w["mapping"], paths=[w["file"]], triggers=ts
    )
    session.commit()
    assert rep["read"] == 402 and rep["loaded"] == 400 and rep["quarantined"] == 2
    assert rep["defects"] == {"event_date_mismatch": 1, "not_in_choices": 1}
    f = _firings(con, DAY)
    # the complaint rule comes first in the preset: the usage drop of the same line is suppressed
    assert (f.loc[f["rule"] == "usage_drop", "reason"] == "another_trigger_today").all()
    # capacity: 5 % of a day's contacts (pseudo call center 4 × 85 → 17 per branch)
    used = f[f["reason"].isna()].groupby(["branch_id", "channel"]).size()
    assert (used[used.index.get_level_values(1) == "call_center"] <= 17).all()
    assert rep["suppressed"].get("over_capacity", 0) > 0
    assert rep["tasks_created"] + rep["control"] + sum(rep["suppressed"].values()) == len(f)


def test_rules_use_the_segmentation_language_and_are_checked():
    ts = load_triggers("seed")
    assert {e for r in ts.rules for e in r.events} <= set(EVENT_TYPES)
    base = {"name": "x", "description": {"en": "x", "zh": "x"}}
    rule = {
        "key": "r",
        "label": {"en": "r", "zh": "r"},
        "events": ["usage_drop"],
        "action": "care_call",
    }
    with pytest.raises(RuleError, match="did you mean arpu_3m"):
        parse_triggers({**base, "rules": [{**rule, "when": "arpu_3n > 1"}]})
    with pytest.raises(RuleError, match="unknown action"):
        parse_triggers({**base, "rules": [{**rule, "action": "nope"}]})
    with pytest.raises(RuleError, match="unknown event types"):
        parse_triggers({**base, "rules": [{**rule, "events": ["rain"]}]})
    with pytest.raises(RuleError, match="belongs to action"):
        parse_triggers({**base, "rules": [{**rule, "offer": "pd_high"}]})
    ok = parse_triggers({**base, "rules": [{**rule, "when": "value >= 30 and a == 'A1'"}]})
    assert ok.rules[0].campaign_key == "trigger-r"


def test_synthetic_feed_warns_the_at_risk_more():
    from weixi.synth.events import daily_events
    from weixi.synth.generate import SyntheticOperator

    op = SyntheticOperator(4000, seed=2, start_month="2026-01")
    snap = op.snapshot()
    risk = op.true_churn_prob().column("p_churn").to_numpy(zero_copy_only=False)
    ev = pa.concat_tables(
        [
            daily_events(snap, dt.date(2026, 2, 1) + dt.timedelta(days=i), risk=risk, seed=1)
            for i in range(10)
        ]
    ).to_pandas()
    assert set(ev["subscriber_id"]) <= set(snap.column("subscriber_id").to_pylist())
    warn = ev[ev["event_type"].isin(["usage_drop", "zero_call_days", "competitor_call"])]
    r = pd.Series(risk, index=snap.column("subscriber_id").to_pylist())
    top = r[r >= np.nanquantile(risk, 0.9)].index
    per_top = warn["subscriber_id"].isin(top).sum() / len(top)
    per_rest = (~warn["subscriber_id"].isin(top)).sum() / (len(r) - len(top))
    assert per_top > 3 * per_rest
    assert {"birthday", "contract_expiring", "business_handled"} <= set(ev["event_type"])


def test_a_trigger_is_evaluated_as_a_campaign_type(world, tmp_path):
    from weixi.evaluate.service import evaluate_month

    con, session, seg, snap = world
    ok = seg[~seg["excluded"] & (seg["credit"] == "none")]
    ok = ok[~ok["subscriber_id"].isin(snap.loc[snap["do_not_disturb"], "subscriber_id"])]
    ids = ok["subscriber_id"].tolist()[:600]
    ts = load_triggers("seed").model_copy(update={"capacity_share": 1.0})
    ts.rules[0] = ts.rules[0].model_copy(update={"control_share": 0.3})
    rep = _day(con, session, _events(seg, ids, "competitor_call", DAY), DAY, tmp_path, triggers=ts)
    assert rep["tasks_created"] > 100 and rep["control"] > 50
    # the next month's snapshot gives the outcomes: treated lines stay more often
    nxt = snap.assign(month=dt.date(2026, 2, 1))
    fired = con.execute(
        "SELECT subscriber_id, outcome FROM trigger_firings WHERE rule = 'competitor_call'"
    ).df()
    ctl = set(fired.loc[fired["outcome"] == "control", "subscriber_id"])
    nxt = nxt[~nxt["subscriber_id"].isin(sorted(ctl)[: len(ctl) // 2])]  # half the controls left
    con.register("_n", nxt)
    con.execute("INSERT INTO snapshot BY NAME SELECT * FROM _n")
    report = evaluate_month(con=con, month=MONTH, n_boot=50)
    by_type = {r["group"]: r for r in report["by"]["campaign_type"]}
    assert set(by_type) == {"trigger"}
    trig = {r["group"]: r for r in report["by"]["campaign_id"]}["trigger-competitor_call"]
    assert trig["n_control"] == len(ctl) and trig["n_treated"] == rep["tasks_created"]
    assert trig["retention_lift"] > 0.3


def test_a_fresh_store_has_no_work_month_and_no_firings(fresh_con):
    """Every table is declared (empty): nothing to fire on, nothing fired, no SQL error."""
    from weixi.triggers import service

    assert service.work_month(fresh_con, dt.date(2026, 4, 2)) is None
    assert service.recent_firings(con=fresh_con) == {"summary": [], "rows": []}
