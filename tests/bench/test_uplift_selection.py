import json
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench" / "uplift_selection.py"


def test_experiments_carry_the_effect_of_their_shape():
    import importlib.util

    spec = importlib.util.spec_from_file_location("uplift_selection", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    experiment = bench.experiment

    df = experiment(200_000, "interaction", 0.08, seed=1)
    visit = df["visit"].astype(int)
    mailed = df["arm"] == "mail"
    hit = (df["channel"] == "web") & (df["spend"].astype(float) > 80)
    lift = visit[mailed & hit].mean() - visit[~mailed & hit].mean()
    elsewhere = visit[mailed & ~hit].mean() - visit[~mailed & ~hit].mean()
    assert abs(lift - 0.08) < 0.015 and abs(elsewhere) < 0.01
    null = experiment(200_000, "null", 0.0, seed=2)
    by_arm = null.groupby("arm")["visit"].apply(lambda v: v.astype(int).mean())
    assert abs(by_arm["mail"] - by_arm["none"]) < 0.006


def test_the_report_accounts_for_every_test():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--seeds", "1", "--rows", "3000"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    got = json.loads(out.stdout)
    assert set(got["by_shape"]) == {"interaction", "linear", "sign", "smooth", "null"}
    for rule in ("best_oof", "top2_average", "with_logistic"):
        r = got["all"][rule]
        assert np.isclose(r["above"] + r["equal"] + r["below"], 1.0, atol=0.011)
        assert np.isfinite(r["mean_qini_minus_baseline"])
    assert got["all"]["top2_average"]["equal"] == 0  # an average is never the baseline itself
