"""Run every benchmark once and print one JSON document with their results.

Each benchmark is its own script (bench/<name>.py) that prints JSON; this runner calls them in
fresh processes so one's memory does not distort another's, and adds the machine's facts.

Example:
    python bench/run.py --subscribers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(script: str, *args: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False
    )
    wall = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "wall_s": wall}
    # the last JSON document on stdout is the result
    text = proc.stdout.strip()
    start_idx = text.rfind("\n{")
    payload = json.loads(text[start_idx + 1 :] if start_idx >= 0 else text)
    payload["process_wall_s"] = wall
    return payload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1_000_000)
    ap.add_argument(
        "--only", nargs="*", default=None, help="generate ingest segment churn plan sync"
    )
    ns = ap.parse_args()
    n = str(ns.subscribers)
    plan = {
        "generate": ("generate.py", "--subscribers", n),
        "ingest": ("ingest.py", "--rows", n),
        "segment": ("segment.py", "--subscribers", n),
        "churn": ("churn_score.py", "--rows", str(max(ns.subscribers, 1_000_000))),
        "plan": ("plan.py", "--subscribers", n),
        # a plan treats about a fifth of the base: price its execution record
        "sync": ("sync_outcomes.py", "--customers", str(max(ns.subscribers // 5, 1000))),
    }
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        }
    }
    for name, (script, *args) in plan.items():
        if ns.only and name not in ns.only:
            continue
        results[name] = _run(script, *args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
