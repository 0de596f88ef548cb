"""Per-arm moments (mean and per-unit variance) of a metric, and the moments of an arm difference.

The definitions follow the GrowthBook engine (``gbstats``): a metric's arm is summarised by its
mean ``m``, the variance ``v`` of one unit's contribution and the unit count ``n``, so the mean's
standard error is ``sqrt(v/n)``. Ratio metrics reach that form through the delta method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from analysis.stats.sums import (
    MeanSums,
    ProportionSums,
    RatioSums,
    as_float,
    sample_covariance,
    sample_variance,
)

DifferenceType = Literal["absolute", "relative"]


@dataclass(frozen=True)
class ArmMoments:
    """One arm of one metric.

    Attributes
    ----------
    n
        Randomization units in the arm.
    mean
        The metric's estimate in this arm (adjusted, for CUPED metrics).
    variance
        Variance of one unit's contribution, so that ``Var(mean) ≈ variance / n``.
    unadjusted_mean
        The plain mean before any covariate adjustment; equals ``mean`` for other metrics.
    """

    n: float | np.ndarray
    mean: float | np.ndarray
    variance: float | np.ndarray
    unadjusted_mean: float | np.ndarray


@dataclass(frozen=True)
class EffectMoments:
    """Estimate and standard error of the treatment-minus-control effect of one metric.

    Attributes
    ----------
    estimate
        ``m_b - m_a`` (absolute) or ``(m_b - m_a)/|m_a|`` (relative, a fraction).
    se
        Standard error of ``estimate``.
    df
        Welch–Satterthwaite degrees of freedom from the per-unit variances.
    n_a, n_b
        Units in the control and the treatment arm.
    baseline_mean
        The control arm's unadjusted mean, the scale of a relative effect.
    difference_type
        ``"absolute"`` or ``"relative"``.
    """

    estimate: float | np.ndarray
    se: float | np.ndarray
    df: float | np.ndarray
    n_a: float | np.ndarray
    n_b: float | np.ndarray
    baseline_mean: float | np.ndarray
    difference_type: DifferenceType


def proportion_moments(sums: ProportionSums) -> ArmMoments:
    """Moments of a 0/1 metric.

    Formula: ``m = sum/n``, ``v = m(1 - m)`` (the Bernoulli variance, without an n-1 correction).

    Parameters
    ----------
    sums
        Units and converted units of one arm.

    Examples
    --------
    >>> proportion_moments(ProportionSums(n=100, sum=49)).variance
    0.2499
    """
    n = np.asarray(sums.n, dtype=np.float64)
    mean = np.asarray(sums.sum, dtype=np.float64) / n

    return ArmMoments(
        n=as_float(n),
        mean=as_float(mean),
        variance=as_float(mean * (1.0 - mean)),
        unadjusted_mean=as_float(mean),
    )


def mean_moments(sums: MeanSums) -> ArmMoments:
    """Moments of a numeric metric.

    Formula: ``m = sum/n``, ``v = (sum_squares - sum²/n)/(n - 1)`` (the sample variance).

    Parameters
    ----------
    sums
        Units, Σx and Σx² of one arm.

    Examples
    --------
    >>> values = [1.0, 2.0, 3.0, 4.0]
    >>> sums = MeanSums(n=4, sum=sum(values), sum_squares=sum(v * v for v in values))
    >>> moments = mean_moments(sums)
    >>> moments.mean, round(moments.variance, 6)
    (2.5, 1.666667)
    """
    n = np.asarray(sums.n, dtype=np.float64)
    mean = np.asarray(sums.sum, dtype=np.float64) / n

    return ArmMoments(
        n=as_float(n),
        mean=as_float(mean),
        variance=sample_variance(n, sums.sum, sums.sum_squares),
        unadjusted_mean=as_float(mean),
    )


def ratio_variance(
    mean_m: npt.ArrayLike,
    var_m: npt.ArrayLike,
    mean_d: npt.ArrayLike,
    var_d: npt.ArrayLike,
    cov_md: npt.ArrayLike,
) -> float | np.ndarray:
    """Delta-method variance of M/D from the moments of M and D.

    Formula: ``Var(M/D) ≈ var_M/μ_D² + var_D·μ_M²/μ_D⁴ - 2·cov_MD·μ_M/μ_D³``.

    Parameters
    ----------
    mean_m, var_m
        Mean and variance of the numerator M.
    mean_d, var_d
        Mean and variance of the denominator D.
    cov_md
        Covariance of M and D.

    Examples
    --------
    >>> ratio_variance(1.0, 0.1, 2.0, 0.0, 0.0)
    0.025
    """
    mean_m, var_m, mean_d, var_d, cov_md = (
        np.asarray(v, dtype=np.float64) for v in (mean_m, var_m, mean_d, var_d, cov_md)
    )
    return as_float(
        var_m / mean_d**2 + var_d * mean_m**2 / mean_d**4 - 2.0 * cov_md * mean_m / mean_d**3
    )


def ratio_moments(sums: RatioSums) -> ArmMoments:
    """Moments of a ratio metric Σ M_u / Σ D_u by the delta method.

    Formula, with per-unit means ``μ_M = m_sum/n``, ``μ_D = d_sum/n`` and sample (n-1) moments
    ``var_M``, ``var_D``, ``cov_MD`` from the sums::

        m = m_sum / d_sum
        v = var_M/μ_D² + var_D·μ_M²/μ_D⁴ - 2·cov_MD·μ_M/μ_D³

    The units are users, not impressions, so clicks of one user are not treated as independent;
    that is why a click-through rate needs this and not a binomial variance.

    Parameters
    ----------
    sums
        Units and the numerator and denominator sums of one arm.

    Examples
    --------
    >>> clicks, impressions = [1.0, 0.0, 2.0], [4.0, 2.0, 6.0]
    >>> sums = RatioSums(
    ...     n=3,
    ...     m_sum=sum(clicks),
    ...     m_sum_squares=sum(c * c for c in clicks),
    ...     d_sum=sum(impressions),
    ...     d_sum_squares=sum(i * i for i in impressions),
    ...     m_d_sum_of_products=sum(c * i for c, i in zip(clicks, impressions)),
    ... )
    >>> moments = ratio_moments(sums)
    >>> moments.mean, round(moments.variance, 6)
    (0.25, 0.015625)
    """
    n = np.asarray(sums.n, dtype=np.float64)
    mean_m = np.asarray(sums.m_sum, dtype=np.float64) / n
    mean_d = np.asarray(sums.d_sum, dtype=np.float64) / n

    var_m = sample_variance(n, sums.m_sum, sums.m_sum_squares)
    var_d = sample_variance(n, sums.d_sum, sums.d_sum_squares)
    cov_md = sample_covariance(n, sums.m_sum, sums.d_sum, sums.m_d_sum_of_products)

    mean = np.asarray(sums.m_sum, dtype=np.float64) / np.asarray(sums.d_sum, dtype=np.float64)
    return ArmMoments(
        n=as_float(n),
        mean=as_float(mean),
        variance=ratio_variance(mean_m, var_m, mean_d, var_d, cov_md),
        unadjusted_mean=as_float(mean),
    )
