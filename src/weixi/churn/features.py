"""Churn features from the monthly snapshot history, computed in DuckDB SQL (window functions).

Every feature is described in :data:`FEATURES` (English and Chinese meaning); ``docs/churn.md``
lists the same table. Changes compare the month with earlier months of the same subscriber
using RANGE windows on the month date, so a missing month never shifts a lag.

Example:
    >>> "arpu_chg3" in feature_names()
    True
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from weixi.store.months import add_months

USAGE = {
    "arpu": ("ARPU", "ARPU"),
    "voice_minutes": ("call minutes", "通话分钟数"),
    "data_mb": ("data use", "流量"),
    "bb_online_hours": ("broadband online time", "宽带上网时长"),
}


@dataclass(frozen=True)
class Feature:
    """One model input: name, kind (num | cat) and its meaning in English and Chinese."""

    name: str
    kind: str
    en: str
    zh: str


def _usage_features() -> list[Feature]:
    out = []
    for col, (en, zh) in USAGE.items():
        out += [
            Feature(col, "num", f"{en} this month", f"本月{zh}"),
            Feature(
                f"{col}_avg3", "num", f"{en}, average of the 3 previous months", f"前3个月{zh}均值"
            ),
            Feature(
                f"{col}_chg1", "num", f"{en} change vs last month (ratio - 1)", f"{zh}环比变化率"
            ),
            Feature(
                f"{col}_chg3",
                "num",
                f"{en} change vs the 3-month average",
                f"{zh}较前3月均值变化率",
            ),
            Feature(
                f"{col}_chg6",
                "num",
                f"{en} change vs the 6-month average",
                f"{zh}较前6月均值变化率",
            ),
            Feature(
                f"{col}_trend3",
                "num",
                f"{en} trend: slope over the last 3 months / their mean",
                f"{zh}近3月趋势(斜率/均值)",
            ),
        ]
    return out


FEATURES: tuple[Feature, ...] = (
    *_usage_features(),
    *(
        Feature(
            f"{c}_vs_max6",
            "num",
            f"{en} vs the highest of the 6 previous months (ratio - 1)",
            f"{zh}较前6个月最高值变化率",
        )
        for c, (en, zh) in USAGE.items()
        if c != "bb_online_hours"
    ),
    Feature(
        "usage_chg1",
        "num",
        "all usage (ARPU, minutes, data, online time) vs last month, averaged",
        "整体用量（ARPU/通话/流量/上网时长）环比变化率均值",
    ),
    Feature(
        "usage_chg3",
        "num",
        "all usage vs the 3-month average, averaged",
        "整体用量较前3月均值变化率均值",
    ),
    Feature(
        "usage_vs_max6",
        "num",
        "all usage vs the highest of the 6 previous months, averaged",
        "整体用量较前6个月最高值变化率均值",
    ),
    Feature("arpu_to_fee", "num", "ARPU / package fee", "ARPU与套餐月费之比"),
    Feature("package_fee", "num", "package monthly fee", "套餐月费"),
    Feature("sms_mms_spend", "num", "SMS/MMS spend", "短彩信费用"),
    Feature("vas_spend", "num", "value-added services spend", "增值业务费用"),
    Feature("annual_spend", "num", "spend over the last 12 months", "年消费"),
    Feature("zero_call_days", "num", "days without a call this month", "零通话天数"),
    Feature(
        "zero_call_days_chg1", "num", "zero-call days minus last month's", "零通话天数环比增加"
    ),
    Feature("tenure_months", "num", "months since activation", "在网月数"),
    Feature(
        "months_to_contract_end",
        "num",
        "months until the contract ends (negative: ended)",
        "距合约到期月数",
    ),
    Feature("contract_type", "cat", "contract kind", "合约类型"),
    Feature("handset_age_months", "num", "months since the handset was first used", "终端使用月数"),
    Feature("handset_generation", "cat", "handset network generation", "终端制式"),
    Feature("handset_smart", "num", "smart handset (1/0)", "智能机"),
    Feature("complaints", "num", "complaints this month", "本月投诉次数"),
    Feature("complaints_3m", "num", "complaints in the last 3 months", "近3月投诉次数"),
    Feature(
        "competitor_contacts",
        "num",
        "calls to competitors' service numbers this month",
        "本月联系竞争对手次数",
    ),
    Feature(
        "competitor_contacts_3m",
        "num",
        "calls to competitors in the last 3 months",
        "近3月联系竞争对手次数",
    ),
    Feature("dual_competitor", "num", "also uses a competitor's line (1/0)", "异网双卡"),
    Feature("payment_corporate", "num", "corporate collection (1/0)", "对公托收"),
    Feature("group_payment_amount", "num", "amount paid by the enterprise group", "集团统付金额"),
    Feature("in_group", "num", "member of an enterprise group (1/0)", "集团成员"),
    Feature("credit_list", "cat", "credit list", "红黑名单"),
    Feature("status", "cat", "line status", "用户状态"),
    Feature(
        "months_suspended_6m",
        "num",
        "months suspended or arrears-stopped in the last 6",
        "近6月停机月数",
    ),
    Feature("is_converged", "num", "converged package (1/0)", "融合套餐"),
    Feature("has_iptv", "num", "has ITV (1/0)", "有ITV"),
    Feature("has_mobile_line", "num", "household has a mobile line (1/0)", "有手机加装"),
    Feature("bb_speed_mbps", "num", "broadband speed", "宽带速率"),
    Feature("vip_level", "cat", "VIP tier", "VIP等级"),
    Feature("snapshot_midhigh", "num", "on the mid/high-end snapshot list (1/0)", "拍照中高端"),
    Feature("satisfaction_score", "num", "satisfaction score", "满意度得分"),
    Feature("line_type", "cat", "kind of line", "业务类型"),
    Feature("branch_id", "cat", "city branch", "地市"),
)

SEGMENT_FEATURES: tuple[Feature, ...] = (
    Feature("seg_a", "cat", "segment binding code (A1-A3)", "捆绑度分层"),
    Feature("seg_b", "cat", "segment value code (B1-B4)", "价值分层"),
    Feature("seg_c", "cat", "segment churn-tendency code (C1-C3)", "离网倾向分层"),
    Feature("seg_urgency", "cat", "segment urgency colour", "紧急程度"),
)

BY_NAME = {f.name: f for f in (*FEATURES, *SEGMENT_FEATURES)}


def feature_names(with_segments: bool = False) -> list[str]:
    """Names of the model inputs, in model order."""
    feats = FEATURES + (SEGMENT_FEATURES if with_segments else ())
    return [f.name for f in feats]


def categorical_names(with_segments: bool = False) -> list[str]:
    """Names of the categorical model inputs."""
    return [n for n in feature_names(with_segments) if BY_NAME[n].kind == "cat"]


def _window(frame: str) -> str:
    return f"OVER (PARTITION BY subscriber_id ORDER BY month RANGE BETWEEN {frame})"


def _ratio(num: str, den: str) -> str:
    # GREATEST/LEAST skip NULLs in DuckDB, so the clip is applied only when the ratio exists.
    ratio = f"(({num}) / NULLIF({den}, 0) - 1)"
    return f"CASE WHEN {ratio} IS NULL THEN NULL ELSE LEAST(GREATEST({ratio}, -1), 10) END"


def feature_sql(months: list[dt.date], *, with_segments: bool = False) -> str:
    """SQL returning ``month, subscriber_id`` plus every feature for the given months.

    Cancelled lines are left out (they can no longer churn). History before the first month
    (up to 6 months) feeds the change features.
    """
    if not months:
        raise ValueError("feature_sql needs at least one month")
    lo = add_months(min(months), -6).isoformat()
    wanted = ", ".join(f"DATE '{m.isoformat()}'" for m in sorted(months))
    prev1 = _window("INTERVAL 1 MONTH PRECEDING AND INTERVAL 1 MONTH PRECEDING")
    prev3 = _window("INTERVAL 3 MONTH PRECEDING AND INTERVAL 1 MONTH PRECEDING")
    prev6 = _window("INTERVAL 6 MONTH PRECEDING AND INTERVAL 1 MONTH PRECEDING")
    last3 = _window("INTERVAL 2 MONTH PRECEDING AND CURRENT ROW")
    last6 = _window("INTERVAL 5 MONTH PRECEDING AND CURRENT ROW")
    usage = []
    for c in USAGE:
        v = f"CAST({c} AS DOUBLE)"
        usage += [
            f"{v} AS {c}",
            f"avg({v}) {prev3} AS {c}_avg3",
            f"{_ratio(v, f'max({v}) {prev1}')} AS {c}_chg1",
            f"{_ratio(v, f'avg({v}) {prev3}')} AS {c}_chg3",
            f"{_ratio(v, f'avg({v}) {prev6}')} AS {c}_chg6",
            f"regr_slope({v}, midx) {last3} / NULLIF(avg({v}) {last3}, 0) AS {c}_trend3",
        ]
    for c in ("arpu", "voice_minutes", "data_mb"):
        v = f"CAST({c} AS DOUBLE)"
        usage.append(f"{_ratio(v, f'max({v}) {prev6}')} AS {c}_vs_max6")
    usage_sql = ",\n    ".join(usage)
    seg_join, seg_cols = "", ""
    if with_segments:
        seg_join = "LEFT JOIN segments g ON g.month = w.month AND g.subscriber_id = w.subscriber_id"
        seg_cols = ", g.a AS seg_a, g.b AS seg_b, g.c AS seg_c, g.urgency AS seg_urgency"
    return f"""
