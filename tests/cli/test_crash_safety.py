"""Crash safety, with real processes: ``weixi import`` and ``weixi plan`` run in a subprocess and
are killed with SIGKILL at several points of their run; the stores must then be in the previous
or the next consistent state, and running the step again must finish cleanly with exactly the
result of an uninterrupted run.

Kill points: some are spread over the measured length of an uninterrupted run (a seeded random
jitter around 35 %, 75 % and 92 % of it: start-up, reading, validation); the others watch the
store's files and kill at the commit itself, which a timer rarely hits: the moment DuckDB's WAL
grows past its first write (the month's or plan's transaction being committed), the moment it
disappears (after the checkpoint) and, for a plan, the moment SQLite's WAL grows (the tasks'
commit).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FRACTIONS = (0.35, 0.75, 0.92)
DUCK_WAL, SQLITE_WAL = "weixi.duckdb.wal", "weixi.sqlite-wal"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIXI_")}
    env.update(
        WEIXI_HOME=str(home),
        WEIXI_ENV="test",
        WEIXI_LANG="en",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    )
    return env


def _weixi(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "weixi", *args],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _run(home: Path, *args: str) -> float:
    """Run to completion; return the wall time."""
    started = time.perf_counter()
    proc = _weixi(home, *args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return time.perf_counter() - started


def _kill_at(home: Path, delay: float, *args: str) -> int | None:
    """Start the command and SIGKILL it after ``delay`` s; its return code (None: killed)."""
    proc = _weixi(home, *args)
    try:
        proc.wait(timeout=delay)
        return proc.returncode  # finished before the kill point
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return None


def _kill_on(home: Path, trigger: tuple[str, str], *args: str) -> str:
    """Start the command and SIGKILL it when ``trigger`` happens to a file of ``home``:
    ``("grows", name)`` (bigger than when first seen) or ``("gone", name)`` (seen, then removed).
    Return what happened: ``killed`` or ``finished`` (the trigger never came)."""
    kind, name = trigger
    path = home / name
    proc = _weixi(home, *args)
    first: int | None = None
    while proc.poll() is None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = None
        if first is None:
            first = size
        elif (kind == "grows" and size is not None and size > first) or (
            kind == "gone" and size is None
        ):
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            return "killed"
        time.sleep(0.001)
    return "finished"


def _kills(home_for, full: float, seed: int, triggers, *args: str):
    """Yield ``(home, how)`` after each kill (timed ones first, then the file triggers)."""
    rng = random.Random(seed)
    for i, f in enumerate(FRACTIONS):
        home = home_for(f"t{i}")
        delay = full * (f + rng.uniform(-0.05, 0.05))
        rc = _kill_at(home, delay, *args)
        yield home, f"at {delay:.2f}s" + (" (had finished)" if rc is not None else "")
    for trigger in triggers:
        home = home_for("-".join(trigger))
        yield home, f"when {trigger[1]} {trigger[0]}: {_kill_on(home, trigger, *args)}"


# --- import ---------------------------------------------------------------------------------


def _import_state(home: Path) -> tuple:
    con = duckdb.connect(str(home / "weixi.duckdb"))  # read-write: replays a WAL if one is left
    try:
        snap = con.execute(
            "SELECT month, count(*), sum(hash(subscriber_id, status, arpu, phone)) "
            "FROM snapshot GROUP BY 1 ORDER BY 1"
        ).fetchall()
        quarantine = con.execute(
            "SELECT month, count(*) FROM quarantine GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return tuple(snap), tuple(quarantine)


def _runs(home: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(home / "weixi.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT run_id, status FROM import_runs WHERE month = DATE '2025-10-01' "
            "ORDER BY started_at"
        ).fetchall()
    finally:
        con.close()


def test_import_killed_leaves_previous_or_next_month_and_reruns_cleanly(tmp_path):
    raw = tmp_path / "raw"
    generate = ("generate", "--subscribers", "80000", "--months", "2", "--seed", "3")
    gen = subprocess.run(
        [sys.executable, "-m", "weixi", *generate, "--out", str(raw)],
        env=_env(tmp_path / "gen"),
        capture_output=True,
        check=False,
    )
    assert gen.returncode == 0, gen.stderr.decode()
    mapping = str(raw / "mapping.yaml")
    month1 = ["import", "--month", "2025-09", "--mapping", mapping]
    month2 = ["import", "--month", "2025-10", "--mapping", mapping]
    base = tmp_path / "base"
    _run(base, *month1, str(raw / "subscribers_2025-09.csv"))
    prev = _import_state(base)
    ref = tmp_path / "ref"
    shutil.copytree(base, ref)
    full = _run(ref, *month2, str(raw / "subscribers_2025-10.csv"))
    nxt = _import_state(ref)
    assert prev != nxt and len(nxt[0]) == 2

    def home_for(tag: str) -> Path:
        home = tmp_path / f"kill-{tag}"
        shutil.copytree(base, home)
        return home

    seen = []
    args = (*month2, str(raw / "subscribers_2025-10.csv"))
    triggers = [("grows", DUCK_WAL), ("gone", DUCK_WAL)]
    for home, how in _kills(home_for, full, 11, triggers, *args):
        state = _import_state(home)
        assert state in (prev, nxt), f"kill {how} left a mixed state"
        seen.append(f"{how} -> {'next' if state == nxt else 'previous'}")
        # run again: a killed run is reported as interrupted, the new one succeeds
        _run(home, *args)
        statuses = [s for _, s in _runs(home)]
        assert statuses[-1] == "succeeded" and "running" not in statuses, statuses
        assert _import_state(home) == nxt
    print(f"import kill outcomes (full run {full:.1f} s):", *seen, sep="\n  ")


# --- plan -----------------------------------------------------------------------------------

CAMPAIGN = (
    "key: crash\nname: {en: Crash test, zh: 崩溃测试}\n"
    "period_start: 2026-01-01\nperiod_end: 2026-01-01\nbudget: 200000\ncontrol_share: 0.1\n"
)


def _plan_state(home: Path) -> dict:
    con = duckdb.connect(str(home / "weixi.duckdb"))
    try:
        has = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        plans = (
            con.execute(
                "SELECT version, status, on_list, control FROM plans ORDER BY version"
            ).fetchall()
            if "plans" in has
            else []
        )
        assign = (
            con.execute(
                "SELECT plan_version, count(*), sum(hash(subscriber_id, action, channel, "
                "is_control)) FROM plan_assignments GROUP BY 1 ORDER BY 1"
            ).fetchall()
            if "plan_assignments" in has
            else []
        )
    finally:
        con.close()
    engine = sa.create_engine(f"sqlite:///{home / 'weixi.sqlite'}")
    try:
        with engine.connect() as c:
            tasks = c.execute(
                sa.text(
                    "SELECT count(*), count(DISTINCT subscriber_id), min(subscriber_id), "
                    "max(subscriber_id) FROM tasks WHERE status = 'open'"
                )
            ).one()
    finally:
        engine.dispose()
    return {"plans": plans, "assign": assign, "tasks": tuple(tasks)}


def test_plan_killed_leaves_previous_or_next_plan_and_reruns_cleanly(tmp_path):
    from tests.strategy.factories import load, random_segments
    from weixi.web import migrate

    base = tmp_path / "base"
    base.mkdir()
    con = duckdb.connect(str(base / "weixi.duckdb"))
    seg, scores = random_segments(40000, seed=4, n_branches=3)
    load(con, seg, scores)
    con.close()
    migrate.upgrade(f"sqlite:///{base / 'weixi.sqlite'}")
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    args = ("plan", "--month", "2026-01", "--campaign", str(campaign))
    prev = _plan_state(base)
    ref = tmp_path / "ref"
    shutil.copytree(base, ref)
    full = _run(ref, *args)
    nxt = _plan_state(ref)
    assert nxt["tasks"][0] > 0 and nxt["plans"][0][:2] == (1, "approved")

    def home_for(tag: str) -> Path:
        home = tmp_path / f"kill-{tag}"
        shutil.copytree(base, home)
        return home

    seen = []
    triggers = [("grows", DUCK_WAL), ("grows", SQLITE_WAL), ("gone", DUCK_WAL)]
    for home, how in _kills(home_for, full, 12, triggers, *args):
        state = _plan_state(home)
        if state == prev:
            seen.append(f"{how} -> previous")
        elif state == nxt:
            seen.append(f"{how} -> next")
        else:
            # The plan is stored in one DuckDB transaction, pending, and the tasks in one SQLite
            # transaction committed after it; the version turns approved once they commit. A
            # kill in between leaves a complete plan version that is pending (never evaluated),
            # with the tasks either not written or complete; the re-run settles it.
            assert [p[0] for p in state["plans"]] == [1] and state["plans"][0][1] == "pending"
            assert state["plans"][0][2:] == nxt["plans"][0][2:]
            assert state["assign"] == nxt["assign"]
            assert state["tasks"] in (prev["tasks"], nxt["tasks"]), state
            seen.append(
                f"{how} -> plan stored pending, tasks {'not ' * (state['tasks'] == prev['tasks'])}written"
            )
        _run(home, *args)  # the re-run finishes cleanly
        after = _plan_state(home)
        last = after["assign"][-1]
        assert last[1:] == nxt["assign"][0][1:]  # the same allocation as an unkilled run
        assert after["plans"][-1][1:] == nxt["plans"][0][1:]
        assert after["tasks"] == nxt["tasks"]
    print(f"plan kill outcomes (full run {full:.1f} s):", *seen, sep="\n  ")


# --- segmentation ---------------------------------------------------------------------------

SEGMENT_TABLES = (
    "segments",
    "segment_profiles",
    "segment_migration",
    "segment_funnel",
    "segment_clusters",
)


def _segment_state(home: Path) -> dict:
    """Per segment table and month: rows, an order-free hash of the non-double columns and the
    sum of each double column (segment_runs: rows and preset only, its times differ from run to
    run). Doubles are compared with a tolerance by ``_same``: parallel sums differ in their last
    bits from run to run, and means of two-decimal amounts over a few lines land exactly on
    rounding boundaries, so rounding them before hashing is not stable."""
    con = duckdb.connect(str(home / "weixi.duckdb"))  # read-write: replays a WAL if one is left
    try:
        out = {}
        for t in SEGMENT_TABLES:
            types = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [t],
            ).fetchall()
            exact = ", ".join(f'"{c}"' for c, ty in types if ty != "DOUBLE")
            sums = "".join(f', sum("{c}")' for c, ty in types if ty == "DOUBLE")
            out[t] = con.execute(
                f"SELECT month, count(*), sum(hash({exact})){sums} FROM {t} GROUP BY 1 ORDER BY 1"
            ).fetchall()
        out["segment_runs"] = con.execute(
            "SELECT month, count(*), min(preset), sum(subscribers) FROM segment_runs "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return out


def _same(a: dict, b: dict) -> bool:
    """Two segment states hold the same rows (doubles equal to a relative 1e-9)."""
    if a.keys() != b.keys():
        return False
    for t in a:
        if len(a[t]) != len(b[t]):
            return False
        for ra, rb in zip(a[t], b[t], strict=True):
            if len(ra) != len(rb):
                return False
            for x, y in zip(ra, rb, strict=True):
                if isinstance(x, float) or isinstance(y, float):
                    if x is None or y is None or not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                        return False
                elif x != y:
                    return False
    return True


def test_segment_killed_leaves_previous_or_next_month_and_reruns_cleanly(tmp_path):
    raw = tmp_path / "raw"
    generate = ("generate", "--subscribers", "30000", "--months", "2", "--seed", "5")
    gen = subprocess.run(
        [sys.executable, "-m", "weixi", *generate, "--out", str(raw)],
        env=_env(tmp_path / "gen"),
        capture_output=True,
        check=False,
    )
    assert gen.returncode == 0, gen.stderr.decode()
    mapping = str(raw / "mapping.yaml")
    base = tmp_path / "base"
    for month in ("2025-09", "2025-10"):
        _run(
            base,
            "import",
            "--month",
            month,
            "--mapping",
            mapping,
            str(raw / f"subscribers_{month}.csv"),
        )
    _run(base, "segment", "--month", "2025-09")
    prev = _segment_state(base)
    ref = tmp_path / "ref"
    shutil.copytree(base, ref)
    args = ("segment", "--month", "2025-10")
    full = _run(ref, *args)
    nxt = _segment_state(ref)
    assert not _same(prev, nxt) and len(nxt["segments"]) == 2

    def home_for(tag: str) -> Path:
        home = tmp_path / f"kill-{tag}"
        shutil.copytree(base, home)
        return home

    seen = []
    triggers = [("grows", DUCK_WAL), ("gone", DUCK_WAL)]
    for home, how in _kills(home_for, full, 13, triggers, *args):
        state = _segment_state(home)
        assert _same(state, prev) or _same(state, nxt), f"kill {how} left a mixed state"
        seen.append(f"{how} -> {'next' if _same(state, nxt) else 'previous'}")
        _run(home, *args)  # the re-run finishes cleanly, with the reference's result
        assert _same(_segment_state(home), nxt)
    print(f"segment kill outcomes (full run {full:.1f} s):", *seen, sep="\n  ")


# --- outcome file upload --------------------------------------------------------------------

# What a background job of the web app does with an uploaded outcome file
# (weixi.web.jobs.outcome_file → weixi.web.outcome_files.record_file), in its own process.
UPLOAD = """
import sys, types
from pathlib import Path
from weixi.config import get_settings
from weixi.web import jobs
from weixi.store.db import session_scope
from weixi.auth.models import User
from sqlalchemy import select
path = Path(sys.argv[1])
with session_scope() as s:
    uid = s.execute(select(User.id).where(User.username == "crash")).scalar_one()
