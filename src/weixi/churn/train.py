"""Model builders shared by the monthly and the generic-table modes (pure: data in, model out)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from weixi.churn.calibrate import Calibrator
from weixi.churn.params import LightGBMParams, LogisticParams, MonthlyParams
from weixi.errors import ModelError

MISSING = "__missing__"


def fit_lightgbm(
    X: pd.DataFrame,
    y: np.ndarray,
    p: LightGBMParams,
    *,
    seed: int = 0,
    num_threads: int = 2,
    weight: np.ndarray | None = None,
) -> lgb.Booster:
    """Train a binary LightGBM booster; pandas ``category`` columns are used as categorical."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise ModelError(
            "training data has only one class (no churners or no stayers); "
            "use more months or check the churn label"
        )
    ds = lgb.Dataset(X, label=y, weight=weight, free_raw_data=True)
    return lgb.train(p.booster_params(seed=seed, num_threads=num_threads), ds, p.num_boost_round)


def split_numeric(X: pd.DataFrame, numeric: list[str]) -> tuple[list[str], list[str]]:
    """Split numeric columns into (continuous, binary-or-constant) by their distinct values."""
    cont, binary = [], []
    for c in numeric:
        (cont if X[c].nunique(dropna=True) > 2 else binary).append(c)
    return cont, binary


def make_logistic(
    continuous: list[str],
    binary: list[str],
    categorical: list[str],
    p: LogisticParams,
    *,
    seed: int = 0,
) -> Pipeline:
    """Logistic regression: splines on continuous columns, scaled binaries, one-hot categories.

    Missing numbers are imputed by the median (with a missing-indicator column); missing
    categories become their own level. Categories unseen in training are ignored.
    """
    parts = []
    if continuous:
        parts.append(
            (
                "cont",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True),
                    StandardScaler(),
                    SplineTransformer(n_knots=p.spline_knots, degree=3),
                ),
                continuous,
            )
        )
    if binary:
        parts.append(
            (
                "bin",
                make_pipeline(SimpleImputer(strategy="most_frequent"), StandardScaler()),
                binary,
            )
        )
    if categorical:
        parts.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=5),
                ),
                categorical,
            )
        )
    if not parts:
        raise ModelError("no usable feature columns for the logistic regression")
    return make_pipeline(
        ColumnTransformer(parts, remainder="drop"),
        LogisticRegression(C=p.C, max_iter=p.max_iter, random_state=seed),
    )


def as_text_categories(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Copy of ``X`` whose categorical columns are plain object strings (NaN kept) for sklearn."""
    out = X.copy()
    for c in categorical:
        col = out[c].astype(object)
        out[c] = col.where(col.notna(), np.nan).astype(object)
    return out


# ---------------------------------------------------------------- monthly (snapshot) models


class _StreamedDataset(lgb.Dataset):
    """A LightGBM dataset built with every parameter it was given.

    A dataset built from a matrix is binned with the full parameters; one built from a
    sequence only with those ``get_params`` keeps: no ``seed`` (from which LightGBM derives
    the seed of its bin sample), no ``min_data_in_leaf`` (which decides the features it drops
    before training). Keeping them all builds the dataset a matrix of the same rows would give.
    """

    def get_params(self) -> dict:
        return dict(self.params or {})


class EncodedRows(lgb.Sequence):
    """Rows of a feature frame as LightGBM reads them: encoded (:func:`encode`) on demand.

    LightGBM bins a dataset from a sample of rows (asked for one by one) and then takes the
    rows in batches of ``batch_size``. The sampled rows are encoded at once up front, at the
    positions LightGBM's own sampler gives for ``params`` (the booster's: seed, sample size);
    a row asked for outside them is encoded alone, so the result never depends on that guess.
    The dataset is the one a whole float matrix would give (same sample, same bins).
    """

    batch_size = 65_536

    def __init__(
        self,
        df: pd.DataFrame,
        names: list[str],
        levels: dict[str, list[str]],
        rows: np.ndarray,
        *,
        params: dict,
    ) -> None:
        self.df, self.names, self.levels, self.rows = df, names, levels, np.asarray(rows)
        sampler = _StreamedDataset(None, params=params)  # the sample the dataset will draw
        sample = sampler._create_sample_indices(total_nrow=len(rows))
        self._sample = dict(zip(sample.tolist(), self._encode(self.rows[sample]), strict=True))

    def _encode(self, rows: np.ndarray) -> np.ndarray:
        from weixi.churn.predict import encode

        return encode(self.df, self.names, self.levels, rows=rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self._encode(self.rows[idx])
        if isinstance(idx, (int, np.integer)):
            row = self._sample.get(int(idx))
            return row if row is not None else self._encode(self.rows[[idx]])[0]
        return self._encode(self.rows[np.asarray(idx)])


def predict_rows(
    booster: lgb.Booster,
    df: pd.DataFrame,
    names: list[str],
    levels: dict[str, list[str]],
    rows: np.ndarray,
    *,
    num_threads: int = 2,
    batch: int = 262_144,
) -> np.ndarray:
    """``booster``'s raw probabilities for ``rows`` of ``df``, encoded a batch at a time."""
    from weixi.churn.predict import encode

    out = np.empty(len(rows))
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        out[start : start + len(part)] = booster.predict(
            encode(df, names, levels, rows=part), num_threads=num_threads
        )
    return out


