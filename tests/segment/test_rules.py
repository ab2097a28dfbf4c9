"""The rule language: loading, clear errors, and overlap/uncovered findings with counts."""

from __future__ import annotations

import copy
import datetime as dt

import ibis
import pyarrow as pa
import pytest
import yaml

from weixi.errors import RuleError, localized
from weixi.segment.exprs import check, compile_condition
from weixi.segment.rules import PRESET_DIR, PRESETS, load_preset, parse_preset


@pytest.fixture(scope="module")
def seed_dict():
    return yaml.safe_load((PRESET_DIR / "seed.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_presets_load(name):
    rs = load_preset(name)
    assert len(rs.stability_groups()) == 36
    order = rs.priority_order()
    assert len(order) == 36 and order[0] == ("A1-B1-C1", "red")
    # binding warning first and all of it: the 12 A1 groups take ranks 1..12
    assert {g for g, _ in order[:12]} == {g for g in rs.stability_groups() if g.startswith("A1")}
    assert {u for _, u in order} == {"red", "blue", "green"}


def test_unknown_field_names_dimension_level_and_suggests(seed_dict):
    data = copy.deepcopy(seed_dict)
    data["dimensions"][1]["by_line_type"]["mobile"][1]["when"] = "arpu3m >= 80"
    with pytest.raises(RuleError) as err:
        parse_preset(data, source="my.yaml")
    msg = str(err.value)
    assert "my.yaml" in msg and "dimension b level B2 (mobile)" in msg
    assert "unknown field 'arpu3m'" in msg and "arpu_3m" in msg
    # in Chinese all the way down: the preset's error wraps the condition's, which wraps what
    # is wrong in it
    zh = localized(err.value, "zh-CN")
    assert "my.yaml" in zh and "未知字段 'arpu3m'" in zh and "arpu_3m" in zh
    assert "unknown field" not in zh and "in condition" not in zh


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("handset_generation == '3G'", "unknown value(s) ['3G'] for handset_generation"),
        ("arpu_3m >=", "syntax error"),
        ("arpu_3m + 1", "is not true/false"),
        ("line_type >= 5", "invalid expression"),
        ("os.system('x')", "unknown function"),
        ("arpu_3m == None", "isnull"),
        ("later_dim == 'x'", "unknown field 'later_dim'"),
    ],
)
def test_condition_errors_are_clear(seed_dict, when, fragment):
    data = copy.deepcopy(seed_dict)
    data["dimensions"][3]["levels"][0]["when"] = when
    with pytest.raises(RuleError, match="dimension d level D1") as err:
        parse_preset(data)
    assert fragment in str(err.value)


def test_dimension_cannot_use_a_later_dimension(seed_dict):
    data = copy.deepcopy(seed_dict)
    data["dimensions"][0]["by_line_type"]["mobile"][0]["when"] = "b == 'B1'"
    with pytest.raises(RuleError, match="unknown field 'b'"):
        parse_preset(data)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["dimensions"].pop(), "missing dimensions: ['satisfaction_band']"),
        (lambda d: d["priority"].pop(), "priority does not cover"),
        (lambda d: d["dimensions"][2]["by_line_type"]["mobile"].reverse(), "single last level"),
        (lambda d: d["dimensions"][3]["levels"][0].update({"else": True}), "either 'when'"),
        (lambda d: d["dimensions"][3].update({"key": "zz"}), "not a segments column"),
        (lambda d: d.update({"params": {"arpu_3m": 1}}), "shadow a field"),
        (lambda d: d["flags"][0].update({"cut": 70}), "between 0 and 1"),
    ],
)
def test_structure_errors(seed_dict, mutate, fragment):
    data = copy.deepcopy(seed_dict)
    mutate(data)
    with pytest.raises(RuleError) as err:
        parse_preset(data)
    assert fragment in str(err.value)


def test_missing_preset_file():
    with pytest.raises(RuleError, match="use one of seed, modern"):
        load_preset("nope.yaml")


