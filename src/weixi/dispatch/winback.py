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
        raise RuleError(f"{source}: invalid win-back spec — {exc.errors()[0]['msg']}") from None


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
