"""Self-contained bilingual HTML report of a month: backtest, gains, calibration, branches,
drift and reasons. Charts are inline SVG drawn here (no JavaScript, no network)."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import duckdb

from weixi.churn import registry, service
from weixi.churn.features import BY_NAME
from weixi.churn.params import ChurnParams, load_params
from weixi.churn.reasons import describe
from weixi.i18n import normalize_locale, t
from weixi.store.months import add_months, format_month, loaded_months

_W, _H, _PAD = 360, 260, 40


def _svg_frame(title: str, xlabel: str, ylabel: str, body: str) -> str:
    ticks = "".join(
        f'<text x="{_PAD - 6}" y="{_H - _PAD - v * (_H - 2 * _PAD) + 4:.1f}" '
        f'font-size="10" text-anchor="end">{v:.1f}</text>'
        for v in (0, 0.5, 1.0)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'role="img" aria-label="{html.escape(title)}">'
        f'<text x="{_W / 2}" y="16" font-size="13" text-anchor="middle">{html.escape(title)}</text>'
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 10}" y2="{_H - _PAD}" stroke="#333"/>'
        f'<line x1="{_PAD}" y1="{_PAD - 10}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#333"/>'
        f"{ticks}"
        f'<text x="{_W / 2}" y="{_H - 8}" font-size="11" text-anchor="middle">{html.escape(xlabel)}</text>'
        f'<text x="12" y="{_H / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {_H / 2})">{html.escape(ylabel)}</text>'
        f"{body}</svg>"
    )


def _xy(x: float, y: float, xmax: float = 1.0, ymax: float = 1.0) -> tuple[float, float]:
    return (
        _PAD + x / xmax * (_W - _PAD - 10),
        _H - _PAD - y / ymax * (_H - 2 * _PAD),
    )


def _polyline(points: list[tuple[float, float]], color: str, xmax=1.0, ymax=1.0) -> str:
    pts = " ".join("{:.1f},{:.1f}".format(*_xy(x, y, xmax, ymax)) for x, y in points)
    return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>'


def reliability_svg(rows: list[dict], loc: str) -> str:
    """Reliability diagram: mean predicted vs observed churn rate per score bin."""
    top = max([0.05] + [max(r["predicted"], r["observed"]) for r in rows]) * 1.1
    diag = _polyline([(0, 0), (top, top)], "#bbb", top, top)
    dots = "".join(
        '<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="#c0392b"/>'.format(
            *_xy(r["predicted"], r["observed"], top, top)
        )
        for r in rows
    )
    line = _polyline([(r["predicted"], r["observed"]) for r in rows], "#c0392b", top, top)
    return _svg_frame(
        t("Reliability (calibration)", loc) + f" — max {top:.2f}",
        t("predicted churn probability", loc),
        t("observed churn rate", loc),
        diag + line + dots,
    )


def gains_svg(gains: list[dict], loc: str) -> str:
    """Cumulative gains: share of churners caught vs share of base contacted."""
    pts = [(0.0, 0.0)] + [(g["decile"] / len(gains), g["cum_capture"]) for g in gains]
    return _svg_frame(
        t("Cumulative gains", loc),
        t("share of customers contacted (by score)", loc),
        t("share of churners caught", loc),
        _polyline([(0, 0), (1, 1)], "#bbb") + _polyline(pts, "#2c7fb8"),
    )


def histogram_svg(counts: list[int], loc: str) -> str:
    """Bars of the score distribution in 20 bins of width 0.05."""
    top = max(counts) or 1
    bw = (_W - _PAD - 10) / len(counts)
    bars = "".join(
        f'<rect x="{_PAD + i * bw:.1f}" y="{_H - _PAD - c / top * (_H - 2 * _PAD):.1f}" '
        f'width="{bw - 1:.1f}" height="{c / top * (_H - 2 * _PAD):.1f}" fill="#7b9acc"/>'
        for i, c in enumerate(counts)
    )
    return _svg_frame(
        t("Score distribution", loc),
        t("p(churn next month), 0 to 1", loc),
        t("share of lines (max = 1)", loc),
        bars,
    )


def _label(code: str, loc: str) -> str:
    feat = BY_NAME.get(code)
    if feat is None:
        return code
    return feat.zh if loc == "zh-CN" else feat.en


def _table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        return html.escape("—" if v is None else str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(
    *,
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    out: Path,
    locale: str = "en",
    params: ChurnParams | None = None,
) -> dict:
    """Build the HTML report of ``month`` into ``out``; returns what it contains."""
    loc = normalize_locale(locale)
    params = params or load_params()
    parts: list[str] = []
    info: dict = {"month": format_month(month), "path": str(out), "sections": []}
    active = registry.get_active(con)
    if active:
        _, _, meta = registry.load_meta(con, active)
        parts.append(f"<h2>{t('Active model', loc)}</h2>")
        parts.append(
            _table(
                [t("version", loc), t("as of", loc), t("data window", loc), t("features", loc)],
                [
                    [
                        active,
                        meta["as_of"][:7],
                        f"{meta['window_start'][:7]} … {meta['window_end'][:7]}",
                        len(meta["features"]),
                    ]
                ],
            )
        )
        info["sections"].append("model")
    if add_months(month, 1) in loaded_months(con):
        bt = service.backtest(con=con, month=month, params=params)
        info["backtest"] = {k: bt[k] for k in ("model", "logistic", "rule_c", "n", "churn_rate")}
        info["sections"].append("backtest")
        parts.append(
            f"<h2>{t('Backtest', loc)}: {bt['month']} → {bt['outcome_month']}</h2>"
            f"<p>{t('Trained on', loc)} {', '.join(bt['train_months'])}; "
            f"{t('calibrated on', loc)} {', '.join(bt['calibration_months'])}; "
            f"n = {bt['n']:,}, {t('churn rate', loc)} {bt['churn_rate']:.2%}</p>"
        )
        metrics = ("auc", "pr_auc", "top_decile_lift", "ece")
        parts.append(
            _table(
                [t("model", loc), *metrics],
                [
                    [t(name, loc), *(bt[name][m] for m in metrics)]
                    for name in ("model", "logistic", "rule_c")
                ],
            )
        )
        parts.append(
            '<div class="charts">'
            + gains_svg(bt["gains"], loc)
            + reliability_svg(bt["reliability"], loc)
            + "</div>"
        )
        parts.append(f"<h3>{t('Gains by decile', loc)}</h3>")
        parts.append(
            _table(
                [
                    t(h, loc)
                    for h in (
                        "decile",
                        "lines",
                        "churners",
                        "churn rate",
                        "lift",
                        "cumulative capture",
                    )
                ],
                [
                    [
                        g["decile"],
                        g["n"],
                        g["churners"],
                        g["churn_rate"],
                        g["lift"],
                        g["cum_capture"],
                    ]
                    for g in bt["gains"]
                ],
            )
        )
        parts.append(f"<h3>{t('By branch', loc)}</h3>")
        parts.append(
            _table(
                [
                    t(h, loc)
                    for h in (
                        "branch",
                        "lines",
                        "churn rate",
                        "AUC model",
                        "lift model",
                        "lift logistic",
                        "lift rule C",
                        "ECE model",
                    )
                ],
                [
                    [
                        b["branch_id"],
                        b["n"],
                        b["churn_rate"],
                        b["model"]["auc"],
                        b["model"]["top_decile_lift"],
                        b["logistic"]["top_decile_lift"],
                        b["rule_c"]["top_decile_lift"],
                        b["model"]["ece"],
                    ]
                    for b in bt["branches"]
                ],
            )
        )
    m = month.isoformat()
    n = con.execute("SELECT count(*) FROM churn_scores WHERE month = ?", [month]).fetchone()[0]
    if n:
        info["sections"].append("scores")
        hist = con.execute(
            "SELECT least(floor(p_churn * 20), 19)::INT b, count(*) FROM churn_scores "
            "WHERE month = ? GROUP BY 1 ORDER BY 1",
            [month],
        ).fetchall()
        counts = [0] * 20
        for b, c in hist:
            counts[int(b)] = int(c)
        parts.append(f"<h2>{t('Scores of', loc)} {format_month(month)}</h2>")
        parts.append('<div class="charts">' + histogram_svg(counts, loc) + "</div>")
        top = con.execute(
            f"""SELECT r.code, count(*) n FROM churn_scores,
                unnest(from_json(reasons, '[{{"code":"VARCHAR"}}]')) AS u(r)
                WHERE month = DATE '{m}' GROUP BY 1 ORDER BY 2 DESC LIMIT 10"""
        ).fetchall()
        parts.append(f"<h3>{t('Most frequent reasons', loc)}</h3>")
        parts.append(
            "<p>"
            + t(
                "Counted over the riskiest lines of the month, whose reasons are stored when "
                "scoring.",
                loc,
            )
            + "</p>"
        )
        parts.append(
            _table(
                [t("reason", loc), t("feature", loc), t("lines", loc)],
                [[_label(c, loc), c, k] for c, k in top],
            )
        )
        sample = con.execute(
            "SELECT subscriber_id, p_churn, p_churn_2m, p_churn_3m, reasons FROM churn_scores "
            "WHERE month = ? ORDER BY p_churn DESC LIMIT 20",
            [month],
        ).fetchall()
        from weixi.churn.service import reasons_for

        shown = reasons_for(con=con, month=month, subscriber_ids=[r[0] for r in sample])
        parts.append(f"<h3>{t('Highest risk', loc)}</h3>")
        parts.append(
            _table(
                [
                    t(h, loc)
                    for h in (
                        "subscriber",
                        "next month",
                        "within 2 months",
                        "within 3 months",
                        "reasons",
                    )
                ],
                [
                    [s, p1, p2, p3, "; ".join(describe(r, loc) for r in shown.get(s, []))]
                    for s, p1, p2, p3, _ in sample
                ],
            )
        )
    rows = con.execute(
        "SELECT model_version, branch_id, feature, psi, warning FROM churn_drift "
        "WHERE month = ? ORDER BY psi DESC LIMIT 25",
        [month],
    ).fetchall()
    if rows:
        info["sections"].append("drift")
        parts.append(f"<h2>{t('Drift (PSI vs the training month)', loc)}</h2>")
        parts.append(
            _table(
                [t(h, loc) for h in ("model", "branch", "feature", "PSI", "warning")],
                [list(r) for r in rows],
            )
        )
    if len(info["sections"]) == 0:
        parts.append(f"<p>{t('Nothing to report yet: train and score a month first.', loc)}</p>")
    title = t("Churn warning report", loc) + f" — {format_month(month)}"
    doc = f"""<!doctype html>
<html lang="{"zh-CN" if loc == "zh-CN" else "en"}"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}
th{{background:#f3f3f3}} .charts svg{{margin-right:1em;border:1px solid #eee}}
</style></head><body>
<h1>{html.escape(title)}</h1>
{"".join(parts)}
</body></html>"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return info
