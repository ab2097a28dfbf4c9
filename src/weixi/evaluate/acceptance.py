"""Acceptance: who takes which offer when reached, learned from every contacted customer.

Churn uplift needs randomized controls and months of churn labels; acceptance is labelled on
every customer a campaign reaches, the same month. One LightGBM classifier over the customer's
features and the action (a categorical feature) predicts ``P(accept | reached, customer,
action)``. The monthly job writes the predictions as the ``take_rate`` column of the ``uplift``
table (per line × action), which matching uses in the offer cost
(``contact cost + effect × take_rate × unit cost``) instead of the action's configured take rate,
and — when a line × action has no learned uplift — to scale the configured uplift by how likely
this customer is to accept compared with the configured take rate (``uplift × take_rate /
configured take_rate``): the configured effect is an average over takers and refusers.

Actions with fewer than ``min_contacted`` reached customers keep their configured take rate.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd

from weixi.errors import NotFoundError
from weixi.store.sqlrun import exact_avg, exact_sum

PARAMS = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,
    "seed": 0,
    "deterministic": True,
}


#: Threads for the predictions of a month's lines (the churn model's default, too).
PREDICT_THREADS = 2


@dataclass
class AcceptanceModel:
    """``P(accept | reached)`` per customer and action."""

    booster: lgb.Booster
    actions: list[str]
    feature_names: list[str]
    n_train: dict[str, int]
    auc: float | None = None

    def predict(self, X: np.ndarray, action: str) -> np.ndarray:
        """Acceptance probability of ``action`` for the rows of ``X``."""
        code = np.full((len(X), 1), float(self.actions.index(action)))
        # the model trains on one thread (deterministic); a row's prediction does not depend
        # on the threads, and a month's lines × actions are millions of rows
        return self.booster.predict(np.hstack([X, code]), num_threads=PREDICT_THREADS)

    def to_json(self) -> str:
        """Serialize (LightGBM text model inside JSON)."""
        return json.dumps(
            {
                "booster": self.booster.model_to_string(),
                "actions": self.actions,
                "feature_names": self.feature_names,
                "n_train": self.n_train,
                "auc": self.auc,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> AcceptanceModel:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        return cls(
            booster=lgb.Booster(model_str=d["booster"]),
            actions=d["actions"],
            feature_names=d["feature_names"],
            n_train=d["n_train"],
            auc=d.get("auc"),
        )


def fit_acceptance(
    X: np.ndarray,
    action: np.ndarray,
    accepted: np.ndarray,
    *,
    feature_names: list[str],
    min_contacted: int = 200,
    rounds: int = 300,
    test_share: float = 0.2,
    seed: int = 0,
) -> AcceptanceModel:
    """Fit on reached customers: features ``X``, the ``action`` they were offered, ``accepted``.

    Actions with fewer than ``min_contacted`` rows are left out. The number of boosting rounds is
    chosen by early stopping (log loss) on a random ``test_share`` of the rows (its AUC is
    reported), then
    the model is refitted on all rows with that many rounds.
    """
    action = np.asarray(action).astype(str)
    counts = pd.Series(action).value_counts()
    actions = sorted(a for a, n in counts.items() if n >= min_contacted)
    if not actions:
        raise NotFoundError(
            "no action has {min_contacted} reached customers with a known answer yet",
            min_contacted=min_contacted,
        )
    keep = np.isin(action, actions)
    X, action, y = X[keep], action[keep], np.asarray(accepted, dtype=float)[keep]
    code = np.array([actions.index(a) for a in action], dtype=float)[:, None]
    Z = np.hstack([X, code])
    cat = [Z.shape[1] - 1]
    params = {**PARAMS, "seed": seed}
    rng = np.random.default_rng(seed)
    test = rng.random(len(y)) < test_share
    auc = None
    best = rounds
    if test.sum() >= 100 and len(np.unique(y[test])) == 2:
        train = lgb.Dataset(Z[~test], label=y[~test], categorical_feature=cat)
        valid = lgb.Dataset(Z[test], label=y[test], categorical_feature=cat, reference=train)
        # log loss, not AUC, decides: the take rate prices offers, so its level must be right
        probe = lgb.train(
            {**params, "metric": "binary_logloss"},
            train,
            num_boost_round=rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        best = max(int(probe.best_iteration or rounds), 50)
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y[test], probe.predict(Z[test], num_iteration=best)))
    booster = lgb.train(
        params, lgb.Dataset(Z, label=y, categorical_feature=cat), num_boost_round=best
    )
    return AcceptanceModel(
        booster=booster,
        actions=actions,
        feature_names=list(feature_names),
        n_train={a: int(counts[a]) for a in actions},
        auc=auc,
    )


def training_frame(
    *, con: duckdb.DuckDBPyConnection, months: list[dt.date]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Reached treated customers of ``months`` with a known answer: frame and feature matrix."""
    from weixi.evaluate.service import UPLIFT_FEATURES, _feature_sql

    if not months:
        raise NotFoundError("no evaluated months to learn acceptance from")
    marks = ", ".join("?" for _ in months)
    df = con.execute(
        f"""SELECT o.action, o.accepted, {_feature_sql("o.month")}
            FROM evaluation_outcomes o
            JOIN snapshot s ON s.subscriber_id = o.subscriber_id AND s.month = o.month
            WHERE o.month IN ({marks}) AND NOT o.is_control AND o.contacted
              AND o.accepted IS NOT NULL
            ORDER BY o.month, o.subscriber_id""",
        months,
    ).df()
    return df, df[list(UPLIFT_FEATURES)].to_numpy(np.float64)


