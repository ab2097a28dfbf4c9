"""Churn features from the monthly snapshot history: one ibis definition that DuckDB and Spark
both run (:func:`feature_table`).

Every feature is described in :data:`FEATURES` (English and Chinese meaning); ``docs/churn.md``
lists the same table. Changes compare the month with earlier months of the same subscriber,
joined by line and picked by date, so a missing month never shifts a lag.

Example:
    >>> "arpu_chg3" in feature_names()
    True
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from weixi.segment.features import join_earlier
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
    Feature(
        "complaints_3m",
        "num",
        "complaints in the last 3 months (the operator's count, else summed over the snapshots)",
        "近3月投诉次数（取运营商数据，缺失时按月汇总）",
    ),
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
    Feature("dropped_call_rate", "num", "dropped-call rate this month (%)", "本月掉话率(%)"),
    Feature(
        "dropped_call_rate_3m",
        "num",
        "dropped-call rate, average of the last 3 months (%)",
        "近3月平均掉话率(%)",
    ),
    Feature(
        "weak_coverage_share",
        "num",
        "share of data traffic under weak coverage this month (%)",
        "本月弱覆盖流量占比(%)",
    ),
    Feature(
        "weak_coverage_share_3m",
        "num",
        "share of data traffic under weak coverage, average of the last 3 months (%)",
        "近3月平均弱覆盖流量占比(%)",
    ),
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
    Feature(
        "nps_score", "num", "latest NPS answer (0-10, likelihood to recommend)", "NPS推荐意愿得分"
    ),
    Feature("line_type", "cat", "kind of line", "业务类型"),
    Feature("branch_id", "cat", "city branch", "地市"),
)

SEGMENT_FEATURES: tuple[Feature, ...] = (
    Feature("seg_a", "cat", "segment binding code (A1-A3)", "捆绑度分层"),
    Feature("seg_b", "cat", "segment value code (B1-B4)", "价值分层"),
    Feature("seg_c", "cat", "segment churn-tendency code (C1-C3)", "离网倾向分层"),
    Feature("seg_urgency", "cat", "segment urgency colour", "紧急程度"),
)

#: Complaint history from the complaints workflow (``complaint_log``, written by
#: ``weixi.complaints.service.sync_analytics``), as of the end of each month.
COMPLAINT_FEATURES: tuple[Feature, ...] = (
    Feature("cmp_count_6m", "num", "complaints filed in the last 6 months", "近6月受理投诉数"),
    Feature("cmp_open", "num", "complaints still unanswered at month end", "月末未答复投诉数"),
    Feature("cmp_overdue", "num", "unanswered complaints past their deadline", "超时未答复投诉数"),
    Feature("cmp_days_since_last", "num", "days since the last complaint", "距最近一次投诉天数"),
    Feature("cmp_last_category", "cat", "category of the last complaint", "最近一次投诉类别"),
)

#: The analytics table the complaint features read.
COMPLAINT_TABLE = "complaint_log"

BY_NAME = {f.name: f for f in (*FEATURES, *SEGMENT_FEATURES, *COMPLAINT_FEATURES)}


def feature_names(with_segments: bool = False, with_complaints: bool = False) -> list[str]:
    """Names of the model inputs, in model order."""
    feats = (
        FEATURES
        + (SEGMENT_FEATURES if with_segments else ())
        + (COMPLAINT_FEATURES if with_complaints else ())
    )
    return [f.name for f in feats]


def categorical_names(with_segments: bool = False, with_complaints: bool = False) -> list[str]:
    """Names of the categorical model inputs."""
    names = feature_names(with_segments, with_complaints)
    return [n for n in names if BY_NAME[n].kind == "cat"]


def has_complaints(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the complaints workflow has written a history (``complaint_log`` has rows)."""
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {COMPLAINT_TABLE})").fetchall()[0][0])


