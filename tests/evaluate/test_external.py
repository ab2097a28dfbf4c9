import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from weixi.cli import app
from weixi.errors import ConfigError
from weixi.evaluate import external as ex

# Reference values computed with scikit-uplift 0.5.1 (sklift.metrics.qini_auc_score,
# uplift_auc_score, uplift_at_k(strategy="overall", k=0.3)) on the arrays of _case(seed, n, ties).
SKLIFT = {
    (0, 200, False): (0.11320864726163495, 0.09314687864092645, 0.3169642857142857),
    (1, 500, True): (0.10340705185893605, 0.10816265024654294, 0.13271162123385938),
    (2, 1000, False): (0.07893867101473036, 0.07590235946891513, 0.13022656106096886),
}


def _case(seed, n, ties):
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.6).astype(int)
    s = rng.normal(size=n)
    if ties:
        s = np.round(s, 1)
    y = (rng.random(n) < 0.3 + 0.15 * t * (s > 0)).astype(int)
    return y, s, t


@pytest.mark.parametrize("key", list(SKLIFT))
def test_metrics_equal_scikit_uplift(key):
    y, s, t = _case(*key)
    qini, auc, at30 = SKLIFT[key]
    assert ex.qini_auc_score(y, s, t) == pytest.approx(qini, abs=1e-12)
    assert ex.uplift_auc_score(y, s, t) == pytest.approx(auc, abs=1e-12)
    assert ex.uplift_at_k(y, s, t, 0.3) == pytest.approx(at30, abs=1e-12)


def test_qini_of_perfect_and_reversed_ranking():
    y, t = np.array([1, 0, 1, 0, 1, 0, 0, 1]), np.array([1, 1, 1, 1, 0, 0, 0, 0])
    perfect = (y * t - y * (1 - t)).astype(float)
    assert ex.qini_auc_score(y, perfect, t) == pytest.approx(1.0)
    assert ex.qini_auc_score(y, -perfect, t) < 0
    a = ex.ate(
        np.r_[np.ones(50), np.zeros(50), np.ones(30), np.zeros(70)],
        np.r_[np.ones(100), np.zeros(100)],
    )
    assert a["ate"] == pytest.approx(0.2) and a["ate_low"] < 0.2 < a["ate_high"]
    assert a["se"] == pytest.approx(np.sqrt(0.25 / 100 + 0.21 / 100))


def _experiment(n, effect, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    spend = rng.gamma(2.0, 50.0, n).round(1)
    channel = rng.choice(["web", "phone", "store"], n)
    arm = rng.choice(["mail", "none"], n)
    treated = arm == "mail"
    p = 0.15 + 0.001 * (age - 40) + effect * treated * (channel == "web") * (spend > 80)
    visit = rng.random(n) < np.clip(p, 0.01, 0.99)
    return pd.DataFrame(
        {
            "cid": [f"c{i}" for i in range(n)],
            "age": age.astype(str),
            "spend": spend.astype(str),
            "channel": channel,
            "segment": arm,
            "visit": visit.astype(int).astype(str),
        }
    )


def test_fit_eval_finds_a_heterogeneous_effect_and_reports_the_baseline():
    df = _experiment(12_000, effect=0.25)
    res = ex.fit_eval(
        df, treatment="segment", treated="mail", control="none", outcome="visit", id_col="cid"
    )
    assert res["n_test"] == 3600 and res["columns"]["categorical"] == ["channel"]
    assert set(res["oof_qini"]) == set(ex.candidates(100)) | set(ex.BLENDS)
    assert res["model"]["learner"] == max(res["oof_qini"], key=res["oof_qini"].get)
    assert res["model"]["qini_coefficient"] > 0.05
    assert res["model"]["uplift_at_30"] > res["test"]["ate"]  # the top 30 % respond more
    assert "qini_coefficient" in res["baseline_t_logistic"]
    lo, hi = res["test"]["ate_low"], res["test"]["ate_high"]
    assert lo < res["test"]["ate"] < hi
    with pytest.raises(ConfigError, match="no row has"):
        ex.fit_eval(df, treatment="segment", treated="sms", control="none", outcome="visit")


def test_uplift_fit_eval_cli(tmp_path):
    f = tmp_path / "exp.csv"
    _experiment(3000, effect=0.3, seed=1).to_csv(f, index=False)
    args = ["uplift", "fit-eval", "--csv", str(f), "--treatment", "segment", "--treated", "mail"]
    args += ["--control", "none", "--outcome", "visit", "--id", "cid", "--test-size", "0.4"]
    res = CliRunner().invoke(app, [*args, "--json", "--seed", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_test"] == 1200 and out["seed"] == 3
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "Qini" in res.stdout
