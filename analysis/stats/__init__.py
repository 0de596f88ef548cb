"""Experiment statistics on per-arm sufficient statistics: tests, intervals and adjustments.

Every function takes counts and sums that one SQL aggregate can produce, so the analysis runs in
DuckDB over the event log and only the sums reach Python. Differences are always treatment
(``b``) minus control (``a``); relative effects are fractions of the control mean.

Modules, one concept each:

* :mod:`~analysis.stats.sums`: the per-arm sums and centred moments from them;
* :mod:`~analysis.stats.proportions`: Wilson interval, two-proportion z-test;
* :mod:`~analysis.stats.multiple`: Holm and Benjamini–Hochberg adjustments;
* :mod:`~analysis.stats.srm`: sample ratio mismatch;
* :mod:`~analysis.stats.welch`: Welch t-test from sums;
* :mod:`~analysis.stats.moments`, :mod:`~analysis.stats.effects`, :mod:`~analysis.stats.cuped`:
  effects of proportion, mean, ratio and CUPED metrics (GrowthBook-engine definitions);
* :mod:`~analysis.stats.frequentist`: fixed-horizon t-tests of an effect;
* :mod:`~analysis.stats.sequential`: confidence sequences and the mSPRT, safe under peeking;
* :mod:`~analysis.stats.bayes`: chance to win, risks, probability each arm is best.
"""

from analysis.stats.bayes import (
    ChanceToWinResult,
    EffectPrior,
    beta_probability_b_beats_a,
    normal_chance_to_win,
    posterior_chance_to_win,
    probability_best_beta,
    probability_best_normal,
)
from analysis.stats.cuped import (
    cuped_effect,
    pooled_cuped_theta,
    ratio_cuped_effect,
    ratio_cuped_theta,
)
from analysis.stats.effects import arm_moments, compare_arms, effect_from_moments
from analysis.stats.frequentist import EffectTestResult, fixed_horizon_test
from analysis.stats.moments import (
    ArmMoments,
    EffectMoments,
    mean_moments,
    proportion_moments,
    ratio_moments,
    ratio_variance,
)
from analysis.stats.multiple import adjust_p_values, benjamini_hochberg_adjust, holm_adjust
from analysis.stats.proportions import TwoProportionResult, two_proportion_ztest, wilson_interval
from analysis.stats.sequential import (
    bernoulli_pair_variance,
    confidence_sequence_test,
    msprt_always_valid_p,
    msprt_likelihood_ratio,
    msprt_log_likelihood_ratio,
    optimal_mixing_variance,
)
from analysis.stats.srm import SRM_P_VALUE_THRESHOLD, SrmResult, srm_test
from analysis.stats.sums import (
    CancellationWarning,
    CupedSums,
    MeanSums,
    ProportionSums,
    RatioCupedSums,
    RatioSums,
    centered_sum_products,
    centered_sum_squares,
    sample_covariance,
    sample_variance,
)
from analysis.stats.welch import WelchResult, welch_satterthwaite_df, welch_ttest_from_sums

__all__ = [
    "SRM_P_VALUE_THRESHOLD",
    "ArmMoments",
    "CancellationWarning",
    "ChanceToWinResult",
    "CupedSums",
    "EffectMoments",
    "EffectPrior",
    "EffectTestResult",
    "MeanSums",
    "ProportionSums",
    "RatioCupedSums",
    "RatioSums",
    "SrmResult",
    "TwoProportionResult",
    "WelchResult",
    "adjust_p_values",
    "arm_moments",
    "benjamini_hochberg_adjust",
    "bernoulli_pair_variance",
    "beta_probability_b_beats_a",
    "centered_sum_products",
    "centered_sum_squares",
    "compare_arms",
    "confidence_sequence_test",
    "cuped_effect",
    "effect_from_moments",
    "fixed_horizon_test",
    "holm_adjust",
    "mean_moments",
    "msprt_always_valid_p",
    "msprt_likelihood_ratio",
    "msprt_log_likelihood_ratio",
    "normal_chance_to_win",
    "optimal_mixing_variance",
    "pooled_cuped_theta",
    "posterior_chance_to_win",
    "probability_best_beta",
    "probability_best_normal",
    "proportion_moments",
    "ratio_cuped_effect",
    "ratio_cuped_theta",
    "ratio_moments",
    "ratio_variance",
    "sample_covariance",
    "sample_variance",
    "srm_test",
    "two_proportion_ztest",
    "welch_satterthwaite_df",
    "welch_ttest_from_sums",
    "wilson_interval",
]
