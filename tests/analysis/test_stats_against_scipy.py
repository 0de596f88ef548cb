"""The statistics from sums agree with scipy and numpy run on the raw data they summarise.

Each test draws small seeded data, feeds its sums to ``analysis.stats`` and compares with an
independent computation: scipy's own test on the rows, numpy moments, numerical integration, a
bootstrap or a Monte-Carlo estimate. Seeds are module constants and appear in failure messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, stats

from analysis.stats import (
    CancellationWarning,
    CupedSums,
    EffectPrior,
    MeanSums,
    ProportionSums,
    RatioCupedSums,
    RatioSums,
    benjamini_hochberg_adjust,
    beta_probability_b_beats_a,
    compare_arms,
    confidence_sequence_test,
    cuped_effect,
    fixed_horizon_test,
    holm_adjust,
    mean_moments,
    msprt_always_valid_p,
    msprt_likelihood_ratio,
    normal_chance_to_win,
    pooled_cuped_theta,
    probability_best_beta,
    probability_best_normal,
    ratio_moments,
    sample_covariance,
    sample_variance,
    srm_test,
    two_proportion_ztest,
    welch_ttest_from_sums,
    wilson_interval,
)
from analysis.stats.bayes import _quadrature_b_beats_a

SEED = 7


def clicks_and_impressions(rng: np.random.Generator, n_users: int) -> tuple[np.ndarray, ...]:
    """Per-user impressions and clicks, with a click rate that differs between users."""
    impressions = rng.poisson(10, n_users) + 1
    click_rate = rng.beta(2, 30, n_users)
    return rng.binomial(impressions, click_rate).astype(float), impressions.astype(float)


# Moments from sums.


def test_moments_from_sums_match_numpy() -> None:
    rng = np.random.default_rng(SEED)
    x, y = rng.normal(5, 2, 300), rng.exponential(3, 300)

    moments = mean_moments(MeanSums.from_units(x))
    assert moments.mean == pytest.approx(x.mean(), rel=1e-12)
    assert moments.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
    assert sample_variance(x.size, x.sum(), (x * x).sum(), ddof=0) == pytest.approx(x.var())
    covariance = sample_covariance(x.size, x.sum(), y.sum(), (x * y).sum())
    assert covariance == pytest.approx(np.cov(x, y)[0, 1], rel=1e-10)


def test_cancellation_warns_and_shifting_the_data_fixes_it() -> None:
    """A huge mean with a tiny spread wrecks Σx² - (Σx)²/n; summing x - c restores it."""
    rng = np.random.default_rng(SEED)
    x = 1e9 + rng.normal(0, 1e-3, 1000)

    with pytest.warns(CancellationWarning):
        sample_variance(x.size, x.sum(), (x * x).sum())

    shifted = x - 1e9
    with warnings.catch_warnings():
        warnings.simplefilter("error", CancellationWarning)
        variance = sample_variance(shifted.size, shifted.sum(), (shifted * shifted).sum())
    assert variance == pytest.approx(np.var(x, ddof=1), rel=1e-4)


# Tests on proportions and counts.


@pytest.mark.parametrize(("x", "n"), [(0, 30), (4, 20), (18, 20), (30, 30), (586, 19892)])
def test_wilson_interval_matches_scipy(x: int, n: int) -> None:
    expected = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    lower, upper = wilson_interval(x, n, confidence=0.95)
    assert (lower, upper) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_two_proportion_z_squared_is_pearson_chi2_without_yates() -> None:
    x_a, n_a, x_b, n_b = 586, 19892, 661, 20091
    table = np.array([[x_a, n_a - x_a], [x_b, n_b - x_b]])
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)

    result = two_proportion_ztest(x_a, n_a, x_b, n_b)
    assert result.z**2 == pytest.approx(chi2, rel=1e-10)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


def test_srm_matches_scipy_chisquare_and_drops_zero_weight_arms() -> None:
    counts, weights = [1000, 1100, 950], [0.3, 0.4, 0.3]
    expected_counts = np.array(weights) / sum(weights) * sum(counts)
    reference = stats.chisquare(counts, expected_counts)

    result = srm_test(counts, weights)
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert srm_test(counts + [5000], weights + [0]) == result
    assert srm_test(counts + [5000], weights) == result


def test_welch_from_sums_matches_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(SEED)
    a, b = rng.lognormal(0, 1, 40), rng.lognormal(0.3, 1.5, 55)
    reference = stats.ttest_ind(b, a, equal_var=False)
    interval = reference.confidence_interval(0.9)

    result = welch_ttest_from_sums(MeanSums.from_units(a), MeanSums.from_units(b), confidence=0.9)
    assert result.t == pytest.approx(reference.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-10)
    assert (result.ci_lower, result.ci_upper) == pytest.approx(
        (interval.low, interval.high), rel=1e-9
    )


def stacked_sums(samples: list[np.ndarray]) -> MeanSums:
    """Sums of several samples at once, as arrays with one entry per sample."""
    return MeanSums(
        n=np.array([s.size for s in samples]),
        sum=np.array([s.sum() for s in samples]),
        sum_squares=np.array([(s * s).sum() for s in samples]),
    )


def test_welch_on_arrays_equals_one_call_per_element() -> None:
    rng = np.random.default_rng(SEED)
    controls = [rng.normal(0, 1, 20 + k) for k in range(4)]
    treatments = [rng.normal(0.2, 2, 30 + k) for k in range(4)]

    vectorised = welch_ttest_from_sums(stacked_sums(controls), stacked_sums(treatments))
    for index, (x, y) in enumerate(zip(controls, treatments, strict=True)):
        single = welch_ttest_from_sums(MeanSums.from_units(x), MeanSums.from_units(y))
        assert vectorised.p_value[index] == pytest.approx(single.p_value, rel=1e-12)


# Multiple comparisons.


def holm_by_definition(p_values: np.ndarray) -> np.ndarray:
    """Holm's adjusted p-values straight from the definition, one loop per hypothesis."""
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    for rank, index in enumerate(order):
        steps = [(m - j) * p_values[order[j]] for j in range(rank + 1)]
        adjusted[index] = min(1.0, max(steps))
    return adjusted


