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
from the data at hand would break the guarantee. Holm is applied to these p-values too.

Probability best
----------------
Seeded posterior simulation over all arms: ``Beta(1 + purchasers, 1 + users - purchasers)``
for conversion; ``N(mean, se²)`` (a flat prior on each arm's mean) for revenue per user and,
with the delta-method standard error, for CTR.

CUPED
-----
The log has no pre-experiment period: a user's history starts with the experiment. The
covariate is instead each user's **pre-exposure activity**: the number of the user's organic
events (no ``request_id``) at or before the user's first exposure (first served slate, or
first event carrying an arm). No arm can have influenced these, because the user had seen no
arm's slate yet, so adjusting by them leaves the effect unbiased (Deng et al. 2013, section
3.3: any covariate unaffected by the treatment will do). The page view that led to the first
request is logged at the instant of that request, hence "at or before". θ is estimated per
comparison from both arms pooled. Where no user has such activity, or it does not vary, CUPED
is reported as unavailable with that reason.

SRM
---
The sample-ratio check runs first. When it fails (``p < 0.001``) assignment or logging is
broken, and every number of :func:`compare_experiment` is marked untrustworthy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np

from analysis.report import query_rows
from analysis.stats import (
    CupedSums,
    EffectMoments,
    MeanSums,
    ProportionSums,
    RatioSums,
    SrmResult,
    compare_arms,
    confidence_sequence_test,
    fixed_horizon_test,
    holm_adjust,
    mean_moments,
    pooled_cuped_theta,
    probability_best_beta,
    probability_best_normal,
    ratio_moments,
    srm_test,
    two_proportion_ztest,
    welch_ttest_from_sums,
)
from stream.assignment import Experiment

logger = logging.getLogger(__name__)

NAN = float("nan")

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

COVARIATE = "organic events at or before the user's first exposure"


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval; every field is NaN where it is undefined."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ArmEffect:
    """One treatment arm against the control on one metric.

    Attributes
    ----------
    metric, arm, control
        What is compared.
    control_value, arm_value
        The metric in each arm (for CUPED, the unadjusted means).
    absolute, relative
        Fixed-horizon effect with its ``1 - alpha`` interval: ``m_b - m_a`` and
        ``(m_b - m_a)/|m_a|``.
    p_value, p_value_holm
        Fixed-horizon two-sided p-value, and Holm-adjusted within the metric's family.
    sequential_absolute, sequential_relative
        The same effects with confidence-sequence intervals, valid at every look.
    sequential_p_value, sequential_p_value_holm
        Always-valid p-value of the confidence sequence (absolute effect), raw and Holm-adjusted.
    test
        Name of the fixed-horizon test behind ``p_value``.
    trustworthy
        False when the experiment failed its SRM check.
    """

    metric: str
    arm: str
    control: str
    control_value: float
    arm_value: float
    absolute: Interval
    relative: Interval
    p_value: float
    sequential_absolute: Interval
    sequential_relative: Interval
    sequential_p_value: float
    test: str
    p_value_holm: float = NAN
    sequential_p_value_holm: float = NAN
    trustworthy: bool = True


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
        False when the SRM check failed: then no number here can be trusted.
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
    users = {arm: int(_field(sums, arm, "users")) for arm in arms}

    srm = srm_test([users[arm] for arm in arms], [shares[arm] for arm in arms])
    trustworthy = not srm.is_mismatch()
    if not trustworthy:
        logger.warning(
            "srm_mismatch p_value=%.3g chi2=%s action=results_marked_untrustworthy",
            srm.p_value,
            srm.chi2,
        )

    # Fixed-horizon and sequential effects of each treatment arm, then Holm per metric.
    with np.errstate(all="ignore"):
        effects = {
            metric: _holm(
                [
                    compare(sums, control, arm, alpha, sequential_tuning, trustworthy)
                    for arm in treatments
                ]
            )
            for metric, compare in _COMPARERS.items()
        }
        probability_best = _probability_best(sums, arms, posterior_seed, posterior_draws)
        cuped = _cuped(sums, control, treatments, alpha, sequential_tuning, trustworthy)

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
        probability_best=probability_best,
        cuped=cuped,
        alpha=alpha,
        sequential_tuning=sequential_tuning,
        posterior_seed=posterior_seed,
        posterior_draws=posterior_draws,
    )