@dataclass
class HorizonFit:
    """One horizon's booster with its calibrator and what it was trained on."""

    horizon: int
    booster: lgb.Booster
    calibrator: Calibrator
    fit_months: list[dt.date]
    calib_months: list[dt.date]
    calibration_split: str  # "next-month" (time-honest) or "random-30%" (one labelled month)
    n_train: int
    n_calib: int
    negative_rate: float
    holdout: dict[str, float] = field(default_factory=dict)
    logistic: Pipeline | None = None
    logistic_calibrator: Calibrator | None = None
    holdout_logistic: dict[str, float] = field(default_factory=dict)
    base_rate: float | None = None  # the monthly rate the calibrator was moved to, if given
    curves: dict[str, list[dict]] = field(default_factory=dict)  # see holdout_curves


def _months(df: pd.DataFrame, rows: np.ndarray | None = None) -> list[dt.date]:
    months = df["month"].to_numpy() if rows is None else df["month"].to_numpy()[rows]
    return sorted({pd.Timestamp(m).date() for m in pd.unique(months)})


def _calibration_rows(df: pd.DataFrame, seed: int) -> tuple[np.ndarray, str]:
    """Boolean mask of calibration rows: the latest month, or 30 % of rows if only one month."""
    months = df["month"].to_numpy()
    last = months.max()
    if (months != last).any():
        return months == last, "next-month"
    rng = np.random.default_rng(seed)
    return rng.random(len(df)) < 0.3, "random-30%"


def fit_horizon(
    df: pd.DataFrame,
    label: str,
    names: list[str],
    levels: dict[str, list[str]],
    p: MonthlyParams,
    *,
    horizon: int,
    num_threads: int = 2,
    predict_threads: int | None = None,
    with_logistic: bool = False,
    base_rate: float | None = None,
) -> HorizonFit:
    """Fit one horizon: booster on the older months, calibrator on the latest labelled month.

    ``num_threads`` trains; ``predict_threads`` (default: the same) predicts the calibration
    month.

    ``df`` holds the features of every labelled month and the 0/1 column ``label``.
    ``base_rate`` (monthly churn rate of the population to be scored) moves the calibrated
    probabilities from the calibration month's rate to ``1 - (1 - base_rate) ** horizon``;
    ``holdout`` then also holds ``ece_calibrated`` (before the move) and ``ece_base_rate``
    (after, measured against the calibration month's labels).
    """
    from weixi.churn.calibrate import (
        apply_calibrator,
        fit_calibrator,
        prior_correct,
        shift_calibrator,
    )
    from weixi.churn.metrics import ece, summary

    # rows by position, never copies of the frame: each split is encoded column by column
    cal_mask, split = _calibration_rows(df, p.seed + horizon)
    fit_rows, cal_rows = np.flatnonzero(~cal_mask), np.flatnonzero(cal_mask)
    y_all = df[label].to_numpy(dtype=int)
    y_fit, y_cal = y_all[fit_rows], y_all[cal_rows]
    keep = np.ones(len(fit_rows), dtype=bool)
    if p.negative_rate < 1.0:
        rng = np.random.default_rng(p.seed)
        keep = (y_fit == 1) | (rng.random(len(fit_rows)) < p.negative_rate)
    cat_idx = [j for j, c in enumerate(names) if c in levels]
    if len(np.unique(y_fit[keep])) < 2 or len(np.unique(y_cal)) < 2:
        raise ModelError(
            "horizon {horizon}: need churners and stayers in both the training and the "
            "calibration month; load more months or lower the horizon",
            horizon=horizon,
        )
    booster_params = p.lightgbm.booster_params(seed=p.seed, num_threads=num_threads)
    # the training rows are encoded batch by batch as LightGBM bins them: the float matrix of
    # a province's sample (1-2 GB) never exists whole beside the frame it comes from
    ds = _StreamedDataset(
        EncodedRows(df, names, levels, fit_rows[keep], params=booster_params),
        label=y_fit[keep],
        feature_name=names,
        categorical_feature=cat_idx,
        params=booster_params,
        free_raw_data=True,
    )
    booster = lgb.train(booster_params, ds, p.lightgbm.num_boost_round)
    del ds
    raw_cal = prior_correct(
        predict_rows(
            booster, df, names, levels, cal_rows, num_threads=predict_threads or num_threads
        ),
        p.negative_rate,
    )
    calibrator = fit_calibrator(
        raw_cal, y_cal, p.calibration, min_isotonic_positives=p.min_isotonic_positives
    )
    fit = HorizonFit(
        horizon=horizon,
        booster=booster,
        calibrator=calibrator,
        fit_months=_months(df, fit_rows),
        calib_months=_months(df, cal_rows),
        calibration_split=split,
        n_train=int(keep.sum()),
        n_calib=len(cal_rows),
        negative_rate=p.negative_rate,
        holdout=summary(y_cal, raw_cal),
    )
    fit.holdout["ece_calibrated"] = ece(y_cal, apply_calibrator(calibrator, raw_cal))
    target_rate = None if base_rate is None else 1.0 - (1.0 - base_rate) ** horizon
    if target_rate is not None:
        fit.calibrator = shift_calibrator(calibrator, float(y_cal.mean()), target_rate)
        fit.base_rate = base_rate
        fit.holdout["ece_base_rate"] = ece(y_cal, apply_calibrator(fit.calibrator, raw_cal))
    fit.curves = holdout_curves(y_cal, raw_cal, p, seed=p.seed + horizon, base_rate=target_rate)
    if "ece_cross_fitted" in fit.curves:  # the in-sample ``ece_calibrated`` flatters isotonic
        fit.holdout["ece_cross_fitted"] = fit.curves.pop("ece_cross_fitted")
    if with_logistic:
        cats = [c for c in names if c in levels]
        nums = [c for c in names if c not in levels]
        fit_df, cal_df = df.iloc[fit_rows], df.iloc[cal_rows]
        cont, binary = split_numeric(fit_df, nums)
        lr = make_logistic(cont, binary, cats, p.logistic, seed=p.seed)
        lr.fit(as_text_categories(fit_df[keep][names], cats), y_fit[keep])
        lr_raw = prior_correct(
            lr.predict_proba(as_text_categories(cal_df[names], cats))[:, 1], p.negative_rate
        )
        fit.logistic = lr
        fit.logistic_calibrator = fit_calibrator(
            lr_raw, y_cal, p.calibration, min_isotonic_positives=p.min_isotonic_positives
        )
        fit.holdout_logistic = summary(y_cal, apply_calibrator(fit.logistic_calibrator, lr_raw))
    return fit


