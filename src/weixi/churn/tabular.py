"""Generic-table mode: try the churn model on any CSV with a churn column.

Column kinds are detected automatically: numbers stored as text (with blanks) become numeric,
other text becomes categorical, near-unique text columns (ids) are dropped, the target accepts
Yes/No, True/False, 1/0, Churn/Stay… The model is a blend of a regularised LightGBM and a
spline logistic regression; the plain logistic regression (one-hot + splines) is the baseline.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1, 2, 3, 4] * 30, "c": list("abab") * 30,
    ...                    "Churn": ["No", "No", "Yes", "No"] * 30})
    >>> spec = detect(df, "Churn")
    >>> spec.numeric, spec.categorical
    (['x'], ['c'])
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from weixi.churn import metrics
from weixi.churn.calibrate import oversampled, shift_prior
from weixi.churn.params import ChurnParams, LightGBMParams, TabularParams, load_params
from weixi.churn.train import (
    as_text_categories,
    fit_lightgbm,
    make_logistic,
    split_numeric,
)
from weixi.errors import ConfigError, IngestError

POSITIVE = {"1", "1.0", "yes", "y", "true", "t", "churn", "churned", "left", "exited"}
NEGATIVE = {"0", "0.0", "no", "n", "false", "f", "stay", "stayed", "retained", "active"}


@dataclass
class TabularSpec:
    """Which columns are used and how (decided by :func:`detect` on the training table)."""

    target: str
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why


def read_csv(path: Path | str) -> pd.DataFrame:
    """Read a CSV as text columns (type detection happens in :func:`detect`)."""
    path = Path(path)
    if not path.exists():
        raise IngestError("CSV file not found: {path}", path=path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
    except Exception as exc:  # pandas raises several parser errors
        raise IngestError("cannot read CSV {path}: {error}", path=path, error=str(exc)) from exc


def _as_number(col: pd.Series) -> pd.Series | None:
    """The column as float when (almost) every non-blank value is a number, else None."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    text = col.astype(str).str.strip()
    blank = text.isin(["", "nan", "NaN", "NA", "N/A", "null", "NULL", "None", "?"]) | col.isna()
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    filled = (~blank).sum()
    if filled == 0:
        return None
    if num.notna().sum() >= 0.99 * filled:
        return num.astype(float)
    return None


def target_vector(col: pd.Series, name: str) -> np.ndarray:
    """Map a churn column (Yes/No, True/False, 1/0, …) to 0/1; raise when it cannot."""
    text = col.astype(str).str.strip().str.lower()
    pos, neg = text.isin(POSITIVE), text.isin(NEGATIVE)
    bad = ~(pos | neg)
    if bad.any():
        examples = sorted(set(col[bad].astype(str)))[:5]
        raise ConfigError(
            "target column {name!r} must hold yes/no, true/false or 1/0 values; found {examples}",
            name=name,
            examples=examples,
        )
    y = pos.to_numpy().astype(int)
    if y.min() == y.max():
        raise ConfigError("target column {name!r} has a single class; nothing to learn", name=name)
    return y


def detect(
    df: pd.DataFrame, target: str, id_col: str | None = None, drop: list[str] | None = None
) -> TabularSpec:
    """Decide the kind of every column of ``df`` (see module docstring)."""
    missing = [c for c in [target, id_col, *(drop or [])] if c and c not in df.columns]
    if missing:
        raise ConfigError(
            "column(s) {missing} not in the table; columns are: {columns}",
            missing=missing,
            columns=list(df.columns),
        )
    spec = TabularSpec(target=target)
    skip = {target, *(drop or [])}
    if id_col:
        skip.add(id_col)
        spec.dropped[id_col] = "id"
    for c in drop or []:
        spec.dropped[c] = "--drop"
    n = len(df)
    for c in df.columns:
        if c in skip:
            continue
        num = _as_number(df[c])
        if num is not None:
            if num.nunique(dropna=True) <= 1:
                spec.dropped[c] = "constant"
            else:
                spec.numeric.append(c)
            continue
        distinct = df[c].nunique(dropna=True)
        if distinct <= 1:
            spec.dropped[c] = "constant"
        elif n >= 50 and distinct > 0.5 * n:
            spec.dropped[c] = "looks like an id (nearly unique text)"
        else:
            spec.categorical.append(c)
    if not spec.numeric and not spec.categorical:
        raise ConfigError("no feature columns left after dropping id, target and --drop columns")
    return spec


