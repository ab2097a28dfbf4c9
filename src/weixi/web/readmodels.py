"""Read-side queries of the pages over the DuckDB analytics store (vectorized SQL only).

Every function takes the read-only connection (``None`` when the store does not exist yet) and
the user's branch scope (``None`` = province-wide) and returns plain dicts/lists; a table without
rows gives an empty result so the page can show an honest empty state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import duckdb

from weixi import summaries

Con = duckdb.DuckDBPyConnection | None
log = logging.getLogger(__name__)

URGENCIES = ("red", "blue", "green")
A_LEVELS = ("A1", "A2", "A3")
B_LEVELS = ("B1", "B2", "B3", "B4")
C_LEVELS = ("C1", "C2", "C3")
MIGRATION_DIMENSIONS = ("urgency", "a", "b", "c")
HIGH_RISK = 0.3  # p_churn at or above this counts as high risk on the dashboard


def has(con: Con, table: str) -> bool:
    """True when the store is open and ``table`` holds rows (data of that step exists).

    Every table is declared (:mod:`weixi.store.schema`); a snapshot published by an older
    weixi shows the tables it lacks as empty (:func:`weixi.store.snapshots.overlay`).
    """
    if con is None:
        return False
    return bool(con.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchall()[0][0])


def rows(con: Con, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Run ``sql`` and return the result as a list of dicts."""
    if con is None:
        return []

    # ------------------------------------------------------------------------------------------
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def scalar(con: Con, sql: str, params: list[Any] | None = None) -> Any:
    """Run ``sql`` and return the first column of the first row (None when empty)."""
    if con is None:
        return None
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def _branch_clause(branch: str | None, alias: str = "") -> tuple[str, list[Any]]:
    if branch is None:
        return "", []
    prefix = f"{alias}." if alias else ""
    return f" AND {prefix}branch_id = ?", [branch]


def months(con: Con, table: str = "snapshot") -> list[dt.date]:
    """Months present in ``table``, oldest first."""
    if not has(con, table):
        return []

    # ------------------------------------------------------------------------------------------
    return [r[0] for r in con.execute(f"SELECT DISTINCT month FROM {table} ORDER BY 1").fetchall()]  # type: ignore[union-attr]


def segmented_months(con: Con) -> list[dt.date]:
    """Months that have segments, oldest first, from ``segment_runs`` (a row per segmentation
    run, written in the transaction that writes the month's segments: a look-up in a few rows,
    not a scan of every segment); from ``segments`` itself in a store without runs (segments
    written by another path)."""
    if has(con, "segment_runs"):
        found = [
            r[0]
            for r in con.execute(  # type: ignore[union-attr]
                "SELECT DISTINCT month FROM segment_runs WHERE subscribers > 0 ORDER BY 1"
            ).fetchall()
        ]
        if found:
            return found
    return months(con, "segments")


def pick_month(available: list[dt.date], wanted: str | None) -> dt.date | None:
    """The requested ``YYYY-MM`` if available, else the latest month."""
    if not available:
        return None
    if wanted:
        for m in available:
            if f"{m.year:04d}-{m.month:02d}" == wanted[:7]:
                return m
    return available[-1]


def branches(con: Con) -> dict[str, dict[str, str]]:
    """branch_id -> {name_en, name_zh} from the reference table (empty when absent)."""
    if not has(con, "branches"):
        return {}
    return {r["branch_id"]: r for r in rows(con, "SELECT * FROM branches ORDER BY branch_id")}


# --- dashboard ------------------------------------------------------------------------------


def summary_months(con: Con, table: str) -> list[dt.date]:
    """Months a page's read model (:mod:`weixi.summaries`) covers, oldest first."""
    if con is None:
        return []
    if not has(con, table):  # not written yet: the months its source holds
        return months(con, summaries.SOURCES[table])
    return [r[0] for r in con.execute(f"SELECT DISTINCT month FROM {table} ORDER BY 1").fetchall()]


