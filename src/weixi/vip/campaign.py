"""Group retention campaigns (集团客户维系活动): whole groups treated or held back, one task
per treated group for its account manager, evaluated with groups as the unit.

1. **Candidates** of a month: the alerted groups (``group_kpis.alert``, :mod:`weixi.vip.groups`)
   plus the groups whose live members' mean churn score (``churn_scores``) is among the
   ``top_n`` highest or at least ``min_mean_p_churn`` (``group_campaign`` in ``params.yaml``).
2. **Cluster-randomized control**: a whole group is control when the campaign's uniform of its
   ``group_id`` (:func:`weixi.dispatch.holdout.in_control_sql`, salt = the campaign key) is
   below ``control_share`` — the same stable draw the customer controls use, on the group id.
3. **Tasks**: each treated group becomes one open task of the campaign for its account manager
   (books of business, :mod:`weixi.vip.books`), on its first reachable key person's line
   (``group_contacts``, roles in ``key_roles`` order) and with ``tasks.group_id`` set. The key
   persons go through the contact policy of the dispatch (:func:`weixi.dispatch.policy.
   suppression_sql`: do-not-disturb, red/black list, monthly cap, cool-down); a group whose key
   persons are all suppressed gets no task (its ``outcome`` says why) but stays in the treated
   arm (intention to treat). Control groups get no task.
4. **Evaluation**: member churn of treated vs. control groups over the following month(s), as
   a ratio of sums per arm, with a 95 % interval that is cluster-robust (groups are the unit:
   statsmodels' WLS on group rates weighted by members, cluster covariance, a t interval with
   the smaller arm's groups − 1 degrees of freedom) and a randomization p-value (scipy),
   members lost and kept, and group stability (集团客户稳定率) per arm.

The record of every candidate (arm, reason, task line or why none) is ``group_campaign``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from weixi.dispatch.holdout import in_control_sql
from weixi.errors import ConfigError, NotFoundError
from weixi.store.months import add_months, format_month, loaded_months, parse_month
from weixi.strategy.schemas import sql_literal
from weixi.vip.params import GroupCampaign, VipParams, load_params

TABLE = "group_campaign"  # declared in weixi.store.schema.tables
ACTION = "group_retention"
CHANNEL = "account_manager"
#: Fewer groups than this in an arm: the cluster-robust interval may be too narrow (the
#: randomization p-value still holds).
MIN_GROUPS = 20
#: Why a treated group got no task (besides the contact policy's reasons).
NO_KEY_PERSON = "no_key_person"
OUTCOME_TEXT = {
    "task": ("Task for the account manager", "已派客户经理任务"),
    "control": ("Control group (no task)", "对照组（不派单）"),
    "no_key_person": ("No live key person on file", "无在网关键人"),
    "do_not_disturb": ("Key persons do not disturb", "关键人免打扰"),
    "credit_list": ("Key persons on the red/black list", "关键人在红黑名单"),
    "contact_cap": ("Key persons' monthly contact cap reached", "关键人已达月接触上限"),
    "cooldown": ("Key persons in cool-down after a refusal", "关键人拒绝后冷却期"),
}


def default_key(month: dt.date) -> str:
    """The campaign key of a month when none is given: ``group-YYYY-MM``."""
    return f"group-{format_month(month)}"


def candidates_sql(month: dt.date, p: GroupCampaign, *, salt: str, share: float) -> str:
    """SQL of the month's candidate groups with their arm (``is_control``) and reason."""
    m = sql_literal(month)
    thr = "FALSE" if p.min_mean_p_churn is None else f"mean_p >= {float(p.min_mean_p_churn)!r}"
    return f"""
WITH sc AS (
  SELECT subscriber_id, max(p_churn) AS p_churn FROM churn_scores WHERE month = {m} GROUP BY 1
), risk AS (
  SELECT s.group_id, avg(sc.p_churn) AS mean_p
  FROM snapshot s JOIN sc ON sc.subscriber_id = s.subscriber_id
  WHERE s.month = {m} AND s.group_id IS NOT NULL AND s.status <> 'cancelled'
  GROUP BY s.group_id
), g AS (
  SELECT k.group_id, k.name, k.branch_id, k.grade, k.members, k.members_prev, k.left_group,
         k.key_persons, k.alert, r.mean_p,
         k.members >= {int(p.min_members)} AND r.mean_p IS NOT NULL AS eligible
  FROM group_kpis k LEFT JOIN risk r USING (group_id)
  WHERE k.month = {m}
), ranked AS (
  SELECT *, CASE WHEN eligible THEN CAST(row_number() OVER (
                   PARTITION BY eligible ORDER BY mean_p DESC, group_id) AS INTEGER) END
                 AS risk_rank
  FROM g
)
SELECT group_id, name, branch_id, grade, members, members_prev, left_group, key_persons,
       coalesce(alert, FALSE) AS alert, mean_p AS mean_p_churn, risk_rank,
       CASE WHEN alert THEN 'alert' WHEN risk_rank <= {int(p.top_n)} THEN 'top_risk'
            ELSE 'high_risk' END AS reason,
       {in_control_sql("group_id", salt, share)} AS is_control
FROM ranked
WHERE alert OR risk_rank <= {int(p.top_n)} OR (eligible AND {thr})
ORDER BY alert DESC, risk_rank NULLS LAST, group_id
"""


