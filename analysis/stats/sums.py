"""Per-arm sufficient statistics (counts, sums, sums of squares) and centred moments from them.

Every statistic in this package starts from sums that one SQL aggregate can produce (``COUNT``,
``SUM(x)``, ``SUM(x * x)``, ``SUM(x * y)``), so DuckDB does the heavy lifting over the event log
and the statistics never see a row. Field names follow the GrowthBook engine's inputs, so a row
of aggregates maps onto a dataclass by keyword.

Fields may be Python floats or numpy arrays of one shape (for example one entry per simulated
experiment or per look); every formula here broadcasts.

Precision
---------
The centred sum of squares ``sum_squares - sum**2 / n`` subtracts two large numbers when the
mean is large compared with the spread, and float64 then keeps few correct digits. Keep the
sums in DOUBLE (or HUGEINT for integer metrics) in SQL. When the spread is tiny compared with
the mean, aggregate ``x - c`` for a constant ``c`` near the mean instead: variances and
covariances do not change under such a shift, only the means, which get ``c`` added back.
:func:`centered_sum_squares` warns with :class:`CancellationWarning` when too few digits survive.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Below this ratio of centred to raw sum of squares, float64 keeps fewer than about eight
# correct digits of the variance (its relative rounding error is about 1e-16 times the ratio's
# inverse, times the number of summed terms).
_CANCELLATION_RATIO = 1e-8


class CancellationWarning(UserWarning):
    """A centred sum of squares lost most of its digits to cancellation."""


@dataclass(frozen=True)
class ProportionSums:
    """A 0/1 metric per unit: ``n`` units, ``sum`` of them equal to 1."""

    n: npt.ArrayLike
    sum: npt.ArrayLike

    @classmethod
    def from_units(cls, converted: npt.ArrayLike) -> ProportionSums:
        """Sums of one 0/1 value per unit."""
        converted = np.asarray(converted, dtype=np.float64)
        return cls(n=converted.size, sum=converted.sum())


@dataclass(frozen=True)
class MeanSums:
    """A numeric metric per unit: ``n`` units, Σx and Σx²."""

    n: npt.ArrayLike
    sum: npt.ArrayLike
    sum_squares: npt.ArrayLike

    @classmethod
    def from_units(cls, values: npt.ArrayLike) -> MeanSums:
        """Sums of one value per unit, as SQL would aggregate them.

        Examples
        --------
        >>> MeanSums.from_units([1.0, 2.0, 4.0])
        MeanSums(n=3, sum=7.0, sum_squares=21.0)
        """
        values = np.asarray(values, dtype=np.float64)
        return cls(n=values.size, sum=float(values.sum()), sum_squares=float(values @ values))


@dataclass(frozen=True)
class RatioSums:
    """A ratio metric Σ M_u / Σ D_u (for example clicks over impressions per user).

    ``m_*`` are the numerator sums, ``d_*`` the denominator sums and ``m_d_sum_of_products``
    is Σ M_u·D_u.
    """

    n: npt.ArrayLike
    m_sum: npt.ArrayLike
    m_sum_squares: npt.ArrayLike
    d_sum: npt.ArrayLike
    d_sum_squares: npt.ArrayLike
    m_d_sum_of_products: npt.ArrayLike

    @classmethod
    def from_units(cls, numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> RatioSums:
        """Sums of one (numerator, denominator) pair per unit."""
        m = np.asarray(numerator, dtype=np.float64)
        d = np.asarray(denominator, dtype=np.float64)
        return cls(
            n=m.size,
            m_sum=float(m.sum()),
            m_sum_squares=float(m @ m),
            d_sum=float(d.sum()),
            d_sum_squares=float(d @ d),
            m_d_sum_of_products=float(m @ d),
        )


@dataclass(frozen=True)
class CupedSums:
    """A numeric metric with its pre-experiment value as covariate (CUPED).

    ``post_*`` are sums of the metric y during the experiment, ``pre_*`` sums of the same
    metric x before it, and ``post_pre_sum_of_products`` is Σ x·y.
    """

    n: npt.ArrayLike
    post_sum: npt.ArrayLike
    post_sum_squares: npt.ArrayLike
    pre_sum: npt.ArrayLike
    pre_sum_squares: npt.ArrayLike
    post_pre_sum_of_products: npt.ArrayLike

    @classmethod
    def from_units(cls, post: npt.ArrayLike, pre: npt.ArrayLike) -> CupedSums:
        """Sums of one (post, pre) pair of values per unit."""
        y = np.asarray(post, dtype=np.float64)
        x = np.asarray(pre, dtype=np.float64)
        return cls(
            n=y.size,
            post_sum=float(y.sum()),
            post_sum_squares=float(y @ y),
            pre_sum=float(x.sum()),
            pre_sum_squares=float(x @ x),
            post_pre_sum_of_products=float(y @ x),
        )


@dataclass(frozen=True)
class RatioCupedSums:
    """A ratio metric with the same ratio before the experiment as covariate.

    Four per-unit variables: numerator and denominator after (``m_post``, ``d_post``) and
    before (``m_pre``, ``d_pre``) the start, with their sums, sums of squares and all six
    sums of cross products.
    """

    n: npt.ArrayLike
    m_post_sum: npt.ArrayLike
    m_post_sum_squares: npt.ArrayLike
    d_post_sum: npt.ArrayLike
    d_post_sum_squares: npt.ArrayLike
    m_pre_sum: npt.ArrayLike
    m_pre_sum_squares: npt.ArrayLike
    d_pre_sum: npt.ArrayLike
    d_pre_sum_squares: npt.ArrayLike
    m_post_m_pre_sum_of_products: npt.ArrayLike
    d_post_d_pre_sum_of_products: npt.ArrayLike
    m_pre_d_pre_sum_of_products: npt.ArrayLike
    m_post_d_post_sum_of_products: npt.ArrayLike
    m_post_d_pre_sum_of_products: npt.ArrayLike
    m_pre_d_post_sum_of_products: npt.ArrayLike

    @classmethod
    def from_units(
        cls,
        m_post: npt.ArrayLike,
        d_post: npt.ArrayLike,
        m_pre: npt.ArrayLike,
        d_pre: npt.ArrayLike,
    ) -> RatioCupedSums:
        """Sums of one (M_post, D_post, M_pre, D_pre) row per unit."""
        columns = {
            name: np.asarray(values, dtype=np.float64)
            for name, values in (
                ("m_post", m_post),
                ("d_post", d_post),
                ("m_pre", m_pre),
                ("d_pre", d_pre),
            )
        }
        fields: dict[str, float] = {"n": columns["m_post"].size}
        for name, values in columns.items():
            fields[f"{name}_sum"] = float(values.sum())
            fields[f"{name}_sum_squares"] = float(values @ values)
        for left, right in (
            ("m_post", "m_pre"),
            ("d_post", "d_pre"),
            ("m_pre", "d_pre"),
            ("m_post", "d_post"),
            ("m_post", "d_pre"),
            ("m_pre", "d_post"),
        ):
            fields[f"{left}_{right}_sum_of_products"] = float(columns[left] @ columns[right])
        return cls(**fields)


def as_float(value: npt.ArrayLike) -> float | np.ndarray:
    """Return a Python float for a scalar and a float64 array otherwise."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


