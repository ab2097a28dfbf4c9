"""The work queue under load over HTTP: 30 agents with API tokens claim and close tasks for 20 s
against the real app under uvicorn and a real PostgreSQL server (``bench/loadtest.py`` at a
reduced size; ``make loadtest`` runs 200 agents for 5 minutes).

Asserts the correctness counts only (latencies depend on the machine): no lost or duplicated
outcome, idempotent re-posts stored once, no task handed to two agents at once, one contact-log
row per outcome.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.web.worlds import new_db_url

pytestmark = pytest.mark.postgres

BENCH = Path(__file__).resolve().parents[2] / "bench" / "loadtest.py"


def _loadtest():
    spec = importlib.util.spec_from_file_location("weixi_bench_loadtest", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_thirty_agents_for_twenty_seconds_lose_and_duplicate_nothing(postgres_url, tmp_path):
    loadtest = _loadtest()
    url = new_db_url("postgres", tmp_path, postgres_url)
    report = loadtest.run(url, agents=30, seconds=20, tasks=3000, branches=11)
    print(report)
    counts = report["counts"]
    assert counts["errors"] == 0, report["first_errors"]
    assert counts["outcomes_answered"] > 100 and counts["reposts"] > 0, counts
    assert counts["call_backs"] > 0, counts
    assert set(counts["answers"]) <= {"claim 200", "outcome 200", "repost 200"}, counts
    assert all(n == 0 for n in report["problems"].values()), report["problems"]
