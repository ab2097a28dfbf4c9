"""Fire trigger rules on a day's events: tasks at once, inside the contact policy and capacity.

For the events of one day (``events`` table, :mod:`weixi.ingest.events`):

1. each event joins its line's latest segmentation row (the month whose lists are being worked:
   the last month before the event's month) and churn score; events without a line there are
   ``unknown_customer``; lines excluded by the segmentation are ``excluded``;
2. rules are tried in order (conditions compiled by :mod:`weixi.segment.exprs`); a line gets at
   most one firing a day (later matches: ``another_trigger_today``);
3. the rule's cool-down (``rule_cooldown``: fired for the line within ``cooldown_days``, or
   already this work month), then the contact policy shared with campaigns
   (:func:`weixi.dispatch.policy.suppression_sql`: ``do_not_disturb``, ``credit_list``,
   ``contact_cap`` counting open tasks of every campaign and trigger, ``cooldown`` after a
   refusal), then the day's capacity per branch × channel (``over_capacity``);
4. the randomized control (:func:`weixi.dispatch.holdout.in_control_sql`, one salt per rule) is
   held back; the others become open tasks of the rule's campaign ``trigger-<key>`` with a
   deadline, and treated + control rows are appended to the campaign's approved plan so
   evaluation measures a trigger's lift like a campaign's.

Every firing (task, control or suppressed, with its reason) is kept in ``trigger_firings``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import ibis
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from weixi.dispatch import plans
from weixi.dispatch.holdout import in_control_sql
from weixi.dispatch.models import Campaign, CampaignStatus, Task
from weixi.dispatch.policy import contact_history, suppression_sql
from weixi.dispatch.schemas import Capacity, ContactPolicy
from weixi.dispatch.service import STAFF_PER_DAY
from weixi.errors import NotFoundError
from weixi.strategy.schemas import StrategyLibrary, sql_literal
from weixi.triggers.rules import TriggerSet, candidate_schema, compile_rule

#: Why a matched event did not become a task, in the order they are checked.
SUPPRESSION_ORDER = (
    "unknown_customer",
    "excluded",
    "another_trigger_today",
    "rule_cooldown",
    "do_not_disturb",
    "credit_list",
    "contact_cap",
    "cooldown",
    "over_capacity",
)
SUPPRESSION_TEXT = {
    "unknown_customer": ("Line not in the latest segmentation", "最新细分中无此用户"),
    "excluded": ("Excluded before segmentation", "细分前剔除"),
    "another_trigger_today": ("Another trigger fired for the line today", "当日已触发其他规则"),
    "rule_cooldown": ("Rule's cool-down (fired recently)", "规则冷却期内"),
    "do_not_disturb": ("Do not disturb", "免打扰"),
    "credit_list": ("On the red/black list", "红黑名单"),
    "contact_cap": ("Monthly contact cap reached", "已达月接触上限"),
    "cooldown": ("Cool-down after a refusal", "拒绝后冷却期"),
    "over_capacity": ("Over the day's capacity", "超出当日处理能力"),
}


@dataclass
class TriggerResult:
    """What one day's firing reports (part of ``weixi events import --json``)."""

    date: str
    month: str | None
    events: int = 0
    matched: int = 0
    tasks_created: int = 0
    control: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    by_rule: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def work_month(con: duckdb.DuckDBPyConnection, day: dt.date) -> dt.date | None:
    """The month whose lists are worked on ``day``: the last segmented month before its month
    (None before any segmentation)."""
    first = day.replace(day=1)
    row = con.execute(
        "SELECT max(month) FILTER (WHERE month < ?), max(month) FILTER (WHERE month <= ?) "
        "FROM segments",
        [first, day],
    ).fetchall()[0]
    return row[0] or row[1]


def _campaign(session: Session, ts: TriggerSet, rule, day: dt.date) -> Campaign:
    row = session.execute(
        select(Campaign).where(Campaign.key == rule.campaign_key)
    ).scalar_one_or_none()
    if row is None:
        row = Campaign(
            key=rule.campaign_key,
            name_en=f"Trigger: {rule.label.en}",
            name_zh=f"事件触发：{rule.label.zh}",
            status=CampaignStatus.active.value,
            period_start=day.replace(day=1),
            period_end=dt.date(2099, 12, 31),
            control_share=rule.control_share,
            salt=f"{ts.salt}:{rule.key}",
            channels=[rule.channel],
            actions=[rule.action],
            spec={"type": "trigger", "rule": rule.model_dump(mode="json")},
        )
        session.add(row)
        session.flush()
    return row


