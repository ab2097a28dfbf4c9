"""Persistent randomized holdouts: deterministic hash(subscriber_id, salt) → uniform [0, 1).

A subscriber is in a control group when its uniform is below the share. The draw depends only
on the subscriber id and the salt, so the same customer stays in (or out of) control month after
month, whatever happens to the rest of the base, until the planner re-salts. Strata (priority
group × branch) are balanced because every subscriber's draw is independent of its stratum:
:func:`balance_report` checks each stratum's realized share (chi-square) and covariate balance
(standardized mean differences). We chose this stable Bernoulli scheme over exact per-stratum
quotas, because exact quotas re-rank a stratum whenever its membership changes and would move
customers in and out of control between months.

Two independent draws are used: the global long-term holdout (``Holdout.salt``) and each
campaign's control (``CampaignSpec.control_salt``).

Example:
    >>> u = uniform(["s1", "s2"], "salt")
    >>> bool(((u >= 0) & (u < 1)).all()), float(round(u[0], 6)) == float(round(uniform(["s1"], "salt")[0], 6))
    (True, True)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from weixi.store.sqlrun import UNIFORM_SCALE, uniform_sql


def uniform(subscriber_ids: Iterable[str], salt: str) -> np.ndarray:
    """Python reference of :func:`uniform_sql` (identical values), for tests and small lists."""
    out = [
        int(hashlib.md5(f"{s}:{salt}".encode()).hexdigest()[:13], 16) / UNIFORM_SCALE
        for s in subscriber_ids
    ]
    return np.asarray(out, dtype=float)


def in_control_sql(column: str, salt: str, share: float) -> str:
    """SQL boolean: the subscriber falls in the control group of ``share`` under ``salt``."""
    return f"({uniform_sql(column, salt)} < {float(share)!r})"


def _smd(treated: pd.Series, control: pd.Series) -> float:
    t, c = treated.astype(float), control.astype(float)
    pooled = np.sqrt((t.var(ddof=1) + c.var(ddof=1)) / 2.0)
    if not np.isfinite(pooled) or pooled == 0:
        return 0.0
    return float(abs(t.mean() - c.mean()) / pooled)


def balance_report(
    frame: pd.DataFrame,
    *,
    control_col: str,
    strata: Sequence[str],
    covariates: Sequence[str],
    share: float,
    min_stratum: int = 200,
) -> pd.DataFrame:
    """Per stratum: size, control share, chi-square p-value of the share, SMD per covariate.

    Strata with fewer than ``min_stratum`` subscribers are pooled into one ``(small)`` row, where
    balance statistics are too noisy to judge alone.
    """
    from scipy import stats

    rows = []
    key = frame[strata[0]].astype(str)
    for col in strata[1:]:
        key = key + "|" + frame[col].astype(str)
    keyed = frame.assign(_stratum=key)
    sizes = keyed["_stratum"].value_counts()
    small = set(sizes[sizes < min_stratum].index)
    keyed.loc[keyed["_stratum"].isin(small), "_stratum"] = "(small)"
    for name, g in keyed.groupby("_stratum", sort=True):
        n = len(g)
        k = int(g[control_col].sum())
        expected = np.array([share * n, (1 - share) * n])
        observed = np.array([k, n - k])
        p = float(stats.chisquare(observed, expected).pvalue) if n and 0 < share < 1 else 1.0
        row = {"stratum": name, "n": n, "control": k, "share": k / n if n else 0.0, "p_share": p}
        ctl, trt = g[g[control_col]], g[~g[control_col]]
        for cov in covariates:
            row[f"smd_{cov}"] = _smd(trt[cov], ctl[cov]) if len(ctl) > 1 and len(trt) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Power:
    """How precisely a plan's control measures its retention lift, and the share it needs."""

    share: float  # control share the plan used
    treated: int
    control: int
    churn_rate: float  # expected churn rate of the planned customers
    half_width: float  # CI half-width on the retention lift at ``share``
    target: float  # the half-width asked for
    required_share: float | None  # smallest share reaching ``target`` (None: not reachable)
    recommended_share: float  # required share rounded up to the step, within the bounds
    control_at_recommended: int
    value_held_back: float  # expected value of the control at the recommended share (yuan)
    capacity_bound: bool  # the list is cut by capacity/budget (treated count fixed)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def lift_half_width(n_treated: float, n_control: float, p: float, level: float = 0.95) -> float:
    """Normal-approximation half-width of the retention-lift interval (two arms, rate ``p``).

    Example:
        >>> round(lift_half_width(9000, 1000, 0.05), 4)
        0.0142
    """
    from scipy.stats import norm

    if n_treated <= 0 or n_control <= 0:
        return math.inf
    z = float(norm.ppf(0.5 + level / 2))
    return z * math.sqrt(p * (1 - p) * (1 / n_treated + 1 / n_control))


def size_control(
    *,
    treated: int,
    control: int,
    share: float,
    churn_rate: float,
    value_per_customer: float,
    capacity_bound: bool,
    half_width: float = 0.005,
    level: float = 0.95,
    min_share: float = 0.02,
    max_share: float = 0.10,
    step: float = 0.005,
) -> Power:
    """The smallest control share that measures the lift to ``half_width``, and its price.

    When a limit cuts the list (``capacity_bound``) the treated count is fixed by capacity and
    the control adds to it: ``h² = z²·p(1−p) / (C·s)``, so ``s = z²·p(1−p) / (C·h²)``.
    Otherwise the planned population ``N`` is fixed and split: ``s(1−s) = z²·p(1−p) / (N·h²)``.
    The value held back is the control's size times the mean expected value per treated
    customer (what treating them instead would be expected to bring).

    Example:
        >>> pw = size_control(treated=90_000, control=10_000, share=0.1, churn_rate=0.05,
        ...                   value_per_customer=20.0, capacity_bound=False)
        >>> round(pw.required_share, 4), pw.recommended_share, round(pw.half_width, 4)
        (0.0793, 0.08, 0.0045)
    """
    from scipy.stats import norm

    p = min(max(churn_rate, 1e-6), 1 - 1e-6)
    z = float(norm.ppf(0.5 + level / 2))
    k = z * z * p * (1 - p) / (half_width * half_width)
    required: float | None
    if capacity_bound:
        required = k / treated if treated > 0 else None
    else:
        n = treated + control
        q = k / n if n > 0 else math.inf
        required = (1 - math.sqrt(1 - 4 * q)) / 2 if q <= 0.25 else None
    if required is not None and required >= 1:
        required = None
    raw = max_share if required is None else required
    rec = min(max(math.ceil(raw / step - 1e-9) * step, min_share), max_share)
    n_ctl = treated * rec / (1 - rec) if capacity_bound else (treated + control) * rec
    return Power(
        share=share,
        treated=int(treated),
        control=int(control),
        churn_rate=float(churn_rate),
        half_width=lift_half_width(treated, control, p, level),
        target=half_width,
        required_share=None if required is None else float(required),
        recommended_share=round(rec, 6),
        control_at_recommended=round(n_ctl),
        value_held_back=round(float(n_ctl * value_per_customer), 2),
        capacity_bound=capacity_bound,
    )
