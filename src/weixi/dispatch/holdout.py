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
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from weixi.strategy.schemas import sql_literal

_SCALE = float(2**52)


def uniform_sql(column: str, salt: str) -> str:
    """SQL (DuckDB) for the uniform draw of ``column`` under ``salt`` (md5, first 52 bits)."""
    return (
        f"(('0x' || substr(md5(CAST({column} AS VARCHAR) || ':' || {sql_literal(salt)}), 1, 13))"
        f"::BIGINT / {_SCALE!r})"
    )


def uniform(subscriber_ids: Iterable[str], salt: str) -> np.ndarray:
    """Python reference of :func:`uniform_sql` (identical values), for tests and small lists."""
    out = [
        int(hashlib.md5(f"{s}:{salt}".encode()).hexdigest()[:13], 16) / _SCALE
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
