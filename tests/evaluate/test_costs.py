"""Costs from what happened: attempts, reached and accepted priced by the strategy library."""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

from tests.evaluate.test_service import M1, _load
from weixi.dispatch.models import Campaign, Task
from weixi.dispatch.service import record_outcome
from weixi.evaluate import service
from weixi.flows import sync_contact_outcomes
from weixi.store import schema
from weixi.store.db import Base, get_engine, session_factory
from weixi.strategy.library import load_preset

OFFER = {"care_call": "care_standard", "prepay_credit": "pc_mid", "package_fit": "pf_fit"}
# Outcomes recorded per task, by task number mod 6: never worked, not reached, a call-back then
# refused, call back then accepted, accepted at once, already churned (not an attempt). A
# not-reached outcome closes the task, so a second attempt comes through a call-back.
SCRIPTS = (
    (),
    ("not_reached",),
    ("call_back", "refused"),
    ("call_back", "accepted"),
    ("accepted",),
    ("already_churned",),
)


def executed_month(con, session, db_url: str | None = None) -> pd.DataFrame:
    """Plan 2026-01 over call center, store and an SMS gateway batch; work its tasks.

    Returns the treated plan rows with the hand-computed ``expected`` actual cost.
    """
    lib = load_preset()
    price = {c.key: c.contact_cost for c in lib.channels}
    unit = {o.key: o.unit_cost for _e, _p, o in lib.offers()}
    con.execute(
        """UPDATE plan_assignments SET
             offer_id = CASE action WHEN 'care_call' THEN 'care_standard'
                                    WHEN 'prepay_credit' THEN 'pc_mid' ELSE 'pf_fit' END,
             channel = CASE hash(subscriber_id) % 5 WHEN 3 THEN 'store' WHEN 4 THEN 'sms'
                            ELSE 'call_center' END,
             staff_id = CASE WHEN hash(subscriber_id) % 5 = 4 THEN NULL ELSE 'S1' END"""
    )
    plan = con.execute(
        "SELECT * FROM plan_assignments WHERE month = ? AND campaign_id = 'C1' AND NOT is_control "
        "ORDER BY subscriber_id",
        [M1],
    ).df()
    Base.metadata.create_all(get_engine(db_url))
    camp = Campaign(
        key="C1", name_en="C1", period_start=M1, period_end=M1, salt="C1", status="active"
    )
    session.add(camp)
    session.flush()
    staffed = plan[plan["staff_id"].notna()].reset_index(drop=True)
    tasks = [
        Task(
            campaign_id=camp.id,
            month=M1,
            subscriber_id=r.subscriber_id,
            branch_id=r.branch_id,
            channel=r.channel,
            staff_id=r.staff_id,
            action=r.action,
            offer_id=r.offer_id,
            cost=r.cost,
        )
        for r in staffed.itertuples()
    ]
    session.add_all(tasks)
    session.flush()
    at = dt.datetime(2026, 1, 20, 10)
    for j, task in enumerate(tasks):
        for k, result in enumerate(SCRIPTS[j % 6]):
            record_outcome(
                session=session,
                task_id=task.id,
                result=result,
                at=at + dt.timedelta(hours=k),
                callback_at=at + dt.timedelta(hours=k + 1) if result == "call_back" else None,
            )
    script = np.arange(len(staffed)) % 6
    attempts = np.array([sum(r != "already_churned" for r in SCRIPTS[s]) for s in script])
    accepted = np.isin(script, (3, 4))
    staffed["expected"] = staffed["channel"].map(price) * attempts + np.where(
        accepted, staffed["offer_id"].map(unit), 0.0
    )
    staffed["attempts"] = attempts
    staffed["accepted"] = accepted
    staffed["contacted"] = np.isin(script, (2, 3, 4))
    batch = plan[plan["staff_id"].isna()].copy()
    batch["expected"] = price["sms"]  # one gateway send each, acceptance not reported
    batch["attempts"] = 1
    sync_contact_outcomes(con=con, session=session, month=M1, library=lib)
    return pd.concat([staffed, batch], ignore_index=True)