def dashboard(con: Con, branch: str | None) -> dict[str, Any]:
    """KPIs of the latest month and their monthly trend (from the read models)."""
    out: dict[str, Any] = {"months": [], "trend": [], "latest": None, "urgency": []}
    if not has(con, "snapshot"):
        return out
    bc, bp = _branch_clause(branch)
    src = summaries.source(con, "rm_months")  # type: ignore[arg-type]
    trend = rows(
        con,
        f"""SELECT month, sum(subscribers) AS subscribers, sum(revenue) AS revenue,
                   sum(churned) AS churned, sum(base_n) AS base_n,
                   sum(churned) / nullif(sum(base_n), 0) AS churn_rate,
                   sum(kept_revenue) / nullif(sum(base_revenue), 0) AS value_retention,
                   sum(midhigh_base) AS midhigh_base,
                   sum(midhigh_kept) / nullif(sum(midhigh_base), 0) AS midhigh_retention
            FROM {src} WHERE TRUE{bc} GROUP BY month ORDER BY month""",
        bp,
    )
    out["months"] = [r["month"] for r in trend]
    if not trend:
        return out
    by_month = {r["month"]: r for r in trend}
    if has(con, "segments"):
        seg = summaries.source(con, "rm_segments")  # type: ignore[arg-type]
        counts = rows(
            con,
            f"""SELECT month,
                       coalesce(sum(n) FILTER (WHERE b IN ('B1','B2') AND NOT excluded), 0)
                         AS midhigh,
                       coalesce(sum(n) FILTER (WHERE urgency = 'red' AND NOT excluded), 0) AS red,
                       coalesce(sum(n) FILTER (WHERE excluded), 0) AS excluded
                FROM {seg} WHERE TRUE{bc} GROUP BY month""",
            bp,
        )
        for r in counts:
            if r["month"] in by_month:
                by_month[r["month"]].update(r)
        out["urgency"] = rows(
            con,
            f"""SELECT urgency, sum(n) AS n FROM {seg}
                WHERE month = (SELECT max(month) FROM {seg}) AND NOT excluded{bc}
                GROUP BY urgency ORDER BY urgency""",
            bp,
        )
    if has(con, "churn_scores"):
        risk = rows(
            con,
            f"""SELECT month, sum(sum_p) / nullif(sum(n_p), 0) AS avg_p_churn,
                       sum(high_risk) AS high_risk
                FROM {summaries.source(con, "rm_churn")} WHERE TRUE{bc} GROUP BY month""",  # type: ignore[arg-type]
            bp,
        )
        for r in risk:
            if r["month"] in by_month:
                by_month[r["month"]].update(r)
    out["trend"] = [by_month[m] for m in sorted(by_month)]
    out["latest"] = out["trend"][-1] if out["trend"] else None
    out["previous"] = out["trend"][-2] if len(out["trend"]) > 1 else None
    out["by_branch"] = rows(
        con,
        f"""SELECT branch_id, sum(subscribers) AS subscribers,
                   sum(revenue) / nullif(sum(arpu_n), 0) AS avg_arpu
            FROM {src} WHERE month = ?{bc}
            GROUP BY branch_id HAVING sum(subscribers) > 0 ORDER BY branch_id""",
        [out["months"][-1], *bp],
    )
    return out


# --- segments ---


def priority_order(preset: str) -> list[tuple[str, str]]:
    """``[(stability_group, urgency)]`` in working order from the segment preset (empty if none)."""
    try:
        from weixi.segment.rules import load_preset

        return load_preset(preset).priority_order()
    except Exception:  # an unknown or custom preset file: cells without lines stay grey
        return []


# ------------------------------------------------------------------------------------------


