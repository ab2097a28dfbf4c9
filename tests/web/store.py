"""A small populated analytics store for the web tests (synthetic operator + real services).

Segments come from ``weixi.segment.service`` and scores from ``weixi.churn.service`` when those
exist; until the churn domain ships a scorer, scores are computed here with a transparent
logistic formula in SQL (same columns as the ``churn_scores`` contract).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from weixi.store.analytics import connect
from weixi.store.schema import ensure as ensure_schema
from weixi.synth.generate import SyntheticOperator

N_LINES = 900
MONTHS = 3
SEED = 7
START = "2025-10"


def _load_snapshot(con, op: SyntheticOperator, months: int) -> None:
    ensure_schema(con)
    for i in range(months):
        if i:
            op.advance()
        con.register("_snap", op.snapshot())
        con.execute("INSERT INTO snapshot BY NAME SELECT * FROM _snap")
        con.unregister("_snap")
    for name, ref in op.reference_tables().items():
        con.register("_ref", ref)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _ref")
        con.unregister("_ref")


def _segment(con) -> str:
    try:
        from weixi.segment.service import segment_month
    except ImportError:
        return "missing"
    # the last two months: enough for the grid, profiles and the migration Sankey
    rows = con.execute("SELECT DISTINCT month FROM snapshot ORDER BY 1").fetchall()
    for (m,) in rows[-2:]:
        segment_month(con, m)
    return "service"


def _score(con) -> str:
    """Scores of the last two months from the churn service (model trained as of the last
    month); without the churn domain, a transparent logistic stand-in in SQL."""
    try:
        from weixi.churn import service
    except ImportError:
        service = None
    if service is not None:
        months = [
            r[0] for r in con.execute("SELECT DISTINCT month FROM snapshot ORDER BY 1").fetchall()
        ]
        service.train(con=con, month=months[-1])
        for m in months[-2:]:
            service.score(con=con, month=m)
        # the monthly job's next model: a challenger (another seed) judged against the champion
        from weixi.churn.params import load_params

        p = load_params()
        other = p.model_copy(update={"monthly": p.monthly.model_copy(update={"seed": 1})})
        service.train(con=con, month=months[-1], params=other, promote="challenger")
        return "service"
    con.execute(
        """
        CREATE OR REPLACE TABLE churn_scores AS
        WITH f AS (
          SELECT month, subscriber_id,
                 CASE WHEN contract_end IS NOT NULL
                      THEN date_diff('month', month, contract_end) END AS mte,
                 complaints, competitor_contacts, arpu,
                 -3.2 + 0.9 * coalesce(complaints, 0) + 0.6 * coalesce(competitor_contacts, 0)
                   + CASE WHEN contract_end IS NOT NULL
                           AND date_diff('month', month, contract_end) < 3 THEN 0.8 ELSE 0 END
                   - 0.004 * least(arpu, 300) AS z
          FROM snapshot WHERE status <> 'cancelled')
        SELECT month, subscriber_id, 'fixture-logit' AS model_version,
               1 / (1 + exp(-z)) AS p_churn,
               1 - pow(1 - 1 / (1 + exp(-z)), 2) AS p_churn_2m,
               1 - pow(1 - 1 / (1 + exp(-z)), 3) AS p_churn_3m,
               to_json(list_value(
                 {'code': 'complaints', 'value': CAST(complaints AS DOUBLE),
                  'contribution': 0.9 * coalesce(complaints, 0)},
                 {'code': 'competitor_contacts', 'value': CAST(competitor_contacts AS DOUBLE),
                  'contribution': 0.6 * coalesce(competitor_contacts, 0)},
                 {'code': 'contract_ending', 'value': CAST(mte AS DOUBLE),
                  'contribution': CASE WHEN mte < 3 THEN 0.8 ELSE 0 END}))::VARCHAR AS reasons
        FROM f
        """
    )
    con.execute(
        """CREATE OR REPLACE TABLE churn_models AS
           SELECT 'fixture-logit' AS model_version, TIMESTAMP '2026-01-05 08:00:00' AS trained_at,
                  0.71 AS auc, 0.18 AS pr_auc, 0.035 AS brier, 900 AS train_rows"""
    )
    return "fixture"


def _import_log(con) -> None:
    """Import runs and quarantine in the ingest domain's tables, as an import would leave them
    (one run per month; two rejected rows of the last month carry personal data)."""
    ensure_schema(con)
    months = [
        r[0] for r in con.execute("SELECT DISTINCT month FROM snapshot ORDER BY 1").fetchall()
    ]
    for i, m in enumerate(months):
        loaded = con.execute("SELECT count(*) FROM snapshot WHERE month = ?", [m]).fetchone()[0]
        bad = 2 if i == len(months) - 1 else 0
        name = f"subs_{m:%Y%m}.csv"
        files = [
            {
                "file": name,
                "path": f"/data/{name}",
                "format": "csv",
                "read": loaded + bad,
                "loaded": loaded,
                "quarantined": bad,
                "defects": {"below_minimum": bad} if bad else {},
            }
        ]
        con.execute(
            """INSERT INTO import_runs (run_id, month, started_at, finished_at, status, files,
                   "read", loaded, quarantined, defects, mapping_hash, error)
               VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, 'm1', NULL)""",
            [
                f"run-{m:%Y%m}",
                m,
                dt.datetime(2026, 1, 2, 8, i),
                dt.datetime(2026, 1, 2, 8, i, 30),
                json.dumps(files),
                loaded + bad,
                loaded,
                bad,
                json.dumps({"below_minimum": bad} if bad else {}),
            ],
        )
        for row in range(bad):
            raw = {
                "USER_ID": f"S-BAD{row}",
                "MSISDN": f"1391234567{row}",
                "CUST_NAME": "张三丰",
                "CERT_NO": "110101199003074578",
                "ARPU": "-5",
            }
            con.execute(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, 'arpu', 'below_minimum', '-5', ?)",
                [f"run-{m:%Y%m}", m, name, row + 2, json.dumps(raw, ensure_ascii=False)],
            )


def source_key() -> str:
    """A hash of the code the store is built from (cache key across test runs)."""
    import duckdb

    import weixi

    h = hashlib.sha256(duckdb.__version__.encode())
    root = Path(weixi.__file__).parent
    files = [Path(__file__), root / "ingest" / "schema.py", root / "ingest" / "models.py"]
    for pkg in ("synth", "segment", "churn", "store"):
        files += sorted((root / pkg).rglob("*.py"))
        files += sorted((root / pkg).rglob("*.yaml"))
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_store(path: Path) -> dict[str, str]:
    """Write the populated analytics file at ``path``; return which parts came from where."""
    op = SyntheticOperator(N_LINES, seed=SEED, start_month=START)
    con = connect(path)
    try:
        _load_snapshot(con, op, MONTHS)
        how = {"segments": _segment(con), "churn": _score(con)}
        _import_log(con)
    finally:
        con.close()
    return how
