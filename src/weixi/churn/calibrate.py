"""Probability calibration (isotonic or Platt) and the prior correction for down-sampling.

A calibrator is a small typed object saved in the model's metadata, so scoring needs no pickle.

Example:
    >>> import numpy as np
    >>> cal = fit_calibrator(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]), "isotonic")
    >>> apply_calibrator(cal, np.array([0.15, 0.85])).tolist()
    [0.0, 1.0]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_EPS = 1e-6


class Calibrator(BaseModel):
    """Maps raw model probabilities to calibrated ones."""

    method: Literal["isotonic", "platt", "none"]
    n_positive: int = 0
    x: list[float] = []  # isotonic thresholds (raw probability)
    y: list[float] = []  # isotonic values (calibrated probability)
    a: float = 1.0  # Platt: p = sigmoid(a * logit(raw) + b)
    b: float = 0.0


def prior_correct(p: np.ndarray, negative_rate: float) -> np.ndarray:
    """Undo the shift from keeping only ``negative_rate`` of the negatives when training.

    odds_true = odds_trained * negative_rate.

    >>> round(float(prior_correct(np.array([0.5]), 0.1)[0]), 4)
    0.0909
    """
    p = np.asarray(p, dtype=float)
    if negative_rate >= 1.0:
        return p
    return p * negative_rate / (p * negative_rate + (1.0 - p))


def shift_prior(p: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    """Move probabilities learnt at churn share ``from_rate`` to a population at ``to_rate``.

    Bayes' rule with a changed prior: the odds are scaled by
    ``(to / (1 - to)) / (from / (1 - from))``; the ranking is unchanged.

    >>> round(float(shift_prior(np.array([0.5]), 0.5, 0.02)[0]), 4)
    0.02
    """
    p = np.asarray(p, dtype=float)
    if not (0.0 < from_rate < 1.0 and 0.0 < to_rate < 1.0):
        raise ValueError("churn rates must be strictly between 0 and 1")
    r = (to_rate / (1.0 - to_rate)) / (from_rate / (1.0 - from_rate))
    return p * r / (p * r + (1.0 - p))


def oversampled(train_rate: float, reference_rate: float, *, factor: float = 2.0) -> bool:
    """True when a training churn share is ``factor`` times (in odds) off a reference rate.

    >>> oversampled(0.5, 0.02), oversampled(0.03, 0.02)
    (True, False)
    """
    if not (0.0 < train_rate < 1.0 and 0.0 < reference_rate < 1.0):
        return False
    ratio = (train_rate / (1 - train_rate)) / (reference_rate / (1 - reference_rate))
    return ratio > factor or ratio < 1.0 / factor


def shift_calibrator(cal: Calibrator, from_rate: float, to_rate: float) -> Calibrator:
    """The calibrator followed by :func:`shift_prior` (scoring code needs no change).

    >>> c = shift_calibrator(Calibrator(method="none"), 0.5, 0.1)
    >>> round(float(apply_calibrator(c, np.array([0.5]))[0]), 4)
    0.1
    """
    shift = float(np.log((to_rate / (1 - to_rate)) / (from_rate / (1 - from_rate))))
    if cal.method == "isotonic":
        y = shift_prior(np.clip(np.asarray(cal.y), 0.0, 1.0), from_rate, to_rate)
        return cal.model_copy(update={"y": [float(v) for v in y]})
    if cal.method == "platt":
        return cal.model_copy(update={"b": cal.b + shift})
    return Calibrator(method="platt", n_positive=cal.n_positive, a=1.0, b=shift)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def fit_calibrator(
    raw: np.ndarray, y: np.ndarray, method: str, *, min_isotonic_positives: int = 0
) -> Calibrator:
    """Fit a calibrator on held-out raw probabilities ``raw`` and outcomes ``y``.

    With fewer than ``min_isotonic_positives`` churners, isotonic falls back to Platt
    (isotonic steps on a handful of churners give probabilities of exactly 0 or 1).
    """
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=float)
    if method == "isotonic" and y.sum() < min_isotonic_positives:
        method = "platt"
    if method == "none":
        return Calibrator(method="none")
    if method == "platt":
        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(_logit(raw).reshape(-1, 1), y)
        return Calibrator(method="platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(raw, y)
    return Calibrator(
        method="isotonic",
        x=[float(v) for v in iso.X_thresholds_],
        y=[float(v) for v in iso.y_thresholds_],
    )


def apply_calibrator(cal: Calibrator, raw: np.ndarray) -> np.ndarray:
    """Calibrated probabilities for raw probabilities ``raw`` (vectorised)."""
    raw = np.asarray(raw, dtype=float)
    if cal.method == "none":
        return raw
    if cal.method == "platt":
        return 1.0 / (1.0 + np.exp(-(cal.a * _logit(raw) + cal.b)))
    return np.interp(raw, np.asarray(cal.x), np.asarray(cal.y))
