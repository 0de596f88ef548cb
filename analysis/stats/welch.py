"""Welch's unequal-variance t-test of two means, from per-arm sums."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.stats.sums import MeanSums, as_float, sample_variance


@dataclass(frozen=True)
class WelchResult:
    """Outcome of :func:`welch_ttest_from_sums`; ``diff`` is treatment minus control."""

    mean_a: float | np.ndarray
    mean_b: float | np.ndarray
    var_a: float | np.ndarray
    var_b: float | np.ndarray
    diff: float | np.ndarray
    se: float | np.ndarray
    df: float | np.ndarray
    t: float | np.ndarray
    p_value: float | np.ndarray
    ci_lower: float | np.ndarray
    ci_upper: float | np.ndarray


def welch_satterthwaite_df(
    var_a: np.ndarray, n_a: np.ndarray, var_b: np.ndarray, n_b: np.ndarray
) -> np.ndarray:
    """Welch–Satterthwaite degrees of freedom of ``var_a/n_a + var_b/n_b``.

    Formula::

        df = (v_a/n_a + v_b/n_b)² / ((v_a/n_a)²/(n_a-1) + (v_b/n_b)²/(n_b-1))

    Parameters
    ----------
    var_a, n_a, var_b, n_b
        Per-unit variance and unit count of each arm.

    Examples
    --------
    >>> float(welch_satterthwaite_df(1.0, 10, 1.0, 10))
    18.0
    """
    share_a = np.asarray(var_a) / np.asarray(n_a)
    share_b = np.asarray(var_b) / np.asarray(n_b)
    return (share_a + share_b) ** 2 / (
        share_a**2 / (np.asarray(n_a) - 1) + share_b**2 / (np.asarray(n_b) - 1)
    )


def welch_ttest_from_sums(
    a: MeanSums, b: MeanSums, confidence: float = 0.95, variance_ddof: int = 1
) -> WelchResult:
    """Two-sided Welch t-test of mean_b = mean_a, with its confidence interval.

    Formula, per arm ``mean = sum/n`` and ``var = (sum_squares - sum²/n)/(n - variance_ddof)``::

        diff    = mean_b - mean_a,   se = sqrt(var_a/n_a + var_b/n_b),   t = diff/se
        df      = (var_a/n_a + var_b/n_b)² / ((var_a/n_a)²/(n_a-1) + (var_b/n_b)²/(n_b-1))
        p_value = 2·(1 - F_t(|t|; df)),   ci = diff ± t_{1-(1-confidence)/2, df}·se

    The df denominators are always ``n - 1``, whatever ``variance_ddof`` is.

    Parameters
    ----------
    a, b
        Sums of the control and the treatment arm. Fields may be arrays of one shape, for
        example one entry per look at a running experiment.
    confidence
        Two-sided coverage of the interval.
    variance_ddof
        1 for the sample variance (scipy, R); 0 for the population variance, which is
        spotify-confidence's convention.

    Examples
    --------
    >>> a = MeanSums(n=4, sum=10.0, sum_squares=30.0)
    >>> b = MeanSums(n=4, sum=14.0, sum_squares=54.0)
    >>> result = welch_ttest_from_sums(a, b)
    >>> round(result.t, 6), round(result.df, 6), round(result.p_value, 6)
    (1.095445, 6.0, 0.315334)
    """
    n_a = np.asarray(a.n, dtype=np.float64)
    n_b = np.asarray(b.n, dtype=np.float64)

    mean_a = np.asarray(a.sum, dtype=np.float64) / n_a
    mean_b = np.asarray(b.sum, dtype=np.float64) / n_b
    var_a = np.asarray(sample_variance(n_a, a.sum, a.sum_squares, ddof=variance_ddof))
    var_b = np.asarray(sample_variance(n_b, b.sum, b.sum_squares, ddof=variance_ddof))

    diff = mean_b - mean_a
    se = np.sqrt(var_a / n_a + var_b / n_b)
    df = welch_satterthwaite_df(var_a, n_a, var_b, n_b)
    t = diff / se

    p_value = 2.0 * stats.t.sf(np.abs(t), df)
    half = stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, df) * se

    return WelchResult(
        mean_a=as_float(mean_a),
        mean_b=as_float(mean_b),
        var_a=as_float(var_a),
        var_b=as_float(var_b),
        diff=as_float(diff),
        se=as_float(se),
        df=as_float(df),
        t=as_float(t),
        p_value=as_float(p_value),
        ci_lower=as_float(diff - half),
        ci_upper=as_float(diff + half),
    )
