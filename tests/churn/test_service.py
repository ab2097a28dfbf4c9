import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weixi.churn import registry, service
from weixi.churn.reasons import describe
from weixi.errors import ModelError, NotFoundError
from weixi.store.months import churn_label_sql


def test_train_score_promote_and_drift(history_con, settings, fast_params):
    con, months = history_con
    as_of = months[-2]
    info = service.train(con=con, month=as_of, params=fast_params)
    assert info["active"] and info["horizons"] == [1, 2, 3]
    # time-honest: the training window ends before the month whose outcome is unknown at as_of
    assert info["window"][1] < f"{as_of:%Y-%m}"
    folder = settings.models_dir / "churn" / info["version"]
    assert (folder / "h1.txt").exists() and (folder / "meta.json").exists()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["horizons"]["1"]["calib_months"] == [months[-3].isoformat()]
    assert meta["config"]["monthly"]["horizons"] == [1, 2, 3]

    res = service.score(con=con, month=as_of, engine="lightgbm", params=fast_params)
    assert res["model_version"] == info["version"]
    n_live = con.execute(
        "SELECT count(*) FROM snapshot WHERE month = ? AND status <> 'cancelled'", [as_of]
    ).fetchone()[0]
    rows = con.execute(
        "SELECT subscriber_id, model_version, p_churn, p_churn_2m, p_churn_3m, reasons "
        "FROM churn_scores WHERE month = ?",
        [as_of],
    ).fetchall()
    assert len(rows) == n_live == res["n"]
    p = np.array([r[2:5] for r in rows], dtype=float)
    assert ((p >= 0) & (p <= 1)).all()
    assert (p[:, 0] <= p[:, 1]).all() and (p[:, 1] <= p[:, 2]).all()
    assert {r[1] for r in rows} == {info["version"]}
    top = max(rows, key=lambda r: r[2])
    reasons = json.loads(top[5])
    assert 1 <= len(reasons) <= 3
    assert all(r["contribution"] > 0 for r in reasons)
    zh = describe(reasons[0], "zh-CN")
    assert zh and zh != describe(reasons[0], "en")
    # mean predicted churn is close to the observed rate of the next month
    observed = con.execute(f"SELECT avg(churned) FROM ({churn_label_sql(as_of)})").fetchone()[0]
    assert abs(res["mean_p_churn"] - observed) < 0.015

    # re-scoring replaces the month; drift rows exist for the score and every feature
    service.score(con=con, month=as_of, engine="lightgbm", params=fast_params)
    assert con.execute("SELECT count(*) FROM churn_scores").fetchone()[0] == n_live
    feats = con.execute(
        "SELECT count(DISTINCT feature) FROM churn_drift WHERE branch_id = '*'"
    ).fetchone()[0]
    assert feats == len(meta["features"]) + 1

    # a second model is registered but not active until promoted
    one = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"horizons": (1,)})}
    )
    second = service.train(con=con, month=months[-1], params=one)
    assert second["horizons"] == [1]
    assert not second["active"] and registry.get_active(con) == info["version"]
    registry.promote(con, second["version"])
    assert registry.get_active(con) == second["version"]
    with pytest.raises(NotFoundError):
        registry.promote(con, "churn-000000-999")


def test_drift_reference_scored_by_the_compiled_trees(history_con, fast_params, monkeypatch):
    """The drift reference's scores come from the 1-month booster compiled, as scoring computes
    a month's (not LightGBM's slower predict), batch by batch: the probabilities the booster
    itself gives, to rounding."""
    from weixi.churn.predict import encode

    con, months = history_con
    models = service.fit_as_of(con=con, as_of=months[-2], params=fast_params)
    ref = models.reference
    assert ref is not None and len(ref) > 100
    engines = []
    real = service.Scorer

    def recording(*a, **k):
        scorer = real(*a, **k)
        engines.append(scorer.engine)
        return scorer

    monkeypatch.setattr(service, "Scorer", recording)
    monkeypatch.setattr(service, "REFERENCE_BATCH_ROWS", 37)  # several batches
    got = service._reference_scores(models, ref, fast_params)
    assert engines == ["lleaves"]
    want = service.predict_matrix(models, encode(ref, models.names, models.levels), upto=1)
    np.testing.assert_allclose(got, want["p_1m"], rtol=0, atol=1e-9)


