"""Plan adjustment (方案调整): next month's action per segment learns from the measured effect.

Thompson sampling over segment × action. Every (segment, action) has a Beta posterior of the
untreated churn rate from *that action's* randomized controls — the customers the plan meant
for the action and held back. Actions go to customers by their needs and value, so a segment's
customers planned for one action churn at another rate than those planned for the next; pooling
the segment's controls would mix that difference into the lift. Where an action's controls are
few, the segment's pooled control rate is the prior (``control_prior``, ``control_strength``
pseudo-customers), so the estimate moves to the action's own controls as they accrue. Every
(segment, action) also has a Beta posterior of the treated churn rate, whose prior is centred on
the configured effect (strategy library) with ``prior_strength`` pseudo-customers. Drawing both
posteriors many times gives, per segment,

- the **sampled net value** of each action: (control churn − treated churn) × customer value − cost,
- the **probability that each action is best** — used as the share of the segment's planned
  customers that get the action next month (probability matching: it keeps exploring actions
  that could still be best, and stops spending on the ones that clearly are not).

The holdout is kept as it is: the adjustment changes *which action* planned customers get,
never the randomized control share. :func:`change_report` explains what changed and why, in
English and Chinese.

Example:
    >>> stats = SegmentActionStats(
    ...     segments=["A1-B2-C1"], actions=["care_call", "prepay_credit"],
    ...     n_treated=np.array([[2000, 2000]]), churned_treated=np.array([[200, 100]]),
    ...     n_control=np.array([[2000, 2000]]), churned_control=np.array([[300, 300]]),
    ...     value=np.array([800.0]), cost=np.array([5.0, 30.0]),
    ...     prior_effect=np.array([[0.02, 0.02]]))
    >>> adj = thompson_adjust(stats, seed=0)
    >>> adj.best_action()[0], bool(adj.p_best[0, 1] > 0.8)
    ('prepay_credit', True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from weixi.i18n import t


@dataclass
class SegmentActionStats:
    """Accumulated campaign evidence per segment (rows) and action (columns).

    ``n_treated``/``churned_treated`` are ``(S, A)``; ``n_control``/``churned_control`` are the
    randomized controls planned for each action, ``(S, A)`` (a ``(S,)`` array is one pool shared
    by every action); ``control_prior`` is the prior mean of each cell's untreated churn rate
    ``(S, A)`` (None: uniform prior), worth ``control_strength`` pseudo-customers; ``value`` is
    the mean customer value (yuan, e.g. 12-month CLV) per segment;
    ``cost`` is the cost of one treatment per action ``(A,)`` or ``(S, A)``; ``prior_effect`` is
    the configured churn reduction (absolute, e.g. 0.02 = 2 pp) per (S, A). ``eligible`` masks
    actions a segment may get (default: all).
    """

    segments: list[str]
    actions: list[str]
    n_treated: np.ndarray
    churned_treated: np.ndarray
    n_control: np.ndarray
    churned_control: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    prior_effect: np.ndarray
    eligible: np.ndarray | None = None
    control_prior: np.ndarray | None = None
    control_strength: float = 20.0


@dataclass
class Adjustment:
    """Result of one Thompson-sampling round (arrays are segment × action)."""

    segments: list[str]
    actions: list[str]
    p_best: np.ndarray  # probability each action has the highest net value
    lift_mean: np.ndarray  # posterior mean churn reduction (absolute)
    lift_low: np.ndarray  # 2.5 % posterior quantile
    lift_high: np.ndarray  # 97.5 % posterior quantile
    net_value_mean: np.ndarray  # posterior mean net value per treated customer (yuan)
    n_treated: np.ndarray
    n_control: np.ndarray  # controls per segment × action
    holdout_share: float
    explore_share: float = 0.1

    def best_action(self) -> list[str]:
        """The action most likely best in each segment."""
        return [self.actions[j] for j in np.argmax(self.p_best, axis=1)]

    def follow(self) -> np.ndarray:
        """Share of each segment's lines that take the Thompson draw in the next plan.

        ``(max p_best − 1/K) / (1 − 1/K)`` over the segment's K eligible actions: 0 for an even
        split, 1 when one action is surely best; never below ``explore_share``. The others keep
        the strategy library's choice (the same rule as :func:`weixi.strategy.match.match`).
        """
        k = (self.p_best > 0).sum(axis=1).astype(float)
        top = self.p_best.max(axis=1) if self.p_best.size else np.zeros(len(self.segments))
        with np.errstate(divide="ignore", invalid="ignore"):
            sure = np.where(k > 1, (top - 1.0 / k) / (1.0 - 1.0 / k), 1.0)
        return np.clip(np.maximum(sure, self.explore_share), 0.0, 1.0)

    def main_action(self, before: list[str] | None) -> list[str]:
        """The action most of each segment's customers get next month.

        Expected share of action a = follow × p_best(a) + (1 − follow) × [a is last month's main
        action] (the library's choice, which the customers who do not take the draw keep).
        Without a previous plan: the most likely best action.
        """
        if before is None:
            return self.best_action()
        share = self.follow()[:, None] * self.p_best
        kept = np.array([[a == b for a in self.actions] for b in before], dtype=float)
        share = share + (1.0 - self.follow())[:, None] * kept
        return [self.actions[j] for j in np.argmax(share, axis=1)]

    def shares(self) -> np.ndarray:
        """Share of each segment's planned customers to give each action (probability matching)."""
        return self.p_best


def thompson_adjust(
    stats: SegmentActionStats,
    *,
    prior_strength: float = 200.0,
    n_draws: int = 2000,
    holdout_share: float = 0.1,
    explore_share: float = 0.1,
    seed: int = 0,
) -> Adjustment:
    """Draw the Beta posteriors and return action probabilities per segment (vectorized).

    Args:
        stats: evidence and configuration, see :class:`SegmentActionStats`.
        prior_strength: pseudo-customers behind the configured effect (more = trust config longer).
        n_draws: posterior draws.
        holdout_share: the randomized control share, carried unchanged into the next plan.
        explore_share: least share of a segment's lines that try the Thompson draw
            (:meth:`Adjustment.follow`).
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    n_t = np.asarray(stats.n_treated, dtype=float)
    k_t = np.asarray(stats.churned_treated, dtype=float)
    n_seg, n_act = n_t.shape

    def cells(x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(x[:, None] if x.ndim == 1 else x, (n_seg, n_act))

    # one control pool per segment (1-D) is one draw shared by its actions; controls per
    # segment × action are independent groups with independent draws
    shared = np.ndim(stats.n_control) == 1
    n_c, k_c = cells(stats.n_control), cells(stats.churned_control)
    # control posterior per segment × action (prior: the given mean, else uniform)
    if stats.control_prior is None:
        a0 = b0 = np.ones((n_seg, n_act))
    else:
        m0 = np.clip(cells(stats.control_prior), 1e-4, 1 - 1e-4)
        a0, b0 = m0 * stats.control_strength, (1 - m0) * stats.control_strength
    a_c = a0 + k_c
    b_c = b0 + n_c - k_c
    base_mean = a_c / (a_c + b_c)
    # treated prior centred on control mean − configured effect
    prior_rate = np.clip(base_mean - np.asarray(stats.prior_effect, float), 1e-4, 1 - 1e-4)
    a_t = prior_rate * prior_strength + k_t
    b_t = (1 - prior_rate) * prior_strength + (n_t - k_t)
    if shared:
        one = rng.beta(a_c[:, 0], b_c[:, 0], size=(n_draws, n_seg))
        draws_c = np.broadcast_to(one[:, :, None], (n_draws, n_seg, n_act))
    else:
        draws_c = rng.beta(a_c, b_c, size=(n_draws, n_seg, n_act))
    draws_t = rng.beta(a_t, b_t, size=(n_draws, n_seg, n_act))
    lift = draws_c - draws_t
    cost = np.broadcast_to(np.asarray(stats.cost, float), (n_seg, n_act))
    net = lift * np.asarray(stats.value, float)[None, :, None] - cost[None]
    eligible = (
        np.ones((n_seg, n_act), bool) if stats.eligible is None else np.asarray(stats.eligible)
    )
    net = np.where(eligible[None], net, -np.inf)
    best = np.argmax(net, axis=2)  # (draws, seg)
    p_best = np.stack([(best == j).mean(axis=0) for j in range(n_act)], axis=1)
    p_best = np.where(eligible, p_best, 0.0)
    finite_net = np.where(eligible[None], net, np.nan)
    return Adjustment(
        segments=list(stats.segments),
        actions=list(stats.actions),
        p_best=p_best,
        lift_mean=lift.mean(axis=0),
        lift_low=np.quantile(lift, 0.025, axis=0),
        lift_high=np.quantile(lift, 0.975, axis=0),
        net_value_mean=_masked_mean(finite_net, eligible),
        n_treated=n_t.astype(np.int64),
        n_control=n_c.astype(np.int64),
        holdout_share=holdout_share,
        explore_share=explore_share,
    )


def _masked_mean(draws: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Mean over draws where eligible, 0 elsewhere (no empty-slice warnings)."""
    if draws.shape[0] == 0:
        return np.zeros(eligible.shape)
    return np.where(eligible, np.nan_to_num(draws).mean(axis=0), 0.0)


def change_report(
    before: list[str] | None,
    adj: Adjustment,
    *,
    locale: str = "en",
    max_lines: int = 20,
) -> list[str]:
    """Explain, per segment, what changed in the plan and why (bilingual via ``t``).

    Args:
        before: last month's main action per segment (same order as ``adj.segments``), or None.
        adj: this round's :class:`Adjustment`.
        locale: ``en`` or ``zh-CN``.
        max_lines: at most this many segment lines (largest evidence first).

    Returns:
        Lines of text; the first summarises, the rest name the segments whose action changed
        (or, without a previous plan, each segment's chosen action).
    """
    after = adj.main_action(before)
    changed = [i for i in range(len(adj.segments)) if before is None or before[i] != after[i]]
    lines = [
        t(
            "{changed} of {total} segments change their main action; the randomized control "
            "share stays {holdout:.0%}.",
            locale,
            changed=len(changed),
            total=len(adj.segments),
            holdout=adj.holdout_share,
        )
    ]
    order = sorted(changed, key=lambda i: -int(adj.n_treated[i].sum()))
    for i in order[:max_lines]:
        j = adj.actions.index(after[i])
        old = before[i] if before is not None else "-"
        lines.append(
            t(
                "{segment}: {old} → {new}. Measured churn reduction {lift:+.1%} "
                "(95% interval {low:+.1%} to {high:+.1%}), {n_t} treated vs {n_c} control; "
                "probability this action is best {p:.0%}; net value {net:,.1f} yuan per customer.",
                locale,
                segment=adj.segments[i],
                old=old,
                new=after[i],
                lift=float(adj.lift_mean[i, j]),
                low=float(adj.lift_low[i, j]),
                high=float(adj.lift_high[i, j]),
                n_t=int(adj.n_treated[i, j]),
                n_c=int(adj.n_control[i, j]),
                p=float(adj.p_best[i, j]),
                net=float(adj.net_value_mean[i, j]),
            )
        )
    if before is not None:
        kept = [i for i in range(len(adj.segments)) if i not in set(changed)]
        # customers of a kept segment who get another action: they drew, and drew another one
        main = [adj.actions.index(a) if a in adj.actions else -1 for a in after]
        follow = adj.follow()
        alt = {
            i: float(follow[i] * (1.0 - (adj.p_best[i, main[i]] if main[i] >= 0 else 0.0)))
            for i in kept
        }
        trying = [i for i in kept if alt[i] >= 0.005]
        if trying:
            lines.append(
                t(
                    "{n} segments keep their action while the evidence is thin; "
                    "{low:.0%}–{high:.0%} of their customers try the alternatives.",
                    locale,
                    n=len(trying),
                    low=min(alt[i] for i in trying),
                    high=max(alt[i] for i in trying),
                )
            )
    if not changed:
        lines.append(
            t("No segment changes its action: the evidence confirms last month's plan.", locale)
        )
    return lines
