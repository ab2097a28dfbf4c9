"""Importing a month: planted defects, reconciliation, replace, failures, formats, references."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ingest.helpers import HEADER, MAPPING_YAML, good_row, write_csv, write_mapping
from weixi.errors import IngestError
from weixi.ingest.mapping import load_mapping
from weixi.ingest.service import count_quarantine, get_quarantine, get_run, get_runs, import_month
from weixi.synth.generate import SyntheticOperator
from weixi.synth.raw import write_raw

N = 300


@pytest.fixture(scope="module")
def raw_month(tmp_path_factory):
    """A synthetic operator's raw GBK export of one month (shared read-only by the tests)."""
    out = tmp_path_factory.mktemp("raw")
    op = SyntheticOperator(N, seed=7, start_month="2025-09")
    canonical = op.snapshot()
    write_raw(op, out, encoding="gbk")
    return out, canonical


def _read_gbk(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="gbk"))))


def _write_gbk(path, rows, *, truncate_last_to: int | None = None):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    text = buf.getvalue()
    if truncate_last_to is not None:
        # cut the last line after a few fields, without a final newline (an interrupted export)
        head, last = text.rstrip("\n").rsplit("\n", 1)
        text = head + "\n" + ",".join(next(csv.reader([last]))[:truncate_last_to])
    path.write_bytes(text.encode("gbk"))


def test_planted_defects_are_each_reported_and_reconciled(raw_month, tmp_path, fresh_con):
    out, _ = raw_month
    mapping = load_mapping(out / "mapping.yaml")
    src = {name: col.source for name, col in mapping.columns.items()}
    rows = _read_gbk(out / "subscribers_2025-09.csv")
    header, data = rows[0], rows[1:]
    col = {name: header.index(s) for name, s in src.items()}

    def plant(row_number: int, field: str, value: str) -> None:
        data[row_number - 2][col[field]] = value  # row 1 is the header

    plant(5, "arpu", "12元")  # wrong type
    plant(6, "activation_date", "20250231")  # impossible date
    plant(7, "contract_start", "20250601")
    plant(7, "contract_end", "20240601")  # ends before it starts
    plant(8, "activation_date", "20991231")  # activation after the month
    plant(9, "arpu", "-500")  # negative ARPU
    plant(11, "subscriber_id", data[10 - 2][col["subscriber_id"]])  # duplicate of row 10
    plant(12, "line_type", "卫星")  # not a known line type
    plant(13, "branch_id", "")  # required value missing
    plant(14, "complaints", "2.5")  # not an integer
    path = tmp_path / "subscribers_2025-09.csv"
    _write_gbk(path, [header, *data], truncate_last_to=5)  # truncated last line
    last_row = len(data) + 1

    res = import_month(con=fresh_con, month="2025-09", mapping=mapping, paths=[path])

    expected = {
        (5, "arpu", "not_a_number", "12元"),
        (6, "activation_date", "invalid_date", "20250231"),
        (7, "contract_end", "contract_end_before_start", "20240601"),
        (8, "activation_date", "date_after_month_end", "20991231"),
        (9, "arpu", "negative_value", "-500"),
        (10, "subscriber_id", "duplicate_id", data[10 - 2][col["subscriber_id"]]),
        (11, "subscriber_id", "duplicate_id", data[10 - 2][col["subscriber_id"]]),
        (12, "line_type", "not_in_choices", "卫星"),
        (13, "branch_id", "missing_value", None),
        (14, "complaints", "not_an_integer", "2.5"),
    }
    got = get_quarantine(con=fresh_con, run_id=res.run_id, limit=1000)
    assert all(q.file == "subscribers_2025-09.csv" for q in got)
    seen = {(q.row_number, q.column_name, q.reason, q.raw_value) for q in got}
    assert expected <= seen
    truncated = [q for q in got if q.row_number == last_row]
    assert [q.reason for q in truncated] == ["missing_fields"]
    assert json.loads(truncated[0].raw_row)["line"].count(",") == 4
    # every row read is loaded or quarantined, in total and per file, and in the store
    quarantined_rows = {q.row_number for q in got}
    assert quarantined_rows == {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, last_row}
    assert res.read == N == res.loaded + res.quarantined
    assert res.quarantined == len(quarantined_rows)
    assert res.files[0].encoding == "gbk"  # as the mapping declares
    n_snapshot = fresh_con.execute("SELECT count(*) FROM snapshot").fetchone()[0]
    assert n_snapshot == res.loaded
    assert res.defects["duplicate_id"] == 2 and res.defects["missing_fields"] == 1
    run = get_run(con=fresh_con, run_id=res.run_id)
    assert (run.status, run.read, run.loaded, run.quarantined) == (
        "succeeded",
        N,
        res.loaded,
        res.quarantined,
    )


