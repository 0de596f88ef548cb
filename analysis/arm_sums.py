"""The per-arm rows of ``analysis/queries/arm_sums.sql`` as the sums of :mod:`analysis.stats`.

Each row holds one arm's counts, sums, sums of squares and cross-products of per-user
metrics; these helpers pick the fields one metric needs. An arm or a field missing from the
rows counts as 0, so an arm without users gives NaN statistics rather than an error.
"""

from __future__ import annotations

from collections.abc import Mapping

from analysis.stats import CupedSums, MeanSums, ProportionSums, RatioSums

#: Rows of ``arm_sums.sql`` keyed by arm.
ArmRows = Mapping[str, Mapping[str, object]]

NAN = float("nan")


def arm_sum(sums: ArmRows, arm: str, name: str) -> float:
    """One sum of one arm; 0 for an arm or a sum the log does not have."""
    value = sums.get(arm, {}).get(name)
    return 0.0 if value is None else float(value)  # type: ignore[arg-type]


def proportion_sums(sums: ArmRows, arm: str) -> ProportionSums:
    """Purchasers among users, for conversion."""
    return ProportionSums(n=arm_sum(sums, arm, "users"), sum=arm_sum(sums, arm, "purchasers"))


def ratio_sums(sums: ArmRows, arm: str) -> RatioSums:
    """Slate clicks over slate impressions per user, for CTR."""
    return RatioSums(
        n=arm_sum(sums, arm, "users"),
        m_sum=arm_sum(sums, arm, "clicks"),
        m_sum_squares=arm_sum(sums, arm, "clicks_sumsq"),
        d_sum=arm_sum(sums, arm, "impressions"),
        d_sum_squares=arm_sum(sums, arm, "impressions_sumsq"),
        m_d_sum_of_products=arm_sum(sums, arm, "clicks_x_impressions"),
    )


def mean_sums(sums: ArmRows, arm: str) -> MeanSums:
    """Revenue per user."""
    return MeanSums(
        n=arm_sum(sums, arm, "users"),
        sum=arm_sum(sums, arm, "revenue_sum"),
        sum_squares=arm_sum(sums, arm, "revenue_sumsq"),
    )


def cuped_sums(sums: ArmRows, arm: str) -> CupedSums:
    """Revenue per user with the pre-exposure events as covariate."""
    return CupedSums(
        n=arm_sum(sums, arm, "users"),
        post_sum=arm_sum(sums, arm, "revenue_sum"),
        post_sum_squares=arm_sum(sums, arm, "revenue_sumsq"),
        pre_sum=arm_sum(sums, arm, "pre_exposure_events_sum"),
        pre_sum_squares=arm_sum(sums, arm, "pre_exposure_events_sumsq"),
        post_pre_sum_of_products=arm_sum(sums, arm, "revenue_x_pre_exposure_events"),
    )


def safe_ratio(numerator: object, denominator: object) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    numerator, denominator = float(numerator), float(denominator)  # type: ignore[arg-type]
    return numerator / denominator if denominator else NAN
