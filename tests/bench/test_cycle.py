"""The whole-cycle benchmark runs end to end on a small province (the path stays working)."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from weixi.cli import app

pytestmark = pytest.mark.slow

N = 20_000


def test_bench_runs_the_whole_cycle(tmp_path):
    runner = CliRunner()
    args = ["bench", "--subscribers", str(N), "--cache-dir", str(tmp_path / "cache")]
    args += ["--work-dir", str(tmp_path / "work"), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in (
        "subscribers",
        "steps",
        "total_s",
        "peak_rss_gib",
        "pandas_s",
        "pandas_lines",
        "pandas_ratio",
        "parquet_floor_s",
        "import_floor_s",
    ):
        assert key in out, key
    assert out["subscribers"] == N
    steps = out["steps"]
    expected = ["import", "segment", "churn_train", "churn_score", "uplift", "acceptance", "plan"]
    assert list(steps)[: len(expected)] == expected
    assert {"outcome_file", "evaluate"} <= set(steps)
    assert out["total_s"] == pytest.approx(sum(steps.values()), abs=0.05)
    assert 0 < out["peak_rss_gib"] < 8
    assert out["pandas_lines"] == N
    # every line of the month imported, a plan with tasks, 10 % of them in the outcome file
    detail = out["detail"]
    assert detail["import"]["loaded"] + detail["import"]["quarantined"] == detail["import"]["read"]
    assert detail["tasks"] > 0
    of = detail["outcome_file"]
    assert of["rows"] == round(detail["tasks"] * 0.1)
    assert of["balanced"] and of["recorded"] == of["rows"]
    assert detail["evaluate"]["n_treated"] > 0
    # as `weixi evaluate` does, the step rewrote the read models: the evaluation page's overview
    # of the month is stored, not computed on a request
    assert detail["evaluate_read_models_s"] > 0
    store = duckdb.connect(str(tmp_path / "work" / "home" / "weixi.duckdb"), read_only=True)
    months = store.execute("SELECT DISTINCT strftime(month, '%Y-%m') FROM rm_evaluation").fetchall()
    # as `weixi import` does, the next month's import rewrote the read models it made stale:
    # the scored month's calibration deciles (its labels) and the new month's own
    deciles = store.execute(
        "SELECT DISTINCT strftime(month, '%Y-%m') FROM rm_churn_deciles"
    ).fetchall()
    latest = store.execute("SELECT max(strftime(month, '%Y-%m')) FROM rm_months").fetchall()
    store.close()
    assert (detail["import"]["month"][:7],) in months
    assert (detail["import"]["month"][:7],) in deciles and "next_month_read_models" in out[
        "history_s"
    ]
    assert latest[0][0] > detail["import"]["month"][:7]
    # the cycle's high-water mark, stage by stage: each step of the timed month has its peak,
    # none above the process tree's
    month = detail["import"]["month"][:7]
    stages = detail["peak_rss_gib_by_stage"]
    for stage in (f"import {month}", f"segment {month}", f"churn score {month}", f"plan {month}"):
        assert 0 < stages[stage] <= out["peak_rss_gib"] + 0.01, (stage, stages)
    assert {"outcome file", f"evaluate {month}"} <= set(stages)
    # the input is cached (CSV export and Parquet) for the next run
    assert len(list((tmp_path / "cache").glob("*/csv/done.json"))) == 1
    assert len(list((tmp_path / "cache").glob("*/parquet/done.json"))) == 1


def test_a_parquet_cycle_without_anchors_writes_only_parquet(tmp_path):
    """The month after (``--months 3``) from Parquet: its monthly job evaluates the month
    before, the bench then this month — two steps under two keys, both in the total."""
    runner = CliRunner()
    args = ["bench", "--subscribers", "5000", "--input", "parquet", "--no-anchors", "--json"]
    args += ["--months", "3"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["input"] == "parquet" and "import_floor_s" not in out and "pandas_s" not in out
    assert out["detail"]["import"]["loaded"] == out["detail"]["import"]["read"] > 0
    assert out["detail"]["tasks"] > 0
    steps = out["steps"]
    assert steps["evaluate_previous"] > 0 and steps["evaluate"] > 0
    assert out["total_s"] == pytest.approx(sum(steps.values()), abs=0.05)
    assert {"evaluate 2026-02", "evaluate 2026-03"} <= set(out["detail"]["peak_rss_gib_by_stage"])
    # a province's CSV export is five times its Parquet: only the cycle's format is written
    assert len(list((tmp_path / "cache").glob("*/parquet/done.json"))) == 1
    assert not list((tmp_path / "cache").glob("*/csv"))
