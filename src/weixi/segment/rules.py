"""The declarative segmentation rule language: typed presets loaded from YAML.

A preset (``RuleSet``) holds, in order:

* ``params`` — named numbers usable in every condition (thresholds live here or inline);
* ``exclusions`` — ordered rules; the first one a subscriber matches removes it from targeting;
* ``flags`` — named booleans computed by threshold or percentile (the VAD "high" flags);
* ``dimensions`` — each an ordered list of levels (per line type where the seed differs),
  each level a condition; the first matching level wins, ``else: true`` catches the rest;
* ``priority`` — the order in which the 36 stability groups are worked, with an urgency colour;
* ``clusters`` — k-means settings.

Conditions are small Python-like expressions over canonical fields, derived features, params,
flags and earlier dimensions (``arpu_3m >= 80 and not snapshot_midhigh``); ``weixi.segment.exprs``
compiles them to ibis. Loading validates structure here and names/types in ``exprs``.

Example:
    >>> rs = load_preset("seed")
    >>> [d.key for d in rs.dimensions][:3]
    ['a', 'b', 'c']
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weixi.errors import RuleError

PRESET_DIR = Path(__file__).parent / "presets"
PRESETS = ("seed", "modern")

#: Output columns of the ``segments`` table filled by dimensions (the data contract).
DIMENSION_KEYS = (
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "vad",
    "vip_tier",
    "group_class",
    "value_class",
    "relationship",
    "credit",
    "satisfaction_band",
)
STABILITY_KEYS = ("a", "b", "c")
NEEDS_KEYS = {"mobile": ("d", "e", "f"), "broadband": ("g", "h", "i")}
URGENCIES = ("red", "blue", "green")


class Label(BaseModel):
    """A bilingual label."""

    model_config = ConfigDict(extra="forbid")
    en: str
    zh: str

    def get(self, locale: str | None) -> str:
        """Return the label in ``locale`` ('zh…' gives Chinese)."""
        return self.zh if (locale or "en").lower().startswith("zh") else self.en


class Level(BaseModel):
    """One level of a dimension: a code and the condition that puts a subscriber there."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    code: str
    label: Label
    when: str | None = None
    is_else: bool = Field(False, alias="else")

    @model_validator(mode="after")
    def _one_of(self) -> Level:
        if self.is_else and self.when:
            raise ValueError(f"level {self.code}: give either 'when' or 'else: true', not both")
        if not self.is_else and not self.when:
            raise ValueError(f"level {self.code}: needs a 'when' condition or 'else: true'")
        return self


class Dimension(BaseModel):
    """A dimension: ordered levels, optionally different per line type."""

    model_config = ConfigDict(extra="forbid")
    key: str
    label: Label
    where: str | None = None  # rows outside get NULL
    levels: list[Level] | None = None
    by_line_type: dict[str, list[Level]] | None = None
    allow_overlap: bool = False  # first match wins silently when True

    @model_validator(mode="after")
    def _shape(self) -> Dimension:
        if self.key not in DIMENSION_KEYS:
            raise ValueError(
                f"dimension key {self.key!r} is not a segments column; use one of "
                + ", ".join(DIMENSION_KEYS)
            )
        if (self.levels is None) == (self.by_line_type is None):
            raise ValueError(
                f"dimension {self.key}: give exactly one of 'levels' or 'by_line_type'"
            )
        for name, levels in self.variants():
            if not levels:
                raise ValueError(f"dimension {self.key} ({name}): no levels")
            codes = [lv.code for lv in levels]
            dup = {c for c in codes if codes.count(c) > 1}
            if dup:
                raise ValueError(
                    f"dimension {self.key} ({name}): duplicate level codes {sorted(dup)}"
                )
            elses = [i for i, lv in enumerate(levels) if lv.is_else]
            if len(elses) > 1 or (elses and elses[0] != len(levels) - 1):
                raise ValueError(
                    f"dimension {self.key} ({name}): 'else: true' must be the single last level"
                )
        return self

    def variants(self) -> list[tuple[str, list[Level]]]:
        """Return ``[(line_type or '*', levels)]``."""
        if self.levels is not None:
            return [("*", self.levels)]
        return list((self.by_line_type or {}).items())

    def codes(self) -> list[str]:
        """All level codes in first-seen order."""
        seen: list[str] = []
        for _, levels in self.variants():
            for lv in levels:
                if lv.code not in seen:
                    seen.append(lv.code)
        return seen

    def level_label(self, code: str) -> Label | None:
        """The label of level ``code``."""
        for _, levels in self.variants():
            for lv in levels:
                if lv.code == code:
                    return lv.label
        return None


class Exclusion(BaseModel):
    """An exclusion rule (剔除): matching subscribers are kept in reports but not targeted."""

    model_config = ConfigDict(extra="forbid")
    key: str
    label: Label
    when: str