def complaint_sql(months: list[dt.date]) -> str:
    """SQL ``(month, subscriber_id, cmp_*)``: each line's complaint history at the month's end.

    A complaint counts as open at month end when it was received before the end and not
    answered by then, overdue when in addition its deadline had passed.
    """
    wanted = ", ".join(f"DATE '{m.isoformat()}'" for m in sorted(months))
    return f"""
SELECT m.month, l.subscriber_id,
  CAST(count(*) FILTER (WHERE l.received_at >= m.month - INTERVAL 5 MONTH) AS DOUBLE)
    AS cmp_count_6m,
  CAST(count(*) FILTER (WHERE l.answered_at IS NULL OR l.answered_at >= m.month_end) AS DOUBLE)
    AS cmp_open,
  CAST(count(*) FILTER (WHERE (l.answered_at IS NULL OR l.answered_at >= m.month_end)
                          AND l.deadline < m.month_end) AS DOUBLE) AS cmp_overdue,
  CAST(date_diff('day', max(l.received_at), m.month_end) AS DOUBLE) AS cmp_days_since_last,
  arg_max(coalesce(l.category, 'unclassified'), l.received_at) AS cmp_last_category
FROM (SELECT month, CAST(month + INTERVAL 1 MONTH AS TIMESTAMP) AS month_end
      FROM (SELECT unnest([{wanted}]) AS month)) m
JOIN {COMPLAINT_TABLE} l ON l.received_at < m.month_end
GROUP BY m.month, m.month_end, l.subscriber_id
"""


#: Columns of ``segments`` the churn model may use (joined when ``with_segments``).
SEGMENTS_SCHEMA = {
    "month": "date",
    "subscriber_id": "string",
    "a": "string",
    "b": "string",
    "c": "string",
    "urgency": "string",
}


def _midx(d: ir.DateValue) -> ir.IntegerValue:
    """Month index (year * 12 + month): month differences and RANGE frames in whole months."""
    return d.year() * 12 + d.month()


def _ratio(num: ir.FloatingValue, den: ir.FloatingValue) -> ir.FloatingValue:
    """``num / den - 1`` clipped to [-1, 10]; NULL when ``den`` is NULL or 0."""
    ratio = num / den.nullif(0) - 1
    return ibis.ifelse(ratio.isnull(), ibis.null("float64"), ratio.clip(lower=-1, upper=10))


def _mean_of(values: list[ir.FloatingValue]) -> ir.FloatingValue:
    """Mean of the non-NULL ``values`` (NULL when all are NULL)."""
    total = values[0].fill_null(0.0)
    count = values[0].notnull().cast("int64")
    for v in values[1:]:
        total = total + v.fill_null(0.0)
        count = count + v.notnull().cast("int64")
    return ibis.ifelse(count > 0, total / count.cast("float64"), ibis.null("float64"))


def _max_of(values: list[ir.Value]) -> ir.Value:
    """Largest of the non-NULL ``values`` (NULL when all are NULL): ``GREATEST`` skips NULLs on
    DuckDB and Spark alike."""
    return ibis.greatest(*values)


def _sum_of(values: list[ir.Value]) -> ir.Value:
    """Sum of the non-NULL ``values`` (NULL when all are NULL), added in the order given."""
    total = values[0].fill_null(0)
    known = values[0].notnull()
    for v in values[1:]:
        total = total + v.fill_null(0)
        known = known | v.notnull()
    return ibis.ifelse(known, total, ibis.null(total.type()))


def _slope_parts(values: list[ir.FloatingValue]) -> tuple[ir.FloatingValue, ir.FloatingValue]:
    """Population covariance of ``values`` with their month offsets (0, -1, -2, …) and the
    offsets' population variance, over the known values only: the slope is their ratio.
    NULL both when no value is known; the variance is 0 with one known (no slope)."""
    n = _sum_of([v.notnull().cast("float64") for v in values]).nullif(0)
    sx = _sum_of([ibis.ifelse(v.notnull(), float(-i), 0.0) for i, v in enumerate(values)])
    sxx = _sum_of([ibis.ifelse(v.notnull(), float(i * i), 0.0) for i, v in enumerate(values)])
    sv = _sum_of(values)
    sxv = _sum_of([v * float(-i) for i, v in enumerate(values)])
    return (sxv - sx * sv / n) / n, sxx / n - (sx / n) * (sx / n)


