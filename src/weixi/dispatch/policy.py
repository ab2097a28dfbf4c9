"""Contact policy: who may not be contacted this month, and through which channels.

* do-not-disturb (免打扰) and red/black-listed (红黑名单) customers are suppressed (again, even if
  the segmentation preset let them through);
* a monthly cap on contacts per customer across campaigns — contacts already logged this month
  plus open tasks of *other* campaigns for the month count against it;
* a cool-down after a refusal (no contact for ``cooldown_days`` after the last refusal);
* channel consent: an opt-out row blocks a channel; with ``require_opt_in`` the channels marked
  ``needs_consent`` in the library (SMS, app) also need an explicit opt-in.

History comes from the operational database (``contact_log``, ``tasks``, ``channel_consent``) as
small per-subscriber aggregates and is joined in DuckDB.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from weixi.dispatch.models import ChannelConsent, ContactLog, OutcomeResult, Task, TaskStatus
from weixi.dispatch.schemas import ContactPolicy
from weixi.store.months import add_months
from weixi.strategy.schemas import StrategyLibrary, sql_literal

SUPPRESSION_REASONS = ("do_not_disturb", "credit_list", "contact_cap", "cooldown")


def contact_history(
    session: Session | None, month: dt.date, *, exclude_campaign_id: int | None = None
) -> pd.DataFrame:
    """Per subscriber: contacts counted against this month's cap, and the last refusal time."""
    cols = {"subscriber_id": "string", "contacts": "int64", "last_refusal": "datetime64[us]"}
    if session is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    start = dt.datetime.combine(month, dt.time())
    end = dt.datetime.combine(add_months(month, 1), dt.time())
    logged = session.execute(
        select(ContactLog.subscriber_id, func.count())
        .where(ContactLog.contacted_at >= start, ContactLog.contacted_at < end)
        .group_by(ContactLog.subscriber_id)
    ).all()
    q = select(Task.subscriber_id, func.count()).where(
        Task.month == month, Task.status == TaskStatus.open.value
    )
    if exclude_campaign_id is not None:
        q = q.where(Task.campaign_id != exclude_campaign_id)
    planned = session.execute(q.group_by(Task.subscriber_id)).all()
    refusals = session.execute(
        select(ContactLog.subscriber_id, func.max(ContactLog.contacted_at))
        .where(ContactLog.result == OutcomeResult.refused.value)
        .group_by(ContactLog.subscriber_id)
    ).all()
    a = pd.DataFrame(logged + planned, columns=["subscriber_id", "contacts"])
    a = a.groupby("subscriber_id", as_index=False)["contacts"].sum()
    r = pd.DataFrame(refusals, columns=["subscriber_id", "last_refusal"])
    out = a.merge(r, on="subscriber_id", how="outer")
    out["contacts"] = out["contacts"].fillna(0).astype("int64")
    out["last_refusal"] = pd.to_datetime(out["last_refusal"])
    return out.astype(cols)


def consent_frame(session: Session | None) -> pd.DataFrame:
    """Channel consent rows (subscriber_id, channel, allowed)."""
    if session is None:
        return pd.DataFrame(
            {
                "subscriber_id": pd.Series(dtype="string"),
                "channel": pd.Series(dtype="string"),
                "allowed": pd.Series(dtype=bool),
            }
        )
    rows = session.execute(
        select(ChannelConsent.subscriber_id, ChannelConsent.channel, ChannelConsent.allowed)
    ).all()
    return pd.DataFrame(rows, columns=["subscriber_id", "channel", "allowed"]).astype(
        {"subscriber_id": "string", "channel": "string", "allowed": bool}
    )


def suppression_sql(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    policy: ContactPolicy,
    *,
    table: str,
    history: str,
    as_of: dt.datetime,
    base: str = "_mx_base",
) -> str:
    """SQL of (subscriber_id, suppressed) for ``table``'s subscribers; NULL = may be contacted.

    ``history`` names a relation with (subscriber_id, contacts, last_refusal); ``base`` the
    matching base (``MatchResult.base``) that carries each line's credit list by ``sid``.
    """
    m = sql_literal(month)
    seg_cols = {r[0] for r in con.execute("DESCRIBE segments").fetchall()}
    snap_cols = {r[0] for r in con.execute("DESCRIBE snapshot").fetchall()}
    joins, dnd, credit = [], "FALSE", "NULL"
    if snap_cols:
        joins.append(f"LEFT JOIN snapshot n ON n.month = {m} AND n.subscriber_id = t.subscriber_id")
        if "do_not_disturb" in snap_cols:
            dnd = "COALESCE(n.do_not_disturb, FALSE)"
        if "credit_list" in snap_cols:
            credit = "n.credit_list"
    if "credit" in seg_cols:  # carried into the matching base (integer join, no string join)
        joins.append(f"LEFT JOIN {base} sg ON sg.sid = t.sid")
        credit = f"COALESCE(lower(CAST(sg.credit AS VARCHAR)), {credit})"
    lists = ", ".join(sql_literal(x) for x in policy.suppress_credit_lists) or "NULL"
    cool = as_of - dt.timedelta(days=policy.cooldown_days)
    return f"""
        SELECT t.subscriber_id,
          CASE WHEN {str(policy.suppress_do_not_disturb).upper()} AND {dnd} THEN 'do_not_disturb'
               WHEN {credit} IN ({lists}) THEN 'credit_list'
               WHEN COALESCE(h.contacts, 0) >= {int(policy.max_contacts_per_month)}
                    THEN 'contact_cap'
               WHEN h.last_refusal IS NOT NULL
                    AND h.last_refusal > TIMESTAMP '{cool:%Y-%m-%d %H:%M:%S}'
                    AND h.last_refusal <= TIMESTAMP '{as_of:%Y-%m-%d %H:%M:%S}'
                    THEN 'cooldown'
          END AS suppressed
        FROM {table} t {" ".join(joins)}
        LEFT JOIN {history} h ON h.subscriber_id = t.subscriber_id
    """


def channel_block_sql(lib: StrategyLibrary, policy: ContactPolicy, consent: str) -> str:
    """SQL boolean over ``o`` (an options row) and ``consent``: True when the channel is blocked."""
    needs = [c.key for c in lib.channels if c.needs_consent]
    opt_in = ""
    if policy.require_opt_in and needs:
        keys = ", ".join(sql_literal(k) for k in needs)
        opt_in = (
            f" OR (o.channel IN ({keys}) AND NOT EXISTS (SELECT 1 FROM {consent} k "
            "WHERE k.subscriber_id = o.subscriber_id AND k.channel = o.channel AND k.allowed))"
        )
    return (
        f"(EXISTS (SELECT 1 FROM {consent} k WHERE k.subscriber_id = o.subscriber_id "
        f"AND k.channel = o.channel AND NOT k.allowed){opt_in})"
    )
