"""bench/uplift_real.py reads the studies from causaldata's sdist and runs fit-eval on each."""

import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[2] / "bench" / "uplift_real.py"


def _bench():
    spec = importlib.util.spec_from_file_location("uplift_real", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass resolves annotations through its module
    spec.loader.exec_module(mod)
    return mod


def _sdist(path: Path, n: int = 2400) -> Path:
    """A stand-in for causaldata's sdist: the three files, with the studies' columns."""
    rng = np.random.default_rng(0)
    arm = rng.integers(0, 2, n)
    black = rng.integers(0, 2, n)
    files = {
        "black_politicians.csv": pd.DataFrame(
            {
                "leg_black": black,
                "treat_out": arm,
                "responded": (rng.random(n) < 0.5 - 0.3 * arm * (1 - black)).astype(int),
                "totalpop": rng.gamma(2, 1, n).round(3),
                "south": rng.integers(0, 2, n),
            }
        ),
        "Cai_2015.csv": pd.DataFrame(
            {
                "address": [f"a{i}" for i in range(n)],
                "village": rng.choice(["v1", "v2", "v3"], n),
                "takeup_survey": rng.integers(0, 2, n),
                "age": rng.integers(20, 70, n),
                "intensive": arm,
            }
        ),
    }
    hiv = pd.DataFrame(
        {
            "villnum": rng.integers(1, 50, n).astype(float),
            "got": rng.integers(0, 2, n).astype(float),
            "distvct": rng.gamma(2, 1, n),
            "tinc": rng.random(n) * 3,
            "any": arm.astype(float),
            "age": rng.integers(15, 80, n).astype(float),
            "hiv2004": rng.integers(0, 2, n).astype(float),
        }
    )
    hiv.loc[: n // 10, ["any", "got"]] = np.nan  # people outside the experiment
    folders = {
        "black_politicians.csv": "black_politicians",
        "Cai_2015.csv": "social_insure",
        "thornton_hiv.dta": "thornton_hiv",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, df in [*files.items(), ("thornton_hiv.dta", hiv)]:
            buf = io.BytesIO()
            if name.endswith(".dta"):
                df.to_stata(buf, write_index=False)
            else:
                df.to_csv(buf, index=False)
            info = tarfile.TarInfo(f"causaldata-0.1.5/causaldata/{folders[name]}/{name}")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
    return path


def test_every_study_is_read_prepared_and_evaluated(tmp_path):
    bench = _bench()
    sdist = _sdist(tmp_path / "causaldata-0.1.5.tar.gz")
    hiv = bench.read(sdist, bench.EXPERIMENTS["thornton_hiv"])
    # rows without an arm or an outcome are not in the experiment; dose and village left out
    assert len(hiv) == 2400 - 241 and {"tinc", "villnum"}.isdisjoint(hiv.columns)
    assert set(hiv["any"].unique()) <= {0, 1}
    out = bench.main(["--causaldata", str(sdist), "--seeds", "2"])
    assert set(out) == {"black_politicians", "thornton_hiv", "social_insure"}
    for name, rep in out.items():
        assert rep["splits"] == 2 and rep["above"] + rep["equal"] + rep["below"] == 2
        assert rep["equal"] == rep["learners"].get("t_logistic", 0)
        assert all(r["n_test"] == round(0.3 * rep["rows"]) for r in rep["runs"]), name
    assert out["social_insure"]["rows"] == 2400
