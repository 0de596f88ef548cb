"""The per-arm report: volumes, CTR, conversion, revenue per user, lift captured and the SRM check.

DuckDB computes the sufficient statistics per arm (``analysis/queries/*.sql`` over the views of
:mod:`analysis.views`); the statistics here work from those sums alone. The user is the unit
of randomisation, so every interval treats users, not events, as independent.
"""

from __future__ import annotations

import logging
import math
import os
from importlib import resources

import duckdb
from scipy import stats

from analysis.stats import (
    MeanSums,
    RatioSums,
    SrmResult,
    mean_moments,
    ratio_moments,
    srm_test,
    wilson_interval,
)
from analysis.views import connect
from stream.assignment import Experiment
from stream.topics import TOPICS, Topics

logger = logging.getLogger(__name__)

NAN = float("nan")

# The plain counts of each arm, copied from the sums query into the table.
_COUNTS = (
    "users",
    "requests",
    "impressions",
    "clicks",
    "add_to_carts",
    "purchases",
    "purchasers",
    "revenue",
)


def load_query(name: str) -> str:
    """The text of ``analysis/queries/<name>.sql``."""
    return (resources.files("analysis") / "queries" / f"{name}.sql").read_text()


def query_rows(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, object]]:
    """Run a stored query and return its rows as dicts keyed by column name."""
    cursor = con.execute(load_query(name))
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def arm_table(
    con: duckdb.DuckDBPyConnection, experiment: Experiment, confidence: float = 0.95
) -> list[dict[str, object]]:
    """One row per arm: volumes, rates with ``confidence`` intervals, lift captured and SRM.

    Arms come in the experiment's order, then any arm found in the log but not in the
    experiment. Values that cannot be computed (no users, one user, no impressions) are NaN.

    Keys of each row
    ----------------
    ``arm``, ``expected_share``, ``observed_share``, ``users``, ``requests``, ``impressions``,
    ``clicks``, ``add_to_carts``, ``purchases``, ``purchasers``, ``revenue``;
    ``ctr``, ``conversion``, ``revenue_per_user``, ``lift_captured``, each with ``_low`` and
    ``_high`` interval bounds; ``n_references``, ``mean_served_value``, ``mean_random_value``,
    ``mean_oracle_value``; and the experiment-wide SRM result repeated on every row:
    ``srm_chi2``, ``srm_df``, ``srm_p_value``, ``srm_mismatch``.

    Formulas
    --------
    CTR, clicks per impression with users as units, by the delta method: with per-user clicks
    M and impressions D, ``v = var_M/μ_D² + var_D·μ_M²/μ_D⁴ - 2·cov_MD·μ_M/μ_D³`` and
    ``ctr ± z·sqrt(v/n)``. Conversion, purchasers over users: Wilson score interval.
    Revenue per user: ``mean ± t_{n-1}·s/sqrt(n)``. Lift captured,
    ``(mean served - mean random) / (mean oracle - mean random)``: the same delta method with
    per-user gain (served - random) over headroom (oracle - random). SRM: χ² goodness of fit
    of users per arm against ``experiment.shares()``, ``p = chi2.sf(χ², k - 1)``.
    """
    sums = {row["arm"]: row for row in query_rows(con, "arm_sums")}
    references = {row["arm"]: row for row in query_rows(con, "reference_sums")}
    _warn_about_users_in_several_arms(con)

    shares = experiment.shares()
    extra_arms = sorted((set(sums) | set(references)) - set(experiment.arms))
    arms = [*experiment.arms, *extra_arms]

    users = [float(sums.get(arm, {}).get("users", 0)) for arm in arms]
    srm = srm_test(users, [shares.get(arm) for arm in arms])
    total_users = sum(users)

    rows = []
    for arm in arms:
        row: dict[str, object] = {"arm": arm, "expected_share": shares.get(arm, NAN)}
        row |= _volume_metrics(sums.get(arm), total_users, confidence)
        row |= _lift_metrics(references.get(arm), confidence)
        row |= _srm_fields(srm)
        rows.append(row)
    return rows


