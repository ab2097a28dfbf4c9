"""Champion / challenger: the promotion rule and the words that explain a decision (pure).

A newly trained model is the *challenger*; the active model is the *champion*. Both score the
same rows of the out-of-time month (see :func:`weixi.churn.service.compare_models`), and
:func:`decide` applies :class:`~weixi.churn.params.PromotionParams`. A decision is stored with a
reason code; :func:`describe` turns it into English or Chinese when it is displayed.

Example:
    >>> from weixi.churn.params import PromotionParams
    >>> figures = {"churners": 80, "d_auc": 0.02, "d_auc_lo": 0.01, "d_lift": -0.3}
    >>> decide(figures, PromotionParams(), has_champion=True)
    ('kept', 'lift_worse')
"""

from __future__ import annotations

import json
from typing import Any

from weixi.churn.params import PromotionParams
from weixi.i18n import t

#: Reason code -> decision it goes with.
REASONS: dict[str, str] = {
    "no_champion": "promoted",
    "beats_champion": "promoted",
    "promoted_on_request": "promoted",
    "manual": "promoted",
    "auc_not_better": "kept",
    "lift_worse": "kept",
    "no_oot_month": "kept",
    "too_few_churners": "kept",
    "not_requested": "kept",
}


def short(reason: str, locale: str | None = None) -> str:
    """A few words for a reason code (tables); :func:`describe` gives the full sentence."""
    words = {
        "no_champion": t("first model", locale),
        "beats_champion": t("beat the champion", locale),
        "promoted_on_request": t("promoted on request", locale),
        "manual": t("promoted by hand", locale),
        "auc_not_better": t("AUC not better", locale),
        "lift_worse": t("top-decile lift worse", locale),
        "no_oot_month": t("no out-of-time month", locale),
        "too_few_churners": t("too few churners", locale),
        "not_requested": t("promotion not requested", locale),
    }
    return words.get(reason, reason)


def auc_evidence(figures: dict[str, Any], rule: PromotionParams) -> float:
    """The AUC difference the rule compares with the margin: lower bound or point estimate."""
    return float(figures["d_auc_lo"] if rule.auc_basis == "lower_bound" else figures["d_auc"])


def decide(
    figures: dict[str, Any] | None, rule: PromotionParams, *, has_champion: bool
) -> tuple[str, str]:
    """(decision, reason code) of the promotion rule for a challenger's comparison figures.

    ``figures`` is None when no out-of-time month exists. Decisions are ``promoted`` or
    ``kept`` (the challenger stays a challenger and the champion stays active).
    """
    if not has_champion:
        return "promoted", "no_champion"
    if figures is None:
        return "kept", "no_oot_month"
    if figures["churners"] < rule.min_churners:
        return "kept", "too_few_churners"
    if not auc_evidence(figures, rule) > rule.auc_margin:
        return "kept", "auc_not_better"
    if figures["d_lift"] < -rule.lift_tolerance:
        return "kept", "lift_worse"
    return "promoted", "beats_champion"


def _rule(record: dict[str, Any]) -> PromotionParams:
    raw = record.get("rule")
    if isinstance(raw, str):
        raw = json.loads(raw)
    return PromotionParams.model_validate(raw or {})


def describe(record: dict[str, Any], locale: str | None = None) -> str:
    """One sentence saying why a model was (not) promoted, in ``locale``.

    ``record`` is a row of ``churn_promotions`` (reason, figures, rule, champion, eval month).
    """
    reason = record.get("reason") or ""
    month = record.get("eval_month")
    month_txt = f"{month:%Y-%m}" if hasattr(month, "strftime") else str(month or "")
    champion = record.get("champion") or ""
    if reason == "no_champion":
        return t("First model: there was no champion to compare with.", locale)
    if reason == "no_oot_month":
        return t(
            "No out-of-time month to compare on (a labelled month neither model was trained "
            "on); the champion {champion} stays active.",
            locale,
            champion=champion,
        )
    if reason == "manual":
        return t("Promoted by hand (weixi churn promote).", locale)
    if reason == "promoted_on_request":
        return t("Promoted on request (weixi churn train --promote).", locale)
    if reason == "not_requested":
        return t(
            "Registered without promotion (trained without --challenger or --promote).", locale
        )
    rule = _rule(record)
    basis = t("lower bound", locale) if rule.auc_basis == "lower_bound" else t("estimate", locale)
    if reason == "too_few_churners":
        return t(
            "Only {n} churners in {month}, fewer than {min}: too few to replace {champion}.",
            locale,
            n=record["churners"],
            month=month_txt,
            min=rule.min_churners,
            champion=champion,
        )
    if reason == "beats_champion":
        return t(
            "Beats {champion} on {month}: AUC {d_auc:+.4f} ({basis} {evidence:+.4f} > margin "
            "{margin:+.4f}), top-decile lift {d_lift:+.2f}.",
            locale,
            champion=champion,
            month=month_txt,
            d_auc=record["d_auc"],
            basis=basis,
            evidence=auc_evidence(record, rule),
            margin=rule.auc_margin,
            d_lift=record["d_lift"],
        )
    if reason == "auc_not_better":
        return t(
            "Not better than {champion} on {month}: AUC {d_auc:+.4f}, {basis} {evidence:+.4f} "
            "is not above the margin {margin:+.4f}.",
            locale,
            champion=champion,
            month=month_txt,
            d_auc=record["d_auc"],
            basis=basis,
            evidence=auc_evidence(record, rule),
            margin=rule.auc_margin,
        )
    if reason == "lift_worse":
        return t(
            "Top-decile lift on {month} falls by {drop:.2f} against {champion}, more than the "
            "tolerance {tol:.2f}.",
            locale,
            champion=champion,
            month=month_txt,
            drop=-record["d_lift"],
            tol=rule.lift_tolerance,
        )
    return reason