def _require_kpis(con: duckdb.DuckDBPyConnection, m: dt.date) -> None:
    if not con.execute("SELECT count(*) FROM group_kpis WHERE month = ?", [m]).fetchone()[0]:
        raise NotFoundError(
            "no group KPIs for {month:%Y-%m}: run `weixi groups kpis --month {month:%Y-%m}` first",
            month=m,
        )


def candidates(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    *,
    key: str | None = None,
    share: float | None = None,
    params: VipParams | None = None,
) -> pd.DataFrame:
    """Return the month's candidate groups with arm and reason (nothing is written)."""
    p = (params or load_params()).group_campaign
    m = parse_month(month)
    _require_kpis(con, m)
    share = p.control_share if share is None else share
    if not 0 <= share < 1:
        raise ConfigError("the control share must be in [0, 1)")
    df = con.execute(candidates_sql(m, p, salt=key or default_key(m), share=share)).df()
    df["is_control"] = df["is_control"].astype(bool)
    return df


def _staff(con: duckdb.DuckDBPyConnection, m: dt.date) -> str:
    """SQL relation (group_id, staff_id): each group's account manager in the month's books."""
    return f"""(SELECT key AS group_id, staff_id FROM books WHERE kind = 'group' AND month =
               (SELECT max(month) FROM books WHERE kind = 'group' AND month <= {sql_literal(m)}))"""


