"""Plan life cycle: a preview stores nothing, only executed (approved/closed) plans are
evaluated, a re-plan of a dispatched campaign keeps the old version's record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from tests.dispatch.test_plan import SPEC, _snapshot
from tests.strategy.factories import MONTH, load, random_segments
from weixi.cli import app
from weixi.dispatch import plans
from weixi.dispatch.schemas import CampaignSpec
from weixi.dispatch.service import (
    decide_campaign,
    get_campaign_by_key,
    plan_month,
    recover_pending,
)
from weixi.errors import NotFoundError
from weixi.evaluate.service import evaluate_month
from weixi.store.analytics import connect
from weixi.store.db import get_engine, session_factory
from weixi.store.months import add_months
from weixi.strategy.library import load_preset
from weixi.web import migrate

runner = CliRunner()
NEXT = add_months(MONTH, 1)


@pytest.fixture
def store(settings):
    """A segmented month with its snapshot and the next month's (about 12 % left)."""
    migrate.upgrade()
    con = connect()
    seg, scores = random_segments(3000, seed=7, n_branches=2)
    load(con, seg, scores)
    snap = _snapshot(seg, MONTH)
    nxt = snap.sample(frac=0.88, random_state=3).assign(month=NEXT)
    con.register("_s", snap)
    con.register("_n", nxt)
    con.execute("CREATE OR REPLACE TABLE snapshot AS SELECT * FROM _s UNION ALL SELECT * FROM _n")
    con.unregister("_s")
    con.unregister("_n")
    session = session_factory()()
    yield con, session
    session.close()
    con.close()


def _spec(**overrides) -> CampaignSpec:
    return CampaignSpec.model_validate({**SPEC, "budget": 20_000.0, **overrides})


def _plan(con, session, status="approved", preview=False, **overrides):
    res = plan_month(
        con=con,
        month=MONTH,
        spec=_spec(**overrides),
        library=load_preset(),
        session=session,
        as_of=dt.datetime(2026, 1, 1),
        status=status,
        preview=preview,
    )
    if preview:
        session.rollback()
    else:
        session.commit()
    return res


def _evaluation(con) -> str:
    report = evaluate_month(con=con, month=MONTH, n_boot=200, rebuild=True)
    return json.dumps(report, sort_keys=True, default=str)


def _state(con, engine) -> dict[str, str]:
    """A digest of every row of every analytics and operational table."""
    out = {}
    for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall():
        rows = con.execute(f'SELECT * FROM "{name}"').fetchall()
        out[f"duckdb.{name}"] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    with engine.connect() as c:
        for name in inspect(engine).get_table_names():
            rows = c.execute(text(f'SELECT * FROM "{name}"')).fetchall()
            out[f"db.{name}"] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return out