run = jobs.outcome_file(settings=get_settings(), user_id=uid, name=path.name, data=path.read_bytes())
out = run(types.SimpleNamespace(progress=lambda *a, **k: None))
assert out["balanced"], out
print(out["recorded"], out["repeated"], len(out["rejected"]))
"""


def _upload(home: Path, csv_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", UPLOAD, str(csv_path)],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _outcome_state(home: Path) -> dict:
    engine = sa.create_engine(f"sqlite:///{home / 'weixi.sqlite'}")
    try:
        with engine.connect() as c:
            outcomes = c.execute(
                sa.text(
                    "SELECT count(*), count(DISTINCT task_id), sum(task_id), "
                    "count(*) FILTER (WHERE result = 'accepted') FROM outcomes"
                )
            ).one()
            log = c.execute(sa.text("SELECT count(*) FROM contact_log")).one()
            tasks = c.execute(
                sa.text("SELECT status, count(*) FROM tasks GROUP BY 1 ORDER BY 1")
            ).all()
    finally:
        engine.dispose()
    return {"outcomes": tuple(outcomes), "log": tuple(log), "tasks": [tuple(r) for r in tasks]}


def test_outcome_upload_killed_leaves_previous_or_next_and_reruns_cleanly(tmp_path):
    from tests.strategy.factories import load, random_segments
    from weixi.web import migrate

    base = tmp_path / "base"
    base.mkdir()
    con = duckdb.connect(str(base / "weixi.duckdb"))
    seg, scores = random_segments(20000, seed=6, n_branches=2)
    load(con, seg, scores)
    con.close()
    migrate.upgrade(f"sqlite:///{base / 'weixi.sqlite'}")
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    _run(base, "plan", "--month", "2026-01", "--campaign", str(campaign))
    _run(
        base,
        "user",
        "create",
        "--username",
        "crash",
        "--role",
        "planner",
        "--password",
        "crash-test-1",
    )
    engine = sa.create_engine(f"sqlite:///{base / 'weixi.sqlite'}")
    with engine.connect() as c:
        ids = [r[0] for r in c.execute(sa.text("SELECT id FROM tasks ORDER BY id LIMIT 3000"))]
    engine.dispose()
    assert len(ids) >= 1000
    # every kind of row: recorded outcomes of three results, and one rejected (unknown result)
    results = ("not_reached,", "accepted,", "refused,too expensive", "busy,")
    csv_path = tmp_path / "dialer.csv"
    csv_path.write_text(
        "task_id,result,refusal_reason\n"
        + "".join(f"{tid},{results[i % 4]}\n" for i, tid in enumerate(ids)),
        encoding="utf-8",
    )
    prev = _outcome_state(base)
    ref = tmp_path / "ref"
    shutil.copytree(base, ref)
    started = time.perf_counter()
    proc = _upload(ref, csv_path)
    out, err = proc.communicate(timeout=600)
    full = time.perf_counter() - started
    assert proc.returncode == 0, err.decode()
    recorded = int(out.split()[0])
    assert recorded > 0
    nxt = _outcome_state(ref)
    assert nxt["outcomes"][0] == prev["outcomes"][0] + recorded

    rng = random.Random(14)
    seen = []
    points = [("timed", full * (f + rng.uniform(-0.05, 0.05))) for f in FRACTIONS]
    points.append(("grows", SQLITE_WAL))
    for i, (kind, arg) in enumerate(points):
        home = tmp_path / f"kill-{i}"
        shutil.copytree(base, home)
        proc = _upload(home, csv_path)
        how = "finished"
        if kind == "timed":
            try:
                proc.wait(timeout=arg)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                how = "killed"
            how = f"at {arg:.2f}s: {how}"
        else:
            path, first = home / arg, None
            while proc.poll() is None:
                size = path.stat().st_size if path.exists() else None
                if first is None:
                    first = size
                elif size is not None and size > (first or 0):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=60)
                    how = "killed"
                    break
                time.sleep(0.001)
            how = f"when {arg} grows: {how}"
        proc.communicate()
        state = _outcome_state(home)
        assert state in (prev, nxt), f"kill {how} left a mixed state: {state}"
        seen.append(f"{how} -> {'next' if state == nxt else 'previous'}")
        again = _upload(home, csv_path)  # uploading the file again finishes cleanly
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err.decode()
        assert _outcome_state(home) == nxt  # each row recorded once: the rest are repeats
    print(f"outcome upload kill outcomes (full run {full:.1f} s):", *seen, sep="\n  ")