def _capacity(con: duckdb.DuckDBPyConnection, cap: Capacity, share: float) -> pd.DataFrame:
    """Contacts a day per branch × channel kept for triggers (staff table or pseudo staff)."""
    rows = []
    heads = con.execute(
        "SELECT CAST(branch_id AS VARCHAR), CAST(channel AS VARCHAR), count(*) FROM staff "
        "GROUP BY ALL"
    ).fetchall()
    have = {(b, c) for b, c, _ in heads}
    branches = [r[0] for r in con.execute("SELECT DISTINCT branch_id FROM _tr_cand").fetchall()]
    for b in branches:
        if (b, "call_center") not in have:
            heads.append((b, "call_center", cap.pseudo_agents_per_branch))
        if (b, "store") not in have:
            heads.append((b, "store", cap.pseudo_store_staff_per_branch))
    for b, ch, n in heads:
        per_day = getattr(cap, STAFF_PER_DAY[ch]) if ch in STAFF_PER_DAY else math.inf
        rows.append((b, ch, float(math.floor(n * per_day * share))))
    for b in branches:  # e-channels: unlimited unless configured
        rows.append((b, "sms", float(cap.sms_per_branch or 1e12)))
        rows.append((b, "app", float(cap.app_per_branch or 1e12)))
    return pd.DataFrame(rows, columns=["branch_id", "channel", "cap"])