def segment_grid(con: Con, branch: str | None, month: dt.date, line_type: str) -> dict[str, Any]:
    """The 36 stability groups (A × B × C) with counts, urgency and priority (read model)."""
    bc, bp = _branch_clause(branch)
    src = summaries.source(con, "rm_segments", month)  # type: ignore[arg-type]
    cells = rows(
        con,
        f"""SELECT a, b, c, sum(un) AS n, arg_max(urgency, un) AS urgency,
                   min(priority_rank) AS priority_rank
            FROM (SELECT a, b, c, urgency, sum(n) AS un, min(priority_rank) AS priority_rank
                  FROM {src} WHERE month = ? AND line_type = ? AND NOT excluded{bc}
                  GROUP BY a, b, c, urgency)
            GROUP BY a, b, c""",
        [month, line_type, *bp],
    )
    grid = {(r["a"], r["b"], r["c"]): r for r in cells}
    total = sum(r["n"] for r in cells) or 0
    preset = (
        scalar(
            con,
            "SELECT preset FROM segment_runs WHERE month = ? ORDER BY finished_at DESC",
            [month],
        )
        if has(con, "segment_runs")
        else None
    )
    for rank, (group, urgency) in enumerate(priority_order(preset or "seed"), start=1):
        key = tuple(group.split("-"))
        if key not in grid:  # an empty group keeps its colour and rank from the preset
            grid[key] = {"n": 0, "urgency": urgency, "priority_rank": rank}
    excluded = rows(
        con,
        f"""SELECT exclusion_reason AS reason, sum(n) AS n FROM {src}
            WHERE month = ? AND line_type = ? AND excluded{bc}
            GROUP BY 1 ORDER BY n DESC, 1""",
        [month, line_type, *bp],
    )
    return {"grid": grid, "total": total, "excluded": excluded}


def needs_grid(con: Con, branch: str | None, month: dt.date, line_type: str) -> dict[str, Any]:
    """Needs groups: D × E × F for mobile (27), G × H × I for broadband (12) (read model)."""
    bc, bp = _branch_clause(branch)
    dims = ("d", "e", "f") if line_type == "mobile" else ("g", "h", "i")
    cells = rows(
        con,
        f"""SELECT x, y, z, sum(n) AS n
            FROM {summaries.source(con, "rm_needs", month)}
            WHERE month = ? AND line_type = ?{bc}
            GROUP BY 1, 2, 3""",  # type: ignore[arg-type]
        [month, line_type, *bp],
    )
    levels = {
        "d": ("D1", "D2", "D3"),
        "e": ("E1", "E2", "E3"),
        "f": ("F1", "F2", "F3"),
        "g": ("G1", "G2"),
        "h": ("H1", "H2", "H3"),
        "i": ("I1", "I2"),
    }
    return {
        "dims": dims,
        "levels": [levels[d] for d in dims],
        "grid": {(r["x"], r["y"], r["z"]): r["n"] for r in cells},
        "max": max((r["n"] for r in cells), default=0),
    }


