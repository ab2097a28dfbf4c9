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
