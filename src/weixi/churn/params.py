"""Typed hyper-parameters of the churn models, loaded from YAML (``params.yaml`` ships the defaults)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weixi.errors import ConfigError

DEFAULT_PARAMS = Path(__file__).with_name("params.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LightGBMParams(_Strict):
    """LightGBM booster settings (names as in LightGBM)."""

    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    max_depth: int = Field(-1, ge=-1)  # -1: no limit; a small depth also makes scoring faster
    min_data_in_leaf: int = Field(20, ge=1)
    feature_fraction: float = Field(1.0, gt=0, le=1)
    bagging_fraction: float = Field(1.0, gt=0, le=1)
    bagging_freq: int = Field(0, ge=0)
    lambda_l2: float = Field(0.0, ge=0)
    cat_smooth: float = Field(10.0, ge=0)
    cat_l2: float = Field(10.0, ge=0)
    min_data_per_group: int = Field(100, ge=1)
    num_boost_round: int = Field(100, ge=1)

    def booster_params(self, *, seed: int, num_threads: int) -> dict[str, Any]:
        """Return the dict ``lightgbm.train`` expects (objective binary, quiet, deterministic)."""
        out = self.model_dump(exclude={"num_boost_round"})
        out.update(
            objective="binary",
            verbose=-1,
            seed=seed,
            num_threads=num_threads,
            deterministic=True,
            force_row_wise=True,
        )
        return out


class LogisticParams(_Strict):
    """The logistic-regression baseline: numeric columns spline-expanded, categories one-hot."""

    C: float = Field(0.3, gt=0)
    spline_knots: int = Field(5, ge=2)
    max_iter: int = Field(2000, ge=100)


class TabularParams(_Strict):
    """Generic-table mode (``weixi churn crossval`` / ``fit-eval``)."""

    lightgbm: LightGBMParams = LightGBMParams()
    logistic: LogisticParams = LogisticParams()
    blend_weight: float = Field(0.5, ge=0, le=1)
    max_pairwise_columns: int = Field(6, ge=0)
    folds: int = Field(5, ge=2)
    seed: int = 0
    # from this many training rows on, the booster adapts to the data: bigger trees, its number
    # of trees by early stopping and the blend weight chosen on an inner validation split
    adaptive_min_rows: int = Field(10_000, ge=100)


class MonthlyParams(_Strict):
    """Monthly-snapshot mode (``weixi churn train/score``)."""

    lightgbm: LightGBMParams = LightGBMParams()
    logistic: LogisticParams = LogisticParams()
    horizons: tuple[int, ...] = (1, 2, 3)
    train_months: int = Field(6, ge=1)
    calibration: Literal["isotonic", "platt", "none"] = "isotonic"
    min_isotonic_positives: int = Field(200, ge=0)
    negative_rate: float = Field(1.0, gt=0, le=1)
    # most feature rows read for training (and for the champion/challenger comparison): a larger
    # history trains on a uniform hash sample of its lines, which keeps the churn rate
    max_train_rows: int | None = Field(3_000_000, ge=1000)
    seed: int = 0
    psi_min_rows: int = Field(200, ge=1)
    psi_bins: int = Field(10, ge=2)
    psi_warning: float = Field(0.2, gt=0)
    reasons_top_k: int = Field(3, ge=1)
    # share of the month's lines, riskiest first, whose reasons are stored at scoring time
    reasons_share: float = Field(0.1, ge=0, le=1)
    # every line with P(churn next month) at or above this also gets stored reasons
    reasons_min_p: float = Field(0.3, ge=0, le=1)


class PromotionParams(_Strict):
    """Champion/challenger rule: when a newly trained model replaces the active one.

    Both models score the same rows of the out-of-time month; the differences are
    challenger minus champion, with a paired bootstrap interval at ``confidence``.
    The challenger is promoted when the AUC difference (its interval's lower bound, or the
    point estimate with ``auc_basis: point``) is above ``auc_margin`` and the top-decile lift
    falls by no more than ``lift_tolerance`` (point estimate). With fewer than ``min_churners``
    churners in that month the figures are too noisy to replace a model: the champion stays.
    """

    auc_basis: Literal["lower_bound", "point"] = "lower_bound"
    auc_margin: float = Field(0.0, ge=-0.1, le=0.1)
    lift_tolerance: float = Field(0.1, ge=0)
    min_churners: int = Field(30, ge=1)
    resamples: int = Field(300, ge=50, le=5000)
    confidence: float = Field(0.9, gt=0.5, lt=1)
    seed: int = 0


class RetrainParams(_Strict):
    """When the monthly job trains a challenger (see :mod:`weixi.churn.cadence`): every
    ``every_months`` months, or earlier when the champion's score or a feature drifted (PSI over
    the whole base at least ``score_psi`` / ``feature_psi``; 0 turns a check off) or its realized
    AUC fell ``auc_drop`` below its validation AUC (0: off)."""

    every_months: int = Field(3, ge=1)
    score_psi: float = Field(0.1, ge=0)
    feature_psi: float = Field(0.25, ge=0)
    auc_drop: float = Field(0.03, ge=0)


class ChurnParams(_Strict):
    """All churn hyper-parameters."""

    tabular: TabularParams = TabularParams()
    monthly: MonthlyParams = MonthlyParams()
    promotion: PromotionParams = PromotionParams()
    retrain: RetrainParams = RetrainParams()
    num_threads: int = Field(2, ge=1)
    predict_threads: int = Field(2, ge=1)


def load_params(path: Path | str | None = None) -> ChurnParams:
    """Load and validate churn parameters from YAML (the shipped defaults when ``path`` is None).

    Example:
        >>> load_params().monthly.horizons
        (1, 2, 3)
    """
    if path is None:
        return _default_params()
    return _read(Path(path))


@lru_cache(maxsize=1)
def _default_params() -> ChurnParams:
    return _read(DEFAULT_PARAMS)


def _read(path: Path) -> ChurnParams:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError("churn parameter file not found: {path}", path=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            "churn parameter file {path} is not valid YAML: {error}", path=path, error=str(exc)
        ) from exc
    try:
        return ChurnParams.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            "churn parameter file {path} is invalid: {error}", path=path, error=str(exc)
        ) from exc
