"""Outcomes from the next month's snapshot, lift report, Excel export, uplift train/report, CLI."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pytest
from typer.testing import CliRunner

from tests.factories import SyntheticOperator
from weixi.dispatch import plans
from weixi.errors import NotFoundError
from weixi.evaluate import service
from weixi.evaluate.uplift import UpliftParams
from weixi.store.months import parse_month
from weixi.store.schema import ensure as ensure_schema

M1 = parse_month("2026-01")


def _load(con, n=6000, months=3, seed=3):
    """Snapshots of ``months`` months and a plan (20 % holdout) for every month but the last."""
    ensure_schema(con)
    op = SyntheticOperator(n, seed=seed, start_month="2026-01")
    rng = np.random.default_rng(seed)
    actions = np.array(["care_call", "prepay_credit", "package_fit"])
    for i in range(months):
        snap = op.snapshot()
        con.register("snap_in", snap)
        con.execute("INSERT INTO snapshot BY NAME SELECT * FROM snap_in")
        con.unregister("snap_in")
        if i < months - 1:
            ids = snap.column("subscriber_id").to_numpy(zero_copy_only=False)
            live = snap.column("status").to_numpy(zero_copy_only=False) == "active"
            pick = rng.choice(np.flatnonzero(live), size=n // 3, replace=False)
            is_control = rng.random(len(pick)) < 0.2
            act = actions[rng.integers(0, 3, len(pick))]
            import pyarrow as pa

            plan = pa.table(
                {
                    "month": pa.array([op.month] * len(pick), pa.date32()),
                    "campaign_id": pa.array(["C1"] * len(pick)),
                    "subscriber_id": pa.array(ids[pick]),
                    "customer_id": pa.array(ids[pick]),
                    "branch_id": snap.column("branch_id").take(pa.array(pick)),
                    "action": pa.array(act),
                    "offer_id": pa.array(act),
                    "channel": pa.array(["call_center"] * len(pick)),
                    "staff_id": pa.array(["CC1"] * len(pick)),
                    "is_control": pa.array(is_control),
                    "p_churn": pa.array(np.full(len(pick), 0.05)),
                    "expected_value": pa.array(np.full(len(pick), 10.0)),
                    "cost": pa.array(np.full(len(pick), 3.0)),
                    "reason": pa.array(["test"] * len(pick)),
                }
            )
            con.register("plan_in", plan)
            ensure_schema(con)
            con.execute(
                "INSERT INTO plan_assignments BY NAME SELECT *, 1 AS plan_version FROM plan_in"
            )
            con.unregister("plan_in")
            plans.record(con, month=op.month, campaign="C1", version=1, status="approved")
            # accepted actions lower next month's churn
            acc = rng.random(len(pick)) < 0.5
            op.advance(
                pa.table(
                    {
                        "subscriber_id": pa.array(ids[pick][~is_control]),
                        "action": pa.array(act[~is_control]),
                        "accepted": pa.array(acc[~is_control]),
                    }
                )
            )
        else:
            op.advance()
    return con


def _plan_last_month(con):
    con.execute(
        "INSERT INTO plan_assignments SELECT * REPLACE (DATE '2026-02-01' AS month) "
        "FROM plan_assignments WHERE month = DATE '2026-01-01'"
    )
    plans.record(con, month=parse_month("2026-02"), campaign="C1", version=1, status="approved")


def test_outcomes_need_the_next_month(fresh_con):
    with pytest.raises(NotFoundError, match="plan"):
        service.build_outcomes(con=fresh_con, month=M1)
    _load(fresh_con, n=1500, months=2)
    assert service.build_outcomes(con=fresh_con, month=M1) == 500
    # joined and then sorted as two statements (memory on a province's month): the stored
    # rows are the outcomes query's, in its order, and no work table is left behind
    stored = fresh_con.execute(
        "SELECT * EXCLUDE (rowid_) FROM (SELECT *, rowid AS rowid_ FROM evaluation_outcomes "
        "WHERE month = ?) ORDER BY rowid_",
        [M1],
    ).fetchall()
    cols = [
        c[0] for c in fresh_con.execute("SELECT * FROM evaluation_outcomes LIMIT 0").description
    ]
    query = service._outcomes_select(fresh_con, M1)
    expected = fresh_con.execute(f"SELECT {', '.join(cols)} FROM ({query})").fetchall()
    assert stored == expected and len(stored) == 500
    assert not fresh_con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = '_weixi_outcome_rows'"
    ).fetchall()
    _plan_last_month(fresh_con)
    with pytest.raises(NotFoundError, match="not imported"):
        service.build_outcomes(con=fresh_con, month=parse_month("2026-02"))


def test_outcomes_match_the_next_snapshot(fresh_con):
    _load(fresh_con, n=1500, months=2)
    df = service.get_outcomes(con=fresh_con, month=M1)
    assert len(df) == 500 and set(df["stayed"]) <= {0, 1}
    assert (df.loc[df["is_control"], ["planned_cost", "actual_cost"]] == 0).all().all()
    assert (df.loc[~df["is_control"], "planned_cost"] == 3.0).all()
    assert df.loc[~df["is_control"], "actual_cost"].isna().all()  # execution not recorded
    gone = df[df["stayed"] == 0]
    assert (gone["arpu_after"] == 0).all()
    nxt = fresh_con.execute(
        "SELECT subscriber_id FROM snapshot WHERE month = DATE '2026-02-01' "
        "AND status <> 'cancelled'"
    ).df()["subscriber_id"]
    assert set(df.loc[df["stayed"] == 1, "subscriber_id"]) <= set(nxt)


def test_evaluate_month_and_excel_export(fresh_con, tmp_path):
    _load(fresh_con)
    rep = service.evaluate_month(con=fresh_con, month=M1, n_boot=200)
    o = rep["overall"]
    assert o["n_treated"] + o["n_control"] == 2000
    assert o["retention_lift_low"] <= o["retention_lift"] <= o["retention_lift_high"]
    assert set(rep["by"]) >= {"action", "branch_id", "channel"}
    small = [r for r in rep["by"]["branch_id"] if r["n_control"] < 50]
    assert small and all(r["inconclusive"] and "inconclusive" in r["verdict"] for r in small)
    path = service.export_excel(rep, tmp_path / "eval.xlsx", locale="zh-CN")
    wb = openpyxl.load_workbook(path)
    assert "汇总" in wb.sheetnames and "维系策略" in wb.sheetnames
    ws = wb["维系策略"]
    assert ws.cell(1, 8).value == "保有率提升"
    assert ws.max_row == 1 + len(rep["by"]["action"])


def test_uplift_train_and_report(fresh_con, settings):
    _load(fresh_con)
    for m in ("2026-01", "2026-02"):
        service.build_outcomes(con=fresh_con, month=parse_month(m))
    meta = service.train_uplift(con=fresh_con, params=UpliftParams(n_estimators=40))
    assert meta["version"] == "uplift-2026-02"
    assert set(meta["actions"]) <= {"care_call", "prepay_credit", "package_fit"}
    assert len(meta["deciles"]) == 10
    assert (settings.models_dir / "uplift" / "uplift-2026-02.json").exists()
    rep = service.uplift_report(con=fresh_con, month=parse_month("2026-02"))
    assert rep["version"] == "uplift-2026-02" and rep["qini"] is not None


def test_cli_evaluate_json_and_export(settings, tmp_path):
    from weixi.cli import app
    from weixi.store.analytics import open_store

    with open_store() as con:
        _load(con, n=1500, months=2)
        _plan_last_month(con)
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--month", "2026-01", "--by", "action", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["month"] == "2026-01" and list(data["by"]) == ["action"]
    out = tmp_path / "e.xlsx"
    res = runner.invoke(app, ["evaluate", "export", "--month", "2026-01", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists()
    res = runner.invoke(app, ["evaluate", "--month", "2026-02"])
    assert res.exit_code == 1 and "not imported" in res.output


def test_adjust_plan_writes_shares_and_a_report(fresh_con):
    _load(fresh_con)
    out = service.adjust_plan(con=fresh_con, month=parse_month("2026-02"), locale="zh-CN")
    assert out["next_month"] == "2026-03"
    shares = fresh_con.execute(
        "SELECT segment, sum(p_best) FROM plan_adjustments GROUP BY segment"
    ).fetchall()
    assert shares and all(abs(s - 1) < 1e-9 for _, s in shares)
    assert "随机对照组比例保持 10%" in out["report"][0]


def test_money_verdict_says_whether_the_campaign_and_each_action_pay():
    def row(group, lift, low, high, cost, n=1000, small=False):
        return {
            "group": group,
            "n_treated": n,
            "value_lift": lift,
            "value_lift_low": low,
            "value_lift_high": high,
            "actual_cost": cost,
            "net_value": None if cost is None else lift * n - cost,
            "inconclusive": small,
        }

    by = [
        row("care_call", 2.0, 1.0, 3.0, 500.0),  # net 500…2 500: pays
        row("handset_upgrade", 1.0, -1.0, 3.0, 9000.0),  # net −10 000…−6 000: loses
        row("prepay_credit", 1.0, -1.0, 3.0, 1000.0),  # −2 000…2 000: unproven
        row("tiny", 9.0, 8.0, 10.0, 1.0, n=10, small=True),  # too small to judge
    ]
    v = service.money_verdict(row("All", 1.2, 0.5, 1.9, 10_500.0, n=4000), by)
    assert v["status"] == "loses" and v["net_high"] == pytest.approx(1.9 * 4000 - 10_500)
    assert v["paying"] == ["care_call"] and v["losing"] == ["handset_upgrade"]
    assert service.money_verdict(row("All", 3.0, 2.0, 4.0, 1000.0), by)["status"] == "pays"
    assert service.money_verdict(row("All", 1.0, -1.0, 3.0, 1000.0), by)["status"] == "unproven"
    assert service.money_verdict(row("All", 1.0, 0.0, 2.0, None), by) is None


def test_learned_uplift_summary_keeps_actions_with_only_take_rates(fresh_con):
    """The acceptance step can write take rates for an action without a learned uplift
    (NULL): the evaluation page lists it without a mean uplift instead of failing."""
    ensure_schema(fresh_con)
    fresh_con.execute(
        """INSERT INTO uplift (month, subscriber_id, action, uplift, model_version, take_rate)
           VALUES (DATE '2026-03-01', 'S1', 'care_call', NULL, 'acceptance-2026-03', 0.4),
                  (DATE '2026-03-01', 'S2', 'care_call', NULL, 'acceptance-2026-03', 0.2),
                  (DATE '2026-03-01', 'S1', 'package_fit', 0.05, 'uplift-2026-02', 0.3)"""
    )
    got = service.learned_uplift_summary(con=fresh_con, month=parse_month("2026-03"))
    assert [(r["action"], r["lines"], r["uplift"]) for r in got] == [
        ("care_call", 2, None),
        ("package_fit", 1, 0.05),
    ]
