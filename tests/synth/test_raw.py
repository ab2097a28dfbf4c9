"""Raw operator-format export + mapping.yaml: round trip through the real import."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from typer.testing import CliRunner

from tests.factories import SyntheticOperator
from weixi.ingest.mapping import load_mapping
from weixi.ingest.schema import FIELDS, REFERENCE_TABLES, REQUIRED
from weixi.ingest.service import import_month
from weixi.synth.raw import SUBSCRIBER_COLUMNS, write_raw


def test_mapping_covers_every_canonical_field_and_validates(tmp_path):
    out = write_raw(SyntheticOperator(300, seed=1), tmp_path)
    doc = yaml.safe_load((tmp_path / "mapping.yaml").read_text(encoding="utf-8"))
    assert set(doc["columns"]) == {f.name for f in FIELDS}
    assert set(REQUIRED) <= set(doc["columns"])
    assert set(doc["reference"]) == set(REFERENCE_TABLES)
    for table, cols in REFERENCE_TABLES.items():
        assert set(doc["reference"][table]["columns"]) == {c[0] for c in cols}
    mapping = load_mapping(out["mapping"])  # the ingest engineer's validator accepts it
    assert mapping.columns["arpu"].scale == pytest.approx(0.01)


def test_raw_file_looks_like_an_operator_export(tmp_path):
    write_raw(SyntheticOperator(400, seed=2), tmp_path, months=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "branches.csv",
        "enterprise_groups.csv",
        "group_contacts.csv",
        "mapping.yaml",
        "staff.csv",
        "subscribers_2025-09.csv",
        "subscribers_2025-10.csv",
    ]
    with (tmp_path / "subscribers_2025-09.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [c.source for c in SUBSCRIBER_COLUMNS]
    assert {r["业务类型"] for r in rows} >= {"移动", "宽带"}
    assert {r["公免"] for r in rows} <= {"是", "否"}
    assert all(len(r["RWSJ"]) == 8 and r["RWSJ"].isdigit() for r in rows)
    assert all(r["ARPU_FEN"].isdigit() for r in rows)  # fen, integers


def _compare(con, op_snapshot: pa.Table) -> None:
    loaded = con.sql("SELECT * FROM snapshot ORDER BY subscriber_id").to_arrow_table()
    expected = op_snapshot.sort_by("subscriber_id")
    assert loaded.num_rows == expected.num_rows
    for f in FIELDS:
        got, want = loaded.column(f.name), expected.column(f.name)
        if f.name == "data_mb":  # KB in the raw file: 1/1024 MB resolution
            diff = pc.max(pc.abs(pc.subtract(got, want))).as_py()
            assert diff < 0.001, f.name
        elif f.type == "float":
            diff = pc.max(pc.abs(pc.subtract(got, want))).as_py() or 0.0
            assert diff < 1e-6, (f.name, diff)
            assert got.null_count == want.null_count, f.name
        else:
            assert got.to_pylist() == want.to_pylist(), f.name


@pytest.mark.parametrize(("fmt", "encoding"), [("csv", "utf-8"), ("csv", "gbk"), ("parquet", "")])
def test_round_trip_through_import(tmp_path, fresh_con, fmt, encoding):
    op = SyntheticOperator(1_500, seed=7)
    expected = op.snapshot()
    out = write_raw(op, tmp_path, fmt=fmt, encoding=encoding or "utf-8")
    path = out["months"][0]["file"]
    result = import_month(con=fresh_con, month="2025-09", mapping=out["mapping"], paths=[path])
    summary = result.summary()
    assert summary["quarantined"] == 0
    assert summary["read"] == summary["loaded"]
    snap_file = next(f for f in summary["files"] if f["table"] == "snapshot")
    assert snap_file["read"] == snap_file["loaded"] == expected.num_rows
    _compare(fresh_con, expected)
    refs = op.reference_tables()
    for table in REFERENCE_TABLES:
        n = fresh_con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert n == refs[table].num_rows, table
    assert fresh_con.execute(
        "SELECT count(*) FROM branches WHERE name_zh = '杭州' AND branch_id = 'HZ'"
    ).fetchone() == (1,)


def test_cli_generate_json(tmp_path):
    from weixi.cli import app

    res = CliRunner().invoke(
        app,
        [
            "generate",
            "--subscribers",
            "500",
            "--months",
            "2",
            "--seed",
            "3",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [m["month"] for m in data["months"]] == ["2025-09", "2025-10"]
    assert data["months"][0]["rows"] == 500
    assert (tmp_path / "mapping.yaml").exists()
    bad = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--format", "xls"])
    assert bad.exit_code == 1
    assert "csv or parquet" in bad.output


def test_write_raw_from_a_history(tmp_path, fresh_con):
    from tests.factories import make_history

    hist = make_history(400, months=2, seed=12)
    out = write_raw(hist, tmp_path)
    assert [m["month"] for m in out["months"]] == ["2025-09", "2025-10"]
    assert out["reference"] == {}
    doc = yaml.safe_load((tmp_path / "mapping.yaml").read_text(encoding="utf-8"))
    assert "reference" not in doc
    res = import_month(
        con=fresh_con, month="2025-10", mapping=out["mapping"], paths=[out["months"][1]["file"]]
    ).summary()
    assert res["loaded"] == hist[1][1].num_rows and res["quarantined"] == 0