def write_take_rates(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    model: AcceptanceModel,
    version: str,
    action_line_types: dict[str, str],
    engine: str = "duckdb",
) -> dict:
    """Write ``month``'s predicted take rate per targetable line × learned action.

    Existing ``uplift`` rows of the month get their ``take_rate``; lines × actions without a
    learned uplift get a row with ``uplift`` NULL (matching keeps the configured effect for
    them). ``engine``: where the lines are scored (:mod:`weixi.evaluate.scoring`). Returns
    ``{"rows", "actions": {action: mean take rate}}``.
    """
    from weixi.evaluate.scoring import scored_lines

    kinds = {a: action_line_types[a] for a in model.actions if a in action_line_types}

    def score(fitted: AcceptanceModel, df: pd.DataFrame) -> pd.DataFrame:
        return take_rate_rows(fitted, df, kinds)

    with scored_lines(
        con,
        month,
        engine=engine,
        model=model,
        model_text=model.to_json(),
        load=AcceptanceModel.from_json,
        score=score,
        schema="subscriber_id string, action string, take double",
    ) as (rel, _lines):
        means = dict(con.execute(f"SELECT action, avg(take) FROM {rel} GROUP BY action").fetchall())
        rows = int(con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0][0])
        if not rows:
            return {"rows": 0, "actions": {}}
        con.execute(
            f"""UPDATE uplift SET take_rate = t.take FROM {rel} t
               WHERE uplift.month = ? AND uplift.subscriber_id = t.subscriber_id
                 AND uplift.action = t.action""",
            [month],
        )
        con.execute(
            f"""INSERT INTO uplift (month, subscriber_id, action, uplift, take_rate, model_version)
               SELECT ?::DATE, t.subscriber_id, t.action, NULL, t.take, ?
               FROM {rel} t ANTI JOIN (SELECT subscriber_id, action FROM uplift
                                       WHERE month = ?) u USING (subscriber_id, action)""",
            [month, version, month],
        )
    return {
        "rows": rows,
        "actions": {a: round(float(means[a]), 4) for a in model.actions if a in means},
    }


