"""What was tried to lift the generic-table model on the public sets (prints JSON).

Stratified 5-fold cross-validation (seed 0, the folds of ``weixi churn crossval``) on IBM Telco
and on Orange/BigML (churn-80 + churn-20, 3,333 rows), every variant built from the product's
own pieces (``tabular.Featurizer``, ``train.fit_lightgbm``, ``train.make_logistic`` with the
``params.yaml`` settings) and fitted on the training folds only; every choice a variant makes
(constraint signs, blend weight) is made inside the training fold. Figures are means over
folds of AUC and top-decile lift.

Variants (``product`` = today's model: 0.5 × LightGBM + 0.5 × spline logistic regression):

* ``lightgbm`` / ``spline_lr``: the two members alone;
* ``monotone``: LightGBM with monotone constraints on continuous columns whose Spearman
  correlation with churn in the training fold is beyond ±0.1 (sign from that fold), blended;
* ``leaves_2`` / ``leaves_3`` / ``leaves_6``: interaction limit (2 leaves: no interactions), blended;
* ``zero_unknown``: a continuous column with ≥ 10 % exact zeros gets a "was 0" indicator and
  its zeros become missing (0 meaning "unknown / not subscribed"), both members;
* ``yes_count``: number of yes-valued categorical columns (services taken) as a feature;
* ``trend``: ratio-of-ratio columns c / (a / b) − 1 for tables with 3–6 continuous columns
  (IBM Telco: MonthlyCharges against TotalCharges / tenure, the change of the monthly bill);
* ``interaction_lr``: a third member, L2 logistic regression on pairwise products of one-hot
  categories and quantile bins (C = 0.01), equal thirds;
* ``inner_weight``: the blend weight (0, 0.25 … 1) chosen on 4-fold out-of-fold AUC inside the
  training fold;
* ``bagged``: the LightGBM member averaged over 5 seeds.

With ``--tuned`` only ``product`` and ``tuned`` run: a time-boxed random search (12 LightGBM
settings: leaves 3–15, learning rate 0.01–0.05, leaf size, column share, L2; trees scaled
to the learning rate) scored by the blend's 3-fold out-of-fold AUC inside the training fold;
the winner is refitted on the whole training fold.

Usage: PYTHONPATH=src nice .venv/bin/python bench/churn_variants.py [--tuned] [telco|orange ...]
(about 6 CPU-minutes per set on a loaded 2-core machine; ``--tuned`` about as long).
"""

from __future__ import annotations

import itertools
import json
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, PolynomialFeatures

from weixi.churn import metrics
from weixi.churn import tabular as T
from weixi.churn.params import load_params
from weixi.churn.train import as_text_categories, fit_lightgbm, make_logistic, split_numeric

DATA = "/work/shared/data"
PARAMS = load_params()
TP = PARAMS.tabular
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def load(name: str) -> tuple[pd.DataFrame, str, str | None]:
    if name == "telco":
        return T.read_csv(f"{DATA}/ibm_telco/telco_churn.csv"), "Churn", "customerID"
    parts = [T.read_csv(f"{DATA}/orange_bigml/churn-{k}.csv") for k in (80, 20)]
    return pd.concat(parts, ignore_index=True), "Churn", None


def _members(xa, xb, ytr, spec, numeric, *, lgb_extra=None, leaves=None, seed=0):
    """(LightGBM, spline LR) test scores on prepared frames."""
    cont, binary = split_numeric(xa, numeric)
    p = TP.lightgbm if leaves is None else TP.lightgbm.model_copy(update={"num_leaves": leaves})
    if lgb_extra:
        prm = {**p.booster_params(seed=seed, num_threads=1), **lgb_extra}
        g = lgb.train(prm, lgb.Dataset(xa, label=ytr), p.num_boost_round).predict(xb)
    else:
        g = fit_lightgbm(xa, ytr, p, seed=seed, num_threads=1).predict(xb)
    lr = make_logistic(cont, binary, spec.categorical, TP.logistic, seed=0)
    lr.fit(as_text_categories(xa, spec.categorical), ytr)
    return g, lr.predict_proba(as_text_categories(xb, spec.categorical))[:, 1]


def _frames(tr, te, spec):
    fz = T.Featurizer(spec, TP).fit(tr)
    return fz.transform(tr), fz.transform(te), spec.numeric + fz.engineered