def test_backtest_beats_rule_and_is_calibrated(history_con, fast_params):
    con, months = history_con
    # keep 30 % of the stayers when training: the prior correction must keep it calibrated
    sampled = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"negative_rate": 0.3})}
    )
    bt = service.backtest(con=con, month=months[-2], params=sampled)
    assert bt["train_months"][-1] < bt["calibration_months"][0] < bt["month"]
    assert bt["model"]["top_decile_lift"] > bt["rule_c"]["top_decile_lift"]
    assert bt["model"]["auc"] > 0.7
    assert bt["model"]["ece"] <= 0.02
    assert len(bt["gains"]) == 10 and len(bt["branches"]) >= 2
    assert bt["rule_c_rates"]["C1"]["churn_rate"] > bt["rule_c_rates"]["C3"]["churn_rate"]


def test_errors_say_what_to_do(history_con):
    con, months = history_con
    with pytest.raises(NotFoundError, match="needs"):
        service.backtest(con=con, month=months[-1])
    with pytest.raises(ModelError, match="two consecutive months"):
        service.fit_as_of(con=con, as_of=months[0])
    with pytest.raises(NotFoundError, match="train"):
        service.score(con=con, month=months[-1])


def test_segment_codes_are_used_when_every_month_has_them(history_con, fast_params):
    con, months = history_con
    con.execute(
        "CREATE OR REPLACE TABLE segments AS SELECT month, subscriber_id, "
        "CASE WHEN contract_type = 'none' THEN 'A2' ELSE 'A3' END AS a, 'B3' AS b, "
        "CASE WHEN complaints > 0 THEN 'C1' ELSE 'C2' END AS c, 'blue' AS urgency FROM snapshot"
    )
    models = service.fit_as_of(con=con, as_of=months[-2], horizons=(1,), params=fast_params)
    assert models.with_segments and {"seg_a", "seg_c"} <= set(models.names)
    assert models.levels["seg_c"] == ["C1", "C2"]
    con.execute("DELETE FROM segments WHERE month = ?", [months[1]])
    assert not service.fit_as_of(
        con=con, as_of=months[-2], horizons=(1,), params=fast_params
    ).with_segments