class Flag(BaseModel):
    """A named boolean 'high' flag: ``metric >= cut`` (threshold) or percent rank >= cut."""

    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str
    mode: Literal["threshold", "percentile"] = "percentile"
    cut: float
    among: str | None = None  # population of the percentile (and of the flag)

    @model_validator(mode="after")
    def _cut(self) -> Flag:
        if self.mode == "percentile" and not 0 < self.cut < 1:
            raise ValueError(f"flag {self.name}: a percentile cut must be between 0 and 1")
        return self


class PriorityRule(BaseModel):
    """Stability groups matching ``groups`` (patterns like ``A1-*-*``) get ``urgency``."""

    model_config = ConfigDict(extra="forbid")
    groups: list[str] | str
    urgency: Literal["red", "blue", "green"]

    def patterns(self) -> list[str]:
        """The patterns as a list."""
        return [self.groups] if isinstance(self.groups, str) else list(self.groups)


class ClusterParams(BaseModel):
    """k-means settings: standardized log1p features fitted on a seeded sample."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(6, ge=2, le=30)
    sample: int = Field(20000, ge=100)
    seed: int = 0
    features: list[str] = [
        "arpu_3m",
        "voice_minutes_3m",
        "data_mb_3m",
        "vas_3m",
        "bb_hours_3m",
        "tenure_months",
    ]


class RuleSet(BaseModel):
    """A whole segmentation preset."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: Label
    params: dict[str, float] = {}
    exclusions: list[Exclusion]
    flags: list[Flag] = []
    dimensions: list[Dimension]
    priority: list[PriorityRule]
    clusters: ClusterParams = ClusterParams()

    @model_validator(mode="after")
    def _complete(self) -> RuleSet:
        keys = [d.key for d in self.dimensions]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"dimensions defined twice: {sorted(dup)}")
        missing = [k for k in DIMENSION_KEYS if k not in keys]
        if missing:
            raise ValueError(f"missing dimensions: {missing} (every segments column needs rules)")
        ex = [e.key for e in self.exclusions]
        if len(set(ex)) != len(ex):
            raise ValueError("exclusion keys must be unique")
        self.priority_order()  # raises when the 36 groups are not all covered
        return self

    def dimension(self, key: str) -> Dimension:
        """The dimension with ``key``."""
        for d in self.dimensions:
            if d.key == key:
                return d
        raise RuleError("no dimension {key!r} in preset {preset}", key=key, preset=self.name)

    def stability_groups(self) -> list[str]:
        """Every A-B-C combination in level order (3 × 4 × 3 = 36 with the seed levels)."""
        parts = [sorted(self.dimension(k).codes()) for k in STABILITY_KEYS]
        return ["-".join(p) for p in itertools.product(*parts)]

    def priority_order(self) -> list[tuple[str, str]]:
        """Return ``[(stability_group, urgency)]`` in working order (rank = index + 1).

        Each rule takes, in natural order, the groups matching its patterns that no earlier rule
        took. Every group must be taken, so a preset cannot silently drop a group.
        """
        groups = self.stability_groups()
        out: list[tuple[str, str]] = []
        taken: set[str] = set()
        for rule in self.priority:
            for g in groups:
                if g in taken:
                    continue
                if any(fnmatch.fnmatchcase(g, p) for p in rule.patterns()):
                    out.append((g, rule.urgency))
                    taken.add(g)
        missing = [g for g in groups if g not in taken]
        if missing:
            raise ValueError(
                f"priority does not cover {len(missing)} stability groups: {missing[:6]}"
                + ("…" if len(missing) > 6 else "")
                + " — add a rule such as {groups: '*-*-*', urgency: green}"
            )
        return out


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_preset(data: dict, source: str = "<dict>") -> RuleSet:
    """Validate a preset given as a dict (the parsed YAML); names are checked by ``exprs``."""
    if not isinstance(data, dict):
        raise RuleError("{source}: a preset must be a YAML mapping", source=source)
    try:
        rs = RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RuleError("{source}: {error}", source=source, error=_format_validation(exc)) from None
    from weixi.segment.exprs import validate_ruleset

    validate_ruleset(rs, source=source)
    return rs


def load_preset(name_or_path: str | Path = "seed") -> RuleSet:
    """Load a shipped preset ('seed', 'modern') or a YAML file, fully validated.

    Raises:
        RuleError: unknown preset, YAML syntax error, missing parts, unknown field names,
            wrong types; the message names the file, the dimension and the level.
    """
    text = str(name_or_path)
    path = PRESET_DIR / f"{text}.yaml" if text in PRESETS else Path(text)
    if not path.exists():
        raise RuleError(
            "preset {text!r} not found: use one of {presets} or a YAML file path",
            text=text,
            presets=", ".join(PRESETS),
        )
    stat = path.stat()
    # validated presets are cached per file version (validation compiles every rule)
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, text in PRESETS)


@functools.lru_cache(maxsize=16)
def _load_cached(path_text: str, _mtime: int, _size: int, shipped: bool) -> RuleSet:
    path = Path(path_text)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError("{path}: invalid YAML: {error}", path=path, error=str(exc)) from None
    return parse_preset(data, source=path.name if shipped else str(path))
