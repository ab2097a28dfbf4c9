"""The churn page shows champion and challenger side by side with the promotion reason."""

from __future__ import annotations

import html
import itertools
import json

import duckdb

from tests.web.conftest import PASSWORD, csrf_of, login
from weixi.auth import service as auth_service
from weixi.churn import champion, registry
from weixi.store.db import session_scope


def _zh_client(app, web_settings):
    """A fresh analyst whose language is Chinese (the shared users keep theirs)."""
    with session_scope(web_settings.db_url) as s:
        if auth_service.get_by_username(session=s, username="u_churn_zh") is None:
            auth_service.create(session=s, username="u_churn_zh", password=PASSWORD, role="analyst")
    client = login(app, "u_churn_zh")
    resp = client.post("/lang", data={"lang": "zh-CN", "csrf_token": csrf_of(client, "/churn")})
    assert resp.status_code == 303
    return client


def test_churn_page_shows_champion_and_challenger(app, store_path, web_settings):
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        view = registry.overview(con)
    finally:
        con.close()
    champ, chall, cmp = view["champion"], view["challenger"], view["comparison"]
    assert champ and chall and cmp["version"] == chall["version"]

    client = login(app, "u_analyst")
    page = client.get("/churn")
    assert page.status_code == 200
    card = page.text.split('id="champion-challenger"', 1)[1].split("Highest churn risk", 1)[0]
    assert champ["version"] in card and chall["version"] in card
    assert f"out-of-time month {cmp['eval_month']:%Y-%m}" in card
    assert f"{cmp['auc_champion']:.4f}" in card and f"{cmp['auc_challenger']:.4f}" in card
    lo, hi = f"{cmp['d_auc_lo']:+.4f}", f"{cmp['d_auc_hi']:+.4f}"
    assert f"{cmp['d_auc']:+.4f} [{lo}, {hi}]" in card
    assert "challenger − champion, 90% bootstrap" in card
    decided = "Promoted to champion" if cmp["decision"] == "promoted" else "Kept as challenger"
    assert decided in card and html.escape(champion.describe(cmp, "en"), quote=False) in card

    zh = _zh_client(app, web_settings).get("/churn").text
    card = zh.split('id="champion-challenger"', 1)[1]
    assert "冠军模型与挑战者模型" in card and "跨期验证月" in card and "挑战者" in card
    assert ("已升为冠军模型" if cmp["decision"] == "promoted" else "保留为挑战者模型") in card
    assert html.escape(champion.describe(cmp, "zh-CN"), quote=False) in card


def test_model_card_names_its_metrics_in_both_languages(app, store_path, web_settings):
    from weixi.web.routes.churn import metric_label

    assert metric_label("h1_holdout_raw.top_decile_lift", "en") == (
        "Churn next month · Top-decile lift"
    )
    assert metric_label("h3_holdout_raw.ece_base_rate", "zh-CN").startswith("3 个月内离网 · ")
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        champ = next(m for m in registry.get_all(con) if m["role"] == "champion")
    finally:
        con.close()
    h1 = champ["metrics"]["h1_holdout_raw"]
    page = login(app, "u_analyst").get("/churn").text
    table = page.split('id="model-metrics"', 1)[1].split("</table>", 1)[0]
    assert "h1_holdout_raw" not in page and "top_decile_li" not in table
    assert "Churn next month" in table and "Churn within 2 months" in table
    lift_row = table.split("<td>Top-decile lift</td>", 1)[1].split("</tr>", 1)[0]
    assert f"{h1['top_decile_lift']:.2f}" in lift_row.split("</td>", 1)[0]
    assert f'<td>AUC</td><td class="num">{h1["auc"]:.4f}</td>' in table
    # the out-of-sample calibration error, not the in-sample one (0 for isotonic on its month)
    oos = table.split("<td>Calibration error (ECE), calibrated, out of sample</td>", 1)[1]
    assert f"{h1['ece_cross_fitted']:.4f}" in oos.split("</tr>", 1)[0]
    assert "<td>Calibration error (ECE), calibrated</td>" not in table
    zh = _zh_client(app, web_settings).get("/churn").text
    table = zh.split('id="model-metrics"', 1)[1].split("</table>", 1)[0]
    assert "下月离网" in table and "前10%提升度" in table and "h1_holdout_raw" not in zh


