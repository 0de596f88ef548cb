"""Each treatment arm against the control: effects, intervals, adjusted and always-valid p-values.

DuckDB computes per-arm sufficient statistics of per-user metrics (``analysis/queries/
arm_sums.sql``: counts, sums, sums of squares and cross-products, all DOUBLE); everything here
works from those sums alone, with the functions of :mod:`analysis.stats`. The user is the unit
of randomisation, so users, not events, are the independent units of every test.

Metrics, each compared arm by arm with the control (the experiment's first arm):

``conversion``
    Purchasers over users, a 0/1 outcome per user. Pooled two-proportion z-test for the
    p-value and an unpooled Wald interval for the absolute difference (statsmodels' and R's
    convention); the relative lift and its interval by the delta method.
``ctr``
    Slate clicks over slate impressions, a ratio of per-user sums Σ clicks_u / Σ impressions_u,
    by the delta method (:func:`~analysis.stats.compare_arms` with
    :class:`~analysis.stats.RatioSums`) and a t-test with Welch–Satterthwaite df.
``revenue_per_user``
    Mean revenue per user, by Welch's unequal-variance t-test from the sums; the relative
    lift by the delta method.

Every difference is treatment minus control, and a relative lift is ``(m_b - m_a)/|m_a|``.

Multiple comparisons
--------------------
Holm's step-down adjustment runs over one **family per metric**: the treatment-vs-control
p-values of that metric (four with the default five arms). It keeps the family-wise error of
each metric at alpha; it does not adjust across the three metrics. Arms without a defined
p-value (no users, one user) are left out of the family.

Sequential validity
-------------------
A p-value read again every time someone opens the report is not a fixed-horizon p-value. Each
comparison therefore also gets GrowthBook's asymptotic confidence sequence (Waudby-Smith et
al., arXiv:2103.06476), whose interval and p-value stay valid at every look, with tuning
parameter ``M = SEQUENTIAL_TUNING`` (5,000 users across the two arms, GrowthBook's default: the
sample size at which the sequence is tightest). M is fixed in advance on purpose; choosing it
from the data at hand would break the guarantee. Holm is applied to these p-values too, in the
same families. The confidence sequence is used rather than the mSPRT of
:mod:`analysis.stats.sequential` because it reads any effect of
:func:`~analysis.stats.compare_arms` (relative lifts, ratio metrics, CUPED) and arms of unequal
size, where that mSPRT assumes a plain difference of means with equal arms.

Probability best
----------------
Seeded posterior simulation over all arms (:mod:`analysis.probability_best`): Beta posteriors
for conversion, normal ones for revenue per user and CTR.

CUPED
-----
Revenue per user adjusted by each user's pre-exposure activity, the organic events at or
before the user's first exposure (:mod:`analysis.cuped_revenue` says why this covariate is
valid and when CUPED is reported unavailable instead).

SRM
---
The sample-ratio check runs first. When it fails (``p < 0.001``) assignment or logging is
broken, and every number of :func:`compare_experiment` is marked untrustworthy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np

from analysis.arm_effect import ArmEffect, holm_per_family, interval, measure_effect
from analysis.arm_sums import (
    ArmRows,
    arm_sum,
    mean_sums,
    proportion_sums,
    ratio_sums,
    safe_ratio,
)
from analysis.cuped_revenue import CupedResult, cuped_revenue
from analysis.probability_best import probability_best
from analysis.report import query_rows
from analysis.stats import (
    SrmResult,
    srm_test,
    two_proportion_ztest,
    welch_ttest_from_sums,
)
from stream.assignment import Experiment

logger = logging.getLogger(__name__)

#: Significance level of every interval and test (intervals cover 1 - ALPHA).
ALPHA = 0.05
#: M of the confidence sequence: total users of the two arms at which it is tightest.
SEQUENTIAL_TUNING = 5_000.0
#: Seed and size of the posterior simulations of "probability best".
POSTERIOR_SEED = 20_260_105
POSTERIOR_DRAWS = 100_000

#: The compared metrics, in report order, with the label the report prints.
METRICS = {
    "conversion": "conversion (purchasers / users)",
    "ctr": "CTR (slate clicks / slate impressions)",
    "revenue_per_user": "revenue per user",
}


@dataclass(frozen=True)
class ExperimentComparison:
    """Every treatment arm against the control, on every metric.

    Attributes
    ----------
    control
        The control arm.
    arms
        The experiment's arms, control first.
    users
        Users per arm.
    srm
        The sample-ratio check of users per arm against the intended shares.
    trustworthy
        False when the SRM check failed or users sit in arms without an intended share: then
        no number here can be trusted.
    stray_users
        Users per arm found in the log in an arm the experiment gives no share (weight 0, or
        not one of its arms). The χ² test leaves such arms out, so they are checked here.
    effects
        Per metric (keys of :data:`METRICS`), one :class:`ArmEffect` per treatment arm.
    probability_best
        Per metric, each arm's posterior probability of being best (NaN for arms left out).
    cuped
        CUPED on revenue per user.
    alpha, sequential_tuning, posterior_seed, posterior_draws
        The settings used.
    """

    control: str
    arms: tuple[str, ...]
    users: dict[str, int]
    srm: SrmResult
    trustworthy: bool
    effects: dict[str, list[ArmEffect]]
    probability_best: dict[str, dict[str, float]]
    cuped: CupedResult
    alpha: float = ALPHA
    sequential_tuning: float = SEQUENTIAL_TUNING
    posterior_seed: int = POSTERIOR_SEED
    posterior_draws: int = POSTERIOR_DRAWS
    stray_users: dict[str, int] = field(default_factory=dict)


def compare_experiment(
    con: duckdb.DuckDBPyConnection,
    experiment: Experiment,
    alpha: float = ALPHA,
    sequential_tuning: float = SEQUENTIAL_TUNING,
    posterior_seed: int = POSTERIOR_SEED,
    posterior_draws: int = POSTERIOR_DRAWS,
) -> ExperimentComparison:
    """Compare every treatment arm of ``experiment`` with its control, from the event-log views.

    Parameters
    ----------
    con
        A connection from :func:`analysis.views.connect`.
    experiment
        Arms (the first is the control) and intended weights.
    alpha
        Level of every test; intervals cover ``1 - alpha``.
    sequential_tuning
        M of the confidence sequence (see the module notes).
    posterior_seed, posterior_draws
        Seed and size of the "probability best" simulations.

    Returns
    -------
    The comparison; see :class:`ExperimentComparison` and the module notes for the methods.
    """
    return compare_sums(
        {row["arm"]: row for row in query_rows(con, "arm_sums")},
        experiment,
        alpha=alpha,
        sequential_tuning=sequential_tuning,
        posterior_seed=posterior_seed,
        posterior_draws=posterior_draws,
    )


def compare_sums(
    sums: Mapping[str, Mapping[str, object]],
    experiment: Experiment,
    alpha: float = ALPHA,
    sequential_tuning: float = SEQUENTIAL_TUNING,
    posterior_seed: int = POSTERIOR_SEED,
    posterior_draws: int = POSTERIOR_DRAWS,
) -> ExperimentComparison:
    """:func:`compare_experiment` on per-arm rows of ``arm_sums.sql``, keyed by arm."""
    arms = tuple(experiment.arms)
    control, treatments = arms[0], arms[1:]
    shares = experiment.shares()
    users = {arm: int(arm_sum(sums, arm, "users")) for arm in arms}

    srm = srm_test([users[arm] for arm in arms], [shares[arm] for arm in arms])
    stray_users = {
        arm: int(arm_sum(sums, arm, "users"))
        for arm in sorted(sums)
        if not shares.get(arm) and arm_sum(sums, arm, "users") > 0
    }
    trustworthy = not srm.is_mismatch() and not stray_users
    if srm.is_mismatch():
        logger.warning(
            "srm_mismatch p_value=%.3g chi2=%s action=results_marked_untrustworthy",
            srm.p_value,
            srm.chi2,
        )
    if stray_users:
        logger.warning("stray_users_found arms=%s action=results_marked_untrustworthy", stray_users)

    # Fixed-horizon and sequential effects of each treatment arm, then Holm per metric.
    with np.errstate(all="ignore"):
        effects = {
            metric: holm_per_family(
                [
                    compare(sums, control, arm, alpha, sequential_tuning, trustworthy)
                    for arm in treatments
                ]
            )
            for metric, compare in _COMPARERS.items()
        }
        best = probability_best(sums, arms, posterior_seed, posterior_draws)
        cuped = cuped_revenue(sums, control, treatments, alpha, sequential_tuning, trustworthy)

    logger.info(
        "arms_compared control=%s n_treatments=%d srm_p_value=%.3g trustworthy=%s cuped=%s",
        control,
        len(treatments),
        srm.p_value,
        trustworthy,
        cuped.available,
    )
    return ExperimentComparison(
        control=control,
        arms=arms,
        users=users,
        srm=srm,
        trustworthy=trustworthy,
        effects=effects,
        probability_best=best,
        cuped=cuped,
        alpha=alpha,
        sequential_tuning=sequential_tuning,
        posterior_seed=posterior_seed,
        posterior_draws=posterior_draws,
        stray_users=stray_users,
    )


def _compare_conversion(
    sums: ArmRows, control: str, arm: str, alpha: float, tuning: float, trustworthy: bool
) -> ArmEffect:
    """Conversion: pooled z-test p-value, unpooled Wald interval, delta-method relative lift."""
    a, b = proportion_sums(sums, control), proportion_sums(sums, arm)
    ztest = two_proportion_ztest(a.sum, a.n, b.sum, b.n, confidence=1.0 - alpha)
    values = (float(ztest.p_a), float(ztest.p_b))  # type: ignore[arg-type]
    effect = measure_effect(
        a,
        b,
        metric="conversion",
        arm=arm,
        control=control,
        values=values,
        alpha=alpha,
        tuning=tuning,
        trustworthy=trustworthy,
    )

    # The z-test replaces the t-based absolute interval and p-value of the moments.
    return replace(
        effect,
        absolute=interval(ztest.diff, ztest.ci_lower, ztest.ci_upper),
        p_value=float(ztest.p_value),  # type: ignore[arg-type]
        test="pooled two-proportion z-test",
    )


def _compare_ctr(
    sums: ArmRows, control: str, arm: str, alpha: float, tuning: float, trustworthy: bool
) -> ArmEffect:
    """CTR: ratio of per-user sums by the delta method, t-test with Welch–Satterthwaite df."""
    a, b = ratio_sums(sums, control), ratio_sums(sums, arm)
    values = (safe_ratio(a.m_sum, a.d_sum), safe_ratio(b.m_sum, b.d_sum))
    effect = measure_effect(
        a,
        b,
        metric="ctr",
        arm=arm,
        control=control,
        values=values,
        alpha=alpha,
        tuning=tuning,
        trustworthy=trustworthy,
    )
    return replace(effect, test="delta-method t-test")


def _compare_revenue(
    sums: ArmRows, control: str, arm: str, alpha: float, tuning: float, trustworthy: bool
) -> ArmEffect:
    """Revenue per user: Welch's t-test from the sums, delta-method relative lift.

    NOTE: with heavy-tailed revenue the delta-method interval of the relative lift can exclude
    0 while the Welch interval of the absolute difference does not: it scales the control's
    variance by (m_b/m_a)², which understates it when a few large purchases dominate the
    control. Read the absolute row and its p-value for the decision; the relative interval
    follows GrowthBook's definition so the numbers stay comparable with it.
    """
    a, b = mean_sums(sums, control), mean_sums(sums, arm)
    welch = welch_ttest_from_sums(a, b, confidence=1.0 - alpha)
    values = (safe_ratio(a.sum, a.n), safe_ratio(b.sum, b.n))
    effect = measure_effect(
        a,
        b,
        metric="revenue_per_user",
        arm=arm,
        control=control,
        values=values,
        alpha=alpha,
        tuning=tuning,
        trustworthy=trustworthy,
    )
    return replace(
        effect,
        absolute=interval(welch.diff, welch.ci_lower, welch.ci_upper),
        p_value=float(welch.p_value),  # type: ignore[arg-type]
        test="Welch t-test",
    )


_COMPARERS: dict[str, Callable[..., ArmEffect]] = {
    "conversion": _compare_conversion,
    "ctr": _compare_ctr,
    "revenue_per_user": _compare_revenue,
}
