"""Two-level strategy matching in DuckDB SQL (vectorized, no Python loop over subscribers).

1. Province level: each :class:`MatchRule` maps segment + needs columns to actions.
2. Branch level: for each matched action the catalogue offer whose fit (ARPU band on
   ``arpu_3m``, handset tier ``d``, data band ``f``, eligibility, branch) holds and whose expected
   value is highest is chosen.
3. Conflicts: one primary action per subscriber (category priority of the month, then expected
   value) and one per household (``customer_id``: a converged mobile + broadband customer gets one).

Expected value of an action through a channel (per customer)::

    gross = P(churn) × uplift × CLV            CLV = arpu_3m × margin × clv_months
    value(ch) = gross × effect(ch)
    cost(ch)  = contact_cost(ch) + effect(ch) × take_rate × unit_cost
    ev(ch)    = value(ch) − cost(ch)

``uplift`` is the share of would-be churners kept when the action reaches the customer. Its
source, first found wins (``uplift_source`` in the outputs):

1. ``learned`` — the DuckDB table ``uplift(subscriber_id, action, uplift[, month][, take_rate])``,
   per subscriber × action (written by the monthly job from the evaluation domain's uplift and
   acceptance models); its optional ``take_rate`` (the customer's probability to accept when
   reached) replaces the action's configured take rate in the cost, and scales the configured
   uplift below (``× take_rate / configured take rate``) where the line has no learned uplift;
2. ``segment`` — the plan adjustment's posterior mean for the line's segment (stability group) ×
   action, table ``plan_adjustments(month, segment, action, p_best, uplift, n_treated, …)``,
   when that cell had at least ``min_segment_treated`` treated customers;
3. ``offer`` — the offer's configured uplift; 4. ``action`` — the action's configured uplift.

Exploration (Thompson sampling, ``explore=True``): when ``plan_adjustments`` holds the month,
a share ``follow`` of each segment's lines draws one of its candidate actions with probability
``p_best`` (renormalised over the candidates that have a row; deterministic hashes of the
subscriber and month are the random numbers). ``follow`` measures how sure the posterior is:
``(max p_best − 1/K) / (1 − 1/K)`` over the segment's K eligible actions — 0 for an even split,
1 when one action is surely best — and never less than ``explore_share``. So while evidence is
thin most customers keep the seed's choice and ``explore_share`` of them try the alternatives;
as one action's lead firms up the segment moves to it. The drawn action outranks the category
priority in the choice of the primary action. The randomized control is drawn later, by
subscriber only, and is untouched by this.

Inputs: the ``segments`` and ``churn_scores`` tables (contracts in the project brief). Outputs:
``strategy_matches`` (one row per household's primary action) and ``strategy_options`` (one row
per matched customer × allowed channel).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import duckdb

from weixi.errors import NotFoundError, RuleError
from weixi.store.sqlrun import DuckRun, Run, hash_key_sql, uniform_sql
from weixi.strategy.schemas import StrategyLibrary, conditions_sql, sql_literal


@dataclass(frozen=True)
class MatchResult:
    """What :func:`match` produced: its counts and the relations it owns (the typed contract
    dispatch plans from). The relations are temporary tables of the connection, valid until the
    next :func:`match` on it.

    - ``base``: the month's kept lines (``sid``, ids, branch, line type, segment columns, VIP
      and group class, credit, ``p_churn``, ``clv``);
    - ``primary``: one primary action per household (the line, action, offer, category, value,
      uplift and its source, ``must``-relevant segment codes; ``sid`` joins ``base``, and
      ``offer_idx``, the offer's place among the month's valid offers, joins the options);
    - ``options``: the primary action × each channel it may go through (``sid``, ``channel``,
      ``value``, ``cost``, ``ev``, and ``channel_idx``, the channel's place in the library);
    - ``matched``: lines with at least one matched action and offer (a line of ``base``
      absent from ``primary`` but present here lost to another line of its household).
    """

    month: dt.date
    kept: int
    matched_lines: int
    households: int
    explored: int
    base: str = "_mx_base"
    primary: str = "_mx_primary"
    options: str = "strategy_options"
    matched: str = "_mx_best"

    def counts(self) -> dict[str, int]:
        """The counts (``kept``, ``matched``, ``households``, ``explored``)."""
        d = asdict(self)
        return {
            "kept": d["kept"],
            "matched": d["matched_lines"],
            "households": d["households"],
            "explored": d["explored"],
        }


MATCH_COLUMNS = (
    "month",
    "subscriber_id",
    "customer_id",
    "branch_id",
    "line_type",
    "action",
    "category",
    "category_rank",
    "offer_id",
    "rules",
    "candidate_actions",
    "p_churn",
    "clv",
    "uplift",
    "uplift_source",
    "sampled",
    "gross_value",
    "best_channel",
    "best_ev",
    "priority_rank",
    "stability_group",
    "urgency",
    "a",
    "b",
    "c",
    "vip_or_group",
    "household_lines",
)

#: Where a line's uplift came from, first found wins (see the module docstring).
SOURCES = ("learned", "segment", "offer", "action")

_NEEDED = ("month", "subscriber_id", "branch_id", "line_type", "excluded", "a", "b", "c")
# Contract columns of `segments` that may be absent (then NULL: a rule on them never matches).
_CONTRACT = (
    "customer_id",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "priority_rank",
    "stability_group",
    "urgency",
    "vad",
    "vip_tier",
    "group_class",
    "value_class",
    "relationship",
    "credit",
    "satisfaction_band",
    "cluster",
    "code",
    "arpu_3m",
    "arpu_drop_pct",
    "minutes_drop_pct",
    "data_mb_3m",
    "months_to_contract_end",
    "tenure_months",
    "handset_age_years",
)
_DERIVED = ("vip_or_group", "p_churn", "clv", "hh_id", "sid")
_KEEP = (
    "subscriber_id",
    "customer_id",
    "branch_id",
    "line_type",
    "a",
    "b",
    "c",
    "priority_rank",
    "stability_group",
    "urgency",
    "vip_tier",
    "group_class",
    "credit",
    "arpu_3m",
)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}


def referenced_fields(lib: StrategyLibrary) -> set[str]:
    """Every column named by a rule, an offer's fit/eligibility or a channel restriction."""
    out: set[str] = set()
    for r in lib.rules:
        out |= {c.field for c in r.when}
    for _e, _p, o in lib.offers():
        out |= {c.field for c in o.fit_conditions()}
    for ch in lib.channels:
        out |= {c.field for c in ch.only_for}
    return out


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when ``table`` holds a row (a step has written it)."""
    return bool(con.execute(f"SELECT count(*) FROM (FROM {table} LIMIT 1)").fetchall()[0][0])


def _base_sql(con: duckdb.DuckDBPyConnection, month: dt.date, lib: StrategyLibrary) -> str:
    if not con.execute("SELECT count(*) FROM segments WHERE month = ?", [month]).fetchall()[0][0]:
        raise NotFoundError(
            "no segments for {month:%Y-%m}: run `weixi segment --month {month:%Y-%m}` first",
            month=month,
        )
    cols = _columns(con, "segments")
    missing = [c for c in _NEEDED if c not in cols]
    if missing:
        raise RuleError(
            "segments table lacks columns {missing} (see the segments contract)", missing=missing
        )
    fields = referenced_fields(lib) - set(_DERIVED)
    unknown = sorted(f for f in fields if f not in cols and f not in _CONTRACT)
    if unknown:
        raise RuleError(
            "the strategy library uses columns {unknown} that the segments table does not have",
            unknown=unknown,
        )
    m = sql_literal(month)
    sel = {c: (f"s.{c}" if c in cols else f"NULL AS {c}") for c in (*_KEEP, *sorted(fields))}
    joins = ""
    if "arpu_3m" not in cols:
        joins += f" LEFT JOIN snapshot n ON n.month = {m} AND n.subscriber_id = s.subscriber_id"
        sel["arpu_3m"] = "n.arpu AS arpu_3m"
    joins += f" LEFT JOIN ({_scores_sql(con, month)}) cs ON cs.subscriber_id = s.subscriber_id"
    p = "COALESCE(cs.p_churn, 0.0)"  # a line without a score: 0
    arpu = sel["arpu_3m"].split(" AS ")[0]
    vip = sel["vip_tier"].split(" AS ")[0]
    grp = sel["group_class"].split(" AS ")[0]
    cust = sel["customer_id"].split(" AS ")[0]
    v = lib.value
    # sid: a compact integer key (60 bits of md5, the same on every engine) so the joins below
    # run on integers, not strings, and ties between lines break the same way everywhere.
    return f"""
        SELECT {", ".join(sel.values())},
               {hash_key_sql("s.subscriber_id")} AS sid,
               COALESCE({cust}, s.subscriber_id) AS hh_id,
               {hash_key_sql(f"COALESCE({cust}, s.subscriber_id)")} AS hh_key,
               COALESCE({arpu}, 0.0) * {v.margin!r} * {v.clv_months!r} AS clv,
               {p} AS p_churn,
               (COALESCE(lower(CAST({vip} AS VARCHAR)), 'none')
                    NOT IN ('none', '', 'no', 'false')
                OR COALESCE(upper(CAST({grp} AS VARCHAR)), '') IN ('A', 'B', 'C'))
                   AS vip_or_group
        FROM segments s {joins}
        WHERE s.month = {m} AND NOT COALESCE(s.excluded, FALSE)
    """


def _scores_sql(con: duckdb.DuckDBPyConnection, month: dt.date) -> str:
    """The month's churn probability per line (``subscriber_id``, ``p_churn``).

    Scoring replaces a month's rows as a whole (one model version, one row per scored line:
    see ``churn_scores`` in :mod:`weixi.store.schema.tables`), so they are read as they are;
    rows of several versions, written some other way, give each line its latest version's
    score. Grouping the 10 M lines of a month that has one version anyway took 3.3 of the
    5.4 s that the base of a 10 M month took."""
    m = sql_literal(month)
    versions = con.execute(
        "SELECT count(DISTINCT model_version) FROM churn_scores WHERE month = ?", [month]
    ).fetchall()[0][0]
    if versions <= 1:
        return f"SELECT subscriber_id, p_churn FROM churn_scores WHERE month = {m}"
    return (
        "SELECT subscriber_id, arg_max(p_churn, model_version) AS p_churn "
        f"FROM churn_scores WHERE month = {m} GROUP BY subscriber_id"
    )


def _candidate_actions_sql(names: list[str]) -> tuple[str, str]:
    """SQL for a line's candidate actions (its rules' actions, sorted, comma-separated): the
    aggregate over ``_mx_cand``'s rows of a line, and the text made of it in the primary's
    select (``acts.candidate_actions``).

    Each action is a bit and a line's set their OR, an integer aggregate: the text is spelled
    once per primary line. Gathering each line's list of names instead (``list`` of strings,
    sorted and joined) took 4.9 of the 12.5 s that one primary per household took on a 10 M
    month (4 M lines with a candidate). More actions than an integer's bits: the list."""
    if not names:  # no rule: no candidate rows
        return "CAST(0 AS BIGINT)", "CAST(NULL AS VARCHAR)"
    if len(names) > 62:
        return "array_to_string(list_sort(list(action)), ',')", "acts.candidate_actions"
    bits = " ".join(f"WHEN {sql_literal(a)} THEN {1 << i}" for i, a in enumerate(names))
    agg = f"bit_or(CAST(CASE action {bits} ELSE 0 END AS BIGINT))"
    parts = ", ".join(
        f"CASE WHEN (acts.candidate_actions & {1 << i}) <> 0 THEN {sql_literal(a)} END"
        for i, a in enumerate(names)
    )
    return agg, f"concat_ws(',', {parts})"


