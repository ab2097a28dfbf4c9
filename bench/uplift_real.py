"""`weixi uplift fit-eval` on real randomized experiments, against the logistic T-learner.

The issue's uplift target is a Qini coefficient above the logistic T-learner's on a real
randomized experiment. ``shared/data`` holds none, so this script runs the product's
:func:`weixi.evaluate.external.fit_eval` — what ``weixi uplift fit-eval`` runs — on three public
field experiments shipped with the ``causaldata`` package (MIT; the data are the studies'
replication files), each over several random 70/30 splits (``--seeds``), because a held-out
part of 400–1,700 rows makes one split's Qini mostly luck:

* ``black_politicians`` — Broockman (2013): e-mails to 5,593 US state legislators from a
  putatively black constituent; the arm (``treat_out``) says the sender lives outside the
  legislator's district, the outcome is a reply. The paper's finding is an effect that differs
  by who receives it (black legislators answer out-of-district black senders far more often).
* ``thornton_hiv`` — Thornton (2008): a randomized cash incentive (``any``) to collect one's HIV
  test result in Malawi; the outcome ``got``; fields distance, age, HIV status. The incentive's
  amount (``tinc``) is the treatment's dose and the village an identifier: both left out.
* ``social_insure`` — Cai, de Janvry and Sadoulet (2015): an intensive information session
  (``intensive``) on weather insurance for rice farmers in China; the outcome ``takeup_survey``;
  the address and village (identifiers) left out.

Prints JSON: per experiment the rows, the difference in means of the whole file, and over the
splits the product's and the baseline's mean held-out Qini coefficient and uplift at 30 %, the
learner each split picked, and how many splits the product is above, equal to (it picked the
logistic T-learner itself) or below the baseline.

Example (the data: ``pip download --no-deps causaldata==0.1.5 -d /tmp/cd``):
    .venv/bin/python bench/uplift_real.py --causaldata /tmp/cd/causaldata-0.1.5.tar.gz --seeds 10
"""

from __future__ import annotations

import argparse
import io
import json
import math
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Experiment:
    """One study: its file inside the package, and how ``fit-eval`` reads it."""

    file: str
    treatment: str
    outcome: str
    drop: tuple[str, ...] = ()
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def _thornton(df: pd.DataFrame) -> pd.DataFrame:
    # people outside the experiment (no arm) or without the outcome recorded are not in it
    return df.dropna(subset=["any", "got"])


EXPERIMENTS = {
    "black_politicians": Experiment(
        "causaldata/black_politicians/black_politicians.csv", "treat_out", "responded"
    ),
    "thornton_hiv": Experiment(
        "causaldata/thornton_hiv/thornton_hiv.dta",
        "any",
        "got",
        drop=("tinc", "villnum"),
        prepare=_thornton,
    ),
    "social_insure": Experiment(
        "causaldata/social_insure/Cai_2015.csv",
        "intensive",
        "takeup_survey",
        drop=("address", "village"),
    ),
}


def read(source: Path, exp: Experiment) -> pd.DataFrame:
    """The experiment's table from the package's sdist (``.tar.gz``) or its unpacked folder,
    with the arm and the outcome as the integers 1/0 (``fit-eval`` compares them as text)."""
    if source.is_dir():
        data = (source / exp.file).read_bytes()
    else:
        with tarfile.open(source) as tar:
            name = next(m for m in tar.getnames() if m.endswith(exp.file))
            member = tar.extractfile(name)
            assert member is not None
            data = member.read()
    if exp.file.endswith(".dta"):
        df = pd.read_stata(io.BytesIO(data))
    else:
        df = pd.read_csv(io.BytesIO(data))
    if exp.prepare is not None:
        df = exp.prepare(df)
    df = df.drop(columns=[c for c in exp.drop if c in df.columns])
    for c in (exp.treatment, exp.outcome):
        df[c] = df[c].astype(float).astype(int)
    return df.reset_index(drop=True)


