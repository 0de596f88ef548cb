"""Each arm's posterior probability of being the best arm, by seeded simulation.

Conversion: ``Beta(1 + purchasers, 1 + users - purchasers)`` posteriors. Revenue per user and
CTR: normal posteriors ``N(mean, se²)`` (a flat prior on each arm's mean), with the sample
standard error for revenue and the delta-method one for CTR.
"""

from __future__ import annotations

import math

from analysis.arm_sums import ArmRows, arm_sum, mean_sums, ratio_sums
from analysis.stats import (
    ArmMoments,
    mean_moments,
    probability_best_beta,
    probability_best_normal,
    ratio_moments,
)

NAN = float("nan")


def probability_best(
    sums: ArmRows, arms: tuple[str, ...], seed: int, n_draws: int
) -> dict[str, dict[str, float]]:
    """Posterior probability that each arm is best, per metric; NaN for arms left out.

    Conversion: Beta(1 + purchasers, 1 + users - purchasers) per arm, arms with users.
    Revenue per user and CTR: N(mean, se²) per arm, with se from the sample variance
    (revenue) or the delta method (CTR); arms with at least two users (and impressions).
    """
    result: dict[str, dict[str, float]] = {}

    with_users = [arm for arm in arms if arm_sum(sums, arm, "users") > 0]
    conversion = dict.fromkeys(arms, NAN)
    if with_users:
        successes = [arm_sum(sums, arm, "purchasers") for arm in with_users]
        trials = [arm_sum(sums, arm, "users") for arm in with_users]
        shares = probability_best_beta(successes, trials, n_draws=n_draws, seed=seed)
        conversion |= dict(zip(with_users, shares.tolist(), strict=True))
    result["conversion"] = conversion

    # Normal posteriors need a standard error, so at least two users.
    revenue_arms = [arm for arm in arms if arm_sum(sums, arm, "users") >= 2]
    moments = [mean_moments(mean_sums(sums, arm)) for arm in revenue_arms]
    result["revenue_per_user"] = _normal_best(arms, revenue_arms, moments, seed, n_draws)

    ctr_arms = [arm for arm in revenue_arms if arm_sum(sums, arm, "impressions") > 0]
    moments = [ratio_moments(ratio_sums(sums, arm)) for arm in ctr_arms]
    result["ctr"] = _normal_best(arms, ctr_arms, moments, seed, n_draws)
    return result


def _normal_best(
    arms: tuple[str, ...], included: list[str], moments: list[ArmMoments], seed: int, n_draws: int
) -> dict[str, float]:
    best = dict.fromkeys(arms, NAN)
    if not included:
        return best
    means = [float(m.mean) for m in moments]
    errors = [math.sqrt(max(float(m.variance), 0.0) / float(m.n)) for m in moments]
    shares = probability_best_normal(means, errors, n_draws=n_draws, seed=seed)
    return best | dict(zip(included, shares.tolist(), strict=True))