def _volume_metrics(
    sums: dict[str, object] | None, total_users: float, confidence: float
) -> dict[str, object]:
    """Counts, CTR, conversion and revenue per user of one arm, from its sums."""
    sums = sums or {}
    count = {key: sums.get(key) or 0 for key in _COUNTS}
    n = float(count["users"])
    row: dict[str, object] = {**count, "observed_share": n / total_users if total_users else NAN}

    ctr = _ratio_interval(
        n,
        sums.get("clicks"),
        sums.get("clicks_sumsq"),
        sums.get("impressions"),
        sums.get("impressions_sumsq"),
        sums.get("clicks_x_impressions"),
        confidence,
    )
    row |= _named("ctr", ctr)

    conversion = (NAN, NAN, NAN)
    if n > 0:
        low, high = wilson_interval(count["purchasers"], n, confidence)
        conversion = (count["purchasers"] / n, float(low), float(high))
    row |= _named("conversion", conversion)

    row |= _named(
        "revenue_per_user",
        _mean_interval(n, sums.get("revenue_sum"), sums.get("revenue_sumsq"), confidence),
    )
    return row


def _lift_metrics(references: dict[str, object] | None, confidence: float) -> dict[str, object]:
    """Mean served, random and oracle values of one arm and its lift captured."""
    if not references:
        return {
            "n_references": 0,
            "mean_served_value": NAN,
            "mean_random_value": NAN,
            "mean_oracle_value": NAN,
            **_named("lift_captured", (NAN, NAN, NAN)),
        }

    n_references = float(references["n_references"])
    lift = _ratio_interval(
        float(references["users"]),
        references["gain_sum"],
        references["gain_sumsq"],
        references["headroom_sum"],
        references["headroom_sumsq"],
        references["gain_x_headroom"],
        confidence,
    )
    return {
        "n_references": int(n_references),
        "mean_served_value": float(references["served_sum"]) / n_references,
        "mean_random_value": float(references["random_sum"]) / n_references,
        "mean_oracle_value": float(references["oracle_sum"]) / n_references,
        **_named("lift_captured", lift),
    }


def _ratio_interval(
    n: float,
    m_sum: object,
    m_sumsq: object,
    d_sum: object,
    d_sumsq: object,
    m_x_d: object,
    confidence: float,
) -> tuple[float, float, float]:
    """Σ M / Σ D over ``n`` units with its delta-method normal interval; NaN where undefined."""
    if n < 1 or not d_sum:
        return NAN, NAN, NAN
    estimate = float(m_sum) / float(d_sum)
    if n < 2:
        return estimate, NAN, NAN

    moments = ratio_moments(
        RatioSums(
            n=n,
            m_sum=m_sum,
            m_sum_squares=m_sumsq,
            d_sum=d_sum,
            d_sum_squares=d_sumsq,
            m_d_sum_of_products=m_x_d,
        )
    )
    half = _z(confidence) * math.sqrt(max(float(moments.variance), 0.0) / n)
    return estimate, estimate - half, estimate + half


def _mean_interval(
    n: float, total: object, sum_squares: object, confidence: float
) -> tuple[float, float, float]:
    """Mean over ``n`` units with its t interval; NaN where undefined."""
    if n < 1:
        return NAN, NAN, NAN
    if n < 2:
        return float(total or 0) / n, NAN, NAN

    moments = mean_moments(MeanSums(n=n, sum=total, sum_squares=sum_squares))
    mean = float(moments.mean)
    t = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1))
    half = t * math.sqrt(max(float(moments.variance), 0.0) / n)
    return mean, mean - half, mean + half


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def _named(name: str, estimate: tuple[float, float, float]) -> dict[str, float]:
    value, low, high = estimate
    return {name: value, f"{name}_low": low, f"{name}_high": high}


def _srm_fields(srm: SrmResult) -> dict[str, object]:
    return {
        "srm_chi2": srm.chi2,
        "srm_df": srm.df,
        "srm_p_value": srm.p_value,
        "srm_mismatch": srm.is_mismatch(),
    }


def _warn_about_users_in_several_arms(con: duckdb.DuckDBPyConnection) -> None:
    conflicts = query_rows(con, "user_arm_conflicts")
    if conflicts:
        logger.warning(
            "users_in_several_arms n_users=%d first_user_id=%s arms=%s",
            len(conflicts),
            conflicts[0]["user_id"],
            conflicts[0]["arms"],
        )


def run_sql(
    log_dir: str | os.PathLike[str], query: str, topics: Topics = TOPICS
) -> tuple[list[str], list[tuple]]:
    """Run one SQL statement over the event-log views; returns column names and rows.

    Examples
    --------
    >>> import tempfile
    >>> run_sql(tempfile.mkdtemp(), "SELECT count(*) AS n FROM user_arm")
    (['n'], [(0,)])
    """
    con = connect(log_dir, topics)
    try:
        cursor = con.execute(query)
        if cursor.description is None:
            return [], []
        return [column[0] for column in cursor.description], cursor.fetchall()
    finally:
        con.close()
