"""The planner edits an offer of the catalog; the saved library validates and is shown."""

from __future__ import annotations

from tests.web.conftest import csrf_of
from weixi.strategy.library import load_library


def test_planner_edits_an_offer(clients, web_settings):
    planner = clients["planner"]
    lib = load_library("seed")
    entry = lib.catalog[0]
    offer = entry.products[0].offers[0]
    page = planner.get("/strategy")
    assert page.status_code == 200 and offer.key in page.text
    form = {
        "unit_cost": "123",
        "valid_from": offer.valid_from.isoformat(),
        "valid_to": offer.valid_to.isoformat(),
        "script_en": "Test script",
        "script_zh": "测试话术",
        "channels": list(offer.channels),
        "csrf_token": csrf_of(planner, "/strategy"),
    }
    saved = planner.post(f"/strategy/offers/{offer.key}", data=form)
    assert saved.status_code == 303
    stored = load_library(web_settings.home / "strategy.yaml")
    got = next(o for _e, _p, o in stored.offers() if o.key == offer.key)
    assert got.unit_cost == 123 and got.script.zh == "测试话术"
    assert "Test script" in planner.get("/strategy").text
    bad = planner.post(
        f"/strategy/offers/{offer.key}",
        data={**form, "valid_to": "2000-01-01", "csrf_token": csrf_of(planner, "/strategy")},
    )
    assert bad.status_code == 400  # validity ends before it starts: the library refuses it
    assert clients["analyst"].post(f"/strategy/offers/{offer.key}", data=form).status_code == 403