def take_rate_rows(model: AcceptanceModel, df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Predicted take rates (subscriber_id, action, take) of a batch of scoring rows
    (:func:`weixi.evaluate.service.uplift_scoring_sql`) for the actions in ``kinds`` (action →
    the line type it allows: mobile|broadband|any); the same on the driver and on an
    executor."""
    from weixi.evaluate.service import UPLIFT_FEATURES

    parts = [
        pd.DataFrame(
            {
                "subscriber_id": pd.Series(dtype=object),
                "action": pd.Series(dtype=object),
                "take": pd.Series(dtype=float),
            }
        )
    ]
    if df.empty:
        return parts[0]
    X = df[list(UPLIFT_FEATURES)].to_numpy(np.float64)
    line = df["line_type"].astype(str).to_numpy()
    for a, kind in kinds.items():
        rows = np.flatnonzero((line == kind) | (kind == "any"))
        if not len(rows):
            continue
        parts.append(
            pd.DataFrame(
                {
                    "subscriber_id": df["subscriber_id"].to_numpy()[rows],
                    "action": a,
                    "take": model.predict(X[rows], a),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


#: Per group of evaluated outcomes: treated and control counts and churn rates, the treated's
#: mean of accepted × P(churn) (the reduction's denominator) and their mean P(churn).
# the churn-score averages are exact (DECIMAL) sums: the same outcomes give the same learned
# reductions to the bit, whichever threads read them
_ARMS = f"""count(*) FILTER (WHERE NOT is_control) AS n_t,
           count(*) FILTER (WHERE is_control) AS n_c,
           avg(1 - stayed) FILTER (WHERE NOT is_control) AS c_t,
           avg(1 - stayed) FILTER (WHERE is_control) AS c_c,
           {exact_avg("COALESCE(accepted, FALSE)::INTEGER * p_churn", 15, "NOT is_control")} AS d,
           {exact_avg("p_churn", 15, "NOT is_control")} AS p_t"""


def rate_variance(rate: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A churn rate's binomial variance, with a floor of one event (a zero rate is no certainty)."""
    n = np.maximum(n, 1)
    return np.maximum(rate * (1 - rate), 1.0 / n) / n


def reduction_per_action(
    *,
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date],
    prior: dict[str, float],
    prior_sd: float = 0.5,
    scale_sd: float = 0.5,
    counterfactual: str = "model",
    calibration_floor: float = 0.05,
) -> dict[str, dict[str, float]]:
    """Churn reduction of an *accepted* offer per action, from each action's randomized lift.

    For action ``a`` over ``months``: its treated churn at ``c_T``; had they not been treated
    they would have churned at ``c0_a``; a treated customer who accepted loses
    ``r_a × P(churn)`` of churn probability, so ``c0_a − c_T = r_a × k × mean_T(accepted ×
    p_churn)``, where ``k`` (observed churn over the predicted one among all controls)
    recalibrates the churn scores.

    ``c0_a`` — the counterfactual — comes from the action's own randomized controls. With
    ``counterfactual="control"`` it is their churn rate ``c_C``: unbiased, but an action has a
    few hundred controls, so its noise dominates the estimate. With ``"model"`` (the default) it
    is the churn model's prediction for the treated themselves, ``k_a × mean_T(p_churn)``, where
    ``k_a`` is the model's calibration (observed / predicted churn) *on this action's controls*,
    shrunk towards the calibration common to all actions (a random-effects mean, the
    between-action spread estimated by DerSimonian–Laird, at least ``calibration_floor`` × the
    mean): where the scores are equally well calibrated for every action's customers, the
    action borrows the precision of all controls; where an action's controls show its customers
    churn differently from what the scores say, its own controls decide. Randomization makes
    both estimates unbiased for the treated's counterfactual; the model-assisted one has a
    fraction of the variance (``tests/evaluate/test_reduction.py``).

    The estimate ``r̂_a`` has the binomial variance of the treated's rate plus the
    counterfactual's variance, over the denominator squared.

    One action's own evidence rarely pins its reduction down, but the library's configured
    reductions (``prior``: configured uplift / configured take rate) tend to be wrong
    *together* — an operator's market answers every offer less (or more) than the library
    assumed. So the estimate is hierarchical (empirical Bayes): every action's reduction is
    ``s × prior_a`` up to an action-level deviation of standard deviation
    ``prior_sd × s × prior_a`` (at least 0.05); the common scale ``s`` is estimated from all
    actions at once (precision-weighted least squares of ``r̂_a`` on ``prior_a``) and shrunk
    towards 1 (the configuration) with a normal prior of standard deviation ``scale_sd``; each
    action's reduction is then its own estimate combined with ``s × prior_a``, with the scale's
    uncertainty in the prior's variance. With little evidence the configuration stands; with
    much pooled evidence the scale moves every action; with much evidence on one action, its
    measurement.

    Returns ``{action: {"reduction", "measured", "weight", "prior", "scale", "calibration",
    "treated", "control"}}`` for the actions with treated and control customers.
    """
    if counterfactual not in ("model", "control"):
        raise ValueError(f"counterfactual must be 'model' or 'control', not {counterfactual!r}")
    if not months:
        return {}
    marks = ", ".join("?" for _ in months)
    k_row = con.execute(
        f"""SELECT sum(1 - stayed), {exact_sum("p_churn", 15)} FROM evaluation_outcomes
            WHERE month IN ({marks}) AND is_control""",
        months,
    ).fetchall()[0]
    k = float(k_row[0]) / float(k_row[1]) if k_row[1] else 1.0
    rows = con.execute(
        f"""SELECT action,
                   {_ARMS}, {exact_avg("p_churn", 15, "is_control")} AS p_c
            FROM evaluation_outcomes WHERE month IN ({marks})
            GROUP BY action ORDER BY action""",
        months,
    ).fetchall()
    rows = [r for r in rows if r[1] and r[2] and r[0] in prior]
    if not rows:
        return {}
    acts = [str(r[0]) for r in rows]
    n_t, n_c = (np.array([float(r[i]) for r in rows]) for i in (1, 2))
    c_t, c_c, d, p_t, p_c = (np.array([float(r[i] or 0.0) for r in rows]) for i in (3, 4, 5, 6, 7))
    denom = np.maximum(d * k, 1e-6)
    var_t, var_c = rate_variance(c_t, n_t), rate_variance(c_c, n_c)
    if counterfactual == "control":
        c0, var0, cal = c_c, var_c, np.divide(c_c, p_c, out=np.ones_like(c_c), where=p_c > 0)
        shared = np.zeros_like(c0)
    else:
        cal, var_cal, shared_cal = shrunk_calibration(c_c, var_c, p_c, floor=calibration_floor)
        c0, var0 = cal * p_t, var_cal * p_t**2
        shared = shared_cal * p_t / denom  # the common calibration's error moves every action
    m = (c0 - c_t) / denom
    v = (var_t + var0) / denom**2
    p = np.array([float(prior[a]) for a in acts])
    scale, scale_var = pooled_scale(m, v, p, prior_sd=prior_sd, scale_sd=scale_sd, common=shared)
    v = v + shared**2
    mean0 = scale * p
    tau2 = np.maximum(prior_sd * np.abs(mean0), 0.05) ** 2 + p**2 * scale_var
    w = tau2 / (tau2 + v)
    post = np.clip(w * m + (1 - w) * mean0, -0.5, 1.0)
    return {
        a: {
            "reduction": float(post[i]),
            "measured": float(m[i]),
            "weight": float(w[i]),
            "prior": float(mean0[i]),
            "scale": float(scale),
            "calibration": float(cal[i]),
            "treated": int(n_t[i]),
            "control": int(n_c[i]),
        }
        for i, a in enumerate(acts)
    }