def _key_person_lines(
    con: duckdb.DuckDBPyConnection,
    session,
    m: dt.date,
    p: GroupCampaign,
    *,
    campaign_id: int | None,
    as_of: dt.datetime,
) -> None:
    """``_gc_pick``: per treated candidate group (``_gc_cand``), its task line or why none."""
    from weixi.dispatch.policy import contact_history, suppression_sql
    from weixi.dispatch.schemas import ContactPolicy

    mm = sql_literal(m)
    roles = " ".join(f"WHEN {sql_literal(r)} THEN {i}" for i, r in enumerate(p.key_roles))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gc_kp AS
        SELECT row_number() OVER (ORDER BY k.group_id, k.subscriber_id) AS sid, k.group_id,
               k.role, s.subscriber_id, s.customer_id, lower(CAST(g.credit AS VARCHAR)) AS credit,
               CASE k.role {roles} ELSE {len(p.key_roles)} END AS role_rank
        FROM group_contacts k
        JOIN _gc_cand c ON c.group_id = k.group_id AND NOT c.is_control
        JOIN snapshot s ON s.month = {mm} AND s.subscriber_id = k.subscriber_id
             AND s.group_id = k.group_id AND s.status <> 'cancelled'
        LEFT JOIN segments g ON g.month = {mm} AND g.subscriber_id = s.subscriber_id"""
    )
    con.register("_gc_hist_df", contact_history(session, m, exclude_campaign_id=campaign_id))
    con.execute("CREATE OR REPLACE TEMP TABLE _gc_hist AS SELECT * FROM _gc_hist_df")
    con.unregister("_gc_hist_df")
    sup = suppression_sql(
        con, m, ContactPolicy(), table="_gc_kp", history="_gc_hist", as_of=as_of, base="_gc_kp"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gc_pick AS
        WITH k AS (
            SELECT kp.*, s.suppressed FROM _gc_kp kp JOIN ({sup}) s USING (subscriber_id)
        ), first_ok AS (
            SELECT * FROM k WHERE suppressed IS NULL
            QUALIFY row_number() OVER (PARTITION BY group_id
                                       ORDER BY role_rank, subscriber_id) = 1
        ), first_any AS (
            SELECT group_id, suppressed FROM k
            QUALIFY row_number() OVER (PARTITION BY group_id
                                       ORDER BY role_rank, subscriber_id) = 1
        )
        SELECT c.group_id, o.subscriber_id, o.customer_id, o.role,
               CASE WHEN o.subscriber_id IS NOT NULL THEN 'task'
                    ELSE coalesce(a.suppressed, '{NO_KEY_PERSON}') END AS outcome,
               (SELECT count(*) FROM k WHERE k.group_id = c.group_id) AS live_key_persons
        FROM _gc_cand c LEFT JOIN first_ok o USING (group_id)
        LEFT JOIN first_any a USING (group_id)
        WHERE NOT c.is_control"""
    )


def _reason_texts(row: Any, p: GroupCampaign) -> tuple[str, str]:
    lab = p.reasons.get(row.reason)
    en_r, zh_r = (lab.en, lab.zh) if lab else (row.reason, row.reason)
    risk = "" if pd.isna(row.mean_p_churn) else f"{round(float(row.mean_p_churn) * 100)}%"
    en = (
        f"Group retention: {row.name} ({row.group_id}, class {row.grade or '-'}) — {en_r}; "
        f"{int(row.left_group)} of {int(row.members_prev)} members left this month"
        + (f"; mean churn risk {risk}" if risk else "")
        + f"; visit the key persons ({int(row.live_key_persons)})"
    )
    zh = (
        f"集团客户维系：{row.name}（{row.group_id}，{row.grade or '-'}类）— {zh_r}；"
        f"本月{int(row.members_prev)}名成员中{int(row.left_group)}名离开"
        + (f"；成员平均离网概率 {risk}" if risk else "")
        + f"；请走访关键人（{int(row.live_key_persons)}名）"
    )
    return en, zh


