"""Snapshot tests of the compiled SQL of every preset, per dialect (review diffs in PRs).

Regenerate after an intended change with ``WEIXI_UPDATE_SNAPSHOTS=1 pytest tests/segment``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import ibis
import pytest

from weixi.segment.exprs import segment_table
from weixi.segment.features import GROUPS_SCHEMA, features, snapshot_schema
from weixi.segment.rules import PRESETS, load_preset

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
DIALECTS = ("duckdb", "pyspark")


def compiled_sql(preset: str, dialect: str) -> str:
    """The SQL of segmenting 2026-03 with ``preset`` on ``dialect`` (unbound tables)."""
    if dialect == "pyspark":
        import ibis.backends.pyspark as ps

        ps.Backend.register_options()  # the compiler reads pyspark options
    snap = ibis.table(snapshot_schema(), name="snapshot")
    groups = ibis.table(GROUPS_SCHEMA, name="enterprise_groups")
    expr = segment_table(features(snap, dt.date(2026, 3, 1), groups), load_preset(preset))
    return str(ibis.to_sql(expr, dialect=dialect)).strip() + "\n"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("preset", PRESETS)
def test_compiled_sql_matches_snapshot(preset, dialect):
    path = SNAPSHOTS / f"segment_{preset}" / dialect / "out.sql"
    sql = compiled_sql(preset, dialect)
    if os.environ.get("WEIXI_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}: run with WEIXI_UPDATE_SNAPSHOTS=1"
    assert sql == path.read_text(encoding="utf-8"), (
        f"compiled SQL of preset {preset} on {dialect} changed: review, then regenerate with "
        "WEIXI_UPDATE_SNAPSHOTS=1"
    )
