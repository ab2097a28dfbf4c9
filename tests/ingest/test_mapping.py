"""The mapping file: parsing, clear errors, and Hypothesis properties of the conversions."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weixi.errors import ConfigError
from weixi.ingest.mapping import ColumnMap, Mapping, load_mapping, parse_mapping
from weixi.ingest.schema import BY_NAME, LINE_TYPES
from weixi.ingest.validate import select_sql
from weixi.store.analytics import connect

BRIEF_EXAMPLE = """
version: 1
encoding: utf-8
delimiter: ","
date_format: "%Y%m%d"
true_values: [是, Y, y, 1, true, TRUE]
false_values: [否, N, n, 0, false, FALSE]
columns:
  subscriber_id: {source: YHBS}
  branch_id: {source: DS}
  status: {source: ZT}
  activation_date: {source: RWSJ, date_format: "%Y-%m-%d"}
  arpu: {source: ARPU_FEN, scale: 0.01}
  line_type: {source: 业务类型, values: {移动: mobile, 宽带: broadband}}
reference:
  branches: {file: branches.csv, columns: {branch_id: {source: DSBM}}}
"""
REQUIRED_ONLY = {
    "subscriber_id": {"source": "A"},
    "branch_id": {"source": "B"},
    "line_type": {"source": "C"},
    "status": {"source": "D"},
    "activation_date": {"source": "E"},
    "arpu": {"source": "F"},
}


def test_the_documented_example_parses(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(BRIEF_EXAMPLE, encoding="utf-8")
    m = load_mapping(path)
    assert m.true_values == ("是", "Y", "y", "1", "true", "TRUE")  # YAML 1.1 booleans stay text
    assert m.columns["line_type"].values == {"移动": "mobile", "宽带": "broadband"}
    assert m.columns["arpu"].scale == 0.01
    assert m.reference_path("branches") == tmp_path / "branches.csv"
    assert len(m.digest()) == 16 and m.digest() == load_mapping(path).digest()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "2"}, "unsupported mapping version 2"),
        ({"encoding": "big5"}, "unsupported encoding 'big5'"),
        ({"delimiter": ",,"}, "delimiter must be one character"),
        ({"columns": {"subscriber_id": {"source": "A"}}}, "required column(s) ['branch_id'"),
        ({"columns": {**REQUIRED_ONLY, "arpu_x": {"source": "Z"}}}, "unknown canonical column"),
        ({"columns": {**REQUIRED_ONLY, "arpu": {"source": "F", "scale": "0"}}}, "scale must be"),
        ({"columns": {**REQUIRED_ONLY, "arpu": {"source": "F", "type": "date"}}}, "contradicts"),
        ({"columns": {**REQUIRED_ONLY, "status": {"source": "D", "scale": "2"}}}, "only applies"),
        ({"columns": {**REQUIRED_ONLY, "arpu": {"src": "F"}}}, "columns.arpu.src: Extra inputs"),
        ({"true_values": ["1"], "false_values": ["1"]}, "in both true_values and false_values"),
        ({"reference": {"towns": {"file": "t.csv", "columns": {}}}}, "reference.towns"),
        ({"reference": {"staff": {"file": "s.csv", "columns": {}}}}, "key column 'staff_id'"),
    ],
)
def test_invalid_mappings_say_what_to_fix(change, message):
    doc = {"columns": REQUIRED_ONLY, **change}
    with pytest.raises(ConfigError) as err:
        parse_mapping(yaml.safe_dump(doc, allow_unicode=True))
    assert message in str(err.value)


def test_missing_and_non_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_mapping(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("columns: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mapping(tmp_path / "bad.yaml")


# ---- properties: conversions evaluated by the generated SQL in DuckDB ----------------------

_CON = None


def _con():
    global _CON
    if _CON is None:
        _CON = connect(":memory:")
    return _CON


_ids = itertools.count()


def convert(field: str, col: ColumnMap, raws: list[str | None], mapping: Mapping | None = None):
    """Run the generated SELECT for one field over ``raws``; return (values, reasons)."""
    mapping = mapping or Mapping.model_validate({"columns": REQUIRED_ONLY})
    con = _con()
    name = f"src_{next(_ids)}"
    con.register(
        name,
        pa.table({"__row": list(range(2, len(raws) + 2)), col.source: pa.array(raws, pa.string())}),
    )
    sql = select_sql(
        source=name,
        file_idx=0,
        fields=[BY_NAME[field]],
        columns={field: col},
        mapping=mapping,
        available=[col.source],
        numbered=True,
    )
    rows = con.execute(f"SELECT {field}, __viol FROM ({sql}) ORDER BY __row").fetchall()
    con.unregister(name)
    return [r[0] for r in rows], [[v["reason"] for v in r[1]] for r in rows]


raw_text = st.text(alphabet=st.sampled_from("abcXY01 '\"是否移动宽带-_."), min_size=0, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value_map=st.dictionaries(
        st.text(alphabet=st.sampled_from("abX1'\"是移动-"), min_size=1, max_size=4),
        st.sampled_from(LINE_TYPES),
        max_size=4,
    ),
    raws=st.lists(raw_text, min_size=1, max_size=8),
)
def test_value_maps(value_map, raws):
    raws = raws + list(value_map)  # always exercise the mapped keys too
    values, reasons = convert("line_type", ColumnMap(source="业务类型", values=value_map), raws)
    for raw, value, why in zip(raws, values, reasons, strict=True):
        text = raw.strip()
        expected = value_map.get(text, text) or None
        assert value == expected
        if expected is None:
            assert why == ["missing_value"]
        elif expected not in LINE_TYPES:
            assert why == ["not_in_choices"]
        else:
            assert why == []


@settings(max_examples=60, deadline=None)
@given(
    numbers=st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=8),
    scale=st.sampled_from([0.01, 0.001, 1 / 1024, 0.5, 2.0, 3.0, 0.3, None]),
)
def test_scales(numbers, scale):
    raws = [f" {n} " for n in numbers]  # padded, as fixed-width exports are
    values, reasons = convert("voice_minutes", ColumnMap(source="THSC", scale=scale), raws)
    for n, value, why in zip(numbers, values, reasons, strict=True):
        if scale is None:
            assert value == n
        elif 1 / scale == round(1 / scale):
            assert value == n / round(1 / scale)  # exact: 1999 fen → 19.99
        else:
            assert value == pytest.approx(n * scale, rel=1e-12)
        top = BY_NAME["voice_minutes"].max
        assert why == (["negative_value"] if n < 0 else ["above_max"] if value > top else [])


@settings(max_examples=60, deadline=None)
@given(
    raws=st.lists(
        st.one_of(
            st.sampled_from(["是", "否", "Y", "N", "y", "n", "1", "0", "true", "FALSE", ""]),
            st.sampled_from(["yes", "maybe", "2", "是的", "T"]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_bool_parsing(raws):
    m = Mapping.model_validate({"columns": REQUIRED_ONLY})
    values, reasons = convert("do_not_disturb", ColumnMap(source="MDR"), raws, m)
    for raw, value, why in zip(raws, values, reasons, strict=True):
        if raw in m.true_values:
            assert (value, why) == (True, [])
        elif raw in m.false_values:
            assert (value, why) == (False, [])
        elif raw == "":
            assert (value, why) == (False, [])  # empty optional flag takes the default
        else:
            assert why == ["invalid_bool"]


@settings(max_examples=60, deadline=None)
@given(
    dates=st.lists(st.dates(dt.date(1950, 1, 1), dt.date(2035, 12, 31)), min_size=1, max_size=6),
    bad=st.lists(
        st.tuples(st.integers(1990, 2030), st.integers(1, 12), st.integers(29, 31)),
        max_size=3,
    ),
    fmt=st.sampled_from(["%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y"]),
)
def test_date_parsing(dates, bad, fmt):
    impossible = [
        (y, mo, d) for y, mo, d in bad if d > calendar.monthrange(y, mo)[1]
    ]  # e.g. 2025-02-31
    raws = [d.strftime(fmt) for d in dates] + [
        fmt.replace("%Y", f"{y:04d}").replace("%m", f"{mo:02d}").replace("%d", f"{d:02d}")
        for y, mo, d in impossible
    ]
    col = ColumnMap(source="HYDQ", date_format=fmt)
    values, reasons = convert("contract_end", col, raws)
    assert values[: len(dates)] == dates
    assert all(r == [] for r in reasons[: len(dates)])
    assert all(v is None for v in values[len(dates) :])
    assert all(r == ["invalid_date"] for r in reasons[len(dates) :])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 10**6).map(str), st.sampled_from(["1.5", "x", "-2"]))))
def test_integer_parsing(raws):
    values, reasons = convert("complaints", ColumnMap(source="TS"), raws)
    for raw, value, why in zip(raws, values, reasons, strict=True):
        if raw == "1.5":
            assert why == ["not_an_integer"]
        elif raw == "x":
            assert why == ["not_a_number"]
        elif raw == "-2":
            assert (value, why) == (-2, ["negative_value"])
        elif int(raw) > BY_NAME["complaints"].max:
            assert (value, why) == (int(raw), ["above_max"])
        else:
            assert (value, why) == (int(raw), [])


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["Y", "N", "true", "null", "1", "0", "on", "是", "~", "0x1F", "1e3"]),
        st.sampled_from(LINE_TYPES),
        min_size=1,
    )
)
def test_raw_value_keys_survive_yaml(value_map):
    """YAML 1.1 would read Y/true/on/null/0x1F as other types; the loader keeps the text."""
    doc = {"columns": {**REQUIRED_ONLY, "line_type": {"source": "C", "values": value_map}}}
    m = parse_mapping(yaml.safe_dump(doc, allow_unicode=True))
    assert m.columns["line_type"].values == value_map