def test_reasons_stored_for_the_riskiest_lines_and_computed_on_demand(
    history_con, fast_params, monkeypatch
):
    con, months = history_con
    # several batches: the riskiest lines are chosen across them
    monkeypatch.setattr(service, "SCORE_BATCH_ROWS", 700)
    as_of = months[-2]
    service.train(con=con, month=as_of, params=fast_params)
    params = fast_params.model_copy(
        update={
            "monthly": fast_params.monthly.model_copy(
                update={"reasons_share": 0.05, "reasons_min_p": 0.5}
            )
        }
    )
    res = service.score(con=con, month=as_of, engine="lightgbm", params=params)
    rows = con.execute(
        "SELECT subscriber_id, p_churn, reasons FROM churn_scores WHERE month = ? "
        "ORDER BY p_churn DESC, subscriber_id",
        [as_of],
    ).fetchall()
    stored = [r for r in rows if r[2] is not None]
    n_high = sum(r[1] >= 0.5 for r in rows)
    assert res["n_reasons"] == len(stored) >= max(n_high, int(np.ceil(0.05 * len(rows))))
    p_all = np.array([r[1] for r in rows])
    assert len(stored) == len(service.explained_rows(p_all, params.monthly))
    assert len(stored) < len(rows)
    # the stored ones are the riskiest lines: no line without reasons scores above them
    assert min(r[1] for r in stored) >= max(r[1] for r in rows if r[2] is None)
    # on demand: the same model gives the same reasons as the stored ones ...
    top = stored[:3]
    again = service.compute_reasons(
        con=con, month=as_of, subscriber_ids=[r[0] for r in top], params=params
    )
    assert again == {r[0]: json.loads(r[2]) for r in top}
    # the model's explainer is built once and kept for the next line's page
    hits = service._explaining_scorer.cache_info().hits
    assert service.compute_reasons(con=con, month=as_of, subscriber_ids=[top[1][0]]) == {
        top[1][0]: json.loads(top[1][2])
    }
    assert service._explaining_scorer.cache_info().hits == hits + 1
    # ... and reasons for lines scored without them, in the same format
    low = [r[0] for r in rows if r[2] is None][:2]
    got = service.reasons_for(con=con, month=as_of, subscriber_ids=[top[0][0], *low, "nobody"])
    assert set(got) == {top[0][0], *low}
    assert got[top[0][0]] == json.loads(top[0][2])
    for sid in low:
        assert all(r["contribution"] > 0 and describe(r, "zh-CN") for r in got[sid])
    # the customer 360 read model shows them for a line without stored reasons
    from weixi.web import readmodels

    view = readmodels.customer(con, None, low[0])
    shown = next(r for r in view["scores"] if r["month"] == as_of)
    assert shown["reasons"] == got[low[0]]
    # churn analysis: a leaver scored without stored reasons gets its computed top reason
    from weixi.churn import analysis

    left = analysis.analyse(con, months[-1])
    keys = {r["key"] for r in left["by"]["reason"]}
    assert keys and all(k.startswith("score_") or k == "unknown" for k in keys)
    assert keys != {"unknown"}
    # the whole month with reasons when asked
    every = params.model_copy(
        update={"monthly": params.monthly.model_copy(update={"reasons_share": 1.0})}
    )
    service.score(con=con, month=as_of, engine="lightgbm", params=every)
    nulls = con.execute(
        "SELECT count(*) FROM churn_scores WHERE month = ? AND reasons IS NULL", [as_of]
    ).fetchone()[0]
    assert nulls == 0


@pytest.mark.parametrize("engine", ["lightgbm", "auto"])
def test_scores_and_reasons_do_not_depend_on_the_prediction_threads(
    history_con, fast_params, engine
):
    """Scoring predicts (and explains) with ``predict_threads``, training with ``num_threads``:
    one thread or two, every line gets the same probabilities and reasons."""
    con, months = history_con
    as_of = months[-2]
    service.train(con=con, month=as_of, params=fast_params)
    out = {}
    for n in (1, 2):
        params = fast_params.model_copy(
            update={
                "predict_threads": n,
                "monthly": fast_params.monthly.model_copy(update={"reasons_share": 1.0}),
            }
        )
        service.score(con=con, month=as_of, engine=engine, params=params)
        out[n] = con.execute(
            "SELECT subscriber_id, p_churn, p_churn_2m, p_churn_3m, reasons FROM churn_scores "
            "WHERE month = ? ORDER BY subscriber_id",
            [as_of],
        ).fetchall()
    assert len(out[1]) > 100 and all(r[4] is not None for r in out[1])
    assert out[1] == out[2]


def test_reasons_computed_in_chunks_equal_reasons_computed_at_once(
    history_con, fast_params, monkeypatch
):
    """The stored reasons are computed a chunk of lines at a time (bounded memory on a
    province): any chunk size gives every line the same reasons."""
    con, months = history_con
    as_of = months[-2]
    service.train(con=con, month=as_of, params=fast_params)
    params = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"reasons_share": 1.0})}
    )
    out = {}
    for rows in (1_000_000, 37):
        monkeypatch.setattr(service, "REASON_CHUNK_ROWS", rows)
        service.score(con=con, month=as_of, params=params)
        out[rows] = con.execute(
            "SELECT subscriber_id, reasons FROM churn_scores WHERE month = ? ORDER BY 1", [as_of]
        ).fetchall()
    assert len(out[37]) > 3 * 37 and all(r[1] is not None for r in out[37])
    assert sum(r[1] != "[]" for r in out[37]) > 37
    assert out[37] == out[1_000_000]


