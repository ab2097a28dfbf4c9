"""Segmenting stored months: tables, funnel, profiles, migration, clusters, export, replace."""

from __future__ import annotations

import copy
import csv
import itertools

import pyarrow.parquet as pq
import pytest
import yaml

from tests.segment.helpers import load_history
from weixi.errors import ConfigError, NotFoundError, RuleError
from weixi.segment import service
from weixi.segment.rules import PRESET_DIR, parse_preset
from weixi.store.months import churn_label_sql


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A DuckDB file with 4 synthetic months; the last two segmented."""
    from weixi.store.analytics import connect

    con = connect(tmp_path_factory.mktemp("seg") / "weixi.duckdb")
    months = load_history(con, n=800, months=4, seed=5)
    runs = {m: service.segment_month(con, m) for m in months[2:]}
    yield con, months, runs
    con.close()


def _one(con, sql, *args):
    return con.execute(sql, list(args)).fetchall()[0][0]


def test_every_line_gets_a_row_and_kept_lines_a_code(store):
    con, months, runs = store
    m = months[3]
    assert _one(con, "SELECT count(*) FROM segments WHERE month = ?", m) == _one(
        con, "SELECT count(*) FROM snapshot WHERE month = ?", m
    )
    missing = _one(
        con,
        """SELECT count(*) FROM segments WHERE month = ? AND NOT excluded
           AND (code IS NULL OR priority_rank IS NULL OR urgency IS NULL OR cluster IS NULL)""",
        m,
    )
    assert missing == 0
    pattern = r"^A[1-3]-B[1-4]-C[1-3]/(D[1-3]-E[1-3]-F[1-3]|G[12]-H[1-3]-I[12])$"
    bad = _one(
        con,
        f"SELECT count(*) FROM segments WHERE month = ? AND NOT excluded "
        f"AND NOT regexp_matches(code, '{pattern}')",
        m,
    )
    assert bad == 0
    assert runs[m].issues == []


def test_funnel_counts_each_rule_in_order(store):
    con, months, runs = store
    funnel = service.get_funnel(con, months[3])
    assert funnel[0]["rule"] == "total" and funnel[-1]["rule"] == "kept"
    total = funnel[0]["remaining"]
    removed = sum(step["removed"] for step in funnel)
    assert (
        total - removed
        == funnel[-1]["remaining"]
        == runs[months[3]].subscribers - runs[months[3]].excluded
    )
    for prev, step in itertools.pairwise(funnel):
        assert step["remaining"] == prev["remaining"] - step["removed"]
        assert sum(b["removed"] for b in step["by_branch"].values()) == step["removed"]
    assert [s["rule"] for s in funnel[1:-1]][:2] == ["free_account", "public_paid"]


def test_profiles_with_next_month_churn(store):
    con, months, _ = store
    m3, m4 = months[2], months[3]
    prof = {(p["dimension"], p["segment"]): p for p in service.get_profiles(con, m3)}
    kept = _one(con, "SELECT count(*) FROM segments WHERE month = ? AND NOT excluded", m3)
    assert prof[("all", "all")]["subscribers"] == kept
    share = sum(p["revenue_share"] for (d, _), p in prof.items() if d == "stability_group")
    assert share == pytest.approx(1.0)
    expected = _one(
        con,
        f"""SELECT avg(l.churned) FROM segments s JOIN ({churn_label_sql(m3)}) l
            USING (subscriber_id) WHERE s.month = ? AND NOT s.excluded AND s.urgency = 'red'""",
        m3,
    )
    assert prof[("urgency", "red")]["churn_rate_next"] == pytest.approx(expected)
    assert 0 < prof[("all", "all")]["churn_rate_next"] < 0.5
    last = service.get_profiles(con, m4, "all")
    assert last[0]["churn_rate_next"] is None  # the month after is not loaded


def test_migration_matrix(store):
    con, months, _ = store
    rows = service.get_migration(con, months[3])
    both = _one(
        con,
        """SELECT count(DISTINCT subscriber_id) FROM segments WHERE month IN (?, ?)""",
        months[2],
        months[3],
    )
    assert sum(r["subscribers"] for r in rows) == both
    assert any(r["from"] == "(new)" for r in rows)
    assert any(r["to"] == "(gone)" for r in rows)
    stay = sum(r["subscribers"] for r in rows if r["from"] == r["to"])
    assert stay > both * 0.4  # most lines keep their group month to month


def test_clusters_are_described_against_the_base(store):
    con, months, _runs = store
    clusters = service.get_clusters(con, months[3])
    assert len(clusters) == 6
    assert sum(c["share"] for c in clusters) == pytest.approx(1.0)
    assert all("× the base" in c["description_en"] for c in clusters)
    assert all("为整体的" in c["description_zh"] for c in clusters)
    counts = service.get_counts(con, months[3])["cluster"]
    assert sorted(counts) == [str(i) for i in range(1, 7)]


def test_rerun_gives_the_same_codes_and_clusters(store):
    """Clusters are fitted on lines read in subscriber order: a re-run reproduces them."""
    con, months, _ = store
    m = months[3]
    sql = "SELECT subscriber_id, code, cluster FROM segments WHERE month = ? ORDER BY 1"
    before = con.execute(sql, [m]).fetchall()
    service.segment_month(con, m)
    assert con.execute(sql, [m]).fetchall() == before
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [
        (0,)
    ]  # the run's scratch tables are gone


def test_rerun_replaces_the_month_atomically(store):
    con, months, _ = store
    m = months[2]
    before = _one(con, "SELECT count(*) FROM segments WHERE month = ?", m)
    migr_next = _one(
        con, "SELECT sum(subscribers) FROM segment_migration WHERE month = ?", months[3]
    )
    service.segment_month(con, m, preset="modern")
    assert _one(con, "SELECT count(*) FROM segments WHERE month = ?", m) == before
    assert _one(con, "SELECT count(*) FROM segment_runs WHERE month = ?", m) == 1
    assert _one(con, "SELECT preset FROM segment_runs WHERE month = ?", m) == "modern"
    assert (
        _one(con, "SELECT sum(subscribers) FROM segment_migration WHERE month = ?", months[3])
        == migr_next
    )
    # a strict run that fails leaves the stored month untouched
    data = yaml.safe_load((PRESET_DIR / "seed.yaml").read_text(encoding="utf-8"))
    bad = copy.deepcopy(data)
    bad["dimensions"][1]["by_line_type"]["mobile"][2]["when"] = "arpu_3m >= 10"
    with pytest.raises(RuleError, match="levels B2 and B3 both match"):
        service.segment_month(con, m, preset=parse_preset(bad), strict=True)
    assert _one(con, "SELECT preset FROM segment_runs WHERE month = ?", m) == "modern"


def test_export_masks_personal_data(store, tmp_path):
    import openpyxl

    con, months, _ = store
    m = months[3]
    n = service.export(con, m, tmp_path / "out.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert len(rows) == n + 1
    assert rows[0][:3] == (
        "Subscriber ID / 用户标识",
        "Phone (masked) / 手机号码(脱敏)",
        "Name (masked) / 客户姓名(脱敏)",
    )
    phone = con.execute(
        "SELECT phone FROM snapshot WHERE month = ? AND subscriber_id = ?", [m, rows[1][0]]
    ).fetchall()[0][0]
    assert rows[1][1] == phone[:3] + "****" + phone[-4:]
    assert rows[1][2].endswith("*")
    # ordered by priority rank (the best rank present in the month first, unranked last)
    best = _one(con, "SELECT min(priority_rank) FROM segments WHERE month = ?", m)
    assert rows[1][8] == best
    ranks = [r[8] for r in rows[1:] if r[8] is not None]
    assert ranks == sorted(ranks) and len(set(ranks)) > 1
    k = service.export(con, m, tmp_path / "out.csv", branch="HZ", include_excluded=False)
    with open(tmp_path / "out.csv", encoding="utf-8") as fh:
        data = list(csv.DictReader(fh))
    assert len(data) == k > 0 and {r["branch_id"] for r in data} == {"HZ"}
    assert all("****" in r["phone"] for r in data)
    service.export(con, m, tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").num_rows == n
    with pytest.raises(ConfigError, match=r"\.xlsx, \.csv or \.parquet"):
        service.export(con, m, tmp_path / "out.json")


def test_unknown_months_are_clear_errors(store):
    con, months, _ = store
    with pytest.raises(NotFoundError, match="is not loaded"):
        service.segment_month(con, "2030-01")
    with pytest.raises(NotFoundError, match="not segmented yet"):
        service.get_counts(con, months[0])
