"""When the monthly job trains a new churn model: on a cadence, or when the champion decays.

Training the three horizon models on six labelled months is the monthly job's most expensive
step, and a model trained last month is rarely beaten by one trained this month. The job
therefore trains a challenger when one of these holds (``retrain`` in the churn parameters):

* ``no_model`` — there is no champion yet;
* ``age`` — the newest trained version (champion or challenger) is ``every_months`` or more
  months older than this month;
* ``score_drift`` — the champion's score distribution moved: the PSI of its score over the
  whole base, in the last month it scored, is at least ``score_psi``;
* ``feature_drift`` — some feature's PSI over the whole base in that month is at least
  ``feature_psi``;
* ``auc_drop`` — the champion's realized AUC on the newest labelled month (its own scores of
  last month against who actually left) fell more than ``auc_drop`` below the AUC it had on its
  validation month when it was trained, beyond noise: the upper end of the realized AUC's
  one-sided 95 % interval (Hanley–McNeil standard error) is below ``validation − auc_drop``
  (needs ``promotion.min_churners`` churners). With a few dozen churners a month the AUC
  moves by ±0.03 on its own; with a province's thousands the rule is the plain drop.

Otherwise the champion scores on, and the step says why it was not due, with the figures.
A due check never promotes anything: a trained challenger still goes through the promotion
rule (:func:`weixi.churn.service.promote_by_rule`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import numpy as np
from sklearn.metrics import roc_auc_score

from weixi.churn import drift, registry
from weixi.churn.params import ChurnParams
from weixi.store.months import add_months, churn_label_sql

REASONS = ("no_model", "age", "score_drift", "feature_drift", "auc_drop")


def _months_between(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def realized_auc(
    con: duckdb.DuckDBPyConnection, *, version: str, month: dt.date
) -> tuple[float | None, int, int]:
    """(AUC, lines, churners) of ``version``'s own scores of ``month`` against the churn label
    (gone or cancelled the month after); AUC None when the month has no scores of that version
    or only one class."""
    rows = con.execute(
        f"""SELECT c.p_churn, l.churned::INTEGER AS churned FROM churn_scores c
            JOIN ({churn_label_sql(month)}) l USING (month, subscriber_id)
            WHERE c.month = ? AND c.model_version = ?""",
        [month, version],
    ).fetchnumpy()
    p = np.asarray(rows["p_churn"], dtype=float)
    y = np.asarray(rows["churned"], dtype=int)
    churners = int(y.sum())
    if len(y) == 0 or churners in (0, len(y)):
        return None, len(y), churners
    return float(roc_auc_score(y, p)), len(y), churners


def auc_se(auc: float, churners: int, stayers: int) -> float:
    """Hanley–McNeil standard error of an AUC over ``churners`` positives and ``stayers``.

    >>> round(auc_se(0.8, 100, 900), 4)
    0.0272
    """
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (churners - 1) * (q1 - auc * auc) + (stayers - 1) * (q2 - auc * auc)
    ) / (churners * stayers)
    return math.sqrt(max(var, 0.0))


def retrain_due(
    con: duckdb.DuckDBPyConnection, *, month: dt.date, params: ChurnParams
) -> dict[str, Any]:
    """Whether the monthly job of ``month`` should train a challenger, and why.

    Returns ``{"due": bool, "reasons": [codes], "figures": {...}}``; the figures name the
    champion, the newest model's age in months, the score and largest feature PSI of the last
    scored month, and the champion's realized and validation AUC where they could be measured.
    """
    rt = params.retrain
    champion = registry.get_active(con)
    if champion is None:
        return {"due": True, "reasons": ["no_model"], "figures": {}}
    newest = con.execute("SELECT max(as_of_month) FROM churn_models").fetchone()[0]
    age = _months_between(newest, month)
    figures: dict[str, Any] = {
        "champion": champion,
        "newest_as_of": newest.strftime("%Y-%m"),
        "age_months": age,
        "every_months": rt.every_months,
    }
    reasons = []
    if age >= rt.every_months:
        reasons.append("age")

    last = con.execute(
        "SELECT max(month) FROM churn_drift WHERE model_version = ? AND month < ?",
        [champion, month],
    ).fetchone()[0]
    if last is not None:
        score_psi, feature_psi, feature = con.execute(
            """SELECT max(psi) FILTER (WHERE feature = ?),
                      max(psi) FILTER (WHERE feature <> ?),
                      arg_max(feature, psi) FILTER (WHERE feature <> ?)
               FROM churn_drift WHERE model_version = ? AND month = ? AND branch_id = ?""",
            [drift.SCORE, drift.SCORE, drift.SCORE, champion, last, drift.ALL],
        ).fetchone()
        figures |= {
            "drift_month": last.strftime("%Y-%m"),
            "score_psi": None if score_psi is None else round(float(score_psi), 4),
            "max_feature_psi": None if feature_psi is None else round(float(feature_psi), 4),
            "max_psi_feature": feature,
        }
        if rt.score_psi > 0 and score_psi is not None and score_psi >= rt.score_psi:
            reasons.append("score_drift")
        if rt.feature_psi > 0 and feature_psi is not None and feature_psi >= rt.feature_psi:
            reasons.append("feature_drift")

    if rt.auc_drop > 0:
        prev = add_months(month, -1)
        auc, n, churners = realized_auc(con, version=champion, month=prev)
        _, _, meta = registry.load_meta(con, champion)
        validation = (meta.get("metrics", {}).get("h1_holdout_raw") or {}).get("auc")
        if auc is not None:
            upper = auc + 1.645 * auc_se(auc, churners, n - churners)
            figures |= {
                "realized_month": prev.strftime("%Y-%m"),
                "realized_auc": round(auc, 4),
                "realized_auc_upper": round(upper, 4),
                "realized_churners": churners,
            }
        if validation is not None and not math.isnan(validation):
            figures["validation_auc"] = round(float(validation), 4)
        if (
            auc is not None
            and "validation_auc" in figures
            and churners >= params.promotion.min_churners
            and figures["realized_auc_upper"] < figures["validation_auc"] - rt.auc_drop
        ):
            reasons.append("auc_drop")
    return {"due": bool(reasons), "reasons": reasons, "figures": figures}


def describe(check: dict[str, Any], loc: str = "en") -> str:
    """One sentence on a due check, in ``loc``."""
    from weixi.i18n import t

    f = check.get("figures", {})
    parts = []
    for code in check.get("reasons") or []:
        parts.append(
            {
                "no_model": t("no champion yet", loc),
                "age": t(
                    "the newest model is {age} months old (retrain every {every})",
                    loc,
                    age=f.get("age_months"),
                    every=f.get("every_months"),
                ),
                "score_drift": t(
                    "the score drifted (PSI {psi} in {month})",
                    loc,
                    psi=f.get("score_psi"),
                    month=f.get("drift_month"),
                ),
                "feature_drift": t(
                    "{feature} drifted (PSI {psi} in {month})",
                    loc,
                    feature=f.get("max_psi_feature"),
                    psi=f.get("max_feature_psi"),
                    month=f.get("drift_month"),
                ),
                "auc_drop": t(
                    "the champion's AUC fell to {auc} on {month} (validation {validation})",
                    loc,
                    auc=f.get("realized_auc"),
                    month=f.get("realized_month"),
                    validation=f.get("validation_auc"),
                ),
            }[code]
        )
    if parts:
        return t("retrain: {why}", loc, why="; ".join(parts))
    auc = (
        t(
            ", AUC {auc} on {month} (validation {validation})",
            loc,
            auc=f.get("realized_auc"),
            month=f.get("realized_month"),
            validation=f.get("validation_auc"),
        )
        if f.get("realized_auc") is not None
        else ""
    )
    return t(
        "champion {champion} kept: newest model {age} months old (retrain every {every}), "
        "score PSI {psi}{auc}",
        loc,
        champion=f.get("champion"),
        age=f.get("age_months"),
        every=f.get("every_months"),
        psi=f.get("score_psi", "-"),
        auc=auc,
    )