def run_one(df: pd.DataFrame, exp: Experiment, seed: int) -> dict:
    """One split of ``fit-eval``: the product's pick and the baseline on the held-out part."""
    from weixi.evaluate.external import fit_eval

    rep = fit_eval(
        df, treatment=exp.treatment, treated="1", control="0", outcome=exp.outcome, seed=seed
    )
    model, base = rep["model"], rep["baseline_t_logistic"]
    return {
        "seed": seed,
        "learner": model["learner"],
        "qini": model["qini_coefficient"],
        "qini_baseline": base["qini_coefficient"],
        "uplift_at_30": model["uplift_at_30"],
        "uplift_at_30_baseline": base["uplift_at_30"],
        "test_ate": rep["test"]["ate"],
        "n_test": rep["n_test"],
    }


def summarize(df: pd.DataFrame, exp: Experiment, runs: list[dict]) -> dict:
    """Means over the splits and the product's record against the baseline."""
    diff = np.array([r["qini"] - r["qini_baseline"] for r in runs])
    equal = [r["learner"] == "t_logistic" for r in runs]
    above = sum(1 for d, e in zip(diff, equal, strict=True) if not e and d > 0)
    below = sum(1 for d, e in zip(diff, equal, strict=True) if not e and d <= 0)
    t, y = df[exp.treatment].to_numpy(), df[exp.outcome].to_numpy()
    learners: dict[str, int] = {}
    for r in runs:
        learners[r["learner"]] = learners.get(r["learner"], 0) + 1
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return {
        "rows": len(df),
        "treated_share": round(float(t.mean()), 4),
        "response_rate": round(float(y.mean()), 4),
        "difference_in_means": round(float(y[t == 1].mean() - y[t == 0].mean()), 4),
        "splits": len(runs),
        "qini_mean": round(float(np.mean([r["qini"] for r in runs])), 4),
        "qini_baseline_mean": round(float(np.mean([r["qini_baseline"] for r in runs])), 4),
        "qini_difference_mean": round(float(diff.mean()), 4),
        "qini_difference_se": round(se, 4),
        "uplift_at_30_mean": round(float(np.mean([r["uplift_at_30"] for r in runs])), 4),
        "uplift_at_30_baseline_mean": round(
            float(np.mean([r["uplift_at_30_baseline"] for r in runs])), 4
        ),
        "above": above,
        "equal": sum(equal),
        "below": below,
        "learners": learners,
        "runs": runs,
    }


def rules(df: pd.DataFrame, exp: Experiment, seeds: int) -> dict:
    """The ways to pick of ``bench/uplift_selection.py`` on the same splits: held-out Qini
    minus the baseline's, mean and above / equal / below counts per rule."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "uplift_selection", Path(__file__).with_name("uplift_selection.py")
    )
    sel = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(sel)
    diffs: dict[str, list[float]] = {}
    for seed in range(seeds):
        got = sel.picks(df, seed, treatment=exp.treatment, treated="1", outcome=exp.outcome)
        for rule, d in got.items():
            diffs.setdefault(rule, []).append(d)
    return {
        rule: {
            "mean_qini_minus_baseline": round(float(np.mean(d)), 4),
            "above": int(sum(x > 0 for x in d)),
            "equal": int(sum(x == 0 for x in d)),
            "below": int(sum(x < 0 for x in d)),
        }
        for rule, d in diffs.items()
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--causaldata", type=Path, required=True, help="causaldata's sdist or unpacked folder"
    )
    ap.add_argument("--seeds", type=int, default=10, help="random 70/30 splits per experiment")
    ap.add_argument("--only", default=None, help="comma-separated experiment names")
    ap.add_argument(
        "--rules", action="store_true", help="also compare the ways to pick on the same splits"
    )
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(EXPERIMENTS)
    out = {}
    for name in names:
        exp = EXPERIMENTS[name]
        df = read(args.causaldata, exp)
        runs = [run_one(df, exp, seed) for seed in range(args.seeds)]
        out[name] = summarize(df, exp, runs)
        if args.rules:
            out[name]["rules"] = rules(df, exp, args.seeds)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
