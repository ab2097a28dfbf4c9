"""Churn service: the I/O edge. Reads the DuckDB store, calls the pure steps, writes results.

Functions take a DuckDB connection ``con`` keyword-only and never commit anything outside it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from weixi.churn import champion as rule
from weixi.churn import drift, reasons, registry
from weixi.churn import features as F
from weixi.churn.calibrate import apply_calibrator, prior_correct
from weixi.churn.metrics import gains_table, paired_bootstrap, reliability, summary
from weixi.churn.params import ChurnParams, MonthlyParams, load_params
from weixi.churn.predict import (
    Scorer,
    encode,
    encode_arrow_columns,
    fit_levels,
    horizon_probabilities,
)
from weixi.churn.train import HorizonFit, as_text_categories, fit_horizon
from weixi.errors import ModelError, NotFoundError
from weixi.store.analytics import detached
from weixi.store.months import add_months, format_month, loaded_months

#: Lines per Arrow batch when scoring a month.
SCORE_BATCH_ROWS = 250_000
# Lines whose SHAP contributions and top reasons are computed at once: bounds the
# contributions matrix and the ranking's temporaries (on 10 M lines a million lines get
# reasons; all at once they took about 2 GB).
REASON_CHUNK_ROWS = 100_000


@dataclass
class TrainedModels:
    """Everything fitted as of one month: per-horizon boosters + calibrators, feature coding."""

    as_of: dt.date
    names: list[str]
    levels: dict[str, list[str]]
    with_segments: bool
    with_complaints: bool = False
    horizons: dict[int, HorizonFit] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    reference: pd.DataFrame | None = None  # calibration-month features (drift reference)
    # the labelled features the horizons were fitted on (every month of the first horizon, with
    # its ``churned_1m``) and their line sample share: the comparison with the champion reads
    # its out-of-time month from here instead of running the features again (not stored)
    frame: pd.DataFrame | None = field(default=None, repr=False)
    frame_share: float = 1.0


def labelled_months(months: list[dt.date], as_of: dt.date, horizon: int) -> list[dt.date]:
    """Months whose ``horizon``-month outcome is known by ``as_of`` (t + h <= as_of, t loaded)."""
    have = set(months)
    return [m for m in months if add_months(m, horizon) <= as_of and add_months(m, horizon) in have]


def _training_frame(
    con: duckdb.DuckDBPyConnection,
    labs: dict[int, list[dt.date]],
    p: MonthlyParams,
    *,
    with_segments: bool,
    with_complaints: bool,
) -> tuple[float, pd.DataFrame]:
    """(sample share, labelled features) of every horizon's months, in one features query.

    The horizons' windows overlap (h + 1 ends a month earlier than h) and a month's features
    do not depend on which other months are read with it, so one frame of the union of their
    months with every ``churned_<h>m`` column serves them all; each horizon keeps only its own
    months. ``max_train_rows`` bounds the frame: above it the share of lines read is the one
    that brings the union's live line-months to that many (the same lines for every horizon).
    (A share per horizon, as before 2026-12-07, read two frames of 3 M rows each in a
    province's second labelled month, and later one of ``(train_months + horizons) /
    (train_months + 1)`` × 3 M rows.)
    """
    hs = tuple(h for h, lab in labs.items() if lab)
    union = sorted({m for h in hs for m in labs[h]})
    share = F.sample_share(con, union, p.max_train_rows)
    frame = F.load_features(
        con,
        union,
        with_segments=with_segments,
        labels=hs,
        with_complaints=with_complaints,
        sample_share=share,
    )
    return share, frame


def fit_as_of(
    *,
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    params: ChurnParams | None = None,
    with_logistic: bool = False,
    horizons: tuple[int, ...] | None = None,
    base_rate: float | None = None,
) -> TrainedModels:
    """Train every horizon with only the data known at ``as_of`` (labels up to ``as_of``).

    ``base_rate``: the monthly churn rate the scores must be calibrated to (see
    :func:`weixi.churn.train.fit_horizon`); None keeps the history's own rate.
    """
    params = params or load_params()
    p = params.monthly
    months = [m for m in loaded_months(con) if m <= as_of]
    if as_of not in months:
        raise NotFoundError(
            "month {month} is not loaded in the snapshot table", month=format_month(as_of)
        )
    lab1 = labelled_months(months, as_of, 1)[-(p.train_months + 1) :]
    if not lab1:
        raise ModelError(
            "no labelled month before {month}: load at least two consecutive months",
            month=format_month(as_of),
        )
    use_seg = F.has_segments(con, [*lab1, as_of])
    use_cmp = F.has_complaints(con)
    names = F.feature_names(use_seg, use_cmp)
    cats = F.categorical_names(use_seg, use_cmp)
    wanted = tuple(horizons or p.horizons)
    labs = {h: labelled_months(months, as_of, h)[-(p.train_months + 1) :] for h in wanted}
    share, frame = _training_frame(con, labs, p, with_segments=use_seg, with_complaints=use_cmp)
    out: TrainedModels | None = None
    for h in wanted:
        lab = labs[h]
        if not lab:
            if out is not None:
                out.skipped[h] = f"no month with a known {h}-month outcome yet"
            continue
        mine = frame["month"].isin(pd.to_datetime(lab)).to_numpy()
        # the frame itself when it holds only this horizon's months (no copy of gigabytes)
        df = frame if mine.all() else frame[mine].reset_index(drop=True)
        if out is None:
            out = TrainedModels(
                as_of=as_of,
                names=names,
                levels=fit_levels(df, cats),
                with_segments=use_seg,
                with_complaints=use_cmp,
                frame=frame,
                frame_share=share,
            )
            last = (df["month"] == df["month"].max()).to_numpy()
            # one month of features: a lazy (copy-on-write) selection when it is the whole frame
            out.reference = df[names] if last.all() else df.loc[last, names].reset_index(drop=True)
        try:
            out.horizons[h] = fit_horizon(
                df,
                f"churned_{h}m",
                names,
                out.levels,
                p,
                horizon=h,
                num_threads=params.num_threads,
                predict_threads=params.predict_threads,
                with_logistic=with_logistic and h == 1,
                base_rate=base_rate,
            )
        except ModelError as exc:
            if h == 1:
                raise
            out.skipped[h] = str(exc)
        del df
    assert out is not None
    return out


def predict_frame(models: TrainedModels, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Calibrated probabilities per horizon (``p_1m``…) for a feature frame; monotone in h."""
    return predict_matrix(models, encode(df, models.names, models.levels))


