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
    assert "--base-rate" not in res.stdout  # same churn share in both files: no warning
    # every churner three times: the training share (~57 %) looks oversampled
    over = tmp_path / "over.csv"
    df = pd.read_csv(a, dtype=str)
    pd.concat([df] + [df[df["left"] == "True"]] * 2).to_csv(over, index=False)
    args = ["churn", "fit-eval", "--train", str(over), "--test", str(b), "--target", "left"]
    res = runner.invoke(app, [*args, "--params", str(fast)])
    assert res.exit_code == 0 and "--base-rate" in res.stdout, res.output
    res = runner.invoke(app, [*args, "--params", str(fast), "--base-rate", "0.05", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["base_rate"] == 0.05 and out["warnings"] == []
    assert out["model"]["ece"] != out["model"]["ece_raw"]
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
    res = runner.invoke(
        app, ["churn", "train", "--month", m, "--base-rate", "0.02", "--json", *fast]
    )
    assert res.exit_code == 0, res.output
    trained = json.loads(res.stdout)
    version = trained["version"]
    h1 = trained["metrics"]["h1_holdout_raw"]
    assert {"ece", "ece_calibrated", "ece_base_rate"} <= set(h1)
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
    view = json.loads(res.stdout)
    assert [r["version"] for r in view["models"]] == [version]
    assert view["champion"]["version"] == version and view["challenger"] is None
    assert view["models"][0]["decision"]["reason"] == "no_champion"
    res = runner.invoke(app, ["churn", "promote", "churn-209901-001"])
    assert res.exit_code == 1 and "not registered" in res.output


def test_challenger_mode_models_table_and_audited_promotion(
    history_file, settings, tmp_path, fast_yaml
):
    from weixi.security import audit
    from weixi.store.db import session_scope

    weak = tmp_path / "weak.yaml"
    weak.write_text(
        "monthly: {horizons: [1], lightgbm: {num_boost_round: 3, max_depth: 1, num_leaves: 2}}\n"
    )
    src, months = history_file
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, settings.duckdb_file)
    fast = ["--params", str(fast_yaml)]
    first = ["churn", "train", "--month", f"{months[-2]:%Y-%m}", "--challenger", "--json"]
    res = runner.invoke(app, [*first, *fast])
    assert res.exit_code == 0, res.output
    champ = json.loads(res.stdout)
    assert champ["reason"] == "no_champion"
    args = ["churn", "train", "--month", f"{months[-1]:%Y-%m}", "--params", str(weak)]
    res = runner.invoke(app, [*args, "--challenger", "--promote"])
    assert res.exit_code != 0 and "not both" in res.output
    res = runner.invoke(app, ["--lang", "zh-CN", *args, "--challenger"])
    assert res.exit_code == 0, res.output
    assert "保留为挑战者模型" in res.stdout and "不优于" in res.stdout
    res = runner.invoke(app, ["--lang", "en", "churn", "models"])
    assert res.exit_code == 0, res.output
    assert "Champion and challenger" in res.stdout and "out-of-time month" in res.stdout
    assert "Kept as challenger: Not better than " + champ["version"] in res.stdout
    view = json.loads(runner.invoke(app, ["churn", "models", "--json"]).stdout)
    chall = view["challenger"]["version"]
    assert view["comparison"]["version"] == chall
    assert view["comparison"]["reason_text"].startswith("Not better than")
    assert view["champion"]["auc"] > view["challenger"]["auc"]

    # the manual override promotes against the rule, is recorded and audited
    res = runner.invoke(app, ["churn", "promote", chall, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"active": chall, "previous": champ["version"]}
    view = json.loads(runner.invoke(app, ["churn", "models", "--json"]).stdout)
    roles = {m["version"]: m["role"] for m in view["models"]}
    assert roles == {chall: "champion", champ["version"]: "retired"}
    assert view["models"][0]["decision"]["reason"] == "manual"
    table = runner.invoke(app, ["--lang", "en", "churn", "models"]).stdout
    assert "Retired" in table and "Promoted by hand (weixi churn promote)" in table
    with session_scope() as s:
        events = audit.get_all(session=s, flt=audit.AuditFilter(action="model_promoted"))
    assert [(e.object_id, e.username.startswith("cli:")) for e in events] == [(chall, True)]
