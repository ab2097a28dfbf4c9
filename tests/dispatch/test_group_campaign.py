"""Group retention campaigns (集团客户维系活动) dispatched into the work queue, on both databases
(``op_db``): whole groups in one arm, the control share, one task per treated group for its
account manager on a key person's line, within the contact policy."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.vip import group_world as gw
from weixi.dispatch import queue as work_queue
from weixi.dispatch.holdout import uniform
from weixi.dispatch.models import ContactLog, Task
from weixi.errors import ConfigError
from weixi.store.analytics import connect
from weixi.store.db import session_scope
from weixi.vip import campaign
from weixi.vip.params import load_params
from weixi.web import migrate

NOW = dt.datetime(2026, 6, 3, 9, 0)


def _params(**kw):
    p = load_params()
    return p.model_copy(update={"group_campaign": p.group_campaign.model_copy(update=kw)})


@pytest.fixture
def con():
    c = connect(":memory:")
    yield c
    c.close()


def test_whole_groups_are_drawn_by_the_holdout_hash_and_the_share_holds(con, settings):
    gids = gw.build(con, 3000)
    every = _params(top_n=10_000)  # every group with members is a candidate
    df = campaign.candidates(con, gw.M1, key="gc-a", share=0.2, params=every)
    assert len(df) == len(gids) and df["group_id"].is_unique  # one row (one arm) per group
    # the arm is the dispatch's stable draw on the group id, salted by the campaign key
    expect = uniform(df["group_id"], "gc-a") < 0.2
    assert (df["is_control"].to_numpy() == expect).all()
    assert abs(df["is_control"].mean() - 0.2) < 0.03  # 3000 groups: sd 0.0073
    other = campaign.candidates(con, gw.M1, key="gc-b", share=0.2, params=every)
    assert (other["is_control"].to_numpy() != df["is_control"].to_numpy()).any()
    half = campaign.candidates(con, gw.M1, key="gc-a", share=0.5, params=every)
    assert abs(half["is_control"].mean() - 0.5) < 0.04
    # a larger share only adds groups to control (the same uniform, a higher cut)
    assert (half["is_control"] | ~df["is_control"]).all()


def test_candidates_are_alerts_and_the_riskiest_groups(con, settings):
    gw.build(con, 60)
    p = _params(top_n=5, min_mean_p_churn=0.5)
    df = campaign.candidates(con, gw.M1, key="k", params=p)
    risk = con.execute(
        """SELECT s.group_id, avg(c.p_churn) FROM snapshot s JOIN churn_scores c
           USING (month, subscriber_id) WHERE month = ? GROUP BY 1 ORDER BY 2 DESC""",
        [gw.M1],
    ).fetchall()
    top5 = {g for g, _ in risk[:5]}
    high = {g for g, r in risk if r >= 0.5}
    assert set(df["group_id"]) == top5 | high
    assert set(df.loc[df["reason"] == "top_risk", "group_id"]) == top5
    assert (df.loc[df["reason"] == "high_risk", "mean_p_churn"] >= 0.5).all()


def test_tasks_only_for_treated_groups_key_persons(con, settings, op_db):
    migrate.upgrade()
    # G0003's decision maker is do-not-disturb (its contact gets the task); both key persons
    # of G0005 are (no task); G0007's decision maker was already contacted twice this month
    dnd = {"L000300", "L000500", "L000501"}
    gids = gw.build(con, 40, dnd=dnd)
    p = _params(top_n=10_000)
    # the test needs these groups treated: the first key whose draw treats them
    key = next(
        k
        for k in (f"gc-{i}" for i in range(200))
        if not any(uniform(["G0001", "G0003", "G0005", "G0007"], k) < 0.3)
    )
    ctl = dict(zip(gids, uniform(gids, key) < 0.3, strict=True))  # the reference draw
    with session_scope() as s:
        for _ in range(2):
            s.add(
                ContactLog(
                    subscriber_id="L000700",
                    channel="call_center",
                    result="accepted",
                    contacted_at=NOW - dt.timedelta(days=1),
                )
            )
        s.flush()
        out = campaign.dispatch(
            con=con, session=s, month=gw.M1, key=key, share=0.3, params=p, now=NOW
        )
        s.commit()
    treated = [g for g in gids if not ctl[g]]
    assert out["treated"] == len(treated) and out["control"] == len(gids) - len(treated)
    assert out["no_task"] == {"do_not_disturb": 1}
    assert out["tasks_created"] == len(treated) - 1
    with session_scope() as s:
        tasks = s.scalars(select(Task).order_by(Task.group_id)).all()
        by_group = {t.group_id: t for t in tasks}
        assert set(by_group) == set(treated) - {"G0005"}  # no control group has a task
        assert len(tasks) == len(by_group)  # one task per group
        for g, t in by_group.items():
            i = int(g[1:])
            assert t.subscriber_id in {f"L{i:04d}00", f"L{i:04d}01"}  # a key person's line
            assert t.staff_id == f"AM-{'HZ' if i % 2 else 'NB'}"  # the group's manager
            assert (t.channel, t.action, t.status) == ("account_manager", "group_retention", "open")
            assert t.due_at == NOW + dt.timedelta(days=14)
            assert g in t.reason and g in t.reason_zh
        assert by_group["G0003"].subscriber_id == "L000301"  # the decision maker is DND
        assert by_group["G0007"].subscriber_id == "L000701"  # the decision maker is capped
        assert by_group["G0001"].subscriber_id == "L000100"  # first choice: decision maker
    rec = con.execute(
        "SELECT group_id, is_control, outcome FROM group_campaign WHERE campaign_id = ?", [key]
    ).fetchall()
    assert len(rec) == len(gids)
    assert {g for g, c, o in rec if c} == {g for g in gids if ctl[g]}
    assert {o for g, c, o in rec if c} == {"control"}
    assert dict((g, o) for g, c, o in rec)["G0005"] == "do_not_disturb"

    # a re-run adds nothing (the arms are recorded once per campaign and month)
    with session_scope() as s:
        again = campaign.dispatch(con=con, session=s, month=gw.M1, key=key, share=0.3, params=p)
        s.commit()
    assert again["tasks_created"] == 0 and again["already_recorded"] == len(gids)
    with pytest.raises(ConfigError, match="control share"), session_scope() as s:
        campaign.dispatch(con=con, session=s, month=gw.M1, key=key, share=0.5, params=p)

    # the account manager's queue serves the group task, with its group id
    me = work_queue.Worker("am", "tok", "HZ", "AM-HZ", None)
    with session_scope() as s:
        got = work_queue.claim_next(session=s, worker=me, timeout=dt.timedelta(minutes=5))
        assert got is not None and got.group_id is not None and not ctl[got.group_id]
        s.commit()


def test_a_month_without_candidates_creates_no_campaign(con, settings, op_db):
    """No alerted group and none risky enough: no campaign row, no task, nothing recorded."""
    from weixi.dispatch.models import Campaign

    migrate.upgrade()
    gw.build(con, 20)
    nobody = _params(top_n=0, min_mean_p_churn=None)
    con.execute("UPDATE group_kpis SET alert = FALSE")
    with session_scope() as s:
        out = campaign.dispatch(con=con, session=s, month=gw.M1, key="gc-none", params=nobody)
        s.commit()
    assert out["candidates"] == 0 and out["tasks_created"] == 0 and not out["dispatched"]
    with session_scope() as s:
        assert s.scalars(select(Campaign).where(Campaign.key == "gc-none")).first() is None
        assert s.scalars(select(Task)).first() is None