def _yes_count(df, spec):
    return sum(
        df[c].astype(str).str.strip().str.lower().isin(T.POSITIVE).to_numpy(dtype=float)
        for c in spec.categorical
    )


def _interaction_lr(xa, xb, ytr, spec):
    cont, binary = split_numeric(xa, spec.numeric)
    parts = [
        (
            "k",
            OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=20),
            spec.categorical,
        )
    ]
    if cont:
        bins = KBinsDiscretizer(n_bins=5, encode="onehot-dense", strategy="quantile")
        parts.append(("c", make_pipeline(SimpleImputer(strategy="median"), bins), cont))
    if binary:
        parts.append(("b", SimpleImputer(strategy="most_frequent"), binary))
    pipe = make_pipeline(
        ColumnTransformer(parts),
        PolynomialFeatures(2, interaction_only=True, include_bias=False),
        LogisticRegression(C=0.01, max_iter=3000),
    )
    pipe.fit(as_text_categories(xa, spec.categorical), ytr)
    return pipe.predict_proba(as_text_categories(xb, spec.categorical))[:, 1]


def fold_scores(tr, ytr, te, spec) -> dict[str, np.ndarray]:
    """Test scores of every variant for one outer fold (fitted on ``tr`` only)."""
    xa, xb, numeric = _frames(tr, te, spec)
    g, lr = _members(xa, xb, ytr, spec, numeric)
    out = {"product": 0.5 * g + 0.5 * lr, "lightgbm": g, "spline_lr": lr}
    cont, _ = split_numeric(xa, numeric)
    signs = []
    for c in xa.columns:
        r = xa[c].rank().corr(pd.Series(ytr, index=xa.index, dtype=float)) if c in cont else 0
        signs.append(int(np.sign(r)) if abs(r) > 0.1 else 0)
    gm, _ = _members(
        xa,
        xb,
        ytr,
        spec,
        numeric,
        lgb_extra={"monotone_constraints": signs, "monotone_constraints_method": "advanced"},
    )
    out["monotone"] = 0.5 * gm + 0.5 * lr
    for leaves in (2, 3, 6):
        gl, _ = _members(xa, xb, ytr, spec, numeric, leaves=leaves)
        out[f"leaves_{leaves}"] = 0.5 * gl + 0.5 * lr
    # 0 meaning "unknown": indicator + missing
    za, zb, znum = xa.copy(), xb.copy(), list(numeric)
    for c in [c for c in spec.numeric if c in cont and (xa[c] == 0).mean() >= 0.1]:
        for x in (za, zb):
            x[f"{c}_is0"] = (x[c] == 0).astype(float)
            x[c] = x[c].where(x[c] != 0)
        znum.append(f"{c}_is0")
    out["zero_unknown"] = 0.5 * sum(_members(za, zb, ytr, spec, znum))
    ya, yb = xa.copy(), xb.copy()
    ya["yes_count"], yb["yes_count"] = _yes_count(tr, spec), _yes_count(te, spec)
    out["yes_count"] = 0.5 * sum(_members(ya, yb, ytr, spec, [*numeric, "yes_count"]))
    cont0 = [c for c in split_numeric(xa, spec.numeric)[0] if xa[c].nunique() > 10]
    if 3 <= len(cont0) <= TP.max_pairwise_columns:
        ta, tb, tnum = xa.copy(), xb.copy(), list(numeric)
        for a, b in itertools.permutations(cont0, 2):
            for c in (c for c in cont0 if c not in (a, b)):
                for x in (ta, tb):
                    r = x[a] / x[b].where(x[b] != 0)
                    x[f"{c}/({a}/{b})"] = x[c] / r.where(r != 0) - 1
                tnum.append(f"{c}/({a}/{b})")
        out["trend"] = 0.5 * sum(_members(ta, tb, ytr, spec, tnum))
    out["interaction_lr"] = (g + lr + _interaction_lr(xa, xb, ytr, spec)) / 3
    oof_g, oof_l = np.zeros(len(ytr)), np.zeros(len(ytr))
    inner = StratifiedKFold(4, shuffle=True, random_state=1)
    for a, b in inner.split(np.zeros(len(ytr)), ytr):
        ia, ib, inum = _frames(tr.iloc[a], tr.iloc[b], spec)
        oof_g[b], oof_l[b] = _members(ia, ib, ytr[a], spec, inum)
    aucs = [roc_auc_score(ytr, w * oof_g + (1 - w) * oof_l) for w in WEIGHTS]
    w = WEIGHTS[int(np.argmax(aucs))]
    out["inner_weight"] = w * g + (1 - w) * lr
    bag = [g] + [_members(xa, xb, ytr, spec, numeric, seed=s)[0] for s in (1, 2, 3, 4)]
    out["bagged"] = 0.5 * np.mean(bag, axis=0) + 0.5 * lr
    return out