def _rules_sql(lib: StrategyLibrary) -> str:
    """One pass over the base: the list of rules each subscriber matches, unnested."""
    hits = [
        f"CASE WHEN line_type = {sql_literal(r.line_type)} AND {conditions_sql(r.when)} "
        f"THEN {ri} END"
        for ri, r in enumerate(lib.rules)
    ]
    if not hits:
        return "SELECT CAST(0 AS BIGINT) AS sid, 0 AS rule_idx WHERE FALSE"
    return (
        "SELECT sid, unnest(list_filter([" + ", ".join(hits) + "], lambda x: x IS NOT NULL)) "
        "AS rule_idx FROM _mx_base"
    )


def _offer_tables(run: Run, lib: StrategyLibrary, month: dt.date) -> list:
    """Register the month's valid offers and channels as relations; return valid offers."""
    order = lib.category_order(month)
    acts = ", ".join(
        f"({sql_literal(a.key)}, {sql_literal(a.category)}, {order.index(a.category) + 1}, "
        f"{a.uplift!r}::DOUBLE, {a.take_rate!r}::DOUBLE)"
        for a in lib.actions
    )
    run.create(
        "_mx_actions",
        "SELECT * FROM (VALUES " + acts + ") t(action, category, category_rank, uplift, take_rate)",
    )
    chans = ", ".join(
        f"({sql_literal(c.key)}, {c.effect!r}::DOUBLE, {c.contact_cost!r}::DOUBLE, {i})"
        for i, c in enumerate(lib.channels)
    )
    run.create(
        "_mx_channels_cfg",
        "SELECT * FROM (VALUES " + chans + ") t(channel, effect, contact_cost, channel_idx)",
    )
    valid = [(e, p, o) for e, p, o in lib.offers() if o.valid_from <= month <= o.valid_to]
    rows = []
    for oi, (e, _p, o) in enumerate(valid):
        for ch in o.channels:
            rows.append(
                f"({oi}, {sql_literal(o.key)}, {sql_literal(e.action)}, {o.tier}, {o.unit_cost!r}::DOUBLE, "
                f"{'NULL' if o.uplift is None else repr(o.uplift)}::DOUBLE, {sql_literal(ch)})"
            )
    if not rows:
        raise RuleError("no offer of the strategy library is valid in {month:%Y-%m}", month=month)
    run.create(
        "_mx_offers",
        "SELECT * FROM (VALUES "
        + ", ".join(rows)
        + ") t(offer_idx, offer_id, action, tier, unit_cost, offer_uplift, channel)",
    )
    return valid