def test_preview_on_the_cli_prints_the_plan_and_changes_no_table(store, tmp_path):
    con, session = store
    _plan(con, session)  # a dispatched campaign whose record must survive the preview
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        f"key: {SPEC['key']}\nname: {{en: Q1 retention, zh: 一季度维系}}\n"
        "period_start: 2026-01-01\nperiod_end: 2026-03-01\nbudget: 9000\ncontrol_share: 0.2\n",
        encoding="utf-8",
    )
    con.execute("CHECKPOINT")
    con.close()
    engine = get_engine()
    with connect() as c:
        before = _state(c, engine)
    res = runner.invoke(
        app, ["plan", "--month", "2026-01", "--campaign", str(campaign), "--preview", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "preview" and out["plan_version"] is None
    assert out["on_list"] > 0 and out["expected_value"] > 0 and out["cost"] <= 9000 + 1e-6
    assert out["shadow_prices"] and out["tasks_written"] == 0
    with connect() as c:
        after = _state(c, engine)
    assert "duckdb.plan_assignments" in before and "db.tasks" in before
    assert after == before


def test_only_the_approved_campaign_is_evaluated(store):
    con, session = store
    live = _plan(con, session)
    alone = _evaluation(con)
    overall = json.loads(alone)["overall"]
    assert overall["n_treated"] == live.on_list and overall["n_control"] == live.control
    # beside it: previews (one with the live campaign's own key), a draft and a cancelled one
    _plan(con, session, preview=True, budget=5_000.0, control_share=0.3)
    _plan(con, session, preview=True, key="what-if", budget=50_000.0)
    _plan(con, session, status="draft", key="draft-1", budget=8_000.0)
    _plan(con, session, status="approved", key="stopped", budget=7_000.0)
    decide_campaign(
        con=con,
        session=session,
        campaign=get_campaign_by_key(session=session, key="stopped"),
        decision="cancel",
    )
    session.commit()
    status = {(r["campaign_id"], r["version"]): r["status"] for r in plans.get_all(con)}
    assert status == {
        (SPEC["key"], 1): "approved",
        ("draft-1", 1): "draft",
        ("stopped", 1): "cancelled",
    }
    assert _evaluation(con) == alone
    # approving the draft makes it count
    decide_campaign(
        con=con,
        session=session,
        campaign=get_campaign_by_key(session=session, key="draft-1"),
        decision="approve",
    )
    by = json.loads(_evaluation(con))["by"]["campaign_id"]
    assert [r["group"] for r in by] == ["draft-1", SPEC["key"]]


def test_replan_of_a_dispatched_campaign_keeps_the_old_version_evaluable(store):
    con, session = store
    first = _plan(con, session)
    second = _plan(con, session, budget=6_000.0)
    assert (first.plan_version, second.plan_version) == (1, 2)
    assert first.on_list != second.on_list
    now = json.loads(_evaluation(con))["overall"]
    assert now["n_treated"] == second.on_list
    old = evaluate_month(con=con, month=MONTH, n_boot=200, plan_version=1)["overall"]
    assert old["n_treated"] == first.on_list and old["n_control"] == first.control
    # a draft re-plan of the live campaign replaces nothing dispatched and leaves its tasks
    draft = _plan(con, session, status="draft", budget=3_000.0)
    assert draft.plan_version == 3 and draft.tasks_written == 0
    again = _plan(con, session, status="draft", budget=4_000.0)
    assert again.plan_version == 3  # a draft is replaced in place
    assert json.loads(_evaluation(con))["overall"]["n_treated"] == second.on_list


def test_auto_control_share_follows_power_within_bounds(store):
    con, session = store
    sizing = {"auto": True, "half_width": 0.06, "min_share": 0.02, "max_share": 0.3}
    res = _plan(con, session, control_sizing=sizing)
    assert res.control_share_auto
    pw = res.power
    assert 0.02 < res.control_share < 0.3 and res.control_share == pw["share"]
    # the plan ran at the share its own volume and churn rate call for
    assert pw["recommended_share"] == pytest.approx(res.control_share, abs=0.0051)
    realized = res.control / (res.control + res.on_list)
    assert abs(realized - res.control_share) < 0.05
    fixed = _plan(con, session, key="fixed", control_share=0.1)
    assert not fixed.control_share_auto and fixed.control_share == 0.1
    assert fixed.power["half_width"] > 0 and fixed.power["target"] == 0.005


def test_an_auto_sized_plan_matches_once_and_equals_a_plan_at_its_share(store, monkeypatch):
    """The power probe and the plan share one match (it does not depend on the share); the
    plan is the one a fixed plan at the chosen share gives, and the month's matches are stored."""
    from weixi.dispatch import service

    con, session = store
    calls = []
    real = service.match
    monkeypatch.setattr(service, "match", lambda *a, **k: calls.append(k["write"]) or real(*a, **k))
    sizing = {"auto": True, "half_width": 0.06, "min_share": 0.02, "max_share": 0.3}
    auto = _plan(con, session, key="auto1", control_sizing=sizing)
    assert calls == [False]  # the probe's, a what-if; the plan reused it
    stored = con.execute(
        "SELECT count(*) FROM strategy_matches WHERE month = ?", [MONTH]
    ).fetchone()[0]
    assert stored > 0
    # the same campaign at that share, as a what-if (its own tasks are not contact history)
    fixed = _plan(con, session, key="auto1", control_share=auto.control_share, preview=True)
    assert calls == [False, False]
    assert (auto.on_list, auto.control, auto.funnel) == (fixed.on_list, fixed.control, fixed.funnel)
    assert auto.on_list > 0 and auto.control > 0
    # line for line: the plan reused the what-if's line status (its control draw compared with
    # the chosen share), a fresh plan at that share computes it again
    cols = "subscriber_id, is_control, action, offer_id, channel, staff_id, expected_value, cost"
    stored = con.execute(
        f"SELECT {cols} FROM plan_assignments WHERE month = ? AND campaign_id = 'auto1' "
        "AND plan_version = ? ORDER BY subscriber_id",
        [MONTH, auto.plan_version],
    ).fetchall()
    previewed = con.execute(f"SELECT {cols} FROM _pl_assign ORDER BY subscriber_id").fetchall()
    assert len(stored) == auto.on_list + auto.control and stored == previewed


@pytest.mark.parametrize("budget", [None, 1_500.0])
def test_the_power_what_if_equals_a_full_preview_at_the_upper_share(store, monkeypatch, budget):
    """The what-if stops at its lists, but its counts and power report are those of a whole
    preview plan at the upper share, with and without a limit cutting the lists."""
    from weixi.dispatch import service

    con, session = store
    probes = []
    real = service._probe_result
    monkeypatch.setattr(
        service, "_probe_result", lambda *a, **k: probes.append(real(*a, **k)) or probes[-1]
    )
    sizing = {"auto": True, "half_width": 0.06, "min_share": 0.02, "max_share": 0.3}
    auto = _plan(con, session, key="auto2", budget=budget, control_sizing=sizing)
    full = _plan(
        con,
        session,
        key="auto2",
        budget=budget,
        control_share=0.3,
        control_sizing={**sizing, "auto": False},
        preview=True,
    )
    (probe,) = probes
    assert probe.power.keys() == full.power.keys()
    for key, value in full.power.items():  # the same sums, added in another order
        want = pytest.approx(value, rel=1e-12) if isinstance(value, float) else value
        assert probe.power[key] == want, key
    assert (probe.on_list, probe.control) == (full.on_list, full.control)
    assert probe.power["capacity_bound"] == (budget is not None)
    assert auto.control_share == full.power["recommended_share"]


def test_a_dispatch_whose_tasks_did_not_commit_is_never_evaluated_and_is_settled(store):
    con, session = store
    # the tasks of this dispatch never commit (a crash between the two stores' commits)
    lost = plan_month(
        con=con,
        month=MONTH,
        spec=_spec(),
        library=load_preset(),
        session=session,
        as_of=dt.datetime(2026, 1, 1),
    )
    session.rollback()
    assert [r["status"] for r in plans.get_all(con)] == ["pending"]
    with pytest.raises(NotFoundError, match="approved or closed"):
        evaluate_month(con=con, month=MONTH, n_boot=50, rebuild=True)
    # the next plan settles it: nothing landed, so it was never dispatched
    assert recover_pending(con=con, session=session) == {"approved": 0, "cancelled": 1}
    again = _plan(con, session)
    assert again.plan_version == lost.plan_version + 1
    assert [(r["version"], r["status"]) for r in plans.get_all(con)] == [
        (1, "cancelled"),
        (2, "approved"),
    ]
    # tasks committed but the process died before the version was confirmed: approved
    con.execute("UPDATE plans SET status = 'pending' WHERE version = 2")
    assert recover_pending(con=con, session=session) == {"approved": 1, "cancelled": 0}
    assert json.loads(_evaluation(con))["overall"]["n_treated"] == again.on_list


@pytest.mark.parametrize(
    ("choice", "explore", "draws"),
    [
        ("priority", None, True),
        ("value", None, False),
        ("value", True, True),
        ("priority", False, False),
    ],
)
def test_a_plan_choosing_by_value_does_not_take_the_thompson_draw_by_default(
    store, monkeypatch, choice, explore, draws
):
    """Per-customer values already try an action without evidence (at its configured effect);
    the segment's Thompson draw would override them, so by default only a plan that follows the
    library's priority explores. An explicit ``learning.explore`` is kept either way."""
    from weixi.dispatch import service

    con, session = store
    seen = []
    real = service.match
    monkeypatch.setattr(
        service, "match", lambda *a, **k: seen.append(k["explore"]) or real(*a, **k)
    )
    learning = {"enabled": True} | ({} if explore is None else {"explore": explore})
    _plan(
        con,
        session,
        key=f"x-{choice}-{explore}",
        action_choice=choice,
        learning=learning,
        preview=True,
    )
    assert seen == [draws]
