import lightgbm as lgb
import numpy as np
import pytest

from weixi.churn.predict import Scorer
from weixi.churn.treeshap import TableShap, explainer


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns with NaN and exact zeros, a categorical code column with missing
    codes, and a churn label that depends on all of them (with interactions)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, 5))
    X[:, 0] = rng.normal(size=n)
    X[:, 1] = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(2.0, n))
    X[:, 2] = rng.normal(size=n)
    X[rng.random(n) < 0.15, 2] = np.nan
    X[:, 3] = rng.integers(0, 6, n)
    X[rng.random(n) < 0.1, 3] = np.nan
    X[:, 4] = rng.uniform(-1, 1, n)
    logit = (
        X[:, 0]
        + 0.5 * X[:, 1]
        - np.nan_to_num(X[:, 2], nan=1.5)
        + np.isin(X[:, 3], [1, 4]) * 1.2
        + X[:, 0] * X[:, 4]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _scoring_rows(n: int, seed: int) -> np.ndarray:
    """Rows as scoring meets them: NaN and zero everywhere, unseen and negative codes."""
    X, _ = _data(n, seed)
    rng = np.random.default_rng(seed + 100)
    for j in (0, 1, 4):
        X[rng.random(n) < 0.05, j] = np.nan
        X[rng.random(n) < 0.05, j] = 0.0
    X[rng.random(n) < 0.05, 3] = 9.0  # a code the trees never saw
    X[rng.random(n) < 0.05, 3] = -1.0
    return X


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({"num_leaves": 8, "max_depth": 3}, "NaN"),  # the monthly model's shape
        ({"num_leaves": 4, "zero_as_missing": True}, "Zero"),
        ({"num_leaves": 8, "max_depth": 3, "use_missing": False}, "None"),
        ({"num_leaves": 15, "min_data_in_leaf": 5}, None),  # > 10 internal nodes: row by row
    ],
)
def test_contributions_equal_lightgbm_pred_contrib(params, missing):
    X, y = _data(6000, 0)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "seed": 1, "learning_rate": 0.1, **params},
        lgb.Dataset(X, y, categorical_feature=[3]),
        num_boost_round=60,
    )
    rows = _scoring_rows(3000, 7)
    expected = booster.predict(rows, pred_contrib=True)
    got = explainer(booster)(rows)
    assert got.shape == expected.shape == (3000, 6)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    tables = TableShap.from_booster(booster)
    assert (tables is None) == (missing is None)
    if tables is not None:
        # the look-up really ran, and the contributions add up to the raw score
        np.testing.assert_allclose(got.sum(axis=1), booster.predict(rows, raw_score=True))
        kinds = {(n.categories is not None, n.missing) for t in tables.trees for n in t.nodes}
        assert (True, "None" if missing == "Zero" else missing) in kinds  # categorical splits
        assert (False, missing) in kinds  # the case's numerical missing type


def test_a_tree_without_a_split_adds_to_the_expected_value_only():
    X, y = _data(400, 3)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 300, "num_leaves": 4},
        lgb.Dataset(X, y),
        num_boost_round=3,
    )
    tables = TableShap.from_booster(booster)
    assert tables is not None and all(not t.nodes for t in tables.trees)
    rows = _scoring_rows(50, 4)
    got = tables.contributions(rows)
    np.testing.assert_allclose(got, booster.predict(rows, pred_contrib=True), atol=1e-12)
    assert np.all(got[:, :-1] == 0)


def test_scorer_contributions_use_the_tables(tmp_path):
    X, y = _data(5000, 5)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 8, "max_depth": 3},
        lgb.Dataset(X, y, categorical_feature=[3]),
        num_boost_round=40,
    )
    booster.save_model(str(tmp_path / "h1.txt"))
    scorer = Scorer(tmp_path / "h1.txt", engine="lightgbm")
    rows = _scoring_rows(20_000, 6)  # more than one chunk of rows
    np.testing.assert_allclose(
        scorer.contributions(rows), booster.predict(rows, pred_contrib=True), atol=1e-12
    )
    assert isinstance(scorer._explain.__self__, TableShap)
