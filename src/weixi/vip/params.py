"""Typed parameters of the VIP and enterprise-group programmes, loaded from YAML."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from weixi.errors import ConfigError

DEFAULT_PARAMS = Path(__file__).with_name("params.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    """A bilingual label."""

    en: str
    zh: str

    def get(self, locale: str) -> str:
        """Return the label in ``locale`` (``zh-CN`` or English)."""
        return self.zh if locale.startswith("zh") else self.en


class Tier(_Strict):
    """One VIP tier (the threshold lives in the segment preset)."""

    code: str
    label: Label
    points_per_yuan: float = Field(ge=0)


class Offer(_Strict):
    """Something points are redeemed for."""

    code: str
    label: Label
    points: int = Field(gt=0)


class Holiday(_Strict):
    """A care date: ``MM-DD`` every year or ``YYYY-MM-DD`` once."""

    date: str
    label: Label

    @field_validator("date")
    @classmethod
    def _date(cls, v: str) -> str:
        if not re.fullmatch(r"(\d{4}-)?\d{2}-\d{2}", v):
            raise ValueError("holiday date must be MM-DD or YYYY-MM-DD")
        return v


class Care(_Strict):
    """The care calendar (关怀日历)."""

    birthday: bool = True
    tier_anniversary: bool = True
    holidays: tuple[Holiday, ...] = ()


class GroupAlert(_Strict):
    """When a group's members leave together."""

    member_share: float = Field(0.2, gt=0, le=1)
    key_persons: int = Field(2, ge=1)
    min_members: int = Field(5, ge=1)


class GroupCampaign(_Strict):
    """The group retention campaign (集团客户维系活动): candidates, control, the group task.

    Candidates are the month's alerted groups plus the groups whose live members' mean churn
    score is among the ``top_n`` highest or at least ``min_mean_p_churn`` (groups of at least
    ``min_members`` live members). Whole groups go to control (``control_share``).
    """

    name: Label = Label(en="Group retention", zh="集团客户维系")
    top_n: int = Field(20, ge=0)
    min_mean_p_churn: float | None = Field(0.3, gt=0, le=1)
    min_members: int = Field(5, ge=1)
    control_share: float = Field(0.2, ge=0, lt=1)
    deadline_days: int = Field(14, ge=1)
    #: Key-person roles in the order the task's line is chosen (the first one reachable).
    key_roles: tuple[str, ...] = ("decision_maker", "contact", "finance")
    reasons: dict[str, Label] = {
        "alert": Label(en="Members leaving together", zh="集团成员异动"),
        "top_risk": Label(en="Among the riskiest groups", zh="离网风险最高的集团"),
        "high_risk": Label(en="High mean churn risk", zh="成员平均离网风险高"),
    }


class Books(_Strict):
    """Ratios of the account managers' books of business."""

    vip_per_manager: int = Field(400, ge=1)
    groups_per_manager: int = Field(50, ge=1)


class VipParams(_Strict):
    """Everything the programmes read from ``params.yaml``."""

    tiers: tuple[Tier, ...]
    offers: tuple[Offer, ...] = ()
    care: Care = Care()
    group_alert: GroupAlert = GroupAlert()
    group_campaign: GroupCampaign = GroupCampaign()
    books: Books = Books()

    def tier_rank(self) -> dict[str, int]:
        """Return ``{tier code: rank}``; ``none`` is 0, the lowest tier 1."""
        return {"none": 0, **{t.code: i + 1 for i, t in enumerate(self.tiers)}}

    def offer(self, code: str) -> Offer:
        """Return the offer ``code`` or raise ConfigError."""
        for o in self.offers:
            if o.code == code:
                return o
        raise ConfigError(
            "unknown offer {code!r}; known: {known}",
            code=code,
            known=", ".join(o.code for o in self.offers),
        )


def load_params(path: str | Path | None = None) -> VipParams:
    """Load and validate the programme parameters (the shipped defaults when ``path`` is None)."""
    return _load(str(path or DEFAULT_PARAMS))


@lru_cache(maxsize=8)
def _load(path: str) -> VipParams:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return VipParams.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError("VIP parameters {path}: {error}", path=path, error=str(exc)) from exc