def test_missing_required_column_fails_the_file_and_keeps_the_month(raw_month, tmp_path, fresh_con):
    out, _ = raw_month
    mapping = load_mapping(out / "mapping.yaml")
    good = import_month(
        con=fresh_con, month="2025-09", mapping=mapping, paths=[out / "subscribers_2025-09.csv"]
    )
    rows = _read_gbk(out / "subscribers_2025-09.csv")
    drop = rows[0].index(mapping.columns["arpu"].source)
    path = tmp_path / "no_arpu.csv"
    _write_gbk(path, [[v for i, v in enumerate(r) if i != drop] for r in rows])

    with pytest.raises(IngestError) as err:
        import_month(con=fresh_con, month="2025-09", mapping=mapping, paths=[path])
    msg = str(err.value)
    assert "no_arpu.csv" in msg and "'arpu'" in msg and "'ARPU_FEN'" in msg
    runs = get_runs(con=fresh_con)
    assert runs[0].status == "failed" and "arpu" in runs[0].error
    assert runs[1].run_id == good.run_id and runs[1].status == "succeeded"
    count = fresh_con.execute("SELECT count(*) FROM snapshot").fetchone()[0]
    assert count == good.loaded == N


def test_import_round_trips_the_synthetic_operator(raw_month, fresh_con):
    out, canonical = raw_month
    res = import_month(
        con=fresh_con,
        month="2025-09",
        mapping=out / "mapping.yaml",
        paths=[out / "subscribers_2025-09.csv"],
    )
    assert (res.read, res.loaded, res.quarantined) == (N, N, 0)
    fresh_con.register("canon", canonical)
    diff = fresh_con.execute(
        """SELECT count(*) FROM canon c JOIN snapshot s USING (subscriber_id)
           WHERE c.arpu IS DISTINCT FROM s.arpu OR c.line_type IS DISTINCT FROM s.line_type
              OR c.status IS DISTINCT FROM s.status OR c.branch_id IS DISTINCT FROM s.branch_id
              OR c.activation_date IS DISTINCT FROM s.activation_date
              OR c.contract_end IS DISTINCT FROM s.contract_end
              OR c.do_not_disturb IS DISTINCT FROM s.do_not_disturb
              OR c.vip_level IS DISTINCT FROM s.vip_level
              OR c.handset_smart IS DISTINCT FROM s.handset_smart
              OR abs(c.data_mb - s.data_mb) > 0.001"""
    ).fetchone()[0]
    assert diff == 0
    refs = {
        t: fresh_con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("branches", "enterprise_groups", "staff")
    }
    assert all(refs.values()) and {f.table for f in res.files} >= set(refs)


def test_reimport_replaces_the_month_and_keeps_other_months(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    a = write_csv(tmp_path / "a.csv", [good_row(i) for i in range(10)])
    b = write_csv(tmp_path / "b.csv", [good_row(i) for i in range(100, 105)])
    import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[a])
    import_month(con=fresh_con, month="2025-02", mapping=mapping, paths=[a])
    with pytest.raises(IngestError, match=r"would replace 10 rows with 5 \(50% fewer") as err:
        import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[b])
    assert "--allow-shrink" in str(err.value) and get_runs(con=fresh_con)[0].status == "failed"
    res = import_month(
        con=fresh_con, month="2025-01", mapping=mapping, paths=[b], allow_shrink=True
    )
    rows = fresh_con.execute(
        "SELECT month, count(*), min(subscriber_id) FROM snapshot GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [(dt.date(2025, 1, 1), 5, "S000100"), (dt.date(2025, 2, 1), 10, "S000000")]
    assert res.loaded == 5 and len(get_runs(con=fresh_con)) == 4
    assert [r.month.month for r in get_runs(con=fresh_con, month="2025-01")] == [1, 1, 1]


def test_each_quarantined_row_keeps_its_own_text(tmp_path, fresh_con):
    # A rejected row shifts the record numbers; the ids are duplicated once in a clean row
    # and once in a row with another defect (its text is kept as it is read, the clean
    # copy's is read again): every quarantined row must carry its own line's text.
    mapping = write_mapping(tmp_path / "m.yaml")
    rows = [good_row(i) for i in range(12)]
    rows[2] = [*good_row(2), "extra", "fields"]  # rejected by the reader
    rows[6] = [*good_row(6)[:7], "7777", *good_row(6)[8:]]
    rows[6][0] = rows[4][0]  # a duplicate that passes every other check
    rows[9] = [*good_row(9)[:7], "abc", *good_row(9)[8:]]
    rows[9][0] = rows[4][0]  # a duplicate that is also not a number
    a = write_csv(tmp_path / "a.csv", rows)
    b = write_csv(tmp_path / "b.csv", [good_row(20), good_row(10)])  # S000010 twice
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[a, b])
    got = get_quarantine(con=fresh_con, run_id=res.run_id, limit=100)
    texts = {}
    for q in got:
        if q.reason != "too_many_fields":
            texts.setdefault((q.file, q.row_number), set()).add(
                (json.loads(q.raw_row)["YHBS"], json.loads(q.raw_row)["ARPU_FEN"])
            )
    assert texts == {
        ("a.csv", 6): {("S000004", "1004")},
        ("a.csv", 8): {("S000004", "7777")},
        ("a.csv", 11): {("S000004", "abc")},
        ("a.csv", 12): {("S000010", "1010")},
        ("b.csv", 3): {("S000010", "1010")},
    }
    assert {(q.row_number, q.reason) for q in got if q.file == "a.csv"} >= {
        (4, "too_many_fields"),
        (11, "not_a_number"),
        (11, "duplicate_id"),
    }
    assert (res.read, res.loaded, res.quarantined) == (14, 8, 6)


