"""A synthetic telecom operator: a population of lines evolving month by month.

The operator keeps one month of state as numpy arrays (struct of arrays, one slot per line);
everything is vectorized, no Python loop ever runs over subscribers. Each month it can emit a
canonical snapshot (``weixi.ingest.schema.FIELDS`` plus ``month``), the true churn probability
of every line for the next transition, and every line's hidden response to each retention action.

Churn next month is driven by a latent propensity plus observable drivers: contract end within
three months, a usage drop (a "disengaging" state that cuts ARPU/minutes by 35-70 % the month
before leaving), low value, complaints, competitor contacts, short tenure, dual competitor use,
abnormal status, minus converged / corporate-paid stability, plus noise. ``advance(treatments)``
applies the accepted actions' churn reduction to the next transition.

Example:
    >>> op = SyntheticOperator(2_000, seed=1, start_month="2025-09")
    >>> snap = op.snapshot()
    >>> snap.num_rows == 2_000 and snap.column_names[0] == "month"
    True
    >>> op.advance()
    >>> op.month.isoformat()
    '2025-10-01'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weixi.errors import ConfigError
from weixi.ingest.schema import (
    CONTRACT_TYPES,
    CREDIT_LISTS,
    FIELDS,
    HANDSET_GENERATIONS,
    LINE_TYPES,
    STATUSES,
    VIP_LEVELS,
)
from weixi.store.months import add_months, parse_month
from weixi.synth import reference as ref

__all__ = [
    "ACTIONS",
    "BROADBAND_ACTIONS",
    "MOBILE_ACTIONS",
    "WINBACK_ACTION",
    "SyntheticOperator",
    "canonical_schema",
    "make_history",
    "make_month",
]

MOBILE_ACTIONS = (
    "handset_upgrade",
    "care_call",
    "prepay_data",
    "prepay_credit",
    "package_fit",
    "data_pack",
)
BROADBAND_ACTIONS = ("add_mobile", "care_call", "prepay_speedup", "prepay_annual", "itv_addon")
ACTIONS = (*MOBILE_ACTIONS, *(a for a in BROADBAND_ACTIONS if a not in MOBILE_ACTIONS))

_EPOCH = dt.date(1970, 1, 1)
_LINE = {name: i for i, name in enumerate(LINE_TYPES)}
_STATUS = {name: i for i, name in enumerate(STATUSES)}
_CONTRACT = {name: i for i, name in enumerate(CONTRACT_TYPES)}
_MOBILE, _BROADBAND = _LINE["mobile"], _LINE["broadband"]
_ACTIVE, _CANCELLED = _STATUS["active"], _STATUS["cancelled"]
_NONE_CONTRACT = _CONTRACT["none"]
# Contract durations in months, by CONTRACT_TYPES index.
_CONTRACT_MONTHS = np.array([0, 24, 12, 12, 12, 12], dtype=np.int32)
_GEN_OF_HANDSET = np.array([HANDSET_GENERATIONS.index(g) for _, g in ref.HANDSETS], np.int8)
_MOBILE_PREFIXES = tuple(
    str(p)
    for p in (
        *(134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159),
        *(172, 178, 182, 183, 184, 187, 188, 195, 198),
    )
)
_TARGET_CHURN = 0.022  # base monthly churn (left or cancelled next month)
_JOIN_RATE = 0.022  # new lines per month, so the base stays roughly stable
_SHOW_CANCELLED = 0.35  # share of churners that appear once more with status 'cancelled'
_SPAWN_CHUNK = 1_000_000
_DIS_BASE = -4.4  # logit of starting to disengage (usage falls 35-70 %) in a quiet month
# Hidden loyalty u ~ N(0, 1) (higher = readier to leave) = _U_OWN * own disposition + _U_NET *
# network experience; it enters the churn logit with _U_CHURN and shows, noisily, in the surveys
# (satisfaction 0-100, NPS 0-10), complaints, competitor contacts, dual SIM and network measures.
_U_OWN, _U_NET = 0.8, 0.6
_U_CHURN = 1.0
_DIS_CHURN = 2.8  # a disengaging line (usage falling) in the churn logit
_SHOCK = 0.8  # sd of the month's shock in the churn logit (life events no field shows)
_SAT_NOISE, _NPS_NOISE = 7.0, 1.6
# Returns (回流): a customer whose line left may come back on a new line (same customer id) in
# the _RETURN_MONTHS after leaving, at ``return_rate`` a month (_RETURN_BASE is the realistic
# value; the default 0 keeps existing histories unchanged); one who accepted a win-back offer
# (action WINBACK_ACTION) comes back the next month with a hidden probability of 0.3-0.7.
WINBACK_ACTION = "winback"
_RETURN_BASE = 0.01
_RETURN_MONTHS = 6
_DUAL_BASE, _DUAL_U = -2.6, 0.6


def _sat_mean(u: np.ndarray) -> np.ndarray:
    return 90 - 7 * u


def _nps_mean(u: np.ndarray) -> np.ndarray:
    return 7.6 - 1.5 * u


def canonical_schema() -> pa.Schema:
    """Return the Arrow schema of a canonical snapshot: ``month`` then every schema field."""
    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
    }
    return pa.schema(
        [pa.field("month", pa.date32(), nullable=False)]
        + [pa.field(f.name, types[f.type]) for f in FIELDS]
    )


def _days(d: dt.date) -> int:
    return (d - _EPOCH).days


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _exact_choice(rng: np.random.Generator, k: int, p) -> np.ndarray:
    """``k`` category indices with counts as close to ``k * p`` as possible, shuffled."""
    p = np.asarray(p, dtype=np.float64)
    counts = np.floor(k * p).astype(np.int64)
    rest = k - counts.sum()
    counts[np.argsort(-(k * p - counts), kind="stable")[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(len(p)), counts))


def hash_uniform(keys: np.ndarray, salt: int) -> np.ndarray:
    """Counter-based uniforms in [0, 1): the same (key, salt) always gives the same number."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) % (1 << 64))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@lru_cache(maxsize=1)
def _name_vocab() -> pa.Array:
    given = list(ref.GIVEN_CHARS)
    pairs = [a + b for a in ref.GIVEN_CHARS[:24] for b in ref.GIVEN_CHARS[24:48]]
    combos = given + pairs
    return pa.array([s + g for s in ref.SURNAMES for g in combos])


_VIP_SILVER = 666.0  # yuan a year (segment preset `vip_silver`)


