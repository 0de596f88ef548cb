"""Multiple-comparison adjustments of p-values: Holm (family-wise error) and Benjamini–Hochberg.

With five arms, every metric gives four treatment-versus-control p-values; reading each at
alpha = 0.05 would flag a null arm far more often than 5% of the time.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt


def _sorted_order(p_values: np.ndarray) -> np.ndarray:
    """Ascending order of the p-values, keeping tied values in their input order."""
    return np.argsort(p_values, kind="stable")


def holm_adjust(p_values: npt.ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values, in the input order.

    Formula, with ``p_(1) ≤ … ≤ p_(m)`` the sorted p-values::

        adj_(i) = min(1, max_{j≤i} (m - j + 1)·p_(j))

    Rejecting where ``adj ≤ alpha`` controls the family-wise error rate at alpha under any
    dependence between the tests. Matches R ``p.adjust(method="holm")``.

    Parameters
    ----------
    p_values
        The family's p-values, in any order.

    Returns
    -------
    Adjusted p-values, in the input order.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03, 0.005]).round(6).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    m = p_values.size
    order = _sorted_order(p_values)

    # Multiply by m, m-1, ..., 1, then carry the running maximum so the order is kept.
    scaled = (m - np.arange(m)) * p_values[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))

    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def benjamini_hochberg_adjust(p_values: npt.ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (q-values), in the input order.

    Formula, with ``p_(1) ≤ … ≤ p_(m)`` the sorted p-values::

        adj_(i) = min(1, min_{j≥i} m·p_(j)/j)

    Rejecting where ``adj ≤ q`` controls the false discovery rate at q for independent or
    positively dependent tests. Matches R ``p.adjust(method="BH")``.

    Parameters
    ----------
    p_values
        The family's p-values, in any order.

    Returns
    -------
    Adjusted p-values, in the input order.

    Examples
    --------
    >>> benjamini_hochberg_adjust([0.01, 0.04, 0.03, 0.005]).round(6).tolist()
    [0.02, 0.04, 0.04, 0.02]
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    m = p_values.size
    order = _sorted_order(p_values)

    # Scale by m/rank, then carry the running minimum down from the largest p-value.
    scaled = m * p_values[order] / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])

    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def adjust_p_values(p_values: npt.ArrayLike, method: Literal["holm", "bh"]) -> np.ndarray:
    """Adjust a family of p-values by ``method``: ``"holm"`` or ``"bh"`` (Benjamini–Hochberg).

    See :func:`holm_adjust` and :func:`benjamini_hochberg_adjust` for the formulas.

    Parameters
    ----------
    p_values
        The family's p-values, in any order.
    method
        ``"holm"`` or ``"bh"``.

    Examples
    --------
    >>> adjust_p_values([0.2, 0.01], "holm").tolist()
    [0.2, 0.02]
    """
    if method == "holm":
        return holm_adjust(p_values)
    if method == "bh":
        return benjamini_hochberg_adjust(p_values)
    raise ValueError(f"unsupported p-value adjustment {method!r}; use 'holm' or 'bh'")
