"""Churn fixtures: a small synthetic operator history loaded into a DuckDB ``snapshot`` table."""

from __future__ import annotations

import pytest

from weixi.store.analytics import connect
from weixi.store.schema import ensure as ensure_schema
from weixi.synth.generate import make_history


def load_history(con, n: int, months: int, seed: int) -> list:
    """Insert ``months`` synthetic months of ``n`` lines into ``snapshot``; return the months."""
    ensure_schema(con)
    out = []
    for month, table in make_history(n, months, seed=seed):
        con.register("_t", table)
        con.execute("INSERT INTO snapshot BY NAME SELECT * FROM _t")
        con.unregister("_t")
        out.append(month)
    return out


@pytest.fixture(scope="session")
def history_file(tmp_path_factory):
    """A DuckDB file with 7 months of 3,000 synthetic lines (built once per session)."""
    path = tmp_path_factory.mktemp("churn") / "history.duckdb"
    con = connect(path)
    months = load_history(con, 3000, 7, seed=11)
    con.close()
    return path, months


@pytest.fixture
def history_con(history_file, tmp_path):
    """A private copy of the history database (tests may write scores and models)."""
    import shutil

    src, months = history_file
    dst = tmp_path / "weixi.duckdb"
    shutil.copy(src, dst)
    con = connect(dst)
    yield con, months
    con.close()


FAST_YAML = """
monthly:
  lightgbm: {learning_rate: 0.15, num_leaves: 8, max_depth: 3, min_data_in_leaf: 100,
             bagging_fraction: 0.8, bagging_freq: 1, lambda_l2: 10.0, num_boost_round: 60}
  logistic: {C: 0.3, spline_knots: 4, max_iter: 500}
tabular:
  lightgbm: {learning_rate: 0.1, num_leaves: 4, min_data_in_leaf: 20, num_boost_round: 80}
"""


@pytest.fixture
def fast_yaml(tmp_path):
    """A parameter file with fewer boosting rounds (tests stay fast; behaviour is the same)."""
    path = tmp_path / "fast.yaml"
    path.write_text(FAST_YAML)
    return path


@pytest.fixture
def fast_params(fast_yaml):
    """Typed fast parameters (see ``fast_yaml``)."""
    from weixi.churn.params import load_params

    return load_params(fast_yaml)
