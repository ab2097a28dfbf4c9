"""Uplift learners judged on an outside randomized experiment (one CSV, one treatment column).

``fit_eval`` splits the file (stratified on treatment × outcome), picks the product's learner
(boosted T/X-learners of several strengths, logistic T-learners, the average of a boosted and a
logistic one) by out-of-fold Qini on the training part, refits it on the whole training part and reports on the
held-out part, beside a plain logistic T-learner baseline. The metrics follow scikit-uplift's
definitions exactly (``qini_auc_score``, ``uplift_auc_score``, ``uplift_at_k`` with
``strategy="overall"``), so figures compare with published ones.

Example:
    >>> y = np.array([1, 0, 1, 0, 1, 0]); t = np.array([1, 1, 1, 0, 0, 0])
    >>> round(qini_auc_score(y, np.array([6, 5, 4, 3, 2, 1.0]), t), 4)
    0.3333
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from weixi.errors import ConfigError

# --------------------------------------------------------------- scikit-uplift's metrics


def _curve(y: np.ndarray, uplift: np.ndarray, t: np.ndarray, kind: str):
    """Points (n, value) of the Qini or uplift curve at every distinct score (descending)."""
    order = np.argsort(uplift, kind="mergesort")[::-1]
    y, t, u = y[order].astype(float), t[order].astype(float), uplift[order]
    cut = np.r_[np.flatnonzero(np.diff(u)), u.size - 1]
    n_t = np.cumsum(t)[cut]
    y_t = np.cumsum(y * t)[cut]
    y_c = np.cumsum(y * (1 - t))[cut]
    n_all = (cut + 1).astype(float)
    n_c = n_all - n_t
    if kind == "qini":
        ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
        value = y_t - y_c * ratio
    else:
        r_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
        r_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
        value = (r_t - r_c) * n_all
    if n_all.size == 0 or value[0] != 0 or n_all[0] != 0:
        n_all, value = np.r_[0.0, n_all], np.r_[0.0, value]
    return n_all, value


def _check(y, uplift, t):
    y, uplift, t = np.asarray(y), np.asarray(uplift, dtype=float), np.asarray(t)
    if not (len(y) == len(uplift) == len(t)):
        raise ValueError("y, uplift and treatment must have the same length")
    for name, v in (("outcome", y), ("treatment", t)):
        if not np.isin(v, [0, 1]).all():
            raise ValueError(f"{name} must be binary 0/1")
    return y.astype(int), uplift, t.astype(int)


def _normalized(x, v, x_p, v_p) -> float:
    base = np.trapezoid([0.0, v_p[-1]], [0.0, x_p[-1]])
    return float((np.trapezoid(v, x) - base) / (np.trapezoid(v_p, x_p) - base))


def qini_auc_score(y, uplift, treatment) -> float:
    """Normalized area under the Qini curve (scikit-uplift's ``qini_auc_score``, negative
    effects allowed in the perfect curve): (model − random) / (perfect − random)."""
    y, uplift, t = _check(y, uplift, treatment)
    x, v = _curve(y, uplift, t, "qini")
    x_p, v_p = _curve(y, (y * t - y * (1 - t)).astype(float), t, "qini")
    return _normalized(x, v, x_p, v_p)


def uplift_auc_score(y, uplift, treatment) -> float:
    """Normalized area under the uplift curve (scikit-uplift's ``uplift_auc_score``)."""
    y, uplift, t = _check(y, uplift, treatment)
    x, v = _curve(y, uplift, t, "uplift")
    cr = np.sum((y == 1) & (t == 0))
    tn = np.sum((y == 0) & (t == 1))
    perfect = 2 * (y == t) + (y if cr > tn else t)
    x_p, v_p = _curve(y, perfect.astype(float), t, "uplift")
    return _normalized(x, v, x_p, v_p)


def uplift_at_k(y, uplift, treatment, k: float = 0.3) -> float:
    """Treated minus control response rate among the top ``k`` share by predicted uplift
    (scikit-uplift's ``uplift_at_k(strategy="overall")``)."""
    y, uplift, t = _check(y, uplift, treatment)
    order = np.argsort(uplift, kind="mergesort")[::-1][: int(len(y) * k)]
    yt, tt = y[order], t[order]
    if tt.all() or not tt.any():
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())


