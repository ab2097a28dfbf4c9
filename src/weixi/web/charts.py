"""ECharts option builders (plain dicts, rendered as JSON into ``data-chart``; no inline JS)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

PALETTE = ["#2f6fd6", "#3a9a5b", "#d99a22", "#d64545", "#7b5cc4", "#2aa1b3", "#8a94a6"]
URGENCY_COLORS = {"red": "#d64545", "blue": "#3b78c4", "green": "#3a9a5b"}
Tr = Callable[..., str]

_BASE: dict[str, Any] = {
    "color": PALETTE,
    "grid": {"left": 56, "right": 56, "top": 40, "bottom": 36},
    "textStyle": {"fontFamily": "WenQuanYi Zen Hei, PingFang SC, Microsoft YaHei, sans-serif"},
}


def _with_base(option: dict[str, Any]) -> dict[str, Any]:
    out = dict(_BASE)
    out.update(option)
    return out


def trend(
    x: Sequence[str],
    bars: dict[str, Sequence[Any]] | None = None,
    lines: dict[str, Sequence[Any]] | None = None,
    *,
    lines_percent: bool = True,
) -> dict[str, Any]:
    """Bars on the left axis, (percentage) lines on the right axis, by month."""
    series: list[dict[str, Any]] = []
    for name, data in (bars or {}).items():
        series.append({"name": name, "type": "bar", "data": list(data), "barMaxWidth": 36})
    for name, data in (lines or {}).items():
        series.append(
            {
                "name": name,
                "type": "line",
                "yAxisIndex": 1 if bars else 0,
                "data": [
                    None if v is None else round(float(v) * (100 if lines_percent else 1), 2)
                    for v in data
                ],
                "smooth": True,
                "symbolSize": 7,
                "connectNulls": True,
            }
        )
    pct_axis: dict[str, Any] = {"type": "value", "splitLine": {"show": not bars}, "scale": True}
    if lines_percent:
        pct_axis["axisLabel"] = {"formatter": "{value}%"}
    y_axes: list[dict[str, Any]] | dict[str, Any]
    y_axes = (
        [{"type": "value"}, pct_axis]
        if bars and lines
        else (pct_axis if lines else {"type": "value"})
    )
    return _with_base(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "xAxis": {"type": "category", "data": list(x)},
            "yAxis": y_axes,
            "series": series,
        }
    )


def pie(items: Sequence[tuple[str, Any]], colors: Sequence[str] | None = None) -> dict[str, Any]:
    """A donut chart of ``(label, value)``."""
    option = _with_base(
        {
            "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
            "legend": {"bottom": 0},
            "series": [
                {
                    "type": "pie",
                    "radius": ["45%", "70%"],
                    "center": ["50%", "45%"],
                    "data": [{"name": n, "value": v} for n, v in items],
                    "label": {"formatter": "{b}\n{d}%"},
                }
            ],
        }
    )
    if colors:
        option["color"] = list(colors)
    return option


def bars(
    categories: Sequence[str],
    values: Sequence[Any],
    name: str,
    *,
    horizontal: bool = False,
    color: str | None = None,
    label_width: int = 170,
) -> dict[str, Any]:
    """A single-series bar chart (``label_width``: pixels of a horizontal chart's names)."""
    cat_axis = {"type": "category", "data": list(categories)}
    val_axis = {"type": "value"}
    option = _with_base(
        {
            "tooltip": {"trigger": "axis"},
            "xAxis": val_axis if horizontal else cat_axis,
            "yAxis": {**cat_axis, "inverse": True} if horizontal else val_axis,
            "series": [{"name": name, "type": "bar", "data": list(values), "barMaxWidth": 28}],
        }
    )
    if horizontal:
        # long names (English reasons run to 60 characters) wrap inside a fixed label width
        # instead of running off the left edge or squeezing the bars
        option["grid"] = {"left": 8, "right": 30, "top": 10, "bottom": 24, "containLabel": True}
        option["yAxis"]["axisLabel"] = {
            "interval": 0,
            "width": label_width,
            "overflow": "break",
            "lineHeight": 13,
            "fontSize": 11,
        }
    if color:
        option["series"][0]["itemStyle"] = {"color": color}
    return option


def calibration(deciles: Sequence[dict[str, Any]], _: Tr) -> dict[str, Any]:
    """Predicted vs actual churn rate by score decile."""
    x = [str(d["decile"]) for d in deciles]
    return _with_base(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "xAxis": {"type": "category", "data": x, "name": _("Decile")},
            "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}},
            "series": [
                {
                    "name": _("Predicted"),
                    "type": "bar",
                    "data": [round(float(d["predicted"]) * 100, 2) for d in deciles],
                    "barMaxWidth": 26,
                },
                {
                    "name": _("Actual"),
                    "type": "line",
                    "data": [round(float(d["actual"]) * 100, 2) for d in deciles],
                    "symbolSize": 7,
                },
            ],
        }
    )


HORIZON_COLORS = ["#2f6fd6", "#d99a22", "#7b5cc4"]


