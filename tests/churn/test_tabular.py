from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from weixi.churn import tabular
from weixi.errors import ConfigError

# The public churn datasets live in shared/ beside the repository (CI lays it out the same way).
DATA = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared" / "data",
            Path("/work/shared/data"),
        )
        if p.exists()
    ),
    Path("/work/shared/data"),
)
TELCO = DATA / "ibm_telco" / "telco_churn.csv"
ORANGE = DATA / "orange_bigml"


def _table(n=600, seed=0):
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    fee = rng.uniform(20, 110, n).round(2)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n)
    logit = -1.0 - 0.04 * tenure + 0.02 * fee + 1.5 * (contract == "Month-to-month")
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    total = (tenure * fee).round(2).astype(str)
    total[tenure == 0] = " "  # IBM Telco's quirk: blanks in a numeric text column
    return pd.DataFrame(
        {
            "id": [f"C{i:05d}" for i in range(n)],
            "tenure": tenure.astype(str),
            "Monthly": fee.astype(str),
            "Total": total,
            "Contract": contract,
            "Note": ["x"] * n,
            "Churn": np.where(churn, "Yes", "No"),
        }
    )


def test_detects_kinds_blank_numbers_ids_and_yes_no_target():
    df = _table()
    df["ref"] = [f"R{i}" for i in range(len(df))]  # undeclared id: dropped
    spec = tabular.detect(df, "Churn", id_col="id")
    assert spec.numeric == ["tenure", "Monthly", "Total"]
    assert spec.categorical == ["Contract"]
    assert spec.dropped["Note"] == "constant" and "id" in spec.dropped["ref"]
    y = tabular.target_vector(df["Churn"], "Churn")
    assert set(np.unique(y)) == {0, 1}
    assert tabular.target_vector(pd.Series(["True", "False", "TRUE"]), "c").tolist() == [1, 0, 1]
    with pytest.raises(ConfigError, match="yes/no"):
        tabular.target_vector(pd.Series(["maybe", "No"]), "c")
    with pytest.raises(ConfigError, match="not in the table"):
        tabular.detect(df, "Exited")


def test_crossval_and_fit_eval_report_model_and_baseline():
    from weixi.churn.params import load_params

    df = _table(800)
    p = load_params()
    fast = p.model_copy(
        update={
            "tabular": p.tabular.model_copy(
                update={"lightgbm": p.tabular.lightgbm.model_copy(update={"num_boost_round": 100})}
            )
        }
    )
    res = tabular.crossval(df, "Churn", id_col="id", folds=3, params=fast)
    for name in ("model", "baseline_lr"):
        m = res[name]
        assert set(m) >= {"auc", "pr_auc", "top_decile_lift", "ece", "n_train", "n_test"}
        assert m["auc"] > 0.65 and m["n_train"] + m["n_test"] == 800
    out = tabular.fit_eval(
        df.iloc[:600], df.iloc[600:], "Churn", id_col="id", drop=["Note"], params=fast
    )
    assert out["model"]["n_test"] == 200 and out["model"]["auc"] > 0.65


@pytest.mark.slow
@pytest.mark.skipif(not TELCO.exists(), reason="shared IBM Telco file not present")
def test_ibm_telco_5fold_auc_at_least_085():
    res = tabular.crossval(tabular.read_csv(TELCO), "Churn", id_col="customerID", folds=5)
    assert "TotalCharges" in res["columns"]["numeric"]
    assert res["model"]["auc"] >= 0.85, res["model"]
    assert res["model"]["auc"] > res["baseline_lr"]["auc"]


@pytest.mark.slow
@pytest.mark.skipif(not ORANGE.exists(), reason="shared Orange/BigML files not present")
def test_orange_bigml_holdout():
    res = tabular.fit_eval(
        tabular.read_csv(ORANGE / "churn-80.csv"),
        tabular.read_csv(ORANGE / "churn-20.csv"),
        "Churn",
    )
    assert res["model"]["auc"] >= 0.92, res["model"]
    assert res["model"]["top_decile_lift"] >= 5, res["model"]
    assert res["model"]["n_train"] == 2666 and res["model"]["n_test"] == 667


