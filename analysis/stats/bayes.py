"""Bayesian readings of an experiment: chance to win, risks, and the probability each arm is best.

Three tools:

* :func:`normal_chance_to_win`: GrowthBook's effect-level test, a normal posterior on the effect
  (flat or proper prior) with chance to win, credible interval and expected losses;
* :func:`beta_probability_b_beats_a`: the exact P(p_B > p_A) for two Beta posteriors of a
  conversion rate;
* :func:`probability_best_beta` and :func:`probability_best_normal`: for several arms, the
  posterior probability that each one has the highest rate or mean, by seeded simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import integrate, special, stats

from analysis.stats.moments import EffectMoments


@dataclass(frozen=True)
class EffectPrior:
    """Normal prior on the **relative** effect: N(mean, variance), used when ``proper``.

    ``proper=False`` (the default) is the flat prior: the posterior is then the effect's own
    normal approximation.
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False


@dataclass(frozen=True)
class ChanceToWinResult:
    """Posterior summary of an effect.

    Attributes
    ----------
    chance_to_win
        Posterior probability that the treatment is better (higher, or lower when inverse).
    post_mean, post_sd
        Posterior mean and standard deviation of the effect.
    ci_lower, ci_upper
        Equal-tailed credible interval.
    risk_control
        Expected loss of keeping the control: E[max(δ, 0)] (swapped when inverse).
    risk_treatment
        Expected loss of shipping the treatment: E[max(-δ, 0)] (swapped when inverse).
    """

    chance_to_win: float
    post_mean: float
    post_sd: float
    ci_lower: float
    ci_upper: float
    risk_control: float
    risk_treatment: float


def posterior_chance_to_win(
    post_mean: float, post_sd: float, alpha: float = 0.05, inverse: bool = False
) -> ChanceToWinResult:
    """Chance to win, credible interval and risks of a normal posterior N(μ, σ²) on effect δ.

    Formula::

        chance_to_win  = P(δ > 0) = Φ(μ/σ)              (1 - Φ(μ/σ) when inverse)
        ci             = μ ± z_{1-α/2}·σ
        risk_control   = E[max(δ, 0)]  = μ·Φ(μ/σ) + σ·φ(μ/σ)
        risk_treatment = E[max(-δ, 0)] = -μ·Φ(-μ/σ) + σ·φ(μ/σ)

    With ``inverse`` (a decrease is good) the two risks swap.

    Parameters
    ----------
    post_mean, post_sd
        Mean μ and standard deviation σ of the normal posterior of the effect.
    alpha
        The credible interval covers ``1 - alpha``.
    inverse
        True when a decrease of the metric is an improvement.

    Examples
    --------
    >>> round(posterior_chance_to_win(1.7724538509055159, 3.141592653589793).chance_to_win, 7)
    0.7136874
    """
    mu, sigma = float(post_mean), float(post_sd)
    z = mu / sigma

    higher = float(stats.norm.cdf(z))
    chance_to_win = float(stats.norm.sf(z)) if inverse else higher

    half = float(stats.norm.ppf(1.0 - alpha / 2.0)) * sigma
    gain = mu * higher + sigma * float(stats.norm.pdf(z))
    loss = -mu * float(stats.norm.cdf(-z)) + sigma * float(stats.norm.pdf(z))
    risk_control, risk_treatment = (loss, gain) if inverse else (gain, loss)

    return ChanceToWinResult(
        chance_to_win=chance_to_win,
        post_mean=mu,
        post_sd=sigma,
        ci_lower=mu - half,
        ci_upper=mu + half,
        risk_control=risk_control,
        risk_treatment=risk_treatment,
    )


