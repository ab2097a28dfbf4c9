"""Data-driven clusters (the seeds' 联合分析聚类) that find segments the fixed rules miss.

k-means (scikit-learn) on standardized ``log1p`` behaviour features, fitted on a seeded sample
of the kept (targetable) lines, then every line is assigned to its nearest centre with numpy
in chunks (vectorized, no Python loop over subscribers). Clusters are numbered 1..k by
descending mean ARPU, and each gets a plain description against the whole base, e.g.
"ARPU 2.3× the base, data use 0.4×" / "ARPU为整体的2.3倍,流量为0.4倍".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weixi.segment.rules import ClusterParams

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


def _matrix(table: pa.Table, names: list[str]) -> np.ndarray:
    cols = []
    for n in names:
        arr = table.column(n).combine_chunks().to_numpy(zero_copy_only=False).astype("float64")
        cols.append(np.nan_to_num(arr, nan=0.0))
    return np.column_stack(cols) if cols else np.empty((table.num_rows, 0))


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


def fit_assign(table: pa.Table, params: ClusterParams) -> tuple[np.ndarray, list[ClusterSummary]]:
    """Fit k-means on a sample of the kept lines of ``table`` and assign every kept line.

    Args:
        table: the month's segments (needs ``excluded``, ``line_type`` and the feature columns).
        params: the preset's cluster settings.

    Returns:
        ``(labels, summaries)``: an int32 array aligned with ``table`` (-1 for excluded lines)
        and one summary per cluster, numbered 1..k by descending mean ARPU.
    """
    from sklearn.cluster import KMeans

    n = table.num_rows
    labels = np.full(n, -1, dtype=np.int32)
    if n == 0:
        return labels, []
    kept = ~np.asarray(table.column("excluded").to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.flatnonzero(kept)
    if len(idx) < params.k * 3:
        return labels, []
    names = list(params.features)
    raw = _matrix(table, names)[idx]
    bb = pc.fill_null(pc.equal(table.column("line_type"), "broadband"), False)
    is_bb = bb.to_numpy(zero_copy_only=False)[idx].astype("float64")
    x = np.column_stack([np.log1p(np.clip(raw, 0, None)), is_bb])
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    rng = np.random.default_rng(params.seed)
    sample = rng.choice(len(idx), size=min(params.sample, len(idx)), replace=False)
    sample.sort()
    from threadpoolctl import threadpool_limits

    km = KMeans(n_clusters=params.k, n_init=3, random_state=params.seed)
    with threadpool_limits(1):  # small sample: threads only add overhead on a shared machine
        km.fit(z[sample])
    centres = km.cluster_centers_
    assign = np.empty(len(idx), dtype=np.int32)
    c2 = (centres**2).sum(axis=1)
    for start in range(0, len(idx), 200_000):
        block = z[start : start + 200_000]
        d = c2[None, :] - 2.0 * block @ centres.T
        assign[start : start + 200_000] = d.argmin(axis=1)
    # number clusters 1..k by descending mean ARPU of their members (stable ids for reports)
    arpu_col = names.index("arpu_3m") if "arpu_3m" in names else 0
    means_arpu = np.array(
        [raw[assign == c, arpu_col].mean() if (assign == c).any() else -1 for c in range(params.k)]
    )
    order = np.argsort(-means_arpu, kind="stable")
    remap = np.empty(params.k, dtype=np.int32)
    remap[order] = np.arange(1, params.k + 1, dtype=np.int32)
    final = remap[assign]
    labels[idx] = final
    base = raw.mean(axis=0)
    summaries = []
    total = len(idx)
    for c in range(1, params.k + 1):
        m = final == c
        size = int(m.sum())
        if not size:
            continue
        means = raw[m].mean(axis=0)
        ratios = {
            nm: float(means[j] / base[j]) if base[j] > 0 else float("nan")
            for j, nm in enumerate(names)
        }
        bb_share = float(is_bb[m].mean())
        en, zh = _describe(ratios, size / total, bb_share)
        summaries.append(
            ClusterSummary(
                cluster=c,
                size=size,
                share=size / total,
                means={nm: float(means[j]) for j, nm in enumerate(names)},
                ratios=ratios,
                broadband_share=bb_share,
                description_en=en,
                description_zh=zh,
            )
        )
    return labels, summaries
