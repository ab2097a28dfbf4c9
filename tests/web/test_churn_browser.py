"""The churn page at 1280 px in both languages: lift and calibration charts per horizon, the
model's metrics named, champion beside challenger, and top-reason names that neither overlap
nor run off the chart. Screenshots go to ``test-artifacts/screenshots/{en,zh-CN}/churn-model.png``."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PASSWORD
from tests.web.test_browser import SHOTS, browser, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

# Rectangles of the y-axis labels of the top-reasons chart, from ECharts' own scene graph
# (canvas renderer: the text is not in the DOM).
LABEL_RECTS = """() => {
  const el = document.getElementById('chart-reasons');
  const chart = echarts.getInstanceByDom(el);
  const names = chart.getOption().yAxis[0].data.map(String);
  const out = [];
  const types = {};
  const visit = (d) => {
    types[d.type] = (types[d.type] || 0) + 1;
    const text = d.style && d.style.text;
    if (d.type === 'text' && names.includes(text)) {
      const r = d.getBoundingRect().clone();
      r.applyTransform(d.getComputedTransform());
      out.push({text: text, x: r.x, y: r.y, w: r.width, h: r.height});
    }
    if (d.childrenRef) d.childrenRef().forEach(visit);
  };
  chart.getZr().storage.getRoots().forEach(visit);
  return {labels: out, names: names, width: el.clientWidth, types: types};
}"""


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"] - 0.5
        and b["y"] < a["y"] + a["h"] - 0.5
    )


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_churn_page_reads_like_an_analyst_report(server, browser, lang):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/login")
    page.fill("#username", "u_analyst")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(dashboard|queue).*|.*/$"))
    page.goto(f"{server}/churn")
    if lang == "zh-CN":
        page.click("header button[value='zh-CN']")
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("html[data-charts-ready='1']", state="attached")
    page.wait_for_timeout(300)

    quality = page.inner_text("#model-quality")
    table = page.inner_text("#model-metrics")
    cc = page.inner_text("#champion-challenger")
    if lang == "en":
        assert "Share of churners caught" in quality or "share of churners caught" in quality
        assert "Churn next month" in table and "Top-decile lift" in table
        assert "Scores shown on this page" in cc and "Validation AUC" in cc
        assert "The scores on this page come from churn-" in cc
    else:
        assert "识别出的离网用户占比" in quality and "校准" in quality
        assert "下月离网" in table and "前10%提升度" in table
        assert "本页评分所用模型" in cc and "本页评分来自" in cc
    assert "holdout_raw" not in page.content()
    for cid in ("chart-gains", "chart-calibration", "chart-reasons"):
        assert page.locator(f"#{cid} canvas").count() == 1, cid

    found = page.evaluate(LABEL_RECTS)
    labels = found["labels"]
    assert len(labels) == len(found["names"]) >= 5, found
    for lab in labels:  # every name fully inside the chart
        assert lab["x"] >= 0 and lab["x"] + lab["w"] <= found["width"], lab
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _overlap(a, b), (a, b)

    out = SHOTS / lang / "churn-model.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    # close-ups of the parts a reviewer checks: the reasons' names, the charts, champion/challenger
    page.locator(".card:has(#chart-reasons)").screenshot(
        path=str(out.with_name("churn-reasons.png"))
    )
    page.locator("#model-quality").screenshot(path=str(out.with_name("churn-quality.png")))
    page.locator("#champion-challenger").screenshot(path=str(out.with_name("churn-champion.png")))
    assert not errors, errors
    ctx.close()
