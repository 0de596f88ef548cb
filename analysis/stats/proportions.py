"""Conversion rates: the Wilson score interval and the two-proportion z-test.

A conversion here is a 0/1 outcome per randomized unit (for example "the user purchased at
least once"), so ``x`` successes out of ``n`` units is a binomial count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from analysis.stats.sums import as_float


@dataclass(frozen=True)
class TwoProportionResult:
    """Outcome of :func:`two_proportion_ztest`; every difference is treatment minus control."""

    p_a: float | np.ndarray
    p_b: float | np.ndarray
    diff: float | np.ndarray
    se_pooled: float | np.ndarray
    z: float | np.ndarray
    p_value: float | np.ndarray
    se_unpooled: float | np.ndarray
    ci_lower: float | np.ndarray
    ci_upper: float | np.ndarray


def _two_sided_normal_quantile(confidence: float) -> float:
    """z_{1-(1-confidence)/2}: the normal quantile of a two-sided interval."""
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def wilson_interval(
    x: npt.ArrayLike, n: npt.ArrayLike, confidence: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Wilson score interval for a binomial proportion, without continuity correction.

    Formula, with ``z = z_{1-(1-confidence)/2}`` and ``p̂ = x/n``::

        center = (p̂ + z²/(2n)) / (1 + z²/n)
        half   = z·sqrt(p̂(1-p̂)/n + z²/(4n²)) / (1 + z²/n)
        [max(0, center - half), min(1, center + half)]

    It equals R's ``prop.test(x, n, correct=FALSE)$conf.int`` and statsmodels'
    ``proportion_confint(method="wilson")``, and unlike the Wald interval it stays inside
    [0, 1] and keeps its coverage at 0 or n successes.

    Parameters
    ----------
    x
        Successes (units that converted).
    n
        Units.
    confidence
        Two-sided coverage, for example 0.95.

    Returns
    -------
    (lower, upper)

    Examples
    --------
    >>> lower, upper = wilson_interval(4, 20)
    >>> round(lower, 6), round(upper, 6)
    (0.080658, 0.416017)
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = _two_sided_normal_quantile(confidence)

    p_hat = x / n
    shrink = 1.0 + z * z / n
    center = (p_hat + z * z / (2.0 * n)) / shrink
    half = z * np.sqrt(p_hat * (1.0 - p_hat) / n + z * z / (4.0 * n * n)) / shrink

    return as_float(np.maximum(0.0, center - half)), as_float(np.minimum(1.0, center + half))


def two_proportion_ztest(
    x_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    x_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
    confidence: float = 0.95,
) -> TwoProportionResult:
    """Two-sided pooled z-test of p_b = p_a, with an unpooled Wald interval for p_b - p_a.

    Formula, with ``p_i = x_i/n_i`` and ``p̄ = (x_a + x_b)/(n_a + n_b)``::

        diff        = p_b - p_a
        se_pooled   = sqrt(p̄(1-p̄)(1/n_a + 1/n_b)),   z = diff / se_pooled
        p_value     = 2·(1 - Φ(|z|))
        se_unpooled = sqrt(p_a(1-p_a)/n_a + p_b(1-p_b)/n_b)
        ci          = diff ± z_{1-(1-confidence)/2}·se_unpooled

    The test pools because under its null both arms share one rate; the interval does not,
    because it describes rates that may differ. ``z²`` is Pearson's χ² of the 2×2 table without
    Yates' correction (R ``prop.test(correct=FALSE)``).

    Parameters
    ----------
    x_a, n_a
        Successes and units of the control arm.
    x_b, n_b
        Successes and units of the treatment arm.
    confidence
        Two-sided coverage of the interval.

    Examples
    --------
    >>> result = two_proportion_ztest(5, 83, 12, 99)
    >>> round(result.z, 6), round(result.p_value, 6)
    (1.40783, 0.159181)
    """
    x_a, n_a, x_b, n_b = (np.asarray(v, dtype=np.float64) for v in (x_a, n_a, x_b, n_b))

    p_a = x_a / n_a
    p_b = x_b / n_b
    diff = p_b - p_a

    p_pooled = (x_a + x_b) / (n_a + n_b)
    se_pooled = np.sqrt(p_pooled * (1.0 - p_pooled) * (1.0 / n_a + 1.0 / n_b))
    z = diff / se_pooled
    p_value = 2.0 * stats.norm.sf(np.abs(z))

    se_unpooled = np.sqrt(p_a * (1.0 - p_a) / n_a + p_b * (1.0 - p_b) / n_b)
    half = _two_sided_normal_quantile(confidence) * se_unpooled

    return TwoProportionResult(
        p_a=as_float(p_a),
        p_b=as_float(p_b),
        diff=as_float(diff),
        se_pooled=as_float(se_pooled),
        z=as_float(z),
        p_value=as_float(p_value),
        se_unpooled=as_float(se_unpooled),
        ci_lower=as_float(diff - half),
        ci_upper=as_float(diff + half),
    )