def test_holm_and_bh_match_their_definitions_and_scipy() -> None:
    rng = np.random.default_rng(SEED)
    p_values = np.round(rng.uniform(0, 0.2, 12), 3)  # rounding leaves ties

    assert holm_adjust(p_values) == pytest.approx(holm_by_definition(p_values), rel=1e-12)
    expected_bh = stats.false_discovery_control(p_values, method="bh")
    assert benjamini_hochberg_adjust(p_values) == pytest.approx(expected_bh, rel=1e-12)


# Effects: delta method and CUPED.


def test_delta_method_ratio_variance_matches_a_bootstrap() -> None:
    """The delta-method variance of a per-user CTR agrees with a 4,000-draw bootstrap to 10%."""
    rng = np.random.default_rng(SEED)
    clicks, impressions = clicks_and_impressions(rng, 2000)
    moments = ratio_moments(RatioSums.from_units(clicks, impressions))

    # Resample users with replacement: each row of weights is one bootstrap sample.
    weights = rng.multinomial(clicks.size, np.full(clicks.size, 1 / clicks.size), size=4000)
    bootstrap_ratios = (weights @ clicks) / (weights @ impressions)

    assert moments.mean == pytest.approx(clicks.sum() / impressions.sum())
    assert moments.variance / clicks.size == pytest.approx(bootstrap_ratios.var(), rel=0.1), (
        f"seed {SEED}"
    )


def test_cuped_matches_regression_on_raw_data() -> None:
    """θ is the pooled OLS slope, and the adjusted effect is the mean difference of y - θx."""
    rng = np.random.default_rng(SEED)
    pre_a, pre_b = rng.gamma(2, 2, 400), rng.gamma(2, 2, 450)
    post_a = 0.8 * pre_a + rng.normal(0, 1, 400)
    post_b = 0.8 * pre_b + 0.3 + rng.normal(0, 1, 450)
    a, b = CupedSums.from_units(post_a, pre_a), CupedSums.from_units(post_b, pre_b)

    slope = np.polyfit(np.concatenate([pre_a, pre_b]), np.concatenate([post_a, post_b]), 1)[0]
    theta = pooled_cuped_theta(a, b)
    assert theta == pytest.approx(slope, rel=1e-9)

    adjusted_a, adjusted_b = post_a - theta * pre_a, post_b - theta * pre_b
    effect = cuped_effect(a, b, "absolute")
    expected_variance = adjusted_a.var(ddof=1) / 400 + adjusted_b.var(ddof=1) / 450
    assert effect.estimate == pytest.approx(adjusted_b.mean() - adjusted_a.mean(), rel=1e-9)
    assert effect.se == pytest.approx(np.sqrt(expected_variance), rel=1e-9)

    plain = compare_arms(MeanSums.from_units(post_a), MeanSums.from_units(post_b), "absolute")
    assert effect.se < 0.7 * plain.se