@pytest.fixture
def month(fresh_con):
    _load(fresh_con, n=1500, months=2)
    session = session_factory()()
    try:
        yield fresh_con, executed_month(fresh_con, session)
    finally:
        session.close()


def test_contact_outcomes_carry_attempts_and_priced_inputs(month):
    con, expected = month
    got = con.execute(
        "SELECT * FROM contact_outcomes WHERE month = ? ORDER BY subscriber_id", [M1]
    ).df()
    assert len(got) == len(expected)  # one row per treated customer, never worked included
    m = expected.merge(got, on="subscriber_id", suffixes=("", "_got"))
    assert (m["attempts_got"] == m["attempts"]).all()
    assert np.allclose(m["actual_cost"], m["expected"])
    staffed = m[m["staff_id"].notna()]
    assert (staffed["accepted_got"] == staffed["accepted"]).all()
    assert (staffed["contacted_got"] == staffed["contacted"]).all()
    assert set(staffed["contact_cost"]) == {3.0, 5.0}
    sms = m[m["staff_id"].isna()]
    assert len(sms) and sms["contacted_got"].isna().all() and (sms["contact_cost"] == 0.1).all()
    # refusals and non-contacts cost the contacts only, never the offer
    refused = staffed[staffed["contacted"] & ~staffed["accepted"]]
    assert np.allclose(refused["actual_cost"], refused["contact_cost"] * refused["attempts"])


def test_evaluation_uses_actual_cost_and_keeps_planned(month):
    con, expected = month
    df = service.get_outcomes(con=con, month=M1)
    treated = df[~df["is_control"]]
    assert (df.loc[df["is_control"], ["planned_cost", "actual_cost"]] == 0).all().all()
    assert (treated["planned_cost"] == 3.0).all()  # the plan's price stays as planned
    rep = service.evaluate_month(con=con, month=M1, dimensions=["channel"], n_boot=100)
    o = rep["overall"]
    assert o["actual_cost"] == pytest.approx(expected["expected"].sum())
    assert o["planned_cost"] == pytest.approx(3.0 * len(expected))
    assert o["actual_cost"] != pytest.approx(o["planned_cost"])
    assert o["net_value"] == pytest.approx(o["retained_revenue"] - o["actual_cost"])
    assert o["roi"] == pytest.approx(o["net_value"] / o["actual_cost"])
    sms = next(r for r in rep["by"]["channel"] if r["group"] == "sms")
    assert sms["actual_cost"] == pytest.approx(0.1 * sms["n_treated"])


def test_only_executed_plans_get_an_execution_record(fresh_con):
    from weixi.dispatch import plans

    _load(fresh_con, n=1500, months=2)
    fresh_con.execute(
        "INSERT INTO plan_assignments SELECT * REPLACE ('draft' AS campaign_id) "
        "FROM plan_assignments WHERE month = DATE '2026-01-01'"
    )
    plans.record(fresh_con, month=M1, campaign="draft", version=1, status="draft")
    session = session_factory()()
    try:
        expected = executed_month(fresh_con, session)
    finally:
        session.close()
    got = fresh_con.execute(
        "SELECT campaign_id, count(*) FROM contact_outcomes GROUP BY 1"
    ).fetchall()
    assert got == [("C1", len(expected))]


def test_excel_shows_planned_and_actual_cost_in_both_languages(month, tmp_path):
    con, expected = month
    rep = service.evaluate_month(con=con, month=M1, dimensions=["action"], n_boot=100)
    for locale, planned, actual, roi in (
        ("en", "Planned cost", "Actual cost", "ROI (actual cost)"),
        ("zh-CN", "计划成本", "实际成本", "投入产出比（按实际成本）"),
    ):
        path = service.export_excel(rep, tmp_path / f"eval-{locale}.xlsx", locale=locale)
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[1]  # the overall row
        head = [c.value for c in ws[1]]
        assert {planned, actual, roi} <= set(head)
        row = {h: c.value for h, c in zip(head, ws[2], strict=True)}
        assert row[actual] == pytest.approx(expected["expected"].sum())
        assert row[planned] == pytest.approx(3.0 * len(expected))
        assert row[roi] == pytest.approx(rep["overall"]["roi"])
    with zipfile.ZipFile(path) as z:  # the cost formulas are on the summary sheet
        assert "实际成本：渠道接触成本" in z.read("xl/sharedStrings.xml").decode("utf-8")