def test_several_files_form_one_month_and_duplicates_across_files_are_caught(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    a = write_csv(tmp_path / "a.csv", [good_row(i) for i in range(5)])
    b = write_csv(tmp_path / "b.tsv", [good_row(i) for i in range(4, 8)], delimiter="\t")
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[a, b])
    assert [(f.file, f.delimiter, f.read, f.loaded, f.quarantined) for f in res.files] == [
        ("a.csv", ",", 5, 4, 1),
        ("b.tsv", "\t", 4, 3, 1),
    ]
    q = get_quarantine(con=fresh_con, run_id=res.run_id)
    assert {(r.file, r.row_number, r.reason) for r in q} == {
        ("a.csv", 6, "duplicate_id"),
        ("b.tsv", 2, "duplicate_id"),
    }
    assert (res.read, res.loaded, res.quarantined) == (9, 7, 2)


def test_parquet_month_with_typed_dates_and_row_numbers(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    table = pa.table(
        {
            "YHBS": ["P1", "P2", "P3"],
            "DS": ["HZ", "HZ", None],
            "业务类型": ["移动", "宽带", "移动"],
            "ZT": ["正常", "正常", "正常"],
            "RWSJ": pa.array([dt.date(2020, 1, 1), dt.date(2021, 5, 2), dt.date(2019, 1, 1)]),
            "ARPU_FEN": pa.array([1999, 5000, 100], pa.int64()),
            "MDR": pa.array([True, False, None]),
        }
    )
    path = tmp_path / "m.parquet"
    pq.write_table(table, path)
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    assert (res.read, res.loaded, res.quarantined) == (3, 2, 1)
    assert res.files[0].defaulted_columns == ["contract_start", "contract_end", "complaints"]
    rows = fresh_con.execute(
        "SELECT subscriber_id, arpu, activation_date, do_not_disturb, complaints FROM snapshot "
        "ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("P1", 19.99, dt.date(2020, 1, 1), True, 0),
        ("P2", 50.0, dt.date(2021, 5, 2), False, 0),
    ]
    (q,) = get_quarantine(con=fresh_con, run_id=res.run_id)
    assert (q.row_number, q.column_name, q.reason) == (3, "branch_id", "missing_value")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_encodings_are_detected_and_chinese_values_map(tmp_path, fresh_con, encoding):
    mapping = write_mapping(tmp_path / "m.yaml")
    rows = [good_row(1), [*good_row(2)[:2], "宽带", *good_row(2)[3:]]]
    path = write_csv(tmp_path / "x.csv", rows, encoding=encoding, delimiter="|")
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    assert (res.loaded, res.quarantined) == (2, 0)
    types = fresh_con.execute("SELECT line_type FROM snapshot ORDER BY subscriber_id").fetchall()
    assert types == [("mobile",), ("broadband",)]


def test_reference_tables_are_replaced_and_validated(tmp_path, fresh_con):
    (tmp_path / "refs").mkdir()
    write_csv(
        tmp_path / "refs" / "staff.csv",
        [
            ["E1", "王芳", "HZ", "客户经理"],
            ["E2", "李雷", "HZ", "外星"],
            ["E1", "重复", "NB", "外呼"],
        ],
        header=["GH", "XM", "DS", "QD"],
    )
    write_csv(tmp_path / "refs" / "branches.csv", [["HZ", "杭州"]], header=["DSBM", "DSMC"])
    mapping = write_mapping(
        tmp_path / "m.yaml",
        MAPPING_YAML
        + """reference:
  branches: {file: refs/branches.csv, columns: {branch_id: {source: DSBM}, name_zh: {source: DSMC}}}
  staff:
    file: refs/staff.csv
    columns:
      staff_id: {source: GH}
      name: {source: XM}
      branch_id: {source: DS}
      channel: {source: QD, values: {客户经理: account_manager, 外呼: call_center}}
""",
    )
    fresh_con.execute(
        "CREATE OR REPLACE TABLE staff (staff_id VARCHAR, name VARCHAR, branch_id VARCHAR, channel VARCHAR)"
    )
    fresh_con.execute("INSERT INTO staff VALUES ('OLD', 'x', 'HZ', 'store')")
    a = write_csv(tmp_path / "a.csv", [good_row(1)])
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[a])
    assert fresh_con.execute("SELECT * FROM branches").fetchall() == [("HZ", None, "杭州")]
    assert fresh_con.execute("SELECT count(*) FROM staff").fetchone()[0] == 0  # all 3 rejected
    staff = next(f for f in res.files if f.table == "staff")
    assert (staff.read, staff.loaded, staff.quarantined) == (3, 0, 3)
    assert staff.defects == {"duplicate_id": 2, "not_in_choices": 1}
    assert (res.read, res.loaded, res.quarantined) == (1, 1, 0)  # totals count the month only


