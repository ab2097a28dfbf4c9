"""The churn page shows champion and challenger side by side with the promotion reason."""

from __future__ import annotations

import html

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


def test_model_card_names_its_metrics_in_both_languages(app, web_settings):
    from weixi.web.routes.churn import metric_label

    assert metric_label("h1_holdout_raw.top_decile_lift", "en") == (
        "Churn next month · Top-decile lift"
    )
    assert metric_label("h3_holdout_raw.ece_base_rate", "zh-CN").startswith("3 个月内离网 · ")
    page = login(app, "u_analyst").get("/churn").text
    card = page.split("Model metrics", 1)[1].split("</dl>", 1)[0]
    assert "h1_holdout_raw" not in card and "Churn next month · AUC" in card
    zh = _zh_client(app, web_settings).get("/churn").text
    card = zh.split("</dl>", 1)[0].rsplit("<dl", 1)[1]
    assert "下月离网 · " in card and "h1_holdout_raw" not in card
