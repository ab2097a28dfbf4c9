"""End-to-end planning on hand-built segments: every constraint checked on the written lists,
the contact policy, holdouts, the NOT-ON-LIST funnel, tasks, list updates and masked exports."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from tests.strategy.factories import MONTH, load, random_segments
from weixi.dispatch.holdout import uniform
from weixi.dispatch.models import ChannelConsent, ContactLog, Outcome, Task
from weixi.dispatch.schemas import CampaignSpec
from weixi.dispatch.service import plan_month, record_outcome, update_lists
from weixi.errors import ConflictError
from weixi.store.db import Base, get_engine, session_factory
from weixi.strategy.library import load_preset

N = 6000
SPEC = {
    "key": "q1-retention",
    "name": {"en": "Q1 retention", "zh": "一季度维系"},
    "period_start": "2026-01-01",
    "period_end": "2026-03-01",
    "budget": 60_000.0,
    "control_share": 0.1,
    "branch_quotas": {"b2": 700},
    "branch_budgets": {"b3": 5_000.0},
    "capacity": {
        "pseudo_agents_per_branch": 1,
        "pseudo_store_staff_per_branch": 1,
        "agent_contacts_per_day": 20,
    },
    "holdout": {"share": 0.02, "salt": "global-1"},
}


def _snapshot(seg: pd.DataFrame, month: dt.date) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = len(seg)
    return pd.DataFrame(
        {
            "month": month,
            "subscriber_id": seg["subscriber_id"].to_numpy(),
            "phone": [f"138{i:08d}" for i in range(n)],
            "name": ["张三丰"] * n,
            "status": "active",
            "do_not_disturb": rng.random(n) < 0.03,
            "credit_list": "none",
            "arpu": seg["arpu_3m"].to_numpy(),
        }
    )


@pytest.fixture
def session(settings):
    import weixi.security.audit  # noqa: F401  (registers the audit table)

    engine = get_engine()
    Base.metadata.create_all(engine)
    s = session_factory()()
    yield s
    s.close()


@pytest.fixture
def world(fresh_con, session):
    seg, scores = random_segments(N, seed=5, n_branches=3)
    load(fresh_con, seg, scores)
    snap = _snapshot(seg, MONTH)
    fresh_con.register("_snap", snap)
    fresh_con.execute("CREATE OR REPLACE TABLE snapshot AS SELECT * FROM _snap")
    fresh_con.unregister("_snap")
    ids = seg["subscriber_id"].tolist()
    at = dt.datetime(2026, 1, 1)
    # two contacts this month already (cap = 2), a refusal 10 days ago, an SMS opt-out
    capped, cooled, optout = ids[10:40], ids[40:70], ids[70:400]
    for s in capped:
        for k in range(2):
            session.add(
                ContactLog(
                    subscriber_id=s,
                    channel="sms",
                    result="not_reached",
                    contacted_at=dt.datetime(2026, 1, 1, 9 + k),
                )
            )
    for s in cooled:
        session.add(
            ContactLog(
                subscriber_id=s,
                channel="call_center",
                result="refused",
                contacted_at=at - dt.timedelta(days=10),
            )
        )
    for s in optout:
        session.add(ChannelConsent(subscriber_id=s, channel="sms", allowed=False))
    session.flush()
    return fresh_con, session, seg, snap, set(capped), set(cooled), set(optout)


def _plan(con, session, **overrides):
    spec = CampaignSpec.model_validate({**SPEC, **overrides})
    res = plan_month(
        con=con,
        month=MONTH,
        spec=spec,
        library=load_preset(),
        session=session,
        as_of=dt.datetime(2026, 1, 1),
    )
    session.commit()  # the tasks commit: the dispatched version becomes approved
    return spec, res


def test_every_constraint_holds_on_the_lists(world):
    con, session, seg, snap, capped, cooled, optout = world
    spec, res = _plan(con, session)
    pa = con.execute("SELECT * FROM plan_assignments").df()
    on = pa[~pa["is_control"]]
    assert len(on) == res.on_list > 0
    # one action per customer and per household
    assert on["subscriber_id"].is_unique and on["customer_id"].is_unique
    # channel capacity per branch
    cap = {(c["branch_id"], c["channel"]): c["capacity"] for c in res.capacity}
    used = on.groupby(["branch_id", "channel"]).size()
    for key, n in used.items():
        assert cap[key] is None or n <= cap[key], key
    assert any(c is not None and used.get(k, 0) == c for k, c in cap.items()), "capacity binds"
    # budget, branch budget, branch quota
    assert on["cost"].sum() <= spec.budget + 1e-6
    assert on[on["branch_id"] == "b3"]["cost"].sum() <= 5_000.0 + 1e-6
    assert (on["branch_id"] == "b2").sum() <= 700
    # contact policy
    dnd = set(snap.loc[snap["do_not_disturb"], "subscriber_id"])
    lists = set(seg.loc[seg["credit"].isin(["red", "black"]), "subscriber_id"])
    listed = set(on["subscriber_id"])
    assert not listed & dnd and not listed & lists
    assert not listed & capped and not listed & cooled
    assert not set(on.loc[on["channel"] == "sms", "subscriber_id"]) & optout
    # account managers only serve VIP or enterprise-group customers
    vip = seg.set_index("subscriber_id")
    am = on.loc[on["channel"] == "account_manager", "subscriber_id"]
    assert ((vip.loc[am, "vip_tier"] != "none") | vip.loc[am, "group_class"].notna()).all()
    # holdouts: nobody in the global holdout or the campaign's control is on a list
    ids = on["subscriber_id"].to_numpy()
    assert (uniform(ids, "global-1") >= 0.02).all()
    assert (uniform(ids, spec.control_salt) >= 0.1).all()
    ctl = pa[pa["is_control"]]
    assert (uniform(ctl["subscriber_id"], spec.control_salt) < 0.1).all()
    # controls are drawn among the customers the plan selected: about 10 % of the selected
    assert 0.07 < len(ctl) / len(pa) < 0.13
    # a control keeps the person it would have gone to (per-person lift has a control)
    staffed = ctl["channel"].isin(["call_center", "account_manager", "store"])
    assert staffed.any() and ctl.loc[staffed, "staff_id"].notna().all()
    assert ctl.loc[~staffed, "staff_id"].isna().all()
    # A1 binding warning: every eligible A1 customer is dispatched (feasible here)
    assert not res.infeasible and res.a1_required == res.a1_dispatched > 0
    # (from the stored month: the A1 lines of the matches that no rule kept off — on the list,
    # or in the control)
    a1 = {
        r[0]
        for r in con.execute("SELECT subscriber_id FROM strategy_matches WHERE a = 'A1'").fetchall()
    }
    why = dict(con.execute("SELECT subscriber_id, reason FROM plan_not_on_list").fetchall())
    eligible = {s for s in a1 if why.get(s) in (None, "control", "over_capacity")}
    assert eligible and not [s for s in eligible if why.get(s) == "over_capacity"]
    assert {s for s in eligible if why.get(s) is None} <= listed
    # … and every A1 control is recorded as a control of the plan
    a1c = {s for s in eligible if why.get(s) == "control"}
    assert a1c and a1c <= set(ctl["subscriber_id"])
    # people: staff of the right branch and channel, loads balanced within one task
    staffed = on[on["staff_id"].notna()]
    assert (staffed["staff_id"].str.split("-").str[1] == staffed["branch_id"]).all()
    prefix = {"call_center": "CC", "store": "ST", "account_manager": "AM"}
    assert (staffed["staff_id"].str[:2] == staffed["channel"].map(prefix)).all()
    loads = staffed.groupby(["branch_id", "channel", "staff_id"]).size()
    assert (loads.groupby(level=[0, 1]).agg(lambda s: s.max() - s.min()) <= 1).all()
    assert on.loc[on["channel"].isin(["sms", "app"]), "staff_id"].isna().all()
    # reasons in both languages
    assert on["reason"].str.contains("P(churn)", regex=False).all()
    assert on["reason_zh"].str.contains("离网概率").all()
    # tasks in the operational database mirror the list
    n_tasks = session.execute(select(func.count()).select_from(Task)).scalar_one()
    assert n_tasks == res.tasks_written == on["staff_id"].notna().sum()
    # shadow prices are phrased in both languages
    assert res.shadow_prices
    assert any("worth ¥" in s["text_en"] for s in res.shadow_prices)
    assert all(s["text_zh"] for s in res.shadow_prices)


def test_funnel_accounts_for_every_subscriber(world):
    con, session, *_ = world
    _, res = _plan(con, session)
    stages = {r["stage"]: r["count"] for r in res.funnel}
    assert stages["subscribers"] == N
    assert sum(v for k, v in stages.items() if k != "subscribers") == N
    for k in (
        "excluded",
        "no_strategy",
        "credit_list",
        "contact_cap",
        "cooldown",
        "global_holdout",
        "control",
        "over_capacity",
    ):
        assert stages[k] > 0, k
    not_on = con.execute("SELECT reason, count(*) FROM plan_not_on_list GROUP BY reason").fetchall()
    assert sum(n for _, n in not_on) == N - res.on_list


def test_replan_adds_a_version_and_a1_infeasibility_is_reported(world):
    con, session, *_ = world
    _, first = _plan(con, session)
    _, res = _plan(con, session, budget=300.0)
    n_tasks = session.execute(select(func.count()).select_from(Task)).scalar_one()
    assert n_tasks == res.tasks_written  # the first plan's open tasks were replaced
    # the dispatched first version keeps its record; the re-plan is version 2
    assert (first.plan_version, res.plan_version) == (1, 2)
    per_version = dict(
        con.execute(
            "SELECT plan_version, count(*) FROM plan_assignments WHERE NOT is_control GROUP BY 1"
        ).fetchall()
    )
    assert per_version == {1: first.on_list, 2: res.on_list}
    status = dict(con.execute("SELECT version, status FROM plans").fetchall())
    assert status == {1: "superseded", 2: "approved"}
    assert res.infeasible and res.a1_dispatched < res.a1_required
    assert "A1 binding-warning customers dispatched" in res.message
    assert "budget" in res.message
    cost = con.execute(
        "SELECT sum(cost) FROM plan_assignments WHERE NOT is_control AND plan_version = 2"
    ).fetchone()[0]
    assert cost <= 300.0 + 1e-6


def test_lists_update_drops_churned_converted_excluded(world):
    con, session, seg, *_ = world
    _, res = _plan(con, session)
    tasks = session.execute(select(Task).order_by(Task.id)).scalars().all()
    churn, excl, conv, acc = (tasks[0], tasks[1], tasks[2], tasks[3])
    record_outcome(session=session, task_id=acc.id, result="accepted", at=dt.datetime(2026, 1, 5))
    nxt = dt.date(2026, 2, 1)
    seg2 = seg[seg["subscriber_id"] != churn.subscriber_id].copy()
    seg2["month"] = nxt
    seg2.loc[seg2["subscriber_id"] == excl.subscriber_id, "excluded"] = True
    seg2.loc[seg2["subscriber_id"] == conv.subscriber_id, "a"] = "A3"
    con.execute("UPDATE segments SET a = 'A1' WHERE subscriber_id = ?", [conv.subscriber_id])
    load(con, seg2, None)
    snap2 = con.execute(
        "SELECT * REPLACE (DATE '2026-02-01' AS month) FROM snapshot WHERE subscriber_id <> ?",
        [churn.subscriber_id],
    ).df()
    con.register("_s2", snap2)
    con.execute("INSERT INTO snapshot SELECT * FROM _s2")
    counts = update_lists(con=con, session=session, month=nxt)
    assert counts["churned"] == 1 and counts["excluded"] == 1 and counts["converted"] >= 1
    session.expire_all()
    got = {t.id: (t.status, t.drop_reason) for t in session.execute(select(Task)).scalars()}
    assert got[churn.id] == ("dropped", "churned")
    assert got[excl.id] == ("dropped", "excluded")
    assert got[conv.id] == ("dropped", "converted")
    assert got[acc.id][0] == "done"  # closed by its outcome, not dropped
    assert session.execute(select(func.count()).select_from(Outcome)).scalar_one() == 1
    assert sum(1 for s, _ in got.values() if s == "open") == res.tasks_written - 4


def test_refusal_starts_cooldown_and_counts_against_cap(world):
    con, session, *_ = world
    _plan(con, session)
    task, other = session.execute(select(Task).order_by(Task.id).limit(2)).scalars()
    record_outcome(
        session=session,
        task_id=task.id,
        result="refused",
        refusal_reason="price",
        at=dt.datetime(2026, 1, 1),
    )
    # a refused task is closed: it takes no second outcome
    with pytest.raises(ConflictError, match="already done"):
        record_outcome(session=session, task_id=task.id, result="accepted")
    # idempotency: the same key twice records one outcome
    later = dt.datetime(2026, 1, 2, 15)
    o1 = record_outcome(
        session=session,
        task_id=other.id,
        result="call_back",
        callback_at=later,
        idempotency_key="k1",
    )
    o2 = record_outcome(
        session=session,
        task_id=other.id,
        result="call_back",
        callback_at=later,
        idempotency_key="k1",
    )
    assert o1.id == o2.id
    _, _ = _plan(con, session, key="second-campaign", control_share=0.0)
    reason = con.execute(
        "SELECT reason FROM plan_not_on_list WHERE campaign_id = 'second-campaign' "
        "AND subscriber_id = ?",
        [task.subscriber_id],
    ).fetchone()
    assert reason[0] in ("cooldown", "contact_cap")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_export_is_masked_bilingual_and_audited(world, tmp_path, suffix):
    from weixi.auth.models import AuditEvent
    from weixi.dispatch.lists import export_list

    con, session, *_ = world
    _plan(con, session)
    out = tmp_path / f"b1{suffix}"
    n = export_list(
        con=con, session=session, library=load_preset(), branch="b1", out=out, locale="zh-CN"
    )
    assert n > 0
    frame = pd.read_excel(out) if suffix == ".xlsx" else pd.read_csv(out, encoding="utf-8-sig")
    assert len(frame) == n
    assert "手机号码 / Phone" in frame.columns and "话术 / Script" in frame.columns
    phones = frame["手机号码 / Phone"].astype(str)
    assert phones.str.fullmatch(r"138\*{4}\d{4}").all()
    assert (frame["客户姓名 / Name"] == "张**").all()
    assert frame["入单原因 / Why on the list"].str.contains("离网概率").all()
    assert frame["地市 / Branch"].eq("b1").all()
    ev = session.execute(select(AuditEvent).where(AuditEvent.action == "export")).scalars().all()
    assert len(ev) == 1


def test_plan_outside_campaign_period_is_refused(world):
    con, session, *_ = world
    from weixi.errors import ConfigError

    with pytest.raises(ConfigError, match="not 2026-01"):
        _plan(con, session, period_start="2026-02-01", period_end="2026-03-01")


def test_no_session_plans_without_tasks(fresh_con):
    seg, scores = random_segments(800, seed=2, n_branches=2)
    load(fresh_con, seg, scores)
    spec = CampaignSpec.model_validate(SPEC)
    res = plan_month(con=fresh_con, month=MONTH, spec=spec, library=load_preset())
    assert res.tasks_written == 0 and res.on_list > 0
    assert isinstance(fresh_con, duckdb.DuckDBPyConnection)


def test_the_plans_work_tables_end_with_it(world):
    """Matching's and the plan's per-line work tables (``_mx_*``, ``_pl_*``: several times the
    month on a province) are dropped when the plan ends — in a long-lived connection (the
    monthly job, a simulation) they held memory and spilled to disk through every later step;
    the plan's lines (``_pl_assign``) stay for a preview's caller."""
    con, session, *_ = world
    _plan(con, session)
    temp = {
        r[0]
        for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    }
    work = {t for t in temp if t.startswith(("_pl_", "_mx_", "strategy_options"))}
    assert work == {"_pl_assign"}, temp
    assert con.execute("SELECT count(*) FROM _pl_assign").fetchall()[0][0] > 0
