"""Per-customer, per-action uplift learned from past campaigns and their randomized controls.

A multi-treatment **T-learner** (per action, one LightGBM outcome model of its treated customers
and one of its *own* randomized controls — the customers planned for that action and held back,
so that an action's effect is not confounded with who the plan gives it to) or **X-learner** (T-learner first stage, then per-action models of the imputed individual effects,
blended by the propensity), plus the usual uplift diagnostics: the **Qini curve / coefficient**
and **uplift by decile** (observed treated − control retention in each decile of predicted uplift).

The outcome is *stayed next month* (1/0), so an uplift is the increase in the probability of
staying (= the decrease in churn probability) that the action causes.

Pure functions over numpy arrays; persistence is in :mod:`weixi.evaluate.service`.

Example:
    >>> rng = np.random.default_rng(0)
    >>> n = 6000
    >>> X = rng.normal(size=(n, 3))
    >>> arm = rng.choice(np.array(["", "care_call"]), n)
    >>> p_stay = 0.8 + 0.15 * (arm == "care_call") * (X[:, 0] > 0)
    >>> y = (rng.random(n) < p_stay).astype(float)
    >>> m = fit_uplift(X, arm, y, params=UpliftParams(n_estimators=60))
    >>> u = m.predict(X)[:, 0]
    >>> bool(u[X[:, 0] > 0.5].mean() > u[X[:, 0] < -0.5].mean() + 0.05)
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
from pydantic import BaseModel, Field

from weixi.errors import ModelError

CONTROL = ""  # arm label of untreated customers (randomized holdout and not planned)


class UpliftParams(BaseModel):
    """Hyper-parameters of the uplift learners (typed; loaded from YAML by the service)."""

    learner: str = Field("t", pattern="^(t|x)$")
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 100
    subsample: float = 0.8
    min_arm_size: int = 200  # actions with fewer treated customers get no model
    min_control_arm: int = 100  # … or fewer of their own controls (per-action controls)
    seed: int = 0

    def lgb_params(self, objective: str) -> dict:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1,
            "seed": self.seed,
            "num_threads": 2,
            "verbose": -1,
        }


def _train(X: np.ndarray, y: np.ndarray, params: UpliftParams, objective: str) -> lgb.Booster:
    data = lgb.Dataset(X, label=y, free_raw_data=True)
    return lgb.train(params.lgb_params(objective), data, num_boost_round=params.n_estimators)


@dataclass
class UpliftModel:
    """A fitted multi-treatment uplift model.

    ``predict(X)`` returns an ``(n, len(actions))`` matrix of uplift in P(stay); actions without
    enough training data are absent from ``actions``.
    """

    actions: list[str]
    learner: str
    # untreated outcome model per action (its own controls); key CONTROL = one pooled model
    controls: dict[str, lgb.Booster]
    treated: dict[str, lgb.Booster]
    tau: dict[str, tuple[lgb.Booster, lgb.Booster, float]] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    n_train: dict[str, int] = field(default_factory=dict)

    def untreated(self, action: str) -> lgb.Booster:
        """The untreated outcome model ``action`` is compared with."""
        return self.controls.get(action) or self.controls[CONTROL]

    def predict_outcome(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(stay) without and with each action, both ``(n, A)`` (T-learner stage)."""
        pooled = CONTROL in self.controls and self.controls[CONTROL].predict(X)
        base = np.column_stack(
            [self.controls[a].predict(X) if a in self.controls else pooled for a in self.actions]
        )
        with_a = np.column_stack([self.treated[a].predict(X) for a in self.actions])
        return base, with_a

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Uplift in P(stay) per customer (rows) and action (columns, ``self.actions`` order)."""
        if not self.actions:
            return np.zeros((len(X), 0))
        if self.learner == "x":
            cols = []
            for a in self.actions:
                tau0, tau1, g = self.tau[a]
                cols.append(g * tau0.predict(X) + (1 - g) * tau1.predict(X))
            return np.column_stack(cols)
        base, with_a = self.predict_outcome(X)
        return with_a - base

    def to_json(self) -> str:
        """Serialize (LightGBM text models inside JSON)."""
        return json.dumps(
            {
                "actions": self.actions,
                "learner": self.learner,
                "controls": {a: b.model_to_string() for a, b in self.controls.items()},
                "treated": {a: b.model_to_string() for a, b in self.treated.items()},
                "tau": {
                    a: [t0.model_to_string(), t1.model_to_string(), g]
                    for a, (t0, t1, g) in self.tau.items()
                },
                "feature_names": self.feature_names,
                "n_train": self.n_train,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> UpliftModel:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)

        def load(s: str) -> lgb.Booster:
            return lgb.Booster(model_str=s)

        # models saved before per-action controls hold one pooled "control"
        controls = d.get("controls") or {CONTROL: d["control"]}
        return cls(
            actions=d["actions"],
            learner=d["learner"],
            controls={a: load(s) for a, s in controls.items()},
            treated={a: load(s) for a, s in d["treated"].items()},
            tau={a: (load(v[0]), load(v[1]), float(v[2])) for a, v in d["tau"].items()},
            feature_names=d.get("feature_names", []),
            n_train=d.get("n_train", {}),
        )


def fit_uplift(
    X: np.ndarray,
    arm: np.ndarray,
    stayed: np.ndarray,
    *,
    params: UpliftParams | None = None,
    feature_names: list[str] | None = None,
    control_action: np.ndarray | None = None,
) -> UpliftModel:
    """Fit a multi-treatment T- or X-learner on LightGBM.

    Args:
        X: feature matrix ``(n, k)`` of the month the action was taken.
        arm: action key each customer received, ``""`` for untreated (control).
        stayed: 1 if the customer stayed next month, else 0.
        params: :class:`UpliftParams`.
        feature_names: names of the columns of X (kept with the model).
        control_action: for each row, the action the plan meant for the customer (read on the
            control rows). Given, each action is compared with its own controls only, and an
            action with fewer than ``min_arm_size`` of them gets no model (its configured effect
            stays); None pools every untreated row into one comparison model.
            ``min_control_arm`` own controls are needed.

    Returns:
        :class:`UpliftModel`.

    Raises:
        ModelError: no untreated customers, or no action with ``min_arm_size`` customers.
    """
    p = params or UpliftParams()
    X = np.asarray(X, dtype=np.float64)
    arm = np.asarray(arm).astype(str)
    y = np.asarray(stayed, dtype=np.float64)
    ctrl = arm == CONTROL
    need = p.min_arm_size if control_action is None else p.min_control_arm
    if ctrl.sum() < need:
        raise ModelError(
            "uplift needs at least {need} untreated customers, got {got}; "
            "keep a control group (holdout) in the campaigns",
            need=need,
            got=int(ctrl.sum()),
        )
    labels, counts = np.unique(arm[~ctrl], return_counts=True)
    actions = [str(a) for a, c in zip(labels, counts, strict=True) if c >= p.min_arm_size]
    own: dict[str, np.ndarray] = {}
    if control_action is not None:
        planned = np.asarray(control_action).astype(str)
        own = {a: ctrl & (planned == a) for a in actions}
        actions = [a for a in actions if own[a].sum() >= p.min_control_arm]
    if not actions:
        if own:
            raise ModelError(
                "no action has {min_arm_size} treated customers and {min_control_arm} of its own "
                "controls yet; run more campaigns first",
                min_arm_size=p.min_arm_size,
                min_control_arm=p.min_control_arm,
            )
        raise ModelError(
            "no action has {min_arm_size} treated customers yet; run more campaigns first",
            min_arm_size=p.min_arm_size,
        )
    if own:
        controls = {a: _train(X[own[a]], y[own[a]], p, "binary") for a in actions}
    else:
        controls = {CONTROL: _train(X[ctrl], y[ctrl], p, "binary")}
        own = dict.fromkeys(actions, ctrl)
    treated = {a: _train(X[arm == a], y[arm == a], p, "binary") for a in actions}
    tau: dict[str, tuple[lgb.Booster, lgb.Booster, float]] = {}
    if p.learner == "x":
        for a in actions:
            ta, ca = arm == a, own[a]
            mu0 = (controls.get(a) or controls[CONTROL]).predict(X[ta])
            d1 = y[ta] - mu0  # treated: observed − predicted untreated
            d0 = treated[a].predict(X[ca]) - y[ca]  # control: predicted treated − observed
            g = float(ta.sum() / (ta.sum() + ca.sum()))
            t1 = _train(X[ta], d1, p, "regression")
            t0 = _train(X[ca], d0, p, "regression")
            tau[a] = (t0, t1, g)
    n_train = {"control": int(ctrl.sum()), **{a: int((arm == a).sum()) for a in actions}}
    if control_action is not None:
        n_train.update({f"control:{a}": int(own[a].sum()) for a in actions})
    return UpliftModel(
        actions=actions,
        learner=p.learner,
        controls=controls,
        treated=treated,
        tau=tau,
        feature_names=list(feature_names or []),
        n_train=n_train,
    )


def qini_curve(score, treated, stayed, *, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: incremental stayers when targeting the top-scored share of customers.

    Customers are sorted by ``score`` (descending); at each cut the Qini value is
    ``S_t − S_c · N_t / N_c`` (stayers among treated minus control stayers scaled to the treated
    count), per customer of the whole population.

    Returns:
        ``(fraction, qini)`` arrays of length ``bins + 1`` starting at (0, 0).

    Example:
        >>> f, q = qini_curve(np.arange(4.0), np.array([1, 0, 1, 0], bool), np.array([1, 0, 1, 1]))
        >>> float(f[-1]), round(float(q[-1]), 2)
        (1.0, 0.25)
    """
    score = np.asarray(score, dtype=np.float64)
    treated = np.asarray(treated, dtype=bool)
    stayed = np.asarray(stayed, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    t = treated[order]
    y = stayed[order]
    nt = np.cumsum(t)
    nc = np.cumsum(~t)
    st = np.cumsum(y * t)
    sc = np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(nc > 0, st - sc * nt / nc, 0.0) / len(score)
    idx = np.unique(np.linspace(0, len(score), bins + 1).round().astype(int))
    idx = idx[idx > 0]
    frac = np.r_[0.0, idx / len(score)]
    return frac, np.r_[0.0, q[idx - 1]]


def qini_coefficient(score, treated, stayed, *, bins: int = 100) -> float:
    """Area between the Qini curve and the random-targeting diagonal (higher = better ranking)."""
    frac, q = qini_curve(score, treated, stayed, bins=bins)
    diagonal = frac * q[-1]
    return float(np.trapezoid(q - diagonal, frac))


def uplift_by_decile(score, treated, stayed, *, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Observed uplift in each decile of predicted uplift (decile 1 = highest predicted).

    Returns:
        Arrays per decile: decile, n_treated, n_control, retention_treated, retention_control,
        observed_uplift, predicted_uplift (mean score).
    """
    score = np.asarray(score, dtype=np.float64)
    treated = np.asarray(treated, dtype=bool)
    stayed = np.asarray(stayed, dtype=np.float64)
    n = len(score)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(n)
    dec = (rank * n_bins) // max(n, 1)

    def by(w, mask):
        return np.bincount(dec[mask], weights=w[mask], minlength=n_bins)

    ones = np.ones(n)
    n_t, n_c = by(ones, treated), by(ones, ~treated)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_t = by(stayed, treated) / n_t
        r_c = by(stayed, ~treated) / n_c
        pred = np.bincount(dec, weights=score, minlength=n_bins) / np.bincount(
            dec, minlength=n_bins
        )
    return {
        "decile": np.arange(1, n_bins + 1),
        "n_treated": n_t.astype(np.int64),
        "n_control": n_c.astype(np.int64),
        "retention_treated": r_t,
        "retention_control": r_c,
        "observed_uplift": r_t - r_c,
        "predicted_uplift": pred,
    }