def _horizon_name(h: int, _: Tr) -> str:
    return _("Churn next month") if h == 1 else _("Churn within {h} months", h=h)


def gains(curves: dict[int, dict[str, Any]], _: Tr) -> dict[str, Any]:
    """Cumulative gains per horizon: share of churners caught vs share of lines contacted
    (highest scores first), with the random-contact diagonal."""
    x = [f"{10 * d}%" for d in range(0, 11)]
    series: list[dict[str, Any]] = [
        {
            "name": _horizon_name(h, _),
            "type": "line",
            "data": [0.0, *(round(float(g["capture"]) * 100, 1) for g in c["gains"])],
            "symbolSize": 6,
            "itemStyle": {"color": HORIZON_COLORS[(h - 1) % 3]},
        }
        for h, c in sorted(curves.items())
        if c.get("gains")
    ]
    series.append(
        {
            "name": _("Random contact"),
            "type": "line",
            "data": [10 * d for d in range(0, 11)],
            "symbol": "none",
            "lineStyle": {"type": "dashed", "color": "#8a94a6"},
            "itemStyle": {"color": "#8a94a6"},
        }
    )
    return _with_base(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 56, "right": 24, "top": 48, "bottom": 48},
            "xAxis": {
                "type": "category",
                "data": x,
                "boundaryGap": False,
                "name": _("Lines contacted, highest scores first"),
                "nameLocation": "middle",
                "nameGap": 28,
            },
            "yAxis": {
                "type": "value",
                "max": 100,
                "axisLabel": {"formatter": "{value}%"},
                "name": _("Churners caught"),
            },
            "series": series,
        }
    )


def reliability(curves: dict[int, dict[str, Any]], _: Tr) -> dict[str, Any]:
    """Calibration per horizon: mean predicted vs observed churn rate in ten equal-count bins,
    with the diagonal of perfect calibration."""
    series: list[dict[str, Any]] = []
    top = 0.0
    for h, c in sorted(curves.items()):
        pts = [
            [round(float(r["predicted"]) * 100, 3), round(float(r["observed"]) * 100, 3)]
            for r in c.get("calibration") or []
        ]
        if not pts:
            continue
        top = max(top, *(max(a, b) for a, b in pts))
        series.append(
            {
                "name": _horizon_name(h, _),
                "type": "line",
                "data": pts,
                "symbolSize": 7,
                "itemStyle": {"color": HORIZON_COLORS[(h - 1) % 3]},
            }
        )
    top = round(top * 1.05, 2) or 1.0
    series.append(
        {
            "name": _("Perfect calibration"),
            "type": "line",
            "data": [[0, 0], [top, top]],
            "symbol": "none",
            "lineStyle": {"type": "dashed", "color": "#8a94a6"},
            "itemStyle": {"color": "#8a94a6"},
        }
    )
    return _with_base(
        {
            "tooltip": {"trigger": "item"},
            "legend": {"top": 0},
            "grid": {"left": 56, "right": 24, "top": 48, "bottom": 48},
            "xAxis": {
                "type": "value",
                "min": 0,
                "max": top,
                "axisLabel": {"formatter": "{value}%"},
                "name": _("Predicted churn probability"),
                "nameLocation": "middle",
                "nameGap": 28,
            },
            "yAxis": {
                "type": "value",
                "min": 0,
                "max": top,
                "axisLabel": {"formatter": "{value}%"},
                "name": _("Observed churn rate"),
            },
            "series": series,
        }
    )


def sankey(links: Sequence[dict[str, Any]], prev_label: str, now_label: str, label: Tr) -> dict:
    """Migration between two months; node names carry the month so the graph has no cycles."""
    nodes: dict[str, dict[str, Any]] = {}
    out_links = []
    for link in links:
        src = f"{prev_label} · {label(link['source'])}"
        tgt = f"{now_label} · {label(link['target'])}"
        for name, key in ((src, link["source"]), (tgt, link["target"])):
            if name not in nodes:
                node: dict[str, Any] = {"name": name}
                if key in URGENCY_COLORS:
                    node["itemStyle"] = {"color": URGENCY_COLORS[key]}
                elif key in ("left", "excluded"):
                    node["itemStyle"] = {"color": "#8a94a6"}
                nodes[name] = node
        out_links.append({"source": src, "target": tgt, "value": int(link["value"])})
    return _with_base(
        {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "type": "sankey",
                    "data": list(nodes.values()),
                    "links": out_links,
                    "emphasis": {"focus": "adjacency"},
                    "lineStyle": {"color": "gradient", "opacity": 0.35},
                    "nodeGap": 10,
                    "left": 10,
                    "right": 130,
                }
            ],
        }
    )


def stacked(x: Sequence[str], series: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """Stacked bars by category (e.g. outcomes per day by result)."""
    return _with_base(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "xAxis": {"type": "category", "data": list(x)},
            "yAxis": {"type": "value"},
            "series": [
                {"name": n, "type": "bar", "stack": "all", "data": list(v), "barMaxWidth": 40}
                for n, v in series.items()
            ],
        }
    )