def ate(y, treatment, *, z: float = 1.959964) -> dict[str, float]:
    """Average treatment effect (difference in response rates) with a normal 95 % interval."""
    y, t = np.asarray(y, dtype=float), np.asarray(treatment).astype(bool)
    p1, p0 = y[t].mean(), y[~t].mean()
    se = float(np.sqrt(p1 * (1 - p1) / t.sum() + p0 * (1 - p0) / (~t).sum()))
    d = float(p1 - p0)
    return {"ate": d, "ate_low": d - z * se, "ate_high": d + z * se, "se": se}


def uplift_metrics(y, uplift, treatment) -> dict[str, float]:
    """The figures of one learner on held-out rows."""
    return {
        "qini_coefficient": qini_auc_score(y, uplift, treatment),
        "uplift_auc": uplift_auc_score(y, uplift, treatment),
        "uplift_at_30": uplift_at_k(y, uplift, treatment, 0.3),
        "mean_predicted_uplift": float(np.mean(uplift)),
    }


# --------------------------------------------------------------- learners


@dataclass
class Frame:
    """Numeric matrix (categories as codes) and the same columns typed for the logistic model."""

    X: np.ndarray
    typed: pd.DataFrame
    numeric: list[str]
    categorical: list[str]


def _frames(df: pd.DataFrame, features: pd.DataFrame | None, fz) -> Frame:
    typed = fz._typed(df, fit=False)
    X = np.column_stack(
        [
            typed[c].cat.codes.replace(-1, np.nan).to_numpy(dtype=float)
            if c in fz.spec.categorical
            else typed[c].to_numpy(dtype=float)
            for c in typed.columns
        ]
    )
    return Frame(X, typed, fz.spec.numeric, fz.spec.categorical)


def _boosted(params):
    from weixi.evaluate.uplift import fit_uplift

    def fit(fr: Frame, t: np.ndarray, y: np.ndarray):
        arm = np.where(t == 1, "treated", "")
        model = fit_uplift(fr.X, arm, y, params=params)
        return lambda f: model.predict(f.X)[:, 0]

    return fit


def _logistic(splines: bool, C: float):
    from weixi.churn.params import LogisticParams
    from weixi.churn.train import as_text_categories, make_logistic, split_numeric

    def fit(fr: Frame, t: np.ndarray, y: np.ndarray):
        cont, binary = split_numeric(fr.typed, fr.numeric)
        if not splines:
            cont, binary = [], cont + binary
        p = LogisticParams(C=C, max_iter=2000)
        models = []
        for arm in (1, 0):
            m = make_logistic(cont, binary, fr.categorical, p)
            m.fit(as_text_categories(fr.typed[t == arm], fr.categorical), y[t == arm])
            models.append(m)

        def predict(f: Frame) -> np.ndarray:
            x = as_text_categories(f.typed, f.categorical)
            return models[0].predict_proba(x)[:, 1] - models[1].predict_proba(x)[:, 1]

        return predict

    return fit