#: The columns of each earlier month a month's features read, by how many months back they
#: are read (a month's usage 6 back, its complaints 2 back, its status 5 back).
_LAGGED = {
    **{c: 6 for c in USAGE},
    "zero_call_days": 1,
    "complaints": 2,
    "dropped_call_rate": 2,
    "weak_coverage_share": 2,
    "competitor_contacts": 2,
    "status": 5,
}


def _month_rows(snapshot: ir.Table, month: dt.date) -> ir.Table:
    """The snapshot rows of ``month`` with each line's aggregates over its earlier months.

    Each of the six months before is joined to the month by line (only the columns read that
    far back), and the aggregates are arithmetic across those columns: a month's row meets
    its own earlier rows, picked by date, so a missing month never shifts a lag, and a
    missing line-month is NULL. One GROUP BY per line over the seven months computed the same
    values before: 10 M groups × 33 aggregate states; on the 10 M bench store the month's query
    took 60.7 s with it and 21.6 s with the joins (docs/benchmarks.md). Sums are added in a
    fixed order, so the same months give the same bits (the group-by's had to be rounded).
    """
    cur = snapshot.filter(snapshot.month == ibis.date(month))
    cur = cur.mutate(_midx=_midx(cur.month))
    lagged: set[str] = set()
    for j in range(1, 7):
        cols = [c for c, depth in _LAGGED.items() if depth >= j]
        cur = join_earlier(
            cur, snapshot, month, j, lambda p, j=j, cols=cols: {f"_{c}_l{j}": p[c] for c in cols}
        )
        lagged |= {f"_{c}_l{j}" for c in cols}
    t = cur

    def back(c: str, n: int, *, cast: str | None = None, now: bool = False) -> list[ir.Value]:
        vals = ([t[c]] if now else []) + [t[f"_{c}_l{j}"] for j in range(1, n + 1)]
        return [v.cast(cast) for v in vals] if cast else vals

    agg: dict[str, ir.Value] = {}
    for c in USAGE:
        prev6 = back(c, 6, cast="float64")
        last3 = back(c, 2, cast="float64", now=True)
        cov, var = _slope_parts(last3)
        agg |= {
            f"_{c}_max1": prev6[0],
            f"_{c}_avg3": _mean_of(prev6[:3]),
            f"_{c}_avg6": _mean_of(prev6),
            f"_{c}_max6": _max_of(prev6),
            f"_{c}_cov3": cov,
            f"_{c}_var3": var,
            f"_{c}_mean3": _mean_of(last3),
        }
    suspended = [
        ibis.ifelse(s.isin(["suspended", "arrears_stopped"]), 1, 0)
        for s in back("status", 5, now=True)
    ]
    agg |= {
        "_zcd_max1": t._zero_call_days_l1,
        "_complaints_3m": _sum_of(back("complaints", 2, now=True)),
        "_dropped_3m": _mean_of(back("dropped_call_rate", 2, cast="float64", now=True)),
        "_weak_3m": _mean_of(back("weak_coverage_share", 2, cast="float64", now=True)),
        "_competitor_3m": _sum_of(back("competitor_contacts", 2, now=True)),
        "_suspended_6m": _sum_of(suspended),
    }
    return t.select(*(c for c in t.columns if c not in lagged), **agg)