def centered_sum_squares(
    n: npt.ArrayLike, total: npt.ArrayLike, sum_squares: npt.ArrayLike
) -> float | np.ndarray:
    """Centred sum of squares Σ(x - x̄)² from the raw sums.

    Formula: ``Σ(x - x̄)² = Σx² - (Σx)²/n``, in float64.

    Warns with :class:`CancellationWarning` when the result is below 1e-8 of Σx², where float64
    keeps fewer than about eight correct digits; see the module notes for the remedy.

    Parameters
    ----------
    n, total, sum_squares
        Count, Σx and Σx² (scalars or arrays of one shape).

    Examples
    --------
    >>> x = [2.0, 4.0, 9.0]
    >>> centered_sum_squares(3, sum(x), sum(v * v for v in x))
    26.0
    """
    n = np.asarray(n, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    sum_squares = np.asarray(sum_squares, dtype=np.float64)

    centered = sum_squares - total * (total / n)

    lost_digits = (sum_squares > 0) & (np.abs(centered) < _CANCELLATION_RATIO * sum_squares)
    if np.any(lost_digits):
        warnings.warn(
            "sum_squares - sum**2/n cancels to below 1e-8 of sum_squares, so the variance has "
            "few correct digits; aggregate x - c with c near the mean instead of x",
            CancellationWarning,
            stacklevel=2,
        )
    return as_float(centered)


def centered_sum_products(
    n: npt.ArrayLike, sum_x: npt.ArrayLike, sum_y: npt.ArrayLike, sum_xy: npt.ArrayLike
) -> float | np.ndarray:
    """Centred sum of cross products Σ(x - x̄)(y - ȳ) from the raw sums.

    Formula: ``Σ(x - x̄)(y - ȳ) = Σxy - Σx·Σy/n``, in float64.

    Parameters
    ----------
    n, sum_x, sum_y, sum_xy
        Count, Σx, Σy and Σxy (scalars or arrays of one shape).

    Examples
    --------
    >>> centered_sum_products(2, 3.0, 5.0, 1.0 * 2.0 + 2.0 * 3.0)
    0.5
    """
    n = np.asarray(n, dtype=np.float64)
    sum_x = np.asarray(sum_x, dtype=np.float64)
    sum_y = np.asarray(sum_y, dtype=np.float64)
    sum_xy = np.asarray(sum_xy, dtype=np.float64)

    return as_float(sum_xy - sum_x * (sum_y / n))


def sample_variance(
    n: npt.ArrayLike, total: npt.ArrayLike, sum_squares: npt.ArrayLike, ddof: int = 1
) -> float | np.ndarray:
    """Variance of x from its sums, dividing by ``n - ddof``.

    Formula: ``var = (Σx² - (Σx)²/n) / (n - ddof)``; ``ddof=1`` is the sample variance,
    ``ddof=0`` the population variance.

    Parameters
    ----------
    n, total, sum_squares
        Count, Σx and Σx².
    ddof
        Delta degrees of freedom of the divisor.

    Examples
    --------
    >>> sample_variance(4, 10.0, 30.0)
    1.6666666666666667
    """
    n = np.asarray(n, dtype=np.float64)
    return as_float(centered_sum_squares(n, total, sum_squares) / (n - ddof))


def sample_covariance(
    n: npt.ArrayLike, sum_x: npt.ArrayLike, sum_y: npt.ArrayLike, sum_xy: npt.ArrayLike
) -> float | np.ndarray:
    """Sample covariance of x and y from their sums.

    Formula: ``cov = (Σxy - Σx·Σy/n) / (n - 1)``.

    Parameters
    ----------
    n, sum_x, sum_y, sum_xy
        Count, Σx, Σy and Σxy.

    Examples
    --------
    >>> sample_covariance(3, 6.0, 12.0, 1 * 2 + 2 * 4 + 3 * 6)
    2.0
    """
    n = np.asarray(n, dtype=np.float64)
    return as_float(centered_sum_products(n, sum_x, sum_y, sum_xy) / (n - 1))