def candidates(n_train: int) -> dict:
    """The product's learners tried on a file, from flexible to heavily regularized.

    Leaf sizes grow with the data (uplift signal is a small difference of two rates, so a leaf
    needs many customers of both arms to say anything).
    """
    from weixi.evaluate.uplift import UpliftParams

    leaf = int(np.clip(n_train // 200, 50, 2000))
    return {
        "t_lightgbm": _boosted(
            UpliftParams(learner="t", n_estimators=150, num_leaves=15, min_child_samples=leaf)
        ),
        "t_lightgbm_small": _boosted(
            UpliftParams(
                learner="t",
                n_estimators=100,
                learning_rate=0.03,
                num_leaves=4,
                min_child_samples=4 * leaf,
            )
        ),
        "x_lightgbm_small": _boosted(
            UpliftParams(
                learner="x",
                n_estimators=100,
                learning_rate=0.03,
                num_leaves=4,
                min_child_samples=4 * leaf,
            )
        ),
        "t_spline_logistic": _logistic(True, 0.1),
        "t_logistic": _logistic(False, 1.0),
    }


# averages of two learners' uplift (same units: a difference of probabilities), chosen like
# any other candidate on out-of-fold Qini; low-signal files often favour the average
BLENDS = {"blend_lightgbm_logistic": ("t_lightgbm_small", "t_logistic")}


def fit_eval(
    df: pd.DataFrame,
    *,
    treatment: str,
    treated: str,
    control: str,
    outcome: str,
    id_col: str | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    folds: int = 3,
) -> dict:
    """Fit the uplift learners on a randomized experiment's table and report on a held-out part.

    Rows whose treatment is neither ``treated`` nor ``control`` are left out (e.g. the other
    arm of a three-arm test). The outcome accepts yes/no, true/false, 1/0.
    """
    from weixi.churn.tabular import Featurizer, detect, target_vector

    for c in (treatment, outcome):
        if c not in df.columns:
            raise ConfigError(f"column {c!r} not in the table; columns are: {list(df.columns)}")
    arm = df[treatment].astype(str).str.strip()
    for v in (treated, control):
        if not (arm == v).any():
            raise ConfigError(
                f"no row has {treatment} = {v!r}; values are: {sorted(arm.unique())[:10]}"
            )
    keep = arm.isin([treated, control]).to_numpy()
    df = df[keep].reset_index(drop=True)
    t = (arm[keep] == treated).to_numpy(dtype=int)
    y = target_vector(df[outcome], outcome)
    strata = 2 * t + y
    tr, te = train_test_split(
        np.arange(len(df)), test_size=test_size, random_state=seed, stratify=strata
    )
    spec = detect(df.iloc[tr], outcome, id_col, [treatment])
    from weixi.churn.params import TabularParams

    fz = Featurizer(spec, TabularParams(max_pairwise_columns=0)).fit(df.iloc[tr])
    f_tr, f_te = _frames(df.iloc[tr], None, fz), _frames(df.iloc[te], None, fz)
    t_tr, y_tr = t[tr], y[tr]
    cands = candidates(len(tr))
    # selection: out-of-fold Qini on the training part only
    oof = {name: np.zeros(len(tr)) for name in cands}
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for a, b in skf.split(np.zeros(len(tr)), strata[tr]):
        fa, fb = _sub(f_tr, a), _sub(f_tr, b)
        for name, fit in cands.items():
            oof[name][b] = fit(fa, t_tr[a], y_tr[a])(fb)
    for name, (a, b) in BLENDS.items():
        oof[name] = 0.5 * (oof[a] + oof[b])
    oof_qini = {name: qini_auc_score(y_tr, s, t_tr) for name, s in oof.items()}
    chosen = max(oof_qini, key=oof_qini.get)
    parts = BLENDS.get(chosen, (chosen,))
    model = np.mean([cands[c](f_tr, t_tr, y_tr)(f_te) for c in parts], axis=0)
    baseline = _logistic(False, 1.0)(f_tr, t_tr, y_tr)(f_te)
    y_te, t_te = y[te], t[te]
    result = {
        "rows": len(df),
        "n_train": len(tr),
        "n_test": len(te),
        "treated_share": float(t.mean()),
        "response_rate": float(y.mean()),
        "test": ate(y_te, t_te),
        "model": {"learner": chosen, **uplift_metrics(y_te, model, t_te)},
        "baseline_t_logistic": uplift_metrics(y_te, baseline, t_te),
        "oof_qini": oof_qini,
        "columns": {"numeric": spec.numeric, "categorical": spec.categorical},
        "seed": seed,
        "test_size": test_size,
    }
    return result


def _sub(fr: Frame, idx: np.ndarray) -> Frame:
    return Frame(fr.X[idx], fr.typed.iloc[idx], fr.numeric, fr.categorical)