def _name_unit(col: str) -> str:
    """Last word of a column name ('Total day minutes' -> 'minutes', 'TotalCharges' -> 'charges')."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", col)
    return words[-1].lower() if words else col.lower()


@dataclass
class Featurizer:
    """Typed frame + engineered columns, fitted on the training table only."""

    spec: TabularSpec
    params: TabularParams
    categories: dict[str, list[str]] = field(default_factory=dict)
    sums: dict[str, list[str]] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def fit(self, df: pd.DataFrame) -> Featurizer:
        """Learn category levels and which engineered columns to add."""
        base = self._typed(df, fit=True)
        cont, _ = split_numeric(base, self.spec.numeric)
        cont = [c for c in cont if base[c].nunique() > 10]
        groups: dict[str, list[str]] = {}
        for c in cont:
            groups.setdefault(_name_unit(c), []).append(c)
        self.sums = {f"sum_{u}": cs for u, cs in groups.items() if len(cs) >= 2}
        if 2 <= len(cont) <= self.params.max_pairwise_columns:
            self.pairs = list(itertools.combinations(cont, 2))
        return self

    def _typed(self, df: pd.DataFrame, *, fit: bool) -> pd.DataFrame:
        out = pd.DataFrame(index=df.index)
        for c in self.spec.numeric:
            num = _as_number(df[c])
            if num is None:  # a test file may hold text where training had numbers
                num = pd.to_numeric(df[c].astype(str).str.strip(), errors="coerce")
            out[c] = num.astype(float)
        for c in self.spec.categorical:
            text = df[c].astype(str).str.strip()
            text = text.where(~text.isin(["", "nan", "NaN", "None"]) & df[c].notna())
            if fit:
                self.categories[c] = sorted(text.dropna().unique().tolist())
            out[c] = pd.Categorical(text, categories=self.categories[c])
        return out

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Typed columns plus group sums and pairwise ratio/product columns."""
        out = self._typed(df, fit=False)
        extra = {}
        for name, cs in self.sums.items():
            extra[name] = out[cs].sum(axis=1, min_count=1)
        for a, b in self.pairs:
            extra[f"{a}/{b}"] = out[a] / (out[b].abs() + 1.0)
            extra[f"{a}*{b}"] = out[a] * out[b]
        if extra:
            out = pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)
        return out

    @property
    def engineered(self) -> list[str]:
        """Names of the engineered numeric columns."""
        return list(self.sums) + [n for a, b in self.pairs for n in (f"{a}/{b}", f"{a}*{b}")]


def fit_predict(
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    spec: TabularSpec,
    params: ChurnParams,
) -> dict[str, np.ndarray]:
    """Fit on ``train`` and return test scores of ``model``, ``lightgbm`` and ``logistic`` (baseline).

    ``lightgbm_default`` is an untuned ``LGBMClassifier`` (the yardstick the model must not
    fall below). Scores are probabilities at the training table's churn share.
    """
    tp = params.tabular
    fz = Featurizer(spec, tp).fit(train)
    xa, xb = fz.transform(train), fz.transform(test)
    numeric = spec.numeric + fz.engineered
    cont, binary = split_numeric(xa, numeric)
    lgb_params, w = tp.lightgbm, tp.blend_weight
    if len(train) >= tp.adaptive_min_rows:
        lgb_params, w = adapt(xa, y_train, cont, binary, spec.categorical, params)
    booster = fit_lightgbm(xa, y_train, lgb_params, seed=tp.seed, num_threads=params.num_threads)
    p_gbm = booster.predict(xb)
    spline_lr = make_logistic(cont, binary, spec.categorical, tp.logistic, seed=tp.seed)
    spline_lr.fit(as_text_categories(xa, spec.categorical), y_train)
    p_slr = spline_lr.predict_proba(as_text_categories(xb, spec.categorical))[:, 1]
    # Baseline: the same logistic regression on the raw columns only (no engineered features).
    cont0, bin0 = split_numeric(xa, spec.numeric)
    base_lr = make_logistic(cont0, bin0, spec.categorical, tp.logistic, seed=tp.seed)
    base_lr.fit(as_text_categories(xa, spec.categorical), y_train)
    p_lr = base_lr.predict_proba(as_text_categories(xb, spec.categorical))[:, 1]
    default = lgb.LGBMClassifier(random_state=tp.seed, n_jobs=params.num_threads, verbose=-1)
    default.fit(fz._typed(train, fit=False), y_train)
    p_def = default.predict_proba(fz._typed(test, fit=False))[:, 1]
    return {
        "model": w * p_gbm + (1 - w) * p_slr,
        "lightgbm": p_gbm,
        "logistic": p_lr,
        "lightgbm_default": p_def,
    }


