"""Ranking and calibration metrics used by every churn report.

All functions take ``y`` (0/1 labels) and ``p`` (scores) as array-likes and are vectorised.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def top_fraction_lift(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float:
    """Churn rate among the ``fraction`` highest scores divided by the overall churn rate.

    Ties at the cut-off count with their average churn rate (the expected value under random
    tie-breaking), so coarse scores such as the C1-C3 rule are judged fairly.

    >>> top_fraction_lift(np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3]), 0.25)
    4.0
    >>> top_fraction_lift(np.array([1, 0, 0, 0]), np.array([1, 1, 0, 0]), 0.25)
    2.0
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    base = y.mean() if len(y) else 0.0
    if base == 0:
        return float("nan")
    k = max(1, int(np.ceil(len(y) * fraction)))
    cut = np.sort(p)[::-1][k - 1]
    above = p > cut
    tied = p == cut
    churners = y[above].sum() + (k - above.sum()) * y[tied].mean()
    return float(churners / k / base)


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: count-weighted |mean score - churn rate| over equal-width bins.

    >>> round(ece(np.array([0, 1]), np.array([0.0, 1.0])), 3)
    0.0
    """
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    sp = np.bincount(idx, weights=p, minlength=bins)
    sy = np.bincount(idx, weights=y, minlength=bins)
    return float(np.abs(sp - sy).sum() / len(y))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-frequency reliability table: per bin mean predicted vs observed rate and count."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        out.append(
            {
                "predicted": float(p[chunk].mean()),
                "observed": float(y[chunk].mean()),
                "n": len(chunk),
            }
        )
    return out


def gains_table(y: np.ndarray, p: np.ndarray, groups: int = 10) -> list[dict[str, float]]:
    """Gains by decile of score (decile 1 = highest scores): rate, lift, cumulative capture."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    total = y.sum()
    base = y.mean() if len(y) else 0.0
    order = np.argsort(-p, kind="stable")
    rows, cum = [], 0.0
    for i, chunk in enumerate(np.array_split(order, groups), start=1):
        churners = float(y[chunk].sum())
        cum += churners
        rate = churners / len(chunk) if len(chunk) else 0.0
        rows.append(
            {
                "decile": i,
                "n": len(chunk),
                "churners": int(churners),
                "churn_rate": rate,
                "mean_score": float(p[chunk].mean()) if len(chunk) else 0.0,
                "lift": rate / base if base else float("nan"),
                "cum_capture": cum / total if total else float("nan"),
            }
        )
    return rows


def summary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC, top-decile lift and ECE of scores ``p`` for labels ``y``."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "top_decile_lift": top_fraction_lift(y, p, 0.1),
        "ece": ece(y, p),
    }
