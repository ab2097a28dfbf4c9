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


def _pooled(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row order by score, first position of each distinct score, churner flag in that order)."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    return order, starts, y[order].astype(bool)


def _weighted_auc_lift(
    w: np.ndarray, pooled: tuple[np.ndarray, np.ndarray, np.ndarray], fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and top-``fraction`` lift of one score under each row of case weights ``w``.

    ``w`` is (resamples x rows): integer bootstrap counts; ``pooled`` comes from
    :func:`_pooled`. Rows with equal scores are pooled, so ties count half in the AUC and at
    their average churn rate at the lift's cut-off, exactly as ``roc_auc_score`` and
    :func:`top_fraction_lift` do with weights of one.

    The sums are exact integers (32-bit cumulative counts, 64-bit AUC numerator), so the
    figures equal the float computation's; only the score groups holding a churner enter the
    AUC's sum (churners are a few per cent of lines), the cumulative weight is the one pass
    over every group.
    """
    order, starts, ys = pooled
    # np.take along the rows' axis: the same gather as w[:, order], 2.5 times as fast
    ws = np.take(w, order, axis=1).astype(np.int32, copy=False)
    pos_rows = np.flatnonzero(ys)
    if len(starts) < ws.shape[1]:  # pool tied scores (continuous scores rarely tie)
        gw = np.add.reduceat(ws, starts, axis=1)
        gp_all = np.add.reduceat(ws * ys, starts, axis=1)
        groups = np.flatnonzero(np.add.reduceat(ys.astype(np.int64), starts) > 0)
        gp = gp_all[:, groups]
    else:
        gw = ws
        groups = pos_rows
        gp = ws[:, groups]
    cw = np.cumsum(gw, axis=1, dtype=np.int32)
    cp = np.cumsum(gp, axis=1, dtype=np.int64)  # cumulative churner weight at those groups
    total = cw[:, -1].astype(np.int64)
    pos = cp[:, -1] if len(groups) else np.zeros(len(w), dtype=np.int64)
    neg = total - pos
    gn = gw[:, groups] - gp
    below = cw[:, groups] - cp - gn  # stayers' weight strictly below each churner group
    twice = (gp.astype(np.int64) * (2 * below.astype(np.int64) + gn)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (twice / 2.0) / (pos.astype(float) * neg.astype(float))
    # top fraction, from the highest score down: the weight strictly above group g is
    # total - cw[g]; the cut-off group is the first (ascending) one where that is below k
    k = np.maximum(1.0, np.ceil(total * fraction - 1e-9))
    # cumulative weights never fall: the first group above the bound, by binary search
    cut = np.array(
        [
            np.searchsorted(row, bound, side="right")
            for row, bound in zip(cw, total - k, strict=True)
        ],
        dtype=np.intp,
    )
    rows = np.arange(len(w))
    above_w = total - cw[rows, cut]
    # churner weight up to and at the cut-off group, from the churner groups' cumulation
    j = np.searchsorted(groups, cut, side="right") - 1
    cp_cut = np.where(j >= 0, cp[rows, np.maximum(j, 0)], 0) if len(groups) else 0 * cut
    at_cut = (j >= 0) & (groups[np.maximum(j, 0)] == cut) if len(groups) else cut < 0
    gp_cut = np.where(at_cut, gp[rows, np.maximum(j, 0)], 0) if len(groups) else 0 * cut
    above_p = pos - cp_cut
    churners = above_p + (k - above_w) * gp_cut / gw[rows, cut]
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = (churners / k) / (pos / total)
    return auc, lift


def paired_bootstrap(
    y: np.ndarray,
    p_new: np.ndarray,
    p_old: np.ndarray,
    *,
    resamples: int = 300,
    confidence: float = 0.9,
    seed: int = 0,
    fraction: float = 0.1,
) -> dict[str, float]:
    """AUC and top-decile lift of two scores on the same rows, their differences and intervals.

    Each resample draws the rows with replacement once and scores both models on that same
    draw (paired), so the interval of ``new - old`` is much narrower than the two separate
    intervals. Percentile intervals at ``confidence``; a fixed ``seed`` makes them repeatable.

    Returns ``auc_new, auc_old, lift_new, lift_old, d_auc, d_auc_lo, d_auc_hi, d_lift,
    d_lift_lo, d_lift_hi`` (differences are new minus old; point values on all rows).

    >>> y = np.array([0, 0, 1, 0, 1, 0, 0, 1, 0, 0] * 20)
    >>> r = paired_bootstrap(y, y + 0.1 * np.arange(200) % 1, np.arange(200) % 7, resamples=50)
    >>> r["d_auc_lo"] > 0 and r["auc_new"] == 1.0
    True
    """
    y = np.asarray(y, dtype=int)
    p_new = np.asarray(p_new, dtype=float)
    p_old = np.asarray(p_old, dtype=float)
    n = len(y)
    ones = np.ones((1, n), dtype=np.int32)
    new, old = _pooled(y, p_new), _pooled(y, p_old)
    (auc_new,), (lift_new,) = _weighted_auc_lift(ones, new, fraction)
    (auc_old,), (lift_old,) = _weighted_auc_lift(ones, old, fraction)
    rng = np.random.default_rng(seed)
    d_auc, d_lift = np.empty(resamples), np.empty(resamples)
    # bounded memory: a few (chunk x n) float arrays at a time, whatever the month's size
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))
    for lo in range(0, resamples, chunk):
        m = min(chunk, resamples - lo)
        idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        w = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(np.int32)
        a_new, l_new = _weighted_auc_lift(w, new, fraction)
        a_old, l_old = _weighted_auc_lift(w, old, fraction)
        d_auc[lo : lo + m] = a_new - a_old
        d_lift[lo : lo + m] = l_new - l_old
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    auc_lo, auc_hi = np.nanpercentile(d_auc, q)
    lift_lo, lift_hi = np.nanpercentile(d_lift, q)
    return {
        "auc_new": float(auc_new),
        "auc_old": float(auc_old),
        "lift_new": float(lift_new),
        "lift_old": float(lift_old),
        "d_auc": float(auc_new - auc_old),
        "d_auc_lo": float(auc_lo),
        "d_auc_hi": float(auc_hi),
        "d_lift": float(lift_new - lift_old),
        "d_lift_lo": float(lift_lo),
        "d_lift_hi": float(lift_hi),
    }
