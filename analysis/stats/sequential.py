"""Always-valid inference for experiments that are watched while they run.

Two methods, both safe to read at every look without inflating the false-positive rate:

* the asymptotic confidence sequence GrowthBook uses for its sequential tests (Waudby-Smith,
  Arnold, Wu, Howard, Ramdas & others, "Time-uniform central limit theory and asymptotic
  confidence sequences", arXiv:2103.06476v7, eqs. 9, 155 and 161), read on any effect from
  :func:`analysis.stats.effects.compare_arms`;
* the normal-mixture mSPRT with always-valid p-values (Johari, Koomen, Pekelis & Walsh, "Peeking
  at A/B tests", KDD 2017; Johari, Pekelis & Walsh, "Always valid inference", Operations
  Research 2022).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from analysis.stats.frequentist import EffectTestResult
from analysis.stats.moments import EffectMoments
from analysis.stats.sums import as_float

Alternative = Literal["two_sided", "one_sided_greater", "one_sided_lesser"]


def _mixture_rho(alpha: float, tuning_parameter: float) -> float:
    """ρ of the confidence sequence: ρ = sqrt((-2 ln α + ln(-2 ln α + 1)) / M)."""
    log_term = -2.0 * np.log(alpha)
    return float(np.sqrt((log_term + np.log(log_term + 1.0)) / tuning_parameter))


def confidence_sequence_test(
    effect: EffectMoments,
    alpha: float = 0.05,
    tuning_parameter: float = 5000.0,
    alternative: Alternative = "two_sided",
) -> EffectTestResult:
    """Asymptotic confidence sequence for an effect, valid at every look (GrowthBook's).

    Formula, with ``N = n_a + n_b``, ``s² = se²·N`` (the per-unit variance of the effect) and
    ``M`` the tuning parameter (the sample size at which the sequence is tightest)::

        two-sided: ρ = sqrt((-2 ln α + ln(-2 ln α + 1)) / M)
                   half = s·sqrt( 2(Nρ²+1)/(N²ρ²) · ln(sqrt(Nρ²+1)/α) ),  ci = est ± half
                   p = min(1, sqrt(Nρ²+1)·exp(-ρ²·N·(est/se)² / (2(Nρ²+1))))
        one-sided: ρ as above with 2α in place of α,
                   half = sqrt( s²·2(Nρ²+1)/(N²ρ²) · ln(1 + sqrt(Nρ²+1)/(2α)) ),
                   ci = [est - half, ∞) (greater) or (-∞, est + half] (lesser), no p-value.

    The one-sided p-value is None: GrowthBook finds it by bisection on α, a search this
    function does not do.

    Parameters
    ----------
    effect
        The effect at the current look, from :func:`~analysis.stats.effects.compare_arms`.
    alpha
        Error rate over all looks together.
    tuning_parameter
        M, the total sample size (both arms) at which the sequence is tightest; GrowthBook's
        default is 5000.
    alternative
        ``"two_sided"``, ``"one_sided_greater"`` or ``"one_sided_lesser"``.

    Examples
    --------
    >>> from analysis.stats.effects import compare_arms
    >>> from analysis.stats.sums import MeanSums
    >>> a = MeanSums(n=100, sum=270, sum_squares=848.79)
    >>> b = MeanSums(n=120, sum=300, sum_squares=869)
    >>> result = confidence_sequence_test(compare_arms(a, b), tuning_parameter=600)
    >>> round(result.ci_lower, 6), round(result.p_value, 6)
    (-0.233322, 0.892332)
    """
    estimate = np.asarray(effect.estimate, dtype=np.float64)
    se = np.asarray(effect.se, dtype=np.float64)
    n_total = np.asarray(effect.n_a, dtype=np.float64) + np.asarray(effect.n_b, dtype=np.float64)

    if alternative == "two_sided":
        half, p_value = _two_sided_sequence(estimate, se, n_total, alpha, tuning_parameter)
        lower, upper = estimate - half, estimate + half
    elif alternative in ("one_sided_greater", "one_sided_lesser"):
        half, p_value = _one_sided_half_width(se, n_total, alpha, tuning_parameter), None
        if alternative == "one_sided_greater":
            lower, upper = estimate - half, np.full_like(estimate, np.inf)
        else:
            lower, upper = np.full_like(estimate, -np.inf), estimate + half
    else:
        raise ValueError(f"unsupported alternative {alternative!r}")

    return EffectTestResult(
        point_estimate=as_float(estimate),
        se=as_float(se),
        ci_lower=as_float(lower),
        ci_upper=as_float(upper),
        p_value=None if p_value is None else as_float(p_value),
        df=None,
    )


def _two_sided_sequence(
    estimate: np.ndarray, se: np.ndarray, n_total: np.ndarray, alpha: float, tuning: float
) -> tuple[np.ndarray, np.ndarray]:
    """Half-width and p-value of the two-sided confidence sequence."""
    rho2 = _mixture_rho(alpha, tuning) ** 2
    spread = n_total * rho2 + 1.0
    s2 = se**2 * n_total

    half = np.sqrt(s2 * 2.0 * spread / (n_total**2 * rho2) * np.log(np.sqrt(spread) / alpha))
    z2 = (estimate / se) ** 2
    p_value = np.minimum(1.0, np.sqrt(spread) * np.exp(-rho2 * n_total * z2 / (2.0 * spread)))
    return half, p_value


def _one_sided_half_width(
    se: np.ndarray, n_total: np.ndarray, alpha: float, tuning: float
) -> np.ndarray:
    """Half-width of the one-sided confidence sequence (ρ from 2α)."""
    rho2 = _mixture_rho(2.0 * alpha, tuning) ** 2
    spread = n_total * rho2 + 1.0
    s2 = se**2 * n_total
    return np.sqrt(
        s2 * 2.0 * spread / (n_total**2 * rho2) * np.log(1.0 + np.sqrt(spread) / (2.0 * alpha))
    )


def bernoulli_pair_variance(mean_a: npt.ArrayLike, mean_b: npt.ArrayLike) -> float | np.ndarray:
    """Plug-in variance of one treatment-minus-control pair of 0/1 outcomes.

    Formula: ``V = p_a(1 - p_a) + p_b(1 - p_b)``.

    Parameters
    ----------
    mean_a, mean_b
        Observed conversion rates of the control and the treatment arm.

    Examples
    --------
    >>> round(bernoulli_pair_variance(0.1, 0.2), 6)
    0.25
    """
    mean_a = np.asarray(mean_a, dtype=np.float64)
    mean_b = np.asarray(mean_b, dtype=np.float64)
    return as_float(mean_a * (1.0 - mean_a) + mean_b * (1.0 - mean_b))


def msprt_log_likelihood_ratio(
    n: npt.ArrayLike,
    mean_a: npt.ArrayLike,
    mean_b: npt.ArrayLike,
    pair_variance: npt.ArrayLike,
    tau2: float,
    theta0: float = 0.0,
) -> float | np.ndarray:
    """Log of the normal-mixture likelihood ratio Λ_n of the mSPRT.

    Formula, with ``n`` observations per arm, ``Δ̄ = mean_b - mean_a``, ``V`` the variance of
    one pair and the effect mixed over ``N(θ0, τ²)``::

        ln Λ_n = ½·ln(V/(V + nτ²)) + n²τ²(Δ̄ - θ0)² / (2V(V + nτ²))

    Working in logs keeps Λ finite for long experiments with real effects.

    Parameters
    ----------
    n
        Observations per arm at each look.
    mean_a, mean_b
        Running means of the control and the treatment arm at each look.
    pair_variance
        V = σ_A² + σ_B², the variance of one treatment-minus-control pair.
    tau2
        Mixing variance τ² of the effect; see :func:`optimal_mixing_variance`.
    theta0
        The effect under the null hypothesis.

    Examples
    --------
    >>> round(float(np.exp(msprt_log_likelihood_ratio(100, 1.0, 1.1, 2.0, 0.108258414))), 6)
    0.487658
    """
    n = np.asarray(n, dtype=np.float64)
    delta = np.asarray(mean_b, dtype=np.float64) - np.asarray(mean_a, dtype=np.float64)
    pair_variance = np.asarray(pair_variance, dtype=np.float64)

    widened = pair_variance + n * tau2
    log_ratio = 0.5 * np.log(pair_variance / widened) + (
        n**2 * tau2 * (delta - theta0) ** 2 / (2.0 * pair_variance * widened)
    )
    return as_float(log_ratio)


def msprt_likelihood_ratio(
    n: npt.ArrayLike,
    mean_a: npt.ArrayLike,
    mean_b: npt.ArrayLike,
    pair_variance: npt.ArrayLike,
    tau2: float,
    theta0: float = 0.0,
) -> float | np.ndarray:
    """Normal-mixture likelihood ratio Λ_n of the mSPRT.

    Formula: ``Λ_n = sqrt(V/(V + nτ²)) · exp(n²τ²(Δ̄ - θ0)² / (2V(V + nτ²)))``; see
    :func:`msprt_log_likelihood_ratio`.

    Parameters
    ----------
    n, mean_a, mean_b, pair_variance, tau2, theta0
        As for :func:`msprt_log_likelihood_ratio`.

    Examples
    --------
    >>> round(msprt_likelihood_ratio(200, 10.0, 10.2, 8.0, 0.01, theta0=0.05), 6)
    0.946181
    """
    return as_float(
        np.exp(msprt_log_likelihood_ratio(n, mean_a, mean_b, pair_variance, tau2, theta0))
    )


def msprt_always_valid_p(log_likelihood_ratios: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    """Always-valid p-values from the log likelihood ratios of successive looks.

    Formula: ``p_n = min(1, min_{k≤n} 1/Λ_k)``, a running minimum along ``axis`` (looks in
    order). Rejecting the first time ``p_n ≤ α`` keeps the false-positive rate at most α however
    often one looks (Ville's inequality on the mixture martingale).

    Parameters
    ----------
    log_likelihood_ratios
        ln Λ at successive looks, in order along ``axis``.
    axis
        The axis of the looks.

    Examples
    --------
    >>> msprt_always_valid_p(np.log([0.5, 4.0, 2.0, 10.0])).round(12).tolist()
    [1.0, 0.25, 0.25, 0.1]
    """
    log_ratios = np.asarray(log_likelihood_ratios, dtype=np.float64)
    per_look = np.minimum(1.0, np.exp(-log_ratios))
    return np.minimum.accumulate(per_look, axis=axis)


def optimal_mixing_variance(alpha: float, pair_variance: float, truncation: float) -> float:
    """Mixing variance τ² that makes the mSPRT most powerful near a planned maximum sample size.

    Formula (Johari et al. 2017), with ``M`` the truncation (maximum per-arm sample size)::

        b  = 2·ln(1/α) / sqrt(M·V)
        τ² = V·Φ(-b) / ((1/b)·φ(b) - Φ(-b))

    Parameters
    ----------
    alpha
        Significance level of the test.
    pair_variance
        V, the variance of one treatment-minus-control pair.
    truncation
        M, the largest per-arm sample size the experiment may reach.

    Examples
    --------
    >>> round(optimal_mixing_variance(0.05, 2.0, 10000), 9)
    0.108258414
    """
    b = 2.0 * np.log(1.0 / alpha) / np.sqrt(truncation * pair_variance)
    tail = stats.norm.sf(b)
    return float(pair_variance * tail / (stats.norm.pdf(b) / b - tail))
