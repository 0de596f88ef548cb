"""CUPED: effects adjusted by a pre-experiment covariate, for mean and ratio metrics.

Subtracting ``θ·(pre-period value)`` from each unit's metric removes the part of its variance
that was already there before the experiment, without biasing the difference between arms
(randomization makes the pre-period means equal in expectation). θ is estimated once per
comparison from both arms, as the GrowthBook engine does, so both arms are adjusted alike.

Reference: Deng, Xu, Kohavi & Walker (2013), "Improving the sensitivity of online controlled
experiments by utilizing pre-experiment data", WSDM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from analysis.stats.moments import DifferenceType, EffectMoments
from analysis.stats.sums import (
    CupedSums,
    RatioCupedSums,
    as_float,
    centered_sum_products,
    centered_sum_squares,
    sample_covariance,
    sample_variance,
)
from analysis.stats.welch import welch_satterthwaite_df

logger = logging.getLogger(__name__)

# GrowthBook falls back to the unadjusted ratio when |θ| is below this, treating such a θ as
# the rounding noise of a covariate that carries no information.
_RATIO_THETA_FLOOR = 1e-8


def _check_difference_type(difference_type: str) -> None:
    if difference_type not in ("absolute", "relative"):
        raise ValueError(f"unsupported difference_type {difference_type!r}")


def pooled_cuped_theta(a: CupedSums, b: CupedSums) -> float | np.ndarray:
    """Regression slope θ of post on pre over both arms pooled.

    Formula, with ``N = n_a + n_b`` and every sum taken over both arms (y post, x pre)::

        θ = (Σxy - Σx·Σy/N) / (Σx² - (Σx)²/N)

    θ is 0 when the pooled pre- or post-period values do not vary, which turns CUPED into the
    plain difference of means.

    Parameters
    ----------
    a, b
        CUPED sums of the control and the treatment arm.

    Examples
    --------
    >>> a = CupedSums(n=2, post_sum=3.0, post_sum_squares=5.0, pre_sum=1.0, pre_sum_squares=1.0,
    ...               post_pre_sum_of_products=2.0)
    >>> b = CupedSums(n=2, post_sum=7.0, post_sum_squares=25.0, pre_sum=1.0,
    ...               pre_sum_squares=1.0, post_pre_sum_of_products=4.0)
    >>> pooled_cuped_theta(a, b)
    1.0
    """
    n = np.asarray(a.n, dtype=np.float64) + np.asarray(b.n, dtype=np.float64)
    sum_x = np.asarray(a.pre_sum, dtype=np.float64) + b.pre_sum
    sum_y = np.asarray(a.post_sum, dtype=np.float64) + b.post_sum

    centered_xx = np.asarray(
        centered_sum_squares(n, sum_x, np.add(a.pre_sum_squares, b.pre_sum_squares))
    )
    centered_yy = np.asarray(
        centered_sum_squares(n, sum_y, np.add(a.post_sum_squares, b.post_sum_squares))
    )
    centered_xy = np.asarray(
        centered_sum_products(
            n, sum_x, sum_y, np.add(a.post_pre_sum_of_products, b.post_pre_sum_of_products)
        )
    )

    # A covariate (or metric) without spread gives no slope; 0 means "do not adjust".
    informative = (centered_xx != 0) & (centered_yy != 0)
    safe_xx = np.where(informative, centered_xx, 1.0)
    return as_float(np.where(informative, centered_xy / safe_xx, 0.0))


@dataclass(frozen=True)
class _CupedArm:
    """Means and sample (n-1) moments of post (y) and pre (x) values in one arm."""

    n: np.ndarray
    post_mean: np.ndarray
    pre_mean: np.ndarray
    var_y: np.ndarray
    var_x: np.ndarray
    cov_xy: np.ndarray

    @classmethod
    def from_sums(cls, sums: CupedSums) -> _CupedArm:
        n = np.asarray(sums.n, dtype=np.float64)
        products = sums.post_pre_sum_of_products
        covariance = sample_covariance(n, sums.pre_sum, sums.post_sum, products)
        return cls(
            n=n,
            post_mean=np.asarray(sums.post_sum, dtype=np.float64) / n,
            pre_mean=np.asarray(sums.pre_sum, dtype=np.float64) / n,
            var_y=np.asarray(sample_variance(n, sums.post_sum, sums.post_sum_squares)),
            var_x=np.asarray(sample_variance(n, sums.pre_sum, sums.pre_sum_squares)),
            cov_xy=np.asarray(covariance),
        )

    def adjusted_mean(self, theta: np.ndarray) -> np.ndarray:
        """m = ȳ - θ·x̄."""
        return self.post_mean - theta * self.pre_mean

    def adjusted_variance(self, theta: np.ndarray) -> np.ndarray:
        """v = var_y + θ²·var_x - 2θ·cov_xy, the per-unit variance of y - θx."""
        return self.var_y + theta**2 * self.var_x - 2.0 * theta * self.cov_xy


def cuped_effect(
    a: CupedSums, b: CupedSums, difference_type: DifferenceType = "relative"
) -> EffectMoments:
    """Treatment-minus-control effect of a mean metric adjusted by its pre-period value.

    Per arm, with θ from :func:`pooled_cuped_theta`, means ``ȳ, x̄`` and sample (n-1)
    moments ``var_y, var_x, cov_xy``::

        m = ȳ - θ·x̄,   v = var_y + θ²·var_x - 2θ·cov_xy

    Absolute: ``est = m_b - m_a``, ``var = v_a/n_a + v_b/n_b``.
    Relative, scaled by the **unadjusted** control mean ``ȳ_a``::

        est = (m_b - m_a)/|ȳ_a|
        var = v_b/(n_b·ȳ_a²) + (var_y,a·ȳ_b²/ȳ_a² - 2θ·cov_xy,a·ȳ_b/ȳ_a + θ²·var_x,a)/(n_a·ȳ_a²)

    ``df`` is Welch–Satterthwaite from ``v_a, v_b``. With θ = 0 every formula reduces to the
    unadjusted mean metric.

    Parameters
    ----------
    a, b
        CUPED sums of the control and the treatment arm.
    difference_type
        ``"absolute"`` or ``"relative"``.

    Examples
    --------
    >>> def cuped_sums(post, pre):
    ...     return CupedSums(
    ...         n=len(post),
    ...         post_sum=sum(post),
    ...         post_sum_squares=sum(y * y for y in post),
    ...         pre_sum=sum(pre),
    ...         pre_sum_squares=sum(x * x for x in pre),
    ...         post_pre_sum_of_products=sum(y * x for y, x in zip(post, pre)),
    ...     )
    >>> a = cuped_sums([1, 3, 2, 5], [0, 2, 1, 3])
    >>> b = cuped_sums([3, 3, 5, 6], [1, 0, 2, 3])
    >>> pooled_cuped_theta(a, b)
    1.2
    >>> effect = cuped_effect(a, b, "absolute")
    >>> round(effect.estimate, 6), round(effect.se, 6)
    (1.5, 0.302765)

    Without the covariate the same data give a standard error of 1.1365.
    """
    _check_difference_type(difference_type)
    theta = np.asarray(pooled_cuped_theta(a, b))
    arm_a, arm_b = _CupedArm.from_sums(a), _CupedArm.from_sums(b)

    # Adjusted means and per-unit variances of each arm.
    v_a, v_b = arm_a.adjusted_variance(theta), arm_b.adjusted_variance(theta)
    difference = arm_b.adjusted_mean(theta) - arm_a.adjusted_mean(theta)

    if difference_type == "absolute":
        estimate = difference
        variance = v_a / arm_a.n + v_b / arm_b.n
    else:
        baseline, treated = arm_a.post_mean, arm_b.post_mean
        estimate = difference / np.abs(baseline)
        control_term = (
            arm_a.var_y * treated**2 / baseline**2
            - 2.0 * theta * arm_a.cov_xy * treated / baseline
            + theta**2 * arm_a.var_x
        )
        variance = v_b / (arm_b.n * baseline**2) + control_term / (arm_a.n * baseline**2)

    return EffectMoments(
        estimate=as_float(estimate),
        se=as_float(np.sqrt(variance)),
        df=as_float(welch_satterthwaite_df(v_a, arm_a.n, v_b, arm_b.n)),
        n_a=as_float(arm_a.n),
        n_b=as_float(arm_b.n),
        baseline_mean=as_float(arm_a.post_mean),
        difference_type=difference_type,
    )


class _RatioCupedArm:
    """Means and covariance matrix of (M_post, D_post, M_pre, D_pre) per unit, for one arm."""

    def __init__(self, sums: RatioCupedSums) -> None:
        self.n = float(sums.n)
        names = ("m_post", "d_post", "m_pre", "d_pre")
        totals = [float(getattr(sums, f"{name}_sum")) for name in names]
        self.means = np.array(totals) / self.n

        # Sample (n-1) covariance matrix from the sums of squares and of cross products.
        squares = [float(getattr(sums, f"{name}_sum_squares")) for name in names]
        products = {
            (0, 1): sums.m_post_d_post_sum_of_products,
            (0, 2): sums.m_post_m_pre_sum_of_products,
            (0, 3): sums.m_post_d_pre_sum_of_products,
            (1, 2): sums.m_pre_d_post_sum_of_products,
            (1, 3): sums.d_post_d_pre_sum_of_products,
            (2, 3): sums.m_pre_d_pre_sum_of_products,
        }
        self.covariance = np.diag(
            [sample_variance(self.n, totals[i], squares[i]) for i in range(4)]
        )
        for (i, j), product in products.items():
            cov = sample_covariance(self.n, totals[i], totals[j], float(product))
            self.covariance[i, j] = self.covariance[j, i] = cov

        self.post_ratio = totals[0] / totals[1]
        self.pre_ratio = totals[2] / totals[3]

    def post_gradient(self) -> np.ndarray:
        """Gradient of M_post/D_post with respect to the four means."""
        m_post, d_post = self.means[0], self.means[1]
        return np.array([1.0 / d_post, -m_post / d_post**2, 0.0, 0.0])

    def pre_gradient(self) -> np.ndarray:
        """Gradient of M_pre/D_pre with respect to the four means."""
        m_pre, d_pre = self.means[2], self.means[3]
        return np.array([0.0, 0.0, 1.0 / d_pre, -m_pre / d_pre**2])

    def quadratic(self, left: np.ndarray, right: np.ndarray) -> float:
        """left' Σ right, with Σ the per-unit covariance matrix."""
        return float(left @ self.covariance @ right)


