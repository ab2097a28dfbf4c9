"""The SQL helpers every engine shares: order-independent averages and sums."""

from __future__ import annotations

import duckdb
import numpy as np

from weixi.store.sqlrun import exact_avg, exact_sum


def test_exact_averages_do_not_depend_on_the_order_of_the_rows():
    """A plain average of doubles changes in its last bits with the order its rows are added
    in (a parallel scan changes it from run to run); the exact one gives the same bits, and
    the same value to 1e-12."""
    rng = np.random.default_rng(3)
    values = np.round(rng.lognormal(3, 1.5, 5_000), 2) * rng.choice([1.0, 0.001, 1e-4], 5_000)
    con = duckdb.connect()
    con.execute("SET threads = 1")  # one thread: rows are added in table order
    got: dict[str, set] = {"plain": set(), "exact": set(), "sum": set()}
    for order in (np.arange(len(values)), np.arange(len(values))[::-1], rng.permutation(5_000)):
        con.execute(
            "CREATE OR REPLACE TABLE t AS SELECT * FROM (SELECT unnest(?) AS v)",
            [values[order].tolist()],
        )
        plain, exact, total = con.execute(
            f"SELECT avg(v), {exact_avg('v', 15)}, {exact_sum('v', 15)} FROM t"
        ).fetchall()[0]
        got["plain"].add(plain)
        got["exact"].add(exact)
        got["sum"].add(total)
    assert len(got["plain"]) > 1  # the trap is real
    assert len(got["exact"]) == 1 and len(got["sum"]) == 1
    assert abs(got["exact"].pop() - values.mean()) < 1e-12 * values.mean()
    assert abs(got["sum"].pop() - values.sum()) < 1e-12 * values.sum()
    # with the aggregate's FILTER
    big = con.execute(f"SELECT {exact_avg('v', 15, 'v > 10')} FROM t").fetchall()[0][0]
    assert abs(big - values[values > 10].mean()) < 1e-12 * big
