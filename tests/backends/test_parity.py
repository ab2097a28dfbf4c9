"""Parity: the same rules give the same result on DuckDB and on a real local Spark session."""

from __future__ import annotations

import json

import pytest

from tests.segment.helpers import load_history
from weixi.segment import service

#: Columns that must be identical (every dimension, the code and the priority).
EXACT = (
    "subscriber_id",
    "excluded",
    "exclusion_reason",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "stability_group",
    "code",
    "priority_rank",
    "urgency",
    "vad",
    "vip_tier",
    "group_class",
    "value_class",
    "relationship",
    "credit",
    "satisfaction_band",
)


@pytest.fixture
def no_codegen(spark):
    """Interpreted Spark for small test data: Janino compiling the wide CASE plans costs more
    than running them (results are the same; only speed differs)."""
    key = "spark.sql.codegen.wholeStage"
    old = spark.conf.get(key)
    spark.conf.set(key, "false")
    yield spark
    spark.conf.set(key, old)


@pytest.mark.spark
def test_segment_codes_identical_on_duckdb_and_spark(no_codegen, fresh_con):
    """Every subscriber of a generated month (weixi.synth, 4 months of history) gets the same
    exclusion, dimensions, code and priority on both engines (seed preset; the modern preset
    compiles to the same SQL shape, see tests/snapshots)."""
    months = load_history(fresh_con, n=1200, months=4, seed=3)
    month = months[-1]
    duck, _ = service.compute(fresh_con, month, preset="seed", engine="duckdb", validate=False)
    sprk, _ = service.compute(fresh_con, month, preset="seed", engine="spark", validate=False)
    duck = duck.sort_by("subscriber_id")
    sprk = sprk.sort_by("subscriber_id")
    assert duck.num_rows == sprk.num_rows > 1000
    for col in EXACT:
        assert duck.column(col).to_pylist() == sprk.column(col).to_pylist(), col
    for col in ("arpu_3m", "arpu_drop_pct", "data_mb_3m", "tenure_months", "handset_age_years"):
        a, b = duck.column(col).to_pylist(), sprk.column(col).to_pylist()
        assert all(
            (x is None and y is None) or abs(x - y) < 1e-9 for x, y in zip(a, b, strict=True)
        ), col
    # the month is varied enough for the comparison to mean something
    assert len(set(duck.column("code").to_pylist())) > 40
    assert len(set(duck.column("exclusion_reason").to_pylist())) > 5


@pytest.mark.spark
def test_churn_features_identical_on_duckdb_and_spark(no_codegen, fresh_con, tmp_path):
    """The one ibis definition of the churn features (``feature_table``) gives the same rows
    on DuckDB and on Spark: categorical and integer columns equal, doubles within 1e-9."""
    import math

    from weixi.churn import features as F
    from weixi.store.backends import spark_backend

    months = load_history(fresh_con, n=800, months=8, seed=5)
    wanted = months[-2:]
    duck = fresh_con.sql(F.feature_sql(wanted)).to_arrow_table()
    path = tmp_path / "snapshot.parquet"
    fresh_con.execute(f"COPY snapshot TO '{path}' (FORMAT parquet)")
    snap = spark_backend().read_parquet(f"file://{path}", table_name="weixi_snap_features")
    sprk = F.feature_table(snap, wanted).to_pyarrow()
    assert duck.column_names == sprk.column_names
    assert duck.num_rows == sprk.num_rows > 1000
    key = ["month", "subscriber_id"]
    duck, sprk = (
        duck.sort_by([(k, "ascending") for k in key]),
        sprk.sort_by([(k, "ascending") for k in key]),
    )
    for col in duck.column_names:
        a, b = duck.column(col).to_pylist(), sprk.column(col).to_pylist()
        if isinstance(next((x for x in a if x is not None), None), float):
            assert all(
                (x is None and y is None)
                or (x is not None and y is not None and math.isclose(x, y, abs_tol=1e-9))
                for x, y in zip(a, b, strict=True)
            ), col
        else:
            assert a == b, col
    # the window features mean something on this month (history, changes and slopes)
    assert sum(x is not None for x in duck.column("arpu_trend3").to_pylist()) > 1000