def dispatch(
    *,
    con: duckdb.DuckDBPyConnection,
    session,
    month: str | dt.date,
    key: str | None = None,
    share: float | None = None,
    params: VipParams | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Dispatch the month's group campaign: record both arms, open one task per treated group.

    Idempotent per campaign and month: groups already recorded are not drawn or tasked again
    (the arm of a group never changes for a key). Flushes; the caller commits.
    """
    from sqlalchemy import select

    from weixi.dispatch.models import Campaign, CampaignStatus
    from weixi.store.bulk import insert_arrow

    vp = params or load_params()
    p = vp.group_campaign
    m = parse_month(month)
    key = key or default_key(m)
    share = p.control_share if share is None else share
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    df = candidates(con, m, key=key, share=share, params=vp)
    camp = session.execute(select(Campaign).where(Campaign.key == key)).scalar_one_or_none()
    if camp is None and df.empty:
        # no alerted or risky group this month: nothing to run, no empty campaign to list
        return {
            **_summary(df, key, m, share),
            "campaign_id": None,
            "dispatched": False,
            "already_recorded": 0,
            "tasks_created": 0,
            "no_task": {},
            "no_manager": 0,
        }
    if camp is None:
        camp = Campaign(
            key=key,
            name_en=f"{p.name.en} {format_month(m)}",
            name_zh=f"{p.name.zh} {format_month(m)}",
            status=CampaignStatus.active.value,
            period_start=m,
            period_end=dt.date(2099, 12, 31),
            control_share=share,
            salt=key,
            channels=[CHANNEL],
            actions=[ACTION],
            spec={"type": "group", "month": format_month(m), **p.model_dump(mode="json")},
        )
        session.add(camp)
        session.flush()
    elif (camp.spec or {}).get("type") != "group":
        raise ConfigError(
            "campaign {key} exists and is not a group campaign; pick another key", key=key
        )
    elif not math.isclose(float(camp.control_share), share):
        raise ConfigError(
            "campaign {key} was drawn with control share {control_share}; "
            "keep it (or pick another key)",
            key=key,
            control_share=camp.control_share,
        )
    mm, ck = sql_literal(m), sql_literal(key)
    done = {
        r[0]
        for r in con.execute(
            f"SELECT group_id FROM {TABLE} WHERE month = {mm} AND campaign_id = {ck}"
        ).fetchall()
    }
    new = df[~df["group_id"].isin(done)]
    con.register("_gc_cand_df", new)
    con.execute("CREATE OR REPLACE TEMP TABLE _gc_cand AS SELECT * FROM _gc_cand_df")
    con.unregister("_gc_cand_df")
    _key_person_lines(con, session, m, p, campaign_id=camp.id, as_of=now)
    rows = con.execute(
        f"""SELECT c.*, st.staff_id, k.subscriber_id, k.customer_id,
                   CASE WHEN c.is_control THEN 'control' ELSE k.outcome END AS outcome,
                   coalesce(k.live_key_persons, 0) AS live_key_persons
            FROM _gc_cand c LEFT JOIN _gc_pick k USING (group_id)
            LEFT JOIN {_staff(con, m)} st USING (group_id)
            ORDER BY c.group_id"""
    ).df()
    tasks = rows[rows["outcome"] == "task"]
    texts = [_reason_texts(r, p) for r in tasks.itertuples(index=False)]
    due = now + dt.timedelta(days=p.deadline_days)
    n = len(tasks)

    def col(name: str) -> list:
        return [None if pd.isna(v) else v for v in tasks[name].tolist()]

    written = insert_arrow(
        session,
        "tasks",
        pa.table(
            {
                "campaign_id": pa.array([camp.id] * n, pa.int64()),
                "month": pa.array([m] * n, pa.date32()),
                "subscriber_id": pa.array(col("subscriber_id"), pa.string()),
                "customer_id": pa.array(col("customer_id"), pa.string()),
                "branch_id": pa.array(col("branch_id"), pa.string()),
                "channel": pa.array([CHANNEL] * n, pa.string()),
                "staff_id": pa.array(col("staff_id"), pa.string()),
                "action": pa.array([ACTION] * n, pa.string()),
                "category": pa.array(["A"] * n, pa.string()),
                "priority_rank": pa.array([1] * n, pa.int32()),
                "p_churn": pa.array(col("mean_p_churn"), pa.float64()),
                "reason": pa.array([e for e, _ in texts], pa.string()),
                "reason_zh": pa.array([z for _, z in texts], pa.string()),
                "status": pa.array(["open"] * n, pa.string()),
                "due_at": pa.array([due] * n, pa.timestamp("us")),
                "group_id": pa.array(col("group_id"), pa.string()),
                "created_at": pa.array([now] * n, pa.timestamp("us")),
                "updated_at": pa.array([now] * n, pa.timestamp("us")),
            }
        ),
    )
    session.flush()
    if len(rows):
        con.register("_gc_rows_df", rows)
        try:
            con.execute(
                f"""INSERT INTO {TABLE} BY NAME
                SELECT {mm} AS month, {ck} AS campaign_id, group_id, branch_id, grade,
                       CAST(staff_id AS VARCHAR) AS staff_id, is_control, reason, alert,
                       mean_p_churn, CAST(risk_rank AS INTEGER) AS risk_rank, members,
                       live_key_persons AS key_persons,
                       CAST(subscriber_id AS VARCHAR) AS subscriber_id, outcome,
                       ?::TIMESTAMP AS created_at
                FROM _gc_rows_df""",
                [now],
            )
        finally:
            con.unregister("_gc_rows_df")
    return {
        **_summary(df, key, m, share),
        "campaign_id": camp.id,
        "dispatched": True,
        "already_recorded": int(df["group_id"].isin(done).sum()),
        "tasks_created": int(written),
        "no_task": {
            str(k): int(v)
            for k, v in rows[(~rows["is_control"]) & (rows["outcome"] != "task")]
            .groupby("outcome")
            .size()
            .items()
        },
        "no_manager": int(tasks["staff_id"].isna().sum()),
    }


def _summary(df: pd.DataFrame, key: str, m: dt.date, share: float) -> dict[str, Any]:
    ctl = df["is_control"]
    return {
        "campaign": key,
        "month": format_month(m),
        "control_share": share,
        "candidates": len(df),
        "treated": int((~ctl).sum()),
        "control": int(ctl.sum()),
        "by_reason": {str(k): int(v) for k, v in df.groupby("reason").size().items()},
        "members_treated": int(df.loc[~ctl, "members"].sum()),
        "members_control": int(df.loc[ctl, "members"].sum()),
    }


def preview(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    *,
    key: str | None = None,
    share: float | None = None,
    params: VipParams | None = None,
) -> dict[str, Any]:
    """Return the candidates and their arms without writing anything (``--dispatch`` off)."""
    vp = params or load_params()
    m = parse_month(month)
    key = key or default_key(m)
    share = vp.group_campaign.control_share if share is None else share
    df = candidates(con, m, key=key, share=share, params=vp)
    groups = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]
    return {**_summary(df, key, m, share), "dispatched": False, "groups": groups}


# --------------------------------------------------------------------------- evaluation


def cluster_rate_diff(
    events: np.ndarray,
    members: np.ndarray,
    treated: np.ndarray,
    clusters: np.ndarray | None = None,
    *,
    level: float = 0.95,
    seed: int = 0,
    permutations: int = 4999,
) -> dict[str, Any]:
    """Difference of two ratio estimators (control − treated) with a cluster-robust interval.

    Each row is one group: ``events`` of its ``members`` (e.g. members lost), ``treated`` its
    arm. Per arm the rate is Σ events / Σ members (the member-level rate). The difference is
    the coefficient of a WLS of the group rates on the arm weighted by members — the same as
    the member-level OLS — with statsmodels' cluster-robust covariance (``clusters``: a group
    seen in several months is one cluster; default one cluster per row) and a t interval with
    min(G_treated, G_control) − 1 degrees of freedom (conservative when an arm has few
    groups). ``p_value``: the randomization test of the same difference (scipy's permutation
    test, arms re-drawn over the groups; exact at any number of groups) when each row is its
    own group (``permutations`` re-draws; 0: none). Fewer than two groups in an arm: no
    interval.

    Example:
        >>> r = cluster_rate_diff(np.array([1, 2, 1, 1, 2, 6, 5, 7, 6, 5]),
        ...                       np.array([20] * 10), np.array([1] * 5 + [0] * 5))
        >>> round(r["treated_rate"], 4), round(r["control_rate"], 4), round(r["diff"], 4)
        (0.07, 0.29, 0.22)
        >>> r["df"], r["ci_low"] > 0, r["p_value"] < 0.05
        (4, True, True)
    """
    from scipy.stats import t as student
    from statsmodels.regression.linear_model import WLS
    from statsmodels.tools.tools import add_constant

    y = np.asarray(events, dtype=float)
    n = np.asarray(members, dtype=float)
    d = np.asarray(treated, dtype=bool)
    keep = n > 0
    y, n, d = y[keep], n[keep], d[keep]
    cl = np.arange(len(y)) if clusters is None else pd.factorize(np.asarray(clusters)[keep])[0]
    out: dict[str, Any] = {
        "treated_rate": float(y[d].sum() / n[d].sum()) if n[d].sum() else None,
        "control_rate": float(y[~d].sum() / n[~d].sum()) if n[~d].sum() else None,
        "diff": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
        "level": level,
        "df": None,
        "p_value": None,
        "groups_treated": int(d.sum()),
        "groups_control": int((~d).sum()),
    }
    if out["treated_rate"] is None or out["control_rate"] is None:
        return out
    out["diff"] = out["control_rate"] - out["treated_rate"]
    if d.sum() < 2 or (~d).sum() < 2:
        return out
    x = add_constant((~d).astype(float), has_constant="add")  # coefficient: control − treated
    fit = WLS(y / n, x, weights=n).fit(cov_type="cluster", cov_kwds={"groups": cl})
    se = float(fit.bse[1])
    # the smaller arm's groups − 1 degrees of freedom: with a few groups in an arm the sandwich
    # is too narrow, and the overall G − 1 would hide that
    df = int(min(d.sum(), (~d).sum()) - 1)
    q = float(student.ppf(0.5 + level / 2, df))
    out.update(se=se, df=df, ci_low=out["diff"] - q * se, ci_high=out["diff"] + q * se)
    if permutations and (clusters is None or len(np.unique(cl)) == len(cl)):
        out["p_value"] = _randomization_p(y, n, d, seed=seed, resamples=permutations)
    return out


def _randomization_p(
    y: np.ndarray, n: np.ndarray, d: np.ndarray, *, seed: int, resamples: int
) -> float:
    """Two-sided randomization p-value of the rate difference: the arms re-drawn over the
    groups (scipy's permutation test, arm sizes kept); exact under "no effect on any group"."""
    from scipy.stats import permutation_test

    def stat(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        a, b = a.astype(np.int64), b.astype(np.int64)
        return y[b].sum(axis) / n[b].sum(axis) - y[a].sum(axis) / n[a].sum(axis)

    idx = np.arange(len(y))
    res = permutation_test(
        (idx[d], idx[~d]),
        stat,
        permutation_type="independent",
        vectorized=True,
        n_resamples=resamples,
        random_state=seed,
    )
    return float(res.pvalue)


def _measured_month(con: duckdb.DuckDBPyConnection, m: dt.date, horizon: int) -> dt.date | None:
    have = [x for x in loaded_months(con) if m < x <= add_months(m, horizon)]
    return max(have) if have else None


def group_outcomes(
    con: duckdb.DuckDBPyConnection, key: str, *, horizon: int = 1, branch: str | None = None
) -> pd.DataFrame:
    """Per recorded group of campaign ``key``: its members at dispatch and what became of them
    by the measured month (``month`` + ``horizon``, or the latest loaded month before it).

    Columns: month, group_id, is_control, outcome, measured (month or NaT), members, churned
    (no live line any more), left_group (not a live member of the group any more), kept.
    """
    rows = con.execute(
        f"SELECT DISTINCT month FROM {TABLE} WHERE campaign_id = ? ORDER BY 1", [key]
    ).fetchall()
    if not rows:
        raise NotFoundError(
            "no group campaign {key!r}: dispatch it with `weixi groups campaign`", key=key
        )
    scope = "" if branch is None else f"AND c.branch_id = {sql_literal(branch)}"
    parts = []
    for (m,) in rows:
        e = _measured_month(con, m, horizon)
        parts.append(
            f"""SELECT c.month, c.group_id, c.is_control, c.outcome,
                       {sql_literal(e) if e else "CAST(NULL AS DATE)"} AS measured,
                       count(s.subscriber_id) AS members,
                       count(s.subscriber_id) FILTER (WHERE n.subscriber_id IS NULL
                           OR n.status = 'cancelled') AS churned,
                       count(s.subscriber_id) FILTER (WHERE n.subscriber_id IS NULL
                           OR n.status = 'cancelled' OR n.group_id IS DISTINCT FROM c.group_id)
                           AS left_group
                FROM {TABLE} c
                LEFT JOIN snapshot s ON s.month = c.month AND s.group_id = c.group_id
                     AND s.status <> 'cancelled'
                LEFT JOIN snapshot n ON n.month = {sql_literal(e) if e else "NULL"}
                     AND n.subscriber_id = s.subscriber_id
                WHERE c.campaign_id = {sql_literal(key)} AND c.month = {sql_literal(m)}
                  {scope}
                GROUP BY ALL"""
        )
    df = con.execute(" UNION ALL ".join(parts) + " ORDER BY month, group_id").df()
    df["kept"] = df["members"] - df["left_group"]
    return df


def evaluate(
    con: duckdb.DuckDBPyConnection,
    key: str,
    *,
    horizon: int = 1,
    level: float = 0.95,
    session=None,
    branch: str | None = None,
) -> dict[str, Any]:
    """Member churn and group stability of treated vs. control groups of campaign ``key``.

    The effect is control − treated member churn (positive: the campaign kept members), with a
    cluster-robust interval (:func:`cluster_rate_diff`); stability likewise (treated −
    control). With ``session``, the treated groups' task outcomes are added; ``branch`` keeps
    that branch's groups only.
    """
    df = group_outcomes(con, key, horizon=horizon, branch=branch)
    measured = df[df["measured"].notna()]
    treated = ~measured["is_control"].to_numpy(dtype=bool)

    def arm(mask: np.ndarray, frame: pd.DataFrame) -> dict[str, Any]:
        f = frame[mask]
        mem = int(f["members"].sum())
        return {
            "groups": len(f),
            "members": mem,
            "churned": int(f["churned"].sum()),
            "left_group": int(f["left_group"].sum()),
            "kept": int(f["kept"].sum()),
            "churn_rate": round(f["churned"].sum() / mem, 4) if mem else None,
            "stability": round(f["kept"].sum() / mem, 4) if mem else None,
        }

    out: dict[str, Any] = {
        "campaign": key,
        "branch": branch,
        "months": sorted({format_month(x) for x in df["month"]}),
        "horizon": horizon,
        "measured_months": sorted({format_month(x) for x in measured["measured"]}),
        "groups": len(df),
        "not_measured_groups": int(df["measured"].isna().sum()),
        "treated": arm(treated, measured),
        "control": arm(~treated, measured),
        "method": "ratio of sums per arm; cluster-robust (groups) WLS interval, "
        "t(min(G_treated, G_control) - 1); randomization p-value over groups",
    }
    cl = measured["group_id"].to_numpy()
    churn = cluster_rate_diff(
        measured["churned"].to_numpy(), measured["members"].to_numpy(), treated, cl, level=level
    )
    # stability: the share of members kept in the group; its lift is treated − control, which
    # is control − treated of the share that left the group
    stab = cluster_rate_diff(
        measured["left_group"].to_numpy(), measured["members"].to_numpy(), treated, cl, level=level
    )
    out["churn_effect"] = _effect(churn, level)
    out["stability_effect"] = _effect(stab, level)
    tasks = df[~df["is_control"]].groupby("outcome").size()
    out["treated"]["outcomes"] = {str(k): int(v) for k, v in tasks.items()}
    if session is not None:
        out["tasks"] = task_status(session=session, key=key)
    return out


def _effect(r: dict[str, Any], level: float) -> dict[str, Any]:
    def rnd(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    lo, hi, pv = r["ci_low"], r["ci_high"], r["p_value"]
    excludes = None if lo is None else bool(lo > 0 or hi < 0)
    return {
        "effect": rnd(r["diff"]),
        "ci_low": rnd(lo),
        "ci_high": rnd(hi),
        "level": level,
        "p_value": rnd(pv),
        "df": r["df"],
        # the interval excludes 0 and, where it applies, the randomization test agrees
        "significant": None if lo is None else excludes and (pv is None or pv < 1 - level),
        # an arm of fewer than MIN_GROUPS groups: the interval may be too narrow
        "few_groups": min(r["groups_treated"], r["groups_control"]) < MIN_GROUPS,
        "groups_treated": r["groups_treated"],
        "groups_control": r["groups_control"],
    }


def task_status(*, session, key: str) -> dict[str, int]:
    """Return the campaign's tasks by status and by last recorded result (operational DB)."""
    from sqlalchemy import func, select

    from weixi.dispatch.models import Campaign, Outcome, Task

    camp = session.execute(select(Campaign).where(Campaign.key == key)).scalar_one_or_none()
    if camp is None:
        return {}
    out = {
        f"status_{s}": int(n)
        for s, n in session.execute(
            select(Task.status, func.count())
            .where(Task.campaign_id == camp.id)
            .group_by(Task.status)
        ).all()
    }
    last = (
        select(Outcome.task_id, func.max(Outcome.id).label("oid"))
        .join(Task, Task.id == Outcome.task_id)
        .where(Task.campaign_id == camp.id)
        .group_by(Outcome.task_id)
        .subquery()
    )
    for r, n in session.execute(
        select(Outcome.result, func.count())
        .join(last, last.c.oid == Outcome.id)
        .group_by(Outcome.result)
    ).all():
        out[f"result_{r}"] = int(n)
    return out


# --------------------------------------------------------------------------- one group


def group_state(
    con: duckdb.DuckDBPyConnection, group_id: str, *, session=None, horizon: int = 1
) -> dict[str, Any] | None:
    """Return the group's latest campaign record: arm, reason, its task and the outcome so far.

    None when the group was never a candidate of a dispatched group campaign.
    """
    row = con.execute(
        f"""SELECT month, campaign_id, is_control, reason, outcome, staff_id, subscriber_id,
                   mean_p_churn, alert
            FROM {TABLE} WHERE group_id = ? ORDER BY month DESC, created_at DESC LIMIT 1""",
        [group_id],
    ).fetchall()
    if not row:
        return None
    cols = ("month", "campaign", "is_control", "reason", "outcome", "staff_id", "subscriber_id")
    out = dict(zip(cols, row[0][:7], strict=True))
    out["mean_p_churn"], out["alert"] = row[0][7], row[0][8]
    e = _measured_month(con, out["month"], horizon)
    out["measured"] = e
    if e is not None:
        members, churned, left = con.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE n.subscriber_id IS NULL OR n.status = 'cancelled'),
                      count(*) FILTER (WHERE n.subscriber_id IS NULL OR n.status = 'cancelled'
                                       OR n.group_id IS DISTINCT FROM s.group_id)
               FROM snapshot s LEFT JOIN snapshot n ON n.month = ?
                    AND n.subscriber_id = s.subscriber_id
               WHERE s.month = ? AND s.group_id = ? AND s.status <> 'cancelled'""",
            [e, out["month"], group_id],
        ).fetchone()
        out.update(members=members, churned=churned, left_group=left, kept=members - left)
    out["task"] = None
    if session is not None and not out["is_control"]:
        from sqlalchemy import select

        from weixi.dispatch.models import Campaign, Outcome, Task

        t = session.execute(
            select(Task)
            .join(Campaign, Campaign.id == Task.campaign_id)
            .where(Campaign.key == out["campaign"], Task.group_id == group_id)
            .order_by(Task.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if t is not None:
            last = session.execute(
                select(Outcome.result).where(Outcome.task_id == t.id).order_by(Outcome.id.desc())
            ).first()
            out["task"] = {
                "id": t.id,
                "status": t.status,
                "staff_id": t.staff_id,
                "subscriber_id": t.subscriber_id,
                "due_at": t.due_at,
                "result": last[0] if last else None,
            }
    return out


def latest(con: duckdb.DuckDBPyConnection) -> str | None:
    """Return the key of the most recently dispatched group campaign, or None."""
    row = con.execute(
        f"SELECT campaign_id FROM {TABLE} ORDER BY month DESC, created_at DESC LIMIT 1"
    ).fetchall()
    return row[0][0] if row else None
