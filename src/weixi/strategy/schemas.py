"""Typed strategy library: categories, actions, a three-level offer catalog, matching rules.

A library is loaded from YAML (``presets/seed.yaml`` is the seeds' matrix) and validated on
load; every mistake is reported as a :class:`~weixi.errors.RuleError` that names the offending
key. Conditions use the segmentation rule style: a list of ``{field: <column>, <op>: <value>}``
items over the ``segments`` columns, all of which must hold (AND); use ``in`` for an OR inside
one field.

Example:
    >>> c = Condition(field="a", in_=["A1", "A2"])
    >>> c.to_sql()
    "(a IN ('A1', 'A2'))"
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from weixi.errors import RuleError

ACTIONS_MOBILE = (
    "handset_upgrade",
    "care_call",
    "prepay_data",
    "prepay_credit",
    "package_fit",
    "data_pack",
)
ACTIONS_BROADBAND = ("add_mobile", "care_call", "prepay_speedup", "prepay_annual", "itv_addon")
CHANNELS = ("account_manager", "call_center", "store", "sms", "app")
CATEGORY_KEYS = ("A", "B", "C")
LineType = Literal["mobile", "broadband", "any"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def sql_literal(value: object) -> str:
    """Render a Python scalar as a safe SQL literal (strings quoted, quotes doubled).

    >>> sql_literal("O'Brien"), sql_literal(3), sql_literal(True), sql_literal(None)
    ("'O''Brien'", '3', 'TRUE', 'NULL')
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Condition(_Strict):
    """One test on one segment column; a list of conditions means all of them (AND)."""

    field: str
    eq: str | float | int | bool | None = None
    ne: str | float | int | bool | None = None
    in_: list[str | int | float] | None = Field(default=None, alias="in")
    not_in: list[str | int | float] | None = None
    lt: float | None = None
    lte: float | None = None
    gt: float | None = None
    gte: float | None = None
    is_null: bool | None = None

    @field_validator("field")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"field {v!r} is not a plain column name (lower_snake_case)")
        return v

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if not self.tests():
            raise ValueError(
                f"condition on {self.field!r} has no test: "
                "use one of eq, ne, in, not_in, lt, lte, gt, gte, is_null"
            )
        return self

    def tests(self, prefix: str = "") -> list[str]:
        """Return the SQL fragments of the tests set on this condition."""
        f = prefix + self.field
        out: list[str] = []
        if self.eq is not None:
            out.append(f"{f} = {sql_literal(self.eq)}")
        if self.ne is not None:
            out.append(f"{f} IS DISTINCT FROM {sql_literal(self.ne)}")
        if self.in_ is not None:
            out.append(f"{f} IN ({', '.join(sql_literal(v) for v in self.in_)})")
        if self.not_in is not None:
            vals = ", ".join(sql_literal(v) for v in self.not_in)
            out.append(f"({f} IS NULL OR {f} NOT IN ({vals}))")
        for op, val in (("<", self.lt), ("<=", self.lte), (">", self.gt), (">=", self.gte)):
            if val is not None:
                out.append(f"{f} {op} {sql_literal(val)}")
        if self.is_null is not None:
            out.append(f"{f} IS {'' if self.is_null else 'NOT '}NULL")
        return out

    def to_sql(self, prefix: str = "") -> str:
        """Compile to a SQL boolean expression (``prefix`` qualifies the column, e.g. ``s.``)."""
        return "(" + " AND ".join(self.tests(prefix)) + ")"


def conditions_sql(conds: list[Condition] | tuple[Condition, ...], prefix: str = "") -> str:
    """AND a list of conditions into one SQL expression (``TRUE`` when empty).

    ``prefix`` qualifies column names (``"s."``) when the expression runs on a join.

    >>> conditions_sql([Condition(field="a", eq="A1"), Condition(field="f", in_=["F1"])])
    "COALESCE((a = 'A1') AND (f IN ('F1')), FALSE)"
    """
    if not conds:
        return "TRUE"
    return "COALESCE(" + " AND ".join(c.to_sql(prefix) for c in conds) + ", FALSE)"


class Text(_Strict):
    """A user-facing text in both languages."""

    en: str
    zh: str

    def get(self, locale: str | None) -> str:
        """Return the text for ``locale`` ('zh*' → Chinese, anything else English)."""
        return self.zh if (locale or "").lower().startswith("zh") else self.en


