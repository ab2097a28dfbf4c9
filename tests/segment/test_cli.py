"""The CLI: `weixi segment --month … --json`, `segment export`, `segment check`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.segment.helpers import load_history
from weixi.cli import app
from weixi.segment.rules import DIMENSION_KEYS


def test_segment_json_export_and_check(settings, tmp_path):
    from weixi.store.analytics import connect

    con = connect()
    months = load_history(con, n=400, months=2, seed=8)
    con.close()
    month = f"{months[-1]:%Y-%m}"
    runner = CliRunner()
    res = runner.invoke(app, ["segment", "--month", month, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(DIMENSION_KEYS) <= set(out["counts"])
    assert sum(out["counts"]["stability_group"].values()) == out["kept"]
    assert out["funnel"][0]["remaining"] == out["subscribers"]
    assert out["funnel"][-1]["remaining"] == out["kept"]
    assert out["clusters"] and out["clusters"][0]["description_zh"]

    res = runner.invoke(
        app, ["segment", "export", "--month", month, "--out", str(tmp_path / "l.csv"), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"] == out["subscribers"]

    res = runner.invoke(app, ["segment", "check", "--month", month, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["issues"] == []

    res = runner.invoke(app, ["--lang", "zh-CN", "segment", "--month", month])
    assert res.exit_code == 0 and "剔除漏斗" in res.stdout and "公免" in res.stdout

    # --lang sets the process's language (one CLI run is one process): back to English here
    res = runner.invoke(app, ["--lang", "en", "segment", "--month", "2031-01"])
    assert res.exit_code == 1 and "not loaded" in res.output
    res = runner.invoke(app, ["--lang", "zh-CN", "segment", "--month", "2031-01"])
    assert res.exit_code == 1 and "尚未导入" in res.output and "not loaded" not in res.output
    res = runner.invoke(app, ["--lang", "en", "segment", "--month", month, "--preset", "nope.yaml"])
    assert res.exit_code == 1 and "not found" in res.output