def _settings(n: int = 12, seed: int = 0) -> list:
    """``n`` random LightGBM settings around the small-table defaults (the first is them)."""
    rng = np.random.default_rng(seed)
    out = [TP.lightgbm]
    while len(out) < n:
        lr = float(rng.choice([0.01, 0.02, 0.03, 0.05]))
        out.append(
            TP.lightgbm.model_copy(
                update={
                    "num_leaves": int(rng.choice([3, 4, 6, 8, 15])),
                    "learning_rate": lr,
                    "num_boost_round": int(12 / lr),
                    "min_data_in_leaf": int(rng.choice([20, 40, 80])),
                    "feature_fraction": float(rng.choice([0.5, 0.7, 0.9])),
                    "lambda_l2": float(rng.choice([1.0, 10.0, 30.0])),
                }
            )
        )
    return out


def tuned_scores(tr, ytr, te, spec) -> dict[str, np.ndarray]:
    """Today's model and the blend with LightGBM settings chosen inside the training fold."""
    settings = _settings()
    inner = StratifiedKFold(3, shuffle=True, random_state=1)
    oof = np.zeros((len(settings), len(ytr)))
    for a, b in inner.split(np.zeros(len(ytr)), ytr):
        ia, ib, inum = _frames(tr.iloc[a], tr.iloc[b], spec)
        cont, binary = split_numeric(ia, inum)
        lr = make_logistic(cont, binary, spec.categorical, TP.logistic, seed=0)
        lr.fit(as_text_categories(ia, spec.categorical), ytr[a])
        p_lr = lr.predict_proba(as_text_categories(ib, spec.categorical))[:, 1]
        for i, st in enumerate(settings):
            p_g = fit_lightgbm(ia, ytr[a], st, seed=0, num_threads=1).predict(ib)
            oof[i, b] = 0.5 * p_g + 0.5 * p_lr
    best = settings[int(np.argmax([roc_auc_score(ytr, o) for o in oof]))]
    xa, xb, numeric = _frames(tr, te, spec)
    g, lr = _members(xa, xb, ytr, spec, numeric)
    gt = fit_lightgbm(xa, ytr, best, seed=0, num_threads=1).predict(xb)
    return {"product": 0.5 * g + 0.5 * lr, "tuned": 0.5 * gt + 0.5 * lr}


def run(name: str, scorer=None) -> dict:
    df, target, id_col = load(name)
    spec = T.detect(df, target, id_col)
    y = T.target_vector(df[target], target)
    skf = StratifiedKFold(TP.folds, shuffle=True, random_state=TP.seed)
    per: dict[str, list[tuple[float, float]]] = {}
    t0 = time.perf_counter()
    for tr, te in skf.split(np.zeros(len(y)), y):
        for key, p in (scorer or fold_scores)(df.iloc[tr], y[tr], df.iloc[te], spec).items():
            per.setdefault(key, []).append(
                (roc_auc_score(y[te], p), metrics.top_fraction_lift(y[te], p, 0.1))
            )
    res = {
        k: {
            "auc": round(float(np.mean([a for a, _ in v])), 4),
            "top_decile_lift": round(float(np.mean([b for _, b in v])), 3),
        }
        for k, v in per.items()
    }
    return {"rows": len(y), "churn_rate": round(float(y.mean()), 4), "variants": res} | {
        "seconds": round(time.perf_counter() - t0, 1)
    }


def main() -> None:
    tuned = "--tuned" in sys.argv
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or ["telco", "orange"]
    scorer = tuned_scores if tuned else None
    print(json.dumps({n: run(n, scorer) for n in names}, indent=1))


if __name__ == "__main__":
    main()