def test_arrow_batches_encode_like_the_pandas_frame(history_con, fast_params):
    """Scoring reads the month in Arrow batches: the same matrix as the frame's encoding."""
    from weixi.churn import features as F
    from weixi.churn.predict import encode, encode_arrow_columns

    con, months = history_con
    service.train(con=con, month=months[-2], params=fast_params)
    _, _, meta = registry.load_meta(con, None)
    names, levels = meta["features"], meta["levels"]
    kw = {"with_segments": False, "with_complaints": True}
    df = F.load_features(con, [months[-1]], **kw)
    frame = encode(df, names, levels)
    batches = list(F.feature_batches(con, months[-1], batch_rows=700, **kw))
    assert len(batches) > 1
    arrow = np.vstack([encode_arrow_columns(b, names, levels).T for b in batches])
    # the batches stream in no particular order: the same rows, line by line
    ids = np.concatenate([b.column("subscriber_id").to_numpy(False) for b in batches])
    assert sorted(ids) == sorted(df["subscriber_id"])
    at = {sid: i for i, sid in enumerate(ids)}
    order = [at[sid] for sid in df["subscriber_id"]]
    np.testing.assert_array_equal(arrow[order], frame)
    assert not np.isnan(frame[:, names.index("branch_id")]).any()


def test_training_reads_and_encodes_without_copies_of_the_frame(history_con):
    """Training reads the features through Arrow batches and encodes its splits by position:
    the same values as DuckDB's own frame and as encoding the copied rows."""
    from weixi.churn import features as F
    from weixi.churn.predict import encode, fit_levels

    con, months = history_con
    sql = F.feature_sql(months[:-1], with_segments=False, with_complaints=False)
    via_arrow = F.query_frame(con, sql)
    via_df = con.execute(sql).df()
    assert list(via_arrow.columns) == list(via_df.columns) and len(via_arrow) == len(via_df)
    assert via_arrow["month"].dtype.kind == "M"  # dates as datetime64: months compare as stamps
    pd.testing.assert_frame_equal(via_arrow, via_df, check_dtype=False)

    names = [n for n in F.feature_names(False, False) if n in via_df.columns]
    levels = fit_levels(via_df, [c for c in F.categorical_names(False, False) if c in names])
    rows = np.random.default_rng(0).permutation(len(via_df))[: len(via_df) // 3]
    np.testing.assert_array_equal(
        encode(via_arrow, names, levels, rows=rows),
        encode(via_df.iloc[rows].reset_index(drop=True), names, levels),
    )


def test_a_few_lines_read_as_the_whole_months_rows(history_con, monkeypatch):
    """A few lines' features (a customer page's) are read through DuckDB's result instead of
    the relation API: the frame the Arrow path gives for them, types included (integers with
    a null as float), with the values the whole month's frame has for them."""
    from weixi.churn import features as F

    con, months = history_con
    m = months[-2]
    whole = F.load_features(con, [m], labels=(1,))
    nulls = whole["handset_age_months"].isna()
    assert nulls.any() and not nulls.all()
    ids = sorted([*whole["subscriber_id"][nulls][:3], *whole["subscriber_id"][~nulls][:4]])
    used = []
    monkeypatch.setattr(F, "small_frame", lambda *a, real=F.small_frame: used.append(1) or real(*a))
    few = F.load_features(con, [m], labels=(1,), subscriber_ids=ids)
    assert used and list(few["subscriber_id"]) == ids
    monkeypatch.setattr(F, "SMALL_FRAME_LINES", 0)
    via_arrow = F.load_features(con, [m], labels=(1,), subscriber_ids=ids)
    assert len(used) == 2  # features and labels, not again
    pd.testing.assert_frame_equal(few, via_arrow)
    assert few["handset_age_months"].dtype == "float64" and few["month"].dtype == "<M8[ms]"
    want = whole[whole["subscriber_id"].isin(ids)].reset_index(drop=True)
    cats = [c for c in want.columns if isinstance(want[c].dtype, pd.CategoricalDtype)]
    assert cats and all(isinstance(few[c].dtype, pd.CategoricalDtype) for c in cats)
    pd.testing.assert_frame_equal(
        few.astype({c: object for c in cats}),
        want.astype({c: object for c in cats}),
        check_dtype=False,
    )


def test_training_rows_streamed_to_lightgbm_bin_as_the_whole_matrix(history_con, tmp_path):
    """The training set is encoded batch by batch as LightGBM reads it (no whole float matrix
    beside the frame), and LightGBM builds the very dataset the whole matrix gives: the same
    bin sample (the seed it derives from ``seed``), bins and rows, categories and nulls too."""
    import lightgbm as lgb

    from weixi.churn import features as F
    from weixi.churn.params import load_params
    from weixi.churn.predict import encode, fit_levels
    from weixi.churn.train import EncodedRows, _StreamedDataset

    con, months = history_con
    df = F.query_frame(con, F.feature_sql(months[:-1], with_segments=False, with_complaints=False))
    names = [n for n in F.feature_names(False, False) if n in df.columns]
    cats = [c for c in F.categorical_names(False, False) if c in names]
    levels = fit_levels(df, cats)
    assert cats and df[names].isna().any().any()  # categories and nulls both go through
    rng = np.random.default_rng(1)
    rows = np.flatnonzero(rng.random(len(df)) < 0.8)
    y = (rng.random(len(rows)) < 0.2).astype(int)
    cat_idx = [names.index(c) for c in cats]
    # a small bin sample and batches, so both the sampling and the batching are exercised
    params = load_params().monthly.lightgbm.booster_params(seed=7, num_threads=2)
    # and a leaf size that makes LightGBM drop the rarer features before training
    params |= {"bin_construct_sample_cnt": len(rows) // 3, "min_data_in_leaf": len(rows) // 8}
    seq = EncodedRows(df, names, levels, rows, params=params)
    seq.batch_size = 97
    dumps = []
    for data, make, ds_params in (
        (encode(df, names, levels, rows=rows), lgb.Dataset, params),
        (seq, _StreamedDataset, params),
    ):
        ds = make(
            data, label=y, feature_name=names, categorical_feature=cat_idx, params=ds_params
        ).construct()
        ds._dump_text(str(tmp_path / f"{len(dumps)}.txt"))
        dumps.append((tmp_path / f"{len(dumps)}.txt").read_text())
    assert dumps[0] == dumps[1]
    # the sampled rows were encoded up front, not asked for one by one
    assert len(seq._sample) == len(rows) // 3


def test_a_large_history_trains_on_a_uniform_sample_of_lines(history_con, fast_params):
    """Above ``max_train_rows`` labelled line-months, training reads a hash sample of lines —
    the same lines in every month, the churn rate kept — so a province's history fits memory."""
    from weixi.churn import features as F

    con, months = history_con
    lab = months[:-1]
    full = F.load_features(con, lab, labels=(1,))
    cap = len(full) // 3
    share = F.sample_share(con, lab, cap)
    assert 0.3 < share < 0.37
    part = F.load_features(con, lab, labels=(1,), sample_share=share)
    assert 0.25 * len(full) < len(part) < 0.42 * len(full)
    # whole lines: a sampled line is in the sample in every month it was live
    ids = set(part["subscriber_id"])
    both = full[full["subscriber_id"].isin(ids)]
    assert len(both) == len(part)
    rate, sampled = full["churned_1m"].mean(), part["churned_1m"].mean()
    assert abs(sampled - rate) < 0.5 * rate
    p = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"max_train_rows": cap})}
    )
    models = service.fit_as_of(con=con, as_of=months[-2], horizons=(1,), params=p)
    assert models.horizons[1].n_train < 0.42 * len(full)
    assert F.sample_share(con, lab, None) == 1.0