def test_ratio_cuped_shrinks_the_standard_error_with_an_informative_pre_period() -> None:
    rng = np.random.default_rng(SEED)
    arms = []
    for _ in range(2):
        clicks_pre, impressions_pre = clicks_and_impressions(rng, 1500)
        # The post period repeats each user's habits with some noise.
        impressions_post = impressions_pre + rng.poisson(2, 1500)
        clicks_post = np.minimum(impressions_post, clicks_pre + rng.poisson(0.3, 1500))
        arms.append((clicks_post, impressions_post, clicks_pre, impressions_pre))

    adjusted = compare_arms(
        RatioCupedSums.from_units(*arms[0]), RatioCupedSums.from_units(*arms[1]), "relative"
    )
    plain_a, plain_b = (RatioSums.from_units(arm[0], arm[1]) for arm in arms)
    plain = compare_arms(plain_a, plain_b, "relative")
    assert adjusted.se < plain.se, f"seed {SEED}"


# Fixed-horizon and sequential tests.


def test_one_sided_p_values_split_the_two_sided_one() -> None:
    effect = compare_arms(ProportionSums(1000, 100), ProportionSums(1000, 125), "absolute")
    greater = fixed_horizon_test(effect, alternative="one_sided_greater").p_value
    lesser = fixed_horizon_test(effect, alternative="one_sided_lesser").p_value
    two_sided = fixed_horizon_test(effect).p_value

    assert greater + lesser == pytest.approx(1.0, rel=1e-12)
    assert two_sided == pytest.approx(2 * min(greater, lesser), rel=1e-12)