def fire_day(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    day: dt.date,
    triggers: TriggerSet,
    library: StrategyLibrary,
    policy: ContactPolicy | None = None,
    capacity: Capacity | None = None,
    now: dt.datetime | None = None,
) -> TriggerResult:
    """Fire ``triggers`` on ``day``'s events; create tasks at once (flush, no commit)."""
    policy = policy or ContactPolicy()
    capacity = capacity or Capacity()
    now = now or dt.datetime.combine(day, dt.time(8))
    month = work_month(con, day)
    d = sql_literal(day)
    n_events = con.execute(f"SELECT count(*) FROM events WHERE event_date = {d}").fetchone()[0]
    result = TriggerResult(date=day.isoformat(), month=None if month is None else f"{month:%Y-%m}")
    result.events = int(n_events)
    if month is None:
        if n_events:
            raise NotFoundError(
                "no segmented month to fire triggers on {day}: import and segment a month first",
                day=day,
            )
        return result
    con.execute(f"DELETE FROM trigger_firings WHERE event_date = {d}")  # a re-run replaces the day
    m = sql_literal(month)
    churn = (
        f"LEFT JOIN (SELECT subscriber_id, max(p_churn) AS p_churn FROM churn_scores "
        f"WHERE month = {m} GROUP BY 1) c ON c.subscriber_id = s.subscriber_id"
    )
    seg_cols = [
        c
        for c in candidate_schema()
        if c
        not in {
            "event_id",
            "event_date",
            "customer_id",
            "subscriber_id",
            "event_type",
            "value",
            "detail",
            "source",
            "p_churn",
        }
    ]
    have = {r[0] for r in con.execute("DESCRIBE segments").fetchall()}
    arpu = "s.arpu_3m" if "arpu_3m" in have else "NULL"
    # the line of a customer-level event: its highest-ARPU line in the work month
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tr_events AS
        WITH pick AS (
            SELECT s.customer_id, s.subscriber_id FROM segments s WHERE s.month = {m}
            QUALIFY row_number() OVER (PARTITION BY s.customer_id
                                       ORDER BY s.excluded, {arpu} DESC NULLS LAST,
                                                s.subscriber_id) = 1
        )
        SELECT e.event_id, e.event_date, e.customer_id,
               COALESCE(e.subscriber_id, p.subscriber_id) AS subscriber_id,
               e.event_type, e.value, e.detail, e.source
        FROM events e LEFT JOIN pick p ON e.subscriber_id IS NULL AND p.customer_id = e.customer_id
        WHERE e.event_date = {d}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tr_cand AS
        SELECT e.*, {", ".join(_seg_col(c, have) for c in seg_cols)}, c.p_churn,
               s.subscriber_id IS NOT NULL AS known
        FROM _tr_events e
        LEFT JOIN segments s ON s.month = {m} AND s.subscriber_id = e.subscriber_id
        {churn}"""
    )
    # rules → matches, in the segmentation rule language (compiled by ibis to DuckDB SQL)
    table = ibis.table(candidate_schema(), name="_tr_cand")
    parts = []
    for i, rule in enumerate(triggers.rules):
        expr = table.filter(compile_rule(rule, table, triggers.params)).select("event_id")
        sql = ibis.to_sql(expr, dialect="duckdb")
        parts.append(f"SELECT event_id, {i} AS rule_idx FROM ({sql})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _tr_match AS {' UNION ALL '.join(parts)}")
    rules_df = pd.DataFrame(
        [
            (
                i,
                r.key,
                r.channel,
                r.cooldown_days,
                r.deadline_days,
                r.action,
                r.offer,
                r.control_share,
            )
            for i, r in enumerate(triggers.rules)
        ],
        columns=[
            "rule_idx",
            "rule",
            "channel",
            "cooldown_days",
            "deadline_days",
            "action",
            "offer_id",
            "control_share",
        ],
    )
    con.register("_tr_rules_df", rules_df)
    con.execute("CREATE OR REPLACE TEMP TABLE _tr_rules AS SELECT * FROM _tr_rules_df")
    con.unregister("_tr_rules_df")
    _make_am_table(con)
    # one firing per line a day: the first rule (then the first event) wins
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tr_fire AS
        SELECT c.*, x.rule_idx, r.rule, r.action, r.offer_id, r.deadline_days, r.control_share,
               row_number() OVER (PARTITION BY c.subscriber_id ORDER BY x.rule_idx, c.event_id)
                   AS nth,
               row_number() OVER (ORDER BY c.event_id, x.rule_idx) AS sid,
               CASE WHEN r.channel <> 'owner' THEN r.channel
                    WHEN (COALESCE(c.vip_tier, 'none') <> 'none'
                          OR COALESCE(c.group_class, 'none') IN ('A', 'B', 'C'))
                         AND EXISTS (SELECT 1 FROM _tr_am a WHERE a.branch_id = c.branch_id)
                         THEN 'account_manager'
                    ELSE 'call_center' END AS channel,
               EXISTS (SELECT 1 FROM trigger_firings f
                       WHERE f.rule = r.rule AND f.subscriber_id = c.subscriber_id
                         AND f.outcome IN ('task', 'control')
                         AND (f.event_date > {d} - r.cooldown_days::INTEGER
                              OR f.month = {m})) AS in_cooldown
        FROM _tr_match x JOIN _tr_cand c USING (event_id) JOIN _tr_rules r USING (rule_idx)"""
    )
    # the contact policy shared with campaigns (history: logged contacts + open tasks)
    con.register("_tr_hist_df", contact_history(session, month))
    con.execute("CREATE OR REPLACE TEMP TABLE _tr_hist AS SELECT * FROM _tr_hist_df")
    con.unregister("_tr_hist_df")
    con.execute("CREATE OR REPLACE TEMP TABLE _tr_base AS SELECT sid, credit FROM _tr_fire")
    sup = suppression_sql(
        con, month, policy, table="_tr_fire", history="_tr_hist", as_of=now, base="_tr_base"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _tr_sup AS SELECT DISTINCT * FROM ({sup})")
    con.register("_tr_cap_df", _capacity(con, capacity, triggers.capacity_share))
    con.execute("CREATE OR REPLACE TEMP TABLE _tr_cap AS SELECT * FROM _tr_cap_df")
    con.unregister("_tr_cap_df")
    salts = " ".join(
        f"WHEN {i} THEN {in_control_sql('f.subscriber_id', f'{triggers.salt}:{r.key}', r.control_share)}"
        for i, r in enumerate(triggers.rules)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tr_status AS
        WITH s AS (
            SELECT f.*,
              CASE WHEN NOT f.known THEN 'unknown_customer'
                   WHEN COALESCE(f.excluded, FALSE) THEN 'excluded'
                   WHEN f.nth > 1 THEN 'another_trigger_today'
                   WHEN f.in_cooldown THEN 'rule_cooldown'
                   ELSE p.suppressed END AS reason0,
              CASE f.rule_idx {salts} END AS is_control
            FROM _tr_fire f LEFT JOIN _tr_sup p USING (subscriber_id)
        ), ranked AS (
            SELECT s.*, row_number() OVER (PARTITION BY s.branch_id, s.channel
                        ORDER BY s.rule_idx, s.p_churn DESC NULLS LAST, s.subscriber_id) AS k
            FROM s WHERE s.reason0 IS NULL
        )
        SELECT s.* EXCLUDE (reason0),
               COALESCE(s.reason0, CASE WHEN r.k > COALESCE(cp.cap, 0) THEN 'over_capacity' END)
                   AS reason
        FROM s LEFT JOIN ranked r USING (sid)
        LEFT JOIN _tr_cap cp ON cp.branch_id = s.branch_id AND cp.channel = s.channel"""
    )
    # staff: the customer's account manager (last AM task), else one of the branch's by hash
    con.register("_tr_last_df", _last_owner(session))
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _tr_out AS
        SELECT s.*, CASE WHEN s.reason IS NOT NULL THEN 'suppressed'
                         WHEN s.is_control THEN 'control' ELSE 'task' END AS outcome,
               CASE WHEN s.channel = 'account_manager'
                    THEN COALESCE(l.staff_id, am.staff_id) END AS staff_id
        FROM _tr_status s
        LEFT JOIN _tr_last_df l ON l.subscriber_id = s.subscriber_id
             AND l.branch_id = s.branch_id
        LEFT JOIN _tr_am am ON am.branch_id = s.branch_id
             AND am.k = hash(s.subscriber_id) % am.n"""
    )
    con.unregister("_tr_last_df")
    con.execute(
        f"""INSERT INTO trigger_firings
        SELECT event_date, {m}, rule, event_id, event_type, subscriber_id, customer_id, branch_id,
               channel, staff_id, outcome, reason, ?
        FROM _tr_out""",
        [now],
    )
    _write(con, session, triggers, month, day, now)
    # the report
    result.matched = con.execute("SELECT count(*) FROM _tr_out").fetchone()[0]
    counts = dict(
        con.execute(
            "SELECT reason, count(*) FROM _tr_out WHERE reason IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    result.suppressed = {r: int(counts[r]) for r in SUPPRESSION_ORDER if r in counts}
    result.tasks_created = con.execute(
        "SELECT count(*) FROM _tr_out WHERE outcome = 'task'"
    ).fetchone()[0]
    result.control = con.execute(
        "SELECT count(*) FROM _tr_out WHERE outcome = 'control'"
    ).fetchone()[0]
    by = con.execute(
        """SELECT rule, count(*), count(*) FILTER (WHERE outcome = 'task'),
                  count(*) FILTER (WHERE outcome = 'control'),
                  count(*) FILTER (WHERE outcome = 'suppressed')
           FROM _tr_out GROUP BY 1"""
    ).fetchall()
    order = {r.key: i for i, r in enumerate(triggers.rules)}
    result.by_rule = [
        {"rule": r, "matched": n, "tasks": t_, "control": c, "suppressed": s}
        for r, n, t_, c, s in sorted(by, key=lambda x: order.get(x[0], 99))
    ]
    return result


_DUCK = {
    "string": "VARCHAR",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "int32": "INTEGER",
    "float64": "DOUBLE",
}


def _seg_col(name: str, have: set[str]) -> str:
    """``s.name``, or a typed NULL when the segments table lacks the column (older stores)."""
    if name in have:
        return f"s.{name}"
    return f"CAST(NULL AS {_DUCK[candidate_schema()[name]]}) AS {name}"


def _make_am_table(con: duckdb.DuckDBPyConnection) -> None:
    """``_tr_am``: the account managers per branch, numbered (k of n) for a stable assignment."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _tr_am AS
        SELECT CAST(staff_id AS VARCHAR) AS staff_id, CAST(branch_id AS VARCHAR) AS branch_id,
               row_number() OVER (PARTITION BY branch_id ORDER BY staff_id) - 1 AS k,
               count(*) OVER (PARTITION BY branch_id) AS n
        FROM staff WHERE channel = 'account_manager'"""
    )


def _last_owner(session: Session) -> pd.DataFrame:
    """Per line, the account manager of its latest account-manager task (its owner)."""
    rows = session.execute(
        select(Task.subscriber_id, Task.branch_id, Task.staff_id)
        .where(Task.channel == "account_manager", Task.staff_id.is_not(None))
        .order_by(Task.id)
    ).all()
    df = pd.DataFrame(rows, columns=["subscriber_id", "branch_id", "staff_id"])
    return df.drop_duplicates("subscriber_id", keep="last").astype("string")


def _write(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    ts: TriggerSet,
    month: dt.date,
    day: dt.date,
    now: dt.datetime,
) -> None:
    """Open tasks for the treated firings; treated + control rows into each rule's plan."""
    m = sql_literal(month)
    labels = {r.key: r for r in ts.rules}
    for (rule_key,) in con.execute(
        "SELECT DISTINCT rule FROM _tr_out WHERE outcome IN ('task', 'control')"
    ).fetchall():
        rule = labels[rule_key]
        camp = _campaign(session, ts, rule, day)
        frame = con.execute(
            f"""SELECT subscriber_id, customer_id, branch_id, channel, staff_id, action, offer_id,
                      p_churn, CAST(priority_rank AS INTEGER) AS priority_rank, event_type,
                      value, outcome
               FROM _tr_out WHERE rule = {sql_literal(rule_key)}
                 AND outcome IN ('task', 'control') ORDER BY subscriber_id"""
        ).df()
        due = now + dt.timedelta(days=rule.deadline_days)
        en, zh = rule.label.en, rule.label.zh
        treated = frame[frame["outcome"] == "task"]
        rows = [
            dict(
                campaign_id=camp.id,
                month=month,
                subscriber_id=r.subscriber_id,
                customer_id=r.customer_id,
                branch_id=r.branch_id,
                channel=r.channel,
                staff_id=None if pd.isna(r.staff_id) else r.staff_id,
                action=r.action,
                offer_id=None if pd.isna(r.offer_id) else r.offer_id,
                category="A",
                priority_rank=None if pd.isna(r.priority_rank) else int(r.priority_rank),
                p_churn=None if pd.isna(r.p_churn) else float(r.p_churn),
                reason=f"Trigger {day}: {en}",
                reason_zh=f"事件触发 {day}：{zh}",
                status="open",
                due_at=due,
                created_at=now,
                updated_at=now,
            )
            for r in treated.itertuples(index=False)
        ]
        if rows:
            session.execute(insert(Task), rows)
        # the plan record evaluation reads (version 1, approved: it is dispatched at once)
        ckey = sql_literal(rule.campaign_key)
        if plans.latest(con, month, rule.campaign_key) is None:
            plans.record(
                con,
                month=month,
                campaign=rule.campaign_key,
                version=1,
                status="approved",
                control_share=rule.control_share,
            )
        con.execute(
            f"""INSERT INTO plan_assignments BY NAME
            SELECT {m} AS month, {ckey} AS campaign_id, subscriber_id, customer_id, branch_id,
                   action, offer_id, channel, staff_id, outcome = 'control' AS is_control, p_churn,
                   CAST(NULL AS DOUBLE) AS expected_value, 0.0 AS cost,
                   {sql_literal("Trigger " + str(day) + ": " + en)} AS reason,
                   {sql_literal("事件触发 " + str(day) + "：" + zh)} AS reason_zh, 'A' AS category,
                   CAST(priority_rank AS INTEGER) AS priority_rank, 1 AS plan_version,
                   FALSE AS forced_a1
            FROM _tr_out WHERE rule = {sql_literal(rule_key)} AND outcome IN ('task', 'control')"""
        )
        con.execute(
            f"""UPDATE plans SET on_list = q.t, control = q.c, updated_at = now()
            FROM (SELECT count(*) FILTER (WHERE NOT is_control) AS t,
                         count(*) FILTER (WHERE is_control) AS c
                  FROM plan_assignments WHERE month = {m} AND campaign_id = {ckey}) q
            WHERE plans.month = {m} AND plans.campaign_id = {ckey}"""
        )
    session.flush()


def recent_firings(
    *,
    con: duckdb.DuckDBPyConnection,
    days: int = 7,
    limit: int = 200,
    branch: str | None = None,
) -> dict[str, Any]:
    """The last ``days`` days of firings (of ``branch`` when given): per day × rule counts by
    outcome and suppression reason, and the latest rows."""
    scope = "" if branch is None else f"AND branch_id = {sql_literal(branch)}"
    reasons = ", ".join(f"count(*) FILTER (WHERE reason = '{r}') AS {r}" for r in SUPPRESSION_ORDER)
    summary = con.execute(
        f"""WITH last AS (SELECT max(event_date) AS d FROM trigger_firings)
        SELECT CAST(event_date AS VARCHAR) AS event_date, rule,
               count(*) FILTER (WHERE outcome = 'task') AS tasks,
               count(*) FILTER (WHERE outcome = 'control') AS control,
               count(*) FILTER (WHERE outcome = 'suppressed') AS suppressed,
               {reasons}
        FROM trigger_firings, last WHERE event_date > last.d - {int(days)} {scope}
        GROUP BY ALL ORDER BY 1 DESC, rule"""
    ).df()
    rows = con.execute(
        f"""SELECT CAST(event_date AS VARCHAR) AS event_date, rule, event_type, subscriber_id,
                  branch_id, channel, staff_id,
                  outcome, reason FROM trigger_firings WHERE TRUE {scope}
           ORDER BY event_date DESC, fired_at DESC, outcome DESC, subscriber_id LIMIT {int(limit)}"""
    ).df()
    return {"summary": summary.to_dict("records"), "rows": rows.to_dict("records")}