def level_sql(dims: dict[str, list[str]], action: str, seg: str) -> str:
    """SQL of each row's level for its action: the values of the action's segment dimensions
    ``dims[action]`` in ``seg`` (a ``segments`` alias) joined by ``|`` — NULL for an action
    without dimensions or a line missing one of them.

    >>> level_sql({"data_pack": ["f"], "care_call": ["b", "c"]}, "o.action", "g")
    "CASE o.action WHEN 'data_pack' THEN CAST(g.f AS VARCHAR) WHEN 'care_call' THEN CAST(g.b AS VARCHAR) || '|' || CAST(g.c AS VARCHAR) END"
    """
    from weixi.segment.exprs import not_dimensions
    from weixi.store.sqlrun import sql_literal

    cases = []
    for a, cols in dims.items():
        bad = not_dimensions(cols)
        if bad:
            raise ValueError(
                f"reduction level dimensions {bad} of {a!r} are not segment dimensions"
            )
        if cols:
            expr = " || '|' || ".join(f"CAST({seg}.{c} AS VARCHAR)" for c in cols)
            cases.append(f"WHEN {sql_literal(a)} THEN {expr}")
    return f"CASE {action} {' '.join(cases)} END" if cases else "CAST(NULL AS VARCHAR)"


def reduction_by_level(
    *,
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date],
    actions: dict[str, dict[str, float]],
    dims: dict[str, list[str]],
    counterfactual: str = "model",
    min_treated: int = 30,
    level_sd_floor: float = 0.05,
    calibration_floor: float = 0.05,
) -> dict[str, dict[str, dict[str, float]]]:
    """Each action's churn reduction per level of its segment dimensions ``dims[action]`` (e.g.
    the binding level ``a`` and the data use ``f`` for a prepaid data offer), shrunk towards the
    action's reduction.

    An offer's effect differs between customers (a prepaid offer keeps those whose contract
    ends far better than the rest, a handset upgrade those with an old handset); one reduction
    per action gives every customer the mean. For action ``a`` and level ``g`` (the values the
    customer had in ``segments`` in the planned month, joined by ``|``) the estimate is the one
    of :func:`reduction_per_action` on the cell's customers: the treated's counterfactual is the
    churn score recalibrated on the level's controls of every action (the controls' levels in
    the same dimensions; a random-effects mean over levels, times the action's own calibration
    relative to the common one), or — ``counterfactual="control"`` — the cell's own controls.
    The cells scatter around their action's reduction ``actions[a]["reduction"]`` with a
    between-level spread ``τ`` (DerSimonian–Laird over all cells, at least
    ``level_sd_floor``); each cell is the precision-weighted mean of its own estimate and its
    action's: a thin cell stays at the action's reduction, a well-measured difference shows.

    Cells with fewer than ``min_treated`` treated customers (or, with the control
    counterfactual, no control) are left out: they take the action's reduction. Returns
    ``{action: {level: {"reduction", "measured", "weight", "treated", "control"}}}``.
    """
    if counterfactual not in ("model", "control"):
        raise ValueError(f"counterfactual must be 'model' or 'control', not {counterfactual!r}")
    dims = {a: list(c) for a, c in dims.items() if c and a in actions}
    level_sql(dims, "o.action", "g")  # checks the dimensions
    if not months or not actions or not dims:
        return {}
    marks = ", ".join("?" for _ in months)
    k_row = con.execute(
        f"""SELECT sum(1 - stayed), {exact_sum("p_churn", 15)} FROM evaluation_outcomes
            WHERE month IN ({marks}) AND is_control""",
        months,
    ).fetchall()[0]
    if not k_row[1]:
        return {}
    k = float(k_row[0]) / float(k_row[1])
    parts = []  # per set of dimensions: its actions' cells with m and v
    for cols in sorted({tuple(c) for c in dims.values()}):
        acts_here = [a for a, c in dims.items() if tuple(c) == cols]
        lvl = " || '|' || ".join(f"CAST(g.{c} AS VARCHAR)" for c in cols)
        src = f"""(SELECT o.*, {lvl} AS _level
                   FROM evaluation_outcomes o JOIN segments g
                     ON g.month = o.month AND g.subscriber_id = o.subscriber_id
                   WHERE o.month IN ({marks}) AND {lvl} IS NOT NULL)"""
        # the churn scores' calibration per level, over every action's controls
        lv = con.execute(
            f"""SELECT _level, avg(1 - stayed), count(*), {exact_avg("p_churn", 15)} FROM {src}
                WHERE is_control GROUP BY _level ORDER BY _level""",
            months,
        ).fetchall()
        marks_a = ", ".join("?" for _ in acts_here)
        rows = con.execute(
            f"""SELECT action, _level,
                       {_ARMS}
                FROM {src} WHERE action IN ({marks_a})
                GROUP BY action, _level ORDER BY action, _level""",
            [*months, *acts_here],
        ).fetchall()
        rows = [
            r for r in rows if (r[2] or 0) >= min_treated and (r[3] or counterfactual == "model")
        ]
        if not rows:
            continue
        cal_of: dict[str, float] = {}
        var_cal_of: dict[str, float] = {}
        if lv:
            rate = np.array([float(r[1]) for r in lv])
            n_lv = np.array([float(r[2]) for r in lv])
            pred = np.array([float(r[3] or 0.0) for r in lv])
            cal_lv, var_cal_lv, _ = shrunk_calibration(
                rate, rate_variance(rate, n_lv), pred, floor=calibration_floor
            )
            cal_of = {str(r[0]): float(c) for r, c in zip(lv, cal_lv, strict=True)}
            var_cal_of = {str(r[0]): float(v) for r, v in zip(lv, var_cal_lv, strict=True)}
        acts = [str(r[0]) for r in rows]
        levels = [str(r[1]) for r in rows]
        n_t, n_c = (np.array([float(r[i] or 0) for r in rows]) for i in (2, 3))
        c_t, c_c, d, p_t = (np.array([float(r[i] or 0.0) for r in rows]) for i in (4, 5, 6, 7))
        denom = np.maximum(d * k, 1e-6)
        var_t = rate_variance(c_t, n_t)
        if counterfactual == "control":
            c0, var0 = c_c, rate_variance(c_c, n_c)
        else:
            rel = np.array(
                [float(actions[a].get("calibration") or k) / k if k else 1.0 for a in acts]
            )
            cal = np.array([cal_of.get(g, k) for g in levels]) * rel
            c0 = cal * p_t
            var0 = np.array([var_cal_of.get(g, 0.0) for g in levels]) * rel**2 * p_t**2
        parts.append((acts, levels, n_t, n_c, (c0 - c_t) / denom, (var_t + var0) / denom**2))
    if not parts:
        return {}
    acts = [a for p in parts for a in p[0]]
    levels = [g for p in parts for g in p[1]]
    n_t, n_c, m, v = (np.concatenate([p[i] for p in parts]) for i in (2, 3, 4, 5))
    base = np.array([float(actions[a]["reduction"]) for a in acts])
    # between-level spread of the cells around their action (DerSimonian–Laird)
    dev, wf = m - base, 1.0 / np.maximum(v, 1e-12)
    q = float(np.sum(wf * dev**2))
    c = float(np.sum(wf) - np.sum(wf**2) / np.sum(wf))
    free = len(dev) - len(set(acts))  # each action's mean is fitted on its cells
    tau2 = max((q - free) / c, 0.0) if c > 0 else 0.0
    tau2 = max(tau2, level_sd_floor**2)
    w = tau2 / (tau2 + v)
    post = np.clip(w * m + (1 - w) * base, -0.5, 1.0)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for i, (a, g) in enumerate(zip(acts, levels, strict=True)):
        out.setdefault(a, {})[g] = {
            "reduction": float(post[i]),
            "measured": float(m[i]),
            "weight": float(w[i]),
            "treated": int(n_t[i]),
            "control": int(n_c[i]),
        }
    return out


