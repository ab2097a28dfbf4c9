"""Every table of the analytics store (DuckDB), in one registry.

A table is declared once here, with its columns in order; :mod:`weixi.store.schema` creates the
missing tables and adds the missing columns when a store is opened (or on ``weixi db upgrade``)
and records the version in ``schema_version``. Steps write into these tables; they never create
or alter them. How to add a table or a column: docs/data-model.md, "Adding a table".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from weixi.ingest import schema as ingest_schema
from weixi.ingest.events import EVENT_FIELDS
from weixi.segment.exprs import SEGMENT_COLUMNS

_SEG_TYPES = {
    "date": "DATE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "int32": "INTEGER",
    "float64": "DOUBLE",
}


@dataclass(frozen=True)
class Column:
    """One column: its name and DuckDB type, with any ``NOT NULL`` / ``DEFAULT`` clause."""

    name: str
    spec: str

    @property
    def type(self) -> str:
        """The bare type (what ``information_schema.columns.data_type`` reports)."""
        return self.spec.split()[0].upper()

    @property
    def addable(self) -> str:
        """The spec usable in ``ALTER TABLE … ADD COLUMN`` (DuckDB adds no NOT NULL there)."""
        return re.sub(r"\s+(NOT NULL|PRIMARY KEY)\b", "", self.spec, flags=re.I)


@dataclass(frozen=True)
class Table:
    """A table of the store: its name, columns in order, the module that writes it and what a
    row is."""

    name: str
    columns: tuple[Column, ...]
    owner: str
    doc: str

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` of the table with every declared column."""
        cols = ",\n  ".join(f'"{c.name}" {c.spec}' for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)


def _cols(body: str) -> tuple[Column, ...]:
    """Parse ``name TYPE [clauses], …`` (``--`` comments allowed) into columns."""
    text = "\n".join(line.split("--", 1)[0] for line in body.splitlines())
    out = []
    for part in text.split(","):
        part = " ".join(part.split())
        if part:
            name, spec = part.split(" ", 1)
            out.append(Column(name.strip('"'), spec))
    return tuple(out)


def _fields(fields) -> str:
    return ", ".join(f"{f.name} {ingest_schema.DUCKDB_TYPES[f.type]}" for f in fields)