def holdout_curves(
    y: np.ndarray,
    raw: np.ndarray,
    p: MonthlyParams,
    *,
    seed: int,
    base_rate: float | None = None,
) -> dict[str, list[dict]]:
    """Gains and calibration points of one horizon on its held-out (calibration) month.

    ``gains``: deciles of the raw score, highest first: the decile's churn rate over the
    month's (``lift``) and the cumulative share of the month's churners caught (``capture``).
    ``calibration``: ten equal-count bins of the calibrated probability, mean predicted vs
    observed churn rate. The calibrator is fitted on that same month, so each half of the
    month is calibrated by a calibrator fitted on the other half (cross-fitted: the points
    are out of sample); with ``base_rate`` the probabilities are moved to it as in scoring.
    ``ece_cross_fitted`` is the calibration error of those probabilities before any move.
    """
    from weixi.churn.calibrate import apply_calibrator, fit_calibrator, shift_calibrator
    from weixi.churn.metrics import ece, gains_table, reliability

    y = np.asarray(y, dtype=int)
    gains = [
        {"decile": g["decile"], "lift": round(g["lift"], 4), "capture": round(g["cum_capture"], 4)}
        for g in gains_table(y, raw)
    ]
    half = np.random.default_rng(seed).random(len(y)) < 0.5
    calibrated, shown = np.empty(len(y)), np.empty(len(y))
    for fit_on in (half, ~half):
        if len(np.unique(y[fit_on])) < 2:  # a half without churners: no honest points
            return {"gains": gains, "calibration": []}
        cal = fit_calibrator(
            raw[fit_on], y[fit_on], p.calibration, min_isotonic_positives=p.min_isotonic_positives
        )
        calibrated[~fit_on] = apply_calibrator(cal, raw[~fit_on])
        if base_rate is not None:
            cal = shift_calibrator(cal, float(y[fit_on].mean()), base_rate)
        shown[~fit_on] = apply_calibrator(cal, raw[~fit_on])
    calibration = [
        {"predicted": round(r["predicted"], 5), "observed": round(r["observed"], 5), "n": r["n"]}
        for r in reliability(y, shown)
    ]
    return {"gains": gains, "calibration": calibration, "ece_cross_fitted": ece(y, calibrated)}
