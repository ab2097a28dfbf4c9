"""The whole-cycle benchmark behind ``weixi bench``: one synthetic province through the real
monthly cycle, timed step by step, with two anchors (a plain scan and a naive pandas pipeline).

Nothing here re-implements a product step: the cycle calls the import service, the monthly job
(:func:`weixi.flows.run_month`: segmentation, churn training and scoring, uplift, matching,
allocation, lists and tasks), the outcome-file recording and the evaluation. Only the anchors
are written here, on purpose, as yardsticks.

Layout of one run:

* **input** (cached under ``cache_dir``): ``months + 1`` consecutive months of a
  :class:`~weixi.synth.generate.SyntheticOperator` written as the operator's raw export (CSV)
  and as Parquet, with the mapping. Generated once per (subscribers, months, seed).
* **history** (untimed): months ``1 … months-1`` are imported and run through the monthly job,
  so the timed month has labels to train on.
* **cycle** (timed, month ``months``): import + validate, the monthly job's steps, an outcome
  file of 10 % of the month's tasks recorded through the dispatch service, then — after the
  next month's snapshot is imported (untimed: it is the next cycle's import) — the evaluation
  of the month's campaign (execution record + lift against control).
* **anchors**: ``parquet_floor_s`` (read every column of the cycle month's Parquet file),
  ``import_floor_s`` (DuckDB's plain CSV → table load of the same CSV), and the naive pandas
  import + segmentation + scoring on ``min(N, 2 M)`` lines.

Within the cycle each step (an import, the monthly job, the evaluation) opens the store on its
own connection, as the separate commands of a real month do: DuckDB deletes a connection's spill
file when it closes, so one step's spill does not stay on disk for the next.

Each part runs in its own process; the peak RSS is the largest resident memory of the timed
cycle's process tree (sampled from ``/proc`` every 0.2 s, and the process's own high-water
mark). Run as a module (``python -m weixi.benchmark PART ARGS_JSON``) for one part.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PANDAS_MAX_LINES = 2_000_000
OUTCOME_SHARE = 0.10
START_MONTH = "2026-01"


# --------------------------------------------------------------------------- process tree RSS


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            path = f"/proc/{pid}/task/{tid}/children"
            with open(path) as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += _rss_bytes(p)
        todo += _children(p)
    return total


class StagePeaks:
    """Samples this process's resident memory and keeps the peak of each named stage: which
    step of a long run sets its high-water mark (the RSS of the whole tree is ``run_part``'s)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.stage = "set-up"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)

    def _sample(self, interval: float) -> None:
        while not self._stop.is_set():
            self.note()
            self._stop.wait(interval)

    def note(self) -> None:
        """Record the current RSS against the current stage."""
        rss = _rss_bytes(os.getpid())
        stage = self.stage
        self.peaks[stage] = max(self.peaks.get(stage, 0), rss)

    def enter(self, stage: str) -> None:
        """The stages after this call are ``stage`` (the monthly job's step messages)."""
        self.note()
        self.stage = stage

    def __enter__(self) -> StagePeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.note()

    def gib(self) -> dict[str, float]:
        """{stage: peak GiB}, in the order the stages ran."""
        return {k: round(v / 2**30, 2) for k, v in self.peaks.items()}


def run_part(part: str, args: dict[str, Any], *, env: dict[str, str] | None = None) -> dict:
    """Run one part in a fresh process; its JSON result plus ``peak_tree_rss_gib``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "weixi.benchmark", part, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": _pythonpath(), **(env or {})},
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise RuntimeError(f"benchmark part {part!r} failed:\n{tail}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_tree_rss_gib"] = round(max(peak, result.get("_maxrss", 0)) / 2**30, 3)
    result.pop("_maxrss", None)
    return result


def _pythonpath() -> str:
    """PYTHONPATH that makes a child import this very ``weixi`` (a checkout, not the install)."""
    here = str(Path(__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH")
    return here + (os.pathsep + rest if rest else "")


def _maxrss() -> int:
    """High-water resident bytes of this process (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------- input (cached)


def input_dir(cache_dir: Path, subscribers: int, months: int, seed: int) -> Path:
    """Folder of the cached input of one (subscribers, months, seed)."""
    return Path(cache_dir) / f"n{subscribers}-m{months + 1}-s{seed}"


def part_generate(a: dict) -> dict:
    """Write ``months + 1`` months in each of ``formats`` (``csv``, the operator's export, and
    ``parquet``), once per format."""
    from weixi.store.months import parse_month
    from weixi.synth.generate import SyntheticOperator
    from weixi.synth.raw import write_raw

    root = Path(a["dir"])
    out: dict[str, Any] = {}
    for fmt in a.get("formats", ("csv", "parquet")):
        folder = root / fmt
        done = folder / "done.json"
        if done.exists():
            out[fmt] = json.loads(done.read_text())
            continue
        t0 = time.perf_counter()
        op = SyntheticOperator(
            a["subscribers"], seed=a["seed"], start_month=parse_month(START_MONTH)
        )
        written = write_raw(op, folder, months=a["months"] + 1, fmt=fmt, batch_size=250_000)
        written["generate_s"] = round(time.perf_counter() - t0, 2)
        done.write_text(json.dumps(written))
        out[fmt] = written
        del op
    return {"input": out, "_maxrss": _maxrss()}


# --------------------------------------------------------------------------- the cycle


def _outcome_file(session, month: dt.date, share: float, seed: int) -> tuple[bytes, int]:
    """A dialer's result file for ``share`` of ``month``'s open tasks (random results)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from sqlalchemy import select

    from weixi.dispatch.models import Task, TaskStatus

    ids = np.asarray(
        session.execute(
            select(Task.id).where(Task.month == month, Task.status == TaskStatus.open.value)
        )
        .scalars()
        .all(),
        dtype=np.int64,
    )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(ids, size=round(len(ids) * share), replace=False))
    results = rng.choice(
        np.array(["accepted", "refused", "not_reached", "call_back"]),
        size=len(pick),
        p=[0.3, 0.3, 0.3, 0.1],
    )
    reason = np.where(results == "refused", "price", "")
    callback = np.where(results == "call_back", (month + dt.timedelta(days=20)).isoformat(), "")
    table = pa.table(
        {"task_id": pick, "result": results, "refusal_reason": reason, "callback_at": callback}
    )
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes(), len(pick)


def part_cycle(a: dict) -> dict:
    """Import the history, then time the cycle of the last month (see the module docstring)."""
    from weixi import config
    from weixi.store import db

    home = Path(a["home"])
    os.environ["WEIXI_HOME"] = str(home)
    os.environ.pop("WEIXI_DATABASE_URL", None)
    os.environ.pop("WEIXI_ANALYTICS_PATH", None)
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()

    from weixi import summaries
    from weixi.auth import service as auth_service
    from weixi.dispatch.schemas import default_campaign
    from weixi.evaluate import service as evaluate_service
    from weixi.flows import run_month, summarize, sync_contact_outcomes
    from weixi.ingest.service import import_month
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.store.months import parse_month
    from weixi.web import migrate as migrations

    fmt = a["input"]
    src = json.loads((Path(a["dir"]) / fmt / "done.json").read_text())
    mapping = Path(src["mapping"])
    months = [(parse_month(m["month"]), Path(m["file"])) for m in src["months"]]
    *cycle_months, (next_month, next_file) = months
    migrations.upgrade()
    steps: dict[str, float] = {}
    history: dict[str, float] = {}
    detail: dict[str, Any] = {}

    def timed(bucket: dict, name: str, func):
        t0 = time.perf_counter()
        out = func()
        bucket[name] = round(bucket.get(name, 0.0) + time.perf_counter() - t0, 2)
        return out

    # each step on its own connection, as the separate commands (`weixi import`, `weixi run`,
    # `weixi evaluate`) of a real month hold it: DuckDB's spill file and the steps' temporary
    # tables go with the connection, so one step's spill does not stay on disk for the next
    # (a 30 M month spills tens of GB); the web snapshot is published once, after the last step
    def store(last: bool = False):
        return open_store(publish=last)

    with StagePeaks() as peaks:
        with session_scope() as session:
            admin = auth_service.create(
                session=session, username="bench", password="bench-" * 3, role="planner"
            )
            admin_id = admin.id
        for i, (month, path) in enumerate(cycle_months):
            last = i == len(cycle_months) - 1
            bucket = steps if last else history
            peaks.enter(f"import {month:%Y-%m}" if last else "history")
            with store() as con:
                imported = timed(
                    bucket,
                    "import",
                    lambda month=month, path=path, con=con: import_month(
                        con=con, month=month, mapping=mapping, paths=[path]
                    ),
                )
            with store() as con, session_scope() as session:
                spec = default_campaign(month)
                t0 = time.perf_counter()
                rep = run_month(
                    con=con,
                    session=session,
                    month=month,
                    campaign=spec,
                    on_step=peaks.enter if last else None,
                )
                elapsed = time.perf_counter() - t0
            if not last:
                history["monthly_job"] = round(history.get("monthly_job", 0) + elapsed, 2)
                continue
            for name, secs in rep.seconds.items():
                # the job's own evaluation is of the month before (the bench's own evaluate,
                # at the end, is of this month): two steps, two keys
                steps["evaluate_previous" if name == "evaluate" else name] = secs
            detail["import"] = summarize(imported)
            plan = rep.steps.get("plan")
            if isinstance(plan, dict):
                detail["plan_seconds"] = plan.get("seconds")
                detail["on_list"] = plan.get("on_list")
                detail["tasks"] = plan.get("tasks_written")
            detail["churn_score"] = rep.steps.get("churn_score")
            if not isinstance(plan, dict):
                raise RuntimeError(f"the monthly job did not plan {month}: {rep.steps}")

            # an outcome file of 10 % of the month's tasks, recorded as the web upload does
            from weixi.auth.models import User
            from weixi.dispatch.outcome_files import record_file

            with session_scope() as session:
                data, rows = _outcome_file(session, month, OUTCOME_SHARE, a["seed"])
            peaks.enter("outcome file")
            t0 = time.perf_counter()
            with session_scope() as session:
                user = session.get(User, admin_id)
                report = record_file(session=session, user=user, name="bench.csv", data=data)
            steps["outcome_file"] = round(time.perf_counter() - t0, 2)
            detail["outcome_file"] = {
                "rows": rows,
                "recorded": report.recorded,
                "repeated": report.repeated,
                "rejected": len(report.rejected),
                "balanced": report.balanced,
            }
            cycle_month = month
        # the next snapshot (the next cycle's import) tells who stayed: evaluation needs it;
        # imported as `weixi import` does, with the read models it makes stale (the new
        # month's and the scored month's calibration deciles), so that the store the bench
        # leaves is what the pages meet after the same commands
        peaks.enter("history")
        with store() as con:
            timed(
                history,
                "next_month_import",
                lambda: import_month(con=con, month=next_month, mapping=mapping, paths=[next_file]),
            )
            timed(
                history,
                "next_month_read_models",
                lambda: summaries.refresh_after_step(con, next_month),
            )

        def evaluate(con) -> dict:
            # what `weixi evaluate` runs: the outcomes synced, the month evaluated, and the read
            # models it made stale rewritten (the evaluation page reads its overview from them)
            with session_scope() as session:
                sync_contact_outcomes(con=con, session=session, month=cycle_month)
            report = evaluate_service.evaluate_month(con=con, month=cycle_month, rebuild=True)
            t0 = time.perf_counter()
            summaries.refresh_after_evaluation(con, cycle_month)
            detail["evaluate_read_models_s"] = round(time.perf_counter() - t0, 2)
            return report

        peaks.enter(f"evaluate {cycle_month:%Y-%m}")
        with store(last=True) as con:
            ev = timed(steps, "evaluate", lambda: evaluate(con))
        detail["evaluate"] = summarize(ev.get("overall") or {})
    detail["peak_rss_gib_by_stage"] = peaks.gib()
    return {"steps": steps, "history": history, "detail": detail, "_maxrss": _maxrss()}


# --------------------------------------------------------------------------- anchors


def part_parquet_floor(a: dict) -> dict:
    """Read every column of the cycle month's Parquet file (batch by batch): the floor."""
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rows = 0
    for batch in pq.ParquetFile(a["file"]).iter_batches(batch_size=1_000_000):
        rows += batch.num_rows
    return {"seconds": round(time.perf_counter() - t0, 2), "rows": rows, "_maxrss": _maxrss()}


def part_import_floor(a: dict) -> dict:
    """DuckDB's plain load of the cycle month's CSV into a table of an on-disk database."""
    import duckdb

    with tempfile.TemporaryDirectory(dir=a.get("tmp")) as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        t0 = time.perf_counter()
        con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [a["file"]])
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        secs = time.perf_counter() - t0
        con.close()
    return {"seconds": round(secs, 2), "rows": rows, "_maxrss": _maxrss()}


def part_pandas(a: dict) -> dict:
    """The naive pandas pipeline an analyst would write: read the CSV, map it to the canonical
    columns, apply the segmentation preset's conditions with ``DataFrame.eval``, and score the
    churn model's booster on the frame. Times it on the first ``lines`` lines of the file."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from weixi.ingest.mapping import load_mapping
    from weixi.ingest.schema import BY_NAME
    from weixi.segment.rules import load_preset

    mapping = load_mapping(a["mapping"])
    preset = load_preset("seed")
    t0 = time.perf_counter()
    raw = pd.read_csv(a["file"], dtype=str, nrows=a["lines"], keep_default_na=False)
    df = pd.DataFrame(index=raw.index)
    for name, col in mapping.columns.items():
        if col.source not in raw.columns:
            continue
        s = raw[col.source]
        kind = col.type or (BY_NAME[name].type if name in BY_NAME else "str")
        if col.values:
            s = s.map(lambda v, m=col.values: m.get(v, v))
        if kind == "date":
            s = pd.to_datetime(s, format=col.date_format or mapping.date_format, errors="coerce")
        elif kind in ("int", "float"):
            s = pd.to_numeric(s, errors="coerce") * (col.scale or 1.0)
        elif kind == "bool":
            s = s.isin(list(col.true_values or mapping.true_values))
        df[name] = s
    del raw
    # segmentation: the preset's conditions with DataFrame.eval (the rule language is
    # Python-like); derived fields as an analyst would add them
    month = pd.Timestamp(a["month"])
    if "contract_end" in df:
        df["months_to_contract_end"] = (df["contract_end"] - month).dt.days / 30
    if "activation_date" in df:
        df["tenure_months"] = (month - df["activation_date"]).dt.days / 30
    if "handset_first_use_date" in df:
        df["handset_age_years"] = (month - df["handset_first_use_date"]).dt.days / 365
    for derived, source in (("arpu_3m", "arpu"), ("data_mb_3m", "data_mb")):
        if source in df:  # one month only: the analyst's shortcut for the 3-month means
            df[derived] = df[source]
    if "arpu" in df:
        df["annual_spend_est"] = df["arpu"] * 12
    env = dict(preset.params)
    null_call = re.compile(r"\b(isnull|notnull)\((\w+)\)")
    evaluated = failed = 0

    def cond(expr: str) -> np.ndarray | None:
        nonlocal evaluated, failed
        try:
            expr = null_call.sub(r"\2.\1()", expr)
            out = np.asarray(df.eval(expr, resolvers=[env], engine="python"), dtype=bool)
        except Exception:
            failed += 1
            return None
        evaluated += 1
        return out

    excluded = np.zeros(len(df), dtype=bool)
    for rule in preset.exclusions:
        hit = cond(rule.when)
        if hit is not None:
            excluded |= hit
    df["excluded"] = excluded
    for dim in preset.dimensions:
        code = pd.Series(None, index=df.index, dtype=object)
        groups = dim.by_line_type or {None: dim.levels or []}
        for line_type, levels in groups.items():
            scope = (
                np.ones(len(df), dtype=bool)
                if line_type is None
                else (df["line_type"] == line_type).to_numpy()
            )
            for level in levels:
                free = scope & code.isna().to_numpy()
                hit = free if level.is_else else cond(level.when)
                if hit is not None:
                    code[free & hit] = level.code
        df[dim.key] = code
    # scoring: the booster on the frame's numeric columns (categories as codes)
    booster = lgb.Booster(model_file=a["model_file"])
    names = booster.feature_name()

    def encode(name: str):
        if name not in df:
            return np.nan
        col = df[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            return col.astype(float)
        if pd.api.types.is_datetime64_any_dtype(col):
            return np.nan
        return col.astype("category").cat.codes

    feats = pd.DataFrame({n: encode(n) for n in names}, index=df.index)
    p = booster.predict(feats, num_threads=a.get("threads", 0) or 0)
    secs = time.perf_counter() - t0
    return {
        "seconds": round(secs, 2),
        "lines": len(df),
        "conditions_evaluated": evaluated,
        "conditions_failed": failed,
        "mean_p": float(np.mean(p)),
        "_maxrss": _maxrss(),
    }


# --------------------------------------------------------------------------- the whole run


def run(
    *,
    subscribers: int,
    months: int = 2,
    seed: int = 1,
    input_format: str = "csv",
    cache_dir: Path,
    work_dir: Path | None = None,
    anchors: bool = True,
    on_step=None,
) -> dict[str, Any]:
    """Generate (or reuse) the input, run the cycle and the anchors; the benchmark's JSON."""
    import shutil

    say = on_step or (lambda _msg: None)
    if months < 2:
        raise ValueError("--months must be at least 2 (a month with labels, then the cycle)")
    if input_format not in ("csv", "parquet"):
        raise ValueError("--input must be csv or parquet")
    folder = input_dir(cache_dir, subscribers, months, seed)
    args = {"dir": str(folder), "subscribers": subscribers, "months": months, "seed": seed}
    say(f"input {folder}")
    t0 = time.perf_counter()
    # the anchors read both formats; without them only the cycle's input is written (a 30 M
    # month is 10 GB of CSV against 2.2 GB of Parquet)
    formats = ["csv", "parquet"] if anchors else [input_format]
    gen = run_part("generate", {**args, "formats": formats})
    gen_s = round(time.perf_counter() - t0, 2)
    work = Path(work_dir or tempfile.mkdtemp(prefix="weixi-bench-"))
    home = work / "home"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    say("cycle")
    cycle = run_part("cycle", {**args, "home": str(home), "input": input_format})
    steps = cycle["steps"]
    total = round(sum(steps.values()), 2)
    n = subscribers
    out: dict[str, Any] = {
        "subscribers": n,
        "months": months,
        "input": input_format,
        "steps": steps,
        "total_s": total,
        "peak_rss_gib": cycle["peak_tree_rss_gib"],
        "history_s": cycle["history"],
        "detail": cycle["detail"],
        "input_generate_s": gen_s,
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
    }
    if anchors:
        cycle_csv = gen["input"]["csv"]["months"][months - 1]["file"]
        cycle_parquet = gen["input"]["parquet"]["months"][months - 1]["file"]
        say("anchor: parquet scan")
        out["parquet_floor_s"] = run_part("parquet_floor", {"file": cycle_parquet})["seconds"]
        say("anchor: DuckDB CSV load")
        out["import_floor_s"] = run_part("import_floor", {"file": cycle_csv, "tmp": str(work)})[
            "seconds"
        ]
        say("anchor: naive pandas")
        model = _active_model_file(home)
        lines = min(n, PANDAS_MAX_LINES)
        pd_out = run_part(
            "pandas",
            {
                "file": cycle_csv,
                "mapping": gen["input"]["csv"]["mapping"],
                "lines": lines,
                "month": gen["input"]["csv"]["months"][months - 1]["month"] + "-01",
                "model_file": str(model),
            },
        )
        out["pandas_s"] = pd_out["seconds"]
        out["pandas_lines"] = pd_out["lines"]
        out["pandas_peak_rss_gib"] = pd_out["peak_tree_rss_gib"]
        out["pandas_conditions"] = {
            "evaluated": pd_out["conditions_evaluated"],
            "failed": pd_out["conditions_failed"],
        }
        # per line: the naive pipeline against the same steps of the product
        same = sum(steps.get(k, 0.0) for k in ("import", "segment", "churn_score"))
        out["pandas_same_steps_s"] = round(same, 2)
        out["pandas_ratio"] = (
            round((pd_out["seconds"] / pd_out["lines"]) / (same / n), 2) if same else None
        )
    if work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _active_model_file(home: Path) -> Path:
    """The active churn model's 1-month booster in the benchmark's store."""
    import duckdb

    path = home / "analytics.duckdb"
    if not path.exists():
        found = sorted(home.rglob("*.duckdb"))
        path = found[0]
    con = duckdb.connect(str(path), read_only=True)
    try:
        from weixi.churn import registry

        _version, folder, _meta = registry.load_meta(con, None)
    finally:
        con.close()
    return folder / "h1.txt"


PARTS = {
    "generate": part_generate,
    "cycle": part_cycle,
    "parquet_floor": part_parquet_floor,
    "import_floor": part_import_floor,
    "pandas": part_pandas,
}


def _main() -> None:
    part, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(PARTS[part](args), default=str))


if __name__ == "__main__":
    _main()
