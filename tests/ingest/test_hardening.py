"""Import hardening: personal data never in errors or the quarantine, bilingual one-line
errors, and the shrink guard (a re-import may not silently empty or halve a month)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.ingest.helpers import HEADER, MAPPING_YAML, good_row, write_csv, write_mapping
from weixi.errors import IngestError
from weixi.i18n import t
from weixi.ingest.messages import MESSAGES
from weixi.ingest.service import get_quarantine, get_runs, import_month

PII_MAPPING = MAPPING_YAML + (
    "  phone: {source: SJHM}\n  name: {source: KHXM}\n  id_number: {source: ZJHM}\n"
)
PII_HEADER = [*HEADER, "SJHM", "KHXM", "ZJHM", "LXR_NAME"]
PHONE, NAME, ID_NO = "13812345678", "欧阳娜娜", "110101199003074578"


def _pii_row(i: int) -> list[str]:
    return [*good_row(i), PHONE, NAME, ID_NO, "王小明"]


def _assert_no_pii(text: str) -> None:
    for secret in (PHONE, NAME, ID_NO, "王小明", "小明", "娜娜"):
        assert secret not in text, f"{secret!r} in clear: {text}"


def test_every_import_message_has_a_chinese_translation():
    missing = [m for m in MESSAGES if t(m, "zh-CN") == m]
    assert not missing, f"add these to locale/zh_CN/LC_MESSAGES/ingest.po: {missing}"


def test_quarantine_masks_personal_data_of_bad_and_malformed_rows(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml", PII_MAPPING)
    rows = [_pii_row(i) for i in range(6)]
    rows[0][7] = "abc"  # not a number: the whole row is kept as raw_row
    rows[1] = [*rows[1][:3], "x,y", *rows[1][3:]]  # one field too many, name shifted
    rows[2] = rows[2][:-3]  # truncated row
    rows[3][10] = "1381234\x005678"  # a NUL inside the phone: control_characters, masked
    path = tmp_path / "a.csv"
    text = ",".join(PII_HEADER) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    path.write_text(text, encoding="utf-8")
    res = import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    got = get_quarantine(con=fresh_con, run_id=res.run_id, limit=100)
    assert {q.row_number for q in got} == {2, 3, 4, 5}
    for q in got:
        _assert_no_pii(json.dumps(q.model_dump(mode="json"), ensure_ascii=False))
    by_row = {q.row_number: q for q in got}
    assert json.loads(by_row[2].raw_row)["SJHM"] == "138****5678"
    assert json.loads(by_row[2].raw_row)["ARPU_FEN"] == "abc"  # the rest stays readable
    assert "S000001" in json.loads(by_row[3].raw_row)["line"]


def test_errors_never_echo_a_data_row(tmp_path, fresh_con):
    """A file without its header: row 1 is data, so the error must not list it."""
    mapping = write_mapping(tmp_path / "m.yaml", PII_MAPPING)
    path = tmp_path / "noheader.csv"
    path.write_text("\n".join(",".join(_pii_row(i)) for i in range(3)) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as err:
        import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[path])
    msg = str(err.value)
    assert "noheader.csv: row 1 has none of the mapped source headers" in msg
    _assert_no_pii(msg)
    _assert_no_pii(get_runs(con=fresh_con)[0].error)


def test_cli_errors_follow_lang_and_are_one_line(tmp_path, fresh_con):
    from weixi.cli import app

    mapping = write_mapping(tmp_path / "m.yaml")
    xlsx = tmp_path / "month.csv"
    xlsx.write_bytes(b"PK\x03\x04" + b"\0" * 26 + b"[Content_Types].xml" + b"\0" * 100)
    runner = CliRunner()
    args = ["import", "--month", "2025-01", "--mapping", str(mapping), str(xlsx)]
    zh = runner.invoke(app, ["--lang", "zh-CN", *args])
    assert zh.exit_code == 1
    assert "month.csv：这是 Excel 工作簿（.xlsx），不是 CSV" in zh.output
    assert len(zh.output.strip().splitlines()) == 1
    en = runner.invoke(app, ["--lang", "en", *args])
    assert "month.csv: this is an Excel workbook (.xlsx), not CSV" in en.output
    run = get_runs(con=_store())[0]
    assert run.error.endswith("save it as CSV (UTF-8) or Parquet and import that file")
    assert "Excel 工作簿" in run.error_in("zh-CN")


def _store():
    from weixi.config import get_settings
    from weixi.store.analytics import connect

    return connect(str(get_settings().duckdb_file))


def test_shrinking_or_emptying_a_month_needs_allow_shrink(tmp_path, fresh_con, monkeypatch):
    mapping = write_mapping(tmp_path / "m.yaml")
    full = write_csv(tmp_path / "full.csv", [good_row(i) for i in range(100)])
    import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[full])
    header_only = write_csv(tmp_path / "header.csv", [])
    cut = write_csv(tmp_path / "cut.csv", [good_row(i) for i in range(50)])
    slightly = write_csv(tmp_path / "slightly.csv", [good_row(i) for i in range(85)])
    with pytest.raises(IngestError, match=r"2025-01 \(header.csv\): no row can be loaded"):
        import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[header_only])
    with pytest.raises(IngestError, match=r"replace 100 rows with 50 \(50% fewer"):
        import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[cut])
    count = "SELECT count(*) FROM snapshot"
    assert fresh_con.execute(count).fetchone()[0] == 100  # left as it was
    assert (
        import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[slightly]).loaded == 85
    )
    monkeypatch.setenv("WEIXI_IMPORT_MAX_SHRINK", "0.5")
    from weixi.config import get_settings

    get_settings.cache_clear()
    assert import_month(con=fresh_con, month="2025-01", mapping=mapping, paths=[cut]).loaded == 50
    res = import_month(
        con=fresh_con, month="2025-01", mapping=mapping, paths=[header_only], allow_shrink=True
    )
    assert (res.status, res.read, res.loaded, fresh_con.execute(count).fetchone()[0]) == (
        "succeeded",
        0,
        0,
        0,
    )
