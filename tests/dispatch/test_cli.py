"""The CLI doors: plan, lists update/export, strategy show/validate/match (JSON output)."""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd
from typer.testing import CliRunner

from tests.strategy.factories import load, random_segments
from weixi.cli import app
from weixi.store.analytics import connect

runner = CliRunner()


def _invoke(*args: str) -> dict:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_plan_export_update_via_cli(settings, tmp_path):
    con = connect()
    seg, scores = random_segments(1500, seed=4, n_branches=2)
    load(con, seg, scores)
    con.close()
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        "key: cli-test\nname: {en: CLI test, zh: 命令行测试}\n"
        "period_start: 2026-01-01\nperiod_end: 2026-01-01\nbudget: 5000\ncontrol_share: 0.1\n",
        encoding="utf-8",
    )
    out = _invoke("plan", "--month", "2026-01", "--campaign", str(campaign), "--json")
    assert out["campaign"] == "cli-test" and out["on_list"] > 0
    assert 0 < out["tasks_written"] <= out["on_list"]
    assert out["cost"] <= 5000 + 1e-6
    assert {r["stage"] for r in out["funnel"]} >= {"excluded", "control", "on_list"}
    xlsx = tmp_path / "b1.xlsx"
    exp = _invoke("lists", "export", "--branch", "b1", "--out", str(xlsx), "--json")
    assert exp["rows"] > 0 and xlsx.exists()
    frame = pd.read_excel(xlsx)
    assert "Phone / 手机号码" in frame.columns
    upd = _invoke("lists", "update", "--month", "2026-01", "--json")
    assert upd["open"] == out["tasks_written"] and upd["excluded"] == 0
    # human output in Chinese
    res = runner.invoke(
        app, ["--lang", "zh-CN", "plan", "--month", "2026-01", "--campaign", str(campaign)]
    )
    assert res.exit_code == 0, res.output
    assert "客户未入单原因" in res.stdout


def test_plan_errors_are_one_line(settings):
    res = runner.invoke(app, ["plan", "--month", "2026-13"])
    assert res.exit_code == 1
    assert "YYYY-MM" in res.output
    res = runner.invoke(app, ["plan", "--month", "2026-01"])
    assert res.exit_code == 1 and "segments" in res.output


def test_strategy_commands(settings):
    lib = _invoke("strategy", "show", "--json")
    assert lib["name"] == "seed" and len(lib["rules"]) == 15
    path = resources.files("weixi.strategy").joinpath("presets/seed.yaml")
    assert _invoke("strategy", "validate", str(path), "--json")["valid"] is True
    con = connect()
    seg, scores = random_segments(500, seed=1, n_branches=2)
    load(con, seg, scores)
    con.close()
    m = _invoke("strategy", "match", "--month", "2026-01", "--json")
    assert m["households"] == sum(r["count"] for r in m["by_action"]) > 0