def ratio_cuped_theta(a: RatioCupedSums, b: RatioCupedSums) -> float:
    """θ of the ratio CUPED: the per-unit slope of the post ratio on the pre ratio, both arms.

    Formula, with ``g_post`` and ``g_pre`` the delta-method gradients of the post and pre ratios
    and ``Σ`` each arm's per-unit covariance matrix of (M_post, D_post, M_pre, D_pre)::

        θ = Σ_arms g_pre'·Σ·g_post / Σ_arms g_pre'·Σ·g_pre

    θ below 1e-8 in magnitude is set to 0 (no adjustment), as in GrowthBook.

    Parameters
    ----------
    a, b
        Ratio-CUPED sums of the control and the treatment arm.
    """
    arms = (_RatioCupedArm(a), _RatioCupedArm(b))
    covariance = sum(arm.quadratic(arm.pre_gradient(), arm.post_gradient()) for arm in arms)
    pre_variance = sum(arm.quadratic(arm.pre_gradient(), arm.pre_gradient()) for arm in arms)

    theta = covariance / pre_variance if pre_variance != 0 else 0.0
    if abs(theta) < _RATIO_THETA_FLOOR:
        logger.debug("ratio_cuped_unadjusted theta=%g pre_variance=%g", theta, pre_variance)
        return 0.0
    return theta


