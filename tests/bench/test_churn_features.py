import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "churn_features.py"


def test_feature_bench_reads_every_live_line_of_the_month():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--subscribers", "3000", "--months", "3", "--repeat", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    got = json.loads(out.stdout)
    # the last month's lines not cancelled, out of three months of history
    assert 2500 < got["rows"] <= got["history_rows"] / 2
    assert got["history_rows"] > 8000
    assert got["seconds"] > 0