def _fit_each_horizon_alone(con, as_of, params, models):
    """The earlier path: one features query per horizon over its own labelled months."""
    from weixi.churn import features as F
    from weixi.churn.train import fit_horizon
    from weixi.store.months import loaded_months

    p = params.monthly
    months = [m for m in loaded_months(con) if m <= as_of]
    labs = {
        h: service.labelled_months(months, as_of, h)[-(p.train_months + 1) :] for h in (1, 2, 3)
    }
    union = sorted({m for lab in labs.values() for m in lab})
    fits = {}
    for h in models.horizons:
        df = F.load_features(
            con,
            labs[h],
            with_segments=models.with_segments,
            labels=(h,),
            with_complaints=models.with_complaints,
            sample_share=F.sample_share(con, union, p.max_train_rows),
        )
        fits[h] = fit_horizon(df, f"churned_{h}m", models.names, models.levels, p, horizon=h)
    return fits


@pytest.mark.parametrize("cap", [None, 4000])
def test_one_features_query_trains_every_horizon_and_the_comparison(
    history_con, settings, fast_params, monkeypatch, cap
):
    """Training reads the labelled features once, not once per horizon and again for the
    champion/challenger comparison (whose month, line sample or not, is the training frame's)
    — and fits exactly what reading each horizon's months alone (with the same line sample)
    fitted. A frame that cannot serve is let go before the month is read again."""
    from weixi.churn import features as F
    from weixi.churn.predict import encode

    con, months = history_con
    params = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"max_train_rows": cap})}
    )
    first = service.train(con=con, month=months[-2], params=params, promote=True)
    calls = []
    real = F.load_features
    monkeypatch.setattr(F, "load_features", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    second = service.train(con=con, month=months[-1], params=params, promote="challenger")
    assert second["champion"] == first["version"] and second["eval_month"] is not None
    assert len(calls) == 1
    monkeypatch.setattr(F, "load_features", real)

    models = service.fit_as_of(con=con, as_of=months[-1], params=params)
    alone = _fit_each_horizon_alone(con, months[-1], params, models)
    X = encode(models.frame, models.names, models.levels)
    for h, fit in models.horizons.items():
        assert fit.n_train == alone[h].n_train and fit.fit_months == alone[h].fit_months
        assert fit.holdout == alone[h].holdout
        np.testing.assert_array_equal(fit.booster.predict(X), alone[h].booster.predict(X))
    # the drift reference's next-month score: the 1-month horizon alone, as the whole gives it
    full, only = service.predict_matrix(models, X), service.predict_matrix(models, X, upto=1)
    assert len(full) > 1 and list(only) == ["p_1m"]
    np.testing.assert_array_equal(only["p_1m"], full["p_1m"])
    # the comparison from the training frame gives the figures a new query gives
    kw = {"challenger": second["version"], "champion": first["version"], "as_of": months[-1]}
    fresh = service.compare_models(con=con, params=params, **kw)
    reused = service.compare_models(con=con, params=params, trained=models, **kw)
    assert fresh == reused and fresh["n"] > 500 and models.frame is not None
    if cap is not None:  # the comparison's lines are the training's sample
        assert fresh["n"] < 0.6 * len(F.load_features(con, [fresh["eval_month"]]))
    # a frame of another line sample cannot serve: let go before the month is read again
    models.frame_share /= 2
    calls.clear()
    monkeypatch.setattr(F, "load_features", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    assert service.compare_models(con=con, params=params, trained=models, **kw) == fresh
    assert models.frame is None and len(calls) == 1


def test_labels_read_beside_the_features_equal_the_joined_labels(history_con):
    """The narrow label query set beside the features gives the frame the wide join gave —
    whole history, a line sample and a few lines — and a store with a duplicated line-month
    (where the two orders differ) still gets the join's frame."""
    from weixi.churn import features as F

    con, months = history_con
    lab = months[1:-2]

    def joined(share=None, ids=None, labels=(1, 2)):
        calls = []
        real = F.labels_sql
        F.labels_sql = lambda *a, **k: (
            calls.append(1)
            or "SELECT NULL::VARCHAR AS subscriber_id, NULL::DATE AS month WHERE FALSE"
        )
        try:  # an empty label frame forces the join
            out = F.load_features(con, lab, labels=labels, sample_share=share, subscriber_ids=ids)
        finally:
            F.labels_sql = real
        assert calls
        return out

    ids = [
        r[0] for r in con.execute("SELECT DISTINCT subscriber_id FROM snapshot LIMIT 40").fetchall()
    ]
    for share, sub in ((None, None), (0.4, None), (None, ids)):
        new = F.load_features(con, lab, labels=(1, 2), sample_share=share, subscriber_ids=sub)
        old = joined(share, sub)
        assert len(new) > 30 and new["churned_2m"].sum() > new["churned_1m"].sum() > 0
        assert new.equals(old)
    con.execute(
        "INSERT INTO snapshot SELECT * FROM snapshot WHERE month = ? ORDER BY subscriber_id LIMIT 1",
        [lab[0]],
    )
    dup = F.load_features(con, lab, labels=(1,))
    assert dup.equals(joined(labels=(1,)))


@given(
    n=st.integers(0, 400),
    batch=st.integers(1, 90),
    share=st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]),
    min_p=st.sampled_from([0.0, 0.3, 0.9, 1.1]),
    levels=st.sampled_from([0, 3, 10]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=150, deadline=None)
def test_the_risk_pool_picks_what_the_whole_month_would(n, batch, share, min_p, levels, seed):
    """Gathered batch by batch, the pool holds the rows explained_rows picks from the whole
    month, with their feature rows, in row order; lines tied at the cut are taken by
    subscriber id, so reading the month in another order picks the same lines."""
    from weixi.churn.params import load_params

    monthly = load_params().monthly.model_copy(
        update={"reasons_share": share, "reasons_min_p": min_p}
    )
    rng = np.random.default_rng(seed)
    p = rng.permutation(np.linspace(0.0, 1.0, n, endpoint=False)) if n else np.empty(0)
    if levels:  # a tree ensemble gives many lines the same score
        p = np.floor(p * levels) / levels
    ids = np.array([f"S{i:06d}" for i in rng.permutation(n)], dtype=object)
    k = min(n, int(np.ceil(share * n)))

    def picked(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.column_stack([np.arange(n, dtype=float), p])[order]
        pool = service.RiskPool(monthly, k=k, width=2)
        for start in range(0, n, batch):
            part = slice(start, start + batch)
            pool.add(X[part], p[order][part], start, pa.array(ids[order][part], pa.string()))
        got_X, got_rows = pool.result()
        want = service.explained_rows(p[order], monthly, k=k, ids=pa.array(ids[order], pa.string()))
        assert got_rows.tolist() == want.tolist()
        assert np.array_equal(got_X, X[want])
        return want, order[want]

    rows, lines = picked(np.arange(n))
    chosen = np.zeros(n, dtype=bool)
    chosen[rows] = True
    assert chosen.sum() >= k and chosen[p >= min_p].all()
    if k and not chosen.all():  # the riskiest: nobody left out scores above a chosen line
        assert p[~chosen].max() <= p[chosen & (p < min_p)].min(initial=np.inf)
    _, again = picked(rng.permutation(n))
    assert sorted(ids[again]) == sorted(ids[lines])
