"""Uplift learners judged on an outside randomized experiment (`weixi uplift fit-eval`)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from weixi.cli import app
from weixi.errors import ConfigError
from weixi.evaluate import external as ex

# pure computations on files: no operational database, so one run is enough
pytestmark = pytest.mark.one_db

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
    # an interaction of two fields: a flexible learner beats the logistic T-learner out of
    # fold by more than its noise, and is chosen
    sel = res["selection"]
    assert sel["best_out_of_fold"] == max(res["oof_qini"], key=res["oof_qini"].get)
    assert sel["margin"] > sel["standard_error"] > 0
    assert res["model"]["learner"] == sel["best_out_of_fold"] != "t_logistic"
    assert res["model"]["qini_coefficient"] > 0.05
    assert res["model"]["uplift_at_30"] > res["test"]["ate"]  # the top 30 % respond more
    assert "qini_coefficient" in res["baseline_t_logistic"]
    lo, hi = res["test"]["ate_low"], res["test"]["ate_high"]
    assert lo < res["test"]["ate"] < hi
    with pytest.raises(ConfigError, match="no row has"):
        ex.fit_eval(df, treatment="segment", treated="sms", control="none", outcome="visit")


def test_qini_bootstrap_is_the_qini_of_each_resample():
    rng = np.random.default_rng(3)
    n = 400
    y, t = rng.integers(0, 2, n), rng.integers(0, 2, n)
    scores = {"a": np.round(rng.normal(size=n), 1), "b": rng.normal(size=n)}  # "a" has ties
    boot = ex.qini_bootstrap(y, scores, t, resamples=6, seed=11)
    # the same Poisson(1) counts, each resample written out row by row
    counts = np.random.default_rng(11).poisson(1.0, size=(6, n))
    for name, s in scores.items():
        for i, w in enumerate(counts):
            rows = np.repeat(np.arange(n), w)
            want = ex.qini_auc_score(y[rows], s[rows], t[rows])
            assert boot[name][i] == pytest.approx(want, abs=1e-12)


def test_without_an_effect_the_logistic_t_learner_stays():
    df = _experiment(6_000, effect=0.0, seed=2)
    res = ex.fit_eval(
        df, treatment="segment", treated="mail", control="none", outcome="visit", id_col="cid"
    )
    sel = res["selection"]
    assert sel["learner"] == res["model"]["learner"] == "t_logistic"
    assert sel["margin"] <= sel["standard_error"]
    assert sel["resamples"] == 200


def test_uplift_fit_eval_cli(tmp_path):
    f = tmp_path / "exp.csv"
    _experiment(3000, effect=0.3, seed=1).to_csv(f, index=False)
    args = ["uplift", "fit-eval", "--csv", str(f), "--treatment", "segment", "--treated", "mail"]
    args += ["--control", "none", "--outcome", "visit", "--id", "cid", "--test-size", "0.4"]
    args += ["--seed", "3"]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_test"] == 1200 and out["seed"] == 3
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "Qini" in res.stdout
    assert f"Chosen out of fold: {out['selection']['learner']}" in " ".join(res.stdout.split())


def test_fit_eval_compares_the_learners_with_the_true_effect_and_drops_columns():
    df = _experiment(8_000, effect=0.25, seed=4)
    web = (df["channel"] == "web") & (df["spend"].astype(float) > 80)
    truth = pd.DataFrame({"cid": df["cid"], "true_uplift": 0.25 * web.astype(float)})
    # a post-treatment column would leak the arm; --drop keeps it out of the features
    df["opened"] = np.where(df["segment"] == "mail", "yes", "")
    kw = dict(treatment="segment", treated="mail", control="none", outcome="visit")
    res = ex.fit_eval(df, **kw, id_col="cid", drop=["opened"], truth=truth)
    assert "opened" not in res["columns"]["numeric"] + res["columns"]["categorical"]
    tr = res["truth"]["true_uplift"]
    assert res["truth"]["rows"] == res["n_test"]
    assert tr["mean"] == pytest.approx(0.25 * web.mean(), abs=0.02)
    # the true ranking finds the effect on the held-out outcomes, and so does the learner
    assert tr["qini_coefficient"] > 0.05
    assert tr["spearman"]["model"] > 0.5
    assert set(tr["spearman"]) == {"model", "baseline_t_logistic"}
    with pytest.raises(ConfigError, match="--id"):
        ex.fit_eval(df, **kw, drop=["opened", "cid"], truth=truth)
    with pytest.raises(ConfigError, match="no true effect"):
        ex.fit_eval(df, **kw, id_col="cid", drop=["opened"], truth=truth.iloc[:100])


def _mediated(n, seed=0):
    """Churn experiment whose offer works only on who accepts it: uplift = P(accept) × 0.8 ×
    P(churn), both depending on the customer."""
    rng = np.random.default_rng(seed)
    usage = rng.gamma(2.0, 1.0, n)
    tenure = rng.integers(1, 120, n)
    plan = rng.choice(["basic", "plus", "max"], n)
    treated = rng.random(n) < 0.5
    p_churn = 0.04 + 0.4 * (tenure < 24) + 0.1 * (plan == "basic")
    p_accept = 1 / (1 + np.exp(-(usage - 2.0) * 2))
    accepted = treated & (rng.random(n) < p_accept)
    churned = rng.random(n) < p_churn * np.where(accepted, 0.2, 1.0)
    df = pd.DataFrame(
        {
            "cid": [f"c{i}" for i in range(n)],
            "usage": usage.round(3),
            "tenure": tenure,
            "plan": plan,
            "group": np.where(treated, "offer", "holdout"),
            "took_offer": np.where(treated, np.where(accepted, "yes", "no"), ""),
            "stayed": (~churned).astype(int),
        }
    )
    return df, pd.DataFrame({"cid": df["cid"], "true_uplift": p_accept * 0.8 * p_churn})


def test_a_mediator_column_adds_the_response_learner_and_is_never_a_feature():
    df, truth = _mediated(10_000, seed=5)
    kw = dict(treatment="group", treated="offer", control="holdout", outcome="stayed")
    res = ex.fit_eval(df, **kw, id_col="cid", mediator="took_offer", truth=truth)
    assert "took_offer" not in res["columns"]["numeric"] + res["columns"]["categorical"]
    assert res["mediator"]["control_rate"] == 0
    assert res["mediator"]["treated_rate"] == pytest.approx(
        (df.loc[df.group == "offer", "took_offer"] == "yes").mean()
    )
    assert "response" in res["oof_qini"]
    assert res["selection"]["default"] == "response"  # the mediator names the default
    assert res["model"]["learner"] == res["selection"]["best_out_of_fold"] == "response"
    assert res["truth"]["true_uplift"]["spearman"]["model"] > 0.6
    # without the mediator the candidates are the usual ones
    assert "response" not in ex.fit_eval(df, **kw, id_col="cid", drop=["took_offer"])["oof_qini"]
    with pytest.raises(ConfigError, match="nope"):
        ex.fit_eval(df, **kw, id_col="cid", mediator="nope")


def test_the_response_learner_ranks_by_who_accepts_times_who_would_leave():
    df, truth = _mediated(8_000, seed=2)
    fz_df = df[["usage", "tenure", "plan"]]
    X = np.column_stack(
        [fz_df["usage"], fz_df["tenure"], fz_df["plan"].map({"basic": 0, "plus": 1, "max": 2})]
    ).astype(float)
    t = (df["group"] == "offer").to_numpy(int)
    y = df["stayed"].to_numpy(float)
    fr = ex.Frame(X, fz_df, ["usage", "tenure"], ["plan"], ex.mediator_vector(df["took_offer"]))
    up = ex._response(fr, t, y)(fr)
    from scipy.stats import spearmanr

    assert spearmanr(up, truth["true_uplift"]).statistic > 0.9
    # r × the mean of the product is the measured average effect
    assert up.mean() == pytest.approx(y[t == 1].mean() - y[t == 0].mean(), rel=1e-6)
    with pytest.raises(ConfigError, match="mediator"):
        ex._response(ex.Frame(X, fz_df, [], []), t, y)


def test_mediator_vector_reads_yes_and_no():
    col = pd.Series(["yes", "No", "", None, "1", "0", "TRUE", "false", "是", "否", 1.0])
    assert ex.mediator_vector(col).tolist() == [1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1]
