"""``must_dispatch_a1`` keeps the seed's rule, and the plan says what the forced A1 customers
with a negative expected value cost."""

from __future__ import annotations

import datetime as dt

from tests.strategy.factories import MONTH, load, random_segments
from weixi.dispatch.schemas import CampaignSpec
from weixi.dispatch.service import plan_month
from weixi.strategy.library import load_preset
from weixi.web.readmodels import forced_a1_negative

SPEC = {
    "key": "a1-check",
    "name": {"en": "A1 check", "zh": "A1 检查"},
    "period_start": "2026-01-01",
    "period_end": "2026-01-01",
    "control_share": 0.1,
    "holdout": {"share": 0.0},
}


def _world(con, n: int = 800):
    seg, scores = random_segments(n, seed=3, n_branches=2)
    # half of the A1 customers barely churn: any contact with them loses money
    a1 = seg.loc[seg["a"] == "A1", "subscriber_id"]
    calm = set(a1.iloc[::2])
    scores.loc[scores["subscriber_id"].isin(calm), ["p_churn", "p_churn_2m", "p_churn_3m"]] = 0.001
    load(con, seg, scores)
    return seg, calm


def _plan(con, **overrides):
    spec = CampaignSpec.model_validate({**SPEC, **overrides})
    return plan_month(
        con=con, month=MONTH, spec=spec, library=load_preset(), as_of=dt.datetime(2026, 1, 1)
    )


def _on_list(con, seg):
    pa = con.execute("SELECT * FROM plan_assignments WHERE NOT is_control").df()
    return pa.merge(seg[["subscriber_id", "a"]], on="subscriber_id")


def test_forced_a1_with_negative_value_are_counted(fresh_con):
    seg, calm = _world(fresh_con)
    res = _plan(fresh_con)
    on = _on_list(fresh_con, seg)
    forced = on[(on["a"] == "A1") & (on["expected_value"] < 0)]
    assert len(forced) > 0 and calm & set(forced["subscriber_id"])
    assert res.a1_negative_ev == len(forced)
    assert res.a1_negative_ev_value == round(forced["expected_value"].sum(), 2) < 0
    # the option is what puts them there: nobody else on the lists loses money
    assert (on.loc[on["a"] != "A1", "expected_value"] > 0).all()
    assert res.to_dict()["a1_negative_ev"] == res.a1_negative_ev
    # the stored plan tells the same (the campaign page reads it)
    assert forced_a1_negative(fresh_con, "a1-check") == {
        "n": res.a1_negative_ev,
        "value": res.a1_negative_ev_value,
    }


def test_turning_the_option_off_leaves_no_loss_making_a1(fresh_con):
    seg, _ = _world(fresh_con)
    res = _plan(fresh_con, must_dispatch_a1=False)
    on = _on_list(fresh_con, seg)
    assert res.a1_negative_ev == 0 and res.a1_negative_ev_value == 0.0
    assert (on["expected_value"] > 0).all() and res.a1_required == 0
    assert forced_a1_negative(fresh_con, "a1-check") == {"n": 0, "value": 0.0}


def test_cli_plan_warns_in_both_languages(settings, tmp_path):
    import json

    from typer.testing import CliRunner

    from weixi.cli import app
    from weixi.store.analytics import connect

    con = connect()
    _world(con)
    con.close()
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        "key: a1-cli\nname: {en: A1 CLI, zh: A1 命令行}\n"
        "period_start: 2026-01-01\nperiod_end: 2026-01-01\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    args = ["plan", "--month", "2026-01", "--campaign", str(campaign)]
    out = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert out["a1_negative_ev"] > 0 and out["a1_negative_ev_value"] < 0
    en = runner.invoke(app, args)
    assert en.exit_code == 0, en.output
    text = " ".join(en.output.split())
    assert f"{out['a1_negative_ev']:,} A1 customers are on the lists only because" in text
    assert "must_dispatch_a1: false" in text
    zh = runner.invoke(app, ["--lang", "zh-CN", *args])
    assert zh.exit_code == 0, zh.output
    assert "请复核这些客户" in "".join(zh.output.split())


def test_a1_controls_stop_where_a_tight_budget_stops_the_a1_customers(fresh_con):
    """When the budget cannot reach every A1 customer, the A1 controls are cut at the same place
    of the same order: the control stays the drawn share of the A1 customers the plan chose, not
    every A1 control (which would compare the chosen with everyone)."""
    seg, _ = _world(fresh_con, 6000)
    full = _plan(fresh_con)
    a1 = set(seg.loc[seg["a"] == "A1", "subscriber_id"])

    def arms() -> tuple[int, int]:
        rows = fresh_con.execute(
            "SELECT subscriber_id, is_control FROM plan_assignments "
            "WHERE plan_version = (SELECT max(plan_version) FROM plan_assignments)"
        ).fetchall()
        treated = sum(1 for s, c in rows if s in a1 and not c)
        control = sum(1 for s, c in rows if s in a1 and c)
        return treated, control

    t_full, c_full = arms()
    assert full.a1_dispatched == full.a1_required == t_full
    tight = _plan(fresh_con, budget=round(full.cost / 4, 2))
    assert tight.infeasible and tight.a1_dispatched < tight.a1_required
    t_tight, c_tight = arms()
    assert t_tight == tight.a1_dispatched < t_full
    # the controls shrink with the treated: about the drawn 10 %, never all of them
    assert c_tight < c_full
    assert 0.02 < c_tight / (t_tight + c_tight) < 0.2
