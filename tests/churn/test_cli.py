import json
import shutil

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from weixi.cli import app

runner = CliRunner()


def _csv(path, n=500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    plan = rng.choice(["basic", "plus"], n)
    churn = rng.random(n) < 1 / (1 + np.exp(-(2 * x + (plan == "basic") - 1.5)))
    pd.DataFrame({"x": x.round(3), "plan": plan, "left": np.where(churn, "True", "False")}).to_csv(
        path, index=False
    )


def test_crossval_and_fit_eval_json(tmp_path, fast_yaml):
    fast = fast_yaml
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _csv(a, seed=1)
    _csv(b, 300, seed=2)
    res = runner.invoke(
        app,
        [
            "churn",
            "crossval",
            "--csv",
            str(a),
            "--target",
            "left",
            "--folds",
            "3",
            "--json",
            "--params",
            str(fast),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["model"]["auc"] > 0.7 and "baseline_lr" in out
    res = runner.invoke(
        app,
        [
            "churn",
            "fit-eval",
            "--train",
            str(a),
            "--test",
            str(b),
            "--target",
            "left",
            "--json",
            "--params",
            str(fast),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["model"]["n_test"] == 300
    res = runner.invoke(
        app,
        [
            "churn",
            "fit-eval",
            "--train",
            str(a),
            "--test",
            str(b),
            "--target",
            "left",
            "--params",
            str(fast),
        ],
    )
    assert res.exit_code == 0 and "baseline_lr" in res.stdout
    bad = runner.invoke(app, ["churn", "crossval", "--csv", str(a), "--target", "nope"])
    assert bad.exit_code == 1 and "not in the table" in bad.output
    bad = runner.invoke(
        app,
        [
            "churn",
            "crossval",
            "--csv",
            str(a),
            "--target",
            "left",
            "--params",
            str(tmp_path / "missing.yaml"),
        ],
    )
    assert bad.exit_code == 1 and "not found" in bad.output


def test_monthly_commands(history_file, settings, tmp_path, fast_yaml):
    fast = ["--params", str(fast_yaml)]
    src, months = history_file
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, settings.duckdb_file)
    m = f"{months[-2]:%Y-%m}"
    res = runner.invoke(app, ["churn", "train", "--month", m, "--json", *fast])
    assert res.exit_code == 0, res.output
    version = json.loads(res.stdout)["version"]
    res = runner.invoke(
        app, ["churn", "score", "--month", m, "--engine", "lightgbm", "--json", *fast]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model_version"] == version
    out = tmp_path / "report.html"
    res = runner.invoke(
        app, ["churn", "report", "--month", m, "--out", str(out), "--lang", "zh-CN", "--json"]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["sections"] == ["model", "backtest", "scores", "drift"]
    page = out.read_text(encoding="utf-8")
    assert "离网预警报告" in page and "<svg" in page and "<script" not in page
    assert (
        info["backtest"]["model"]["top_decile_lift"] > info["backtest"]["rule_c"]["top_decile_lift"]
    )
    res = runner.invoke(app, ["churn", "models", "--json"])
    assert [r["version"] for r in json.loads(res.stdout)] == [version]
    res = runner.invoke(app, ["churn", "promote", "churn-209901-001"])
    assert res.exit_code == 1 and "not registered" in res.output