def test_unreadable_input_and_bad_month_fail_cleanly(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    with pytest.raises(IngestError, match="not found"):
        import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[tmp_path / "no.csv"])
    assert get_runs(con=fresh_con)[0].status == "failed"
    with pytest.raises(ValueError, match="YYYY-MM"):
        import_month(con=fresh_con, month="2025-13", mapping=mapping, paths=[])
    # a byte sequence that is not UTF-8 in a file declared UTF-8 quarantines that row only
    bad = write_csv(tmp_path / "bad.csv", [good_row(1), good_row(2)])
    bad.write_bytes(bad.read_bytes().replace(b"S000002", b"S\xff\xfe0002"))
    declared = load_mapping(mapping).model_copy(update={"encoding": "utf-8"})
    res = import_month(con=fresh_con, month="2025-01", mapping=declared, paths=[bad])
    (q,) = get_quarantine(con=fresh_con, run_id=res.run_id)
    assert (res.loaded, res.quarantined, q.row_number, q.reason) == (1, 1, 3, "invalid_encoding")


def test_quarantine_paging(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    rows = [[*good_row(i)[:7], "x", *good_row(i)[8:]] for i in range(7)]
    with pytest.raises(IngestError, match="no row can be loaded") as err:
        import_month(
            con=fresh_con,
            month="2025-01",
            mapping=mapping,
            paths=[write_csv(tmp_path / "a.csv", rows)],
        )
    # the refused run keeps its quarantine so the user can see why
    res = get_runs(con=fresh_con)[0]
    assert res.status == "failed" and f"weixi quarantine {res.run_id}" in str(err.value)
    assert count_quarantine(con=fresh_con, run_id=res.run_id) == 7
    page = get_quarantine(con=fresh_con, run_id=res.run_id, limit=3, offset=3)
    assert [q.row_number for q in page] == [5, 6, 7]
    assert count_quarantine(con=fresh_con, run_id=res.run_id, reason="duplicate_id") == 0
    assert json.loads(page[0].raw_row)["ARPU_FEN"] == "x"
    assert HEADER[0] in json.loads(page[0].raw_row)


def test_headers_and_values_with_surrounding_spaces_match(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    rows = [[f" {v} " for v in good_row(1)]]
    path = write_csv(tmp_path / "a.csv", rows, header=[f" {h}" for h in HEADER])
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    assert (res.loaded, res.quarantined, res.files[0].ignored_columns) == (1, 0, [])
    assert fresh_con.execute("SELECT subscriber_id, arpu FROM snapshot").fetchall() == [
        ("S000001", 10.01)
    ]


def test_nul_bytes_quotes_in_ids_and_out_of_range_numbers_are_quarantined(tmp_path, fresh_con):
    mapping = write_mapping(
        tmp_path / "m.yaml",
        MAPPING_YAML + "  voice_minutes: {source: YY}\n  district: {source: QX}\n",
    )
    rows = [[*good_row(i), "10", "西湖"] for i in range(6)]
    rows[0][0] = "S\x00000"  # NUL inside the id
    rows[1][0] = 'S000001"'  # stray quote kept by the reader
    rows[2][0] = "S 000002"  # a space inside an id
    rows[3][10] = "1e26"  # voice minutes far out of range
    rows[4][11] = "西\x01湖"  # control character in text
    path = write_csv(tmp_path / "a.csv", rows, header=[*HEADER, "YY", "QX"])
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    got = {
        (q.row_number, q.column_name, q.reason)
        for q in get_quarantine(con=fresh_con, run_id=res.run_id)
    }
    assert got == {
        (2, "subscriber_id", "invalid_id"),
        (3, "subscriber_id", "invalid_id"),
        (4, "subscriber_id", "invalid_id"),
        (5, "voice_minutes", "above_max"),
        (6, "district", "control_characters"),
    }
    assert (res.read, res.loaded, res.quarantined) == (6, 1, 5)


def test_loyalty_signals_are_range_checked(tmp_path, fresh_con):
    """Surveys and network measures outside their scales are quarantined; blanks are allowed."""
    extra = {
        "nps_score": "NPS",
        "dropped_call_rate": "DHL",
        "weak_coverage_share": "RFG",
        "complaints_3m": "TS3",
    }
    mapping = write_mapping(
        tmp_path / "m.yaml",
        MAPPING_YAML + "".join(f"  {k}: {{source: {v}}}\n" for k, v in extra.items()),
    )
    rows = [[*good_row(i), "9", "0.8", "12.5", "2"] for i in range(6)]
    rows[0][10] = "11"  # NPS is 0-10
    rows[1][11] = "101"  # a rate in per cent
    rows[2][12] = "-3"
    rows[3][13] = "0.5"  # a count
    rows[4][10:14] = ["", "", "", ""]  # not surveyed, no calls, no data: allowed
    path = write_csv(tmp_path / "a.csv", rows, header=[*HEADER, *extra.values()])
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    got = {
        (q.row_number, q.column_name, q.reason)
        for q in get_quarantine(con=fresh_con, run_id=res.run_id)
    }
    assert got == {
        (2, "nps_score", "above_max"),
        (3, "dropped_call_rate", "above_max"),
        (4, "weak_coverage_share", "negative_value"),
        (5, "complaints_3m", "not_an_integer"),
    }
    assert (res.read, res.loaded, res.quarantined) == (6, 2, 4)
    loaded = fresh_con.execute(
        "SELECT nps_score, dropped_call_rate, weak_coverage_share, complaints_3m FROM snapshot "
        "ORDER BY subscriber_id"
    ).fetchall()
    assert loaded == [(None, None, None, None), (9, 0.8, 12.5, 2)]


@pytest.mark.parametrize("layout", ["shuffled", "in_order", "in_order_duplicate", "two_files"])
def test_snapshot_rows_are_stored_in_subscriber_order(
    raw_month, tmp_path, fresh_con, monkeypatch, layout
):
    """A file in any order lands in subscriber order (each row group then spans a narrow id
    range, so one line's look-up skips the others by their zone maps). A file already in that
    order keeps its own, without a sort; a duplicated id, or files each in order but not
    together, are sorted."""
    import random

    from weixi.ingest import service

    out, canonical = raw_month
    mapping = load_mapping(out / "mapping.yaml")
    rows = _read_gbk(out / "subscribers_2025-09.csv")
    header, data = rows[0], rows[1:]
    key = header.index(mapping.columns["subscriber_id"].source)
    data.sort(key=lambda r: r[key])
    if layout == "shuffled":
        random.Random(3).shuffle(data)
    if layout == "in_order_duplicate":
        data.insert(4, list(data[3]))
    files = [data] if layout != "two_files" else [data[0::2], data[1::2]]
    paths = []
    for i, part in enumerate(files):
        path = tmp_path / f"subscribers_2025-09_{i}.csv"
        _write_gbk(path, [header, *part])
        paths.append(path)
    seen = []
    real = service._in_subscriber_order
    monkeypatch.setattr(
        service, "_in_subscriber_order", lambda *a: seen.append(real(*a)) or seen[-1]
    )
    res = import_month(con=fresh_con, month="2025-09", mapping=mapping, paths=paths)
    stored = [r[0] for r in fresh_con.execute("SELECT subscriber_id FROM snapshot").fetchall()]
    assert res.loaded == len(stored) == len(canonical) - (layout == "in_order_duplicate")
    assert stored == sorted(stored)
    assert seen == [layout == "in_order"]  # only a file in order skips the sort