def test_condition_language_semantics():
    t = ibis.memtable(
        pa.table(
            {
                "i": [0, 1, 2, 3],
                "x": pa.array([1.0, 25.0, 80.0, None]),
                "flag": pa.array([True, None, False, None]),
                "s": ["a", "b", None, "a"],
            }
        )
    )

    def rows(cond, **params):
        expr = t.mutate(r=compile_condition(cond, t, params)).order_by("i")
        return expr.r.to_pyarrow().to_pylist()

    assert rows("20 <= x < 80") == [False, True, False, False]
    assert rows("not (x >= 20)") == [True, False, False, True]  # NULL compares false
    assert rows("not flag") == [False, True, True, True]  # a NULL flag is false
    assert rows("s not in ('a',)") == [False, True, True, False]
    assert rows("isnull(x) or x > lim", lim=50) == [False, False, True, True]
    assert rows("coalesce(x, 0) * 2 + 1 > 2") == [True, True, True, False]


def test_overlaps_and_gaps_reported_with_counts(seed_dict, fresh_con):
    """The seed's literal broadband bands (B2 ≥ 120, B3 (30, 120], B4 < 30) overlap at 120
    and leave 30 uncovered; the check says so with the number of subscribers."""
    from tests.segment.helpers import load_months
    from tests.segment.test_boundaries import BASE, BB, SCHEMA
    from weixi.segment.features import features
    from weixi.store.backends import duckdb_backend

    data = copy.deepcopy(seed_dict)
    bb = data["dimensions"][1]["by_line_type"]["broadband"]
    bb[2]["when"] = "not snapshot_midhigh and 30 < arpu_3m <= 120"
    rs = parse_preset(data)
    month = dt.date(2026, 3, 1)
    rows = [
        {**BASE, **BB, "subscriber_id": f"s{i}", "month": month, "arpu": arpu}
        for i, arpu in enumerate([120.0, 120.0, 30.0, 60.0, 29.0])
    ]
    load_months(fresh_con, [pa.Table.from_pylist(rows, schema=SCHEMA)])
    feat = features(duckdb_backend(fresh_con).table("snapshot"), month)
    issues = check(feat, rs)
    found = {(i.kind, i.dimension, i.variant, i.levels): i.count for i in issues}
    assert found == {
        ("overlap", "b", "broadband", ("B2", "B3")): 2,
        ("uncovered", "b", "broadband", ()): 1,
        ("uncovered", "value_class", "*", ()): 1,  # knock-on: value_class reads b
    }
    msgs = [i.message() for i in issues]
    assert "dimension b (broadband): levels B2 and B3 both match 2 subscribers" in msgs[0]
    assert "1 subscribers match no level" in msgs[1]
    # a stored run counts the same from the mask histograms of its in-database result
    from weixi.segment import service

    _, run_issues = service.compute(fresh_con, month, preset=rs)
    assert run_issues == issues


def test_masks_are_the_narrowest_integer_that_holds_the_levels():
    from weixi.segment.exprs import _mask_type, issues_from_counts

    sizes = (0, 6, 7, 14, 15, 30, 31, 62)
    types = [_mask_type(n) for n in sizes]
    assert types == ["int8"] * 2 + ["int16"] * 2 + ["int32"] * 2 + ["int64"] * 2
    with pytest.raises(RuleError, match="at most 62"):
        _mask_type(63)
    # seven explicit levels: an int16 mask whose scope bit sits right above the level bits
    meta = [("_chk_x_all", "x", "*", tuple(f"X{i}" for i in range(7)), False, False)]
    scope = 1 << 7
    counts = {"_chk_x_all": {scope: 4, scope | 1 | 64: 2, scope | 2: 9, 0: 30}}
    found = {(i.kind, i.levels): i.count for i in issues_from_counts(counts, meta)}
    assert found == {("overlap", ("X0", "X6")): 2, ("uncovered", ()): 4}