def _relative_ratio_cuped_variance(
    arm_a: _RatioCupedArm, arm_b: _RatioCupedArm, theta: float, difference: float
) -> float:
    """Delta-method variance of f = (R_b - R_a)/|r_a| over both arms' eight means."""
    scale = abs(arm_a.post_ratio)
    gradient_a = arm_a.post_gradient() - theta * arm_a.pre_gradient()
    gradient_b = arm_b.post_gradient() - theta * arm_b.pre_gradient()

    # The control's post means enter both R_a and r_a, hence the extra term in the first two
    # partial derivatives.
    # NOTE: the derivative of |r_a| is taken as that of r_a, as GrowthBook does; for a negative
    # control ratio this is not the exact delta method, which would flip the sign of the
    # difference terms. Ratio metrics here (rates per user) are positive.
    m_post, d_post = arm_a.means[0], arm_a.means[1]
    control_gradient = np.array(
        [
            -(scale + difference) / (d_post * scale**2),
            m_post * (scale + difference) / (d_post**2 * scale**2),
            -gradient_a[2] / scale,
            -gradient_a[3] / scale,
        ]
    )
    treatment_gradient = gradient_b / scale

    return (
        arm_a.quadratic(control_gradient, control_gradient) / arm_a.n
        + arm_b.quadratic(treatment_gradient, treatment_gradient) / arm_b.n
    )


