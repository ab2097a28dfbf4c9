"""Win-back (挽回) of recently churned high-value customers: the offers (a typed YAML preset in
the strategy library) and the list, with a randomized control group drawn by
:mod:`weixi.dispatch.holdout` so the win-back's effect is measured like a campaign's.

Who is on the list: lines that left in the ``lookback_months`` up to the month (the churn
label of :mod:`weixi.churn.analysis`), with ARPU >= ``min_arpu`` in their last live month. Each
gets the first offer whose ARPU band fits; lines no offer fits are left off.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from weixi.dispatch.plans import WINBACK_ACTION
from weixi.errors import RuleError
from weixi.store.months import add_months, format_month
from weixi.strategy.schemas import CHANNELS, Text, _Strict


class WinbackOffer(_Strict):
    """A win-back offer: ARPU band (before leaving), cost per acceptance, channels, script."""

    key: str
    name: Text
    arpu_min: float | None = None
    arpu_max: float | None = None
    unit_cost: float = Field(ge=0)
    channels: list[str]
    script: Text

    @model_validator(mode="after")
    def _check(self) -> WinbackOffer:
        bad = [c for c in self.channels if c not in CHANNELS]
        if bad:
            raise ValueError(f"offer {self.key!r}: unknown channels {bad}")
        return self


class WinbackSpec(_Strict):
    """The win-back campaign type: who (lookback, minimum ARPU), offers and control share."""

    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: Text
    lookback_months: int = Field(1, ge=1, le=6)
    min_arpu: float = Field(100.0, ge=0)
    control_share: float = Field(0.1, ge=0, lt=1)
    # won back = a live line again within this many months after the list's month; the
    # monthly job evaluates the list once they are all loaded (its window has matured)
    horizon_months: int = Field(2, ge=1, le=12)
    salt: str | None = None  # None: the key
    channels: list[str]
    offers: list[WinbackOffer] = Field(min_length=1)


def load_winback(path: Path | str | None = None) -> WinbackSpec:
    """The shipped win-back preset, or a planner's own YAML file."""
    if path is None:
        text = resources.files("weixi.strategy").joinpath("presets/winback.yaml").read_text("utf-8")
        source = "preset winback"
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        return WinbackSpec.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise RuleError(
            "{source}: invalid win-back spec — {error}", source=source, error=exc.errors()[0]["msg"]
        ) from None


def winback_sql(spec: WinbackSpec, month: dt.date) -> str:
    """SQL of the win-back list for ``month``: leaver, branch, ARPU before, offer, in control."""
    from weixi.dispatch.holdout import in_control_sql
    from weixi.strategy.schemas import sql_literal

    first = add_months(month, -spec.lookback_months)  # base months: first .. month-1
    cases = []
    for o in spec.offers:
        cond = ["TRUE"]
        if o.arpu_min is not None:
            cond.append(f"l.arpu >= {float(o.arpu_min)!r}")
        if o.arpu_max is not None:
            cond.append(f"l.arpu < {float(o.arpu_max)!r}")
        cases.append(f"WHEN {' AND '.join(cond)} THEN {sql_literal(o.key)}")
    offer = f"CASE {' '.join(cases)} END"
    salt = spec.salt or spec.key
    return f"""
WITH l AS (
  SELECT s.month AS last_month, s.subscriber_id, s.customer_id, s.branch_id, s.phone, s.name,
         CAST(s.arpu AS DOUBLE) AS arpu
  FROM snapshot s
  LEFT JOIN snapshot n
    ON n.subscriber_id = s.subscriber_id AND n.month = s.month + INTERVAL 1 MONTH
  WHERE s.status <> 'cancelled' AND (n.subscriber_id IS NULL OR n.status = 'cancelled')
    AND s.month >= DATE '{first.isoformat()}' AND s.month < DATE '{month.isoformat()}'
    AND s.arpu >= {float(spec.min_arpu)!r}
)
SELECT * FROM (
  SELECT l.*, {offer} AS offer_key, {in_control_sql("l.subscriber_id", salt, spec.control_share)}
         AS is_control
  FROM l
) WHERE offer_key IS NOT NULL
ORDER BY arpu DESC, subscriber_id
"""


