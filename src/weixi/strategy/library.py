"""Load, validate and persist the strategy library (YAML ⇄ :class:`StrategyLibrary`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from weixi.config import get_settings
from weixi.errors import ConfigError, RuleError
from weixi.strategy.schemas import StrategyLibrary

PRESETS = ("seed",)


def parse_library(data: object, source: str = "<library>") -> StrategyLibrary:
    """Validate a parsed YAML document as a strategy library; errors name the bad key."""
    if not isinstance(data, dict):
        raise RuleError("{source}: a strategy library must be a YAML mapping", source=source)
    try:
        return StrategyLibrary.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:8]:
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"{loc}: {err['msg']}")
        raise RuleError(
            "{source}: invalid strategy library — {errors}", source=source, errors="; ".join(lines)
        ) from None


def load_preset(name: str = "seed") -> StrategyLibrary:
    """Load a shipped preset (``seed``: the seeds' matching matrix)."""
    if name not in PRESETS:
        raise ConfigError(
            "unknown strategy preset {name!r}: use one of {presets}",
            name=name,
            presets=list(PRESETS),
        )
    text = resources.files("weixi.strategy").joinpath(f"presets/{name}.yaml").read_text("utf-8")
    return parse_library(yaml.safe_load(text), f"preset {name}")


def load_library(path: Path | str | None = None) -> StrategyLibrary:
    """Load ``path``, else ``$WEIXI_HOME/strategy.yaml`` if present, else the seed preset.

    Example:
        >>> load_library().name
        'seed'
    """
    if path is None:
        candidate = get_settings().home / "strategy.yaml"
        if not candidate.exists():
            return load_preset("seed")
        path = candidate
    p = Path(path)
    if p.suffix == "" and str(path) in PRESETS:
        return load_preset(str(path))
    if not p.exists():
        raise ConfigError("strategy library file {path} does not exist", path=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError("{path}: not valid YAML: {error}", path=str(p), error=str(exc)) from exc
    return parse_library(data, str(p))


def dump_library(lib: StrategyLibrary) -> str:
    """Serialize a library back to YAML (round-trips through :func:`parse_library`)."""
    data = lib.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