def _population(n, seed):
    """A population at about 3 % churn: a few signals, one category."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    plan = rng.choice(["a", "b", "c"], n)
    logit = -4.0 + 1.0 * x1 - 0.7 * x2 + 0.6 * (plan == "a")
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {"x1": x1.round(3), "x2": x2.round(3), "plan": plan, "Churn": np.where(churn, "1", "0")}
    )


def test_base_rate_calibrates_an_oversampled_training_set():
    from weixi.churn.params import load_params

    p = load_params()
    fast = p.model_copy(
        update={
            "tabular": p.tabular.model_copy(
                update={"lightgbm": p.tabular.lightgbm.model_copy(update={"num_boost_round": 150})}
            )
        }
    )
    pop = _population(60_000, seed=1)
    rate = float((pop["Churn"] == "1").mean())
    # training sample: every churner, as many stayers (50 % churn share, as in many vendors' files)
    churners = pop[pop["Churn"] == "1"]
    train = pd.concat([churners, pop[pop["Churn"] == "0"].sample(len(churners), random_state=0)])
    test = _population(20_000, seed=2)  # scored at the population's rate
    plain = tabular.fit_eval(train, test, "Churn", params=fast)
    assert plain["warnings"] and "--base-rate" in plain["warnings"][0]
    assert plain["model"]["ece"] > 0.2  # scores at the training share: far too high
    fixed = tabular.fit_eval(train, test, "Churn", params=fast, base_rate=rate)
    assert fixed["warnings"] == []
    for name in ("model", "lightgbm", "baseline_lr"):
        m = fixed[name]
        assert m["ece"] <= 0.02, (name, m)
        assert m["ece_raw"] == pytest.approx(plain[name]["ece"])
        assert m["auc"] == pytest.approx(plain[name]["auc"])  # the ranking is unchanged


def _interactions(n, seed):
    """A large table whose signal is in interactions (where 4-leaf trees fall short)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    band = rng.choice(["a", "b", "c", "d"], n)
    logit = (
        -1.5
        + 1.2 * (x[:, 0] > 0) * (x[:, 1] > 0.5)
        - 1.0 * x[:, 2] * x[:, 3]
        + 0.8 * np.sin(2 * x[:, 4])
        + 0.7 * (band == "d") * (x[:, 5] > 0)
    )
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame(x.round(4), columns=[f"x{i}" for i in range(6)]).astype(str)
    df["band"] = band
    df["Churn"] = np.where(churn, "yes", "no")
    return df


def _three_way(n, seed):
    """A large table whose churn sits in a 3-way sign interaction and a saw-tooth: trees that
    do not see every feature (feature_fraction < 1) learn it slowly."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    cat = rng.choice(list("abcdefgh"), n)
    logit = (
        -1.0
        + 1.5 * np.sign(x[:, 0]) * np.sign(x[:, 1]) * np.sign(x[:, 2])
        + 1.0 * ((np.floor(x[:, 3] * 3) % 2) == 0) * (x[:, 4] > 0)
        + 0.8 * np.isin(cat, list("aceg")) * (x[:, 5] > 0.3) * (x[:, 6] < 0)
    )
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame(x.round(4), columns=[f"x{i}" for i in range(8)]).astype(str)
    df["cat"] = cat
    df["Churn"] = np.where(churn, "yes", "no")
    return df


def test_large_tables_try_lightgbms_own_defaults_too():
    """On this table the tuned candidates fell 1.8 AUC points below an untuned LGBMClassifier
    (0.7967 against 0.8151); with LightGBM's defaults among the candidates the inner split
    picks them and the model is within half a point."""
    res = tabular.fit_eval(_three_way(12_000, seed=1), _three_way(10_000, seed=2), "Churn")
    assert res["model"]["auc"] >= res["lightgbm_default"]["auc"] - 0.005, res


def test_large_tables_adapt_and_stay_above_an_untuned_lightgbm():
    train, test = _interactions(20_000, seed=3), _interactions(8_000, seed=4)
    res = tabular.fit_eval(train, test, "Churn")
    assert res["model"]["auc"] >= res["lightgbm_default"]["auc"] - 0.002, res
    assert res["model"]["top_decile_lift"] >= res["lightgbm_default"]["top_decile_lift"] - 0.05
    # below adaptive_min_rows the fixed small-table settings are used (what the public sets get)
    from weixi.churn.params import load_params

    p = load_params()
    fixed = p.model_copy(
        update={"tabular": p.tabular.model_copy(update={"adaptive_min_rows": 10**9})}
    )
    res_fixed = tabular.fit_eval(train, test, "Churn", params=fixed)
    assert res["model"]["auc"] >= res_fixed["model"]["auc"] - 0.002, (res, res_fixed)
