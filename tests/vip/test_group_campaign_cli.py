"""`weixi groups campaign` (preview, dispatch) and `weixi groups campaign-eval` end to end on a
store file: JSON out, nothing written by a preview, a clean message for a missing step."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.vip import group_world as gw
from weixi.cli import app
from weixi.store.analytics import connect

runner = CliRunner()


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_preview_dispatch_and_evaluation(settings):
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    con = connect(settings.duckdb_file)
    gw.build(con, 40)
    con.close()
    month = f"{gw.M1:%Y-%m}"
    preview = _json(["groups", "campaign", "--month", month, "--holdout", "0.3", "--json"])
    assert preview["dispatched"] is False and preview["campaign"] == f"group-{month}"
    assert preview["candidates"] == preview["treated"] + preview["control"] > 0
    assert len(preview["groups"]) == preview["candidates"]
    con = connect(settings.duckdb_file)
    assert con.execute("SELECT count(*) FROM group_campaign").fetchone()[0] == 0
    con.close()

    out = _json(["groups", "campaign", "--month", month, "--holdout", "0.3", "--dispatch",
                 "--json"])  # fmt: skip
    assert out["tasks_created"] == out["treated"]  # every treated group has a key person
    assert out["control"] == preview["control"]  # the same draw as the preview
    text = runner.invoke(app, ["groups", "campaign-eval", "--key", out["campaign"]])
    assert text.exit_code == 0 and "Not measured yet" in text.output

    con = connect(settings.duckdb_file)
    arms = dict(con.execute("SELECT group_id, is_control FROM group_campaign").fetchall())
    gw.next_month(con, arms, lambda i, n, ctl: n // 4 if ctl else 0)
    con.close()
    ev = _json(["groups", "campaign-eval", "--key", out["campaign"], "--json"])
    assert ev["measured_months"] == [f"{gw.M2:%Y-%m}"]
    assert ev["treated"]["churned"] == 0 and ev["control"]["churned"] > 0
    assert ev["churn_effect"]["effect"] > 0 and ev["tasks"] == {"status_open": out["treated"]}


def test_a_month_without_group_kpis_is_a_clean_error(settings):
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    con = connect(settings.duckdb_file)
    gw.build(con, 5)
    con.close()
    r = runner.invoke(app, ["groups", "campaign", "--month", "2026-03"])
    assert r.exit_code == 1 and "weixi groups kpis --month 2026-03" in r.output
