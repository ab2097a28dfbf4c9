"""The pages read small read models (``rm_*``, :mod:`weixi.summaries`) that the monthly job
writes, not the month: the stored figures equal the live ones, and once stored the pages keep
answering from them whatever happens to the month's rows afterwards."""

from __future__ import annotations

import math
import shutil

import pytest

from weixi import summaries
from weixi.store.analytics import connect
from weixi.web import readmodels

BRANCH = "HZ"


def _close(a, b) -> bool:
    """Equal, floats to 1e-9 relative (sums in another order), containers element-wise."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _pages(con) -> dict:
    """What the dashboard, segments and churn pages read, province-wide and for BRANCH."""
    seg_month = readmodels.summary_months(con, "rm_segments")[-1]
    churn_month = readmodels.summary_months(con, "rm_churn")[0]  # has next month's labels
    out = {}
    for scope in (None, BRANCH):
        d = readmodels.dashboard(con, scope)
        out[scope] = {
            "trend": d["trend"],
            "urgency": d["urgency"],
            "by_branch": d["by_branch"],
            "grid": readmodels.segment_grid(con, scope, seg_month, "mobile"),
            "needs": readmodels.needs_grid(con, scope, seg_month, "broadband"),
            "migration": readmodels.migration(con, scope, seg_month, "b"),
            "profiles": readmodels.segment_profiles(con, scope, seg_month, "mobile"),
            "churn": {
                k: v
                for k, v in readmodels.churn_summary(con, scope, churn_month).items()
                if k != "model"
            },
            "top": readmodels.top_risk(con, scope, churn_month, 40),
            "serving": readmodels.serving_version(con, churn_month),
        }
    return out


@pytest.fixture
def writable(store_path, tmp_path):
    """A writable copy of the web tests' store (built without the monthly job: no read
    models yet)."""
    path = tmp_path / "weixi.duckdb"
    shutil.copy(store_path, path)
    con = connect(path)
    yield con
    con.close()


def test_stored_read_models_equal_the_live_figures_and_pages_read_them(writable):
    con = writable
    assert not readmodels.has(con, "rm_segments")  # a store the monthly job never refreshed
    live = _pages(con)
    assert live[None]["grid"]["total"] > 0 and live[None]["churn"]["deciles"]
    assert live[BRANCH]["top"] and live[None]["migration"]["links"]

    summaries.backfill(con)  # what the monthly job writes, month by month
    for table in summaries.SOURCES:
        assert readmodels.has(con, table), table
    stored = _pages(con)
    assert _close(stored, live)

    # once stored, the pages no longer read the month: rewriting its rows changes nothing
    # they show, while the read model's figures do show
    month = readmodels.summary_months(con, "rm_segments")[-1]
    con.execute("UPDATE segments SET urgency = 'red', b = 'B1', excluded = false")
    con.execute("UPDATE churn_scores SET p_churn = 0.01")
    con.execute("UPDATE snapshot SET arpu = 0")
    after = _pages(con)
    for scope in live:
        for key in live[scope]:
            if key == "top":  # reasons not stored are computed on demand from the line's row
                strip = [{k: v for k, v in r.items() if k != "reasons"} for r in live[scope][key]]
                assert _close(
                    [{k: v for k, v in r.items() if k != "reasons"} for r in after[scope][key]],
                    strip,
                )
            else:
                assert _close(after[scope][key], live[scope][key]), (scope, key)
    con.execute("UPDATE rm_segments SET n = n * 1000 WHERE month = ?", [month])
    grid = readmodels.segment_grid(con, None, month, "mobile")
    assert grid["total"] == 1000 * live[None]["grid"]["total"]


def test_a_read_model_without_rows_is_read_empty_once_the_store_keeps_read_models(writable):
    """The first scored month's calibration deciles wait for the next month's snapshot: until
    then the churn page shows none, rather than computing them live over the month on every
    view (5 s at 10 M lines)."""
    con = writable
    month = readmodels.summary_months(con, "rm_churn")[0]
    assert summaries.source(con, "rm_churn_deciles", month) != "rm_churn_deciles"  # live
    assert readmodels.churn_summary(con, None, month)["deciles"]
    summaries.backfill(con)
    con.execute("DELETE FROM rm_churn_deciles")
    assert summaries.source(con, "rm_churn_deciles", month) == "rm_churn_deciles"
    summary = readmodels.churn_summary(con, None, month)
    assert summary["deciles"] == [] and summary["histogram"]


def test_a_refresh_rewrites_only_its_month(writable):
    con = writable
    summaries.backfill(con)
    months = readmodels.summary_months(con, "rm_segments")
    before = con.execute(
        "SELECT count(*) FROM rm_segments WHERE month = ?", [months[0]]
    ).fetchone()[0]
    out = summaries.refresh(con, months[-1])
    assert out["rm_segments"] > 0 and set(out["seconds"]) >= set(summaries.SOURCES)
    again = con.execute("SELECT count(*) FROM rm_segments WHERE month = ?", [months[0]]).fetchone()
    assert again[0] == before  # the earlier month kept, the refreshed one not doubled
    n = con.execute("SELECT count(*) FROM rm_segments WHERE month = ?", [months[-1]]).fetchone()[0]
    assert n == out["rm_segments"]


def test_the_monthly_job_refreshes_the_read_models(writable, settings):
    from weixi.flows import run_month
    from weixi.store.db import session_scope
    from weixi.web import migrate

    con = writable
    migrate.upgrade(settings.db_url)
    month = readmodels.months(con)[-1]
    live = _pages(con)
    with session_scope(settings.db_url) as session:
        rep = run_month(con=con, session=session, month=month, train=False, plan=False)
    written = rep.steps["read_models"]
    assert written["rm_segments"] > 0 and written["rm_months"] > 0 and written["rm_churn"] > 0
    assert "read_models" in rep.seconds
    # the job's month is stored and is what the pages read
    assert readmodels.summary_months(con, "rm_segments") == [month]
    assert readmodels.summary_months(con, "rm_churn") == [month]
    grid = readmodels.segment_grid(con, None, month, "mobile")
    assert grid["total"] == live[None]["grid"]["total"] > 0


def test_customer_search_finds_the_same_lines_through_the_stored_keys(writable):
    con = writable
    month = readmodels.months(con)[-1]
    sid, cid, phone, branch = con.execute(
        """SELECT subscriber_id, customer_id, phone, branch_id FROM snapshot
           WHERE month = ? AND phone IS NOT NULL ORDER BY subscriber_id LIMIT 1 OFFSET 7""",
        [month],
    ).fetchone()
    queries = [sid, cid, phone, sid[:-2], "no-such-line"]
    live = {q: readmodels.search_customers(con, None, q) for q in queries}
    assert [r["subscriber_id"] for r in live[phone]] == [sid]
    assert sid in [r["subscriber_id"] for r in live[cid]]
    assert len(live[sid[:-2]]) > 1 and live["no-such-line"] == []

    summaries.backfill(con)
    assert con.execute("SELECT DISTINCT month FROM rm_lookup").fetchall() == [(month,)]
    for q in queries:
        assert readmodels.search_customers(con, None, q) == live[q], q
    other = "HZ" if branch != "HZ" else "NB"
    assert readmodels.search_customers(con, other, phone) == []  # scoped to the branch
    # the phone and customer id are found through the keys, not the month's columns
    con.execute("UPDATE snapshot SET phone = NULL, customer_id = NULL WHERE month = ?", [month])
    assert [r["subscriber_id"] for r in readmodels.search_customers(con, None, phone)] == [sid]


def test_the_evaluation_page_reads_the_stored_overview(tmp_path, fresh_db_url, monkeypatch):
    import json

    from tests.evaluate.test_service import _load
    from tests.web.conftest import login, make_users
    from weixi.config import Settings
    from weixi.evaluate import service
    from weixi.store.months import parse_month
    from weixi.store.snapshots import publish_file

    store = tmp_path / "weixi.duckdb"
    con = connect(store)
    try:
        _load(con, n=1500, months=2)
        month = parse_month("2026-01")
        service.build_outcomes(con=con, month=month)  # as the monthly job's evaluation leaves it
        calls = {"plan_changes": 0, "learned_uplift_summary": 0}
        for name in calls:
            monkeypatch.setattr(service, name, _counted(getattr(service, name), calls, name))
        n = summaries.refresh_evaluation(con, month)
        assert n >= 4  # province + branches, 2 locales
        # the adjustment and the learned uplift are province-wide: computed once per language
        # and once, not once per scope (the adjustment reads the month's outcome rows)
        assert calls == {"plan_changes": 2, "learned_uplift_summary": 1}, (n, calls)
        monkeypatch.undo()
        # stored once per scope and language, drawn once per scope: the same as computed alone
        for locale, scope in (("en", "HZ"), ("zh-CN", "HZ"), ("zh-CN", None)):
            live = service.overview(con=con, month=month, locale=locale, branch=scope)
            stored = summaries.evaluation(con, None, locale=locale, branch=scope)
            assert stored == json.loads(json.dumps(live, default=summaries._plain))
        # from here on nothing may compute an overview: it is minutes on a province's month
        monkeypatch.setattr(service, "overview", _no_live_overview)
        # a branch nobody of which was in the plan or control: no lift, the province's
        # adjustment and learned uplift (province-wide anyway)
        province = summaries.evaluation(con, None, locale="en", branch=None)
        none_here = summaries.evaluation(con, None, locale="en", branch="ZZ")
        assert none_here["scope_empty"] and none_here["branch"] == "ZZ"
        assert none_here["overall"] is None and none_here["by"] == {}
        assert none_here["changes"] == province["changes"] and none_here["month"] == "2026-01"
        # the page shows what is stored, not a recomputation
        report = json.loads(
            con.execute(
                "SELECT report FROM rm_evaluation WHERE scope = '*' AND locale = 'en'"
            ).fetchall()[0][0]
        )
        report["overall"]["verdict"] = "STORED-OVERVIEW-MARKER"
        con.execute(
            "UPDATE rm_evaluation SET report = ? WHERE scope = '*' AND locale = 'en'",
            [json.dumps(report)],
        )
    finally:
        con.close()
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        analytics_path=store,
        database_url=fresh_db_url(tmp_path),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    from weixi.web.app import create_app

    analyst = login(create_app(settings), "u_analyst")
    page = analyst.get("/evaluation")
    assert page.status_code == 200 and "STORED-OVERVIEW-MARKER" in page.text
    # an evaluated month the job has not summarised: named, with the command, not computed
    con = connect(store)
    try:  # the monthly job keeps the read models of 2026-02; its evaluation row went missing
        monkeypatch.undo()  # the job computes its overviews
        summaries.refresh(con, parse_month("2026-02"))
        con.execute("DELETE FROM rm_evaluation")
        monkeypatch.setattr(service, "overview", _no_live_overview)
        assert summaries.evaluation(con, None, locale="en", branch=None) == {
            "months": [],
            "month": None,
            "pending": "2026-01",
        }
    finally:
        con.close()
    publish_file(store)  # as every writer does when it is done
    page = analyst.get("/evaluation")
    assert "The evaluation of 2026-01 is not summarised yet" in page.text
    assert "weixi evaluate --month 2026-01" in page.text


def _counted(fn, calls: dict, name: str):
    def wrapper(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)

    return wrapper


def _no_live_overview(*args, **kwargs):
    raise AssertionError(f"an overview was computed: {args} {kwargs}")


def _rows(con, table: str, month) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} WHERE month = ? ORDER BY ALL", [month]).fetchall()


def _cli(path, monkeypatch, *args: str) -> None:
    from typer.testing import CliRunner

    from weixi import config
    from weixi.cli import app

    monkeypatch.setenv("WEIXI_ANALYTICS_PATH", str(path))
    config.get_settings.cache_clear()
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output


def test_a_step_run_by_hand_refreshes_the_read_models(store_path, tmp_path, monkeypatch):
    """`weixi segment` and `weixi churn score` outside the monthly job rewrite the read models
    of their month: the pages never show an earlier run's figures for it."""
    path = tmp_path / "weixi.duckdb"
    shutil.copy(store_path, path)
    con = connect(path)
    summaries.backfill(con)
    month = readmodels.summary_months(con, "rm_segments")[-1]
    # the figures of an earlier run of the month
    con.execute("UPDATE rm_segments SET n = n * 1000 WHERE month = ?", [month])
    con.execute("DELETE FROM rm_churn WHERE month = ?", [month])
    con.close()

    # no evaluation overview reads segments or churn scores: neither step recomputes one
    monkeypatch.setattr(summaries, "refresh_evaluation", _no_live_overview)
    _cli(path, monkeypatch, "segment", "--month", month.isoformat()[:7])
    _cli(path, monkeypatch, "churn", "score", "--month", month.isoformat()[:7])
    con = connect(path)
    try:
        for table in ("rm_segments", "rm_churn", "rm_months"):
            live = con.execute(
                f"SELECT * FROM ({summaries.TABLES[table](con, month)}) ORDER BY ALL"
            ).fetchall()
            assert live and _close(_rows(con, table, month), live), table
    finally:
        con.close()