class Category(_Strict):
    """A strategy category (A key retention, B stability, C value)."""

    key: Literal["A", "B", "C"]
    name: Text


class ChannelConfig(_Strict):
    """A contact channel: how much of an action's effect it delivers and what a contact costs."""

    key: Literal["account_manager", "call_center", "store", "sms", "app"]
    name: Text
    effect: float = Field(ge=0, le=1.5, description="multiplier on the action's uplift")
    contact_cost: float = Field(ge=0, description="yuan per contact attempt")
    outbound: bool = True
    needs_consent: bool = False
    only_for: list[Condition] = Field(
        default_factory=list, description="who may be served through it (e.g. VIP for AMs)"
    )


class Action(_Strict):
    """A retention action (the contract's action keys) with its configured expected effect."""

    key: str
    category: Literal["A", "B", "C"]
    line_type: LineType
    name: Text
    uplift: float = Field(
        ge=0, le=1, description="share of would-be churners kept when the action reaches them"
    )
    take_rate: float = Field(default=0.3, ge=0, le=1, description="share who accept the offer")
    learn_by: list[str] = Field(
        default_factory=list,
        description="segment dimensions the action's churn reduction is learned per level of "
        "(the needs it addresses, e.g. d and e for a handset upgrade); empty: one reduction",
    )

    @field_validator("key")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in set(ACTIONS_MOBILE) | set(ACTIONS_BROADBAND):
            raise ValueError(f"unknown action {v!r}")
        return v

    @field_validator("learn_by")
    @classmethod
    def _dimensions(cls, v: list[str]) -> list[str]:
        from weixi.segment.exprs import not_dimensions

        bad = not_dimensions(v)
        if bad:
            raise ValueError(
                f"learn_by {bad} are not segment dimensions (e.g. a, b, c, d, e, f, g, h, i)"
            )
        if len(set(v)) != len(v):
            raise ValueError(f"learn_by names a dimension twice: {v}")
        return v


class Offer(_Strict):
    """A concrete offer (third catalog level) with its fit, eligibility, cost and script."""

    key: str
    name: Text
    tier: int = 1
    arpu_min: float | None = None  # on arpu_3m, inclusive
    arpu_max: float | None = None  # exclusive
    handset_tiers: list[str] | None = None  # D1/D2/D3
    data_bands: list[str] | None = None  # F1/F2/F3
    eligibility: list[Condition] = Field(default_factory=list)
    branches: list[str] | None = None  # None: every branch
    unit_cost: float = Field(ge=0, description="yuan per accepted offer")
    uplift: float | None = Field(default=None, ge=0, le=1, description="overrides the action's")
    channels: list[str]
    script: Text
    valid_from: dt.date
    valid_to: dt.date

    @model_validator(mode="after")
    def _check(self) -> Offer:
        bad = [c for c in self.channels if c not in CHANNELS]
        if bad:
            raise ValueError(f"offer {self.key!r}: unknown channels {bad}; use {list(CHANNELS)}")
        if self.valid_to < self.valid_from:
            raise ValueError(f"offer {self.key!r}: valid_to is before valid_from")
        lo, hi = self.arpu_min, self.arpu_max
        if lo is not None and hi is not None and hi <= lo:
            raise ValueError(f"offer {self.key!r}: arpu_max must exceed arpu_min")
        return self

    def fit_conditions(self) -> list[Condition]:
        """The ARPU band / handset tier / data use fit as conditions over segment columns."""
        out = list(self.eligibility)
        if self.arpu_min is not None:
            out.append(Condition(field="arpu_3m", gte=self.arpu_min))
        if self.arpu_max is not None:
            out.append(Condition(field="arpu_3m", lt=self.arpu_max))
        if self.handset_tiers:
            out.append(Condition(field="d", in_=list(self.handset_tiers)))
        if self.data_bands:
            out.append(Condition(field="f", in_=list(self.data_bands)))
        if self.branches:
            out.append(Condition(field="branch_id", in_=list(self.branches)))
        return out


class Product(_Strict):
    """Second catalog level (e.g. 预存话费终端折扣 prepaid handset discount)."""

    key: str
    name: Text
    offers: list[Offer]


