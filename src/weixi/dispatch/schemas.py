"""Typed campaign definition (营销活动方案): target groups, strategies, period, budget, channels,
control share, capacity, contact policy and holdouts. Loaded from YAML, validated on load.

Example:
    >>> spec = CampaignSpec.model_validate({"key": "c1", "name": {"en": "Q1", "zh": "一季度"},
    ...     "period_start": "2026-01-01", "period_end": "2026-03-01", "budget": 50000})
    >>> spec.control_share, spec.capacity.agent_contacts_per_day
    (0.1, 85.0)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weixi.errors import ConfigError
from weixi.strategy.schemas import CHANNELS, Condition, Text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Capacity(_Strict):
    """Channel capacity per branch for the plan's month (SPEC.md "Dispatch, execution, capacity").

    With a ``staff`` reference table the head count per branch × channel comes from it; without
    one, pseudo staff are generated: ``pseudo_agents_per_branch`` outbound agents,
    ``pseudo_store_staff_per_branch`` store staff and account managers at 1 per 400 VIP and 1 per
    50 enterprise-group customers of the branch.
    """

    working_days: int = Field(22, ge=1, le=31)
    agent_contacts_per_day: float = Field(85.0, gt=0, description="seed: 80–90 effective/day")
    am_vip_per_manager: int = Field(400, gt=0)
    am_group_per_manager: int = Field(50, gt=0)
    am_contacts_per_day: float = Field(6.0, gt=0, description="retention contacts per AM per day")
    store_contacts_per_day: float = Field(15.0, gt=0, description="per store staff member")
    pseudo_agents_per_branch: int = Field(4, ge=0)
    pseudo_store_staff_per_branch: int = Field(3, ge=0)
    sms_per_branch: float | None = None  # None: unlimited
    app_per_branch: float | None = None
    campaign_share: float = Field(1.0, gt=0, le=1, description="share of channel time for us")
    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="branch → channel → contacts this month (replaces)"
    )


class ContactPolicy(_Strict):
    """Who may not be contacted, and how often anyone may be."""

    max_contacts_per_month: int = Field(2, ge=0, description="across all campaigns")
    cooldown_days: int = Field(30, ge=0, description="no contact this long after a refusal")
    suppress_do_not_disturb: bool = True
    suppress_credit_lists: list[str] = ["red", "black"]
    require_opt_in: bool = Field(
        False, description="SMS/app (needs_consent channels) only with an explicit opt-in"
    )


class Holdout(_Strict):
    """The global long-term holdout (never treated by any campaign while the salt stays)."""

    share: float = Field(0.02, ge=0, lt=1)
    salt: str = "weixi-global-holdout"


class Learning(_Strict):
    """When and how the plan learns from measured effect (the closed loop, SPEC.md step 10).

    Effect precedence in matching, per subscriber × action: the uplift model's per-customer
    estimate (once the evidence thresholds below hold) > the segment × action posterior of the
    plan adjustment (when that cell has ``min_segment_treated`` treated customers) > the offer's
    configured uplift > the action's. Learned values are in the library's unit (share of
    would-be churners kept when the action reaches them) and clipped to
    ``[uplift_min, uplift_max]``.
    """

    enabled: bool = Field(True, description="use learned effects once the evidence suffices")
    min_months: int | None = Field(
        None,
        ge=1,
        description="evaluated campaign months before training; default 1 for the response "
        "learner (its reductions are shrunk towards the library, so one month's thin evidence "
        "moves them only as far as it reaches, while the take rates and reach it learns from "
        "that month are used at once), 2 for the per-customer t/x learners",
    )
    min_treated: int = Field(1000, ge=0, description="treated customers over those months")
    min_control: int = Field(200, ge=0, description="randomized control customers")
    min_churners: int = Field(30, ge=0, description="churn events among treated and control")
    min_treated_per_action: int = Field(
        200, ge=20, description="below this an action keeps its configured effect"
    )
    min_control_per_action: int = Field(
        100,
        ge=20,
        description="an action learns only from this many of its own randomized controls "
        "(customers planned for it and held back); below, it keeps its configured effect",
    )
    min_segment_treated: int = Field(
        100, ge=1, description="segment × action posterior used from this many treated"
    )
    shrink_treated: int = Field(
        1000,
        ge=0,
        description="learned per-customer uplift blended with the configured one, weight "
        "n / (n + shrink_treated) for an action with n treated customers",
    )
    uplift_min: float = Field(0.0, ge=0, le=1)
    uplift_max: float = Field(0.9, gt=0, le=1)
    p_churn_floor: float = Field(
        0.01, gt=0, lt=1, description="churn probability floor when converting to the unit"
    )
    learner: Literal["response", "t", "x"] = Field(
        "response",
        description="response: learned take rate × each action's measured churn reduction "
        "(robust at campaign sizes); t/x: per-customer T-/X-learner on churn outcomes",
    )
    explore: bool | None = Field(
        None,
        description="Thompson sampling: each segment's action drawn with its p_best share; "
        "null (default) = on when the plan chooses by the library's priority, off when it "
        "chooses by per-customer value (an action without evidence is then tried through its "
        "configured effect, and the draw would override the customers' values)",
    )
    explore_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="lines of a segment that try the Thompson draw while its evidence is even "
        "(more as one action's lead firms up)",
    )
    prior_strength: float = Field(200.0, gt=0, description="pseudo-customers behind config")
    acceptance: bool = Field(
        True, description="learn each customer's take rate from the reached customers' answers"
    )
    min_contacted_per_action: int = Field(
        200,
        ge=20,
        description="reached customers with an answer before an action's take rate is learned",
    )
    counterfactual: Literal["model", "control"] = Field(
        "model",
        description="response learner: what the treated would have churned without the offer — "
        "the churn scores recalibrated on the action's controls (shrunk towards all actions'), "
        "or the action's own controls alone",
    )

    reduction_by: str | None = Field(
        None,
        description="response learner: also estimate each action's churn reduction per level "
        "of segment dimensions, each level shrunk towards the action's reduction — 'library': "
        "each action's own learn_by of the strategy library (the needs it addresses); a "
        "dimension (e.g. a, the binding level): that one for every action; null (default): "
        "one reduction per action",
    )

    def level_dims(self, library: Any) -> dict[str, list[str]]:
        """The segment dimensions each action's reduction is learned per level of (see
        ``reduction_by``): the library's ``learn_by``, one dimension for all, or none."""
        if self.reduction_by is None:
            return {}
        if self.reduction_by == "library":
            return {a.key: list(a.learn_by) for a in library.actions if a.learn_by}
        return {a.key: [self.reduction_by] for a in library.actions}

    def explores(self, action_choice: str) -> bool:
        """Whether a plan choosing its actions by ``action_choice`` takes the Thompson draw
        (``explore``, or its default for that choice)."""
        return self.explore if self.explore is not None else action_choice != "value"

    @property
    def months_needed(self) -> int:
        """Evaluated months before the uplift step trains (``min_months`` or its default)."""
        if self.min_months is not None:
            return self.min_months
        return 1 if self.learner == "response" else 2

    @model_validator(mode="after")
    def _check(self) -> Learning:
        if self.uplift_max < self.uplift_min:
            raise ValueError("learning.uplift_max is below learning.uplift_min")
        if self.reduction_by not in (None, "library"):
            from weixi.segment.exprs import not_dimensions

            if not_dimensions([self.reduction_by]):
                raise ValueError(
                    f"learning.reduction_by {self.reduction_by!r} is not a segment dimension "
                    "(e.g. a, b, c, stability_group, value_class), 'library' or null"
                )
        return self


