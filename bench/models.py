"""Model-quality figures on synthetic data with a known answer (prints JSON).

* ``base_rate``: a population at ~3 % churn, a training file oversampled to 50 % churn
  (every churner, as many stayers), scored at the population's rate: ECE without and with
  ``--base-rate``.
* ``uplift``: a randomized experiment (12,000 rows, effect only for one channel × high spend):
  ``weixi uplift fit-eval``'s figures for the product's learner and the logistic T-learner.
* ``interactions_*``: a 20k-row table whose signal is in interactions, 8k test rows: the
  size-adaptive settings vs the fixed small-table ones (and the untuned LightGBM).
* ``three_way``: tables whose churn sits in a 3-way interaction (12k, 20k, 30k training rows,
  seeds 1, 3, 5; 10k test rows of the next seed): the model against the untuned LightGBM.

Usage: PYTHONPATH=src .venv/bin/python bench/models.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.churn.test_tabular import _interactions, _population, _three_way
from tests.evaluate.test_external import _experiment

from weixi.churn import tabular
from weixi.evaluate import external


def main() -> None:
    import pandas as pd

    out: dict = {}
    t0 = time.perf_counter()
    pop = _population(60_000, seed=1)
    rate = float((pop["Churn"] == "1").mean())
    churners = pop[pop["Churn"] == "1"]
    train = pd.concat([churners, pop[pop["Churn"] == "0"].sample(len(churners), random_state=0)])
    test = _population(20_000, seed=2)
    res = tabular.fit_eval(train, test, "Churn", base_rate=rate)
    out["base_rate"] = {
        "population_rate": rate,
        "train_rate": res["train_rate"],
        "test_rate": res["test_rate"],
        **{
            name: {k: res[name][k] for k in ("auc", "top_decile_lift", "ece_raw", "ece")}
            for name in tabular.ROWS
        },
        "seconds": time.perf_counter() - t0,
    }
    t0 = time.perf_counter()
    exp = _experiment(12_000, effect=0.25)
    res = external.fit_eval(
        exp, treatment="segment", treated="mail", control="none", outcome="visit", id_col="cid"
    )
    keys = ("test", "model", "baseline_t_logistic", "oof_qini", "selection")
    out["uplift"] = {k: res[k] for k in keys} | {"seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    train, test = _interactions(20_000, seed=3), _interactions(8_000, seed=4)
    from weixi.churn.params import load_params

    p = load_params()
    fixed = p.model_copy(
        update={"tabular": p.tabular.model_copy(update={"adaptive_min_rows": 10**9})}
    )
    for name, params in (("adaptive", p), ("fixed", fixed)):
        res = tabular.fit_eval(train, test, "Churn", params=params)
        out[f"interactions_{name}"] = {
            row: {k: res[row][k] for k in ("auc", "top_decile_lift")} for row in tabular.ROWS
        }
    out["interactions_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["three_way"] = {}
    for n in (12_000, 20_000, 30_000):
        for seed in (1, 3, 5):
            res = tabular.fit_eval(_three_way(n, seed), _three_way(10_000, seed + 1), "Churn")
            out["three_way"][f"{n}_seed{seed}"] = {
                row: {k: res[row][k] for k in ("auc", "top_decile_lift")}
                for row in ("model", "lightgbm_default")
            }
    out["three_way_seconds"] = time.perf_counter() - t0
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
