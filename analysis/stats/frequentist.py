"""Fixed-horizon t-tests of an effect: two-sided or one-sided, with the matching interval.

"Fixed horizon" means the result is read once, at a sample size chosen in advance. Reading it
repeatedly while the experiment runs inflates the false-positive rate; use
:mod:`analysis.stats.sequential` for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from analysis.stats.moments import EffectMoments
from analysis.stats.sums import as_float

Alternative = Literal["two_sided", "one_sided_greater", "one_sided_lesser"]


@dataclass(frozen=True)
class EffectTestResult:
    """An effect with its interval and p-value.

    ``ci_lower`` is ``-inf`` and ``ci_upper`` is ``inf`` on the open side of a one-sided
    interval. ``df`` is None for tests that use no t distribution, and ``p_value`` is None
    where the method defines none.
    """

    point_estimate: float | np.ndarray
    se: float | np.ndarray
    ci_lower: float | np.ndarray
    ci_upper: float | np.ndarray
    p_value: float | np.ndarray | None
    df: float | np.ndarray | None


def fixed_horizon_test(
    effect: EffectMoments, alpha: float = 0.05, alternative: Alternative = "two_sided"
) -> EffectTestResult:
    """Student-t test and interval of an effect, with Welch–Satterthwaite degrees of freedom.

    Formula, with ``est, se, df`` from the effect and ``F_t`` the t CDF::

        two_sided:          ci = est ± t_{1-α/2,df}·se,     p = 2·(1 - F_t(|est/se|; df))
        one_sided_greater:  ci = [est - t_{1-α,df}·se, ∞),  p = 1 - F_t(est/se; df)
        one_sided_lesser:   ci = (-∞, est + t_{1-α,df}·se], p = F_t(est/se; df)

    p-values use the survival function, so they stay accurate far in the tail.

    Parameters
    ----------
    effect
        The effect, from :func:`~analysis.stats.effects.compare_arms`.
    alpha
        Significance level; the interval covers ``1 - alpha``.
    alternative
        ``"two_sided"``, ``"one_sided_greater"`` (the treatment raises the metric) or
        ``"one_sided_lesser"``.

    Examples
    --------
    >>> from analysis.stats.effects import compare_arms
    >>> from analysis.stats.sums import ProportionSums
    >>> effect = compare_arms(ProportionSums(28, 14), ProportionSums(30, 16), "relative")
    >>> result = fixed_horizon_test(effect)
    >>> round(result.ci_lower, 5), round(result.ci_upper, 5), round(result.p_value, 5)
    (-0.47767, 0.61101, 0.80707)
    """
    estimate = np.asarray(effect.estimate, dtype=np.float64)
    se = np.asarray(effect.se, dtype=np.float64)
    df = np.asarray(effect.df, dtype=np.float64)
    t = estimate / se

    if alternative == "two_sided":
        half = stats.t.ppf(1.0 - alpha / 2.0, df) * se
        lower, upper = estimate - half, estimate + half
        p_value = 2.0 * stats.t.sf(np.abs(t), df)
    elif alternative == "one_sided_greater":
        lower = estimate - stats.t.ppf(1.0 - alpha, df) * se
        upper = np.full_like(estimate, np.inf)
        p_value = stats.t.sf(t, df)
    elif alternative == "one_sided_lesser":
        lower = np.full_like(estimate, -np.inf)
        upper = estimate + stats.t.ppf(1.0 - alpha, df) * se
        p_value = stats.t.cdf(t, df)
    else:
        raise ValueError(f"unsupported alternative {alternative!r}")

    return EffectTestResult(
        point_estimate=as_float(estimate),
        se=as_float(se),
        ci_lower=as_float(lower),
        ci_upper=as_float(upper),
        p_value=as_float(p_value),
        df=as_float(df),
    )
