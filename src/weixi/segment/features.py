"""Derived features the rules use, as one ibis expression (same on DuckDB and Spark).

Definitions (documented in docs/segmentation.md):

* ``as_of`` is the last day of the month (the snapshot is the state at month end).
* Durations in months use **30 days per month**: ``months_to_contract_end = days / 30`` and
  ``tenure_months = days / 30``, so "less than 3 months" is "less than 90 days"
  (89 days → binding warning A1, 90 and 91 days → bound A3; tenure 87 days = 2.9 months is
  excluded, 90 days = 3.0 months is kept). ``handset_age_years = days / 365``.
* ``arpu_3m`` (近三个月平均ARPU) is the mean of the current and the two previous months;
  ``data_mb_3m``, ``voice_minutes_3m``, ``vas_3m``, ``bb_hours_3m`` likewise, over the
  months that are loaded (a first month averages just itself).
* ``arpu_drop_pct`` (ARPU较前三个月突降) compares the current month with the mean of the
  **previous three** months: ``(prev - cur) * 100 / prev``; NULL when no previous month or a
  zero mean. ``minutes_drop_pct`` (voice) and ``online_drop_pct`` (broadband hours) alike.
* Means are rounded to 6 decimals so that engines summing in different orders agree.

The previous months are pivoted with conditional aggregates (one row per subscriber), so no
self-join per month and no Python loop over subscribers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from weixi.ingest.schema import DUCKDB_TYPES, FIELDS
from weixi.store.months import add_months

DAYS_PER_MONTH = 30
DAYS_PER_YEAR = 365
ROUND = 6

#: (metric name, expression builder over a snapshot table)
_METRICS = {
    "arpu": lambda t: t.arpu,
    "voice_minutes": lambda t: t.voice_minutes,
    "data_mb": lambda t: t.data_mb,
    "vas": lambda t: t.sms_mms_spend.fill_null(0) + t.vas_spend.fill_null(0),
    "bb_hours": lambda t: t.bb_online_hours,
}

#: Derived features with their meaning (shown by docs and the unknown-name error).
FEATURES: dict[str, tuple[str, str]] = {
    "history_months": ("int64", "Previous months loaded for the line (0-3)"),
    "arpu_3m": ("float64", "Mean ARPU of this and the 2 previous months (yuan)"),
    "arpu_prev3": ("float64", "Mean ARPU of the 3 previous months (yuan)"),
    "arpu_drop_pct": ("float64", "ARPU fall vs the previous 3 months' mean (%)"),
    "voice_minutes_3m": ("float64", "Mean voice minutes of this and the 2 previous months"),
    "minutes_drop_pct": ("float64", "Voice minutes fall vs the previous 3 months' mean (%)"),
    "data_mb_3m": ("float64", "Mean data volume of this and the 2 previous months (MB)"),
    "vas_total": ("float64", "SMS/MMS + value-added services spend this month (yuan)"),
    "vas_3m": ("float64", "Mean SMS/MMS + VAS spend of this and the 2 previous months"),
    "bb_hours_3m": ("float64", "Mean broadband online hours of this and the 2 previous months"),
    "online_drop_pct": ("float64", "Broadband online hours fall vs the previous 3 months (%)"),
    "days_to_contract_end": ("int64", "Days from month end to contract end (negative: ended)"),
    "months_to_contract_end": ("float64", "days_to_contract_end / 30"),
    "tenure_days": ("int64", "Days on the network at month end"),
    "tenure_months": ("float64", "tenure_days / 30"),
    "handset_age_years": ("float64", "Years since the handset was first seen (days / 365)"),
    "annual_spend_est": ("float64", "annual_spend, or arpu_3m × 12 when it is missing"),
    "group_handset_count": ("int64", "Handsets of the line's enterprise group"),
    "group_industry": ("string", "Industry of the line's enterprise group"),
    "group_top500": ("boolean", "The enterprise group is a top-500 taxpayer"),
    "group_annual_spend": ("float64", "Annual spend of the enterprise group (yuan)"),
}

_IBIS_TYPES = {
    "str": "string",
    "int": "int64",
    "float": "float64",
    "bool": "boolean",
    "date": "date",
}


def snapshot_schema() -> ibis.Schema:
    """The ibis schema of the canonical ``snapshot`` table (``month`` first)."""
    cols = {"month": "date"}
    cols.update({f.name: _IBIS_TYPES[f.type] for f in FIELDS})
    return ibis.schema(cols)


GROUPS_SCHEMA = ibis.schema(
    {
        "group_id": "string",
        "name": "string",
        "branch_id": "string",
        "handset_count": "int64",
        "industry": "string",
        "is_top500_taxpayer": "boolean",
        "annual_spend": "float64",
    }
)

assert set(DUCKDB_TYPES) == set(_IBIS_TYPES)


def month_end(month: dt.date) -> dt.date:
    """The last day of ``month`` (the as-of date of its snapshot)."""
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _mean(values: list[ir.FloatingValue]) -> ir.FloatingValue:
    """Null-skipping mean with a fixed summation order (same bits on every engine)."""
    total = None
    count = None
    for v in values:
        x = v.cast("float64").fill_null(0.0)
        n = v.notnull().cast("int64")
        total = x if total is None else total + x
        count = n if count is None else count + n
    return (total / count.nullif(0).cast("float64")).round(ROUND)


def _drop_pct(cur: ir.FloatingValue, prev: ir.FloatingValue) -> ir.FloatingValue:
    """``(prev - cur) * 100 / prev`` (multiply first: 100 → 70 is exactly 30.0)."""
    cur = cur.cast("float64")
    return ibis.ifelse(prev > 0, ((prev - cur) * 100.0 / prev).round(ROUND), ibis.null("float64"))


def join_earlier(
    cur: ir.Table,
    snapshot: ir.Table,
    month: dt.date,
    back: int,
    columns: Callable[[ir.Table], dict[str, ir.Value]],
) -> ir.Table:
    """``cur`` (rows of ``month``) with ``columns(m)`` of the snapshot ``back`` months before,
    left-joined by line: a line-month is unique, so each row meets its own earlier row, picked
    by date (a missing month or line-month gives NULLs, never a shifted month). The churn
    features and segmentation read a line's history this way."""
    m = snapshot.filter(snapshot.month == ibis.literal(add_months(month, -back), type="date"))
    m = m.select(_sid=m.subscriber_id, **columns(m))
    t = cur.left_join(m, cur.subscriber_id == m._sid)
    # an explicit select (not drop) keeps the compiled SQL stable across runs
    return t.select(*[c for c in t.columns if c != "_sid"])