_TABLES: list[Table] = [
    # --- ingest (weixi.ingest) ------------------------------------------------------------
    Table(
        "snapshot",
        _cols("month DATE NOT NULL, " + _fields(ingest_schema.FIELDS)),
        "weixi.ingest.service",
        "One row per line per month, the canonical fields of weixi.ingest.schema.FIELDS.",
    ),
    *(
        Table(
            name,
            _cols(_fields(ingest_schema.reference_fields(name))),
            "weixi.ingest.service",
            "Reference table, replaced whole by an import that carries it.",
        )
        for name in ingest_schema.REFERENCE_TABLES
    ),
    Table(
        "import_runs",
        _cols(
            """
  run_id VARCHAR NOT NULL,
  month DATE NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  status VARCHAR NOT NULL,          -- running | succeeded | failed | interrupted
  files VARCHAR,                    -- JSON list of per-file results
  read BIGINT,
  loaded BIGINT,
  quarantined BIGINT,
  defects VARCHAR,                  -- JSON {reason: count}
  mapping_hash VARCHAR,
  error VARCHAR,
  pid INTEGER,                      -- the importing process, its host and its start time
  host VARCHAR,                     -- (ticks since boot), to tell a dead run from a live one
  proc_start BIGINT,
  interruption VARCHAR,             -- process_gone | timeout, when status = interrupted
  error_key VARCHAR                 -- JSON {msgid, params} of a failed run's error (i18n)
"""
        ),
        "weixi.ingest.service",
        "One row per import run with its reconciliation.",
    ),
    Table(
        "quarantine",
        _cols(
            """
  run_id VARCHAR NOT NULL,
  month DATE NOT NULL,
  file VARCHAR NOT NULL,
  row_number BIGINT,                -- CSV record number, header = 1; Parquet: 1-based row
  column_name VARCHAR,              -- canonical column (NULL when the whole row is malformed)
  reason VARCHAR NOT NULL,
  raw_value VARCHAR,
  raw_row VARCHAR                   -- JSON of the row as read (personal fields masked)
"""
        ),
        "weixi.ingest.service",
        "Rows and values refused by an import, with the reason.",
    ),
    Table(
        "events",
        _cols(_fields(EVENT_FIELDS)),
        "weixi.ingest.events",
        "One row per customer event (daily feeds and producers such as complaints); an import "
        "replaces one day × source.",
    ),
    # --- segmentation (weixi.segment) ------------------------------------------------------
    Table(
        "segments",
        tuple(Column(n, _SEG_TYPES[t]) for n, t in SEGMENT_COLUMNS.items()),
        "weixi.segment.service",
        "One row per line per month: exclusions, dimensions a–i and helpers "
        "(weixi.segment.exprs.SEGMENT_COLUMNS). Fixed core: a preset names the levels, never "
        "the columns.",
    ),
    Table(
        "segment_profiles",
        _cols(
            "month DATE, dimension VARCHAR, segment VARCHAR, subscribers BIGINT, share DOUBLE, "
            "arpu_mean DOUBLE, revenue DOUBLE, revenue_share DOUBLE, churned_next BIGINT, "
            "churn_rate_next DOUBLE"
        ),
        "weixi.segment.profiles",
        "Size, revenue and next-month churn per dimension level (long: dimension, segment).",
    ),
    Table(
        "segment_migration",
        _cols(
            "month DATE, dimension VARCHAR, from_segment VARCHAR, to_segment VARCHAR, "
            "subscribers BIGINT"
        ),
        "weixi.segment.profiles",
        "Lines moving between levels from the previous month (long: dimension).",
    ),
    Table(
        "segment_funnel",
        _cols(
            "month DATE, branch_id VARCHAR, line_type VARCHAR, step INTEGER, rule VARCHAR, "
            "removed BIGINT, remaining BIGINT"
        ),
        "weixi.segment.profiles",
        "The exclusion funnel per branch and line type.",
    ),
    Table(
        "segment_clusters",
        _cols(
            "month DATE, cluster INTEGER, subscribers BIGINT, share DOUBLE, "
            "broadband_share DOUBLE, means VARCHAR, ratios VARCHAR, description_en VARCHAR, "
            "description_zh VARCHAR"
        ),
        "weixi.segment.service",
        "The behaviour clusters of a month and their descriptions.",
    ),
    Table(
        "segment_runs",
        _cols(
            "month DATE, preset VARCHAR, engine VARCHAR, finished_at TIMESTAMP, seconds DOUBLE, "
            "subscribers BIGINT, excluded BIGINT, issues VARCHAR"
        ),
        "weixi.segment.service",
        "One row per segmentation run of a month.",
    ),
    # --- churn (weixi.churn) ---------------------------------------------------------------
    Table(
        "churn_models",
        _cols(
            """
  version VARCHAR PRIMARY KEY, created_at TIMESTAMP, as_of_month DATE, window_start DATE,
  window_end DATE, horizons VARCHAR, n_train BIGINT, features VARCHAR, metrics VARCHAR,
  config VARCHAR, path VARCHAR, active BOOLEAN DEFAULT FALSE, role VARCHAR DEFAULT 'challenger'
"""
        ),
        "weixi.churn.registry",
        "The model registry (files under models/churn/<version>).",
    ),
    Table(
        "churn_promotions",
        _cols(
            """
  decided_at TIMESTAMP NOT NULL,
  version VARCHAR NOT NULL,       -- the model the decision is about (the challenger)
  champion VARCHAR,               -- the active model it was compared with (NULL: none)
  decision VARCHAR NOT NULL,      -- promoted | kept
  reason VARCHAR NOT NULL,        -- code, see weixi.churn.champion.REASONS
  actor VARCHAR NOT NULL,         -- train | monthly job | cli:<user>
  eval_month DATE,                -- the out-of-time month both models scored
  n BIGINT, churners BIGINT, auc_challenger DOUBLE, auc_champion DOUBLE,
  lift_challenger DOUBLE, lift_champion DOUBLE, d_auc DOUBLE, d_auc_lo DOUBLE, d_auc_hi DOUBLE,
  d_lift DOUBLE, d_lift_lo DOUBLE, d_lift_hi DOUBLE,
  rule VARCHAR                    -- the PromotionParams applied (JSON)
"""
        ),
        "weixi.churn.registry",
        "Champion/challenger decisions.",
    ),
    Table(
        "churn_scores",
        _cols(
            "month DATE NOT NULL, subscriber_id VARCHAR NOT NULL, model_version VARCHAR NOT NULL, "
            "p_churn DOUBLE, p_churn_2m DOUBLE, p_churn_3m DOUBLE, reasons VARCHAR"
        ),
        "weixi.churn.service",
        "Churn probability per line per month (1–3 month horizons) and its reasons; "
        "one row per scored line: scoring replaces the month's rows as a whole.",
    ),
    Table(
        "churn_drift",
        _cols(
            "month DATE NOT NULL, model_version VARCHAR NOT NULL, branch_id VARCHAR NOT NULL, "
            "feature VARCHAR NOT NULL, psi DOUBLE, warning BOOLEAN"
        ),
        "weixi.churn.service",
        "Feature drift (PSI) of a scored month per branch.",
    ),
    Table(
        "complaint_log",
        _cols(
            "id BIGINT, subscriber_id VARCHAR, customer_id VARCHAR, branch_id VARCHAR, "
            "category VARCHAR, status VARCHAR, received_at TIMESTAMP, deadline TIMESTAMP, "
            "answered_at TIMESTAMP, escalation_level INTEGER, churn_reason BOOLEAN"
        ),
        "weixi.complaints.service",
        "The complaint history copied from the operational database (replaced whole by each "
        "sync); the churn model's complaint features and churn analysis read it.",
    ),
    # --- VIP and enterprise groups (weixi.vip) ---------------------------------------------
    Table(
        "books",
        _cols(
            "month DATE NOT NULL, kind VARCHAR NOT NULL, key VARCHAR NOT NULL, "
            "branch_id VARCHAR, staff_id VARCHAR, status VARCHAR NOT NULL"
        ),
        "weixi.vip.books",
        "Books of business: the account manager of each VIP customer (kind vip) and group "
        "(kind group) per month, with kept | moved | new | orphaned | unplaced.",
    ),
    Table(
        "group_kpis",
        _cols(
            "month DATE NOT NULL, group_id VARCHAR NOT NULL, name VARCHAR, branch_id VARCHAR, "
            "industry VARCHAR, grade VARCHAR, handset_count BIGINT, members BIGINT, "
            "members_prev BIGINT, stayed BIGINT, left_group BIGINT, key_persons BIGINT, "
            "key_left BIGINT, coverage DOUBLE, stability DOUBLE, alert BOOLEAN, "
            "alert_reason VARCHAR, staff_id VARCHAR"
        ),
        "weixi.vip.groups",
        "Per enterprise group per month: members, coverage, stability and the alert.",
    ),
    Table(
        "group_campaign",
        _cols(
            "month DATE NOT NULL, campaign_id VARCHAR NOT NULL, group_id VARCHAR NOT NULL, "
            "branch_id VARCHAR, grade VARCHAR, staff_id VARCHAR, is_control BOOLEAN, "
            "reason VARCHAR, alert BOOLEAN, mean_p_churn DOUBLE, risk_rank INTEGER, "
            "members BIGINT, key_persons BIGINT, subscriber_id VARCHAR, outcome VARCHAR, "
            "created_at TIMESTAMP"
        ),
        "weixi.vip.campaign",
        "Group retention campaigns: every candidate group of a dispatched month, treated or "
        "control (whole groups), and what became of it (task on a key person's line, or why "
        "not); what `weixi groups campaign-eval` measures.",
    ),
    # --- strategy (weixi.strategy) ---------------------------------------------------------
    Table(
        "strategy_matches",
        _cols(
            "month DATE, subscriber_id VARCHAR, customer_id VARCHAR, branch_id VARCHAR, "
            "line_type VARCHAR, action VARCHAR, category VARCHAR, category_rank INTEGER, "
            "offer_id VARCHAR, rules VARCHAR, candidate_actions VARCHAR, p_churn DOUBLE, "
            "clv DOUBLE, uplift DOUBLE, uplift_source VARCHAR, sampled BOOLEAN, "
            "gross_value DOUBLE, best_channel VARCHAR, best_ev DOUBLE, priority_rank INTEGER, "
            "stability_group VARCHAR, urgency VARCHAR, a VARCHAR, b VARCHAR, c VARCHAR, "
            "vip_or_group BOOLEAN, household_lines INTEGER"
        ),
        "weixi.strategy.match",
        "The household's chosen action per matched line of a month.",
    ),
    # --- dispatch (weixi.dispatch) ---------------------------------------------------------
    Table(
        "plans",
        _cols(
            "month DATE, campaign_id VARCHAR, version INTEGER, status VARCHAR, "
            "created_at TIMESTAMP, updated_at TIMESTAMP, on_list BIGINT, control BIGINT, "
            "expected_value DOUBLE, cost DOUBLE, control_share DOUBLE"
        ),
        "weixi.dispatch.plans",
        "Plan versions of a month × campaign and their life cycle.",
    ),
    Table(
        "plan_assignments",
        _cols(
            "month DATE, campaign_id VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, "
            "branch_id VARCHAR, action VARCHAR, offer_id VARCHAR, channel VARCHAR, "
            "staff_id VARCHAR, is_control BOOLEAN, p_churn DOUBLE, expected_value DOUBLE, "
            "cost DOUBLE, reason VARCHAR, reason_zh VARCHAR, category VARCHAR, "
            "priority_rank INTEGER, uplift DOUBLE, uplift_source VARCHAR, plan_version INTEGER, "
            "forced_a1 BOOLEAN"
        ),
        "weixi.dispatch.plans",
        "The lines of a plan version: treated (on the list) and control.",
    ),
    Table(
        "plan_not_on_list",
        _cols(
            "month DATE, campaign_id VARCHAR, subscriber_id VARCHAR, branch_id VARCHAR, "
            "reason VARCHAR, detail VARCHAR, plan_version INTEGER"
        ),
        "weixi.dispatch.plans",
        "Matched lines a plan version left off the list, with the reason.",
    ),
    # --- event triggers (weixi.triggers) ---------------------------------------------------
    Table(
        "trigger_firings",
        _cols(
            "event_date DATE, month DATE, rule VARCHAR, event_id VARCHAR, event_type VARCHAR, "
            "subscriber_id VARCHAR, customer_id VARCHAR, branch_id VARCHAR, channel VARCHAR, "
            "staff_id VARCHAR, outcome VARCHAR, reason VARCHAR, fired_at TIMESTAMP"
        ),
        "weixi.triggers.service",
        "Every firing of a day's events: task, control or suppressed (with the reason).",
    ),
    # --- evaluation (weixi.evaluate) -------------------------------------------------------
    Table(
        "evaluation_outcomes",
        _cols(
            "month DATE, campaign_id VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, "
            "branch_id VARCHAR, action VARCHAR, offer_id VARCHAR, channel VARCHAR, "
            "staff_id VARCHAR, is_control BOOLEAN, p_churn DOUBLE, expected_value DOUBLE, "
            "planned_cost DOUBLE, actual_cost DOUBLE, arpu_before DOUBLE, stayed INTEGER, "
            "arpu_after DOUBLE, contacted BOOLEAN, accepted BOOLEAN, segment VARCHAR, "
            "urgency VARCHAR"
        ),
        "weixi.evaluate.service",
        "Treated and control lines of an evaluated month with what happened next month.",
    ),
    Table(
        "winback_evaluations",
        _cols(
            "month DATE, campaign_id VARCHAR, horizon INTEGER, measured_through DATE, "
            "treated BIGINT, treated_won_back BIGINT, treated_rate DOUBLE, control BIGINT, "
            "control_won_back BIGINT, control_rate DOUBLE, lift DOUBLE, evaluated_at TIMESTAMP"
        ),
        "weixi.dispatch.winback",
        "A dispatched win-back list (month × campaign) against its control once its window "
        "has matured: won back = a live line of the customer within ``horizon`` months.",
    ),
    Table(
        "contact_outcomes",
        _cols(
            "month DATE, subscriber_id VARCHAR, contacted BOOLEAN, accepted BOOLEAN, "
            "campaign_id VARCHAR, channel VARCHAR, offer_id VARCHAR, attempts INTEGER, "
            "contact_cost DOUBLE, offer_cost DOUBLE, actual_cost DOUBLE"
        ),
        "weixi.flows",
        "The execution record per campaign × line (from the operational outcomes).",
    ),
    Table(
        "uplift",
        _cols(
            "month DATE, subscriber_id VARCHAR, action VARCHAR, uplift DOUBLE, delta_p DOUBLE, "
            "model_version VARCHAR, take_rate DOUBLE"
        ),
        "weixi.evaluate.service",
        "Learned uplift per targetable line × action; take_rate = the learned probability to "
        "accept when reached (weixi.evaluate.acceptance).",
    ),
    Table(
        "channel_effects",
        _cols("month DATE, channel VARCHAR, effect DOUBLE, measured DOUBLE, n BIGINT"),
        "weixi.evaluate.acceptance",
        "Measured share of contacts each channel delivers, per planning month (replaces the "
        "configured effect in matching once learned).",
    ),
    Table(
        "plan_adjustments",
        _cols(
            "month DATE, segment VARCHAR, action VARCHAR, p_best DOUBLE, lift_mean DOUBLE, "
            "lift_low DOUBLE, lift_high DOUBLE, net_value DOUBLE, n_treated BIGINT, "
            "n_control BIGINT, churn_control DOUBLE, uplift DOUBLE, holdout_share DOUBLE, "
            "explore_share DOUBLE"
        ),
        "weixi.evaluate.service",
        "Per segment × action: the measured lift and the next plan's holdout/exploration.",
    ),
    # --- read models of the pages (weixi.summaries): small per-month summaries ---
    Table(
        "rm_months",
        _cols(
            "month DATE NOT NULL, branch_id VARCHAR, subscribers BIGINT, revenue DOUBLE, "
            "arpu_n BIGINT, base_n BIGINT, churned BIGINT, base_revenue DOUBLE, "
            "kept_revenue DOUBLE, midhigh_base BIGINT, midhigh_kept BIGINT"
        ),
        "weixi.summaries",
        "Dashboard trend per month × branch: active lines and revenue, the churn and value "
        "retention of the previous month's active lines, mid/high-end retention.",
    ),
    Table(
        "rm_segments",
        _cols(
            "month DATE NOT NULL, branch_id VARCHAR, line_type VARCHAR, a VARCHAR, b VARCHAR, "
            "c VARCHAR, stability_group VARCHAR, urgency VARCHAR, excluded BOOLEAN, "
            "exclusion_reason VARCHAR, n BIGINT, priority_rank INTEGER, profile_n BIGINT, "
            "sum_arpu DOUBLE, n_arpu BIGINT, sum_data_mb DOUBLE, n_data_mb BIGINT, "
            "sum_tenure DOUBLE, n_tenure BIGINT, sum_p_churn DOUBLE, n_p_churn BIGINT"
        ),
        "weixi.summaries",
        "Lines per month × branch × line type × stability group × urgency × exclusion, with "
        "the sums the group profiles average.",
    ),
    Table(
        "rm_needs",
        _cols(
            "month DATE NOT NULL, branch_id VARCHAR, line_type VARCHAR, x VARCHAR, y VARCHAR, "
            "z VARCHAR, n BIGINT"
        ),
        "weixi.summaries",
        "Included lines per needs cell (D × E × F mobile, G × H × I broadband).",
    ),
    Table(
        "rm_migration",
        _cols(
            "month DATE NOT NULL, prev_month DATE, branch_id VARCHAR, dimension VARCHAR, "
            "source VARCHAR, target VARCHAR, value BIGINT"
        ),
        "weixi.summaries",
        "Lines moving from the previous segmented month's group to this month's, per "
        "dimension (urgency, a, b, c) and branch of the earlier row.",
    ),
    Table(
        "rm_churn",
        _cols(
            "month DATE NOT NULL, branch_id VARCHAR, model_version VARCHAR, bin DOUBLE, "
            "n BIGINT, sum_p DOUBLE, n_p BIGINT, high_risk BIGINT"
        ),
        "weixi.summaries",
        "Scored lines per month × branch × model version × 5 % score bin.",
    ),
    Table(
        "rm_churn_reasons",
        _cols(
            "month DATE NOT NULL, branch_id VARCHAR, code VARCHAR, n BIGINT, "
            "sum_contribution DOUBLE, n_contribution BIGINT"
        ),
        "weixi.summaries",
        "Stored churn reasons per month × branch × reason code.",
    ),
    Table(
        "rm_churn_deciles",
        _cols(
            "month DATE NOT NULL, scope VARCHAR, decile BIGINT, n BIGINT, sum_p DOUBLE, "
            "n_p BIGINT, churned BIGINT"
        ),
        "weixi.summaries",
        "Predicted against actual churn per score decile (scope '*' = province, else a "
        "branch), once the next month is loaded.",
    ),
    Table(
        "rm_top_risk",
        _cols(
            "month DATE NOT NULL, scope VARCHAR, rank BIGINT, subscriber_id VARCHAR, "
            "customer_id VARCHAR, phone VARCHAR, name VARCHAR, branch_id VARCHAR, "
            "line_type VARCHAR, arpu DOUBLE, p_churn DOUBLE, reasons VARCHAR, code VARCHAR, "
            "urgency VARCHAR"
        ),
        "weixi.summaries",
        "The riskiest lines of a month per scope ('*' = province, else a branch), ranked.",
    ),
    Table(
        "rm_evaluation",
        _cols("month DATE NOT NULL, scope VARCHAR, locale VARCHAR, report VARCHAR"),
        "weixi.summaries",
        "The evaluation page's overview (JSON) per evaluated month × scope × locale.",
    ),
    Table(
        "rm_lookup",
        _cols("month DATE NOT NULL, key VARCHAR, subscriber_id VARCHAR"),
        "weixi.summaries",
        "Customer search keys (customer id, phone number) of the latest month, sorted by key.",
    ),
]

#: Every table of the store by name, in creation order.
TABLES: dict[str, Table] = {t.name: t for t in _TABLES}
