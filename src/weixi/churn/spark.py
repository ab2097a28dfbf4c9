"""Churn scoring on Spark: features and the model run on the executors.

The month's features are the same ibis definition DuckDB runs (:func:`features.feature_table`)
on the Spark backend; the boosters travel to the executors as model text and score each Arrow
batch inside ``mapInArrow`` (:func:`predict.horizon_probabilities`, the same calibration as the
DuckDB path). Nothing row-level is collected to the driver: the scores are written as Parquet
(any Hadoop-compatible location) and only aggregates come back.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from weixi.churn import features as F
from weixi.churn.predict import encode, horizon_probabilities

#: Output columns of the Spark scoring (``churn_scores`` without the reasons).
SCORE_SCHEMA = (
    "month date, subscriber_id string, p_churn double, p_churn_2m double, p_churn_3m double"
)
#: With drift: score rows (``feature`` NULL) and, per batch, the drift counts of
#: :func:`weixi.churn.drift.psi_counts` as rows (``feature``, ``branch`` index, ``bin``, ``n``).
DRIFT_SCHEMA = SCORE_SCHEMA + ", feature string, branch int, bin int, n bigint"
_SCORE_COLS = ("month", "subscriber_id", "p_churn", "p_churn_2m", "p_churn_3m")


def score_dataframe(
    features: Any, meta: dict, folder: Path, *, drift_ref: dict | None = None
) -> Any:
    """Score a Spark DataFrame of :func:`features.feature_table` rows on the executors.

    Returns a Spark DataFrame ``month, subscriber_id, p_churn, p_churn_2m, p_churn_3m``
    (NULL for a horizon the model does not have). With ``drift_ref`` (the model's
    ``drift_reference``) the executors also count every feature and the score into the
    reference's bins per branch; those counts come as extra rows of :data:`DRIFT_SCHEMA`.
    """
    texts = {int(h): (Path(folder) / f"h{h}.txt").read_text() for h in meta["horizons"]}
    names, levels = meta["features"], meta["levels"]

    def run(batches):
        import lightgbm as lgb
        import numpy as np

        from weixi.churn import drift

        boosters = {h: lgb.Booster(model_str=txt) for h, txt in texts.items()}
        for batch in batches:
            df = batch.to_pandas()
            X = encode(df, names, levels)
            probs = horizon_probabilities(
                meta, lambda h, X: boosters[h].predict(X, num_threads=1), X
            )
            missing = np.full(len(df), np.nan)
            scores = {
                "month": batch.column("month"),
                "subscriber_id": batch.column("subscriber_id"),
                "p_churn": pa.array(probs[1]),
                "p_churn_2m": pa.array(probs.get(2, missing), from_pandas=True),
                "p_churn_3m": pa.array(probs.get(3, missing), from_pandas=True),
            }
            if drift_ref is None:
                yield pa.RecordBatch.from_pydict(scores)
                continue
            n = len(df)
            yield pa.RecordBatch.from_pydict(
                {
                    **scores,
                    "feature": pa.nulls(n, pa.string()),
                    "branch": pa.nulls(n, pa.int32()),
                    "bin": pa.nulls(n, pa.int32()),
                    "n": pa.nulls(n, pa.int64()),
                }
            )
            counts = drift.psi_counts(drift_ref, X, names, batch.column("branch_id"), probs[1])
            feats, brs, bins, ns = [], [], [], []
            for name, c in counts.items():
                b, k = np.nonzero(c)
                feats += [name] * len(b)
                brs.append(b)
                bins.append(k)
                ns.append(c[b, k])
            m = len(feats)
            if m:
                yield pa.RecordBatch.from_pydict(
                    {
                        "month": pa.nulls(m, pa.date32()),
                        "subscriber_id": pa.nulls(m, pa.string()),
                        "p_churn": pa.nulls(m, pa.float64()),
                        "p_churn_2m": pa.nulls(m, pa.float64()),
                        "p_churn_3m": pa.nulls(m, pa.float64()),
                        "feature": pa.array(feats, pa.string()),
                        "branch": pa.array(np.concatenate(brs), pa.int32()),
                        "bin": pa.array(np.concatenate(bins), pa.int32()),
                        "n": pa.array(np.concatenate(ns), pa.int64()),
                    }
                )

    return features.mapInArrow(run, SCORE_SCHEMA if drift_ref is None else DRIFT_SCHEMA)


#: Stored reasons of a line: its JSON list in ``churn_scores.reasons``' format.
REASONS_SCHEMA = "subscriber_id string, reasons string"


def reasons_dataframe(features: Any, meta: dict, folder: Path, top_k: int) -> Any:
    """The top reasons (SHAP contributions of the 1-month booster) of the rows of
    ``features``, computed on the executors: ``subscriber_id, reasons`` with the JSON list
    :func:`weixi.churn.service.score` stores (``[]`` when nothing pushes the risk up)."""
    text = (Path(folder) / "h1.txt").read_text()
    names, levels = meta["features"], meta["levels"]

    def run(batches):
        import json

        import lightgbm as lgb
        import numpy as np

        from weixi.churn.reasons import top_reasons
        from weixi.churn.treeshap import explainer

        contributions = explainer(lgb.Booster(model_str=text))
        for batch in batches:
            X = encode(batch.to_pandas(), names, levels)
            contrib = contributions(X)
            long = top_reasons(contrib, X, names, levels, top_k).to_pydict()
            lists: list[list] = [[] for _ in range(len(X))]
            for row, code, num, txt, c in zip(
                long["row"],
                long["code"],
                long["value_num"],
                long["value_text"],
                long["contribution"],
                strict=True,
            ):
                value = round(num, 4) if num is not None and not np.isnan(num) else txt
                lists[row].append({"code": code, "value": value, "contribution": c})
            yield pa.RecordBatch.from_pydict(
                {
                    "subscriber_id": batch.column("subscriber_id").cast(pa.string()),
                    "reasons": pa.array(
                        [json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in lists],
                        pa.string(),
                    ),
                }
            )

    return features.mapInArrow(run, REASONS_SCHEMA)


def drift_counts(rows: list, ref: dict) -> dict:
    """The per-feature count matrices of :func:`weixi.churn.drift.psi_counts` from the summed
    ``(feature, branch, bin, n)`` rows the executors wrote."""
    import numpy as np

    n_branches = len(ref["branches"])
    out = {
        name: np.zeros((n_branches, spec["n_bins"]), dtype=np.int64)
        for name, spec in ref["features"].items()
    }
    for feature, branch, b, n in rows:
        out[feature][branch, b] += n
    return out


def score_month(
    backend: Any,
    snapshot: Any,
    month: dt.date,
    meta: dict,
    folder: Path,
    output: str,
    *,
    segments: Any = None,
    drift: bool = True,
    reasons_output: str | None = None,
    monthly: Any = None,
) -> dict:
    """Score ``month`` on Spark from the ibis ``snapshot`` table of ``backend`` and write the
    scores as Parquet to ``output`` (overwritten). Return aggregates only: the count, mean and
    sum of the scores and, with ``drift`` and a model that has a drift reference, the drift
    counts (``drift_counts``: feature → branch × bin counts, summed over the executors).

    With ``reasons_output`` (and ``monthly``, the churn parameters' ``monthly`` block) the
    reasons of the riskiest lines — every line whose score reaches the riskiest
    ``reasons_share``'s lowest score, and every line at or above ``reasons_min_p`` — are
    computed on the executors and written there as Parquet (``subscriber_id, reasons``)."""
    seg = segments if meta.get("with_segments") else None
    expr = F.feature_table(snapshot, [month], segments=seg)
    frame = backend._session.sql(backend.compile(expr))
    if reasons_output is not None:  # read twice: scored, then the riskiest lines explained
        frame = frame.persist()
    ref = meta.get("drift_reference") if drift else None
    scored = score_dataframe(frame, meta, folder, drift_ref=ref)
    counts = None
    if ref is None:
        scored.write.mode("overwrite").parquet(output)
    else:  # one scoring pass: the rows are kept while the scores and the counts are written
        from pyspark.sql import functions as SF

        scored = scored.persist()
        try:
            scored.filter(SF.col("feature").isNull()).select(*_SCORE_COLS).write.mode(
                "overwrite"
            ).parquet(output)
            summed = (
                scored.filter(SF.col("feature").isNotNull())
                .groupBy("feature", "branch", "bin")
                .agg(SF.sum("n").alias("n"))
                .collect()
            )
        finally:
            scored.unpersist()
        counts = drift_counts([tuple(r) for r in summed], ref)
    written = backend._session.read.parquet(output)
    agg = written.selectExpr("count(*) AS n", "avg(p_churn) AS mean", "sum(p_churn) AS s").first()
    n = int(agg["n"])
    explained = None
    if reasons_output is not None:
        try:
            explained = _write_reasons(
                frame, written, meta, folder, reasons_output, monthly=monthly, n=n
            )
        finally:
            frame.unpersist()
    return {
        "n": n,
        "mean_p_churn": float(agg["mean"]) if agg["n"] else None,
        "expected_churners": float(agg["s"] or 0.0),
        "output": output,
        "drift_counts": counts,
        "n_reasons": explained,
    }


def _write_reasons(
    frame: Any, scores: Any, meta: dict, folder: Path, output: str, *, monthly: Any, n: int
) -> int:
    """Write the reasons of the month's riskiest lines; return how many lines were explained."""
    import math

    from pyspark.sql import functions as SF

    k = min(n, math.ceil(monthly.reasons_share * n))
    bar = monthly.reasons_min_p
    if k:  # the k-th highest score (lines tied with it are explained too)
        kth = scores.select("p_churn").orderBy(SF.desc("p_churn")).limit(k)
        bar = min(bar, kth.agg(SF.min("p_churn")).first()[0])
    chosen = scores.filter(SF.col("p_churn") >= bar).select("subscriber_id")
    rows = frame.join(chosen, "subscriber_id", "left_semi")
    reasons_dataframe(rows, meta, folder, monthly.reasons_top_k).write.mode("overwrite").parquet(
        output
    )
    return int(scores.sparkSession.read.parquet(output).count())


def score_store_month(
    con: Any, month: dt.date, *, version: str | None = None, params: Any = None
) -> dict:
    """``weixi run --engine spark``'s churn step on a DuckDB store: the month's snapshot
    window (and segments) go to Spark as Parquet, the scores come back as Parquet into
    ``churn_scores`` with the reasons of the riskiest lines (computed on the executors; the
    other lines' reasons are computed on demand by :func:`weixi.churn.service.reasons_for`) and
    the drift counted on the executors into ``churn_drift``, as
    :func:`weixi.churn.service.score` does. Returns the summary of the
    step, with ``engine: spark``."""
    from weixi.churn import drift
    from weixi.churn.params import load_params
    from weixi.churn.service import save_drift

    params = params or load_params()
    import shutil
    import tempfile
    import uuid

    from weixi.churn import registry
    from weixi.store.backends import spark_backend
    from weixi.store.months import add_months, format_month

    version, folder, meta = registry.load_meta(con, version)
    tmp = Path(tempfile.mkdtemp(prefix="weixi-churn-spark-"))
    tag = uuid.uuid4().hex[:8]
    try:
        lo = add_months(month, -6)
        snap_file = tmp / "snapshot.parquet"
        con.execute(
            f"COPY (SELECT * FROM snapshot WHERE month BETWEEN DATE '{lo.isoformat()}' "
            f"AND DATE '{month.isoformat()}') TO '{snap_file}' (FORMAT parquet)"
        )
        backend = spark_backend()
        snap = backend.read_parquet(f"file://{snap_file}", table_name=f"weixi_snap_{tag}")
        seg = None
        if meta.get("with_segments") and F.has_segments(con, [month]):
            seg_file = tmp / "segments.parquet"
            con.execute(
                f"COPY (SELECT month, subscriber_id, a, b, c, urgency FROM segments "
                f"WHERE month = DATE '{month.isoformat()}') TO '{seg_file}' (FORMAT parquet)"
            )
            seg = backend.read_parquet(f"file://{seg_file}", table_name=f"weixi_seg_{tag}")
        out, why = tmp / "scores", tmp / "reasons"
        agg = score_month(
            backend,
            snap,
            month,
            meta,
            folder,
            f"file://{out}",
            segments=seg,
            reasons_output=f"file://{why}",
            monthly=params.monthly,
        )
        con.execute("BEGIN")
        try:
            con.execute("DELETE FROM churn_scores WHERE month = ?", [month])
            con.execute(
                f"""INSERT INTO churn_scores
                    SELECT s.month, s.subscriber_id, ?, s.p_churn,
                           CASE WHEN isnan(s.p_churn_2m) THEN NULL ELSE s.p_churn_2m END,
                           CASE WHEN isnan(s.p_churn_3m) THEN NULL ELSE s.p_churn_3m END,
                           r.reasons
                    FROM read_parquet('{out}/*.parquet') s
                    LEFT JOIN read_parquet('{why}/*.parquet') r USING (subscriber_id)
                    ORDER BY s.subscriber_id""",
                [version],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "month": format_month(month),
        "model_version": version,
        "engine": "spark",
        "n": agg["n"],
        "mean_p_churn": agg["mean_p_churn"],
        "expected_churners": agg["expected_churners"],
        "segments_used": seg is not None,
        "n_reasons": agg["n_reasons"],
    }
    if agg["drift_counts"] is not None:
        ref = meta["drift_reference"]
        table = drift.psi_rows(
            ref,
            agg["drift_counts"],
            warning=params.monthly.psi_warning,
            min_rows=params.monthly.psi_min_rows,
        )
        save_drift(con=con, month=month, version=version, table=table)
        warn = table[table["warning"]].sort_values("psi", ascending=False)
        out["drift_warnings"] = warn.head(20).to_dict("records")
        whole = table[(table.feature == drift.SCORE) & (table.branch_id == drift.ALL)]
        out["score_psi"] = float(whole["psi"].iloc[0])
    return out
