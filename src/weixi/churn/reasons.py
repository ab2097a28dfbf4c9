"""Per-customer churn reasons: the top positive SHAP contributions, in business language.

``top_reasons`` turns LightGBM's ``pred_contrib`` matrix into a long table (vectorised);
the service aggregates it into the JSON list stored in ``churn_scores.reasons``;
:func:`describe` renders one reason in English or Chinese.

Example:
    >>> describe({"code": "months_to_contract_end", "value": 2, "contribution": 0.8}, "en")
    'contract ends in 2 months'
    >>> describe({"code": "months_to_contract_end", "value": 2, "contribution": 0.8}, "zh-CN")
    '合约2个月后到期'
    >>> describe({"code": "data_mb_chg3", "value": -0.45, "contribution": 0.3}, "en")
    'data use fell 45 % vs the 3-month average'
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from weixi.churn.features import BY_NAME, USAGE
from weixi.i18n import normalize_locale, t

STATUS = {
    "active": "in service",
    "suspended": "suspended",
    "arrears_stopped": "stopped for arrears",
    "cancelling": "being cancelled",
}
_CHANGE = {
    "chg1": ("{what} fell {pct} % vs last month", "{what} rose {pct} % vs last month"),
    "chg3": (
        "{what} fell {pct} % vs the 3-month average",
        "{what} rose {pct} % vs the 3-month average",
    ),
    "chg6": (
        "{what} fell {pct} % vs the 6-month average",
        "{what} rose {pct} % vs the 6-month average",
    ),
    "trend3": ("{what} has been falling for 3 months", "{what} has been rising for 3 months"),
}
_USAGE_NAMES = {
    "arpu": "ARPU",
    "voice_minutes": "call minutes",
    "data_mb": "data use",
    "bb_online_hours": "broadband online time",
}


def top_reasons(
    contrib: np.ndarray,
    X: np.ndarray,
    names: list[str],
    levels: dict[str, list[str]],
    k: int = 3,
) -> pa.Table:
    """Long table (row, rank, code, value_num, value_text, contribution) of the top-k reasons.

    Only features that push the churn probability up (contribution > 0) are reasons.
    """
    n, f = X.shape
    c = contrib[:, :f]
    k = min(k, f)
    idx = np.argsort(-c, axis=1, kind="stable")[:, :k]
    val = np.take_along_axis(c, idx, axis=1)
    rows = np.repeat(np.arange(n), k)
    rank = np.tile(np.arange(1, k + 1), n)
    feat = idx.ravel()
    contribution = val.ravel()
    raw = X[rows, feat]
    text = np.full(len(feat), None, dtype=object)
    value_num = raw.astype(float).copy()
    for j, name in enumerate(names):
        if name in levels:
            m = feat == j
            if m.any():
                lv = np.asarray([*levels[name], None], dtype=object)
                codes = np.where(np.isnan(raw[m]), len(levels[name]), raw[m]).astype(int)
                text[m] = lv[codes]
                value_num[m] = np.nan
    keep = contribution > 0
    return pa.table(
        {
            "row": pa.array(rows[keep], pa.int64()),
            "rank": pa.array(rank[keep], pa.int32()),
            "code": pa.array(np.asarray(names, dtype=object)[feat[keep]], pa.string()),
            "value_num": pa.array(value_num[keep], pa.float64(), from_pandas=True),
            "value_text": pa.array(text[keep], pa.string()),
            "contribution": pa.array(np.round(contribution[keep], 4), pa.float64()),
        }
    )


def _num(v: object) -> float | None:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def describe(reason: dict, locale: str | None = "en") -> str:
    """One reason ``{"code", "value", "contribution"}`` as a short sentence in ``locale``."""
    loc = normalize_locale(locale)
    code = str(reason.get("code", ""))
    value = reason.get("value")
    x = _num(value)
    base, _, suffix = code.rpartition("_")
    if base in USAGE and suffix in _CHANGE and x is not None:
        what = t(_USAGE_NAMES[base], loc)
        if suffix == "trend3":
            return t(_CHANGE[suffix][0 if x < 0 else 1], loc, what=what)
        return t(_CHANGE[suffix][0 if x < 0 else 1], loc, what=what, pct=round(abs(x) * 100))
    if code == "months_to_contract_end" and x is not None:
        n = round(x)
        if n == 1:
            return t("contract ends next month", loc)
        if n > 0:
            return t("contract ends in {n} months", loc, n=n)
        if n == 0:
            return t("contract ends this month", loc)
        return t("contract ended {n} months ago", loc, n=-n)
    if code == "contract_type" and value == "none":
        return t("no contract (unbound)", loc)
    if code == "status" and value in STATUS:
        return t("line status: {status}", loc, status=t(STATUS[str(value)], loc))
    counts = {
        "complaints": "{n} complaint(s) this month",
        "complaints_3m": "{n} complaint(s) in the last 3 months",
        "competitor_contacts": "called competitors {n} time(s) this month",
        "competitor_contacts_3m": "called competitors {n} time(s) in the last 3 months",
        "zero_call_days": "{n} day(s) without a call this month",
        "months_suspended_6m": "suspended in {n} of the last 6 months",
        "handset_age_months": "handset is {n} months old",
    }
    if code in counts and x is not None:
        return t(counts[code], loc, n=round(x))
    if code == "tenure_months" and x is not None:
        msg = "only {n} months on the network" if x < 24 else "{n} months on the network"
        return t(msg, loc, n=round(x))
    flags = {
        "dual_competitor": ("also uses a competitor's line", "no competitor line"),
        "is_converged": ("converged package", "no converged package"),
        "payment_corporate": ("corporate payment", "pays personally (not corporate)"),
        "in_group": ("member of an enterprise group", "not in an enterprise group"),
        "snapshot_midhigh": ("on the mid/high-end list", "not on the mid/high-end list"),
        "has_iptv": ("has ITV", "no ITV"),
        "has_mobile_line": ("has a mobile line with us", "no mobile line with us"),
    }
    if code in flags and x is not None:
        return t(flags[code][0 if x >= 0.5 else 1], loc)
    if code == "arpu_to_fee" and x is not None:
        return t("ARPU is {r} × the package fee", loc, r=f"{x:.1f}")
    if code == "satisfaction_score" and x is not None:
        return t("satisfaction score {v}", loc, v=round(x))
    feat = BY_NAME.get(code)
    label = (feat.zh if loc == "zh-CN" else feat.en) if feat else code
    shown = f"{x:g}" if x is not None else (value if value is not None else "—")
    sep = "：" if loc == "zh-CN" else ": "
    return f"{label}{sep}{shown}"
