"""k-means clusters fitted from SQL passes and assigned in SQL."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from weixi.segment import clusters
from weixi.segment.rules import ClusterParams

FEATURES = ["arpu_3m", "voice_minutes_3m", "data_mb_3m", "vas_3m", "bb_hours_3m", "tenure_months"]


def _month(n: int, seed: int = 0) -> pa.Table:
    """``n`` lines from three behaviour groups, with NULLs, negatives and excluded lines."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    scale = np.array(
        [[20, 100, 500, 5, 0, 12], [150, 600, 8000, 30, 0, 60], [60, 10, 50, 1, 90, 30]]
    )
    values = rng.gamma(4.0, 0.25, (n, len(FEATURES))) * scale[group]
    cols = {f: pa.array(values[:, j]) for j, f in enumerate(FEATURES)}
    arpu = values[:, 0].copy()
    arpu[::97] = -3.0  # a refund month
    cols["arpu_3m"] = pa.array(arpu, mask=np.arange(n) % 89 == 0)  # and unknown values
    return pa.table(
        {
            "subscriber_id": pa.array([f"S{i:07d}" for i in range(n)]),
            "excluded": pa.array(np.arange(n) % 10 == 0, mask=np.arange(n) % 31 == 0),
            "line_type": pa.array(np.where(group == 2, "broadband", "mobile")),
            **cols,
        }
    )


def _labels(con: duckdb.DuckDBPyConnection, model: clusters.ClusterModel) -> dict[str, int]:
    sql = f"SELECT subscriber_id, {model.label_sql()} FROM ({model.with_nearest('month')})"
    rows = con.execute(sql).fetchall()
    return dict(rows)


def _numpy_labels(table: pa.Table, model: clusters.ClusterModel) -> dict[str, int | None]:
    """The same assignment written out in numpy: standardized log1p inputs, nearest centre."""
    raw = np.column_stack(
        [
            np.nan_to_num(table.column(f).to_numpy(zero_copy_only=False).astype(float))
            for f in FEATURES
        ]
    )
    bb = (table.column("line_type").to_numpy(zero_copy_only=False) == "broadband").astype(float)
    z = (np.column_stack([np.log1p(np.clip(raw, 0, None)), bb]) - model.mean) / model.scale
    nearest = ((z[:, None, :] - model.centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    excluded = table.column("excluded").to_pylist()
    ids = table.column("subscriber_id").to_pylist()
    return {
        sid: None if ex else int(model.numbers[c])
        for sid, ex, c in zip(ids, excluded, nearest, strict=True)
    }


def _fit(table: pa.Table, params: ClusterParams):
    con = duckdb.connect()
    con.register("src", table)
    con.execute("CREATE TABLE month AS SELECT * FROM src")
    model, summaries = clusters.fit(con, "month", params)
    return con, model, summaries


def test_sql_assignment_is_the_nearest_centre():
    table = _month(6000)
    con, model, summaries = _fit(table, ClusterParams(k=4, sample=2000))
    got = _labels(con, model)
    assert got == _numpy_labels(table, model)
    kept = sum(1 for ex in table.column("excluded").to_pylist() if not ex)
    assert sum(s.size for s in summaries) == kept
    assert [s.cluster for s in summaries] == [1, 2, 3, 4]
    for s in summaries:
        assert sum(1 for v in got.values() if v == s.cluster) == s.size
        assert s.share == pytest.approx(s.size / kept)


def test_clusters_are_numbered_by_mean_arpu_and_described():
    table = _month(6000)
    _, _, summaries = _fit(table, ClusterParams(k=3, sample=3000))
    arpu = [s.means["arpu_3m"] for s in summaries]
    assert arpu == sorted(arpu, reverse=True)
    broadband = max(summaries, key=lambda s: s.broadband_share)
    assert broadband.broadband_share > 0.9
    assert "mostly broadband" in broadband.description_en
    assert "以宽带为主" in broadband.description_zh
    kept = sum(s.size for s in summaries)
    base = {f: sum(s.means[f] * s.size for s in summaries) / kept for f in FEATURES}
    for s in summaries:  # ratios are against the mean of all kept lines (NULL counted as 0)
        for f in FEATURES:
            assert s.ratios[f] == pytest.approx(s.means[f] / base[f])


def test_fit_does_not_depend_on_the_row_order_or_the_threads():
    """Several row groups, added up by two threads in whatever order they finish, or by one
    thread in another order: the same centres, lines and summaries to the last bit."""
    table = _month(300_000, seed=3)
    con1, m1, s1 = _fit(table, ClusterParams(k=4, sample=1500, seed=7))
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    con2 = duckdb.connect()
    con2.execute("SET threads=1")
    con2.register("src", shuffled)
    con2.execute("CREATE TABLE month AS SELECT * FROM src")
    m2, s2 = clusters.fit(con2, "month", ClusterParams(k=4, sample=1500, seed=7))
    for a, b in ((m1.mean, m2.mean), (m1.scale, m2.scale), (m1.centres, m2.centres)):
        np.testing.assert_array_equal(a, b)
    assert _labels(con1, m1) == _labels(con2, m2)
    assert s1 == s2


def test_too_few_kept_lines_give_no_clusters():
    table = _month(40)
    _, model, summaries = _fit(table, ClusterParams(k=20, sample=100))
    assert model is None and summaries == []


def test_the_sample_is_the_first_lines_by_seeded_hash():
    table = _month(6000)
    con, _, _ = _fit(table, ClusterParams(k=3, sample=100))
    inputs = clusters._inputs_sql(FEATURES)
    kept = con.execute("SELECT count(*) FROM month WHERE NOT coalesce(excluded, false)").fetchone()[
        0
    ]
    params = ClusterParams(k=3, sample=100, seed=5)
    got = clusters._sample(con, "month", inputs, kept, params)  # only the lowest hashes sorted
    full = con.execute(
        f"SELECT {', '.join(inputs)} FROM month WHERE NOT coalesce(excluded, false) "
        "ORDER BY hash(subscriber_id, 5), subscriber_id LIMIT 100"
    ).fetchall()
    assert got.shape == (100, len(FEATURES) + 1)
    np.testing.assert_array_equal(got, np.array(full))
    other = clusters._sample(con, "month", inputs, kept, ClusterParams(k=3, sample=100, seed=6))
    assert not np.array_equal(got, other)
