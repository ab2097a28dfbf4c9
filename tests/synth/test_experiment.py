"""A randomized experiment on the synthetic operator, written for `weixi uplift fit-eval`."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from weixi.cli import app
from weixi.errors import ConfigError
from weixi.ingest.schema import FIELDS
from weixi.synth.experiment import randomized_experiment
from weixi.synth.generate import SyntheticOperator


@pytest.fixture(scope="module")
def exp():
    return randomized_experiment(30_000, action="handset_upgrade", seed=3, warmup=1)


def test_the_arms_are_random_halves_of_the_lines_the_action_applies_to(exp):
    table = exp.table
    op = SyntheticOperator(30_000, seed=3)
    op.advance()
    mobile = pc.sum(pc.equal(op.snapshot().column("line_type"), "mobile")).as_py()
    cancelled = pc.sum(
        pc.and_(
            pc.equal(op.snapshot().column("line_type"), "mobile"),
            pc.equal(op.snapshot().column("status"), "cancelled"),
        )
    ).as_py()
    assert table.num_rows == mobile - cancelled  # every live mobile line, once
    assert set(table.column("line_type").to_pylist()) == {"mobile"}
    t = np.array(table.column("arm").to_pylist()) == "treated"
    assert abs(t.mean() - 0.5) < 0.02
    accepted = table.column("accepted")
    assert accepted.null_count == int((~t).sum())  # controls are never asked
    assert exp.truth.column("subscriber_id").equals(table.column("subscriber_id"))


def test_no_personal_data_and_dates_become_day_counts(exp):
    names = set(exp.table.column_names)
    assert not names & {"phone", "name", "id_number", "customer_id", "account_id", "month"}
    assert {"tenure_days", "days_to_contract_end", "handset_days"} <= names
    assert not names & {f.name for f in FIELDS if f.type == "date"}
    tenure = exp.table.column("tenure_days").to_numpy(zero_copy_only=False)
    assert (tenure >= 0).all()


def test_outcomes_follow_the_hidden_churn_and_the_accepted_offers(exp):
    t = np.array(exp.table.column("arm").to_pylist()) == "treated"
    stayed = exp.table.column("stayed").to_numpy()
    p = exp.truth.column("p_churn").to_numpy()
    # the control arm churns at its true rate (binomial 4-sigma band)
    n_c = int((~t).sum())
    band = 4 * np.sqrt(p[~t].mean() / n_c)
    assert abs((1 - stayed[~t]).mean() - p[~t].mean()) < band
    # treated lines who accepted churn less than their untreated rate by the true effect
    up = exp.truth.column("true_uplift").to_numpy()
    acc = np.asarray(exp.table.column("accepted").to_pylist(), dtype=object)
    took = t & (acc == True)  # noqa: E712 - nulls for controls
    assert took.sum() > 2_000
    p_acc = exp.truth.column("p_accept").to_numpy()
    assert abs(took.sum() / t.sum() - p_acc[t].mean()) < 4 * np.sqrt(0.25 / t.sum())
    assert abs(exp.truth.column("systematic_p_accept").to_numpy().mean() - p_acc.mean()) < 0.02
    expected_churn = (p[t] - up[t]).mean()
    assert abs((1 - stayed[t]).mean() - expected_churn) < 4 * np.sqrt(expected_churn / t.sum())
    # systematic effects are the truth without taste: close on average, not line by line
    sysu = exp.truth.column("systematic_uplift").to_numpy()
    assert abs(sysu.mean() - up.mean()) < 0.2 * abs(up.mean())
    assert not np.allclose(sysu, up)
    summary = exp.summary()
    assert summary["treated"] + summary["control"] == exp.table.num_rows
    assert summary["true_ate"] == pytest.approx(up.mean(), abs=1e-6)


def test_refuses_unknown_actions_and_shares():
    with pytest.raises(ConfigError, match="unknown action"):
        randomized_experiment(500, action="free_lunch")
    with pytest.raises(ConfigError, match="treated_share"):
        randomized_experiment(500, action="care_call", treated_share=1.0)


def test_cli_writes_a_file_fit_eval_reads(tmp_path):
    out = tmp_path / "exp.csv"
    res = CliRunner().invoke(
        app,
        [
            "generate-experiment",
            "-n",
            "12000",
            "--action",
            "prepay_speedup",
            "--seed",
            "2",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    truth = tmp_path / "exp.truth.csv"
    assert summary["truth"] == str(truth)
    assert pacsv.read_csv(out).num_rows == summary["rows"] == pacsv.read_csv(truth).num_rows
    assert set(pacsv.read_csv(out).column("line_type").to_pylist()) == {"broadband"}
    args = [
        "uplift",
        "fit-eval",
        "--csv",
        str(out),
        "--treatment",
        "arm",
        "--treated",
        "treated",
        "--control",
        "control",
        "--outcome",
        "stayed",
        "--id",
        "subscriber_id",
        "--drop",
        "accepted",
        "--truth",
        str(truth),
        "--test-size",
        "0.4",
    ]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert "accepted" not in report["columns"]["categorical"] + report["columns"]["numeric"]
    assert report["truth"]["rows"] == report["n_test"]
    assert set(report["truth"]) == {"rows", "true_uplift", "systematic_uplift"}
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "Qini" in res.stdout