def test_older_outcomes_table_keeps_its_cost_as_planned(fresh_con):
    _load(fresh_con, n=600, months=2)
    # the layout before actual costs, in a store written before schema versions
    legacy = (
        schema.TABLES["evaluation_outcomes"]
        .ddl()
        .replace('"planned_cost" DOUBLE,\n  "actual_cost" DOUBLE', "cost DOUBLE")
    )
    assert "planned_cost" not in legacy
    fresh_con.execute("DROP TABLE evaluation_outcomes")
    fresh_con.execute("DROP TABLE schema_version")
    fresh_con.execute(legacy)
    fresh_con.execute(
        "INSERT INTO evaluation_outcomes (month, subscriber_id, is_control, cost) "
        "VALUES (DATE '2025-12-01', 'x', FALSE, 7.0)"
    )
    schema.upgrade(fresh_con)  # what opening the file does
    service.build_outcomes(con=fresh_con, month=M1)
    old = fresh_con.execute(
        "SELECT planned_cost, actual_cost FROM evaluation_outcomes WHERE subscriber_id = 'x'"
    ).fetchall()
    assert old == [(7.0, None)]
    assert service.get_outcomes(con=fresh_con, month=M1)["planned_cost"].notna().all()


def test_an_unpriced_offer_leaves_actual_cost_unknown_not_guessed(fresh_con):
    from sqlalchemy import select, update

    from weixi.dispatch.models import Outcome

    _load(fresh_con, n=1500, months=2)
    session = session_factory()()
    try:
        executed_month(fresh_con, session)
        task = session.execute(
            select(Task).join(Outcome).where(Outcome.result == "accepted").limit(1)
        ).scalar_one()
        session.execute(update(Task).where(Task.id == task.id).values(offer_id="retired"))
        sync_contact_outcomes(con=fresh_con, session=session, month=M1, library=load_preset())
    finally:
        session.close()
    row = fresh_con.execute(
        "SELECT offer_id, accepted, actual_cost FROM contact_outcomes WHERE subscriber_id = ?",
        [task.subscriber_id],
    ).fetchall()
    assert row == [("retired", True, None)]
    o = service.evaluate_month(con=fresh_con, month=M1, dimensions=["action"], n_boot=50)
    assert o["overall"]["actual_cost"] is None and o["overall"]["roi"] is None
    assert o["overall"]["planned_cost"] > 0


def test_cli_prices_outcomes_recorded_after_the_monthly_job(settings, tmp_path):
    import json

    from typer.testing import CliRunner

    from weixi.cli import app
    from weixi.store.analytics import open_store

    session = session_factory()()
    try:
        with open_store() as con:
            _load(con, n=1500, months=2)
            expected = executed_month(con, session)
        # a late dialer file: one never-worked customer is reached and accepts
        late = session.query(Task).filter(~Task.outcomes.any()).first()
        record_outcome(session=session, task_id=late.id, result="accepted")
        session.commit()
    finally:
        session.close()
    lib = load_preset()
    extra = {c.key: c.contact_cost for c in lib.channels}[late.channel] + {
        o.key: o.unit_cost for _e, _p, o in lib.offers()
    }[late.offer_id]
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--month", "2026-01", "--by", "action", "--json"])
    assert res.exit_code == 0, res.output
    o = json.loads(res.stdout)["overall"]
    assert o["actual_cost"] == pytest.approx(expected["expected"].sum() + extra)
    assert o["planned_cost"] == pytest.approx(3.0 * len(expected))
    out = tmp_path / "e.xlsx"
    assert (
        runner.invoke(app, ["evaluate", "export", "-m", "2026-01", "-o", str(out)]).exit_code == 0
    )
    ws = openpyxl.load_workbook(out).worksheets[1]
    head = [c.value for c in ws[1]]
    assert ws.cell(2, head.index("Actual cost") + 1).value == pytest.approx(o["actual_cost"])
