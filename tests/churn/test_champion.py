"""Champion / challenger: the promotion rule on real models trained on the synthetic history."""

import json

import numpy as np
import pytest

from weixi.churn import champion, registry, service
from weixi.churn.params import PromotionParams
from weixi.store import schema


def _with(params, **monthly):
    """``params`` with the 1-month horizon only (fast) and some monthly settings replaced."""
    lgbm = params.monthly.lightgbm.model_copy(update=monthly.pop("lightgbm", {}))
    upd = {"horizons": (1,), "lightgbm": lgbm, **monthly}
    return params.model_copy(update={"monthly": params.monthly.model_copy(update=upd)})


@pytest.fixture
def good(fast_params):
    return _with(fast_params)


@pytest.fixture
def stump(fast_params):
    """A clearly worse model: three one-split trees (it sees one feature at a time)."""
    return _with(fast_params, lightgbm={"num_boost_round": 3, "max_depth": 1, "num_leaves": 2})


def test_first_model_is_champion_and_a_worse_challenger_is_kept(history_con, good, stump):
    con, months = history_con
    first = service.train(con=con, month=months[-2], params=good, promote="challenger")
    assert first["decision"] == "promoted" and first["reason"] == "no_champion"
    assert first["active"] and first["champion"] is None and first["d_auc"] is None

    worse = service.train(con=con, month=months[-1], params=stump, promote="challenger")
    assert worse["decision"] == "kept" and worse["reason"] == "auc_not_better"
    assert not worse["active"] and registry.get_active(con) == first["version"]
    # the out-of-time month: the newest labelled one, after both boosters' training months
    assert worse["eval_month"] == f"{months[-2]:%Y-%m}" and worse["champion"] == first["version"]
    assert worse["auc_challenger"] < worse["auc_champion"] - 0.02
    assert worse["d_auc_lo"] < worse["d_auc"] < worse["d_auc_hi"] < 0
    assert worse["d_lift_lo"] <= worse["d_lift"] <= worse["d_lift_hi"]
    assert worse["n"] > 2500 and 30 <= worse["churners"] < worse["n"]

    roles = {m["version"]: m["role"] for m in registry.get_all(con)}
    assert roles == {first["version"]: "champion", worse["version"]: "challenger"}
    rows = registry.get_decisions(con, worse["version"])
    assert [r["reason"] for r in rows] == ["auc_not_better"]
    assert json.loads(rows[0]["rule"])["auc_basis"] == "lower_bound"
    zh = champion.describe(rows[0], "zh-CN")
    assert first["version"] in zh and "不优于" in zh
    assert "is not above the margin" in champion.describe(rows[0], "en")

    view = registry.overview(con)
    assert view["champion"]["version"] == first["version"]
    assert view["challenger"]["version"] == worse["version"]
    assert view["comparison"]["reason"] == "auc_not_better"
    assert view["challenger"]["auc"] == pytest.approx(worse["auc_challenger"])
    assert view["champion"]["auc"] == pytest.approx(worse["auc_champion"])


def test_a_clearly_better_challenger_replaces_the_champion(history_con, good, stump):
    con, months = history_con
    weak = service.train(con=con, month=months[-2], params=stump, promote="challenger")
    assert weak["reason"] == "no_champion"
    strong = service.train(con=con, month=months[-1], params=good, promote="challenger")
    assert strong["decision"] == "promoted" and strong["reason"] == "beats_champion"
    assert strong["d_auc_lo"] > 0 and strong["d_lift"] > 0
    assert registry.get_active(con) == strong["version"]
    roles = {m["version"]: m["role"] for m in registry.get_all(con)}
    assert roles == {weak["version"]: "retired", strong["version"]: "champion"}
    # the page and `churn models` show the champion beside the model it replaced
    view = registry.overview(con)
    assert view["challenger"]["version"] == weak["version"]
    assert view["challenger"]["role"] == "retired"
    assert view["comparison"]["reason"] == "beats_champion"
    assert "Beats " + weak["version"] in champion.describe(view["comparison"], "en")

    # a manual override brings the retired model back and is recorded
    rec = service.promote_manually(con=con, version=weak["version"], actor="cli:test")
    assert rec["champion"] == strong["version"] and rec["reason"] == "manual"
    roles = {m["version"]: m["role"] for m in registry.get_all(con)}
    assert roles == {weak["version"]: "champion", strong["version"]: "retired"}


def test_no_out_of_time_month_keeps_the_champion(history_con, good):
    con, months = history_con
    newest = service.train(con=con, month=months[-1], params=good)
    # a challenger trained as of an older month: every month it could be judged on was in
    # the champion's training window
    older = service.train(con=con, month=months[-3], params=good, promote="challenger")
    assert older["decision"] == "kept" and older["reason"] == "no_oot_month"
    assert older["eval_month"] is None and older["d_auc"] is None
    assert registry.get_active(con) == newest["version"]
    assert "No out-of-time month" in older["reason_text"]


def test_explicit_promotion_still_records_the_comparison(history_con, good, stump):
    con, months = history_con
    service.train(con=con, month=months[-2], params=good)
    forced = service.train(con=con, month=months[-1], params=stump, promote=True)
    assert forced["decision"] == "promoted" and forced["reason"] == "promoted_on_request"
    assert forced["d_auc"] < 0  # the figures are kept even when the rule is overridden
    plain = service.train(con=con, month=months[-1], params=good)
    assert plain["decision"] == "kept" and plain["reason"] == "not_requested"


def test_decide_applies_margin_basis_and_lift_tolerance():
    fig = {"churners": 40, "d_auc": 0.004, "d_auc_lo": -0.001, "d_auc_hi": 0.009, "d_lift": -0.05}
    lower = PromotionParams()
    point = PromotionParams(auc_basis="point", auc_margin=0.003)
    assert champion.decide(fig, lower, has_champion=True) == ("kept", "auc_not_better")
    assert champion.decide(fig, point, has_champion=True) == ("promoted", "beats_champion")
    assert champion.decide({**fig, "d_lift": -0.2}, point, has_champion=True) == (
        "kept",
        "lift_worse",
    )
    tolerant = point.model_copy(update={"lift_tolerance": 0.3})
    assert champion.decide({**fig, "d_lift": -0.2}, tolerant, has_champion=True)[0] == "promoted"
    assert champion.decide(None, lower, has_champion=True) == ("kept", "no_oot_month")
    few = {**fig, "churners": 29}  # below min_churners (30): too noisy to replace a model
    assert champion.decide(few, point, has_champion=True) == ("kept", "too_few_churners")
    assert champion.decide(None, lower, has_champion=False) == ("promoted", "no_champion")
    nan = {**fig, "d_auc_lo": np.nan}  # one class only: no AUC, no promotion
    assert champion.decide(nan, lower, has_champion=True) == ("kept", "auc_not_better")
    # every reason has a sentence in both languages
    for reason in champion.REASONS:
        rec = {"reason": reason, "champion": "c-1", "eval_month": None, "rule": "{}", **fig}
        assert champion.describe(rec, "en") != champion.describe(rec, "zh-CN")


def test_registry_without_roles_is_migrated(history_con, good):
    con, months = history_con
    info = service.train(con=con, month=months[-2], params=good)
    # a store written before roles and before schema versions
    con.execute("ALTER TABLE churn_models DROP COLUMN role")
    con.execute("DROP TABLE schema_version")
    schema.upgrade(con)  # what opening it does
    assert con.execute("SELECT role FROM churn_models").fetchall() == [("champion",)]
    assert registry.get_active(con) == info["version"]
