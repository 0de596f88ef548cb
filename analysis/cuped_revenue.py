"""CUPED on revenue per user, with each user's pre-exposure activity as the covariate.

The event log has no pre-experiment period: a user's history starts with the experiment. The
covariate is instead the number of the user's organic events (no ``request_id``) at or before
the user's first exposure (first served slate, or first event carrying an arm). No arm can
have influenced them, because the user had seen no arm's slate yet, so adjusting by them keeps
the effect unbiased (Deng, Xu, Kohavi & Walker 2013, section 3.3: any covariate the treatment
cannot affect will do). The page view that led to the first request is logged at the instant
of that request, hence "at or before".

θ is estimated per comparison from the control and the treatment pooled
(:func:`analysis.stats.pooled_cuped_theta`). Where no user has such activity, or it is the same
for everyone, CUPED is reported as unavailable with that reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from analysis.arm_effect import ArmEffect, holm_per_family, measure_effect
from analysis.arm_sums import ArmRows, arm_sum, cuped_sums, mean_sums, safe_ratio
from analysis.stats import EffectMoments, compare_arms, pooled_cuped_theta

logger = logging.getLogger(__name__)

COVARIATE = "organic events at or before the user's first exposure"


@dataclass(frozen=True)
class CupedResult:
    """CUPED on revenue per user, or the reason it is unavailable.

    Attributes
    ----------
    available
        Whether the covariate carries any information.
    reason
        Why CUPED is unavailable; empty when it is available.
    covariate
        What the covariate is.
    users_with_covariate, covariate_means
        Users with a non-zero covariate, and the covariate's mean, per arm. Randomisation makes
        the means equal in expectation: a large gap would point at a covariate the arms did
        influence.
    theta
        Per treatment arm, θ of its comparison with the control (pooled over the pair).
    effects
        Adjusted effects per treatment arm, with Holm over the treatment arms.
    variance_reduction
        Per treatment arm, ``1 - se_cuped²/se_plain²`` of the absolute effect.
    """

    available: bool
    reason: str
    covariate: str = COVARIATE
    users_with_covariate: dict[str, int] = field(default_factory=dict)
    covariate_means: dict[str, float] = field(default_factory=dict)
    theta: dict[str, float] = field(default_factory=dict)
    effects: list[ArmEffect] = field(default_factory=list)
    variance_reduction: dict[str, float] = field(default_factory=dict)


def cuped_revenue(
    sums: ArmRows,
    control: str,
    treatments: tuple[str, ...],
    alpha: float,
    tuning: float,
    trustworthy: bool,
) -> CupedResult:
    """CUPED on revenue per user with the pre-exposure covariate, or why it is unavailable."""
    arms = (control, *treatments)
    users_with = {arm: int(arm_sum(sums, arm, "users_with_pre_exposure_events")) for arm in arms}
    means = {
        arm: safe_ratio(arm_sum(sums, arm, "pre_exposure_events_sum"), arm_sum(sums, arm, "users"))
        for arm in arms
    }

    reason = _cuped_unavailable_reason(sums, arms, users_with)
    if reason:
        logger.info("cuped_unavailable reason=%s", reason)
        return CupedResult(False, reason, users_with_covariate=users_with, covariate_means=means)

    effects, theta, reduction = [], {}, {}
    a = cuped_sums(sums, control)
    for arm in treatments:
        b = cuped_sums(sums, arm)
        values = (safe_ratio(a.post_sum, a.n), safe_ratio(b.post_sum, b.n))
        effect = measure_effect(
            a,
            b,
            metric="revenue_per_user_cuped",
            arm=arm,
            control=control,
            values=values,
            alpha=alpha,
            tuning=tuning,
            trustworthy=trustworthy,
        )
        effects.append(replace(effect, test="CUPED t-test (Welch–Satterthwaite df)"))
        theta[arm] = float(pooled_cuped_theta(a, b))  # type: ignore[arg-type]
        reduction[arm] = _variance_reduction(
            compare_arms(a, b, "absolute"),
            compare_arms(mean_sums(sums, control), mean_sums(sums, arm), "absolute"),
        )

    return CupedResult(
        True,
        "",
        users_with_covariate=users_with,
        covariate_means=means,
        theta=theta,
        effects=holm_per_family(effects),
        variance_reduction=reduction,
    )


def _cuped_unavailable_reason(
    sums: ArmRows, arms: tuple[str, ...], users_with: dict[str, int]
) -> str:
    """Why the covariate cannot adjust anything, or an empty string when it can."""
    if "pre_exposure_events_sum" not in sums.get(arms[0], {}):
        return "the sums carry no pre-exposure covariate"
    if sum(users_with.values()) == 0:
        return "no user has organic activity at or before their first exposure"

    # Constant across every user (each user had the same activity): no spread to regress on.
    n = sum(arm_sum(sums, arm, "users") for arm in arms)
    total = sum(arm_sum(sums, arm, "pre_exposure_events_sum") for arm in arms)
    squares = sum(arm_sum(sums, arm, "pre_exposure_events_sumsq") for arm in arms)
    if n < 2 or squares - total * total / n <= 0:
        return "the pre-exposure covariate is the same for every user"
    return ""


def _variance_reduction(adjusted: EffectMoments, plain: EffectMoments) -> float:
    """1 - se_adjusted²/se_plain²: the share of the effect's variance CUPED removed."""
    return 1.0 - float(adjusted.se) ** 2 / float(plain.se) ** 2  # type: ignore[arg-type]
