"""Helpers of the segment tests: load canonical months into a DuckDB store."""

from __future__ import annotations

import pyarrow as pa

from weixi.store.schema import ensure as ensure_schema


def load_months(con, tables: list[pa.Table], reference: dict[str, pa.Table] | None = None) -> None:
    """Insert canonical snapshot tables (and reference tables) into ``con``."""
    ensure_schema(con)
    for tbl in tables:
        con.register("_t", tbl)
        con.execute("INSERT INTO snapshot SELECT * FROM _t")
        con.unregister("_t")
    for name, tbl in (reference or {}).items():
        con.register("_t", tbl)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _t")
        con.unregister("_t")


def load_history(con, n: int, months: int, seed: int, start: str = "2025-09") -> list:
    """Load ``months`` synthetic months of ``n`` lines (weixi.synth) with reference tables."""
    from weixi.synth.generate import SyntheticOperator

    op = SyntheticOperator(n, seed=seed, start_month=start)
    tables = []
    out = []
    for i in range(months):
        if i:
            op.advance()
        tables.append(op.snapshot())
        out.append(op.month)
    load_months(con, tables, op.reference_tables())
    return out