WITH base AS (
  SELECT *, year(month) * 12 + month(month) AS midx
  FROM snapshot
  WHERE month >= DATE '{lo}' AND month <= DATE '{max(months).isoformat()}'
),
w AS (
  SELECT month, subscriber_id, status,
    {usage_sql},
    CAST(arpu AS DOUBLE) / NULLIF(package_fee, 0) AS arpu_to_fee,
    package_fee, sms_mms_spend, vas_spend, annual_spend,
    CAST(zero_call_days AS DOUBLE) AS zero_call_days,
    zero_call_days - max(zero_call_days) {prev1} AS zero_call_days_chg1,
    date_diff('month', activation_date, month) AS tenure_months,
    CASE WHEN contract_end IS NOT NULL AND coalesce(contract_type, 'none') <> 'none'
         THEN date_diff('month', month, contract_end) END AS months_to_contract_end,
    coalesce(contract_type, 'none') AS contract_type,
    date_diff('month', handset_first_use_date, month) AS handset_age_months,
    handset_generation,
    CAST(handset_smart AS DOUBLE) AS handset_smart,
    CAST(complaints AS DOUBLE) AS complaints,
    CAST(sum(complaints) {last3} AS DOUBLE) AS complaints_3m,
    CAST(competitor_contacts AS DOUBLE) AS competitor_contacts,
    CAST(sum(competitor_contacts) {last3} AS DOUBLE) AS competitor_contacts_3m,
    CAST(dual_competitor AS DOUBLE) AS dual_competitor,
    CAST(payment_type = 'corporate' AS DOUBLE) AS payment_corporate,
    coalesce(group_payment_amount, 0) AS group_payment_amount,
    CAST(group_id IS NOT NULL AND group_id <> '' AS DOUBLE) AS in_group,
    coalesce(credit_list, 'none') AS credit_list,
    CAST(sum(CASE WHEN status IN ('suspended', 'arrears_stopped') THEN 1 ELSE 0 END) {last6}
         AS DOUBLE) AS months_suspended_6m,
    CAST(is_converged AS DOUBLE) AS is_converged,
    CAST(has_iptv AS DOUBLE) AS has_iptv,
    CAST(has_mobile_line AS DOUBLE) AS has_mobile_line,
    bb_speed_mbps,
    coalesce(vip_level, 'none') AS vip_level,
    CAST(snapshot_midhigh AS DOUBLE) AS snapshot_midhigh,
    satisfaction_score, line_type, branch_id
  FROM base
)
SELECT w.* EXCLUDE (status), w.status,
  list_avg([w.arpu_chg1, w.voice_minutes_chg1, w.data_mb_chg1, w.bb_online_hours_chg1]) AS usage_chg1,
  list_avg([w.arpu_chg3, w.voice_minutes_chg3, w.data_mb_chg3, w.bb_online_hours_chg3]) AS usage_chg3,
  list_avg([w.arpu_vs_max6, w.voice_minutes_vs_max6, w.data_mb_vs_max6]) AS usage_vs_max6{seg_cols}