def _field(sums: Mapping[str, Mapping[str, object]], arm: str, name: str) -> float:
    """One sum of one arm; 0 for an arm or a sum the log does not have."""
    value = sums.get(arm, {}).get(name)
    return 0.0 if value is None else float(value)  # type: ignore[arg-type]


def _proportion_sums(sums: Mapping[str, Mapping[str, object]], arm: str) -> ProportionSums:
    return ProportionSums(n=_field(sums, arm, "users"), sum=_field(sums, arm, "purchasers"))


def _ratio_sums(sums: Mapping[str, Mapping[str, object]], arm: str) -> RatioSums:
    return RatioSums(
        n=_field(sums, arm, "users"),
        m_sum=_field(sums, arm, "clicks"),
        m_sum_squares=_field(sums, arm, "clicks_sumsq"),
        d_sum=_field(sums, arm, "impressions"),
        d_sum_squares=_field(sums, arm, "impressions_sumsq"),
        m_d_sum_of_products=_field(sums, arm, "clicks_x_impressions"),
    )


def _mean_sums(sums: Mapping[str, Mapping[str, object]], arm: str) -> MeanSums:
    return MeanSums(
        n=_field(sums, arm, "users"),
        sum=_field(sums, arm, "revenue_sum"),
        sum_squares=_field(sums, arm, "revenue_sumsq"),
    )


def _cuped_sums(sums: Mapping[str, Mapping[str, object]], arm: str) -> CupedSums:
    return CupedSums(
        n=_field(sums, arm, "users"),
        post_sum=_field(sums, arm, "revenue_sum"),
        post_sum_squares=_field(sums, arm, "revenue_sumsq"),
        pre_sum=_field(sums, arm, "pre_exposure_events_sum"),
        pre_sum_squares=_field(sums, arm, "pre_exposure_events_sumsq"),
        post_pre_sum_of_products=_field(sums, arm, "revenue_x_pre_exposure_events"),
    )


def _interval(estimate: object, lower: object, upper: object) -> Interval:
    return Interval(float(estimate), float(lower), float(upper))  # type: ignore[arg-type]


def _effect_pair(
    a: ProportionSums | RatioSums | MeanSums | CupedSums,
    b: ProportionSums | RatioSums | MeanSums | CupedSums,
    alpha: float,
    tuning: float,
) -> dict[str, object]:
    """Fixed-horizon and sequential absolute and relative effects of b over a."""
    fields: dict[str, object] = {}
    for kind in ("absolute", "relative"):
        effect = compare_arms(a, b, kind)
        fixed = fixed_horizon_test(effect, alpha=alpha)
        sequential = confidence_sequence_test(effect, alpha=alpha, tuning_parameter=tuning)
        fields[kind] = _interval(effect.estimate, fixed.ci_lower, fixed.ci_upper)
        fields[f"sequential_{kind}"] = _interval(
            effect.estimate, sequential.ci_lower, sequential.ci_upper
        )
        fields[f"_{kind}_p_value"] = float(fixed.p_value)  # type: ignore[arg-type]
        fields[f"_{kind}_sequential_p_value"] = float(sequential.p_value)  # type: ignore[arg-type]
    return fields


def _arm_effect(
    metric: str,
    control: str,
    arm: str,
    values: tuple[float, float],
    fields: dict[str, object],
    trustworthy: bool,
    test: str,
) -> ArmEffect:
    """Assemble an :class:`ArmEffect` from :func:`_effect_pair` fields and overrides."""
    public = {key: value for key, value in fields.items() if not key.startswith("_")}
    return ArmEffect(
        metric=metric,
        arm=arm,
        control=control,
        control_value=values[0],
        arm_value=values[1],
        sequential_p_value=fields["_absolute_sequential_p_value"],  # type: ignore[arg-type]
        test=test,
        trustworthy=trustworthy,
        **public,  # type: ignore[arg-type]
    )