def test_a_step_rewrites_only_the_read_models_that_read_what_it_changed(
    store_path, tmp_path, monkeypatch
):
    """`weixi segment` rewrites the read models that read the month's segments (its own
    month's segment grid, needs, migration and top-risk list; the next month's trend and
    migration) and leaves the churn read models and the search keys as they were: on a
    province's month those were half a minute recomputed for nothing."""
    path = tmp_path / "weixi.duckdb"
    shutil.copy(store_path, path)
    con = connect(path)
    summaries.backfill(con)
    month = readmodels.summary_months(con, "rm_segments")[-2]  # has a next month
    nxt = readmodels.summary_months(con, "rm_segments")[-1]
    for table, m in (("rm_segments", month), ("rm_top_risk", month), ("rm_migration", nxt)):
        con.execute(f"DELETE FROM {table} WHERE month = ?", [m])
    # stale-looking rows in read models that do not read segments: left alone
    con.execute("UPDATE rm_churn SET n = n * 1000 WHERE month = ?", [month])
    churn_before = _rows(con, "rm_churn", month)
    lookup_before = con.execute("SELECT count(*) FROM rm_lookup").fetchall()[0][0]
    con.execute(
        "DELETE FROM rm_lookup WHERE subscriber_id IN (SELECT subscriber_id FROM rm_lookup LIMIT 5)"
    )
    con.close()

    monkeypatch.setattr(summaries, "refresh_evaluation", _no_live_overview)
    _cli(path, monkeypatch, "segment", "--month", month.isoformat()[:7])
    con = connect(path)
    try:
        for table, m in (
            ("rm_segments", month),
            ("rm_needs", month),
            ("rm_top_risk", month),
            ("rm_migration", nxt),
            ("rm_months", nxt),
        ):
            live = con.execute(
                f"SELECT * FROM ({summaries.TABLES[table](con, m)}) ORDER BY ALL"
            ).fetchall()
            assert live and _close(_rows(con, table, m), live), table
        assert _rows(con, "rm_churn", month) == churn_before
        assert con.execute("SELECT count(*) FROM rm_lookup").fetchall()[0][0] < lookup_before
    finally:
        con.close()