class CatalogEntry(_Strict):
    """First catalog level (e.g. 终端促销 terminal promotion), serving one action."""

    key: str
    name: Text
    action: str
    products: list[Product]


class MatchRule(_Strict):
    """Province-level rule: segment + needs → the actions (categories) it calls for."""

    key: str
    line_type: Literal["mobile", "broadband"]
    when: list[Condition]
    actions: list[str]
    note: Text | None = None


class ValueModel(_Strict):
    """How a customer's value at risk is computed: CLV = arpu_3m × margin × months."""

    clv_months: float = 12.0
    margin: float = 1.0


class StrategyLibrary(_Strict):
    """The whole strategy library (维系策略库)."""

    name: str
    version: str = "1"
    categories: list[Category]
    priority: list[Literal["A", "B", "C"]] = ["A", "B", "C"]
    quarter_priority: dict[str, list[Literal["A", "B", "C"]]] = Field(default_factory=dict)
    channels: list[ChannelConfig]
    actions: list[Action]
    catalog: list[CatalogEntry]
    rules: list[MatchRule]
    value: ValueModel = ValueModel()

    def open_matching(self) -> StrategyLibrary:
        """This library with every action a candidate for every line of its line type.

        The matching rules stay (their notes still explain a seed match) and one rule per line
        type is added that calls for all of the line type's actions; the offers' fit and
        eligibility still decide who may get which offer. For plans that choose among actions
        by their (learned or true) value rather than by the seed's matrix.
        """
        extra = [
            MatchRule(
                key=f"any_{lt}",
                line_type=lt,
                when=[],
                actions=[a.key for a in self.actions if a.line_type == lt],
                note=Text(
                    en=f"every {lt} action is a candidate (value decides)",
                    zh="所有动作均为候选（按价值选择）",
                ),
            )
            for lt in ("mobile", "broadband")
            if any(a.line_type == lt for a in self.actions)
        ]
        return self.model_copy(update={"rules": [*self.rules, *extra]})

    @model_validator(mode="after")
    def _references(self) -> StrategyLibrary:
        actions = {a.key: a for a in self.actions}
        cats = {c.key for c in self.categories}
        if sorted(self.priority) != sorted(cats):
            raise ValueError(f"priority {self.priority} must order exactly the categories {cats}")
        for q, order in self.quarter_priority.items():
            if not re.match(r"^\d{4}Q[1-4]$", q):
                raise ValueError(f"quarter_priority key {q!r} must look like 2026Q3")
            if sorted(order) != sorted(cats):
                raise ValueError(f"quarter_priority[{q}] must order exactly the categories")
        for a in self.actions:
            if a.category not in cats:
                raise ValueError(f"action {a.key!r} has unknown category {a.category!r}")
        seen: set[str] = set()
        for entry in self.catalog:
            if entry.action not in actions:
                raise ValueError(f"catalog {entry.key!r} serves unknown action {entry.action!r}")
            for p in entry.products:
                for o in p.offers:
                    if o.key in seen:
                        raise ValueError(f"offer key {o.key!r} is used twice")
                    seen.add(o.key)
        for r in self.rules:
            for a in r.actions:
                if a not in actions:
                    raise ValueError(f"rule {r.key!r} calls unknown action {a!r}")
                lt = actions[a].line_type
                if lt not in ("any", r.line_type):
                    raise ValueError(f"rule {r.key!r}: action {a!r} is not for {r.line_type}")
        served = {e.action for e in self.catalog}
        for r in self.rules:
            missing = [a for a in r.actions if a not in served]
            if missing:
                raise ValueError(f"rule {r.key!r}: no offer in the catalog for {missing}")
        return self

    def action(self, key: str) -> Action:
        """Return the action ``key`` or raise RuleError."""
        for a in self.actions:
            if a.key == key:
                return a
        raise RuleError("unknown action {key!r}", key=key)

    def category_order(self, month: dt.date) -> list[str]:
        """Category priority that applies in ``month`` (quarter override, else the default)."""
        q = f"{month.year}Q{(month.month - 1) // 3 + 1}"
        return list(self.quarter_priority.get(q, self.priority))

    def offers(self) -> list[tuple[CatalogEntry, Product, Offer]]:
        """Flatten the catalog into (entry, product, offer) triples."""
        return [(e, p, o) for e in self.catalog for p in e.products for o in p.offers]