def predict_matrix(
    models: TrainedModels,
    X: np.ndarray,
    upto: int | None = None,
    raw: Callable[[int, np.ndarray], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`predict_frame` of rows already encoded (:func:`weixi.churn.predict.encode`);
    ``upto``: only the horizons up to that many months (a horizon's probability depends on
    the shorter ones only); ``raw(h, X)``: horizon ``h``'s booster output (default: the
    booster's own predict)."""
    out: dict[str, np.ndarray] = {}
    prev = None
    for h in sorted(h for h in models.horizons if upto is None or h <= upto):
        fit = models.horizons[h]
        given = fit.booster.predict(X) if raw is None else raw(h, X)
        raw_p = prior_correct(given, fit.negative_rate)
        p = apply_calibrator(fit.calibrator, raw_p)
        if prev is not None:
            p = np.maximum(p, prev)  # churn within 3 months >= within 2 months >= next month
        out[f"p_{h}m"] = p
        prev = p
    return out


def backtest(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    params: ChurnParams | None = None,
) -> dict:
    """Time-honest backtest: train with data known at ``month``, predict churn in month+1.

    Compares the LightGBM model, the logistic regression and the rule-based C1-C3 tendency
    on AUC, PR-AUC, top-decile lift, ECE; gives gains by decile, reliability and per-branch
    figures. Needs month+1 loaded (to know who churned).
    """
    params = params or load_params()
    nxt = add_months(month, 1)
    if nxt not in loaded_months(con):
        raise NotFoundError(
            "backtest of {month} needs {next_month} loaded to know who churned",
            month=format_month(month),
            next_month=format_month(nxt),
        )
    models = fit_as_of(con=con, as_of=month, params=params, with_logistic=True, horizons=(1,))
    df = F.load_features(
        con,
        [month],
        with_segments=models.with_segments,
        labels=(1,),
        with_complaints=models.with_complaints,
    )
    y = df["churned_1m"].to_numpy(dtype=int)
    p_model = predict_frame(models, df)["p_1m"]
    fit1 = models.horizons[1]
    cats = [c for c in models.names if c in models.levels]
    lr_raw = prior_correct(
        fit1.logistic.predict_proba(as_text_categories(df[models.names], cats))[:, 1],
        fit1.negative_rate,
    )
    p_lr = apply_calibrator(fit1.logistic_calibrator, lr_raw)
    tendency = F.rule_tendency(df)
    p_rule = tendency.map({"C1": 3.0, "C2": 2.0, "C3": 1.0}).to_numpy(dtype=float)
    result: dict = {
        "month": format_month(month),
        "outcome_month": format_month(nxt),
        "n": len(y),
        "churn_rate": float(y.mean()),
        "train_months": [format_month(m) for m in fit1.fit_months],
        "calibration_months": [format_month(m) for m in fit1.calib_months],
        "model": summary(y, p_model),
        "logistic": summary(y, p_lr),
        "rule_c": summary(y, p_rule),
        "gains": gains_table(y, p_model),
        "reliability": reliability(y, p_model),
        "rule_c_rates": {
            c: {
                "n": int((tendency == c).sum()),
                "churn_rate": float(y[(tendency == c).to_numpy()].mean()),
            }
            for c in ("C1", "C2", "C3")
            if (tendency == c).any()
        },
    }
    result["rule_c"]["ece"] = None  # a rule gives no probability
    branches = []
    for b, idx in df.groupby("branch_id", observed=True).indices.items():
        yb = y[idx]
        row = {"branch_id": str(b), "n": len(idx), "churn_rate": float(yb.mean())}
        for name, p in (("model", p_model), ("logistic", p_lr), ("rule_c", p_rule)):
            m = summary(yb, p[idx])
            row[name] = {"auc": m["auc"], "top_decile_lift": m["top_decile_lift"]}
        row["model"]["ece"] = summary(yb, p_model[idx])["ece"]
        branches.append(row)
    result["branches"] = branches
    return result


def to_json(obj: dict) -> str:
    """Serialise a result dict (dates, numpy values) to JSON."""
    return json.dumps(obj, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else float(o))


#: Lines of the drift reference encoded and scored at a time.
REFERENCE_BATCH_ROWS = 262_144


def _reference_scores(models: TrainedModels, ref: pd.DataFrame, params: ChurnParams) -> np.ndarray:
    """P(churn next month) of the drift reference's lines (the calibration month), as scoring
    will compute the month's: the 1-month booster compiled (:class:`Scorer`, from a copy of
    its model file; LightGBM's own predict when lleaves is missing). A 10 M province's
    3 M-line reference took 4.4 s through LightGBM's predict.

    Scored a batch at a time: the reference's whole float matrix (1.7 GB for a 3 M-line
    sample) never sits beside the training frame."""
    import tempfile

    step = REFERENCE_BATCH_ROWS
    with tempfile.TemporaryDirectory(prefix="weixi-churn-ref-") as tmp:
        path = Path(tmp) / "h1.txt"
        models.horizons[1].booster.save_model(str(path))
        scorer = Scorer(path, num_threads=params.predict_threads)
        return np.concatenate(
            [
                predict_matrix(
                    models,
                    encode(
                        ref,
                        models.names,
                        models.levels,
                        rows=np.arange(i, min(i + step, len(ref))),
                    ),
                    upto=1,
                    raw=lambda _h, X: scorer.predict(X),
                )["p_1m"]
                for i in range(0, len(ref), step)
            ]
        )


def train(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    params: ChurnParams | None = None,
    promote: bool | Literal["challenger"] | None = None,
    actor: str = "train",
    base_rate: float | None = None,
) -> dict:
    """Train the horizon models as of ``month``, register a new version and return its summary.

    ``base_rate`` (monthly churn rate of the scored population) recalibrates every horizon
    to it; the metrics then show the calibration error before and after.

    The new model is compared with the champion (the active model) on the latest out-of-time
    month whenever there is one, and the decision is recorded in ``churn_promotions``.
    ``promote="challenger"`` (the monthly job) lets the promotion rule of ``params.promotion``
    decide; ``True`` always promotes; ``None`` promotes only the first model; ``False`` never.
    """
    params = params or load_params()
    models = fit_as_of(con=con, as_of=month, params=params, base_rate=base_rate)
    ref = models.reference
    assert ref is not None
    p_ref = _reference_scores(models, ref, params)
    n_levels = {c: len(v) for c, v in models.levels.items()}
    reference = drift.reference(
        lambda j: encode(ref, [models.names[j]], models.levels)[:, 0],
        models.names,
        n_levels,
        ref["branch_id"].astype(str).to_numpy(),
        p_ref,
        bins=params.monthly.psi_bins,
        threads=params.predict_threads,
    )
    # the reference month (a copy of half the frame in a province's second labelled month) is
    # not needed again: the comparison's month, when it is read anew, never sits beside it
    ref = models.reference = None
    fits = models.horizons
    all_months = sorted({m for f in fits.values() for m in (*f.fit_months, *f.calib_months)})
    version = registry.next_version(con, month)
    meta = {
        "version": version,
        "as_of": month.isoformat(),
        "window_start": all_months[0].isoformat(),
        "window_end": all_months[-1].isoformat(),
        "n_train": int(sum(f.n_train for f in fits.values())),
        # the share of lines the training read (1 = all): the comparison reads its month at it
        "sample_share": models.frame_share,
        "features": models.names,
        "levels": models.levels,
        "with_segments": models.with_segments,
        "with_complaints": models.with_complaints,
        "horizons": {
            str(h): {
                "calibrator": f.calibrator.model_dump(),
                "negative_rate": f.negative_rate,
                "base_rate": f.base_rate,
                "fit_months": [m.isoformat() for m in f.fit_months],
                "calib_months": [m.isoformat() for m in f.calib_months],
                "calibration_split": f.calibration_split,
                "n_train": f.n_train,
                "n_calib": f.n_calib,
            }
            for h, f in fits.items()
        },
        "skipped_horizons": {str(h): why for h, why in models.skipped.items()},
        "metrics": {
            **{f"h{h}_holdout_raw": f.holdout for h, f in fits.items()},
            "curves": {
                f"h{h}": {**f.curves, "months": [m.isoformat() for m in f.calib_months]}
                for h, f in fits.items()
            },
        },
        "config": params.model_dump(mode="json"),
        "drift_reference": reference,
    }
    registry.save(con, version, {h: f.booster for h, f in fits.items()}, meta, activate=False)
    decision = promote_by_rule(
        con=con,
        version=version,
        as_of=month,
        params=params,
        promote=promote,
        actor=actor,
        trained=models,
    )
    return {
        "version": version,
        "active": registry.get_active(con) == version,
        "role": "champion" if decision["decision"] == "promoted" else "challenger",
        "decision": decision["decision"],
        "reason": decision["reason"],
        "reason_text": rule.describe(decision, "en"),
        "champion": decision["champion"],
        "eval_month": format_month(decision["eval_month"]) if decision["eval_month"] else None,
        **{k: decision[k] for k in registry.FIGURES},
        "as_of": format_month(month),
        "window": [format_month(all_months[0]), format_month(all_months[-1])],
        "horizons": sorted(fits),
        "skipped_horizons": models.skipped,
        "metrics": meta["metrics"],
        "n_features": len(models.names),
    }


def promote_by_rule(
    *,
    con: duckdb.DuckDBPyConnection,
    version: str,
    as_of: dt.date,
    params: ChurnParams,
    promote: bool | Literal["challenger"] | None = "challenger",
    actor: str = "train",
    trained: TrainedModels | None = None,
) -> dict:
    """Compare a registered model with the champion, decide, promote if so; return the record.

    ``trained``: the challenger's fit, whose training features the comparison reuses."""
    champ = registry.get_active(con)
    champ = champ if champ != version else None
    figures = None
    if champ is not None:
        figures = compare_models(
            con=con,
            challenger=version,
            champion=champ,
            as_of=as_of,
            params=params,
            trained=trained,
        )
    if promote == "challenger" or (promote is None and champ is None):
        decision, reason = rule.decide(figures, params.promotion, has_champion=champ is not None)
    elif promote is True:
        decision, reason = "promoted", "promoted_on_request"
    else:
        decision, reason = "kept", "not_requested"
    if decision == "promoted":
        registry.promote(con, version)
    return registry.record_decision(
        con,
        version=version,
        champion=champ,
        decision=decision,
        reason=reason,
        actor=actor,
        rule=params.promotion.model_dump(mode="json"),
        eval_month=figures["eval_month"] if figures else None,
        figures=figures,
    )


def compare_models(
    *,
    con: duckdb.DuckDBPyConnection,
    challenger: str,
    champion: str,
    as_of: dt.date,
    params: ChurnParams,
    trained: TrainedModels | None = None,
) -> dict | None:
    """Both models' next-month AUC and top-decile lift on the latest out-of-time month.

    The month is the newest one whose next-month outcome is known at ``as_of`` and that comes
    after every month either model's booster was fitted on (None when there is none). Ranks
    use the boosters' raw scores: calibration is a monotone map (fitted on the challenger's
    latest labelled month), so it would only merge ranks. Differences are challenger minus
    champion with a paired bootstrap interval (``params.promotion``).

    The month's lines are the challenger's training sample (``sample_share`` of its metadata:
    above ``max_train_rows`` a hash sample of lines, the same in every month): at a province's
    size the month then holds ``max_train_rows`` / (the training's months) lines, 1.5 M in its
    second labelled month, 0.33 M with a long history (nine months), and is taken from the
    training frame rather than read and bootstrapped again at 3 M lines (100 s of a 10 M
    month's 210 s of training).

    ``trained`` (the challenger's fit in this process): when its training frame holds the
    month with the same columns and the same line sample, the month's rows are taken from it
    (the same rows in the same order as a new features query gives); otherwise its frame is
    released (``trained.frame`` set to None) before the month is read.
    """
    _, new_dir, new_meta = registry.load_meta(con, challenger)
    _, old_dir, old_meta = registry.load_meta(con, champion)
    fitted = [
        dt.date.fromisoformat(m)
        for meta in (new_meta, old_meta)
        for m in meta["horizons"]["1"]["fit_months"]
    ]
    months = [m for m in loaded_months(con) if m <= as_of]
    later = [m for m in labelled_months(months, as_of, 1) if m > max(fitted)]
    if not later:
        return None
    month = later[-1]
    use_seg = bool(new_meta["with_segments"] or old_meta["with_segments"])
    with_seg = use_seg and F.has_segments(con, [month])
    with_cmp = bool(new_meta.get("with_complaints") or old_meta.get("with_complaints"))
    # the challenger's own line sample, so the month comes from its training frame; a model
    # registered before the share was recorded: the month's own share
    share = new_meta.get("sample_share")
    if share is None:
        share = F.sample_share(con, [month], params.monthly.max_train_rows)
    frame = trained.frame if trained is not None else None
    if (
        frame is not None
        and "churned_1m" in frame.columns
        and trained.with_segments == with_seg
        and trained.with_complaints == with_cmp
        and trained.frame_share == share
        and (rows := (frame["month"] == pd.Timestamp(month)).to_numpy()).any()
    ):
        df, at = frame, np.flatnonzero(rows)  # encoded by position: no copy of the frame
    else:
        # the training frame cannot serve (another line sample): it is let go before the
        # month's features are read, so the two never sit in memory together
        frame = None
        if trained is not None:
            trained.frame = None
        at = None
        df = F.load_features(
            con,
            [month],
            with_segments=with_seg,
            labels=(1,),
            with_complaints=with_cmp,
            sample_share=share,
        )
    y = df["churned_1m"].to_numpy(dtype=int)
    if at is not None:
        y = y[at]
    # both models score the month a batch at a time (its whole float matrix is 1.7 GB for a
    # 3 M-line sample); a batch is encoded once when both models code their features alike
    models = [
        (
            Scorer(folder / "h1.txt", engine="lightgbm", num_threads=params.predict_threads),
            meta["features"],
            meta["levels"],
            json.dumps([meta["features"], meta["levels"]]),
        )
        for folder, meta in ((new_dir, new_meta), (old_dir, old_meta))
    ]
    positions = at if at is not None else np.arange(len(df))
    scores = [np.empty(len(positions)), np.empty(len(positions))]
    step = 262_144
    for i in range(0, len(positions), step):
        part, coded = positions[i : i + step], {}
        for k, (scorer, names, levels, key) in enumerate(models):
            X = coded.get(key)
            if X is None:
                X = coded[key] = encode(df, names, levels, rows=part)
            scores[k][i : i + len(part)] = scorer.predict(X)
    p = params.promotion
    b = paired_bootstrap(
        y, *scores, resamples=p.resamples, confidence=p.confidence, seed=p.seed, fraction=0.1
    )
    return {
        "eval_month": month,
        "n": len(y),
        "churners": int(y.sum()),
        "auc_challenger": b["auc_new"],
        "auc_champion": b["auc_old"],
        "lift_challenger": b["lift_new"],
        "lift_champion": b["lift_old"],
        **{k: b[k] for k in ("d_auc", "d_auc_lo", "d_auc_hi", "d_lift", "d_lift_lo", "d_lift_hi")},
    }


def promote_manually(*, con: duckdb.DuckDBPyConnection, version: str, actor: str) -> dict:
    """Make ``version`` the champion by hand (a manual override) and record the decision."""
    previous = registry.get_active(con)
    registry.promote(con, version)
    return registry.record_decision(
        con,
        version=version,
        champion=previous if previous != version else None,
        decision="promoted",
        reason="manual",
        actor=actor,
        rule={},
    )


def score(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    version: str | None = None,
    engine: str = "auto",
    params: ChurnParams | None = None,
) -> dict:
    """Score every live line of ``month`` with the active (or given) model into ``churn_scores``.

    Also writes the month's drift (PSI per feature and of the score, per branch) into
    ``churn_drift`` and returns a summary with the warnings.
    """

    params = params or load_params()
    if month not in loaded_months(con):
        raise NotFoundError(
            "month {month} is not loaded in the snapshot table", month=format_month(month)
        )
    version, folder, meta = registry.load_meta(con, version)
    names, levels = meta["features"], meta["levels"]
    with_seg = bool(meta["with_segments"])
    seg_ok = with_seg and F.has_segments(con, [month])
    scorers = {
        int(h): Scorer(folder / f"h{h}.txt", engine=engine, num_threads=params.predict_threads)
        for h in meta["horizons"]
    }
    engines = {sc.engine for sc in scorers.values()}
    ref = meta["drift_reference"]
    n_total = con.execute(
        "SELECT count(*) FROM snapshot WHERE month = ? AND status <> 'cancelled'", [month]
    ).fetchall()[0][0]
    k = min(n_total, int(np.ceil(params.monthly.reasons_share * n_total)))
    # the month in Arrow batches: scored by the compiled trees, drift counts added up, and the
    # feature rows of the lines that may need reasons (the riskiest k so far, all >= min_p) kept
    id_parts, prob_parts, counts = [], [], None
    pool = RiskPool(params.monthly, k=k, width=len(names))
    offset = 0
    for batch in F.feature_batches(
        con,
        month,
        with_segments=seg_ok,
        with_complaints=bool(meta.get("with_complaints")),
        batch_rows=SCORE_BATCH_ROWS,
    ):
        cols = encode_arrow_columns(batch, names, levels)
        Xb = np.ascontiguousarray(cols.T)
        pb = horizon_probabilities(meta, lambda h, X: scorers[h].predict(X), Xb)
        # a copy: the batch's own column would keep all its feature columns alive (6 GB)
        id_parts.append(detached(batch.column("subscriber_id").cast(pa.string())))
        prob_parts.append(pb)
        # drift bins one feature at a time: a column of ``cols.T`` is a contiguous row of
        # ``cols``, where ``Xb``'s would be a strided gather (~0.3 s a batch at 64 features)
        c = drift.psi_counts(ref, cols.T, names, batch.column("branch_id"), pb[1])
        counts = c if counts is None else {f: counts[f] + c[f] for f in counts}
        pool.add(Xb, pb[1], offset, id_parts[-1])
        offset += len(Xb)
    n = offset
    ids = pa.concat_arrays(id_parts) if id_parts else pa.array([], pa.string())
    probs = {
        h: np.concatenate([pb[h] for pb in prob_parts]) if prob_parts else np.empty(0)
        for h in sorted(int(x) for x in meta["horizons"])
    }
    pool_X, pool_row = pool.result()
    long = _reasons_long(scorers[1], pool_X, names, levels, params.monthly.reasons_top_k)
    long = long.set_column(
        0, "row", pa_table({"row": pool_row[long.column("row").to_numpy()]}).column("row")
    )
    explained = pool_row
    has_reasons = np.zeros(n, dtype=bool)
    has_reasons[explained] = True
    nan = np.full(n, np.nan)
    base = pa_table(
        {
            "row": np.arange(n),
            "subscriber_id": ids,
            "p_churn": probs[1],
            "p_churn_2m": probs.get(2, nan),
            "p_churn_3m": probs.get(3, nan),
            "explained": has_reasons,
        }
    )
    con.register("_churn_base", base)
    con.register("_churn_reasons", long)
    try:
        con.execute("BEGIN")
        con.execute("DELETE FROM churn_scores WHERE month = ?", [month])
        con.execute(
            f"""
            INSERT INTO churn_scores
            SELECT DATE '{month.isoformat()}', b.subscriber_id, ?, b.p_churn,
                   CASE WHEN isnan(b.p_churn_2m) THEN NULL ELSE b.p_churn_2m END,
                   CASE WHEN isnan(b.p_churn_3m) THEN NULL ELSE b.p_churn_3m END,
                   CASE WHEN b.explained THEN coalesce(r.reasons, '[]') END
            FROM _churn_base b
            LEFT JOIN ({REASONS_JSON_SQL}) r ON r."row" = b."row"
            ORDER BY b.subscriber_id
            """,
            [version],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_churn_base")
        con.unregister("_churn_reasons")
    table = drift.psi_rows(
        ref, counts or {}, warning=params.monthly.psi_warning, min_rows=params.monthly.psi_min_rows
    )
    save_drift(con=con, month=month, version=version, table=table)
    warn = table[table["warning"]].sort_values("psi", ascending=False)
    return {
        "month": format_month(month),
        "model_version": version,
        "engine": sorted(engines),
        "n": n,
        "n_reasons": len(explained),
        "mean_p_churn": float(probs[1].mean()) if n else None,
        "expected_churners": float(probs[1].sum()),
        "segments_used": seg_ok,
        "segments_missing": with_seg and not seg_ok,
        "drift_warnings": warn.head(20).to_dict("records"),
        "score_psi": float(
            table.loc[(table.feature == drift.SCORE) & (table.branch_id == drift.ALL), "psi"].iloc[
                0
            ]
        ),
    }


#: One JSON list of reasons per row of the long table ``_churn_reasons`` (``row``, ``reasons``):
#: the format stored in ``churn_scores.reasons``.
REASONS_JSON_SQL = """
SELECT "row", '[' || string_agg(
         json_object('code', code,
                     'value', coalesce(to_json(round(value_num, 4)), to_json(value_text)),
                     'contribution', contribution)::VARCHAR, ',' ORDER BY rank) || ']' AS reasons
FROM _churn_reasons GROUP BY "row"
"""


def explained_rows(
    p: np.ndarray, monthly: MonthlyParams, k: int | None = None, ids: pa.Array | None = None
) -> np.ndarray:
    """Rows (sorted) whose reasons are stored at scoring time: the riskiest
    ``reasons_share`` of the month (or the riskiest ``k``) plus every row with
    ``p >= reasons_min_p``.

    Lines tied at the k-th probability (a tree ensemble gives many lines the same score) are
    taken in the order of their subscriber ``ids`` when given, so the same month keeps the
    same lines whatever order its rows were read in; without ``ids``, in row order."""
    n = len(p)
    k = min(n, int(np.ceil(monthly.reasons_share * n)) if k is None else k)
    keep = p >= monthly.reasons_min_p
    if k:
        kth = np.partition(p, n - k)[n - k]  # the k-th highest probability
        above = p > kth
        keep |= above
        tied = np.flatnonzero(p == kth)
        need = k - int(above.sum())
        if need < len(tied) and ids is not None:
            tied = tied[pc.sort_indices(ids.take(pa.array(tied))).to_numpy()]
        keep[tied[:need]] = True
    return np.flatnonzero(keep)


class RiskPool:
    """The feature rows of the lines whose reasons :func:`score` stores, gathered batch by
    batch: at the end, the rows :func:`explained_rows` picks from the whole month (the ``k``
    riskiest and every line with ``p >= reasons_min_p``; among lines tied at the k-th
    probability, the first by subscriber id).

    A batch adds only its lines that can still be picked (at or above the k-th highest
    probability seen so far, or above the floor), and the pool is cut back to the picked ones
    when it has grown by half: linear in the month. (Cutting it back after every batch copied
    the whole pool per batch: on 10 M lines, 40 copies of a million rows, a minute.) A cut
    compacts each part where it lies and gives the rest of its memory back: copying the kept
    rows into a new array held them twice, and on 10 M lines the pool's feature rows are
    gigabytes.
    """

    def __init__(self, monthly: MonthlyParams, *, k: int, width: int) -> None:
        self.monthly, self.k, self.width = monthly, k, width
        self.X: list[np.ndarray] = []  # parts, each owning its rows
        self.p: list[np.ndarray] = [np.empty(0)]
        self.row: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        # Arrow strings (a few bytes a line), not Python objects: the pool can hold millions
        self.ids: list[pa.Array] = [pa.array([], pa.string())]
        self.size = self.kept = 0
        self.threshold = -np.inf if k else np.inf  # below it a line can no longer be picked

    def add(self, X: np.ndarray, p: np.ndarray, offset: int, ids: pa.Array) -> None:
        """Offer the lines of a batch (rows ``offset …`` of the month, subscriber ``ids``)."""
        take = np.flatnonzero((p >= self.threshold) | (p >= self.monthly.reasons_min_p))
        if not len(take):
            return
        self.X.append(np.ascontiguousarray(X[take], dtype=float))  # owns its rows
        self.p.append(p[take])
        self.row.append(offset + take)
        self.ids.append(ids.take(pa.array(take)))
        self.size += len(take)
        if self.size - self.kept > max(self.kept, self.k) // 2:
            self._cut()

    def _cut(self) -> None:
        p = np.concatenate(self.p)
        ids = pa.concat_arrays(self.ids)
        keep = explained_rows(p, self.monthly, k=self.k, ids=ids)  # positions, sorted
        ends = np.cumsum([len(x) for x in self.X], dtype=np.int64)
        starts = ends - [len(x) for x in self.X]
        parts = []
        for part, lo, a, b in zip(
            self.X, starts, np.searchsorted(keep, starts), np.searchsorted(keep, ends), strict=True
        ):
            local = keep[a:b] - lo  # sorted, local[j] >= j: moving rows forward is safe
            if len(local) < len(part):
                part[: len(local)] = part[local]
                part.resize((len(local), self.width), refcheck=False)  # the rest freed
            if len(part):
                parts.append(part)
        self.X = parts
        self.p = [p[keep]]
        self.ids = [ids.take(pa.array(keep))]
        self.row = [np.concatenate(self.row)[keep]]
        self.size = self.kept = len(keep)
        if self.k and self.kept >= self.k:  # the k-th highest probability so far
            self.threshold = np.partition(self.p[0], self.kept - self.k)[self.kept - self.k]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """The picked lines' feature rows and their row numbers in the month, in row order."""
        self._cut()
        X = np.concatenate(self.X) if self.X else np.empty((0, self.width))
        self.X = []
        return X, self.row[0]


def _reasons_long(scorer: Scorer, X: np.ndarray, names, levels, k: int):
    """Long reasons table of the rows of ``X`` (SHAP contributions of the 1-month booster),
    computed :data:`REASON_CHUNK_ROWS` rows at a time."""
    if not len(X):
        return reasons.top_reasons(np.zeros((0, X.shape[1] + 1)), X, names, levels, k)
    parts = []
    for lo in range(0, len(X), REASON_CHUNK_ROWS):
        chunk = X[lo : lo + REASON_CHUNK_ROWS]
        part = reasons.top_reasons(scorer.contributions(chunk), chunk, names, levels, k)
        rows = pa.array(part.column("row").to_numpy() + lo, pa.int64())
        parts.append(part.set_column(0, "row", rows))
    return pa.concat_tables(parts)


@functools.lru_cache(maxsize=8)
def _explaining_scorer(model_file: str, stamp: tuple[int, int], num_threads: int) -> Scorer:
    """The 1-month booster of a model version with its explainer built, kept for the next
    call: a customer page computes one line's reasons, and loading the booster and building
    its SHAP tables took about 100 ms of each such page on a 10 M store. ``stamp`` (the file's
    modification time and size): a file written anew is loaded anew."""
    return Scorer(Path(model_file), engine="lightgbm", num_threads=num_threads).explaining()


def compute_reasons(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    subscriber_ids: list[str],
    version: str | None = None,
    params: ChurnParams | None = None,
) -> dict[str, list[dict]]:
    """Reasons of a few lines of ``month`` computed now with model ``version`` (the active one
    when None): the same contributions and format :func:`score` stores. Read-only."""
    params = params or load_params()
    ids = sorted({str(i) for i in subscriber_ids})
    if not ids:
        return {}
    version, folder, meta = registry.load_meta(con, version)
    names, levels = meta["features"], meta["levels"]
    seg_ok = bool(meta["with_segments"]) and F.has_segments(con, [month])
    df = F.load_features(
        con,
        [month],
        with_segments=seg_ok,
        with_complaints=bool(meta.get("with_complaints")),
        subscriber_ids=ids,
    )
    if df.empty:
        return {}
    X = encode(df, names, levels)
    model = folder / "h1.txt"
    stamp = model.stat()
    scorer = _explaining_scorer(
        str(model), (stamp.st_mtime_ns, stamp.st_size), params.predict_threads
    )
    long = _reasons_long(scorer, X, names, levels, params.monthly.reasons_top_k)
    con.register("_churn_reasons", long)
    try:
        got = dict(con.execute(REASONS_JSON_SQL).fetchall())
    finally:
        con.unregister("_churn_reasons")
    sids = df["subscriber_id"].astype(str).tolist()
    return {sid: json.loads(got.get(i, "[]")) for i, sid in enumerate(sids)}


def reasons_for(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    subscriber_ids: list[str],
    params: ChurnParams | None = None,
) -> dict[str, list[dict]]:
    """Reasons of the given scored lines of ``month``: the stored ones, and for lines scored
    without stored reasons (below the riskiest share) the ones :func:`compute_reasons` gives
    with the model that scored them. Lines without a score are left out. Read-only."""
    ids = sorted({str(i) for i in subscriber_ids})
    if not ids:
        return {}
    got = con.execute(
        "SELECT subscriber_id, model_version, reasons FROM churn_scores "
        "WHERE month = ? AND subscriber_id IN (SELECT unnest(?::VARCHAR[]))",
        [month, ids],
    ).fetchall()
    out: dict[str, list[dict]] = {}
    missing: dict[str, list[str]] = {}
    for sid, version, text in got:  # at most len(subscriber_ids) rows
        if text is None:
            missing.setdefault(version, []).append(sid)
        else:
            out[sid] = json.loads(text)
    for version, todo in missing.items():
        out.update(
            compute_reasons(
                con=con, month=month, subscriber_ids=todo, version=version, params=params
            )
        )
    return out


def save_drift(
    *, con: duckdb.DuckDBPyConnection, month: dt.date, version: str, table: pd.DataFrame
) -> None:
    """Replace the month's rows of ``churn_drift`` with ``table``."""
    con.register("_churn_drift", table)
    try:
        con.execute(
            "DELETE FROM churn_drift WHERE month = ? AND model_version = ?", [month, version]
        )
        con.execute(
            "INSERT INTO churn_drift SELECT ?, ?, branch_id, feature, psi, warning FROM _churn_drift",
            [month, version],
        )
    finally:
        con.unregister("_churn_drift")


def pa_table(cols: dict) -> object:
    """A pyarrow table from numpy columns (NaN kept as NaN)."""
    import pyarrow as pa

    return pa.table(
        {
            k: v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v)
            for k, v in cols.items()
        }
    )