def test_every_read_model_lists_the_tables_it_reads():
    """:data:`summaries.READS` names every source table each read model's query reads, so a
    step's refresh cannot skip a read model it made stale."""
    import datetime as dt
    import re

    month = dt.date(2026, 3, 1)
    sources = ("snapshot", "segments", "churn_scores")

    class _Con:  # migration_sql asks for the previous segmented month
        def execute(self, *_a, **_k):
            return self

        def fetchall(self):
            return [(dt.date(2026, 2, 1), True)]

    sqls = {t: make(_Con(), month) for t, make in summaries.TABLES.items()}
    sqls["rm_churn_deciles"] = summaries.deciles_sql(month)
    sqls["rm_lookup"] = summaries.lookup_sql(month)
    assert set(sqls) == set(summaries.READS)
    for table, sql in sqls.items():
        read = {s for s in sources if re.search(rf"\b{s}\b", sql)}
        assert read == set(summaries.READS[table]), table


def test_evaluate_by_hand_rewrites_the_months_overviews_and_nothing_else(tmp_path, monkeypatch):
    """`weixi evaluate` changes the month's outcomes and execution record, which only the
    evaluation overview reads: it writes that overview, and no other read model is recomputed
    (on a province's month that was minutes)."""
    import json

    from tests.evaluate.test_service import _load
    from weixi.evaluate import service
    from weixi.store.months import parse_month

    path = tmp_path / "weixi.duckdb"
    month = parse_month("2026-01")
    con = connect(path)
    try:
        _load(con, n=1500, months=2)
        summaries.backfill(con)
        con.execute("DELETE FROM rm_evaluation")
    finally:
        con.close()
    monkeypatch.setattr(summaries, "refresh", lambda *a, **k: pytest.fail("a full refresh"))
    _cli(path, monkeypatch, "evaluate", "--month", "2026-01")
    con = connect(path)
    try:
        for locale, scope in (("en", None), ("zh-CN", "HZ")):
            live = service.overview(con=con, month=month, locale=locale, branch=scope)
            stored = con.execute(
                "SELECT report FROM rm_evaluation WHERE month = ? AND scope = ? AND locale = ?",
                [month, scope or summaries.PROVINCE, locale],
            ).fetchall()
            assert stored and json.loads(stored[0][0]) == json.loads(
                json.dumps(live, default=summaries._plain)
            )
    finally:
        con.close()


