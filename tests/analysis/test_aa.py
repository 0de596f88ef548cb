"""Simulated A/A experiments: the false-positive rates of the fixed-horizon and sequential tests.

In an A/A experiment both arms are the same, so every "significant" result is a false positive.
This checks the property each method promises, on data shaped like revenue per user (most users
spend nothing, spenders follow a log-normal):

* the fixed-horizon two-sided t-test, read once at the planned size, rejects about alpha of the
  time;
* reading that same test at every look ("peeking") rejects far more often, which is why it
  must not be used that way (and shows this test can fail);
* the confidence sequence and the mSPRT, read at every look, stay at or below alpha.

The experiments are vectorised: each arm is a matrix (experiment × user), and cumulative sums
at the looks feed the statistics as arrays, so 10,000 experiments with 50 looks each take a few
seconds. Run with ``pytest -s`` to see the rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from analysis.stats import (
    MeanSums,
    compare_arms,
    confidence_sequence_test,
    fixed_horizon_test,
    msprt_always_valid_p,
    msprt_log_likelihood_ratio,
    optimal_mixing_variance,
    sample_variance,
)

pytestmark = pytest.mark.slow

SEED = 20240611
N_EXPERIMENTS = 10_000
USERS_PER_ARM = 2_000
LOOK_EVERY = 40  # users per arm between looks: 50 looks per experiment
ALPHA = 0.05
CHUNK = 500  # experiments simulated at once, to bound memory (about 8 MB per matrix)

# Revenue per user: a purchase with this probability, then a log-normal amount.
PURCHASE_PROBABILITY = 0.3
LOG_MEAN, LOG_SD = 0.0, 1.0


@dataclass(frozen=True)
class AaRates:
    """Share of A/A experiments in which each procedure declared a difference."""

    fixed_horizon: float
    naive_peeking: float
    confidence_sequence: float
    msprt: float


def revenue_variance() -> float:
    """Population variance of one user's revenue, known in advance from the simulation design."""
    second_moment = PURCHASE_PROBABILITY * np.exp(2 * LOG_MEAN + 2 * LOG_SD**2)
    first_moment = PURCHASE_PROBABILITY * np.exp(LOG_MEAN + LOG_SD**2 / 2)
    return float(second_moment - first_moment**2)


def arm_sums_at_looks(rng: np.random.Generator, n_experiments: int, looks: np.ndarray) -> MeanSums:
    """Simulate one arm of ``n_experiments`` experiments; sums at each look (experiment × look)."""
    purchased = rng.random((n_experiments, USERS_PER_ARM)) < PURCHASE_PROBABILITY
    revenue = purchased * rng.lognormal(LOG_MEAN, LOG_SD, (n_experiments, USERS_PER_ARM))

    at_look = looks - 1
    return MeanSums(
        n=np.broadcast_to(looks, (n_experiments, looks.size)),
        sum=np.cumsum(revenue, axis=1)[:, at_look],
        sum_squares=np.cumsum(revenue * revenue, axis=1)[:, at_look],
    )


def simulate_aa(seed: int) -> AaRates:
    """Run ``N_EXPERIMENTS`` A/A experiments and count rejections of each procedure."""
    rng = np.random.default_rng(seed)
    looks = np.arange(LOOK_EVERY, USERS_PER_ARM + 1, LOOK_EVERY)

    # The mSPRT's mixing variance is fixed before the data, from the planned size and the
    # metric's known variance, as its guarantee requires.
    tau2 = optimal_mixing_variance(ALPHA, 2 * revenue_variance(), USERS_PER_ARM)

    rejections = dict.fromkeys(("fixed", "naive", "sequence", "msprt"), 0)
    for _ in range(N_EXPERIMENTS // CHUNK):
        a = arm_sums_at_looks(rng, CHUNK, looks)
        b = arm_sums_at_looks(rng, CHUNK, looks)
        effect = compare_arms(a, b, "absolute")

        # Fixed horizon: read once at the last look; naive peeking: reject at any look.
        p_values = np.asarray(fixed_horizon_test(effect, alpha=ALPHA).p_value)
        rejections["fixed"] += int(np.sum(p_values[:, -1] < ALPHA))
        rejections["naive"] += int(np.sum(np.any(p_values < ALPHA, axis=1)))

        # Confidence sequence: reject the first time the interval excludes 0.
        sequence = confidence_sequence_test(effect, alpha=ALPHA, tuning_parameter=2 * USERS_PER_ARM)
        excludes_zero = (np.asarray(sequence.ci_lower) > 0) | (np.asarray(sequence.ci_upper) < 0)
        rejections["sequence"] += int(np.sum(np.any(excludes_zero, axis=1)))

        # mSPRT with the sample variances plugged in; its p-value is a running minimum.
        pair_variance = np.asarray(sample_variance(a.n, a.sum, a.sum_squares)) + np.asarray(
            sample_variance(b.n, b.sum, b.sum_squares)
        )
        log_ratios = msprt_log_likelihood_ratio(a.n, a.sum / a.n, b.sum / b.n, pair_variance, tau2)
        rejections["msprt"] += int(np.sum(msprt_always_valid_p(log_ratios)[:, -1] <= ALPHA))

    return AaRates(
        fixed_horizon=rejections["fixed"] / N_EXPERIMENTS,
        naive_peeking=rejections["naive"] / N_EXPERIMENTS,
        confidence_sequence=rejections["sequence"] / N_EXPERIMENTS,
        msprt=rejections["msprt"] / N_EXPERIMENTS,
    )


@pytest.fixture(scope="module")
def aa_rates() -> AaRates:
    rates = simulate_aa(SEED)
    n_looks = USERS_PER_ARM // LOOK_EVERY
    print(
        f"\nA/A false-positive rates at alpha={ALPHA} ({N_EXPERIMENTS} experiments, "
        f"{USERS_PER_ARM} users per arm, {n_looks} looks, seed {SEED}):\n"
        f"  fixed horizon, one read:        {rates.fixed_horizon:.4f}\n"
        f"  fixed horizon, each look:       {rates.naive_peeking:.4f}\n"
        f"  confidence sequence, each look: {rates.confidence_sequence:.4f}\n"
        f"  mSPRT, each look:               {rates.msprt:.4f}"
    )
    return rates


def test_fixed_horizon_rate_is_nominal(aa_rates: AaRates) -> None:
    """Read once, the two-sided t-test rejects 4% to 6% of A/A experiments (alpha = 5%).

    With 10,000 experiments the rate's standard error is about 0.22 points, so the band is
    more than four standard errors wide on each side.
    """
    assert 0.04 <= aa_rates.fixed_horizon <= 0.06, f"seed {SEED}: {aa_rates}"


def test_naive_peeking_inflates_the_rate(aa_rates: AaRates) -> None:
    """Read at every one of 50 looks, the same t-test rejects well above 6% of A/A experiments."""
    assert aa_rates.naive_peeking > 0.06, f"seed {SEED}: {aa_rates}"


def test_confidence_sequence_holds_under_peeking(aa_rates: AaRates) -> None:
    """The confidence sequence, read at every look, rejects at most 5% of A/A experiments."""
    assert aa_rates.confidence_sequence <= ALPHA, f"seed {SEED}: {aa_rates}"


def test_msprt_holds_under_peeking(aa_rates: AaRates) -> None:
    """The mSPRT's always-valid p-value, read at every look, rejects at most 5% of them."""
    assert aa_rates.msprt <= ALPHA, f"seed {SEED}: {aa_rates}"
