import json

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weixi.churn.predict import Scorer, encode, fit_levels
from weixi.churn.reasons import describe, top_reasons


@pytest.mark.parametrize(
    ("reason", "en", "zh"),
    [
        (
            {"code": "months_to_contract_end", "value": 2},
            "contract ends in 2 months",
            "合约2个月后到期",
        ),
        (
            {"code": "data_mb_chg3", "value": -0.45},
            "data use fell 45 % vs the 3-month average",
            "流量较近3个月均值下降45%",
        ),
        (
            {"code": "complaints_3m", "value": 2},
            "2 complaint(s) in the last 3 months",
            "近3个月投诉2次",
        ),
        (
            {"code": "status", "value": "arrears_stopped"},
            "line status: stopped for arrears",
            "用户状态：欠费停机",
        ),
        ({"code": "contract_type", "value": "none"}, "no contract (unbound)", "无合约（未捆绑）"),
        ({"code": "bb_speed_mbps", "value": 100.0}, "broadband speed: 100", "宽带速率：100"),
    ],
)
def test_describe_in_both_languages(reason, en, zh):
    assert describe(reason, "en") == en
    assert describe(reason, "zh-CN") == zh


def test_top_reasons_keeps_positive_contributions_in_order():
    import pandas as pd

    df = pd.DataFrame({"a": [1.0, 2.0], "kind": pd.Categorical(["x", "y"]), "b": [5.0, np.nan]})
    levels = fit_levels(df, ["kind"])
    X = encode(df, ["a", "kind", "b"], levels)
    assert np.isnan(X[1, 2]) and X[1, 1] == 1.0
    contrib = np.array([[0.1, 0.5, -0.2, 0.0], [-0.3, -0.1, 0.9, 0.0]])
    long = top_reasons(contrib, X, ["a", "kind", "b"], levels, k=3).to_pylist()
    assert [(r["row"], r["code"]) for r in long] == [(0, "kind"), (0, "a"), (1, "b")]
    assert long[0]["value_text"] == "x" and long[1]["value_num"] == 1.0


def test_compiled_scores_match_lightgbm(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 6))
    X[:, 5] = rng.integers(0, 4, 4000)
    X[rng.random(4000) < 0.05, 2] = np.nan
    y = (rng.random(4000) < 1 / (1 + np.exp(-(X[:, 0] + (X[:, 5] == 2))))).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y, categorical_feature=[5]),
        30,
    )
    path = tmp_path / "h1.txt"
    booster.save_model(str(path))
    fast = Scorer(path, engine="lleaves", num_threads=1)
    slow = Scorer(path, engine="lightgbm", num_threads=1)
    assert fast.engine == "lleaves" and path.with_suffix(".large.so").exists()
    assert np.max(np.abs(fast.predict(X) - slow.predict(X))) < 1e-6
    assert json.dumps(float(slow.predict(X[:1])[0]))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.sampled_from(["a", "b", "c", "zz", None]), min_size=1, max_size=40),
    levels=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4),
    data=st.data(),
)
def test_a_category_column_encodes_as_its_values_do(values, levels, data):
    """A ``category`` column (what the features query gives) is encoded through its codes:
    the same matrix as its values one by one — unseen values and nulls NaN — for all rows and
    for a chosen subset in a chosen order."""
    import pandas as pd

    rows = np.array(
        data.draw(st.lists(st.integers(0, len(values) - 1), max_size=len(values))), dtype=np.int64
    )
    as_cat = pd.DataFrame({"x": pd.Categorical(values), "n": np.arange(len(values), dtype=float)})
    as_obj = pd.DataFrame({"x": pd.Series(values, dtype=object), "n": as_cat["n"]})
    lv = {"x": sorted(levels)}
    for r in (None, rows):
        got = encode(as_cat, ["x", "n"], lv, rows=r)
        want = encode(as_obj, ["x", "n"], lv, rows=r)
        np.testing.assert_array_equal(got, want)


def test_encoding_in_blocks_equals_each_value_looked_up(monkeypatch):
    """The matrix filled a block of rows at a time is each value as the boosters read it —
    floats, integers and booleans as numbers, nullable integers' nulls NaN, category and text
    columns as positions in the training levels (unseen and null: NaN), a missing column NaN —
    for all rows and for a chosen subset in a chosen order, across several blocks."""
    import pandas as pd

    from weixi.churn import predict

    monkeypatch.setattr(predict, "ENCODE_BLOCK_ROWS", 7)
    rng = np.random.default_rng(3)
    n = 40
    words = np.array(["a", "b", "c", "zz"], dtype=object)
    text = pd.Series(words[rng.integers(0, 4, n)], dtype=object).where(rng.random(n) > 0.2, None)
    df = pd.DataFrame(
        {
            "f": np.where(rng.random(n) > 0.3, rng.normal(size=n), np.nan),
            "i": rng.integers(-5, 5, n),
            "b": rng.random(n) > 0.5,
            "ni": pd.Series(rng.integers(0, 9, n), dtype="Int64").where(rng.random(n) > 0.3),
            "cat": pd.Categorical(text),
            "txt": text,
            "d": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 9, n), "D"),
        }
    )
    names = ["f", "cat", "i", "gone", "b", "ni", "txt", "d"]
    levels = {"cat": ["a", "c", "d"], "txt": ["b", "c"]}

    def one(value, name):
        if name in levels:
            return float(levels[name].index(value)) if value in levels[name] else np.nan
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        return float(pd.to_numeric(pd.Series([value])).iloc[0])

    for rows in (None, rng.permutation(n)[:25], np.array([3, 3, 0], dtype=np.int64)):
        picked = range(n) if rows is None else rows
        want = np.array(
            [[np.nan if c == "gone" else one(df[c].iloc[r], c) for c in names] for r in picked]
        )
        got = predict.encode(df, names, levels, rows=rows)
        assert got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
