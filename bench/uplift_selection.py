"""How `weixi uplift fit-eval` picks its learner, against the logistic T-learner baseline.

Draws randomized experiments from five effect shapes (an interaction of two fields, a linear
trend, an effect whose sign flips, a smooth function of two hidden-ish fields, and no effect at
all), splits each as ``fit-eval`` does (70/30, stratified on arm × outcome), scores the product's
candidates out of fold on the training part (:func:`weixi.evaluate.external.out_of_fold`) and on
the held-out part, and compares five ways to pick on the held-out Qini coefficient:

* ``best_oof`` — the candidate with the best out-of-fold Qini (the product's rule until
  2026-12-07);
* ``top2_average`` — the average of the two best out of fold;
* ``with_logistic`` — the best out of fold averaged with the logistic T-learner;
* ``one_se`` — the simplest candidate (``SIMPLE_FIRST``) within one standard error of the best
  out of fold (the standard error of their paired difference over bootstrap resamples);
* ``over_baseline`` — the product's rule (:func:`weixi.evaluate.external.select`): the best out
  of fold if it beats the default learner (the logistic T-learner; the response learner given
  a mediator) by more than one standard error, else the default.

Prints JSON: per shape and overall, the mean held-out Qini minus the baseline's, and the shares
of experiments where the pick is above, equal to (it *is* the baseline) or below the baseline.

Example:
    .venv/bin/python bench/uplift_selection.py --seeds 10 --rows 12000
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

SHAPES = {
    "interaction": 0.08,
    "linear": 0.10,
    "sign": 0.08,
    "smooth": 0.10,
    "null": 0.0,
}


def experiment(n: int, shape: str, effect: float, seed: int) -> pd.DataFrame:
    """One randomized e-mail test: P(visit) from the fields, plus the effect for the mailed."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    spend = rng.gamma(2.0, 50.0, n).round(1)
    channel = rng.choice(["web", "phone", "store"], n)
    tenure = rng.exponential(3, n).round(2)
    x5, x6 = rng.normal(size=n).round(3), rng.normal(size=n).round(3)
    mailed = rng.random(n) < 0.5
    base = 0.15 + 0.001 * (age - 40) + 0.03 * (channel == "store") - 0.01 * np.minimum(tenure, 5)
    tau = {
        "interaction": effect * (channel == "web") * (spend > 80),
        "linear": effect * np.clip((80 - age) / 62, 0, 1),
        "sign": effect * np.where(tenure < 2, 1.0, -0.5),
        "smooth": effect / (1 + np.exp(-(x5 + 0.5 * x6))),
        "null": np.zeros(n),
    }[shape]
    visit = rng.random(n) < np.clip(base + mailed * tau, 0.01, 0.99)
    return pd.DataFrame(
        {
            "age": age.astype(str),
            "spend": spend.astype(str),
            "channel": channel,
            "tenure": tenure.astype(str),
            "x5": x5.astype(str),
            "x6": x6.astype(str),
            "arm": np.where(mailed, "mail", "none"),
            "visit": visit.astype(int).astype(str),
        }
    )


#: the candidates from the simplest to the most flexible (the one-standard-error rule's order)
SIMPLE_FIRST = (
    "t_logistic",
    "t_spline_logistic",
    "blend_lightgbm_logistic",
    "t_lightgbm_small",
    "x_lightgbm_small",
    "t_lightgbm",
    "response",
)


def one_se_pick(oof_qini: dict[str, float], boot: dict[str, np.ndarray]) -> str:
    """The simplest candidate whose out-of-fold Qini is within one standard error (of its
    paired difference with the best, over the bootstrap resamples) of the best's."""
    best = max(oof_qini, key=oof_qini.get)
    for name in SIMPLE_FIRST:
        if name not in oof_qini:
            continue
        gap = oof_qini[best] - oof_qini[name]
        if name == best or gap <= float(np.std(boot[best] - boot[name], ddof=1)):
            return name
    return best


def picks(
    df: pd.DataFrame,
    seed: int,
    *,
    treatment: str = "arm",
    treated: str = "mail",
    outcome: str = "visit",
    resamples: int = 200,
    id_col: str | None = None,
    mediator: str | None = None,
) -> dict[str, float]:
    """Held-out Qini of each way to pick, minus the logistic T-learner's."""
    from sklearn.model_selection import train_test_split

    from weixi.churn.params import TabularParams
    from weixi.churn.tabular import Featurizer, detect, target_vector
    from weixi.evaluate import external as ex

    t = (df[treatment].astype(str) == treated).to_numpy(int)
    y = target_vector(df[outcome], outcome)
    strata = 2 * t + y
    tr, te = train_test_split(np.arange(len(df)), test_size=0.3, random_state=seed, stratify=strata)
    spec = detect(df.iloc[tr], outcome, id_col, [treatment, *([mediator] if mediator else [])])
    fz = Featurizer(spec, TabularParams(max_pairwise_columns=0)).fit(df.iloc[tr])
    f_tr, f_te = ex._frames(df.iloc[tr], None, fz), ex._frames(df.iloc[te], None, fz)
    cands = ex.candidates(len(tr))
    if mediator:  # the response learner, as fit-eval adds it
        f_tr.m = ex.mediator_vector(df[mediator])[tr]
        cands["response"] = ex._response
    oof = ex.out_of_fold(cands, f_tr, t[tr], y[tr], strata[tr], seed=seed)
    held = {name: fit(f_tr, t[tr], y[tr])(f_te) for name, fit in cands.items()}
    for name, (a, b) in ex.BLENDS.items():
        held[name] = 0.5 * (held[a] + held[b])
    oof_qini = {name: ex.qini_auc_score(y[tr], s, t[tr]) for name, s in oof.items()}
    order = sorted(oof_qini, key=oof_qini.get, reverse=True)
    boot = ex.qini_bootstrap(
        y[tr], oof, t[tr], resamples=int(np.clip(4_000_000 // len(tr), 50, resamples)), seed=seed
    )
    product = ex.select(oof_qini, oof, y[tr], t[tr], default=ex.default_learner(cands), seed=seed)

    def qini(s: np.ndarray) -> float:
        return ex.qini_auc_score(y[te], s, t[te])

    base = qini(held["t_logistic"])
    return {
        "best_oof": qini(held[order[0]]) - base,
        "top2_average": qini(0.5 * (held[order[0]] + held[order[1]])) - base,
        "with_logistic": qini(0.5 * (held[order[0]] + held["t_logistic"])) - base,
        "one_se": qini(held[one_se_pick(oof_qini, boot)]) - base,
        "over_baseline": qini(held[product["learner"]]) - base,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="experiments per effect shape")
    ap.add_argument("--rows", type=int, default=12_000)
    args = ap.parse_args()
    rows = []
    for shape, effect in SHAPES.items():
        for seed in range(args.seeds):
            out = picks(experiment(args.rows, shape, effect, 100 + seed), seed)
            rows.extend({"shape": shape, "rule": r, "diff": d} for r, d in out.items())
    df = pd.DataFrame(rows)

    def summary(g: pd.DataFrame) -> dict:
        return {
            rule: {
                "mean_qini_minus_baseline": round(float(d["diff"].mean()), 5),
                "above": round(float((d["diff"] > 0).mean()), 2),
                "equal": round(float((d["diff"] == 0).mean()), 2),
                "below": round(float((d["diff"] < 0).mean()), 2),
            }
            for rule, d in g.groupby("rule")
        }

    report = {"rows": args.rows, "seeds": args.seeds, "all": summary(df)}
    report["by_shape"] = {shape: summary(g) for shape, g in df.groupby("shape")}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