def feature_table(
    snapshot: ir.Table,
    months: list[dt.date],
    *,
    segments: ir.Table | None = None,
    ordered: bool = True,
) -> ir.Table:
    """The churn features of ``months`` as one ibis expression (DuckDB and Spark run the same).

    Returns ``month, subscriber_id`` plus every feature, then ``status`` and the mean changes
    (and ``seg_*`` when ``segments`` is given). Cancelled lines are left out (they can no
    longer churn). The six months before each month feed its change features
    (:func:`_month_rows`), so a missing month never shifts a lag. Ordered by month and
    subscriber unless ``ordered`` is off (scoring needs no order, and sorting the month's wide
    rows once more holds all of them at once).
    """
    if not months:
        raise ValueError("feature_table needs at least one month")
    parts = [_month_rows(snapshot, m) for m in sorted(set(months))]
    t = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    cols: dict[str, ir.Value] = {}
    for c in USAGE:
        v = t[c].cast("float64")
        slope = t[f"_{c}_cov3"] / t[f"_{c}_var3"].nullif(0)
        cols |= {
            c: v,
            f"{c}_avg3": t[f"_{c}_avg3"],
            f"{c}_chg1": _ratio(v, t[f"_{c}_max1"]),
            f"{c}_chg3": _ratio(v, t[f"_{c}_avg3"]),
            f"{c}_chg6": _ratio(v, t[f"_{c}_avg6"]),
            f"{c}_trend3": slope / t[f"_{c}_mean3"].nullif(0),
        }
    for c in ("arpu", "voice_minutes", "data_mb"):
        cols[f"{c}_vs_max6"] = _ratio(t[c].cast("float64"), t[f"_{c}_max6"])
    contract = t.contract_type.fill_null("none")
    cols |= {
        "arpu_to_fee": t.arpu.cast("float64") / t.package_fee.cast("float64").nullif(0),
        "package_fee": t.package_fee,
        "sms_mms_spend": t.sms_mms_spend,
        "vas_spend": t.vas_spend,
        "annual_spend": t.annual_spend,
        "zero_call_days": t.zero_call_days.cast("float64"),
        "zero_call_days_chg1": t.zero_call_days - t._zcd_max1,
        "tenure_months": t._midx - _midx(t.activation_date),
        "months_to_contract_end": ibis.ifelse(
            t.contract_end.notnull() & (contract != "none"),
            _midx(t.contract_end) - t._midx,
            ibis.null("int64"),
        ),
        "contract_type": contract,
        "handset_age_months": t._midx - _midx(t.handset_first_use_date),
        "handset_generation": t.handset_generation,
        "handset_smart": t.handset_smart.cast("float64"),
        "complaints": t.complaints.cast("float64"),
        # the operator's own 3-month count when it has one, else the snapshots' sum
        "complaints_3m": t.complaints_3m.cast("float64").fill_null(
            t._complaints_3m.cast("float64")
        ),
        "competitor_contacts": t.competitor_contacts.cast("float64"),
        "competitor_contacts_3m": t._competitor_3m.cast("float64"),
        "dual_competitor": t.dual_competitor.cast("float64"),
        "dropped_call_rate": t.dropped_call_rate.cast("float64"),
        "dropped_call_rate_3m": t._dropped_3m,
        "weak_coverage_share": t.weak_coverage_share.cast("float64"),
        "weak_coverage_share_3m": t._weak_3m,
        "payment_corporate": (t.payment_type == "corporate").cast("float64"),
        "group_payment_amount": t.group_payment_amount.fill_null(0),
        "in_group": (t.group_id.notnull() & (t.group_id != "")).cast("float64"),
        "credit_list": t.credit_list.fill_null("none"),
        "months_suspended_6m": t._suspended_6m.cast("float64"),
        "is_converged": t.is_converged.cast("float64"),
        "has_iptv": t.has_iptv.cast("float64"),
        "has_mobile_line": t.has_mobile_line.cast("float64"),
        "bb_speed_mbps": t.bb_speed_mbps,
        "vip_level": t.vip_level.fill_null("none"),
        "snapshot_midhigh": t.snapshot_midhigh.cast("float64"),
        "satisfaction_score": t.satisfaction_score,
        "nps_score": t.nps_score.cast("float64"),
        "line_type": t.line_type,
        "branch_id": t.branch_id,
    }
    w = t.select(month=t.month, subscriber_id=t.subscriber_id, status=t.status, **cols)
    w = w.filter(w.status != "cancelled")
    w = w.relocate("status", after="branch_id")
    w = w.mutate(
        usage_chg1=_mean_of([w[f"{c}_chg1"] for c in USAGE]),
        usage_chg3=_mean_of([w[f"{c}_chg3"] for c in USAGE]),
        usage_vs_max6=_mean_of([w[f"{c}_vs_max6"] for c in ("arpu", "voice_minutes", "data_mb")]),
    )
    if segments is not None:
        # only the months asked for: the join's hash table is built from this side
        seg = segments.filter(segments.month.isin([ibis.date(m) for m in sorted(set(months))]))
        g = seg.select(
            month=seg.month,
            subscriber_id=seg.subscriber_id,
            seg_a=seg.a,
            seg_b=seg.b,
            seg_c=seg.c,
            seg_urgency=seg.urgency,
        )
        w = w.left_join(g, ["month", "subscriber_id"]).drop("month_right", "subscriber_id_right")
    return w.order_by(["month", "subscriber_id"]) if ordered else w