class ControlSizing(_Strict):
    """Size the randomized control by power: the share that measures the retention lift to
    ``half_width`` (95 % interval half-width, absolute) at the plan's volume and churn rate."""

    auto: bool = Field(
        False, description="plan with the recommended share instead of control_share"
    )
    half_width: float = Field(
        0.005, gt=0, lt=0.5, description="target CI half-width (0.005=±0.5pp)"
    )
    level: float = Field(0.95, gt=0.5, lt=1)
    min_share: float = Field(0.02, gt=0, lt=1)
    max_share: float = Field(0.10, gt=0, lt=1)
    step: float = Field(
        0.005, gt=0, lt=1, description="the share is rounded up to this step (steadier controls)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> ControlSizing:
        if self.min_share > self.max_share:
            raise ValueError("control_sizing.min_share is above max_share")
        return self


class CampaignSpec(_Strict):
    """A campaign; every field but key, name and period has a default."""

    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: Text
    period_start: dt.date
    period_end: dt.date
    budget: float | None = Field(None, ge=0, description="yuan; None = no budget limit")
    channels: list[str] = list(CHANNELS)
    actions: list[str] | None = None  # strategies; None = every action of the library
    target: list[Condition] = Field(
        default_factory=list, description="target groups over strategy_matches columns"
    )
    max_priority_rank: int | None = Field(None, ge=1, description="work groups up to this rank")
    control_share: float = Field(0.1, ge=0, lt=1)
    control_sizing: ControlSizing = ControlSizing()
    salt: str | None = None  # None: the campaign key
    branch_quotas: dict[str, int] = Field(default_factory=dict, description="max list size")
    branch_budgets: dict[str, float] = Field(default_factory=dict)
    min_value: float = Field(0.0, description="expected net value a contact must exceed")
    must_dispatch_a1: bool = True
    echannel_tasks: bool = Field(
        False,
        description="also write tasks for SMS/app customers (no person); they are always in "
        "plan_assignments, from which the gateway batch is exported",
    )
    capacity: Capacity = Capacity()
    policy: ContactPolicy = ContactPolicy()
    holdout: Holdout = Holdout()
    learning: Learning = Learning()
    solver: Literal["auto", "lp", "greedy", "priority"] = Field(
        "auto",
        description="lp/greedy/auto: the most expected value; priority: the seed's rule of thumb "
        "(A1 first, then priority group, by ARPU inside a group, until capacity or budget ends)",
    )
    match_scope: Literal["rules", "all"] = Field(
        "rules",
        description="candidate actions: the library's matching rules, or every action of the "
        "line type whose offer fits (for plans that choose by learned value)",
    )
    action_choice: Literal["priority", "value"] = Field(
        "priority",
        description="a household's action: the seed's category priority, or the highest value",
    )
    max_lp_cells: int = Field(150_000, gt=0, description="above this, use the greedy fallback")
    value_bucket_ratio: float = Field(
        1.15, gt=1, le=3, description="customers whose values differ less share a cell"
    )

    @model_validator(mode="after")
    def _check(self) -> CampaignSpec:
        bad = [c for c in self.channels if c not in CHANNELS]
        if bad:
            raise ValueError(f"unknown channels {bad}; use {list(CHANNELS)}")
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self

    @property
    def control_salt(self) -> str:
        """Salt of this campaign's control group (re-salt to draw a new control)."""
        return self.salt or self.key

    def covers(self, month: dt.date) -> bool:
        """True when ``month`` lies inside the campaign period."""
        return self.period_start.replace(day=1) <= month <= self.period_end


def default_campaign(month: dt.date) -> CampaignSpec:
    """The campaign used by ``weixi plan`` without ``--campaign``: everything, one month."""
    return CampaignSpec(
        key=f"retention-{month:%Y-%m}",
        name=Text(en=f"Monthly retention {month:%Y-%m}", zh=f"{month:%Y年%m月}客户维系"),
        period_start=month,
        period_end=month,
        # one salt for every month: a customer stays in (or out of) the control month to month
        salt="retention",
        control_sizing=ControlSizing(auto=True),
    )


def load_campaign(path: Path | str) -> CampaignSpec:
    """Load and validate a campaign YAML file; errors name the bad key and say what to fix."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("campaign file {path} does not exist", path=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        return CampaignSpec.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError("{path}: not valid YAML: {error}", path=str(p), error=str(exc)) from exc
    except ValidationError as exc:
        msgs = "; ".join(
            ".".join(str(x) for x in e["loc"]) + ": " + e["msg"] for e in exc.errors()[:8]
        )
        raise ConfigError("{path}: invalid campaign — {errors}", path=str(p), errors=msgs) from None
