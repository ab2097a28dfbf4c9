"""Trigger rules: typed presets loaded from YAML, conditions in the segmentation rule language.

A rule names the event types it reacts to and a condition (``when``) written exactly like a
segmentation condition (:mod:`weixi.segment.exprs`) over the event (``event_type``, ``value``,
``detail``) and the customer's latest segmentation row (``a``, ``vip_tier``, ``arpu_3m``,
``months_to_contract_end`` …) plus ``p_churn``; the action and offer come from the strategy
library. ``channel: owner`` means the customer's account manager when it has one (VIP or group
customer), else the call center.

Example:
    >>> ts = load_triggers("seed")
    >>> ts.rules[0].key
    'competitor_call'
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import ibis
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weixi.dispatch.plans import TRIGGER_PREFIX
from weixi.errors import RuleError
from weixi.ingest.events import EVENT_FIELDS, EVENT_TYPES
from weixi.ingest.schema import DUCKDB_TYPES
from weixi.segment.exprs import SEGMENT_COLUMNS, compile_condition
from weixi.segment.rules import Label

PRESET_DIR = Path(__file__).parent / "presets"
PRESETS = ("seed",)
CHANNELS = ("owner", "account_manager", "call_center", "store", "sms", "app")

_IBIS = {
    "date": "date",
    "string": "string",
    "boolean": "boolean",
    "int32": "int32",
    "float64": "float64",
}
_EV = {"VARCHAR": "string", "DATE": "date", "DOUBLE": "float64"}


def candidate_schema() -> dict[str, str]:
    """Columns a condition may name: the event's fields, the segmentation row, ``p_churn``."""
    cols = {f.name: _EV[DUCKDB_TYPES[f.type]] for f in EVENT_FIELDS}
    for name, typ in SEGMENT_COLUMNS.items():
        if name not in cols and name != "month":
            cols[name] = _IBIS[typ]
    cols["p_churn"] = "float64"
    return cols


class TriggerRule(BaseModel):
    """One trigger: events + condition → action/offer through a channel, by a deadline."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    label: Label
    events: list[str] = Field(min_length=1)
    when: str | None = None
    action: str
    offer: str | None = None
    channel: Literal["owner", "account_manager", "call_center", "store", "sms", "app"] = "owner"
    deadline_days: int = Field(3, ge=0, le=60, description="work the task within this many days")
    cooldown_days: int = Field(30, ge=0, le=365, description="no new firing for the customer")
    control_share: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _events(self) -> TriggerRule:
        bad = [e for e in self.events if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"rule {self.key}: unknown event types {bad}; use {list(EVENT_TYPES)}")
        return self

    @property
    def campaign_key(self) -> str:
        """The campaign its tasks and plan rows belong to (a trigger is a campaign type)."""
        return f"{TRIGGER_PREFIX}{self.key}"


class TriggerSet(BaseModel):
    """A whole trigger preset."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: Label
    params: dict[str, float] = {}
    capacity_share: float = Field(
        0.25, gt=0, le=1, description="share of a day's staff contacts reserved for triggers"
    )
    salt: str = "weixi-triggers"
    rules: list[TriggerRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TriggerSet:
        keys = [r.key for r in self.rules]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"rule keys used twice: {dup}")
        return self

    def rule(self, key: str) -> TriggerRule | None:
        """The rule with ``key``."""
        return next((r for r in self.rules if r.key == key), None)


def compile_rule(rule: TriggerRule, table: ibis.Table, params: dict[str, float]) -> ibis.Value:
    """The rule's boolean over a candidates table: its event types and its condition."""
    cond = table.event_type.isin(rule.events)
    if rule.when:
        cond = cond & compile_condition(rule.when, table, params, f"trigger {rule.key}")
    return cond


def validate_triggers(ts: TriggerSet, library=None, source: str = "triggers") -> None:
    """Compile every condition; check actions, offers and channels against the strategy library."""
    from weixi.strategy.library import load_library

    lib = library or load_library()
    table = ibis.table(candidate_schema(), name="candidates")
    actions = {a.key for a in lib.actions}
    offers = {o.key: (e.action, o) for e, _p, o in lib.offers()}
    for r in ts.rules:
        try:
            compile_rule(r, table, ts.params)
        except RuleError as exc:
            raise RuleError("{source}: {error}", source=source, error=exc) from None
        if r.action not in actions:
            raise RuleError(
                "{source}: rule {rule}: unknown action {action!r}; use {actions}",
                source=source,
                rule=r.key,
                action=r.action,
                actions=sorted(actions),
            )
        if r.offer is not None:
            if r.offer not in offers:
                raise RuleError(
                    "{source}: rule {rule}: unknown offer {offer!r}",
                    source=source,
                    rule=r.key,
                    offer=r.offer,
                )
            if offers[r.offer][0] != r.action:
                raise RuleError(
                    "{source}: rule {rule}: offer {offer!r} belongs to action "
                    "{offer_action!r}, not {action!r}",
                    source=source,
                    rule=r.key,
                    offer=r.offer,
                    offer_action=offers[r.offer][0],
                    action=r.action,
                )


def parse_triggers(data: object, source: str = "<dict>", library=None) -> TriggerSet:
    """Validate a parsed YAML document as a trigger preset (names checked too)."""
    if not isinstance(data, dict):
        raise RuleError("{source}: a trigger preset must be a YAML mapping", source=source)
    try:
        ts = TriggerSet.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise RuleError("{source}: {error}", source=source, error="; ".join(parts)) from None
    validate_triggers(ts, library, source)
    return ts


def load_triggers(name_or_path: str | Path = "seed") -> TriggerSet:
    """Load the shipped preset ('seed') or a YAML file, fully validated (raises RuleError)."""
    text = str(name_or_path)
    path = PRESET_DIR / f"{text}.yaml" if text in PRESETS else Path(text)
    if not path.exists():
        raise RuleError(
            "trigger preset {preset!r} not found: use 'seed' or a YAML file path", preset=text
        )
    st = path.stat()
    return _cached(str(path.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _cached(path_text: str, _mtime: int, _size: int) -> TriggerSet:
    path = Path(path_text)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError("{path}: invalid YAML: {error}", path=path, error=str(exc)) from None
    return parse_triggers(data, source=path.name)