def feature_sql(
    months: list[dt.date],
    *,
    with_segments: bool = False,
    with_complaints: bool = False,
    snapshot: str = "snapshot",
    ordered: bool = True,
) -> str:
    """DuckDB SQL of :func:`feature_table` over the store's ``snapshot`` (and ``segments``);
    ``with_complaints`` joins each line's complaint history at the month's end
    (:func:`complaint_sql`, DuckDB only). ``snapshot`` names the table or view read as the
    snapshot (a view of a few lines for on-demand reasons); ``ordered`` as in
    :func:`feature_table`."""
    sql = _feature_table_sql(tuple(sorted(months)), with_segments, snapshot, ordered)
    if not with_complaints:
        return sql
    return f"""SELECT f.*, coalesce(k.cmp_count_6m, 0) AS cmp_count_6m,
       coalesce(k.cmp_open, 0) AS cmp_open, coalesce(k.cmp_overdue, 0) AS cmp_overdue,
       k.cmp_days_since_last, coalesce(k.cmp_last_category, 'none') AS cmp_last_category
FROM ({sql}) f
LEFT JOIN ({complaint_sql(months)}) k ON k.month = f.month AND k.subscriber_id = f.subscriber_id"""


@functools.lru_cache(maxsize=128)
def _feature_table_sql(
    months: tuple[dt.date, ...], with_segments: bool, snapshot: str, ordered: bool = True
) -> str:
    """The compiled SQL of :func:`feature_table` — compiling the Ibis expression takes about
    half a second, and a monthly job asks for the same months' features several times
    (training per horizon, scoring, reasons, acceptance)."""
    from weixi.segment.features import snapshot_schema

    snap = ibis.table(snapshot_schema(), name=snapshot)
    seg = ibis.table(SEGMENTS_SCHEMA, name="segments") if with_segments else None
    expr = feature_table(snap, list(months), segments=seg, ordered=ordered)
    return str(ibis.to_sql(expr, dialect="duckdb"))


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


def sample_share(
    con: duckdb.DuckDBPyConnection, months: list[dt.date], max_rows: int | None
) -> float:
    """Share of lines to read so ``months``' live line-months stay within ``max_rows`` (1 = all)."""
    if max_rows is None or not months:
        return 1.0
    marks = ", ".join("?" for _ in months)
    n = con.execute(
        f"SELECT count(*) FROM snapshot WHERE month IN ({marks}) AND status <> 'cancelled'",
        list(months),
    ).fetchone()[0]
    return min(1.0, float(max_rows) / n) if n else 1.0


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
    with_complaints: bool = False,
    subscriber_ids: list[str] | None = None,
    sample_share: float | None = None,
) -> pd.DataFrame:
    """Run :func:`feature_sql` (plus label columns ``churned_<h>m``) and return a DataFrame.

    Categorical columns come back as pandas ``category``. With ``with_complaints`` but no
    complaint history in the store, the complaint features come back empty (no complaints).
    ``subscriber_ids`` limits the frame to those lines (their history only is read);
    ``sample_share`` (< 1) to a uniform sample of lines, the same lines in every month (a hash
    of the subscriber id), so the sample keeps the churn rate.
    """
    cmp_ok = with_complaints and has_complaints(con)
    if sample_share is not None and sample_share < 1 and subscriber_ids is None:
        cut = max(1, round(float(sample_share) * 1_000_000))
        sql = feature_sql(
            months, with_segments=with_segments, with_complaints=cmp_ok, snapshot="_feature_snap"
        )
        lo, hi = add_months(min(months), -6), max(months)  # the months feature_table reads
        sql = (
            "WITH _feature_snap AS (SELECT * FROM snapshot "
            f"WHERE hash(subscriber_id, 'train-sample') % 1000000 < {cut} "
            f"AND month BETWEEN DATE '{lo.isoformat()}' AND DATE '{hi.isoformat()}') " + sql
        )
        lines = f"hash(s.subscriber_id, 'train-sample') % 1000000 < {cut}"
        df = _run_features(con, sql, months, labels, lines)
    elif subscriber_ids is not None:
        import pyarrow as pa

        con.register(
            "_feature_ids", pa.table({"subscriber_id": pa.array(subscriber_ids, pa.string())})
        )
        try:
            sql = feature_sql(
                months,
                with_segments=with_segments,
                with_complaints=cmp_ok,
                snapshot="_feature_snap",
            )
            lo, hi = add_months(min(months), -6), max(months)  # the months feature_table reads
            sql = (
                "WITH _feature_snap AS (SELECT * FROM snapshot WHERE subscriber_id IN "
                "(SELECT subscriber_id FROM _feature_ids) "
                f"AND month BETWEEN DATE '{lo.isoformat()}' AND DATE '{hi.isoformat()}') " + sql
            )
            lines = "s.subscriber_id IN (SELECT subscriber_id FROM _feature_ids)"
            read = small_frame if len(subscriber_ids) <= SMALL_FRAME_LINES else query_frame
            df = _run_features(con, sql, months, labels, lines, read)
        finally:
            con.unregister("_feature_ids")
    else:
        sql = feature_sql(months, with_segments=with_segments, with_complaints=cmp_ok)
        df = _run_features(con, sql, months, labels)
    if with_complaints and not cmp_ok:
        for f in COMPLAINT_FEATURES:
            df[f.name] = (
                "none" if f.kind == "cat" else (0.0 if f.name != "cmp_days_since_last" else None)
            )
    for c in categorical_names(with_segments, with_complaints):
        if c in df.columns:
            df[c] = df[c].astype(object).where(df[c].notna(), None).astype("category")
    return df