def shrunk_calibration(
    rate: np.ndarray, variance: np.ndarray, predicted: np.ndarray, *, floor: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Each group's calibration (observed / predicted rate), shrunk towards the common one.

    ``rate`` is each group's observed rate with its sampling ``variance``, ``predicted`` the
    model's mean prediction for the same customers. The groups' calibrations ``k_g = rate /
    predicted`` scatter around a common ``k`` with a between-group variance ``τ²``
    (DerSimonian–Laird moment estimate, at least ``(floor × k)²``); each is then the
    precision-weighted mean of its own and the common value. Returns the shrunk calibrations,
    their own variances and, per group, the standard deviation its calibration shares with
    every other group (through the common mean).

    Two big groups churn as predicted; a small one shows twice the predicted rate, but with a
    standard error larger than that: it is pulled to the common calibration, the big ones hardly
    move:

    >>> cal, _, _ = shrunk_calibration(
    ...     np.array([0.05, 0.051, 0.10]), np.array([1e-6, 1e-6, 1e-3]), np.array([0.05] * 3)
    ... )
    >>> [round(float(x), 2) for x in cal]
    [1.0, 1.02, 1.02]
    """
    pred = np.maximum(predicted, 1e-9)
    kg = rate / pred
    vg = np.maximum(variance, 1e-12) / pred**2
    wf = 1.0 / vg
    k_fixed = float(np.sum(wf * kg) / np.sum(wf))
    q = float(np.sum(wf * (kg - k_fixed) ** 2))
    c = float(np.sum(wf) - np.sum(wf**2) / np.sum(wf))
    tau2 = max((q - (len(kg) - 1)) / c, 0.0) if c > 0 else 0.0
    wr = 1.0 / (vg + tau2 + 1e-18)
    k_common = float(np.sum(wr * kg) / np.sum(wr))
    tau2 = max(tau2, (floor * k_common) ** 2)
    wr = 1.0 / (vg + tau2)
    k_common = float(np.sum(wr * kg) / np.sum(wr))
    var_common = 1.0 / float(np.sum(wr))
    b = tau2 / (tau2 + vg)  # weight of the group's own calibration
    shrunk = b * kg + (1 - b) * k_common
    return shrunk, b * vg, (1 - b) * np.sqrt(var_common)


def pooled_scale(
    measured: np.ndarray,
    variance: np.ndarray,
    prior: np.ndarray,
    *,
    prior_sd: float = 0.5,
    scale_sd: float = 0.5,
    common: np.ndarray | None = None,
) -> tuple[float, float]:
    """The common scale ``s`` of the configured reductions and its posterior variance.

    Generalized least squares of ``measured`` on ``prior`` (each action's variance: its
    sampling ``variance`` plus the action-level spread ``(prior_sd × s × prior)²``; ``common``,
    when given, is an error all actions share — action ``a``'s estimate moves by ``common[a]``
    per standard deviation of it, as a shared counterfactual does — so the covariance is the
    diagonal plus ``common commonᵀ``; iterated from ``s = 1`` to a fixed point), then a normal
    prior ``N(1, scale_sd²)``; clipped to [0.05, 3]. Two actions measured precisely at 0.3 × their configured reduction move the
    scale most of the way; measured with a standard error of 1, hardly at all:

    >>> m, p = np.array([0.3, 0.15]), np.array([1.0, 0.5])
    >>> round(pooled_scale(m, np.array([1e-4, 1e-4]), p)[0], 2)
    0.34
    >>> round(pooled_scale(m, np.array([1.0, 1.0]), p)[0], 2)
    0.85
    """
    s, prec = 1.0, 1.0 / scale_sd**2
    shared = np.zeros_like(prior) if common is None else np.asarray(common, dtype=float)
    for _ in range(50):
        cov = np.diag(variance + np.maximum(prior_sd * s * np.abs(prior), 0.05) ** 2)
        cov += np.outer(shared, shared)
        w_prior = np.linalg.solve(cov, prior)
        info = float(prior @ w_prior)
        if info <= 0:
            return 1.0, scale_sd**2
        s_hat = float(measured @ w_prior) / info
        prec = info + 1.0 / scale_sd**2
        new = float(np.clip((s_hat * info + 1.0 / scale_sd**2) / prec, 0.05, 3.0))
        if abs(new - s) < 1e-9:
            return new, 1.0 / prec
        s = new
    return s, 1.0 / prec


def channel_effects(
    *,
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date],
    configured: dict[str, float],
    prior_n: float = 200.0,
) -> dict[str, dict[str, float]]:
    """How much of an action's effect each channel delivers, measured: P(reached | channel).

    The strategy library's channel ``effect`` is a belief about how often a contact through the
    channel works; the outcomes say how many treated customers each channel actually reached.
    The measured rate is blended with the configured effect with ``prior_n`` pseudo-customers.
    Channels whose outcomes cannot tell reach (``contacted`` unknown) are left out.
    """
    if not months:
        return {}
    marks = ", ".join("?" for _ in months)
    rows = con.execute(
        f"""SELECT channel, count(contacted), avg(contacted::INTEGER)
            FROM evaluation_outcomes
            WHERE month IN ({marks}) AND NOT is_control AND contacted IS NOT NULL
            GROUP BY channel ORDER BY channel""",
        months,
    ).fetchall()
    out = {}
    for channel, n, rate in rows:
        if channel not in configured or not n:
            continue
        effect = (n * float(rate) + prior_n * configured[channel]) / (n + prior_n)
        out[str(channel)] = {"effect": float(effect), "measured": float(rate), "n": int(n)}
    return out


def write_channel_effects(
    *, con: duckdb.DuckDBPyConnection, month: dt.date, effects: dict[str, dict[str, float]]
) -> None:
    """Store ``month``'s learned channel effects (matching reads them with learned effects)."""
    con.execute("DELETE FROM channel_effects WHERE month = ?", [month])
    if effects:
        con.executemany(
            "INSERT INTO channel_effects VALUES (?, ?, ?, ?, ?)",
            [(month, c, v["effect"], v["measured"], v["n"]) for c, v in effects.items()],
        )


def apply_reduction(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    reduction: dict[str, float],
    uplift_range: tuple[float, float],
    version: str,
    by_level: dict[str, dict[str, float]] | None = None,
    dims: dict[str, list[str]] | None = None,
    configured_take: dict[str, float] | None = None,
    action_line_types: dict[str, str] | None = None,
) -> int:
    """Learned uplift = the customer's learned take rate × the action's learned reduction.

    Sets ``uplift`` on ``month``'s rows that carry a take rate, for the actions in
    ``reduction`` (the library's unit: share of would-be churners kept when reached); where
    ``by_level`` gives the action a reduction for the line's level of its segment dimensions
    ``dims[action]`` in ``month`` (:func:`reduction_by_level`), that one.

    An action of ``reduction`` whose take rate is not learned yet (too few reached customers)
    gets rows too when ``configured_take`` and ``action_line_types`` are given: every line of
    its line type in ``month``'s ``segments``, uplift = configured take rate × its learned
    reduction (``take_rate`` NULL). Without them matching would keep its *configured* uplift —
    the library's value, which the pooled scale has shown wrong for every action — and a plan
    that chooses by value would prefer exactly the actions nothing has measured yet. Returns
    the number of rows set.
    """
    if not reduction:
        return 0
    lo, hi = (float(x) for x in uplift_range)
    frame = pd.DataFrame({"action": list(reduction), "r": [float(v) for v in reduction.values()]})
    con.register("_reduction_in", frame)
    try:
        n = con.execute(
            f"""UPDATE uplift SET uplift = least(greatest(take_rate * r.r, {lo!r}), {hi!r}),
                   model_version = ?
               FROM _reduction_in r
               WHERE uplift.month = ? AND uplift.action = r.action
                 AND uplift.take_rate IS NOT NULL""",
            [version, month],
        ).fetchall()
    finally:
        con.unregister("_reduction_in")
    cells = [
        (a, g, float(r))
        for a, lv in (by_level or {}).items()
        if a in reduction
        for g, r in lv.items()
    ]
    if cells and dims:
        # the line's level for the row's action, a hash-join key next to the action
        level = level_sql(dims, "u.action", "g")
        lvl = pd.DataFrame(cells, columns=["action", "level", "r"])
        con.register("_reduction_lvl", lvl)
        try:
            con.execute(
                f"""UPDATE uplift SET uplift = least(greatest(take_rate * x.r, {lo!r}), {hi!r})
                   FROM (SELECT u.subscriber_id, u.action, l.r
                         FROM uplift u
                         JOIN segments g ON g.month = u.month AND g.subscriber_id = u.subscriber_id
                         JOIN _reduction_lvl l ON l.action = u.action AND l.level = {level}
                         WHERE u.month = ?) x
                   WHERE uplift.month = ? AND uplift.subscriber_id = x.subscriber_id
                     AND uplift.action = x.action AND uplift.take_rate IS NOT NULL""",
                [month, month],
            )
        finally:
            con.unregister("_reduction_lvl")
    added = 0
    if configured_take and action_line_types:
        have = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT action FROM uplift WHERE month = ? AND take_rate IS NOT NULL",
                [month],
            ).fetchall()
        }
        rest = pd.DataFrame(
            [
                (a, action_line_types[a], float(configured_take[a]) * float(r))
                for a, r in reduction.items()
                if a not in have and a in configured_take and a in action_line_types
            ],
            columns=["action", "line_type", "u"],
        )
        if len(rest):
            con.register("_reduction_rest", rest)
            try:
                con.execute(
                    "DELETE FROM uplift WHERE month = ? AND action IN "
                    "(SELECT action FROM _reduction_rest)",
                    [month],
                )
                added = int(
                    con.execute(
                        f"""INSERT INTO uplift (month, subscriber_id, action, uplift, take_rate,
                                                model_version)
                           SELECT ?::DATE, g.subscriber_id, r.action,
                                  least(greatest(r.u, {lo!r}), {hi!r}), NULL, ?
                           FROM segments g JOIN _reduction_rest r
                             ON r.line_type = 'any' OR CAST(g.line_type AS VARCHAR) = r.line_type
                           WHERE g.month = ?""",
                        [month, version, month],
                    ).fetchall()[0][0]
                )
            finally:
                con.unregister("_reduction_rest")
    return (int(n[0][0]) if n else 0) + added