FROM w {seg_join}
WHERE w.month IN ({wanted}) AND w.status <> 'cancelled'
ORDER BY w.month, w.subscriber_id
"""


def label_sql(horizon: int, months: list[dt.date]) -> str:
    """SQL ``(month, subscriber_id, churned)``: 1 when the line is gone or cancelled by month+h.

    For ``horizon == 1`` this is :func:`weixi.store.months.churn_label_sql`.
    """
    from weixi.store.months import churn_label_sql

    wanted = ", ".join(f"DATE '{m.isoformat()}'" for m in sorted(months))
    if horizon == 1:
        return f"SELECT * FROM ({churn_label_sql()}) l WHERE l.month IN ({wanted})"
    return f"""
SELECT s.month, s.subscriber_id,
       CASE WHEN n.subscriber_id IS NULL OR n.status = 'cancelled' THEN 1 ELSE 0 END AS churned
FROM snapshot s
LEFT JOIN snapshot n
  ON n.subscriber_id = s.subscriber_id AND n.month = s.month + INTERVAL {int(horizon)} MONTH
WHERE s.status <> 'cancelled' AND s.month IN ({wanted})
"""


def has_segments(con: duckdb.DuckDBPyConnection, months: list[dt.date]) -> bool:
    """True when the ``segments`` table holds every one of ``months``."""
    got = {r[0] for r in con.execute("SELECT DISTINCT month FROM segments").fetchall()}
    return all(m in got for m in months)


def load_features(
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date],
    *,
    with_segments: bool = False,
    labels: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Run :func:`feature_sql` (plus label columns ``churned_<h>m``) and return a DataFrame.

    Categorical columns come back as pandas ``category``.
    """
    sql = feature_sql(months, with_segments=with_segments)
    if labels:
        joins = " ".join(
            f"JOIN ({label_sql(h, months)}) l{h} "
            f"ON l{h}.month = f.month AND l{h}.subscriber_id = f.subscriber_id"
            for h in labels
        )
        cols = ", ".join(f"l{h}.churned AS churned_{h}m" for h in labels)
        sql = f"SELECT f.*, {cols} FROM ({sql}) f {joins} ORDER BY f.month, f.subscriber_id"
    df = con.execute(sql).df()
    for c in categorical_names(with_segments):
        if c in df.columns:
            df[c] = df[c].astype(object).where(df[c].notna(), None).astype("category")
    return df


def rule_tendency(df: pd.DataFrame, drop: float = 0.30, group_pay: float = 50.0) -> pd.Series:
    """The seed's rule-based churn tendency C1/C2/C3 from the features (vectorised).

    C1: ARPU or call minutes (broadband: online time) fell >= 30 % vs the 3-month average;
    C3: corporate-paid, group payment > 50 or converged package; C2: everyone else.
    """
    is_bb = (df["line_type"].astype(object) == "broadband").to_numpy()
    usage_drop = df["voice_minutes_chg3"].where(~is_bb, df["bb_online_hours_chg3"])
    c1 = (df["arpu_chg3"] <= -drop) | (usage_drop <= -drop)
    c3 = (
        (df["payment_corporate"] == 1)
        | (df["group_payment_amount"] > group_pay)
        | (df["is_converged"] == 1)
    )
    out = pd.Series("C2", index=df.index)
    out[c3.fillna(False).to_numpy()] = "C3"
    out[c1.fillna(False).to_numpy()] = "C1"
    return out