def test_training_stores_gains_and_cross_fitted_calibration_points():
    """The curves the page draws: gains deciles of the held-out month (capture reaches 100 %)
    and calibration bins whose calibrator never saw their half of the month."""
    import numpy as np

    from weixi.churn.params import load_params
    from weixi.churn.train import holdout_curves

    rng = np.random.default_rng(0)
    n = 20_000
    raw = rng.beta(1, 30, n)
    y = (rng.random(n) < np.clip(raw * 1.5, 0, 1)).astype(int)  # raw scores 1.5x too low
    p = load_params().monthly
    curves = holdout_curves(y, raw, p, seed=1)
    gains = curves["gains"]
    assert [g["decile"] for g in gains] == list(range(1, 11))
    assert gains[-1]["capture"] == 1.0 and gains[0]["lift"] > 2
    assert all(a["capture"] <= b["capture"] for a, b in itertools.pairwise(gains))
    cal = curves["calibration"]
    assert len(cal) == 10 and sum(r["n"] for r in cal) == n
    from weixi.churn.metrics import ece

    assert 0 < curves["ece_cross_fitted"] < 0.5 * ece(y, raw)
    # calibrated out of sample: close to the observed rate, not to the raw score
    for r in cal[3:]:
        assert abs(r["predicted"] - r["observed"]) < 0.35 * r["observed"]
    moved = holdout_curves(y, raw, p, seed=1, base_rate=0.01)["calibration"]
    assert sum(r["predicted"] * r["n"] for r in moved) / n < 0.6 * y.mean()


def test_churn_page_draws_lift_and_calibration_per_horizon(app, store_path):
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        champ = next(m for m in registry.get_all(con) if m["role"] == "champion")
    finally:
        con.close()
    curves = champ["metrics"]["curves"]
    assert set(curves) == {f"h{h}" for h in champ["horizons"]}
    page = login(app, "u_analyst").get("/churn").text
    card = page.split('id="model-quality"', 1)[1].split('id="model-metrics"', 1)[0]
    gains = json.loads(
        html.unescape(card.split('id="chart-gains" data-chart=\'', 1)[1].split("'", 1)[0])
    )
    names = [s["name"] for s in gains["series"]]
    assert names[0] == "Churn next month" and names[-1] == "Random contact"
    assert gains["series"][0]["data"] == [
        0.0,
        *(round(g["capture"] * 100, 1) for g in curves["h1"]["gains"]),
    ]
    cal = json.loads(
        html.unescape(card.split('id="chart-calibration" data-chart=\'', 1)[1].split("'", 1)[0])
    )
    assert len(cal["series"]) == len(curves) + 1  # one line per horizon + the diagonal
    assert f"held-out month {curves['h1']['months'][0][:7]}" in page


def test_every_churn_page_text_has_a_chinese_translation():
    """The template's _('…') texts and the route's and charts' t()/_() literals are all in the
    zh-CN catalog (an untranslated text would show in English on the Chinese page)."""
    import ast
    import re
    from pathlib import Path

    from weixi.i18n import catalog

    web = Path(__file__).resolve().parents[2] / "src" / "weixi" / "web"
    used = set(
        re.findall(r"_\('((?:[^'\\]|\\.)*)'", (web / "templates" / "churn.html").read_text())
    )
    for path in (web / "routes" / "churn.py", web / "charts.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("t", "_")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                used.add(node.args[0].value)
    from weixi.web.routes.churn import _METRIC_NAMES

    used |= set(_METRIC_NAMES.values())
    zh = catalog("zh-CN")
    missing = sorted(m for m in used if m not in zh)
    assert len(used) > 40 and not missing, missing


def test_model_card_of_a_model_trained_before_the_curves():
    """A registry row without curves still gives the named table (the page then says to retrain
    instead of drawing empty charts); horizons come from the metric keys, in order."""
    from weixi.web.routes.churn import model_card

    metrics = {
        "h3_holdout_raw": {"auc": 0.61, "top_decile_lift": 1.8},
        "h1_holdout_raw": {"auc": 0.7123, "top_decile_lift": 3.14159, "ece": 0.01},
    }
    card = model_card({"version": "churn-202601-001", "metrics": metrics}, "zh-CN")
    assert card["curves"] == {} and card["held_out"] == ["", ""]
    assert card["horizons"] == ["下月离网", "3 个月内离网"]
    assert card["rows"][0] == ("前10%提升度", ["3.14", "1.80"])
    assert ("AUC", ["0.7123", "0.6100"]) in card["rows"]
    assert card["rows"][-1][1] == ["0.0100", "–"]  # ECE only where it was measured
    assert model_card(None, "en") is None