def _str_ids(prefix: str, ints: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(ints, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _ymd(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 -> YYYYMMDD integers (H. Hinnant's civil_from_days, vectorized)."""
    z = days.astype(np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y * 10000 + m * 100 + d


def _id_numbers(region: np.ndarray, birth_days: np.ndarray, seq: np.ndarray) -> pa.Array:
    """18-digit resident identity numbers with a valid GB 11643 check character."""
    body = region.astype(np.int64) * 10**11 + _ymd(birth_days) * 1000 + seq.astype(np.int64)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = np.zeros(len(body), np.int64)
    rest = body.copy()
    for w in reversed(weights):  # 17 digit positions, not a loop over subscribers
        total += (rest % 10) * w
        rest //= 10
    check = pa.array(list("10X98765432")).take(pa.array(total % 11))
    return pc.binary_join_element_wise(pc.cast(pa.array(body), pa.string()), check, "")


class SyntheticOperator:
    """A synthetic operator whose population evolves month by month.

    Args:
        n_subscribers: lines in the first month (the base then stays roughly stable).
        seed: random seed; the same seed gives the same operator, month after month.
        start_month: first month, ``YYYY-MM`` or a date.

    Example:
        >>> op = SyntheticOperator(1_000, seed=3, start_month="2026-01")
        >>> p = op.true_churn_prob()
        >>> 0.005 < float(p.column("p_churn").to_numpy().mean()) < 0.06
        True
    """

    def __init__(
        self,
        n_subscribers: int,
        seed: int = 0,
        start_month: str | dt.date = "2025-09",
        churn_rate: float | None = None,
        return_rate: float = 0.0,
    ) -> None:
        if n_subscribers < 1:
            raise ConfigError(
                "n_subscribers must be at least 1, got {n_subscribers}", n_subscribers=n_subscribers
            )
        self.seed = int(seed)
        self.start_month = parse_month(start_month)
        self.month_index = 0
        # monthly base rate at which recent leavers come back unprompted (0: only after an
        # accepted win-back offer; _RETURN_BASE = 1 % is a realistic value)
        self.return_rate = float(return_rate)
        self.target_churn = _TARGET_CHURN if churn_rate is None else float(churn_rate)
        if not 0 < self.target_churn < 0.5:
            raise ConfigError(
                "churn_rate must be in (0, 0.5), got {churn_rate}", churn_rate=churn_rate
            )
        self._rng = np.random.default_rng(self.seed)
        self._next_key = 1
        self._gone: dict[str, np.ndarray] = {}
        self._groups = self._make_groups(max(30, round(n_subscribers * 0.004)))
        # spawn in chunks, copied into preallocated arrays: float64 temporaries stay at one
        # chunk and the state is never held twice (10 M lines fit in a few GiB)
        self.s: dict[str, np.ndarray] = {}
        for lo in range(0, n_subscribers, _SPAWN_CHUNK):
            chunk = self._spawn(min(_SPAWN_CHUNK, n_subscribers - lo), joiner=False)
            if not self.s:
                self.s = {k: np.empty(n_subscribers, v.dtype) for k, v in chunk.items()}
            for k, v in chunk.items():
                self.s[k][lo : lo + len(v)] = v
            del chunk
        self._observe()
        x = self._logit_without_intercept()
        self._b0 = self._calibrate(x)
        self._set_hazard(x)

    # ------------------------------------------------------------------ public API
    @property
    def month(self) -> dt.date:
        """The current month (first day)."""
        return add_months(self.start_month, self.month_index)

    @property
    def n_lines(self) -> int:
        """Number of rows in the current snapshot."""
        return len(self.s["key"])

    def snapshot(self, month_index: int | None = None) -> pa.Table:
        """Return the current month's canonical snapshot (one row per line).

        Only the current month is kept in memory; ``month_index`` must be ``None`` or the
        current index (use :func:`make_history` or :meth:`iter_batches` while advancing).
        """
        self._check_month(month_index)
        return pa.Table.from_batches(list(self.iter_batches()), schema=canonical_schema())

    def iter_batches(self, batch_size: int = 500_000) -> Iterator[pa.RecordBatch]:
        """Yield the current snapshot as record batches of at most ``batch_size`` rows."""
        n = self.n_lines
        for start in range(0, max(n, 1), batch_size):
            if n == 0:
                break
            yield self._batch(slice(start, min(start + batch_size, n)))

    def true_churn_prob(self) -> pa.Table:
        """Return ``(month, subscriber_id, p_churn)``: the true probability, without treatment,
        that each line has left or is cancelled in next month's snapshot."""
        p = np.where(self._dead(), np.nan, self.s["p"]).astype(np.float64)
        return pa.table(
            {
                "month": pa.array([self.month] * self.n_lines, pa.date32()),
                "subscriber_id": _str_ids("S", self.s["key"], 10),
                "p_churn": pa.array(p, from_pandas=True),
            }
        )

    def winback_responses(self) -> pa.Table:
        """Hidden responses of the recent leavers to a win-back offer (action ``winback``).

        Same columns as :meth:`hidden_responses` for the lines that left in the last
        ``_RETURN_MONTHS`` months (their old subscriber ids): ``p_accept`` from the line's own
        taste (about 0.15-0.45), ``churn_reduction`` 0. An accepted offer makes the customer
        come back next month with a hidden probability of 0.3-0.7 (:meth:`advance`).
        """
        g = self._pool()
        taste = hash_uniform(g["key"], self.seed * 1000 + 901)
        return pa.table(
            {
                "subscriber_id": _str_ids("S", g["key"], 10),
                "line_type": pa.array(np.asarray(LINE_TYPES, object)[g["line"]].astype(str)),
                "action": pa.array(np.full(len(g["key"]), WINBACK_ACTION)),
                "p_accept": pa.array(_sigmoid(-1.2 + 1.5 * (taste - 0.5)).astype(np.float64)),
                "churn_reduction": pa.array(np.zeros(len(g["key"]))),
            }
        )

    def _pool(self) -> dict[str, np.ndarray]:
        """The recent leavers who may come back: ``key, cust, line, left`` (month index)."""
        s = self.s
        return self._gone or {
            "key": np.empty(0, np.int64),
            "cust": np.empty(0, s["cust"].dtype),
            "line": np.empty(0, s["line"].dtype),
            "left": np.empty(0, np.int32),
        }

    def _remember_leavers(self, churn: np.ndarray) -> None:
        """Add this transition's leavers to the pool of customers who may come back."""
        s = self.s
        g = self._pool()
        fresh = {
            "key": s["key"][churn].astype(np.int64),
            "cust": s["cust"][churn],
            "line": s["line"][churn],
            "left": np.full(int(churn.sum()), self.month_index + 1, np.int32),
        }
        recent = g["left"] > self.month_index + 1 - _RETURN_MONTHS
        self._gone = {k: np.concatenate([g[k][recent], fresh[k]]) for k in g}

    def _returners(self, winback: pa.Table | None) -> dict[str, np.ndarray] | None:
        """New lines of the customers who come back this month (their own random stream)."""
        g = self._pool()
        if not len(g["key"]):
            return None
        rng = np.random.default_rng([self.seed, self.month_index, 4242])
        p = np.where(g["left"] < self.month_index, self.return_rate, 0.0)  # left before now
        if winback is not None and winback.num_rows:
            acc = winback.filter(pc.fill_null(winback.column("accepted"), False))
            ids = set(acc.column("subscriber_id").to_pylist())
            taken = np.isin(np.asarray(_str_ids("S", g["key"], 10).to_pylist(), object), list(ids))
            p_back = 0.3 + 0.4 * hash_uniform(g["key"], self.seed * 1000 + 902)
            p = np.where(taken, np.maximum(p, p_back), p)
        back = rng.random(len(p)) < p
        if not back.any():
            return None
        main, self._rng = self._rng, rng  # the returners' lines do not shift the main stream
        try:
            new = self._spawn(int(back.sum()), joiner=True)
        finally:
            self._rng = main
        new["cust"] = g["cust"][back].astype(new["cust"].dtype)
        self._gone = {k: v[~back] for k, v in g.items()}
        return new

    def leaving(self) -> np.ndarray:
        """Per line of the current snapshot, whether it leaves in the next transition when
        untreated (the churn draw is fixed before treatments: common random numbers)."""
        return (self.s["u_draw"] < self.s["p"]) & ~self._dead()

    def hidden_responses(self, systematic: bool = False) -> pa.Table:
        """Return the truth per line and applicable action for the current month.

        Columns: ``subscriber_id, line_type, action, p_accept, churn_reduction``.
        ``p_accept`` is the probability the customer accepts the offer when reached;
        ``churn_reduction`` the relative reduction of next month's churn probability if
        accepted (negative = the action makes churn more likely).

        ``systematic=True`` gives the response *functions* without each customer's own taste
        for the action (two per-line, per-action draws): their expectation over those draws.
        That is the most any model of the customer's attributes could learn; the simulator
        uses it to measure how much of the oracle is out of any policy's reach.
        """
        s = self.s
        live = ~self._dead()
        parts = []
        for line, actions in ((_MOBILE, MOBILE_ACTIONS), (_BROADBAND, BROADBAND_ACTIONS)):
            idx = np.flatnonzero(live & (s["line"] == line))
            ids = _str_ids("S", s["key"][idx], 10)
            for action in actions:
                p_acc, cr = self._response(action, idx, systematic)
                parts.append(
                    pa.table(
                        {
                            "subscriber_id": ids,
                            "line_type": pa.array(np.full(len(idx), LINE_TYPES[line])),
                            "action": pa.array(np.full(len(idx), action)),
                            "p_accept": pa.array(p_acc),
                            "churn_reduction": pa.array(cr),
                        }
                    )
                )
        return pa.concat_tables(parts)

    def advance(self, treatments: pa.Table | None = None) -> None:
        """Move to next month, applying the accepted treatments.

        ``treatments`` has ``subscriber_id, action, accepted``. Each accepted action multiplies
        the line's churn probability for this transition by ``1 - churn_reduction`` (its hidden
        response) and changes the line (new contract, handset, speed, …). Rows that are not
        accepted, whose subscriber is not in the current month, or whose action does not apply
        to the line type (a broadband action on a mobile line) have no effect; an unknown
        action key raises :class:`~weixi.errors.ConfigError`. The churn draw itself does not
        depend on the treatments (common random numbers with an untreated copy).
        """
        s, rng = self.s, self._rng
        n = self.n_lines
        keep = np.ones(n)
        winback = None
        if treatments is not None and "action" in treatments.column_names:
            is_wb = pc.fill_null(pc.equal(treatments.column("action"), WINBACK_ACTION), False)
            winback = treatments.filter(is_wb)
            treatments = treatments.filter(pc.invert(is_wb))
        if treatments is not None and treatments.num_rows:
            keep = self._apply_treatments(treatments)
        p_final = np.clip(s["p"] * keep, 0.0, 1.0)
        dead = self._dead()
        churn = (s["u_draw"] < p_final) & ~dead
        self._remember_leavers(churn)
        show = rng.random(n) < _SHOW_CANCELLED
        stay = ~dead & (~churn | show)
        shown_cancel = churn[stay]
        self.s = {k: v[stay] for k, v in s.items()}
        self.month_index += 1
        self._evolve(shown_cancel)
        n_live = int((~self._dead()).sum())
        joiners = self._spawn(int(rng.binomial(max(n_live, 1), _JOIN_RATE)), joiner=True)
        self.s = {k: np.concatenate([self.s[k], joiners[k]]) for k in self.s}
        back = self._returners(winback)
        if back is not None:
            self.s = {k: np.concatenate([self.s[k], back[k]]) for k in self.s}
        self._observe()
        self._set_hazard(self._logit_without_intercept())

    def reference_tables(self) -> dict[str, pa.Table]:
        """Return the canonical reference tables: branches, enterprise_groups, staff."""
        g = self._groups
        branches = pa.table(
            {
                "branch_id": [b[0] for b in ref.BRANCHES],
                "name_en": [b[1] for b in ref.BRANCHES],
                "name_zh": [b[2] for b in ref.BRANCHES],
            }
        )
        groups = pa.table(
            {
                "group_id": _str_ids("G", np.arange(len(g["count"])), 6),
                "name": pa.array(g["name"]),
                "branch_id": pa.array([ref.BRANCHES[i][0] for i in g["branch"]]),
                "handset_count": pa.array(g["count"].astype(np.int64)),
                "industry": pa.array([ref.INDUSTRIES[i][0] for i in g["industry"]]),
                "is_top500_taxpayer": pa.array(g["top500"]),
                "annual_spend": pa.array(np.round(g["spend"], 2)),
            }
        )
        return {
            "branches": branches,
            "enterprise_groups": groups,
            "group_contacts": self._group_contacts(),
            "staff": self._staff(),
        }

    def _group_contacts(self) -> pa.Table:
        """Key persons (集团关键人): 1 to 3 live member lines per group, by the group's size.

        A separate random stream: drawing contacts never changes the operator's evolution.
        """
        s = self.s
        rng = np.random.default_rng([self.seed, 18, self.month_index])
        idx = np.flatnonzero((s["group"] >= 0) & ~self._dead())
        grp = s["group"][idx]
        order = np.lexsort((rng.random(len(idx)), grp))
        idx, grp = idx[order], grp[order]
        first = np.r_[True, grp[1:] != grp[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(grp)), 0))
        rank = np.arange(len(grp)) - start  # 0, 1, 2 ... within a group, random order
        count = self._groups["count"][grp]
        wanted = np.where(count >= 500, 3, np.where(count >= 100, 2, 1))
        keep = rank < wanted
        roles = pa.array(["decision_maker", "contact", "finance"])
        return pa.table(
            {
                "subscriber_id": _str_ids("S", s["key"][idx[keep]], 10),
                "group_id": _str_ids("G", grp[keep], 6),
                "role": roles.take(pa.array(rank[keep].astype(np.int32))),
            }
        )

    # ------------------------------------------------------------------ population
    def _check_month(self, month_index: int | None) -> None:
        if month_index is not None and month_index != self.month_index:
            raise ConfigError(
                "only the current month ({current}) is kept; "
                "use make_history() to get month {month_index}",
                current=self.month_index,
                month_index=month_index,
            )

    def _dead(self) -> np.ndarray:
        return self.s["status"] == _CANCELLED

    def _make_groups(self, k: int) -> dict[str, np.ndarray]:
        rng = self._rng
        size_class = _exact_choice(rng, k, [0.01, 0.25, 0.74])
        count = np.where(
            size_class == 0,
            np.minimum(500 * np.exp(rng.exponential(0.8, k)), 20_000),
            np.where(
                size_class == 1,
                np.exp(rng.uniform(np.log(100), np.log(499.99), k)),
                np.exp(rng.uniform(np.log(10), np.log(99.99), k)),
            ),
        ).astype(np.int64)
        shares = np.array([s for _, s in ref.INDUSTRIES])
        industry = _exact_choice(rng, k, shares / shares.sum())
        top500 = (count >= 300) & (rng.random(k) < 0.05)
        branch_w = np.array([b[4] for b in ref.BRANCHES])
        branch = rng.choice(len(branch_w), size=k, p=branch_w / branch_w.sum())
        spend = count * 12 * 45.0 * rng.lognormal(0, 0.3, k)
        p1, p2 = ref.GROUP_NAME_PARTS
        names = [
            f"{ref.BRANCHES[b][2]}{p1[i % len(p1)]}{p2[(i * 7 + 3) % len(p2)]}"
            f"{ref.INDUSTRY_ZH[ref.INDUSTRIES[ind][0]]}"
            for i, (b, ind) in enumerate(zip(branch, industry, strict=True))
        ]  # one name per enterprise group (thousands), not per subscriber
        return {
            "count": count,
            "industry": industry,
            "top500": top500,
            "branch": branch,
            "spend": spend,
            "name": np.array(names, dtype=object),
        }

    def _spawn(self, k: int, joiner: bool) -> dict[str, np.ndarray]:
        """Draw ``k`` new lines (the initial base, or this month's joiners)."""
        rng = self._rng
        month0 = _days(self.month)
        key = np.arange(self._next_key, self._next_key + k, dtype=np.int64)
        self._next_key += k
        line = rng.choice(len(LINE_TYPES), size=k, p=[0.75, 0.18, 0.03, 0.025, 0.005, 0.01]).astype(
            np.int8
        )
        mobile, bb = line == _MOBILE, line == _BROADBAND
        branch_w = np.array([b[4] for b in ref.BRANCHES])
        branch = rng.choice(len(branch_w), size=k, p=branch_w / branch_w.sum()).astype(np.int8)

        # enterprise group members (mobile only), branch follows the group
        g = self._groups
        in_group = mobile & (rng.random(k) < 0.15)
        gw = g["count"] / g["count"].sum()
        group = np.full(k, -1, np.int32)
        group[in_group] = rng.choice(len(gw), size=int(in_group.sum()), p=gw)
        branch[in_group] = g["branch"][group[in_group]]

        n_dist = np.array([len(ref.DISTRICTS[b[0]]) for b in ref.BRANCHES])
        d = rng.integers(-1, n_dist[branch]).astype(np.int8)
        district = np.maximum(d, 0)  # the first district (city centre) twice as often

        cust = key.copy()
        # converged households: a broadband line and a mobile line share the customer id
        bb_idx = np.flatnonzero(bb)
        free_mobile = np.flatnonzero(mobile & ~in_group)
        n_conv = min(round(len(bb_idx) * 0.42), len(free_mobile))
        conv_bb = rng.choice(bb_idx, size=n_conv, replace=False)
        conv_mob = rng.choice(free_mobile, size=n_conv, replace=False)
        cust[conv_mob] = cust[conv_bb]
        branch[conv_mob] = branch[conv_bb]
        district[conv_mob] = district[conv_bb]
        converged = np.zeros(k, bool)
        converged[conv_bb] = converged[conv_mob] = True
        has_mobile = np.zeros(k, bool)
        has_mobile[conv_bb] = True
        has_mobile |= bb & ~converged & (rng.random(k) < 0.18)
        acct = cust * 10 + 1

        # tenure: joiners activate this month; the base spreads over 0-20 years
        if joiner:
            activation = month0 + rng.integers(0, 28, k)
        else:
            months = np.where(
                rng.random(k) < 0.035, rng.uniform(0, 3, k), 3 + rng.exponential(50, k)
            )
            activation = month0 + 14 - np.minimum(months, 240) * 30.44
        activation = activation.astype(np.int32)

        status = np.zeros(k, np.int8)
        if not joiner:
            status = rng.choice(4, size=k, p=[0.962, 0.014, 0.016, 0.008]).astype(np.int8)

        # value: lognormal ARPU by line type (yuan/month)
        med = np.array([45.0, 75.0, 30.0, 6.0, 12.0, 28.0])[line]
        sig = np.array([0.8, 0.55, 0.6, 0.8, 0.5, 0.6])[line]
        base_arpu = (med * np.exp(sig * rng.standard_normal(k))).astype(np.float32)
        # package: the largest tier at or below 95 % of the line's usual spend
        mob_fees = np.array(ref.MOBILE_PACKAGE_FEES, np.float32)
        bb_fees = np.array(ref.BROADBAND_PACKAGE_FEES, np.float32)
        pkg_fee = np.where(
            bb,
            bb_fees[np.clip(np.searchsorted(bb_fees, base_arpu * 0.95, "right") - 1, 0, None)],
            mob_fees[np.clip(np.searchsorted(mob_fees, base_arpu * 0.95, "right") - 1, 0, None)],
        ).astype(np.float32)

        # usage bases
        smart_share = np.array([0.10, 0.70, 0.98, 0.995])
        hs = np.full(k, -1, np.int16)
        gen_draw = rng.choice(4, size=k, p=[0.04, 0.06, 0.44, 0.46])
        gen_models = [np.flatnonzero(np.equal(_GEN_OF_HANDSET, gi)) for gi in range(4)]
        pick = rng.random(k)
        for gi in range(4):  # four generations, not a loop over subscribers
            m = mobile & (gen_draw == gi)
            hs[m] = gen_models[gi][(pick[m] * len(gen_models[gi])).astype(int)]
        smart = rng.random(k) < smart_share[np.clip(gen_draw, 0, 3)]
        age_years = rng.gamma(2.0, 0.75, k) + np.where(gen_draw <= 1, 2.0, 0.0)
        if joiner:
            age_years = np.where(rng.random(k) < 0.6, rng.uniform(0, 0.1, k), age_years)
        hs_first = (month0 + 14 - np.minimum(age_years, 8.0) * 365.25).astype(np.int32)

        base_min = np.where(mobile, base_arpu * 5.5 * rng.lognormal(0, 0.5, k), 0) + np.where(
            line == _LINE["fixed"], rng.lognormal(4.5, 0.8, k), 0
        )
        data_med = np.where(smart, 6000.0, 15.0) * (base_arpu / 45.0) ** 0.6
        base_data = np.where(
            mobile,
            data_med * rng.lognormal(0, 1.2, k),
            np.where(line == _LINE["data_card"], rng.lognormal(8.5, 1.0, k), 0),
        )
        base_data = np.where(line == _LINE["iot"], rng.lognormal(2.0, 1.0, k), base_data)
        base_sms = np.where(mobile, rng.exponential(2.5, k), 0)
        base_vas = np.where(mobile & (rng.random(k) < 0.55), rng.lognormal(1.8, 0.7, k), 0)
        shares = np.array(ref.BROADBAND_SPEED_SHARES)
        bb_speed = np.where(
            bb,
            np.array(ref.BROADBAND_SPEEDS, np.float32)[
                rng.choice(len(shares), size=k, p=shares / shares.sum())
            ],
            0,
        )
        bb_hours = np.where(bb, rng.lognormal(np.log(160), 0.6, k), 0)
        iptv = bb & (rng.random(k) < 0.35)

        # contracts
        c_type = np.where(
            mobile,
            rng.choice(6, size=k, p=[0.35, 0.25, 0.12, 0.15, 0.13, 0.0]),
            np.where(bb, rng.choice(6, size=k, p=[0.33, 0, 0, 0.12, 0, 0.55]), 0),
        ).astype(np.int8)
        dur = _CONTRACT_MONTHS[c_type]
        elapsed = rng.uniform(0, 1, k) * dur  # months into the contract
        if joiner:
            elapsed = np.minimum(elapsed, 0.5)
        c_start = (month0 + 14 - elapsed * 30.44).astype(np.int32)
        c_start = np.maximum(c_start, activation)
        c_end = (c_start + dur * 30.44).astype(np.int32)
        # a handset-subsidy contract starts with the handset it subsidised
        hs_first = np.where(c_type == _CONTRACT["handset_subsidy"], c_start - 3, hs_first)
        hs_first = np.maximum(hs_first, np.minimum(activation, month0) - 400).astype(np.int32)

        # value programmes, payment, flags
        annual = base_arpu * 12 * rng.lognormal(0, 0.12, k)
        if joiner:
            annual = base_arpu * 1.0
        tier = self._vip_from_spend(annual)
        vip = tier * (rng.random(k) < np.array([0.0, 0.6, 0.85, 0.95])[tier])
        midhigh = (
            ~np.bool_(joiner)
            & (mobile | bb)
            & (base_arpu >= np.where(bb, 150, 100))
            & (rng.random(k) < 0.85)
        )
        corporate = np.where(in_group, rng.random(k) < 0.3, rng.random(k) < 0.004)
        group_pay = np.where(
            in_group & (rng.random(k) < 0.35), rng.lognormal(np.log(60), 0.5, k), 0
        )
        # hidden loyalty (higher = readier to leave): the line's own disposition plus its network
        # experience, which is partly the district's coverage (a fixed draw per district)
        area = hash_uniform(branch.astype(np.int64) * 64 + district, self.seed * 7919 + 5) - 0.5
        net = (area * 2.45 + 0.707 * rng.standard_normal(k)).astype(np.float32)
        u = _U_OWN * rng.normal(0, 1, k) + _U_NET * net
        # the base starts near the steady state of the disengagement process (see _evolve)
        dis = ~np.bool_(joiner) & (rng.random(k) < 2.2 * _sigmoid(_DIS_BASE + 0.8 * u))
        sat = np.where(
            rng.random(k) < 0.35,
            np.clip(np.round(_sat_mean(u) + rng.normal(0, _SAT_NOISE, k)), 0, 100),
            np.nan,
        )
        nps = np.where(
            rng.random(k) < 0.12,
            np.clip(np.round(_nps_mean(u) + rng.normal(0, _NPS_NOISE, k)), 0, 10),
            np.nan,
        )
        credit = rng.choice(4, size=k, p=[0.765, 0.12, 0.10, 0.015]).astype(np.int8)
        credit = np.where((credit == 3) & (rng.random(k) < 0.3), 0, credit).astype(np.int8)

        # PII
        age = rng.uniform(18, 75, k)
        birth = (month0 - age * 365.25).astype(np.int32)
        region = (
            np.array([int(b[5]) for b in ref.BRANCHES])[branch]
            + (np.minimum(district, 9) + 1)
            * (np.array([int(b[5]) % 100 == 0 for b in ref.BRANCHES])[branch])
        )
        return {
            "key": key,
            "cust": cust,
            "acct": acct,
            "branch": branch,
            "district": district.astype(np.int8),
            "line": line,
            "status": status,
            "free": rng.random(k) < 0.004,
            "public": rng.random(k) < 0.006,
            "dedicated": bb & (rng.random(k) < 0.03),
            "dnd": rng.random(k) < 0.03,
            "credit": credit,
            "corporate": corporate,
            "group": group,
            "group_pay": group_pay.astype(np.float32),
            "activation": activation,
            "contract": c_type,
            "c_start": c_start,
            "c_end": c_end,
            "pkg_fee": pkg_fee,
            "converged": converged,
            "base_arpu": base_arpu,
            "base_min": base_min.astype(np.float32),
            "base_data": base_data.astype(np.float32),
            "base_sms": base_sms.astype(np.float32),
            "base_vas": base_vas.astype(np.float32),
            "bb_speed": bb_speed.astype(np.float32),
            "bb_hours_base": bb_hours.astype(np.float32),
            "iptv": iptv,
            "has_mobile": has_mobile,
            "hs": hs,
            "smart": smart & mobile,
            "hs_first": hs_first,
            "vip": vip.astype(np.int8),
            "annual": annual.astype(np.float32),
            "midhigh": midhigh,
            "dual": rng.random(k) < _sigmoid(_DUAL_BASE + _DUAL_U * u),
            "sat": sat.astype(np.float32),
            "nps": nps.astype(np.float32),
            "u": u.astype(np.float32),
            "net": net,
            "dis": dis,
            "dis_mult": np.where(dis, rng.uniform(0.3, 0.65, k), 1.0).astype(np.float32),
            "birth": birth,
            "region": region.astype(np.int32),
            "seq": rng.integers(0, 1000, k).astype(np.int16),
            "name": rng.integers(0, len(_name_vocab()), k).astype(np.int32),
            # per-month observations (filled by _observe)
            **{
                c: np.zeros(k, np.float32)
                for c in (
                    *("arpu", "minutes", "data", "sms", "vas", "bb_hours", "p", "u_draw"),
                    *("drop_rate", "weak_share"),
                )
            },
            **{
                c: np.zeros(k, np.int8)
                for c in ("zero_days", "complaints", "competitor", "compl_1", "compl_2")
            },
            "arpu_prev": base_arpu.copy(),
        }

    @staticmethod
    def _vip_from_spend(annual: np.ndarray) -> np.ndarray:
        return ((annual >= 666).astype(np.int8) + (annual >= 1500) + (annual >= 3000)).astype(
            np.int8
        )

    # ------------------------------------------------------------------ monthly dynamics
    def _observe(self) -> None:
        """Draw this month's usage and signals from the bases and the latent state."""
        s, rng = self.s, self._rng
        k = self.n_lines
        dead = self._dead()
        mult = np.where(s["dis"], s["dis_mult"], 1.0) * rng.lognormal(0, 0.06, k)
        mult *= np.where(rng.random(k) < 0.01, 0.6, 1.0)  # travel, illness: noise drops
        mult = np.where(dead, 0.0, mult)
        s["arpu_prev"] = s["arpu"].copy() if self.month_index else s["base_arpu"].copy()
        s["arpu"] = (s["base_arpu"] * mult).astype(np.float32)
        s["minutes"] = (s["base_min"] * mult * rng.lognormal(0, 0.08, k)).astype(np.float32)
        s["data"] = (s["base_data"] * mult * rng.lognormal(0, 0.15, k)).astype(np.float32)
        s["sms"] = (s["base_sms"] * mult * rng.lognormal(0, 0.3, k)).astype(np.float32)
        s["vas"] = (s["base_vas"] * np.minimum(mult, 1.0)).astype(np.float32)
        s["bb_hours"] = (s["bb_hours_base"] * mult * rng.lognormal(0, 0.1, k)).astype(np.float32)
        mobile = s["line"] == _MOBILE
        p0 = np.clip(np.exp(-s["minutes"] / 20.0) + 0.25 * s["dis"], 0.005, 0.95)
        s["zero_days"] = np.where(mobile & ~dead, rng.binomial(30, p0), 0).astype(np.int8)
        u = s["u"]
        rate = np.where(dead, 0.0, np.exp(-4.0 + 0.6 * u + 1.3 * s["dis"]))
        if self.month_index:  # last month's and the month before's counts, for the 3-month sum
            s["compl_2"], s["compl_1"] = s["compl_1"], s["complaints"].copy()
        else:  # the first month's base has a complaint history too
            s["compl_2"] = rng.poisson(rate).astype(np.int8)
            s["compl_1"] = rng.poisson(rate).astype(np.int8)
        s["complaints"] = rng.poisson(rate).astype(np.int8)
        # network experience, measured on mobile lines: dropped calls out of the month's calls
        # (about one call per 2.5 minutes) and the share of data traffic under weak coverage
        net = s["net"]
        calls = np.where(mobile & ~dead, rng.poisson(s["minutes"] / 2.5), 0)
        p_drop = np.clip(0.006 * np.exp(0.55 * net + rng.normal(0, 0.25, k)), 0, 0.5)
        drops = rng.binomial(calls, p_drop)
        s["drop_rate"] = np.where(calls > 0, 100.0 * drops / np.maximum(calls, 1), np.nan)
        weak = _sigmoid(-2.4 + 0.8 * net + rng.normal(0, 0.45, k))
        s["weak_share"] = np.where(mobile & ~dead & (s["data"] > 0), 100.0 * weak, np.nan)
        s["competitor"] = np.where(
            dead, 0, rng.poisson(np.exp(-3.6 + 0.7 * u + 1.6 * s["dis"] + 0.6 * s["dual"]))
        ).astype(np.int8)

    def _months_to_end(self) -> np.ndarray:
        s = self.s
        end = np.where(s["contract"] == _NONE_CONTRACT, 10**6, s["c_end"])
        return (end - _days(self.month)) / 30.44

    def _logit_without_intercept(self) -> np.ndarray:
        s = self.s
        mte = self._months_to_end()
        ending = (mte >= 0) & (mte < 3)
        unbound = s["contract"] == _NONE_CONTRACT
        tenure = (_days(self.month) - s["activation"]) / 30.44
        b = s["base_arpu"]
        x = (
            1.3 * ending
            + 0.45 * unbound
            - 0.5 * (~unbound & ~ending)
            + _DIS_CHURN * s["dis"]
            + 0.6 * (b < 20)
            - 0.25 * (b >= 80)
            + 0.7 * (s["complaints"] > 0)
            + 0.9 * (s["competitor"] > 0)
            + 1.3 * (tenure < 12)
            + 0.4 * s["dual"]
            - 0.7 * s["converged"]
            - 0.6 * (s["corporate"] | (s["group_pay"] > 50))
            + _U_CHURN * s["u"]
            + np.select(
                [s["status"] == 1, s["status"] == 2, s["status"] == 3], [0.8, 1.3, 2.8], 0.0
            )
            - 0.4 * (s["line"] >= 2)
            + self._rng.normal(0, _SHOCK, self.n_lines)
        )
        return x

    def _calibrate(self, x: np.ndarray) -> float:
        live = x[~self._dead()]
        sample = live[:200_000]
        lo, hi = -12.0, 2.0
        for _ in range(40):  # bisection on the intercept
            mid = (lo + hi) / 2
            if _sigmoid(mid + sample).mean() > self.target_churn:
                hi = mid
            else:
                lo = mid
        return (lo + hi) / 2

    def _set_hazard(self, x: np.ndarray) -> None:
        s = self.s
        s["p"] = np.where(self._dead(), 0.0, _sigmoid(self._b0 + x)).astype(np.float32)
        s["u_draw"] = self._rng.random(self.n_lines).astype(np.float32)

    def _evolve(self, shown_cancel: np.ndarray) -> None:
        """Move surviving lines one month on (drift, disengagement, status, contracts)."""
        s, rng = self.s, self._rng
        k = self.n_lines
        month0 = _days(self.month)
        s["status"] = np.where(shown_cancel, _CANCELLED, s["status"]).astype(np.int8)
        live = ~shown_cancel
        s["base_arpu"] *= rng.lognormal(0.002, 0.03, k).astype(np.float32)
        s["base_min"] *= rng.lognormal(-0.004, 0.04, k).astype(np.float32)
        s["base_data"] *= rng.lognormal(0.012, 0.05, k).astype(np.float32)
        s["annual"] = (s["annual"] * 11 / 12 + s["arpu"]).astype(np.float32)
        if self.month.month == 1:  # VIP tiers reviewed once a year
            s["vip"] = (self._vip_from_spend(s["annual"]) * (s["vip"] > 0)).astype(np.int8)

        mte = self._months_to_end()
        start_dis = _sigmoid(
            _DIS_BASE
            + 0.8 * s["u"]
            + 0.8 * (s["complaints"] > 0)
            + 0.8 * (s["competitor"] > 0)
            + 0.9 * ((mte >= 0) & (mte < 3))
        )
        was = s["dis"]
        now = np.where(was, rng.random(k) < 0.55, rng.random(k) < start_dis)
        fresh = now & ~was
        s["dis_mult"] = np.where(fresh, rng.uniform(0.3, 0.65, k), s["dis_mult"]).astype(np.float32)
        s["dis"] = now & live

        # status transitions
        r = rng.random(k)
        st = s["status"]
        active = st == _ACTIVE
        new = np.where(
            active & (r < 0.005),
            1,
            np.where(
                active & (r < 0.011),
                2,
                np.where(active & (r < 0.011 + 0.003 * (1 + s["dis"])), 3, st),
            ),
        )
        new = np.where(np.isin(st, (1, 2)) & (r < 0.5), _ACTIVE, new)
        s["status"] = np.where(live, new, _CANCELLED).astype(np.int8)

        # contracts that ended: some renew, the rest become unbound
        ended = (s["contract"] != _NONE_CONTRACT) & (s["c_end"] < month0)
        renew = ended & (rng.random(k) < 0.3)
        dur = _CONTRACT_MONTHS[s["contract"]]
        s["c_start"] = np.where(renew, s["c_end"] + 1, s["c_start"]).astype(np.int32)
        s["c_end"] = np.where(renew, s["c_start"] + dur * 30.44, s["c_end"]).astype(np.int32)
        s["contract"] = np.where(ended & ~renew, _NONE_CONTRACT, s["contract"]).astype(np.int8)

        resurvey = rng.random(k) < 0.04
        s["sat"] = np.where(
            resurvey,
            np.clip(
                np.round(_sat_mean(s["u"]) - 15 * s["dis"] + rng.normal(0, _SAT_NOISE, k)), 0, 100
            ),
            s["sat"],
        ).astype(np.float32)
        # NPS survey after a touchpoint: more likely after a complaint (not missing at random)
        nps_now = rng.random(k) < 0.02 + 0.25 * (s["complaints"] > 0)
        s["nps"] = np.where(
            nps_now,
            np.clip(
                np.round(_nps_mean(s["u"]) - 2 * s["dis"] + rng.normal(0, _NPS_NOISE, k)), 0, 10
            ),
            s["nps"],
        ).astype(np.float32)

    # ------------------------------------------------------------------ responses
    def _response(
        self, action: str, idx: np.ndarray, systematic: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Hidden (p_accept, churn_reduction) of ``action`` for lines ``idx``.

        Each line has its own taste for each action: ``e1`` shifts the reduction by up to
        ±0.06 and ``e2`` the acceptance log-odds by up to ±0.6 (uniform, from a hash of the
        line's key, so stable over months). ``systematic`` integrates them out: the reduction
        at ``e1 = 0`` (the clip rarely binds) and E[σ(z + 1.2·e2)] =
        (softplus(z + 0.6) − softplus(z − 0.6)) / 1.2.
        """
        s = self.s
        a = ACTIONS.index(action)
        keys = s["key"][idx]
        e1 = hash_uniform(keys, self.seed * 1000 + a * 2 + 1) - 0.5
        e2 = hash_uniform(keys, self.seed * 1000 + a * 2 + 2) - 0.5
        mte = self._months_to_end()[idx]
        a1 = (mte >= 0) & (mte < 3)
        unbound = s["contract"][idx] == _NONE_CONTRACT
        b = s["base_arpu"][idx]
        high, low = b >= 80, b < 20
        dis = s["dis"][idx]
        signal = (s["complaints"][idx] > 0) | (s["competitor"][idx] > 0) | dis
        u = s["u"][idx]
        data = s["base_data"][idx]
        age = (_days(self.month) - s["hs_first"][idx]) / 365.25
        hs = s["hs"][idx]
        legacy = (hs >= 0) & (_GEN_OF_HANDSET[np.maximum(hs, 0)] <= 1)
        old = np.clip((age - 1.0) / 1.5, 0, 1)
        speed = s["bb_speed"][idx]
        iptv = s["iptv"][idx]
        if action == "care_call":
            cr = 0.08 + 0.12 * signal + 0.05 * high - 0.12 * (low & ~signal)
            acc = 0.6 + 0.3 * high
        elif action == "handset_upgrade":
            cr = 0.03 + 0.5 * np.maximum(old, legacy) + 0.1 * (a1 | unbound)
            acc = -1.6 + 1.6 * np.maximum(old, legacy) + 0.4 * high
        elif action == "prepay_data":
            cr = 0.08 + 0.32 * a1 + 0.12 * (data >= 3000) - 0.15 * (data < 300)
            acc = -1.3 + 0.5 * high + 0.6 * a1 + 0.4 * (data >= 3000)
        elif action == "prepay_credit":
            cr = 0.08 + 0.30 * a1 + 0.10 * (data < 3000) - 0.08 * low
            acc = -1.1 + 0.6 * a1 + 0.3 * high
        elif action == "package_fit":
            cr = 0.04 + 0.30 * dis + 0.10 * high - 0.12 * low
            acc = -0.8 + 0.7 * dis + 0.3 * high
        elif action == "data_pack":
            cr = -0.02 + 0.25 * (data >= 10000) - 0.10 * (data < 1000)
            acc = -1.8 + 1.0 * (data >= 10000)
        elif action == "add_mobile":
            cr = 0.03 + 0.50 * ~s["has_mobile"][idx] - 0.03 * low
            acc = -1.6 + 0.6 * ~s["has_mobile"][idx]
        elif action == "prepay_speedup":
            cr = 0.02 + 0.40 * (speed < 100) + 0.10 * ((speed >= 100) & (speed < 500))
            cr = cr - 0.06 * (speed >= 500)
            acc = -1.3 + 0.9 * (speed < 100)
        elif action == "prepay_annual":
            cr = 0.08 + 0.32 * a1 + 0.10 * unbound
            acc = -1.1 + 0.7 * a1 + 0.3 * high
        elif action == "itv_addon":
            cr = 0.02 + 0.16 * ~iptv - 0.07 * low
            acc = np.where(iptv, -3.5, -1.3 + 0.3 * high)
        else:  # pragma: no cover - ACTIONS is closed
            raise ConfigError(
                "unknown action {action!r}; known: {known}", action=action, known=", ".join(ACTIONS)
            )
        z = acc - 0.35 * u
        if systematic:
            cr = np.clip(cr, -0.3, 0.9)
            p_acc = (np.logaddexp(0.0, z + 0.6) - np.logaddexp(0.0, z - 0.6)) / 1.2
        else:
            cr = np.clip(cr + 0.12 * e1, -0.3, 0.9)
            p_acc = _sigmoid(z + 1.2 * e2)
        return p_acc.astype(np.float64), cr.astype(np.float64)

    def _apply_treatments(self, treatments: pa.Table) -> np.ndarray:
        """Return each line's churn multiplier and change the lines that accepted an offer."""
        s = self.s
        need = {"subscriber_id", "action", "accepted"}
        if not need <= set(treatments.column_names):
            raise ConfigError("treatments need columns {columns}", columns=sorted(need))
        acc = pc.fill_null(treatments.column("accepted"), False)
        t = treatments.filter(acc)
        keep = np.ones(self.n_lines)
        if t.num_rows == 0:
            return keep
        try:
            keys = pc.cast(pc.utf8_slice_codeunits(t.column("subscriber_id"), 1), pa.int64())
        except pa.ArrowInvalid as exc:
            raise ConfigError(
                "treatments: subscriber_id must be this operator's ids (S0000000001 …): {error}",
                error=str(exc),
            ) from exc
        keys = keys.to_numpy()
        idx = np.searchsorted(s["key"], keys)
        idx = np.minimum(idx, self.n_lines - 1)
        found = s["key"][idx] == keys
        actions = t.column("action").to_numpy(zero_copy_only=False)
        month0 = _days(self.month)
        accepted: list[tuple[str, np.ndarray]] = []
        for action in np.unique(actions):  # a handful of actions, vectorized inside
            if action not in ACTIONS:
                raise ConfigError(
                    "unknown action {action!r}; known: {known}",
                    action=action,
                    known=", ".join(ACTIONS),
                )
            sel = idx[(actions == action) & found]
            line = s["line"][sel]
            ok = (line == _MOBILE) if action in MOBILE_ACTIONS else np.zeros(len(sel), bool)
            ok |= (line == _BROADBAND) if action in BROADBAND_ACTIONS else False
            sel = sel[ok]
            _, cr = self._response(str(action), sel)
            np.multiply.at(keep, sel, 1.0 - cr)
            accepted.append((str(action), sel))
        # change the lines only once every response was read from the unchanged state
        for action, sel in accepted:
            self._change_line(action, sel, month0)
        return keep

    def _change_line(self, action: str, sel: np.ndarray, month0: int) -> None:
        s = self.s
        new_contract = {
            "handset_upgrade": "handset_subsidy",
            "prepay_data": "deposit_bonus",
            "prepay_credit": "prepaid_credit",
            "prepay_speedup": "package_prepay",
            "prepay_annual": "broadband_annual",
        }.get(action)
        if new_contract:
            c = _CONTRACT[new_contract]
            s["contract"][sel] = c
            s["c_start"][sel] = month0 + 20
            s["c_end"][sel] = month0 + 20 + int(_CONTRACT_MONTHS[c] * 30.44)
        if action == "handset_upgrade":
            s["hs"][sel] = 0
            s["smart"][sel] = True
            s["hs_first"][sel] = month0 + 20
        elif action == "prepay_speedup":
            s["bb_speed"][sel] = np.maximum(s["bb_speed"][sel] * 2, 100)
        elif action == "add_mobile":
            s["has_mobile"][sel] = True
            s["converged"][sel] = True
        elif action == "itv_addon":
            s["iptv"][sel] = True
        elif action == "data_pack":
            s["base_data"][sel] *= 1.3
            s["base_arpu"][sel] += 10

    # ------------------------------------------------------------------ output
    def _staff(self) -> pa.Table:
        s = self.s
        live = ~self._dead()
        nb = len(ref.BRANCHES)
        # 1 manager per 400 VIP customers by the programme's rule (spend ≥ the silver threshold,
        # what `weixi books rebalance` places), not only the cards on file
        vip_line = live & ((s["vip"] > 0) | (s["annual"] >= _VIP_SILVER))
        vip = np.bincount(s["branch"][vip_line], minlength=nb)
        members = np.bincount(self._groups["branch"], minlength=nb)
        lines = np.bincount(s["branch"][live], minlength=nb)
        am = np.maximum(1, np.ceil(vip / 400) + np.ceil(members / 50)).astype(int)
        cc = np.maximum(1, np.ceil(lines / 2500)).astype(int)
        stores = np.maximum(1, np.ceil(lines / 1500)).astype(int)
        rows: dict[str, list[str]] = {"staff_id": [], "name": [], "branch_id": [], "channel": []}
        vocab = _name_vocab()
        n = 0
        for b in range(nb):  # per branch and channel: staff counts, not subscribers
            for channel, count, code in (
                ("account_manager", am[b], "AM"),
                ("call_center", cc[b], "CC"),
                ("store", stores[b], "ST"),
            ):
                for j in range(int(count)):
                    n += 1
                    rows["staff_id"].append(f"{ref.BRANCHES[b][0]}{code}{j + 1:04d}")
                    rows["name"].append(str(vocab[(n * 7919) % len(vocab)]))
                    rows["branch_id"].append(ref.BRANCHES[b][0])
                    rows["channel"].append(channel)
        return pa.table(rows)

    def _batch(self, sl: slice) -> pa.RecordBatch:
        s = {k: v[sl] for k, v in self.s.items()}
        n = len(s["key"])
        line = s["line"]
        mobile, bb = line == _MOBILE, line == _BROADBAND
        month0 = _days(self.month)

        def strs(vocab: list[str] | tuple[str, ...], idx: np.ndarray, mask=None) -> pa.Array:
            return pa.array(vocab).take(pa.array(idx.astype(np.int32), mask=mask))

        def num(x: np.ndarray, mask=None, nd: int = 2) -> pa.Array:
            return pa.array(np.round(x.astype(np.float64), nd), mask=mask)

        def date(x: np.ndarray, mask=None) -> pa.Array:
            return pa.array(x.astype(np.int32), type=pa.int32(), mask=mask).cast(pa.date32())

        # service number: mobile MSISDN, IoT 1064…, fixed/broadband: area code + 8 digits
        digits8 = (s["key"] * 48271 + 10_000_019) % 10**8
        pre_idx = (s["key"] * 7) % len(_MOBILE_PREFIXES)
        area = strs([b[3] for b in ref.BRANCHES], s["branch"])
        prefix = pc.if_else(
            pa.array(mobile | (line == _LINE["data_card"])),
            strs(_MOBILE_PREFIXES, pre_idx),
            pc.if_else(pa.array(line == _LINE["iot"]), pa.scalar("10648"), area),
        )
        phone = pc.binary_join_element_wise(
            prefix, pc.utf8_lpad(pc.cast(pa.array(digits8), pa.string()), 8, "0"), ""
        )
        nd = np.array([len(ref.DISTRICTS[b[0]]) for b in ref.BRANCHES])
        district_vocab = [d for b in ref.BRANCHES for d in ref.DISTRICTS[b[0]]]
        offs = np.concatenate([[0], np.cumsum(nd)[:-1]])
        kind = np.select([s["converged"], mobile, bb], ["融合", "畅享", "光宽带"], default="行业")
        pkg = pc.binary_join_element_wise(
            pa.array(kind),
            pc.cast(pa.array(s["pkg_fee"].astype(np.int64)), pa.string()),
            "元套餐",
            "",
        )
        no_contract = s["contract"] == _NONE_CONTRACT
        hs_mask = ~mobile | (s["hs"] < 0)
        hs_idx = np.maximum(s["hs"], 0)
        cols = {
            "month": pa.array(np.full(n, month0, np.int32)).cast(pa.date32()),
            "subscriber_id": _str_ids("S", s["key"], 10),
            "customer_id": _str_ids("C", s["cust"], 10),
            "account_id": _str_ids("A", s["acct"], 11),
            "phone": phone,
            "name": _name_vocab().take(pa.array(s["name"])),
            "id_number": _id_numbers(s["region"], s["birth"], s["seq"]),
            "branch_id": strs([b[0] for b in ref.BRANCHES], s["branch"]),
            "district": strs(district_vocab, offs[s["branch"]] + s["district"]),
            "line_type": strs(LINE_TYPES, line),
            "status": strs(STATUSES, s["status"]),
            "is_free_account": pa.array(s["free"]),
            "is_public_paid": pa.array(s["public"]),
            "is_dedicated_line": pa.array(s["dedicated"]),
            "do_not_disturb": pa.array(s["dnd"]),
            "credit_list": strs(CREDIT_LISTS, s["credit"]),
            "payment_type": strs(("personal", "corporate"), s["corporate"].astype(np.int8)),
            "group_payment_amount": num(s["group_pay"]),
            "activation_date": date(s["activation"]),
            "contract_type": strs(CONTRACT_TYPES, s["contract"]),
            "contract_start": date(s["c_start"], no_contract),
            "contract_end": date(s["c_end"], no_contract),
            "package_name": pkg,
            "package_fee": num(s["pkg_fee"]),
            "is_converged": pa.array(s["converged"]),
            "arpu": num(s["arpu"]),
            "voice_minutes": num(s["minutes"], nd=0),
            "sms_mms_spend": num(s["sms"]),
            "vas_spend": num(s["vas"]),
            "data_mb": num(s["data"], nd=1),
            "zero_call_days": pa.array(s["zero_days"].astype(np.int64)),
            "bb_speed_mbps": num(s["bb_speed"], ~bb, 0),
            "bb_online_hours": num(s["bb_hours"], ~bb, 1),
            "has_iptv": pa.array(s["iptv"]),
            "has_mobile_line": pa.array(s["has_mobile"], mask=~bb),
            "handset_model": strs([m for m, _ in ref.HANDSETS], hs_idx, hs_mask),
            "handset_generation": strs(HANDSET_GENERATIONS, _GEN_OF_HANDSET[hs_idx], hs_mask),
            "handset_smart": pa.array(s["smart"], mask=hs_mask),
            "handset_first_use_date": date(s["hs_first"], hs_mask),
            "vip_level": strs(VIP_LEVELS, s["vip"]),
            "annual_spend": num(s["annual"]),
            "snapshot_midhigh": pa.array(s["midhigh"]),
            "group_id": pc.if_else(
                pa.array(s["group"] >= 0),
                _str_ids("G", np.maximum(s["group"], 0), 6),
                pa.scalar(None, pa.string()),
            ),
            "complaints": pa.array(s["complaints"].astype(np.int64)),
            "competitor_contacts": pa.array(s["competitor"].astype(np.int64)),
            "dual_competitor": pa.array(s["dual"]),
            "satisfaction_score": num(s["sat"], np.isnan(s["sat"]), 0),
            "complaints_3m": pa.array(
                s["complaints"].astype(np.int64) + s["compl_1"] + s["compl_2"]
            ),
            "dropped_call_rate": num(s["drop_rate"], np.isnan(s["drop_rate"])),
            "weak_coverage_share": num(s["weak_share"], np.isnan(s["weak_share"]), 1),
            "nps_score": pa.array(
                np.nan_to_num(s["nps"]).astype(np.int64), mask=np.isnan(s["nps"])
            ),
        }
        schema = canonical_schema()
        return pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)


def make_month(
    n: int = 500,
    seed: int = 0,
    month: str | dt.date = "2026-01",
    churn_rate: float | None = None,
) -> pa.Table:
    """Return one canonical snapshot of a fresh synthetic operator.

    Args:
        n: number of lines.
        seed: random seed.
        month: the snapshot month, ``YYYY-MM``.
        churn_rate: base monthly churn to calibrate to (default about 2.2 %).

    Example:
        >>> t = make_month(200, seed=1)
        >>> t.num_rows, str(t.column("month")[0])
        (200, '2026-01-01')
    """
    return SyntheticOperator(n, seed=seed, start_month=month, churn_rate=churn_rate).snapshot()


def make_history(
    n: int = 500,
    months: int = 4,
    seed: int = 0,
    start: str | dt.date = "2025-09",
    churn_rate: float | None = None,
) -> list[tuple[dt.date, pa.Table]]:
    """Return ``months`` consecutive snapshots of the same population, oldest first.

    Churned lines disappear (or show once more with status ``cancelled``); joiners appear.

    Example:
        >>> h = make_history(300, months=2, seed=2)
        >>> [m.isoformat() for m, _ in h]
        ['2025-09-01', '2025-10-01']
    """
    op = SyntheticOperator(n, seed=seed, start_month=start, churn_rate=churn_rate)
    out = []
    for i in range(months):
        if i:
            op.advance()
        out.append((op.month, op.snapshot()))
    return out