@pytest.mark.parametrize("n_per_arm", [200, 2000, 20000])
def test_confidence_sequence_is_wider_and_agrees_with_its_p_value(n_per_arm: int) -> None:
    """The sequence is wider than the fixed interval; it excludes 0 exactly when p ≤ alpha."""
    for successes_b in range(n_per_arm // 10, n_per_arm // 5, max(1, n_per_arm // 200)):
        effect = compare_arms(
            ProportionSums(n_per_arm, n_per_arm // 10),
            ProportionSums(n_per_arm, successes_b),
            "absolute",
        )
        fixed = fixed_horizon_test(effect)
        sequence = confidence_sequence_test(effect, tuning_parameter=5000)

        assert sequence.ci_lower < fixed.ci_lower and sequence.ci_upper > fixed.ci_upper
        excludes_zero = sequence.ci_lower > 0 or sequence.ci_upper < 0
        assert excludes_zero == (sequence.p_value <= 0.05)


def test_msprt_likelihood_ratio_matches_numerical_integration() -> None:
    """Λ_n = ∫ N(Δ̄; θ, V/n)·N(θ; θ0, τ²) dθ / N(Δ̄; θ0, V/n)."""
    n, mean_a, mean_b, pair_variance, tau2, theta0 = 400, 1.0, 1.13, 2.5, 0.05, 0.02
    delta, sd = mean_b - mean_a, np.sqrt(pair_variance / n)

    def integrand(theta: float) -> float:
        return stats.norm.pdf(delta, theta, sd) * stats.norm.pdf(theta, theta0, np.sqrt(tau2))

    mixture, _ = integrate.quad(integrand, -5, 5, points=[delta, theta0], epsabs=1e-14)
    expected = mixture / stats.norm.pdf(delta, theta0, sd)

    actual = msprt_likelihood_ratio(n, mean_a, mean_b, pair_variance, tau2, theta0)
    assert actual == pytest.approx(expected, rel=1e-8)


def test_always_valid_p_never_rises() -> None:
    rng = np.random.default_rng(SEED)
    p_values = msprt_always_valid_p(rng.normal(0, 2, (50, 30)))
    assert np.all(np.diff(p_values, axis=1) <= 0)
    assert np.all((p_values > 0) & (p_values <= 1))


# Bayesian readings.


def test_normal_risks_match_numerical_expectations() -> None:
    effect = compare_arms(ProportionSums(5000, 500), ProportionSums(5000, 530), "relative")
    result = normal_chance_to_win(effect)
    mu, sigma = result.post_mean, result.post_sd

    def expected_loss(sign: float) -> float:
        value, _ = integrate.quad(
            lambda d: max(sign * d, 0.0) * stats.norm.pdf(d, mu, sigma),
            mu - 12 * sigma,
            mu + 12 * sigma,
            points=[0.0],
        )
        return value

    assert result.chance_to_win == pytest.approx(stats.norm.sf(0, mu, sigma), rel=1e-12)
    assert result.risk_control == pytest.approx(expected_loss(1.0), rel=1e-7)
    assert result.risk_treatment == pytest.approx(expected_loss(-1.0), rel=1e-7)


def test_vague_proper_prior_is_close_to_the_flat_prior() -> None:
    effect = compare_arms(MeanSums(500, 1000.0, 9000.0), MeanSums(500, 1100.0, 10000.0), "absolute")
    flat = normal_chance_to_win(effect)
    vague = normal_chance_to_win(effect, prior=EffectPrior(mean=0.0, variance=1e6, proper=True))
    assert vague.chance_to_win == pytest.approx(flat.chance_to_win, rel=1e-6)


@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b"), [(20, 200, 30, 210), (586, 19892, 534, 19948), (3, 9, 0, 4)]
)
def test_beta_closed_form_matches_quadrature_and_is_complementary(
    x_a: int, n_a: int, x_b: int, n_b: int
) -> None:
    closed_form = beta_probability_b_beats_a(x_a, n_a, x_b, n_b)
    by_quadrature = _quadrature_b_beats_a(1 + x_a, 1 + n_a - x_a, 1 + x_b, 1 + n_b - x_b)
    reversed_roles = beta_probability_b_beats_a(x_b, n_b, x_a, n_a)

    assert closed_form == pytest.approx(by_quadrature, rel=1e-8)
    assert closed_form + reversed_roles == pytest.approx(1.0, abs=1e-12)


def test_beta_with_a_fractional_prior_matches_monte_carlo() -> None:
    rng = np.random.default_rng(SEED)
    draws = 400_000
    p_a = rng.beta(0.5 + 40, 0.5 + 360, draws)
    p_b = rng.beta(0.5 + 52, 0.5 + 348, draws)
    monte_carlo = np.mean(p_b > p_a)

    exact = beta_probability_b_beats_a(40, 400, 52, 400, prior_alpha=0.5, prior_beta=0.5)
    assert exact == pytest.approx(monte_carlo, abs=4 * np.sqrt(0.25 / draws)), f"seed {SEED}"


def test_probability_best_is_seeded_sums_to_one_and_matches_two_arm_closed_form() -> None:
    successes, trials = [586, 622], [19892, 19954]
    probabilities = probability_best_beta(successes, trials, n_draws=200_000, seed=SEED)

    assert probabilities.sum() == pytest.approx(1.0)
    assert np.array_equal(
        probabilities, probability_best_beta(successes, trials, 1, 1, 200_000, SEED)
    )
    exact = beta_probability_b_beats_a(586, 19892, 622, 19954)
    assert probabilities[1] == pytest.approx(exact, abs=4 * np.sqrt(0.25 / 200_000))


def test_probability_best_normal_two_arms_matches_phi() -> None:
    means, errors = np.array([1.0, 1.05]), np.array([0.03, 0.04])
    probabilities = probability_best_normal(means, errors, n_draws=200_000, seed=SEED)
    exact = stats.norm.cdf((means[1] - means[0]) / np.hypot(*errors))
    assert probabilities[1] == pytest.approx(exact, abs=4 * np.sqrt(0.25 / 200_000))
