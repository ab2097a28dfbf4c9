"""Integration on the synthetic operator: snapshot → segment engine → (hand-made churn scores,
per the table contract) → plan → export → next month → lists update."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from weixi.dispatch.models import Task
from weixi.dispatch.schemas import CampaignSpec
from weixi.dispatch.service import plan_month, update_lists
from weixi.store.db import Base, get_engine, session_factory
from weixi.strategy.library import load_preset

pytestmark = pytest.mark.slow


def test_synthetic_operator_month_to_lists(fresh_con, tmp_path):
    generate = pytest.importorskip("weixi.synth.generate")
    segment = pytest.importorskip("weixi.segment.service")
    import weixi.security.audit  # noqa: F401
    from weixi.dispatch.lists import export_list
    from weixi.store.schema import ensure as ensure_schema

    con = fresh_con
    hist = generate.make_history(1500, months=2, seed=3)
    ensure_schema(con)
    for _, table in hist:
        con.register("_t", table)
        con.execute("INSERT INTO snapshot BY NAME SELECT * FROM _t")
        con.unregister("_t")
    (m1, _), (m2, _) = hist
    segment.segment_month(con, m1)
    # churn_scores by the contract (the churn engine is not needed to test dispatch)
    con.execute(
        """CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'test' AS model_version,
           CASE c WHEN 'C1' THEN 0.3 WHEN 'C2' THEN 0.08 ELSE 0.02 END
             * CASE a WHEN 'A1' THEN 2 ELSE 1 END AS p_churn FROM segments"""
    )
    Base.metadata.create_all(get_engine())
    session = session_factory()()
    spec = CampaignSpec.model_validate(
        {
            "key": "synth",
            "name": {"en": "Synthetic", "zh": "合成"},
            "period_start": m1,
            "period_end": m2,
            "budget": 20_000,
            "control_share": 0.1,
        }
    )
    res = plan_month(con=con, month=m1, spec=spec, library=load_preset(), session=session)
    assert res.on_list > 0 and res.tasks_written > 0
    pa = con.execute("SELECT * FROM plan_assignments WHERE NOT is_control").df()
    snap = con.execute(f"SELECT * FROM snapshot WHERE month = DATE '{m1}'").df()
    seg = con.execute(f"SELECT * FROM segments WHERE month = DATE '{m1}'").df()
    listed = set(pa["subscriber_id"])
    assert not listed & set(snap.loc[snap["do_not_disturb"], "subscriber_id"])
    assert not listed & set(seg.loc[seg["excluded"], "subscriber_id"])
    assert pa["cost"].sum() <= 20_000 + 1e-6
    assert {r["stage"] for r in res.funnel if r["count"]} >= {"excluded", "on_list"}
    branch = pa.loc[pa["staff_id"].notna(), "branch_id"].iloc[0]
    out = tmp_path / "list.csv"
    n = export_list(con=con, session=session, library=load_preset(), branch=branch, out=out)
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert len(frame) == n > 0
    assert frame["Phone / 手机号码"].str.contains(r"\*\*\*\*", regex=True).all()
    assert not frame["Phone / 手机号码"].isin(snap["phone"].astype(str)).any()
    # next month: whoever left the base is dropped from the open lists
    segment.segment_month(con, m2)
    counts = update_lists(con=con, session=session, month=m2)
    gone = set(snap["subscriber_id"]) - set(
        con.execute(
            f"SELECT subscriber_id FROM snapshot WHERE month = DATE '{m2}' "
            "AND status NOT IN ('cancelled', 'cancelling')"
        ).df()["subscriber_id"]
    )
    tasks = session.execute(select(Task)).scalars().all()
    for t in tasks:
        if t.subscriber_id in gone:
            assert (t.status, t.drop_reason) == ("dropped", "churned")
    assert counts["churned"] == sum(1 for t in tasks if t.subscriber_id in gone)
    assert isinstance(m2, dt.date)
    session.close()
