"""Sample ratio mismatch (SRM): a χ² test of the observed split of units against the intended one.

An SRM means assignment or logging is broken (for example one arm's exposures are dropped), and
then no effect estimate of that experiment can be trusted. The convention follows GrowthBook:
arms with an intended weight of zero (switched off) take no part in the test.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

logger = logging.getLogger(__name__)

# GrowthBook's default: flag a mismatch only at very strong evidence, because the check runs on
# every experiment at every refresh and a false alarm stops a healthy experiment.
SRM_P_VALUE_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """Outcome of :func:`srm_test`; ``chi2`` and ``df`` are None when the test is skipped."""

    chi2: float | None
    df: int | None
    p_value: float

    def is_mismatch(self, threshold: float = SRM_P_VALUE_THRESHOLD) -> bool:
        """Whether the split is implausible under the intended weights (``p_value < threshold``)."""
        return self.p_value < threshold


def srm_test(counts: Sequence[float], weights: Sequence[float | None]) -> SrmResult:
    """χ² goodness-of-fit test of unit counts per arm against the intended weights.

    Arms whose weight is 0, negative or missing (None, NaN, or past the end of ``weights``)
    are dropped first. If fewer than
    two arms remain, or their counts sum to 0, the test is skipped: ``p_value = 1`` and
    ``chi2 = df = None``. Otherwise, over the k remaining arms::

        E_i  = w_i / Σw · Σ counts
        chi2 = Σ (O_i - E_i)² / E_i,   df = k - 1,   p_value = P(χ²_df > chi2)

    Parameters
    ----------
    counts
        Randomization units (users) per arm.
    weights
        Intended share of each arm, on any scale.

    Examples
    --------
    >>> result = srm_test([821588, 815482], [0.5, 0.5])
    >>> round(result.chi2, 4), result.df, result.is_mismatch()
    (22.7744, 1, True)
    >>> srm_test([1000, 900], [1, 0])
    SrmResult(chi2=None, df=None, p_value=1.0)
    """
    if len(weights) > len(counts):
        raise ValueError("more weights than arms: give one weight per entry of counts")

    # An arm past the end of weights has no intended share, like a None weight.
    padded = list(weights) + [None] * (len(counts) - len(weights))
    weight_array = np.array([np.nan if w is None else w for w in padded], dtype=np.float64)
    active = np.isfinite(weight_array) & (weight_array > 0)
    observed = np.asarray(counts, dtype=np.float64)[active]
    active_weights = weight_array[active]

    if observed.size < 2 or observed.sum() == 0:
        logger.debug("srm_skipped n_active_arms=%d n_units=%s", observed.size, observed.sum())
        return SrmResult(chi2=None, df=None, p_value=1.0)

    expected = active_weights / active_weights.sum() * observed.sum()
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    df = int(observed.size - 1)

    return SrmResult(chi2=chi2, df=df, p_value=float(stats.chi2.sf(chi2, df)))