def normal_chance_to_win(
    effect: EffectMoments,
    alpha: float = 0.05,
    prior: EffectPrior | None = None,
    inverse: bool = False,
) -> ChanceToWinResult:
    """GrowthBook's Bayesian effect test: a normal posterior on the effect, then its summary.

    Formula, starting from the effect's ``est`` and ``se``:

    * flat prior: posterior ``N(est, se²)``;
    * proper prior ``N(m0, v0)`` (stated on the relative scale; for an absolute effect first
      rescaled to ``m0·|m_a|`` and ``v0·m_a²`` with ``m_a`` the control mean)::

          prec = 1/se² + 1/v0,   μ = (est/se² + m0/v0)/prec,   σ = sqrt(1/prec)

    then :func:`posterior_chance_to_win` on ``N(μ, σ²)``.

    Parameters
    ----------
    effect
        The effect, from :func:`~analysis.stats.effects.compare_arms`.
    alpha
        The credible interval covers ``1 - alpha``.
    prior
        Prior on the relative effect; None is the flat prior.
    inverse
        True when a decrease of the metric is an improvement.

    Examples
    --------
    >>> from analysis.stats.effects import compare_arms
    >>> from analysis.stats.sums import MeanSums
    >>> a = MeanSums(n=10, sum=100, sum_squares=1002.25)
    >>> b = MeanSums(n=10, sum=105, sum_squares=1111.5)
    >>> result = normal_chance_to_win(compare_arms(a, b, "relative"))
    >>> round(result.chance_to_win, 5), round(result.risk_treatment, 5)
    (0.91923, 0.00131)
    """
    estimate, se = float(effect.estimate), float(effect.se)
    prior = prior or EffectPrior()
    if not prior.proper:
        return posterior_chance_to_win(estimate, se, alpha=alpha, inverse=inverse)

    # Move the relative-scale prior to the absolute scale when the effect is absolute.
    prior_mean, prior_variance = prior.mean, prior.variance
    if effect.difference_type == "absolute":
        baseline = float(effect.baseline_mean)
        prior_mean, prior_variance = prior_mean * abs(baseline), prior_variance * baseline**2

    precision = 1.0 / se**2 + 1.0 / prior_variance
    post_mean = (estimate / se**2 + prior_mean / prior_variance) / precision
    return posterior_chance_to_win(
        post_mean, float(np.sqrt(1.0 / precision)), alpha=alpha, inverse=inverse
    )


def _log_sum_b_beats_a(alpha_a: float, beta_a: float, alpha_b: int, beta_b: float) -> float:
    """Log of P(p_B > p_A) by the closed form, which needs an integer ``alpha_b``."""
    i = np.arange(alpha_b, dtype=np.float64)
    log_terms = (
        special.betaln(alpha_a + i, beta_a + beta_b)
        - np.log(beta_b + i)
        - special.betaln(1.0 + i, beta_b)
        - special.betaln(alpha_a, beta_a)
    )
    return float(special.logsumexp(log_terms))


def _quadrature_b_beats_a(alpha_a: float, beta_a: float, alpha_b: float, beta_b: float) -> float:
    """P(p_B > p_A) = ∫ f_B(t)·F_A(t) dt by adaptive quadrature, for non-integer parameters."""

    def integrand(t: float) -> float:
        return float(stats.beta.pdf(t, alpha_b, beta_b) * stats.beta.cdf(t, alpha_a, beta_a))

    # Split at the posterior means so quad does not miss two narrow, distant peaks.
    breaks = sorted({alpha_a / (alpha_a + beta_a), alpha_b / (alpha_b + beta_b)})
    value, _ = integrate.quad(integrand, 0.0, 1.0, points=breaks, limit=500, epsabs=1e-13)
    return value


