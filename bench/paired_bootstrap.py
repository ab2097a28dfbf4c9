"""Benchmark the champion/challenger comparison's paired bootstrap (``weixi.churn.metrics``).

Two scores of ``--rows`` lines (3 % churners; the challenger is the champion plus noise) and
``paired_bootstrap`` with the promotion rule's defaults (300 resamples). The comparison runs
on the out-of-time month's lines (up to ``max_train_rows`` of them) whenever the monthly job
retrains. Prints one JSON object: seconds per repeat and the result (which must not change
with the implementation: same seed, same draws, same intervals).

Example:
    .venv/bin/python bench/paired_bootstrap.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--resamples", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from weixi.churn.metrics import paired_bootstrap

    rng = np.random.default_rng(1)
    y = (rng.random(args.rows) < 0.03).astype(int)
    old = rng.random(args.rows) + y * 0.3
    new = old + rng.normal(0, 0.1, args.rows)
    seconds, result = [], None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = paired_bootstrap(y, new, old, resamples=args.resamples)
        seconds.append(round(time.perf_counter() - t0, 3))
    print(
        json.dumps(
            {"rows": args.rows, "resamples": args.resamples, "seconds": seconds, "result": result},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