@pytest.mark.spark
def test_churn_scores_on_spark_executors_match_duckdb(no_codegen, fresh_con, tmp_path):
    """A model trained on DuckDB scores the month on the Spark executors (``mapInArrow``) with
    the same probabilities, within 1e-9, as ``weixi churn score`` on DuckDB, and counts the
    same drift (PSI per feature and of the score, per branch)."""
    from tests.churn.conftest import FAST_YAML
    from weixi.churn import registry
    from weixi.churn import service as churn
    from weixi.churn import spark as churn_spark
    from weixi.churn.params import load_params
    from weixi.store.backends import spark_backend

    months = load_history(fresh_con, n=1500, months=7, seed=5)
    month = months[-1]
    (tmp_path / "fast.yaml").write_text(FAST_YAML)
    params = load_params(tmp_path / "fast.yaml")
    churn.train(con=fresh_con, month=month, params=params, promote=True)
    churn.score(con=fresh_con, month=month, engine="lightgbm", params=params)
    duck = fresh_con.execute(
        "SELECT subscriber_id, p_churn, p_churn_2m, p_churn_3m FROM churn_scores "
        "WHERE month = ? ORDER BY subscriber_id",
        [month],
    ).fetchall()

    path = tmp_path / "snapshot.parquet"
    fresh_con.execute(f"COPY snapshot TO '{path}' (FORMAT parquet)")
    backend = spark_backend()
    snap = backend.read_parquet(f"file://{path}", table_name="weixi_snap_scores")
    _version, folder, meta = registry.load_meta(fresh_con, None)
    out = tmp_path / "scores"
    why = tmp_path / "reasons"
    agg = churn_spark.score_month(
        backend,
        snap,
        month,
        meta,
        folder,
        f"file://{out}",
        reasons_output=f"file://{why}",
        monthly=params.monthly,
    )
    sprk = fresh_con.execute(
        f"SELECT subscriber_id, p_churn, p_churn_2m, p_churn_3m FROM '{out}/*.parquet' "
        "ORDER BY subscriber_id"
    ).fetchall()
    assert agg["n"] == len(duck) == len(sprk) > 1000
    assert [r[0] for r in duck] == [r[0] for r in sprk]
    for a, b in zip(duck, sprk, strict=True):
        for x, y in zip(a[1:], b[1:], strict=True):
            assert (x is None and y is None) or abs(x - y) <= 1e-9, (a, b)
    assert abs(agg["mean_p_churn"] - sum(r[1] for r in duck) / len(duck)) < 1e-9

    # the riskiest lines' reasons, computed on the executors: the same lines, the same reasons
    duck_why = dict(
        fresh_con.execute(
            "SELECT subscriber_id, reasons FROM churn_scores WHERE month = ? "
            "AND reasons IS NOT NULL",
            [month],
        ).fetchall()
    )
    sprk_why = dict(fresh_con.execute(f"SELECT * FROM '{why}/*.parquet'").fetchall())
    assert set(sprk_why) == set(duck_why) and agg["n_reasons"] == len(duck_why) > 100
    for sid, text in duck_why.items():
        a, b = json.loads(text), json.loads(sprk_why[sid])
        assert [r["code"] for r in a] == [r["code"] for r in b], (sid, a, b)
        for x, y in zip(a, b, strict=True):
            assert abs(x["contribution"] - y["contribution"]) <= 1e-9, (sid, a, b)
            if isinstance(x["value"], float):
                assert abs(x["value"] - y["value"]) <= 1e-9, (sid, a, b)
            else:
                assert x["value"] == y["value"], (sid, a, b)

    # the drift counted on the executors gives DuckDB's PSI table, row for row
    from weixi.churn import drift

    table = drift.psi_rows(
        meta["drift_reference"],
        agg["drift_counts"],
        warning=params.monthly.psi_warning,
        min_rows=params.monthly.psi_min_rows,
    )
    duck_drift = fresh_con.execute(
        "SELECT branch_id, feature, psi, warning FROM churn_drift WHERE month = ? "
        "ORDER BY branch_id, feature",
        [month],
    ).fetchall()
    sprk_drift = sorted(table.itertuples(index=False, name=None))
    assert len(duck_drift) == len(sprk_drift) > len(meta["features"])
    for a, b in zip(duck_drift, sprk_drift, strict=True):
        assert a[:2] == b[:2] and abs(a[2] - b[2]) <= 1e-9 and a[3] == b[3], (a, b)