def feature_batches(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    with_segments: bool = False,
    with_complaints: bool = False,
    batch_rows: int = 250_000,
) -> Iterator[pa.RecordBatch]:
    """The features of ``month`` as Arrow record batches, in no particular order (each row
    carries its ``subscriber_id``), streamed as DuckDB computes them: what scoring reads.
    Same columns as :func:`load_features`."""
    cmp_ok = with_complaints and has_complaints(con)
    sql = feature_sql([month], with_segments=with_segments, with_complaints=cmp_ok, ordered=False)
    for batch in con.sql(sql).to_arrow_reader(batch_rows):
        if with_complaints and not cmp_ok:  # no complaint history: no complaints
            n = batch.num_rows
            for f in COMPLAINT_FEATURES:
                if f.kind == "cat":
                    arr = pa.array(np.full(n, "none", dtype=object), pa.string())
                elif f.name == "cmp_days_since_last":
                    arr = pa.nulls(n, pa.float64())
                else:
                    arr = pa.array(np.zeros(n), pa.float64())
                batch = batch.append_column(f.name, arr)
        yield batch


def labels_sql(horizons: tuple[int, ...], months: list[dt.date], lines: str = "TRUE") -> str:
    """SQL ``(month, subscriber_id, churned_<h>m …)`` of the live lines of ``months`` (and
    ``lines``, a condition on ``s``), in the features' order: every horizon's
    :func:`label_sql` in one pass over the snapshot."""
    wanted = ", ".join(f"DATE '{m.isoformat()}'" for m in sorted(months))
    cols = ", ".join(
        f"CASE WHEN n{h}.subscriber_id IS NULL OR n{h}.status = 'cancelled' THEN 1 ELSE 0 END "
        f"AS churned_{h}m"
        for h in horizons
    )
    joins = " ".join(
        f"LEFT JOIN snapshot n{h} ON n{h}.subscriber_id = s.subscriber_id "
        f"AND n{h}.month = s.month + INTERVAL {int(h)} MONTH"
        for h in horizons
    )
    return (
        f"SELECT s.month, s.subscriber_id, {cols} FROM snapshot s {joins} "
        f"WHERE s.status <> 'cancelled' AND s.month IN ({wanted}) AND ({lines}) "
        "ORDER BY s.month, s.subscriber_id"
    )


#: Rows per Arrow batch when a features query is read into a DataFrame.
FRAME_BATCH_ROWS = 250_000


