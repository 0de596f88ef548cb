"""Treatment-minus-control effects of a metric, absolute or relative, from per-arm sums.

:func:`compare_arms` is the entry point: it takes the sums of two arms of one metric (a
proportion, a mean, a ratio, or their CUPED versions) and returns the effect's estimate,
standard error and degrees of freedom, which the frequentist, sequential and Bayesian tests
then read.
"""

from __future__ import annotations

import numpy as np

from analysis.stats.cuped import cuped_effect, ratio_cuped_effect
from analysis.stats.moments import (
    ArmMoments,
    DifferenceType,
    EffectMoments,
    mean_moments,
    proportion_moments,
    ratio_moments,
)
from analysis.stats.sums import (
    CupedSums,
    MeanSums,
    ProportionSums,
    RatioCupedSums,
    RatioSums,
    as_float,
)
from analysis.stats.welch import welch_satterthwaite_df

ArmSums = ProportionSums | MeanSums | RatioSums | CupedSums | RatioCupedSums


def effect_from_moments(
    a: ArmMoments, b: ArmMoments, difference_type: DifferenceType = "relative"
) -> EffectMoments:
    """Effect of arm b over arm a from their moments, by the delta method for a relative effect.

    Formula, arms independent::

        absolute: est = m_b - m_a,          var = v_a/n_a + v_b/n_b
        relative: est = (m_b - m_a)/|m_a|,  var = v_b/(n_b·m_a²) + v_a·m_b²/(n_a·m_a⁴)
        df = (v_a/n_a + v_b/n_b)² / (v_a²/(n_a²(n_a-1)) + v_b²/(n_b²(n_b-1)))

    ``se = sqrt(var)``; ``df`` is the same for both difference types.

    Parameters
    ----------
    a, b
        Moments of the control and the treatment arm.
    difference_type
        ``"absolute"`` or ``"relative"`` (a fraction of the control mean). A relative effect
        is NaN or infinite where the control mean is 0.

    Examples
    --------
    >>> a = proportion_moments(ProportionSums(n=1000, sum=100))
    >>> b = proportion_moments(ProportionSums(n=1000, sum=120))
    >>> effect = effect_from_moments(a, b, "relative")
    >>> round(effect.estimate, 6), round(effect.se, 6)
    (0.2, 0.153362)
    """
    if difference_type not in ("absolute", "relative"):
        raise ValueError(f"unsupported difference_type {difference_type!r}")

    n_a, m_a, v_a = (np.asarray(x, dtype=np.float64) for x in (a.n, a.mean, a.variance))
    n_b, m_b, v_b = (np.asarray(x, dtype=np.float64) for x in (b.n, b.mean, b.variance))

    if difference_type == "absolute":
        estimate = m_b - m_a
        variance = v_a / n_a + v_b / n_b
    else:
        estimate = (m_b - m_a) / np.abs(m_a)
        variance = v_b / (n_b * m_a**2) + v_a * m_b**2 / (n_a * m_a**4)

    return EffectMoments(
        estimate=as_float(estimate),
        se=as_float(np.sqrt(variance)),
        df=as_float(welch_satterthwaite_df(v_a, n_a, v_b, n_b)),
        n_a=as_float(n_a),
        n_b=as_float(n_b),
        baseline_mean=a.unadjusted_mean,
        difference_type=difference_type,
    )


def arm_moments(sums: ProportionSums | MeanSums | RatioSums) -> ArmMoments:
    """Moments of one arm, chosen by the type of its sums (proportion, mean or ratio).

    See :func:`~analysis.stats.moments.proportion_moments`,
    :func:`~analysis.stats.moments.mean_moments` and
    :func:`~analysis.stats.moments.ratio_moments` for the formulas.

    Parameters
    ----------
    sums
        :class:`ProportionSums`, :class:`MeanSums` or :class:`RatioSums` of one arm.

    Examples
    --------
    >>> arm_moments(ProportionSums(n=4, sum=1)).mean
    0.25
    """
    if isinstance(sums, ProportionSums):
        return proportion_moments(sums)
    if isinstance(sums, MeanSums):
        return mean_moments(sums)
    if isinstance(sums, RatioSums):
        return ratio_moments(sums)
    raise TypeError(f"no per-arm moments for {type(sums).__name__}; CUPED sums need both arms")


def compare_arms(
    a: ArmSums, b: ArmSums, difference_type: DifferenceType = "relative"
) -> EffectMoments:
    """Effect of treatment b over control a for one metric, from the arms' sums.

    Dispatches on the type of the sums: proportions, means and ratios go through
    :func:`effect_from_moments`; :class:`CupedSums` through
    :func:`~analysis.stats.cuped.cuped_effect` and :class:`RatioCupedSums` through
    :func:`~analysis.stats.cuped.ratio_cuped_effect`, which estimate θ from both arms.

    Parameters
    ----------
    a, b
        Sums of the control and the treatment arm, of the same type.
    difference_type
        ``"absolute"`` or ``"relative"`` (a fraction of the control's unadjusted mean).

    Examples
    --------
    >>> a = MeanSums(n=3407, sum=1396.87, sum_squares=52377.9767)
    >>> b = MeanSums(n=3461, sum=2422.7, sum_squares=134698.29)
    >>> effect = compare_arms(a, b, "absolute")
    >>> round(effect.estimate, 5), round(effect.se, 5)
    (0.29, 0.12478)
    """
    if type(a) is not type(b):
        raise TypeError(
            f"both arms need the same kind of sums, got {type(a).__name__} and {type(b).__name__}"
        )
    if isinstance(a, CupedSums):
        return cuped_effect(a, b, difference_type)
    if isinstance(a, RatioCupedSums):
        return ratio_cuped_effect(a, b, difference_type)
    return effect_from_moments(arm_moments(a), arm_moments(b), difference_type)