def _compare_conversion(
    sums: Mapping[str, Mapping[str, object]],
    control: str,
    arm: str,
    alpha: float,
    tuning: float,
    trustworthy: bool,
) -> ArmEffect:
    """Conversion: pooled z-test p-value, unpooled Wald interval, delta-method relative lift."""
    a, b = _proportion_sums(sums, control), _proportion_sums(sums, arm)
    fields = _effect_pair(a, b, alpha, tuning)

    # The z-test replaces the t-based absolute interval and p-value of the moments.
    ztest = two_proportion_ztest(a.sum, a.n, b.sum, b.n, confidence=1.0 - alpha)
    fields["absolute"] = _interval(ztest.diff, ztest.ci_lower, ztest.ci_upper)
    fields["p_value"] = float(ztest.p_value)  # type: ignore[arg-type]

    values = (float(ztest.p_a), float(ztest.p_b))  # type: ignore[arg-type]
    return _arm_effect(
        "conversion", control, arm, values, fields, trustworthy, "pooled two-proportion z-test"
    )


def _compare_ctr(
    sums: Mapping[str, Mapping[str, object]],
    control: str,
    arm: str,
    alpha: float,
    tuning: float,
    trustworthy: bool,
) -> ArmEffect:
    """CTR: ratio of per-user sums by the delta method, t-test with Welch–Satterthwaite df."""
    a, b = _ratio_sums(sums, control), _ratio_sums(sums, arm)
    fields = _effect_pair(a, b, alpha, tuning)
    fields["p_value"] = fields["_absolute_p_value"]

    values = (_safe_ratio(a.m_sum, a.d_sum), _safe_ratio(b.m_sum, b.d_sum))
    return _arm_effect("ctr", control, arm, values, fields, trustworthy, "delta-method t-test")


def _compare_revenue(
    sums: Mapping[str, Mapping[str, object]],
    control: str,
    arm: str,
    alpha: float,
    tuning: float,
    trustworthy: bool,
) -> ArmEffect:
    """Revenue per user: Welch's t-test from the sums, delta-method relative lift."""
    a, b = _mean_sums(sums, control), _mean_sums(sums, arm)
    fields = _effect_pair(a, b, alpha, tuning)

    welch = welch_ttest_from_sums(a, b, confidence=1.0 - alpha)
    fields["absolute"] = _interval(welch.diff, welch.ci_lower, welch.ci_upper)
    fields["p_value"] = float(welch.p_value)  # type: ignore[arg-type]

    values = (_safe_ratio(a.sum, a.n), _safe_ratio(b.sum, b.n))
    return _arm_effect(
        "revenue_per_user", control, arm, values, fields, trustworthy, "Welch t-test"
    )


_COMPARERS: dict[str, Callable[..., ArmEffect]] = {
    "conversion": _compare_conversion,
    "ctr": _compare_ctr,
    "revenue_per_user": _compare_revenue,
}


def _safe_ratio(numerator: object, denominator: object) -> float:
    numerator, denominator = float(numerator), float(denominator)  # type: ignore[arg-type]
    return numerator / denominator if denominator else NAN


def _holm(effects: list[ArmEffect]) -> list[ArmEffect]:
    """Holm-adjust the fixed-horizon and the sequential p-values over one metric's arms.

    The family is the arms whose p-value is defined; the others keep NaN.
    """
    adjusted = {}
    for name in ("p_value", "sequential_p_value"):
        values = np.array([getattr(effect, name) for effect in effects], dtype=np.float64)
        defined = np.isfinite(values)
        holm = np.full(values.shape, NAN)
        if defined.any():
            holm[defined] = holm_adjust(values[defined])
        adjusted[f"{name}_holm"] = holm

    return [
        replace(effect, **{name: float(values[i]) for name, values in adjusted.items()})
        for i, effect in enumerate(effects)
    ]


def _probability_best(
    sums: Mapping[str, Mapping[str, object]], arms: tuple[str, ...], seed: int, n_draws: int
) -> dict[str, dict[str, float]]:
    """Posterior probability that each arm is best, per metric; NaN for arms left out.

    Conversion: Beta(1 + purchasers, 1 + users - purchasers) per arm, arms with users.
    Revenue per user and CTR: N(mean, se²) per arm, with se from the sample variance
    (revenue) or the delta method (CTR); arms with at least two users (and impressions).
    """
    result: dict[str, dict[str, float]] = {}

    with_users = [arm for arm in arms if _field(sums, arm, "users") > 0]
    conversion = dict.fromkeys(arms, NAN)
    if with_users:
        successes = [_field(sums, arm, "purchasers") for arm in with_users]
        trials = [_field(sums, arm, "users") for arm in with_users]
        shares = probability_best_beta(successes, trials, n_draws=n_draws, seed=seed)
        conversion |= dict(zip(with_users, shares.tolist(), strict=True))
    result["conversion"] = conversion

    # Normal posteriors need a standard error, so at least two users.
    revenue_arms = [arm for arm in arms if _field(sums, arm, "users") >= 2]
    moments = [mean_moments(_mean_sums(sums, arm)) for arm in revenue_arms]
    result["revenue_per_user"] = _normal_best(arms, revenue_arms, moments, seed, n_draws)

    ctr_arms = [arm for arm in revenue_arms if _field(sums, arm, "impressions") > 0]
    moments = [ratio_moments(_ratio_sums(sums, arm)) for arm in ctr_arms]
    result["ctr"] = _normal_best(arms, ctr_arms, moments, seed, n_draws)
    return result