def match(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    lib: StrategyLibrary,
    *,
    actions: list[str] | None = None,
    write: bool = True,
    learned: bool = True,
    adjust: bool = True,
    explore: bool = True,
    explore_share: float = 0.1,
    min_segment_treated: int = 100,
    choose: str = "priority",
    run: Run | None = None,
) -> MatchResult:
    """Match every kept subscriber of ``month`` to one primary action and offer (SQL).

    Writes/replaces the month in ``strategy_matches`` and the temp table ``strategy_options``
    (customer × allowed channel with value, cost and ev). Returns a :class:`MatchResult`: the
    counts ``kept``, ``matched_lines`` (subscribers with at least one rule), ``households``
    (primary actions after the household rule) and ``explored`` (lines whose action was drawn by
    Thompson sampling), and the names of the relations dispatch reads.

    ``learned`` reads the ``uplift`` table, ``adjust`` the ``plan_adjustments`` table (segment
    posterior used from ``min_segment_treated`` treated customers; ``explore`` draws the action
    with the ``p_best`` shares for a segment's ``follow`` share of lines, at least
    ``explore_share``); see the module docstring for the precedence.

    ``choose`` picks a household's primary action: ``priority`` (the seed: category priority of
    the month first, then expected value) or ``value`` (the highest expected net value of any
    matched action, offer and channel — for plans that trust their value estimates, e.g. learned
    effects). A Thompson-sampled action outranks both; with ``value`` only ``explore_share`` of a
    segment's lines take the draw (the values already carry what was learned).

    ``run`` is where the SQL runs (:mod:`weixi.store.sqlrun`; default: temporary tables of
    ``con``); on Spark the relations of the result are Spark views and ``strategy_matches`` is
    loaded from the Parquet Spark wrote.

    Example:
        >>> from weixi.store.analytics import connect; from weixi.strategy.library import load_preset
        >>> con = connect(":memory:")
        >>> _ = con.execute("CREATE OR REPLACE TABLE segments AS SELECT DATE '2026-01-01' AS month, "
        ...   "'s1' AS subscriber_id, 'h1' AS customer_id, 'b1' AS branch_id, "
        ...   "'mobile' AS line_type, FALSE AS excluded, 'A1' AS a, 'B2' AS b, 'C2' AS c, "
        ...   "'D3' AS d, 'E1' AS e, 'F2' AS f, 100.0 AS arpu_3m")
        >>> match(con, dt.date(2026, 1, 1), load_preset()).households
        1
        >>> con.execute("SELECT action, offer_id FROM strategy_matches").fetchall()
        [('handset_upgrade', 'hu_zero_prepay_subsidy')]
    """
    run = run or DuckRun(con)
    run.create("_mx_base", _base_sql(con, month, lib))
    valid = _offer_tables(run, lib, month)
    m = sql_literal(month)
    if choose not in ("priority", "value"):
        raise RuleError("choose must be 'priority' or 'value', not {choose!r}", choose=choose)
    learned = learned and _has_rows(con, "uplift")
    take = "a.take_rate"
    if learned:
        ucols = _columns(con, "uplift")
        mfilter = f"WHERE month = {sql_literal(month)}" if "month" in ucols else ""
        # an optional per-customer acceptance (``take_rate``) replaces the action's configured one
        utake = "avg(CAST(take_rate AS DOUBLE))" if "take_rate" in ucols else "CAST(NULL AS DOUBLE)"
        run.create(
            "_mx_uplift",
            "SELECT subscriber_id, action, "
            f"avg(CAST(uplift AS DOUBLE)) AS uplift, {utake} AS take_rate "
            f"FROM uplift {mfilter} GROUP BY subscriber_id, action",
        )
        take = "COALESCE(u.take_rate, a.take_rate)"
    if learned and _has_rows(con, "channel_effects"):
        # the measured share of contacts each channel delivers replaces the configured effect
        run.create(
            "_mx_channels",
            f"""SELECT c.channel, COALESCE(ce.effect, c.effect) AS effect, c.contact_cost,
                       c.channel_idx
                FROM _mx_channels_cfg c LEFT JOIN (
                    SELECT channel, avg(effect) AS effect FROM channel_effects
                    WHERE month = {m} GROUP BY channel) ce ON ce.channel = c.channel""",
        )
    else:
        run.create("_mx_channels", "SELECT * FROM _mx_channels_cfg")
    adjusted = adjust and _has_rows(con, "plan_adjustments")
    if adjusted:
        acols = _columns(con, "plan_adjustments")
        seg_uplift = (
            f"CASE WHEN n_treated >= {int(min_segment_treated)} THEN uplift END"
            if {"uplift", "n_treated"} <= acols
            else "CAST(NULL AS DOUBLE)"
        )
        # follow = share of a segment's lines that take the Thompson draw: how far its most
        # likely best action is above an even split (1 when sure), never below explore_share.
        # A plan that chooses by per-customer value exploits through its values; the segment
        # posterior then only explores, on explore_share of the lines.
        follow = (
            f"{float(explore_share)!r}"
            if choose == "value"
            else f"""CASE WHEN s.k <= 1 THEN 1.0
                         ELSE greatest({float(explore_share)!r},
                                       (s.top - 1.0 / s.k) / (1.0 - 1.0 / s.k)) END"""
        )
        run.create(
            "_mx_adj",
            f"""WITH a AS (
                SELECT segment, action, avg(p_best) AS p_best, avg({seg_uplift}) AS seg_uplift
                FROM plan_adjustments WHERE month = {m} GROUP BY segment, action
            ), s AS (
                SELECT segment, count(*) FILTER (WHERE p_best > 0) AS k, max(p_best) AS top
                FROM a GROUP BY segment
            )
            SELECT a.*, {follow} AS follow
            FROM a JOIN s USING (segment)""",
        )
        adjusted = run.rows("SELECT count(*) FROM _mx_adj")[0][0] > 0
    rule_actions = [
        (ri, r.key, a)
        for ri, r in enumerate(lib.rules)
        for a in r.actions
        if actions is None or a in actions
    ]
    rule_rows = [f"({ri}, {sql_literal(k)}, {sql_literal(a)})" for ri, k, a in rule_actions]
    cand_actions = sorted({a for _ri, _k, a in rule_actions})
    run.create(
        "_mx_rules",
        "SELECT * FROM (VALUES "
        + (", ".join(rule_rows) or "(-1, '', '')")
        + ") t(rule_idx, rule_key, action)",
    )
    try:
        run.create(
            "_mx_cand",
            f"""WITH hits AS ({_rules_sql(lib)})
            SELECT h.sid, r.action, min(h.rule_idx) AS rule_idx
            FROM hits h JOIN _mx_rules r USING (rule_idx) GROUP BY h.sid, r.action""",
        )
    except duckdb.BinderException as exc:
        raise RuleError(
            "a matching rule uses a column the segments table lacks: {error}", error=str(exc)
        ) from exc
    # Branch level: the offers whose fit holds, one pass over the candidates (list + unnest).
    fit_cases = [
        f"CASE WHEN c.action = {sql_literal(e.action)} AND "
        f"{conditions_sql(o.fit_conditions(), 's.')} THEN {oi} END"
        for oi, (e, _p, o) in enumerate(valid)
    ]
    fit_sql = (
        "SELECT c.sid, c.action, c.rule_idx, unnest(list_filter(["
        + ", ".join(fit_cases)
        + "], lambda x: x IS NOT NULL)) AS offer_idx FROM _mx_cand c JOIN _mx_base s USING (sid)"
    )
    only = {c.key: conditions_sql(c.only_for, "s.") for c in lib.channels}
    chan_ok = " OR ".join(f"(o.channel = {sql_literal(k)} AND {cond})" for k, cond in only.items())
    sources = [("u.uplift", "learned")] if learned else []
    sources += [("g.seg_uplift", "segment")] if adjusted else []
    sources += [("o.offer_uplift", "offer")]
    uplift_expr = "COALESCE(" + ", ".join(e for e, _ in sources) + ", a.uplift)"
    if learned:
        # a configured effect is an average over takers and refusers: with a learned take rate
        # it scales with how likely this customer is to accept (capped at keeping everyone)
        configured = "COALESCE(" + ", ".join(e for e, _ in sources[1:]) + ", a.uplift)"
        uplift_expr = (
            f"COALESCE(u.uplift, least(1.0, {configured} * COALESCE(u.take_rate / "
            "nullif(a.take_rate, 0), 1.0)))"
        )
    # the source as its place in SOURCES (a small integer per option row; named in the primary)
    source_expr = (
        "CAST(CASE "
        + " ".join(f"WHEN {e} IS NOT NULL THEN {SOURCES.index(k)}" for e, k in sources)
        + f" ELSE {SOURCES.index('action')} END AS TINYINT)"
    )
    uplift_join = (
        "LEFT JOIN _mx_uplift u ON u.subscriber_id = s.subscriber_id AND u.action = f.action"
        if learned
        else ""
    )
    if adjusted:
        uplift_join += (
            " LEFT JOIN _mx_adj g ON g.segment = COALESCE(s.stability_group, '-') "
            "AND g.action = f.action"
        )
    explored = adjusted and explore
    if explored:
        # Thompson draw per line: cumulative p_best over its candidate actions (renormalised),
        # against a uniform number from a hash of subscriber and month (reproducible, and the
        # same on every engine).
        u_draw = uniform_sql("s.subscriber_id", f"thompson:{month:%Y-%m}")
        u_follow = uniform_sql("s.subscriber_id", f"follow:{month:%Y-%m}")
        run.create(
            "_mx_ts",
            f"""WITH w AS (
                SELECT c.sid, c.action, g.p_best AS w, {u_draw} AS u
                FROM _mx_cand c JOIN _mx_base s USING (sid)
                JOIN _mx_adj g ON g.segment = COALESCE(s.stability_group, '-')
                     AND g.action = c.action
                WHERE g.p_best > 0 AND {u_follow} < g.follow
            ), cum AS (
                SELECT sid, action, u,
                       sum(w) OVER (PARTITION BY sid ORDER BY action
                                    ROWS UNBOUNDED PRECEDING) / sum(w) OVER (PARTITION BY sid)
                           AS hi
                FROM w
            )
            SELECT sid, COALESCE(arg_min(action, hi) FILTER (WHERE hi >= u),
                                 arg_max(action, hi)) AS ts_action
            FROM cum GROUP BY sid""",
        )
        uplift_join += " LEFT JOIN _mx_ts ts ON ts.sid = f.sid"
    sampled = "COALESCE(ts.ts_action = f.action, FALSE)" if explored else "FALSE"
    try:
        run.create(
            "_mx_opt",
            f"""WITH fit AS ({fit_sql})
            SELECT f.sid, s.hh_key, f.rule_idx, f.offer_idx, a.category_rank,
                   o.tier, {uplift_expr} AS uplift, {source_expr} AS source_idx,
                   {sampled} AS sampled,
                   s.p_churn * {uplift_expr} * s.clv AS gross_value,
                   s.p_churn * {uplift_expr} * s.clv * ch.effect AS value,
                   ch.contact_cost + ch.effect * {take} * o.unit_cost AS cost,
                   ch.channel_idx
            FROM fit f
            JOIN _mx_base s USING (sid)
            JOIN _mx_offers o ON o.offer_idx = f.offer_idx
            JOIN _mx_actions a ON a.action = f.action
            JOIN _mx_channels ch ON ch.channel = o.channel
            {uplift_join}
            WHERE {chan_ok}""",
        )
    except duckdb.BinderException as exc:
        raise RuleError(
            "an offer's eligibility uses a column segments lacks: {error}", error=str(exc)
        ) from exc
    rank_weight = "1e7" if choose == "priority" else "0"
    # One primary per household in a single hash aggregate: the lexicographic maximum of
    # (category priority, expected value, offer tier, …) over all of the household's
    # line × action × offer × channel rows is the best line's primary action with its best offer
    # — the same as choosing per action, then per line, then per household. The option rows
    # carry codes (offer, channel, source), not names: at 10 M lines they are 22 M rows, and
    # five string columns more made the month's work tables outgrow DuckDB's memory and spill.
    sources_sql = ", ".join(f"({i}, {sql_literal(k)})" for i, k in enumerate(SOURCES))
    run.create("_mx_sources", f"SELECT * FROM (VALUES {sources_sql}) t(source_idx, uplift_source)")
    acts_agg, acts_text = _candidate_actions_sql(cand_actions)
    run.create(
        "_mx_primary",
        f"""WITH pick AS (
            SELECT hh_key,
                   arg_max({{'sid': sid, 'offer_idx': offer_idx, 'channel_idx': channel_idx,
                             'uplift': uplift, 'source_idx': source_idx, 'sampled': sampled,
                             'gross_value': gross_value, 'best_ev': value - cost,
                             'rule_idx': rule_idx}},
                           (sampled::INTEGER * 1e9 - {rank_weight} * category_rank + (value - cost)
                               + tier * 1e-4
                               - offer_idx * 1e-6 - channel_idx * 1e-8, -sid)) AS p
            FROM _mx_opt GROUP BY hh_key
        ), lines AS (
            SELECT hh_key, count(*)::INTEGER AS household_lines FROM _mx_base GROUP BY hh_key
        ), offers AS (
            SELECT DISTINCT o.offer_idx, o.offer_id, o.action, a.category, a.category_rank
            FROM _mx_offers o JOIN _mx_actions a USING (action)
        ), acts AS (
            SELECT sid, {acts_agg} AS candidate_actions FROM _mx_cand GROUP BY sid
        )
        SELECT {m} AS month, s.subscriber_id, s.hh_id AS customer_id, s.branch_id, s.line_type,
               f.action, f.category, f.category_rank, f.offer_id,
               r.rule_key AS rules, {acts_text} AS candidate_actions, s.p_churn, s.clv,
               pick.p.uplift,
               src.uplift_source, pick.p.sampled, pick.p.gross_value, ch.channel AS best_channel,
               pick.p.best_ev, s.priority_rank,
               s.stability_group, s.urgency, s.a, s.b, s.c, s.vip_or_group,
               lines.household_lines, s.sid, pick.p.offer_idx
        FROM pick JOIN lines USING (hh_key)
        JOIN _mx_base s ON s.sid = pick.p.sid
        JOIN offers f ON f.offer_idx = pick.p.offer_idx
        JOIN _mx_channels ch ON ch.channel_idx = pick.p.channel_idx
        JOIN _mx_sources src ON src.source_idx = pick.p.source_idx
        JOIN (SELECT DISTINCT rule_idx, rule_key FROM _mx_rules) r ON r.rule_idx = pick.p.rule_idx
        JOIN acts ON acts.sid = s.sid""",
    )
    # Matched lines that lost to another line of their household.
    run.create("_mx_best", "SELECT DISTINCT sid FROM _mx_opt")
    run.create(
        "strategy_options",
        """SELECT p.sid, p.subscriber_id, ch.channel, o.value, o.cost, o.value - o.cost AS ev,
               o.channel_idx
        FROM _mx_opt o JOIN _mx_primary p ON p.sid = o.sid AND p.offer_idx = o.offer_idx
        JOIN _mx_channels ch ON ch.channel_idx = o.channel_idx""",
    )
    if write:
        store_matches(con, run, month)
    kept = run.rows("SELECT count(*) FROM _mx_base")[0][0]
    matched = run.rows("SELECT count(DISTINCT sid) FROM _mx_cand")[0][0]
    hh, n_explored = run.rows("SELECT count(*), count(*) FILTER (WHERE sampled) FROM _mx_primary")[
        0
    ]
    return MatchResult(
        month=month,
        kept=int(kept),
        matched_lines=int(matched),
        households=int(hh),
        explored=int(n_explored),
    )


def store_matches(con: duckdb.DuckDBPyConnection, run: Run, month: dt.date) -> None:
    """Replace ``month``'s rows of ``strategy_matches`` with the last :func:`match` on ``run``."""
    m = sql_literal(month)
    cols = ", ".join(MATCH_COLUMNS)
    con.execute(f"DELETE FROM strategy_matches WHERE month = {m}")
    con.execute(
        f"INSERT INTO strategy_matches BY NAME SELECT {cols} FROM {run.relation('_mx_primary')}"
    )


def candidates(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """Return (subscriber_id, action, first rule) of the last :func:`match` run, sorted (for tests)."""
    return con.execute(
        "SELECT b.subscriber_id, c.action, r.rule_key FROM _mx_cand c JOIN _mx_base b USING (sid) "
        "JOIN (SELECT DISTINCT rule_idx, rule_key FROM _mx_rules) r USING (rule_idx) "
        "ORDER BY 1, 2"
    ).fetchall()
