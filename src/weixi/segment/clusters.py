"""Data-driven clusters (the seeds' 联合分析聚类) that find segments the fixed rules miss.

k-means (scikit-learn) on standardized ``log1p`` behaviour features, fitted on a seeded sample
of the kept (targetable) lines, then every line is assigned to its nearest centre in SQL (no
Python loop over subscribers, and the month's rows never leave the database). Clusters are
numbered 1..k by descending mean ARPU, and each gets a plain description against the whole
base, e.g.
"ARPU 2.3× the base, data use 0.4×" / "ARPU为整体的2.3倍,流量为0.4倍".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from weixi.segment.rules import ClusterParams
from weixi.store.sqlrun import exact_sum

#: Feature names as said in descriptions (en, zh).
FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "arpu_3m": ("ARPU", "ARPU"),
    "voice_minutes_3m": ("voice minutes", "通话时长"),
    "data_mb_3m": ("data use", "流量"),
    "vas_3m": ("SMS/VAS spend", "短信及增值业务"),
    "bb_hours_3m": ("broadband hours", "宽带上网时长"),
    "tenure_months": ("tenure", "在网时长"),
    "handset_age_years": ("handset age", "终端使用时长"),
    "arpu": ("ARPU", "ARPU"),
}


@dataclass
class ClusterSummary:
    """One cluster: size, feature means, ratios to the base and a bilingual description."""

    cluster: int
    size: int
    share: float
    means: dict[str, float]
    ratios: dict[str, float]
    broadband_share: float
    description_en: str
    description_zh: str
    extra: dict = field(default_factory=dict)


def _describe(ratios: dict[str, float], share: float, bb_share: float) -> tuple[str, str]:
    ranked = sorted(
        (k for k, v in ratios.items() if v > 0 and np.isfinite(v)),
        key=lambda k: abs(np.log(ratios[k])),
        reverse=True,
    )[:3]
    en = [f"{FEATURE_WORDS.get(k, (k, k))[0]} {ratios[k]:.1f}×" for k in ranked]
    zh = [f"{FEATURE_WORDS.get(k, (k, k))[1]}为{ratios[k]:.1f}倍" for k in ranked]
    if en:
        en[0] = en[0] + " the base"
        zh[0] = zh[0].replace("为", "为整体的", 1)
    en_text = ", ".join(en)
    zh_text = ",".join(zh)
    if bb_share >= 0.5:
        en_text += f"; mostly broadband ({bb_share:.0%})"
        zh_text += f";以宽带为主({bb_share:.0%})"
    en_text += f" — {share:.1%} of lines"
    zh_text += f"——占{share:.1%}"
    return en_text, zh_text


@dataclass
class ClusterModel:
    """Fitted clusters: how a line's features are standardized, the centres, and the number
    (1..k, by descending mean ARPU) each centre is reported under.

    ``label_sql`` assigns every line to its nearest centre inside the database, so the month's
    rows never leave it: the assignment runs in the statement that stores the month.
    """

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    centres: np.ndarray
    numbers: np.ndarray

    def with_nearest(self, source: str, where: str = "") -> str:
        """SQL: a query of ``source``'s rows (``where`` them) and columns plus ``_km_nearest``,
        the 1-based index of the line's nearest centre (the first on a tie, as numpy's argmin).

        The standardized inputs and the distances are columns of nested selects, each computed
        once per line: one expression nesting them all took three times as long on 10 M lines.
        """
        zs = [f"_km_z{j}" for j in range(len(self.mean))]
        ds = [f"_km_d{i}" for i in range(len(self.centres))]
        z = ", ".join(
            f"(({x}) - {_num(m)}) / {_num(s)} AS {zj}"
            for x, m, s, zj in zip(
                _inputs_sql(self.features), self.mean, self.scale, zs, strict=True
            )
        )
        d = ", ".join(
            " + ".join(
                f"({zj} - {_num(c)}) * ({zj} - {_num(c)})" for zj, c in zip(zs, centre, strict=True)
            )
            + f" AS {di}"
            for centre, di in zip(self.centres, ds, strict=True)
        )
        dl = ", ".join(ds)
        return (
            f"SELECT * EXCLUDE ({dl}), list_position(list_value({dl}), least({dl})) AS _km_nearest "
            f"FROM (SELECT * EXCLUDE ({', '.join(zs)}), {d} "
            f"FROM (SELECT *, {z} FROM {source}{f' WHERE {where}' if where else ''}))"
        )

    def label_sql(self) -> str:
        """SQL over :meth:`with_nearest`'s columns: the line's cluster number, NULL for an
        excluded line."""
        numbers = ", ".join(str(int(n)) for n in self.numbers)
        return f"CASE WHEN {_KEPT} THEN list_value({numbers})[_km_nearest] END::INTEGER"


#: A line that is targeted (``excluded`` false or unknown), as clustering counts it.
_KEPT = "NOT coalesce(excluded, false)"


def _num(x: float) -> str:
    """A DOUBLE literal that round-trips ``x`` exactly."""
    return f"{float(x)!r}::DOUBLE"


def _inputs_sql(features: list[str]) -> list[str]:
    """The clustering inputs in SQL: ``log1p`` of each feature (NULL and negatives as 0), then
    1.0 for a broadband line."""
    logs = [f'ln(1 + greatest(coalesce(CAST("{f}" AS DOUBLE), 0), 0))' for f in features]
    return [*logs, "CAST(coalesce(line_type = 'broadband', false) AS DOUBLE)"]


def _sample(
    con: duckdb.DuckDBPyConnection,
    source: str,
    inputs: list[str],
    kept: int,
    params: ClusterParams,
) -> np.ndarray:
    """The inputs of the ``params.sample`` kept lines first by a seeded hash of their id.

    Only lines whose hash falls in the lowest ``4 × sample / kept`` of its range are sorted
    (a top-N over the whole month costs ~2 s at 10 M lines); should that leave too few, which
    a binomial draw makes vanishingly rare, the whole month is sorted instead. Either way the
    same lines are picked.
    """
    n = min(int(params.sample), kept)
    key = f"hash(subscriber_id, {int(params.seed)})"
    cut = min(2**64 - 1, int(2**64 * 4 * n / kept))
    for where in (f" AND {key} < {cut}::UBIGINT", ""):
        rows = con.execute(
            f"SELECT {', '.join(inputs)} FROM {source} WHERE {_KEPT}{where} "
            f"ORDER BY {key}, subscriber_id LIMIT {n}"
        ).fetchall()
        if len(rows) == n:
            break
    return np.array(rows, dtype="float64")


def fit(
    con: duckdb.DuckDBPyConnection, source: str, params: ClusterParams
) -> tuple[ClusterModel | None, list[ClusterSummary]]:
    """Fit k-means on a sample of the kept lines of the table ``source`` and describe the
    clusters every kept line falls in. All passes over the month are SQL on ``con``.

    The inputs are standardized with the kept lines' means and standard deviations; the
    sample is the ``params.sample`` kept lines first by a seeded hash of ``subscriber_id``,
    so the fit does not depend on the order the rows are stored in.

    Args:
        con: the DuckDB connection holding ``source``.
        source: a table with ``subscriber_id``, ``excluded``, ``line_type`` and the features.
        params: the preset's cluster settings.

    Returns:
        ``(model, summaries)``: ``model`` is None (no clusters) when there are fewer than
        ``3 k`` kept lines; one summary per non-empty cluster, numbered 1..k by descending
        mean ARPU.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    names = list(params.features)
    inputs = _inputs_sql(names)
    # exact sums (DECIMAL): the same bits whatever the order the threads add the rows in, so
    # a re-run of a month gives the same centres, the same lines in each and the same text
    moments = [exact_sum(e) for x in inputs for e in (x, f"({x}) * ({x})")]
    stats = con.execute(
        f"SELECT count(*), {', '.join(moments)} FROM {source} WHERE {_KEPT}"
    ).fetchone()
    kept = int(stats[0])
    if kept < params.k * 3:
        return None, []
    mean = np.array(stats[1::2], dtype="float64") / kept
    var = np.array(stats[2::2], dtype="float64") / kept - mean**2
    scale = np.sqrt(np.clip(var, 0.0, None))
    scale[scale < 1e-12] = 1.0
    sample = _sample(con, source, inputs, kept, params)
    km = KMeans(n_clusters=params.k, n_init=3, random_state=params.seed)
    with threadpool_limits(1):  # small sample: threads only add overhead on a shared machine
        km.fit((sample - mean) / scale)
    model = ClusterModel(names, mean, scale, km.cluster_centers_, np.arange(1, params.k + 1))
    raw = [f'coalesce(CAST("{f}" AS DOUBLE), 0)' for f in names] + [inputs[-1]]
    rows = con.execute(
        f"SELECT _km_nearest, count(*), {', '.join(exact_sum(r, 9) for r in raw)} "
        f"FROM ({model.with_nearest(source, _KEPT)}) GROUP BY _km_nearest"
    ).fetchall()
    size = np.zeros(params.k)
    sums = np.zeros((params.k, len(names) + 1))
    for c, n, *s in rows:
        size[c - 1] = n
        sums[c - 1] = s
    # number clusters 1..k by descending mean ARPU of their members (stable ids for reports)
    arpu = names.index("arpu_3m") if "arpu_3m" in names else 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / size[:, None]
    order = np.argsort(-np.where(size > 0, means[:, arpu], -1.0), kind="stable")
    model.numbers[order] = np.arange(1, params.k + 1)
    base = sums[:, :-1].sum(axis=0) / kept
    summaries = []
    for c in order:
        if not size[c]:
            continue
        ratios = {
            nm: float(means[c, j] / base[j]) if base[j] > 0 else float("nan")
            for j, nm in enumerate(names)
        }
        share = float(size[c] / kept)
        bb_share = float(means[c, -1])
        en, zh = _describe(ratios, share, bb_share)
        summaries.append(
            ClusterSummary(
                cluster=int(model.numbers[c]),
                size=int(size[c]),
                share=share,
                means={nm: float(means[c, j]) for j, nm in enumerate(names)},
                ratios=ratios,
                broadband_share=bb_share,
                description_en=en,
                description_zh=zh,
            )
        )
    return model, summaries