def query_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame, read through Arrow batches.

    DuckDB's ``.df()`` holds its whole result while pandas builds the frame and then stacks
    the float columns into one block (a second copy): on a 3 M-line training sample that was
    the training step's peak (10 GiB with the store's 5 GB). Here the batches are converted
    column by column, each Arrow buffer freed once converted, and the blocks are not stacked.
    Each batch is first copied into Arrow's memory as it arrives: a batch DuckDB exports is
    released only as a whole, so its columns stayed until the whole frame was built (a 3 M-line
    training frame of 1.6 GB left the process at 4.15 GiB, with the copy at 2.46). The pages
    Arrow's allocator kept from the converted copy are then handed back (2.41 GiB; a frame of
    eight float columns was left at 2.0 × its size without that, 1.0 × with it).
    Columns come back as Arrow maps them (integers with nulls as float, dates as
    ``datetime64[ms]``). Converted on one thread: on this machine Arrow's threaded conversion
    of a 2 M-line training frame took 10–19 s against 1.8 s on one thread (the threads fault
    in fresh pages in parallel).
    """
    con.complete()  # a result left unread by ``fetchone()`` would refuse the relation API
    reader = con.sql(sql).to_arrow_reader(FRAME_BATCH_ROWS)
    cpu = pa.default_cpu_memory_manager()
    table = pa.Table.from_batches((b.copy_to(cpu) for b in reader), schema=reader.schema)
    del reader
    df = table.to_pandas(
        self_destruct=True, split_blocks=True, date_as_object=False, use_threads=False
    )
    del table
    pa.default_memory_pool().release_unused()
    return df


#: Up to this many lines a features query is read by :func:`small_frame`.
SMALL_FRAME_LINES = 1_000


def small_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame with the column types :func:`query_frame` gives,
    for a result of a few rows (a customer page's line).

    Through DuckDB's result instead of its relation API: on the customer page the relation
    API spent about 60 of its 150 ms in Python, tokenizing and binding the 100 KB features
    query a second time before running it. Nullable integers come back as float (NaN for a
    null) and dates as ``datetime64[ms]``, as through Arrow.
    """
    con.complete()
    df = con.execute(sql).df()
    for c in df.columns:
        kind = df[c].dtype
        if isinstance(kind, pd.api.extensions.ExtensionDtype) and kind.kind in "iub":
            df[c] = df[c].astype("float64")
        elif kind.kind == "M":
            df[c] = df[c].astype("datetime64[ms]")
    return df


def _run_features(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    months: list[dt.date],
    labels: tuple[int, ...],
    lines: str = "TRUE",
    read: Callable[[duckdb.DuckDBPyConnection, str], pd.DataFrame] = query_frame,
) -> pd.DataFrame:
    """The features of ``sql`` with the label columns of ``labels``.

    The labels are read by a narrow query of their own in the features' row order and set
    beside them: joining them to the wide feature rows and sorting those again took longer
    than the features themselves. Should the two not list the same lines in the same order,
    or a line-month be duplicated in the store, the join gives the frame as before.
    """
    if not labels:
        return read(con, sql)
    df = read(con, sql)
    lab = read(con, labels_sql(labels, months, lines))
    sid, mon = lab["subscriber_id"].to_numpy(), lab["month"].to_numpy()
    unique = len(lab) < 2 or not ((sid[1:] == sid[:-1]) & (mon[1:] == mon[:-1])).any()
    if (
        unique
        and len(lab) == len(df)
        and lab["subscriber_id"].equals(df["subscriber_id"])
        and lab["month"].equals(df["month"])
    ):
        for h in labels:
            df[f"churned_{h}m"] = lab[f"churned_{h}m"].to_numpy()
        return df
    joins = " ".join(
        f"JOIN ({label_sql(h, months)}) l{h} "
        f"ON l{h}.month = f.month AND l{h}.subscriber_id = f.subscriber_id"
        for h in labels
    )
    cols = ", ".join(f"l{h}.churned AS churned_{h}m" for h in labels)
    sql = f"SELECT f.*, {cols} FROM ({sql}) f {joins} ORDER BY f.month, f.subscriber_id"
    return read(con, sql)


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