def ratio_cuped_effect(
    a: RatioCupedSums, b: RatioCupedSums, difference_type: DifferenceType = "relative"
) -> EffectMoments:
    """Treatment-minus-control effect of a ratio metric adjusted by the pre-period ratio.

    Per arm, the adjusted ratio is ``R = M̄_post/D̄_post - θ·M̄_pre/D̄_pre`` with θ from
    :func:`ratio_cuped_theta`; its per-unit variance is ``v = g'·Σ·g`` with the gradient
    ``g = [1/D̄_post, -M̄_post/D̄_post², -θ/D̄_pre, θ·M̄_pre/D̄_pre²]``.

    Absolute: ``est = R_b - R_a``, ``var = v_a/n_a + v_b/n_b``.
    Relative: ``est = (R_b - R_a)/|r_a|`` with ``r_a`` the unadjusted control ratio; ``var`` is
    the delta method over both arms' eight means, ``g_a'Σ_a g_a/n_a + g_b'Σ_b g_b/n_b``.

    ``df`` is Welch–Satterthwaite from ``v_a, v_b``.

    Parameters
    ----------
    a, b
        Ratio-CUPED sums of the control and the treatment arm; scalars, one comparison per
        call (unlike the other effects, whose sums may be arrays).
    difference_type
        ``"absolute"`` or ``"relative"``.

    Examples
    --------
    Clicks per impression, where each user's pre-period habits carry into the experiment:

    >>> rng = np.random.default_rng(3)
    >>> def arm(n_users):
    ...     impressions_pre = rng.poisson(10, n_users) + 1.0
    ...     clicks_pre = rng.binomial(impressions_pre.astype(int), 0.1) * 1.0
    ...     impressions = impressions_pre + rng.poisson(2, n_users)
    ...     clicks = clicks_pre + rng.poisson(0.3, n_users)
    ...     return RatioCupedSums.from_units(clicks, impressions, clicks_pre, impressions_pre)
    >>> a, b = arm(500), arm(500)
    >>> round(ratio_cuped_theta(a, b), 4)
    0.8309
    >>> round(ratio_cuped_effect(a, b, "absolute").se, 5)
    0.00277

    The unadjusted click-through rates of the same arms have twice that standard error (0.00555).
    """
    _check_difference_type(difference_type)
    theta = ratio_cuped_theta(a, b)
    arm_a, arm_b = _RatioCupedArm(a), _RatioCupedArm(b)

    # Gradient of each arm's adjusted ratio and its per-unit variance.
    gradient_a = arm_a.post_gradient() - theta * arm_a.pre_gradient()
    gradient_b = arm_b.post_gradient() - theta * arm_b.pre_gradient()
    v_a = arm_a.quadratic(gradient_a, gradient_a)
    v_b = arm_b.quadratic(gradient_b, gradient_b)

    adjusted_a = arm_a.post_ratio - theta * arm_a.pre_ratio
    adjusted_b = arm_b.post_ratio - theta * arm_b.pre_ratio
    difference = adjusted_b - adjusted_a

    if difference_type == "absolute":
        estimate = difference
        variance = v_a / arm_a.n + v_b / arm_b.n
    else:
        estimate = difference / abs(arm_a.post_ratio)
        variance = _relative_ratio_cuped_variance(arm_a, arm_b, theta, difference)

    return EffectMoments(
        estimate=float(estimate),
        se=float(np.sqrt(variance)),
        df=float(welch_satterthwaite_df(v_a, arm_a.n, v_b, arm_b.n)),
        n_a=arm_a.n,
        n_b=arm_b.n,
        baseline_mean=float(arm_a.post_ratio),
        difference_type=difference_type,
    )