def winback_list(
    con: duckdb.DuckDBPyConnection, month: dt.date, spec: WinbackSpec | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The win-back list (NOT masked) and its summary: lines, treated, control, by offer/branch."""
    spec = spec or load_winback()
    df = con.execute(winback_sql(spec, month)).df()
    treated = df[~df["is_control"]]
    by_offer = treated.groupby("offer_key").size().to_dict() if len(df) else {}
    by_branch = df.groupby("branch_id").size().to_dict() if len(df) else {}
    costs = {o.key: o.unit_cost for o in spec.offers}
    return df, {
        "campaign": spec.key,
        "month": format_month(month),
        "left_since": format_month(add_months(month, -spec.lookback_months)),
        "min_arpu": spec.min_arpu,
        "lines": len(df),
        "treated": len(treated),
        "control": int(df["is_control"].sum()) if len(df) else 0,
        "arpu_at_stake": round(float(treated["arpu"].sum()), 2) if len(df) else 0.0,
        "max_offer_cost": round(
            float(treated["offer_key"].map(costs).sum()) if len(df) else 0.0, 2
        ),
        "by_offer": {k: int(v) for k, v in by_offer.items()},
        "by_branch": {k: int(v) for k, v in by_branch.items()},
    }


#: Won back: the customer has a live line again within this many snapshot months after the list.
DEFAULT_HORIZON = 2


def _owners(session) -> pd.DataFrame:
    """Per line, the account manager of its latest account-manager task (its owner, if any)."""
    from sqlalchemy import select

    from weixi.dispatch.models import Task

    rows = session.execute(
        select(Task.subscriber_id, Task.staff_id)
        .where(Task.channel == "account_manager", Task.staff_id.is_not(None))
        .order_by(Task.id)
    ).all()
    df = pd.DataFrame(rows, columns=["subscriber_id", "staff_id"])
    return df.drop_duplicates("subscriber_id", keep="last").astype("string")


def dispatch_winback(
    *,
    con: duckdb.DuckDBPyConnection,
    session,
    month: dt.date,
    spec: WinbackSpec | None = None,
    deadline_days: int = 14,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Dispatch the win-back list of ``month`` as a campaign: the treated lines become open tasks
    (owner: the line's account manager, else the call center), the control stays out; both are
    stored as the campaign's plan (``plans``/``plan_assignments``) for the evaluation.

    Idempotent per month: lines that already have a task or a plan row of this campaign and
    month are not added again. The caller commits.
    """
    from sqlalchemy import select

    from weixi.dispatch import plans
    from weixi.dispatch.models import Campaign, CampaignStatus, Task
    from weixi.store import schema
    from weixi.store.bulk import insert_arrow
    from weixi.strategy.schemas import sql_literal

    spec = spec or load_winback()
    schema.ensure(con)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    camp = session.execute(select(Campaign).where(Campaign.key == spec.key)).scalar_one_or_none()
    if camp is None:
        camp = Campaign(
            key=spec.key,
            name_en=spec.name.en,
            name_zh=spec.name.zh,
            status=CampaignStatus.active.value,
            period_start=month,
            period_end=dt.date(2099, 12, 31),
            control_share=spec.control_share,
            salt=spec.salt or spec.key,
            channels=list(spec.channels),
            actions=[WINBACK_ACTION],
            spec={"type": "winback", **spec.model_dump(mode="json")},
        )
        session.add(camp)
        session.flush()
    df, summary = winback_list(con, month, spec)
    m, ckey = sql_literal(month), sql_literal(spec.key)
    done = {
        r[0]
        for r in con.execute(
            f"SELECT subscriber_id FROM plan_assignments WHERE month = {m} AND campaign_id = {ckey}"
        ).fetchall()
    }
    done |= {
        r[0]
        for r in session.execute(
            select(Task.subscriber_id).where(Task.campaign_id == camp.id, Task.month == month)
        ).all()
    }
    new = df[~df["subscriber_id"].isin(done)].copy()
    owners = _owners(session)
    new = new.merge(owners, on="subscriber_id", how="left")
    new["channel"] = new["staff_id"].notna().map({True: "account_manager", False: "call_center"})
    new["staff_id"] = new["staff_id"].astype(object).where(new["staff_id"].notna(), None)
    names = {o.key: o.name for o in spec.offers}
    new["reason"] = [f"Win-back: {names[k].en}" for k in new["offer_key"]]
    new["reason_zh"] = [f"离网挽回：{names[k].zh}" for k in new["offer_key"]]
    costs = {o.key: o.unit_cost for o in spec.offers}
    new["cost"] = new["offer_key"].map(costs).astype(float)
    new["is_control"] = new["is_control"].astype(bool)
    treated = new[~new["is_control"]]
    due = now + dt.timedelta(days=deadline_days)
    import pyarrow as pa

    tasks = pa.table(
        {
            "campaign_id": pa.array([camp.id] * len(treated), pa.int64()),
            "month": pa.array([month] * len(treated), pa.date32()),
            "subscriber_id": pa.array(treated["subscriber_id"].tolist(), pa.string()),
            "customer_id": pa.array(treated["customer_id"].tolist(), pa.string()),
            "branch_id": pa.array(treated["branch_id"].tolist(), pa.string()),
            "channel": pa.array(treated["channel"].tolist(), pa.string()),
            "staff_id": pa.array(treated["staff_id"].tolist(), pa.string()),
            "action": pa.array([WINBACK_ACTION] * len(treated), pa.string()),
            "offer_id": pa.array(treated["offer_key"].tolist(), pa.string()),
            "category": pa.array(["A"] * len(treated), pa.string()),
            "cost": pa.array(treated["cost"].tolist(), pa.float64()),
            "reason": pa.array(treated["reason"].tolist(), pa.string()),
            "reason_zh": pa.array(treated["reason_zh"].tolist(), pa.string()),
            "status": pa.array(["open"] * len(treated), pa.string()),
            "due_at": pa.array([due] * len(treated), pa.timestamp("us")),
            "created_at": pa.array([now] * len(treated), pa.timestamp("us")),
            "updated_at": pa.array([now] * len(treated), pa.timestamp("us")),
        }
    )
    written = insert_arrow(session, "tasks", tasks)
    session.flush()
    if plans.latest(con, month, spec.key) is None:
        plans.record(
            con,
            month=month,
            campaign=spec.key,
            version=1,
            status="approved",
            control_share=spec.control_share,
        )
    if len(new):
        con.register(
            "_wb_new",
            new[
                [
                    "subscriber_id",
                    "customer_id",
                    "branch_id",
                    "channel",
                    "staff_id",
                    "offer_key",
                    "is_control",
                    "cost",
                    "reason",
                    "reason_zh",
                ]
            ],
        )
        try:
            con.execute(
                f"""INSERT INTO plan_assignments BY NAME
                SELECT {m} AS month, {ckey} AS campaign_id, subscriber_id, customer_id, branch_id,
                       {sql_literal(WINBACK_ACTION)} AS action, offer_key AS offer_id, channel,
                       CAST(staff_id AS VARCHAR) AS staff_id, is_control,
                       CAST(NULL AS DOUBLE) AS p_churn, CAST(NULL AS DOUBLE) AS expected_value,
                       CASE WHEN is_control THEN 0.0 ELSE cost END AS cost, reason, reason_zh,
                       'A' AS category, CAST(NULL AS INTEGER) AS priority_rank,
                       1 AS plan_version, FALSE AS forced_a1
                FROM _wb_new"""
            )
        finally:
            con.unregister("_wb_new")
    con.execute(
        f"""UPDATE plans SET on_list = q.t, control = q.c, cost = q.k, updated_at = now()
        FROM (SELECT count(*) FILTER (WHERE NOT is_control) AS t,
                     count(*) FILTER (WHERE is_control) AS c,
                     coalesce(sum(cost) FILTER (WHERE NOT is_control), 0) AS k
              FROM plan_assignments WHERE month = {m} AND campaign_id = {ckey}) q
        WHERE plans.month = {m} AND plans.campaign_id = {ckey}"""
    )
    by_channel = treated.groupby("channel").size().to_dict() if len(treated) else {}
    return {
        **summary,
        "campaign_id": camp.id,
        "tasks_created": int(written),
        "control_added": int(new["is_control"].sum()) if len(new) else 0,
        "already_dispatched": int(df["subscriber_id"].isin(done).sum()) if len(df) else 0,
        "by_channel": {k: int(v) for k, v in by_channel.items()},
    }


def evaluate_winback(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    spec: WinbackSpec | None = None,
    *,
    horizon: int = DEFAULT_HORIZON,
    campaign: str | None = None,
) -> dict[str, Any]:
    """Win-back of ``month``'s dispatched list against its control group.

    A line is *won back* when its customer has a live (not cancelled) line in one of the
    ``horizon`` snapshot months after ``month`` (``month``+1 … ``month``+``horizon``) that are
    loaded and that was not live in ``month`` itself — a new line, or the same line live again;
    another line of the customer that never left does not count. With none of those months
    loaded yet, nothing is measured (``measured_months`` = []). ``campaign`` (default: the
    spec's key) names the win-back campaign.

    Returns:
        ``{campaign, month, horizon, measured_months, treated: {n, won_back, rate},
        control: {…}, lift}`` (lift = treated rate − control rate, None without a control).
    """
    from weixi.store.months import loaded_months
    from weixi.strategy.schemas import sql_literal

    key = campaign or (spec or load_winback()).key
    have = set(loaded_months(con))
    after = [add_months(month, k) for k in range(1, horizon + 1)]
    measured = [x for x in after if x in have]
    m, ckey = sql_literal(month), sql_literal(key)
    months_in = ", ".join(sql_literal(x) for x in measured) or "NULL"
    rows = con.execute(
        f"""WITH live AS (
                SELECT customer_id, subscriber_id FROM snapshot
                WHERE month IN ({months_in}) AND status <> 'cancelled'
                  AND subscriber_id NOT IN (
                      SELECT subscriber_id FROM snapshot
                      WHERE month = {m} AND status <> 'cancelled')
            )
            SELECT a.is_control, count(*) AS n,
                   count(*) FILTER (WHERE a.customer_id IN (SELECT customer_id FROM live)
                                       OR a.subscriber_id IN (SELECT subscriber_id FROM live))
                       AS won
            FROM plan_assignments a
            WHERE a.month = {m} AND a.campaign_id = {ckey}
              AND a.action = {sql_literal(WINBACK_ACTION)}
            GROUP BY a.is_control"""
    ).fetchall()
    groups = {
        "treated": {"n": 0, "won_back": 0, "rate": None},
        "control": {"n": 0, "won_back": 0, "rate": None},
    }
    for is_control, n, won in rows:
        g = groups["control" if is_control else "treated"]
        g.update(n=int(n), won_back=int(won), rate=round(won / n, 4) if n and measured else None)
    tr, co = groups["treated"]["rate"], groups["control"]["rate"]
    return {
        "campaign": key,
        "month": format_month(month),
        "horizon": horizon,
        "measured_months": [format_month(x) for x in measured],
        **groups,
        "lift": round(tr - co, 4) if tr is not None and co is not None else None,
    }


def dispatched_lists(con: duckdb.DuckDBPyConnection) -> list[tuple[dt.date, str]]:
    """Every dispatched win-back list: ``(month, campaign)``, oldest first."""
    from weixi.dispatch.plans import executed_sql

    return [
        (r[0], str(r[1]))
        for r in con.execute(
            f"""SELECT DISTINCT month, campaign_id FROM ({executed_sql(winback=True)})
                WHERE action = '{WINBACK_ACTION}' ORDER BY 1, 2"""
        ).fetchall()
    ]


def _horizons(session) -> dict[str, int]:
    """Each win-back campaign's window (``horizon_months`` of the spec it was dispatched with)."""
    from sqlalchemy import select

    from weixi.dispatch.models import Campaign

    if session is None:
        return {}
    out = {}
    for key, spec in session.execute(select(Campaign.key, Campaign.spec)).all():
        if isinstance(spec, dict) and spec.get("type") == "winback":
            out[str(key)] = int(spec.get("horizon_months") or DEFAULT_HORIZON)
    return out


def evaluate_matured(
    *,
    con: duckdb.DuckDBPyConnection,
    session,
    month: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The monthly job's win-back step for a loaded ``month``: every dispatched win-back list
    whose window has matured (its ``horizon`` months after the list all loaded, the last one
    at or before ``month``) and that is not evaluated yet — or that matures exactly now (a
    re-run of the month gives the same answer) — is evaluated against its control and stored
    in ``winback_evaluations`` (one row per list, replaced). The others are reported as
    pending with the month they mature.

    Returns:
        ``{evaluated: [evaluate_winback(...) …], pending: [{campaign, month, matures}]}``.
    """
    from weixi.store import schema
    from weixi.store.months import loaded_months

    schema.ensure(con)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    horizons = _horizons(session)
    have = set(loaded_months(con))
    stored = {
        (r[0], str(r[1]))
        for r in con.execute("SELECT month, campaign_id FROM winback_evaluations").fetchall()
    }
    evaluated, pending = [], []
    for listed, key in dispatched_lists(con):
        h = horizons.get(key, DEFAULT_HORIZON)
        matures = add_months(listed, h)
        window = [add_months(listed, k) for k in range(1, h + 1)]
        if matures > month or not all(x in have for x in window):
            pending.append(
                {"campaign": key, "month": format_month(listed), "matures": format_month(matures)}
            )
            continue
        if (listed, key) in stored and matures != month:
            continue  # evaluated in an earlier month
        out = evaluate_winback(con, listed, horizon=h, campaign=key)
        tr, co = out["treated"], out["control"]
        con.execute(
            "DELETE FROM winback_evaluations WHERE month = ? AND campaign_id = ?", [listed, key]
        )
        con.execute(
            "INSERT INTO winback_evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                listed,
                key,
                h,
                matures,
                tr["n"],
                tr["won_back"],
                tr["rate"],
                co["n"],
                co["won_back"],
                co["rate"],
                out["lift"],
                now,
            ],
        )
        evaluated.append(out)
    return {"evaluated": evaluated, "pending": pending}


def stored_evaluations(con: duckdb.DuckDBPyConnection | None) -> list[dict[str, Any]]:
    """The win-back lists the monthly job evaluated, newest list first (the evaluation page)."""
    if con is None:
        return []
    cur = con.execute("SELECT * FROM winback_evaluations ORDER BY month DESC, campaign_id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