def beta_probability_b_beats_a(
    x_a: int,
    n_a: int,
    x_b: int,
    n_b: int,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
) -> float:
    """Exact P(p_B > p_A) for independent Beta posteriors of two conversion rates.

    Posteriors ``p_i ~ Beta(α_i, β_i)`` with ``α_i = prior_alpha + x_i`` and
    ``β_i = prior_beta + n_i - x_i``. For integer ``α_B`` (Evan Miller's closed form)::

        P(p_B > p_A) = Σ_{i=0}^{α_B-1} B(α_A+i, β_A+β_B) / ((β_B+i)·B(1+i, β_B)·B(α_A, β_A))

    summed in log space with ``betaln``. The sum runs over the smaller of the two success
    parameters, using ``P(p_B > p_A) = 1 - P(p_A > p_B)``. Without an integer parameter the
    probability is ``∫ f_B(t)·F_A(t) dt`` by quadrature.

    Parameters
    ----------
    x_a, n_a
        Conversions and units of the control arm.
    x_b, n_b
        Conversions and units of the treatment arm.
    prior_alpha, prior_beta
        Beta prior shared by both arms; 1, 1 is uniform.

    Examples
    --------
    >>> round(beta_probability_b_beats_a(20, 200, 30, 210), 7)
    0.9054001
    """
    alpha_a, beta_a = prior_alpha + x_a, prior_beta + n_a - x_a
    alpha_b, beta_b = prior_alpha + x_b, prior_beta + n_b - x_b

    if float(alpha_b).is_integer() and (alpha_b <= alpha_a or not float(alpha_a).is_integer()):
        return float(np.exp(_log_sum_b_beats_a(alpha_a, beta_a, int(alpha_b), beta_b)))
    if float(alpha_a).is_integer():
        return float(-np.expm1(_log_sum_b_beats_a(alpha_b, beta_b, int(alpha_a), beta_a)))
    return _quadrature_b_beats_a(alpha_a, beta_a, alpha_b, beta_b)


def _share_of_wins(draws: np.ndarray) -> np.ndarray:
    """Fraction of posterior draws (rows) in which each arm (column) is the largest."""
    winners = np.argmax(draws, axis=1)
    return np.bincount(winners, minlength=draws.shape[1]) / draws.shape[0]


def probability_best_beta(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    n_draws: int = 100_000,
    seed: int = 0,
) -> np.ndarray:
    """Posterior probability that each arm has the highest conversion rate.

    Formula: ``P(arm k is best) = P(p_k = max_j p_j)`` with independent posteriors
    ``p_j ~ Beta(prior_alpha + x_j, prior_beta + n_j - x_j)``, estimated by the share of
    ``n_draws`` joint posterior draws in which arm k is largest. The Monte-Carlo standard error
    of each entry is at most ``0.5/sqrt(n_draws)``; a fixed ``seed`` makes reports reproducible.

    Parameters
    ----------
    successes, trials
        Conversions and units per arm.
    prior_alpha, prior_beta
        Beta prior shared by all arms.
    n_draws
        Joint posterior draws.
    seed
        Seed of the draws.

    Returns
    -------
    One probability per arm, in the input order, summing to 1.

    Examples
    --------
    >>> probability_best_beta([586, 622, 567], [19892, 19954, 20115], seed=7).round(2).tolist()
    [0.15, 0.82, 0.03]
    """
    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    rng = np.random.default_rng(seed)

    draws = rng.beta(
        prior_alpha + successes, prior_beta + trials - successes, size=(n_draws, successes.size)
    )
    return _share_of_wins(draws)


def probability_best_normal(
    means: npt.ArrayLike,
    standard_errors: npt.ArrayLike,
    n_draws: int = 100_000,
    seed: int = 0,
) -> np.ndarray:
    """Posterior probability that each arm has the highest mean, under normal posteriors.

    Formula: ``P(arm k is best) = P(μ_k = max_j μ_j)`` with independent posteriors
    ``μ_j ~ N(mean_j, se_j²)`` (a flat prior on each arm's mean), estimated by the share of
    ``n_draws`` seeded joint draws in which arm k is largest.

    Parameters
    ----------
    means, standard_errors
        Estimated mean and its standard error per arm.
    n_draws
        Joint posterior draws.
    seed
        Seed of the draws.

    Examples
    --------
    >>> probability_best_normal([1.0, 1.0], [0.1, 0.1], seed=3).round(1).tolist()
    [0.5, 0.5]
    """
    means = np.asarray(means, dtype=np.float64)
    standard_errors = np.asarray(standard_errors, dtype=np.float64)
    rng = np.random.default_rng(seed)

    draws = rng.normal(means, standard_errors, size=(n_draws, means.size))
    return _share_of_wins(draws)
