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
        return self.booster.predict(np.hstack([X, code]))

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
            f"no action has {min_contacted} reached customers with a known answer yet"
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
) -> dict:
    """Write ``month``'s predicted take rate per targetable line × learned action.

    Existing ``uplift`` rows of the month get their ``take_rate``; lines × actions without a
    learned uplift get a row with ``uplift`` NULL (matching keeps the configured effect for
    them). Returns ``{"rows", "actions": {action: mean take rate}}``.
    """
    from weixi.evaluate.service import UPLIFT_TABLE_DDL, uplift_scoring_frame

    df, X = uplift_scoring_frame(con=con, month=month)
    con.execute(UPLIFT_TABLE_DDL)
    con.execute("ALTER TABLE uplift ADD COLUMN IF NOT EXISTS take_rate DOUBLE")
    line = df["line_type"].astype(str).to_numpy()
    parts = []
    means = {}
    for a in model.actions:
        kind = action_line_types.get(a)
        if kind is None:
            continue
        rows = np.flatnonzero((line == kind) | (kind == "any"))
        if not len(rows):
            continue
        p = model.predict(X[rows], a)
        means[a] = round(float(p.mean()), 4)
        parts.append(
            pd.DataFrame(
                {"subscriber_id": df["subscriber_id"].to_numpy()[rows], "action": a, "take": p}
            )
        )
    if not parts:
        return {"rows": 0, "actions": {}}
    out = pd.concat(parts, ignore_index=True)
    con.register("_take_in", out)
    try:
        con.execute(
            """UPDATE uplift SET take_rate = t.take FROM _take_in t
               WHERE uplift.month = ? AND uplift.subscriber_id = t.subscriber_id
                 AND uplift.action = t.action""",
            [month],
        )
        con.execute(
            """INSERT INTO uplift (month, subscriber_id, action, uplift, take_rate, model_version)
               SELECT ?::DATE, t.subscriber_id, t.action, NULL, t.take, ?
               FROM _take_in t ANTI JOIN (SELECT subscriber_id, action FROM uplift
                                          WHERE month = ?) u USING (subscriber_id, action)""",
            [month, version, month],
        )
    finally:
        con.unregister("_take_in")
    return {"rows": len(out), "actions": means}