def _normal_best(
    arms: tuple[str, ...], included: list[str], moments: list, seed: int, n_draws: int
) -> dict[str, float]:
    best = dict.fromkeys(arms, NAN)
    if not included:
        return best
    means = [float(m.mean) for m in moments]
    errors = [math.sqrt(max(float(m.variance), 0.0) / float(m.n)) for m in moments]
    shares = probability_best_normal(means, errors, n_draws=n_draws, seed=seed)
    return best | dict(zip(included, shares.tolist(), strict=True))


def _cuped(
    sums: Mapping[str, Mapping[str, object]],
    control: str,
    treatments: tuple[str, ...],
    alpha: float,
    tuning: float,
    trustworthy: bool,
) -> CupedResult:
    """CUPED on revenue per user with the pre-exposure covariate, or why it is unavailable."""
    arms = (control, *treatments)
    users_with = {arm: int(_field(sums, arm, "users_with_pre_exposure_events")) for arm in arms}
    means = {
        arm: _safe_ratio(_field(sums, arm, "pre_exposure_events_sum"), _field(sums, arm, "users"))
        for arm in arms
    }

    reason = _cuped_unavailable_reason(sums, arms, users_with)
    if reason:
        logger.info("cuped_unavailable reason=%s", reason)
        return CupedResult(False, reason, users_with_covariate=users_with, covariate_means=means)

    effects, theta, reduction = [], {}, {}
    a = _cuped_sums(sums, control)
    for arm in treatments:
        b = _cuped_sums(sums, arm)
        fields = _effect_pair(a, b, alpha, tuning)
        fields["p_value"] = fields["_absolute_p_value"]
        values = (_safe_ratio(a.post_sum, a.n), _safe_ratio(b.post_sum, b.n))
        effects.append(
            _arm_effect(
                "revenue_per_user_cuped",
                control,
                arm,
                values,
                fields,
                trustworthy,
                "CUPED t-test",
            )
        )
        theta[arm] = float(pooled_cuped_theta(a, b))  # type: ignore[arg-type]
        reduction[arm] = _variance_reduction(
            compare_arms(a, b, "absolute"),
            compare_arms(_mean_sums(sums, control), _mean_sums(sums, arm), "absolute"),
        )

    return CupedResult(
        True,
        "",
        users_with_covariate=users_with,
        covariate_means=means,
        theta=theta,
        effects=_holm(effects),
        variance_reduction=reduction,
    )


def _cuped_unavailable_reason(
    sums: Mapping[str, Mapping[str, object]], arms: tuple[str, ...], users_with: dict[str, int]
) -> str:
    """Why the covariate cannot adjust anything, or an empty string when it can."""
    if "pre_exposure_events_sum" not in sums.get(arms[0], {}):
        return "the sums carry no pre-exposure covariate"
    if sum(users_with.values()) == 0:
        return "no user has organic activity at or before their first exposure"

    # Constant across every user (each user had the same activity): no spread to regress on.
    n = sum(_field(sums, arm, "users") for arm in arms)
    total = sum(_field(sums, arm, "pre_exposure_events_sum") for arm in arms)
    squares = sum(_field(sums, arm, "pre_exposure_events_sumsq") for arm in arms)
    if n < 2 or squares - total * total / n <= 0:
        return "the pre-exposure covariate is the same for every user"
    return ""


def _variance_reduction(adjusted: EffectMoments, plain: EffectMoments) -> float:
    """1 - se_adjusted²/se_plain²: the share of the effect's variance CUPED removed."""
    return 1.0 - float(adjusted.se) ** 2 / float(plain.se) ** 2  # type: ignore[arg-type]