def adapt(
    x: pd.DataFrame,
    y: np.ndarray,
    cont: list[str],
    binary: list[str],
    categorical: list[str],
    params: ChurnParams,
) -> tuple[LightGBMParams, float]:
    """Booster settings and blend weight for a large table, chosen on an inner validation split.

    Three boosters compete on the validation AUC: the small-table settings, bigger trees
    (15 leaves from 10k rows, 31 from 50k; a leaf holds at least 0.1 % of the rows; learning
    rate 0.05) and LightGBM's own defaults (31 leaves, learning rate 0.1, every feature, no
    regularisation: the untuned yardstick), each with its number of trees from early stopping
    on AUC. The blend weight
    (share of the booster, 0.25 … 1) is then the one with the best validation AUC. The test
    table is never seen.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    tp = params.tabular
    n = len(y)
    a, b = train_test_split(np.arange(n), test_size=0.2, random_state=tp.seed, stratify=y)
    small = tp.lightgbm.model_copy(update={"num_boost_round": 4000})
    big = tp.lightgbm.model_copy(
        update={
            "learning_rate": 0.05,
            "num_leaves": 31 if n >= 50_000 else 15,
            "min_data_in_leaf": max(20, n // 1000),
            "lambda_l2": 1.0,
            "feature_fraction": 0.8,
            "num_boost_round": 3000,
        }
    )
    # LightGBM's own defaults (what an untuned LGBMClassifier fits), with early stopping: every
    # feature in every tree and no shrinkage of the leaves, which the tuned settings give up —
    # on a table whose churn sits in a 3-way interaction they fell 1.8 AUC points below it
    defaults = LightGBMParams(learning_rate=0.1, num_boost_round=2000)
    best: tuple[float, LightGBMParams, np.ndarray] | None = None
    for p in (small, big, defaults):
        booster = lgb.train(
            {**p.booster_params(seed=tp.seed, num_threads=params.num_threads), "metric": "auc"},
            lgb.Dataset(x.iloc[a], label=y[a]),
            p.num_boost_round,
            valid_sets=[lgb.Dataset(x.iloc[b], label=y[b])],
            callbacks=[lgb.early_stopping(100, verbose=False)],
        )
        pred = booster.predict(x.iloc[b], num_iteration=booster.best_iteration)
        auc = float(roc_auc_score(y[b], pred))
        trees = max(50, int(booster.best_iteration * 1.1))  # a little more data in the refit
        if best is None or auc > best[0]:
            best = (auc, p.model_copy(update={"num_boost_round": trees}), pred)
    assert best is not None
    _, p, p_gbm = best
    lr = make_logistic(cont, binary, categorical, tp.logistic, seed=tp.seed)
    lr.fit(as_text_categories(x.iloc[a], categorical), y[a])
    p_lr = lr.predict_proba(as_text_categories(x.iloc[b], categorical))[:, 1]
    weights = (0.25, 0.5, 0.75, 1.0)
    aucs = [roc_auc_score(y[b], wt * p_gbm + (1 - wt) * p_lr) for wt in weights]
    return p, weights[int(np.argmax(aucs))]


ROWS = ("model", "lightgbm", "lightgbm_default", "baseline_lr")
_KEYS = {
    "model": "model",
    "lightgbm": "lightgbm",
    "lightgbm_default": "lightgbm_default",
    "baseline_lr": "logistic",
}


def _report(
    scores: dict[str, np.ndarray],
    y: np.ndarray,
    n_train: int,
    *,
    train_rate: float,
    base_rate: float | None = None,
) -> dict[str, dict]:
    """Metrics per model; with ``base_rate`` the scores are first moved from the training share
    to that rate (prior correction) and ``ece_raw`` keeps the calibration error before."""
    out = {}
    for name, key in _KEYS.items():
        raw = scores[key]
        p = raw if base_rate is None else shift_prior(raw, train_rate, base_rate)
        m = metrics.summary(y, p)
        m.update(ece_raw=metrics.ece(y, raw), n_train=int(n_train), n_test=len(y))
        out[name] = m
    return out


def base_rate_warning(train_rate: float, reference_rate: float | None) -> str | None:
    """A warning when the training share looks oversampled and no ``--base-rate`` is given.

    ``reference_rate`` is the churn rate the scores will meet (e.g. the test table's); without
    it, a training share of 35 % or more is taken as oversampled (no operator loses a third of
    its customers in one period).
    """
    if reference_rate is not None and oversampled(train_rate, reference_rate):
        return (
            f"the training churn share ({train_rate:.1%}) is far from the rate of the scored "
            f"data ({reference_rate:.1%}): pass --base-rate with the real churn rate "
            "so that the probabilities are calibrated to it"
        )
    if train_rate >= 0.35:
        return (
            f"the training churn share ({train_rate:.1%}) looks oversampled: pass --base-rate "
            "with the real churn rate so that the probabilities are calibrated to it"
        )
    return None


def crossval(
    df: pd.DataFrame,
    target: str,
    *,
    id_col: str | None = None,
    drop: list[str] | None = None,
    folds: int | None = None,
    params: ChurnParams | None = None,
    base_rate: float | None = None,
) -> dict:
    """Stratified k-fold cross-validation (fixed seed) of the model and the LR baseline.

    ``base_rate``: the population's churn rate when the table is oversampled (see
    :func:`_report`); ``ece`` is then measured against the folds' own labels after the
    shift, so it is only meaningful when the folds are at that rate.

    Returns ``{"model": {...}, "lightgbm": {...}, "baseline_lr": {...}, "folds": k, ...}``
    where each metric block holds the mean over folds of auc, pr_auc, top_decile_lift and ece,
    ``n_train``/``n_test`` of one fold (rounded mean), and ``per_fold`` details.
    """
    params = params or load_params()
    k = folds or params.tabular.folds
    spec = detect(df, target, id_col, drop)
    y = target_vector(df[target], target)
    if np.bincount(y).min() < k:
        raise ConfigError("too few churners or stayers for {k}-fold cross-validation", k=k)
    skf = StratifiedKFold(k, shuffle=True, random_state=params.tabular.seed)
    per_fold: dict[str, list[dict]] = {name: [] for name in ROWS}
    for tr, te in skf.split(np.zeros(len(y)), y):
        scores = fit_predict(df.iloc[tr], y[tr], df.iloc[te], spec, params)
        rep = _report(scores, y[te], len(tr), train_rate=float(y[tr].mean()), base_rate=base_rate)
        for name, m in rep.items():
            per_fold[name].append(m)
    result: dict = {}
    for name, rows in per_fold.items():
        agg = {
            key: float(np.mean([r[key] for r in rows]))
            for key in ("auc", "pr_auc", "top_decile_lift", "ece", "ece_raw")
        }
        agg["n_train"] = round(float(np.mean([r["n_train"] for r in rows])))
        agg["n_test"] = round(float(np.mean([r["n_test"] for r in rows])))
        agg["auc_per_fold"] = [r["auc"] for r in rows]
        result[name] = agg
    result.update(folds=k, seed=params.tabular.seed, rows=len(y), churn_rate=float(y.mean()))
    result["base_rate"] = base_rate
    warning = None if base_rate is not None else base_rate_warning(float(y.mean()), None)
    result["warnings"] = [warning] if warning else []
    result["columns"] = _columns(spec)
    return result


def fit_eval(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    *,
    id_col: str | None = None,
    drop: list[str] | None = None,
    params: ChurnParams | None = None,
    base_rate: float | None = None,
) -> dict:
    """Fit on ``train``, evaluate on ``test``: metrics of the model and of the LR baseline.

    ``base_rate``: the churn rate of the population the model will score (e.g. the last
    months' rate) when the training table is oversampled; the probabilities are moved to it
    and ``ece`` / ``ece_raw`` give the calibration error after / before. The test labels are
    never used to fit anything.
    """
    params = params or load_params()
    spec = detect(train, target, id_col, drop)
    if target not in test.columns:
        raise ConfigError("target column {target!r} is not in the test table", target=target)
    y_train = target_vector(train[target], target)
    y_test = target_vector(test[target], target)
    scores = fit_predict(train, y_train, test, spec, params)
    train_rate = float(y_train.mean())
    result = _report(scores, y_test, len(y_train), train_rate=train_rate, base_rate=base_rate)
    result["columns"] = _columns(spec)
    result.update(train_rate=train_rate, test_rate=float(y_test.mean()), base_rate=base_rate)
    warning = None if base_rate is not None else base_rate_warning(train_rate, float(y_test.mean()))
    result["warnings"] = [warning] if warning else []
    return result


def _columns(spec: TabularSpec) -> dict:
    return {
        "numeric": spec.numeric,
        "categorical": spec.categorical,
        "dropped": spec.dropped,
    }