def test_a_step_run_by_hand_leaves_a_store_without_read_models_live(
    store_path, tmp_path, monkeypatch
):
    """Before the store keeps read models, a step writes none (one month of them would hide
    every other month from the pages, which compute them live)."""
    path = tmp_path / "weixi.duckdb"
    shutil.copy(store_path, path)
    con = connect(path)
    month = readmodels.months(con)[-1]
    con.close()
    _cli(path, monkeypatch, "segment", "--month", month.isoformat()[:7])
    con = connect(path)
    try:
        assert not summaries.in_use(con)
    finally:
        con.close()


def test_deciles_split_tied_scores_the_same_way_whatever_the_row_order(writable):
    """A tree ensemble gives many lines the same score; which of them fall in the lower decile
    is decided by subscriber id, not by the order the rows happen to be read in (run to run,
    a parallel scan reads them in another order)."""
    con = writable
    month = readmodels.summary_months(con, "rm_churn")[0]
    con.execute("UPDATE churn_scores SET p_churn = round(p_churn, 1) WHERE month = ?", [month])
    ties = con.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM churn_scores WHERE month = ? GROUP BY "
        "p_churn)",
        [month],
    ).fetchall()[0][0]
    total = con.execute("SELECT count(*) FROM churn_scores WHERE month = ?", [month]).fetchall()
    assert ties > total[0][0] / 10  # a tie spans deciles

    def deciles() -> list[tuple]:
        return con.execute(
            f"SELECT scope, decile, n, churned FROM ({summaries.deciles_sql(month)}) ORDER BY ALL"
        ).fetchall()

    first = deciles()
    for order in ("subscriber_id DESC", "hash(subscriber_id)"):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _cs AS SELECT * FROM churn_scores WHERE month = ?
                ORDER BY {order}""",
            [month],
        )
        con.execute("DELETE FROM churn_scores WHERE month = ?", [month])
        con.execute("INSERT INTO churn_scores SELECT * FROM _cs")
        assert deciles() == first