def migration(
    con: Con, branch: str | None, month: dt.date, dimension: str = "urgency"
) -> dict[str, Any]:
    """Flows between last month's and this month's groups (Sankey), plus lines that left
    (read model; the branch is the earlier month's)."""
    if dimension not in MIGRATION_DIMENSIONS:
        dimension = "urgency"
    bc, bp = _branch_clause(branch)
    src = summaries.source(con, "rm_migration", month)  # type: ignore[arg-type]
    prev = scalar(con, f"SELECT max(prev_month) FROM {src} WHERE month = ?", [month])
    if prev is None:
        return {"prev": None, "links": []}
    links = rows(
        con,
        f"""SELECT source, target, sum(value) AS value FROM {src}
            WHERE month = ? AND dimension = ?{bc}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        [month, dimension, *bp],
    )
    return {"prev": prev, "links": links, "dimension": dimension}


def segment_profiles(con: Con, branch: str | None, month: dt.date, line_type: str) -> list[dict]:
    """Per stability group: size, ARPU, tenure, contract and predicted churn (largest first),
    over the lines with a snapshot row (read model)."""
    bc, bp = _branch_clause(branch)
    score_col = "NULL AS avg_p_churn"
    if has(con, "churn_scores"):
        score_col = "sum(sum_p_churn) / nullif(sum(n_p_churn), 0) AS avg_p_churn"
    return rows(
        con,
        f"""SELECT stability_group, arg_max(urgency, profile_n) AS urgency,
                   min(priority_rank) AS priority_rank, sum(profile_n) AS n,
                   sum(sum_arpu) / nullif(sum(n_arpu), 0) AS avg_arpu,
                   sum(sum_data_mb) / nullif(sum(n_data_mb), 0) AS avg_data_mb,
                   sum(sum_tenure) / nullif(sum(n_tenure), 0) AS avg_tenure_months,
                   {score_col}
            FROM {summaries.source(con, "rm_segments", month)}
            WHERE month = ? AND line_type = ? AND NOT excluded AND profile_n > 0{bc}
            GROUP BY stability_group ORDER BY min(priority_rank), n DESC""",  # type: ignore[arg-type]
        [month, line_type, *bp],
    )


# --- churn ----------------------------------------------------------------------------------


def _reason_list(text: Any) -> list[dict[str, Any]]:
    if not text:
        return []

    # ------------------------------------------------------------------------------------------
    try:
        val = json.loads(text) if isinstance(text, str) else text
    except (TypeError, ValueError):
        return []

    # ------------------------------------------------------------------------------------------
    return [r for r in val if isinstance(r, dict)] if isinstance(val, list) else []


def fill_reasons(con: Con, month: dt.date, shown: list[dict[str, Any]]) -> None:
    """Give the ``shown`` score rows (``subscriber_id``, ``reasons``) of ``month`` that were
    scored without stored reasons (only the riskiest lines keep them) the reasons the churn
    service computes on demand with the model that scored them (in place)."""
    todo = [r["subscriber_id"] for r in shown if r.get("reasons") is None]
    if con is None or not todo:
        return
    try:
        from weixi.churn.service import reasons_for
        from weixi.errors import WeixiError

        got = reasons_for(con=con, month=month, subscriber_ids=todo)
    except ImportError:
        return
    except WeixiError as exc:  # e.g. the model's files are gone: the page still shows scores
        log.warning("churn reasons of %s not computed: %s", month, exc)
        return
    for r in shown:
        if r.get("reasons") is None and r["subscriber_id"] in got:
            r["reasons"] = got[r["subscriber_id"]]


def describe_reason(reason: dict[str, Any], locale: str) -> str:
    """A readable reason, through the churn domain's wording when it is installed."""
    try:
        from weixi.churn.reasons import describe
    except ImportError:
        describe = None
    if describe is not None:
        try:
            return str(describe(reason, locale))
        except Exception:  # the churn domain may not know a code yet: fall back
            pass
    return str(reason.get("code", ""))


def active_model(con: Con) -> dict[str, Any] | None:
    """The active churn model with its metrics flattened (``h1_holdout_raw.auc`` …), or None."""
    if not has(con, "churn_models"):
        return None
    try:
        from weixi.churn import registry

        models = registry.get_all(con)
    except Exception:  # an older registry layout: show the raw rows
        models = rows(con, "SELECT * FROM churn_models")
    if not models:
        return None
    model = next((m for m in models if m.get("active")), models[0])
    flat: dict[str, Any] = {}
    for key in ("version", "model_version", "as_of_month", "created_at", "trained_at", "n_train"):
        if model.get(key) is not None:
            flat[key] = model[key]
    metrics = model.get("metrics")
    if isinstance(metrics, dict):
        for group, values in metrics.items():
            if isinstance(values, dict):
                for k, v in values.items():
                    if isinstance(v, int | float):
                        flat[f"{group}.{k}"] = float(v)
            elif isinstance(values, int | float):
                flat[group] = float(values)
    for k, v in model.items():  # plain numeric columns of other layouts (auc, brier …)
        if k not in flat and isinstance(v, int | float) and not isinstance(v, bool):
            flat[k] = float(v)
    flat["auc"] = next((v for k, v in flat.items() if k.endswith("auc") and "pr_" not in k), None)
    flat["version"] = flat.get("version") or flat.get("model_version")
    return flat


def reason_label(code: str, locale: str) -> str:
    """A reason code's feature name (for charts), through the churn domain when installed."""
    try:
        from weixi.churn.reasons import BY_NAME

        feat = BY_NAME.get(code)
        if feat is not None:
            return feat.zh if locale == "zh-CN" else feat.en
    except ImportError:
        pass
    return code


def churn_summary(con: Con, branch: str | None, month: dt.date | None) -> dict[str, Any]:
    """Score distribution, calibration against actual churn, top reasons, latest model
    (read models)."""
    out: dict[str, Any] = {"histogram": [], "reasons": [], "deciles": [], "model": None}
    if month is None or not has(con, "churn_scores"):
        return out
    bc, bp = _branch_clause(branch)
    src = summaries.source(con, "rm_churn", month)  # type: ignore[arg-type]
    out["histogram"] = rows(
        con,
        f"SELECT bin, sum(n) AS n FROM {src} WHERE month = ?{bc} GROUP BY 1 ORDER BY 1",
        [month, *bp],
    )
    total = rows(
        con,
        f"""SELECT coalesce(sum(n), 0) AS count, sum(sum_p) / nullif(sum(n_p), 0) AS avg_p,
                   coalesce(sum(high_risk), 0) AS high_risk
            FROM {src} WHERE month = ?{bc}""",
        [month, *bp],
    )[0]
    out.update(total)
    out["reasons"] = rows(
        con,
        f"""SELECT code, sum(n) AS n,
                   sum(sum_contribution) / nullif(sum(n_contribution), 0) AS avg_contribution
            FROM {summaries.source(con, "rm_churn_reasons", month)}
            WHERE month = ?{bc} GROUP BY 1 ORDER BY n DESC, code LIMIT 10""",  # type: ignore[arg-type]
        [month, *bp],
    )
    out["deciles"] = rows(
        con,
        f"""SELECT decile, sum(n) AS n, sum(sum_p) / nullif(sum(n_p), 0) AS predicted,
                   sum(churned) / sum(n) AS actual
            FROM {summaries.source(con, "rm_churn_deciles", month)}
            WHERE month = ? AND scope = ? GROUP BY decile ORDER BY decile""",  # type: ignore[arg-type]
        [month, branch or summaries.PROVINCE],
    )
    out["model"] = active_model(con)
    return out


def serving_version(con: Con, month: dt.date | None) -> str | None:
    """The model version whose scores ``month`` shows (the one that scored most lines)."""
    if month is None or not has(con, "churn_scores"):
        return None
    return scalar(
        con,
        f"""SELECT model_version FROM {summaries.source(con, "rm_churn", month)}
            WHERE month = ? GROUP BY 1 ORDER BY sum(n) DESC, 1""",  # type: ignore[arg-type]
        [month],
    )


def top_risk(
    con: Con, branch: str | None, month: dt.date | None, limit: int = 50
) -> list[dict[str, Any]]:
    """The highest-risk subscribers of ``month`` with segment code and reasons (NOT masked)."""
    if month is None or not has(con, "churn_scores"):
        return []

    # ------------------------------------------------------------------------------------------
    if limit <= summaries.TOP_N:  # the stored list (read model)
        out = rows(
            con,
            f"""SELECT subscriber_id, customer_id, phone, name, branch_id, line_type, arpu,
                       p_churn, reasons, code, urgency
                FROM {summaries.source(con, "rm_top_risk", month)}
                WHERE month = ? AND scope = ? ORDER BY rank LIMIT {int(limit)}""",  # type: ignore[arg-type]
            [month, branch or summaries.PROVINCE],
        )
        fill_reasons(con, month, out)
        for r in out:
            r["reasons"] = _reason_list(r["reasons"])
        return out
    bc, bp = _branch_clause(branch, "s")
    seg_join, seg_cols = "", "NULL AS code, NULL AS urgency"
    if has(con, "segments"):
        seg_join = "LEFT JOIN segments g ON g.subscriber_id = c.subscriber_id AND g.month = c.month"
        seg_cols = "g.code, g.urgency"
    out = rows(
        con,
        f"""SELECT c.subscriber_id, s.customer_id, s.phone, s.name, s.branch_id, s.line_type,
                   s.arpu, c.p_churn, c.reasons, {seg_cols}
            FROM churn_scores c
            JOIN snapshot s ON s.subscriber_id = c.subscriber_id AND s.month = c.month
            {seg_join}
            WHERE c.month = ?{bc}
            ORDER BY c.p_churn DESC, c.subscriber_id LIMIT {int(limit)}""",
        [month, *bp],
    )
    fill_reasons(con, month, out)
    for r in out:
        r["reasons"] = _reason_list(r["reasons"])
    return out


# --- customers ------------------------------------------------------------------------------


SEARCH_COLUMNS = (
    "subscriber_id, customer_id, phone, name, branch_id, line_type, status, package_name, "
    "arpu, month"
)


def search_customers(con: Con, branch: str | None, q: str, limit: int = 50) -> list[dict]:
    """Latest-month lines whose subscriber id starts with ``q``, or whose customer id or full
    phone number is ``q``.

    Look-ups, not scans: the snapshot is stored in subscriber order, so the id prefix reads
    only the row groups whose zone maps can hold it; customer ids and phone numbers are found
    in the sorted search keys the monthly job writes (``rm_lookup``) and their lines read by
    id the same way. A store whose keys are not of the latest month compares the month's
    columns instead.
    """
    q = q.strip()
    if not q or not has(con, "snapshot"):
        return []
    bc, bp = _branch_clause(branch)
    month = scalar(con, "SELECT max(month) FROM snapshot")
    keyed = scalar(con, "SELECT max(month) FROM rm_lookup") == month
    found = rows(
        con,
        f"""SELECT {SEARCH_COLUMNS} FROM snapshot
            WHERE month = ? AND subscriber_id >= ? AND subscriber_id < ?{bc}
            ORDER BY subscriber_id LIMIT {int(limit)}""",
        [month, q, q + "\U0010ffff", *bp],
    )
    if keyed:
        ids = [
            r[0]
            for r in con.execute(  # type: ignore[union-attr]
                "SELECT DISTINCT subscriber_id FROM rm_lookup WHERE key = ? ORDER BY 1 LIMIT ?",
                [q, int(limit)],
            ).fetchall()
        ]
        by_key = [
            r
            for sid in ids  # at most ``limit`` look-ups by id, each pruned by the zone maps
            for r in rows(
                con,
                f"SELECT {SEARCH_COLUMNS} FROM snapshot WHERE month = ? AND subscriber_id = ?{bc}",
                [month, sid, *bp],
            )
        ]
    else:
        by_key = rows(
            con,
            f"""SELECT {SEARCH_COLUMNS} FROM snapshot
                WHERE month = ? AND (customer_id = ? OR phone = ?){bc}
                ORDER BY subscriber_id LIMIT {int(limit)}""",
            [month, q, q, *bp],
        )
    merged = {r["subscriber_id"]: r for r in [*found, *by_key]}
    return [merged[k] for k in sorted(merged)][: int(limit)]


HISTORY_COLUMNS = ("month", "status", "arpu", "voice_minutes", "data_mb", "package_name")


def _line_rows(con: Con, subscriber_id: str) -> list[dict[str, Any]]:
    """Every snapshot row of one line, oldest month first (one scan)."""
    return rows(
        con, "SELECT * FROM snapshot WHERE subscriber_id = ? ORDER BY month", [subscriber_id]
    )


def _latest_in(found: list[dict[str, Any]], branch: str | None) -> dict[str, Any] | None:
    inside = [r for r in found if branch is None or r["branch_id"] == branch]  # <= months rows
    return inside[-1] if inside else None


def profile(con: Con, branch: str | None, subscriber_id: str) -> dict[str, Any] | None:
    """The line's latest snapshot row within ``branch`` (NOT masked); None outside it."""
    if not has(con, "snapshot"):
        return None
    return _latest_in(_line_rows(con, subscriber_id), branch)


def customer(con: Con, branch: str | None, subscriber_id: str) -> dict[str, Any] | None:
    """Customer 360: latest profile, month history, segment and score history (NOT masked).

    Returns None when the line does not exist or lies outside ``branch``. Three look-ups by
    subscriber (snapshot, segments, churn_scores), each pruned to the row groups holding the
    line by the tables' zone maps, plus the latest month's churn reasons on demand when the
    scoring did not store them.
    """
    if not has(con, "snapshot"):
        return None
    found = _line_rows(con, subscriber_id)
    latest = _latest_in(found, branch)
    if latest is None:
        return None
    out: dict[str, Any] = {
        "profile": latest,
        "history": [{k: r[k] for k in HISTORY_COLUMNS} for r in found],
    }
    out["segments"] = (
        rows(
            con,
            """SELECT month, code, stability_group, urgency, priority_rank, excluded,
                      exclusion_reason, vip_tier, value_class, vad
               FROM segments WHERE subscriber_id = ? ORDER BY month""",
            [subscriber_id],
        )
        if has(con, "segments")
        else []
    )
    scores = (
        rows(
            con,
            """SELECT month, model_version, p_churn, p_churn_2m, p_churn_3m, reasons
               FROM churn_scores WHERE subscriber_id = ? ORDER BY month""",
            [subscriber_id],
        )
        if has(con, "churn_scores")
        else []
    )
    if scores:  # the latest month's reasons on demand when not stored (the page shows them)
        scores[-1]["subscriber_id"] = subscriber_id
        fill_reasons(con, scores[-1]["month"], [scores[-1]])
        del scores[-1]["subscriber_id"]
    for r in scores:
        r["reasons"] = _reason_list(r["reasons"])
    out["scores"] = scores
    return out


# --- data -----------------------------------------------------------------------------------


def snapshot_counts(con: Con, branch: str | None) -> list[dict[str, Any]]:
    """Rows per month and line type in the snapshot (reconciliation against import runs)."""
    if not has(con, "snapshot"):
        return []

    # ------------------------------------------------------------------------------------------
    bc, bp = _branch_clause(branch)
    return rows(
        con,
        f"""SELECT month, count(*) AS rows, count(DISTINCT subscriber_id) AS subscribers,
                   count(*) FILTER (WHERE line_type = 'mobile') AS mobile,
                   count(*) FILTER (WHERE line_type = 'broadband') AS broadband,
                   count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                   sum(arpu) AS revenue
            FROM snapshot WHERE TRUE{bc} GROUP BY month ORDER BY month""",
        bp,
    )


def staff(con: Con, branch: str | None = None) -> list[dict[str, Any]]:
    """Staff reference rows (staff_id, name, branch_id, channel), optionally of one branch."""
    if not has(con, "staff"):
        return []
    bc, bp = _branch_clause(branch)
    return rows(con, f"SELECT * FROM staff WHERE TRUE{bc} ORDER BY channel, staff_id", bp)


def lines_brief(con: Con, subscriber_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Latest snapshot facts and segment code for a few lines (queue cards), NOT masked."""
    if not subscriber_ids or not has(con, "snapshot"):
        return {}
    seg_join, seg_cols = "", "NULL AS code, NULL AS urgency"
    if has(con, "segments"):
        seg_join = "LEFT JOIN segments g ON g.subscriber_id = s.subscriber_id AND g.month = s.month"
        seg_cols = "g.code, g.urgency"
    out = rows(
        con,
        f"""SELECT s.subscriber_id, s.phone, s.name, s.line_type, s.package_name, s.arpu,
                   s.contract_end, s.handset_model, {seg_cols}
            FROM snapshot s {seg_join}
            WHERE s.subscriber_id IN (SELECT unnest(?::VARCHAR[]))
            QUALIFY row_number() OVER (PARTITION BY s.subscriber_id ORDER BY s.month DESC) = 1""",
        [subscriber_ids],
    )
    return {r["subscriber_id"]: r for r in out}


def forced_a1_negative(con: Con, campaign_key: str) -> dict[str, Any]:
    """Customers on a campaign's lists (the newest plan version of each planned month) only
    through ``must_dispatch_a1`` whose expected net value is negative: ``{"n", "value"}``.

    ``forced_a1`` flags them; plans stored before that column existed are recognised by their
    reason text."""
    from weixi.dispatch.service import A1_NOTE_EN

    if not has(con, "plan_assignments") or not has(con, "plans"):
        return {"n": 0, "value": 0.0}
    n, value = con.execute(  # type: ignore[union-attr]
        """SELECT count(*), COALESCE(sum(expected_value), 0) FROM plan_assignments a
           WHERE campaign_id = ? AND NOT is_control AND expected_value < 0
             AND COALESCE(forced_a1, contains(reason, ?))
             AND plan_version = (SELECT max(version) FROM plans v
                                 WHERE v.campaign_id = a.campaign_id AND v.month = a.month)""",
        [campaign_key, A1_NOTE_EN],
    ).fetchall()[0]
    return {"n": int(n), "value": round(float(value), 2)}