def features(snapshot: ir.Table, month: dt.date, groups: ir.Table | None = None) -> ir.Table:
    """Return the month's snapshot rows with every derived feature added.

    Args:
        snapshot: the canonical snapshot table (may hold other months; the previous three are
            used for history).
        month: first day of the month to segment.
        groups: the ``enterprise_groups`` reference table, or None.

    Returns:
        One row per subscriber of ``month``: canonical fields + ``FEATURES``.
    """
    as_of = ibis.literal(month_end(month), type="date")
    cur = snapshot.filter(snapshot.month == ibis.literal(month, type="date"))
    # each previous month joined by line: one GROUP BY over the three months did the same
    # pivot, at 10 M lines a hash table of 10 M groups × 15 states
    t = cur
    helper: set[str] = set()
    for i in (1, 2, 3):
        t = join_earlier(
            t,
            snapshot,
            month,
            i,
            lambda m, i=i: {f"_{n}_p{i}": fn(m).cast("float64") for n, fn in _METRICS.items()},
        )
        helper |= {f"_{n}_p{i}" for n in _METRICS}

    def p(name: str, i: int) -> ir.Value:
        return t[f"_{name}_p{i}"]

    cur_vals = {name: fn(t).cast("float64") for name, fn in _METRICS.items()}
    prev3 = {name: _mean([p(name, 1), p(name, 2), p(name, 3)]) for name in _METRICS}
    three = {name: _mean([cur_vals[name], p(name, 1), p(name, 2)]) for name in _METRICS}
    days_to_end = t.contract_end.delta(as_of, unit="day").cast("int64")
    tenure_days = as_of.delta(t.activation_date, unit="day").cast("int64")
    handset_days = as_of.delta(t.handset_first_use_date, unit="day").cast("int64")
    out = t.mutate(
        history_months=(
            t._arpu_p1.notnull().cast("int64")
            + t._arpu_p2.notnull().cast("int64")
            + t._arpu_p3.notnull().cast("int64")
        ),
        arpu_3m=three["arpu"],
        arpu_prev3=prev3["arpu"],
        arpu_drop_pct=_drop_pct(cur_vals["arpu"], prev3["arpu"]),
        voice_minutes_3m=three["voice_minutes"],
        minutes_drop_pct=_drop_pct(cur_vals["voice_minutes"], prev3["voice_minutes"]),
        data_mb_3m=three["data_mb"],
        vas_total=cur_vals["vas"],
        vas_3m=three["vas"],
        bb_hours_3m=three["bb_hours"],
        online_drop_pct=_drop_pct(cur_vals["bb_hours"], prev3["bb_hours"]),
        days_to_contract_end=days_to_end,
        months_to_contract_end=(days_to_end.cast("float64") / DAYS_PER_MONTH).round(ROUND),
        tenure_days=tenure_days,
        tenure_months=(tenure_days.cast("float64") / DAYS_PER_MONTH).round(ROUND),
        handset_age_years=(handset_days.cast("float64") / DAYS_PER_YEAR).round(ROUND),
        annual_spend_est=t.annual_spend.cast("float64").fill_null(
            (three["arpu"] * 12.0).round(ROUND)
        ),
    )
    # an explicit select (not drop) keeps the compiled SQL stable across runs
    out = out.select(*[c for c in out.columns if c not in helper])
    if groups is not None:
        g = groups.select(
            _gid=groups.group_id,
            group_handset_count=groups.handset_count.cast("int64"),
            group_industry=groups.industry.cast("string"),
            group_top500=groups.is_top500_taxpayer.cast("boolean"),
            group_annual_spend=groups.annual_spend.cast("float64"),
        )
        joined = out.left_join(g, out.group_id == g._gid)
        out = joined.select(*[c for c in joined.columns if c != "_gid"])
    else:
        out = out.mutate(
            group_handset_count=ibis.null("int64"),
            group_industry=ibis.null("string"),
            group_top500=ibis.null("boolean"),
            group_annual_spend=ibis.null("float64"),
        )
    return out


@functools.cache
def feature_table_schema() -> ibis.Schema:
    """The schema of :func:`features` output (for static rule validation)."""
    snap = ibis.table(snapshot_schema(), name="snapshot")
    groups = ibis.table(GROUPS_SCHEMA, name="enterprise_groups")
    return features(snap, dt.date(2000, 1, 1), groups).schema()
