"""One treatment arm against the control on one metric: fixed-horizon and sequential results.

:class:`ArmEffect` carries the absolute and relative effect with fixed-horizon intervals and
p-value, the confidence-sequence intervals and always-valid p-value of the same effects, and
the Holm adjustment of both p-values within the metric's family of arms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from analysis.stats import (
    CupedSums,
    MeanSums,
    ProportionSums,
    RatioSums,
    compare_arms,
    confidence_sequence_test,
    fixed_horizon_test,
    holm_adjust,
)

NAN = float("nan")


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval; every field is NaN where it is undefined."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ArmEffect:
    """One treatment arm against the control on one metric.

    Attributes
    ----------
    metric, arm, control
        What is compared.
    control_value, arm_value
        The metric in each arm (for CUPED, the unadjusted means).
    absolute, relative
        Fixed-horizon effect with its ``1 - alpha`` interval: ``m_b - m_a`` and
        ``(m_b - m_a)/|m_a|``.
    p_value, p_value_holm
        Fixed-horizon two-sided p-value, and Holm-adjusted within the metric's family.
    sequential_absolute, sequential_relative
        The same effects with confidence-sequence intervals, valid at every look.
    sequential_p_value, sequential_p_value_holm
        Always-valid p-value of the confidence sequence (absolute effect), raw and Holm-adjusted.
    test
        Name of the fixed-horizon test behind ``p_value``.
    trustworthy
        False when the experiment failed its SRM check.
    """

    metric: str
    arm: str
    control: str
    control_value: float
    arm_value: float
    absolute: Interval
    relative: Interval
    p_value: float
    sequential_absolute: Interval
    sequential_relative: Interval
    sequential_p_value: float
    test: str
    p_value_holm: float = NAN
    sequential_p_value_holm: float = NAN
    trustworthy: bool = True


def interval(estimate: object, lower: object, upper: object) -> Interval:
    """An :class:`Interval` of plain floats from numpy scalars."""
    return Interval(float(estimate), float(lower), float(upper))  # type: ignore[arg-type]


def measure_effect(
    a: ProportionSums | RatioSums | MeanSums | CupedSums,
    b: ProportionSums | RatioSums | MeanSums | CupedSums,
    *,
    metric: str,
    arm: str,
    control: str,
    values: tuple[float, float],
    alpha: float,
    tuning: float,
    trustworthy: bool,
) -> ArmEffect:
    """Fixed-horizon and sequential effects of arm b over control a, from their sums.

    Both effects come from :func:`~analysis.stats.compare_arms` (absolute and relative), read
    by :func:`~analysis.stats.fixed_horizon_test` (t interval, Welch–Satterthwaite df) and by
    :func:`~analysis.stats.confidence_sequence_test` with tuning parameter ``tuning``. The
    p-values are those of the absolute effect. Callers with a dedicated test (z-test, Welch)
    replace ``absolute`` and ``p_value`` with its results.

    ``values`` are the metric in the control and in the treatment arm, for display.
    """
    readings: dict[str, Interval] = {}
    p_values: dict[str, float] = {}
    for kind in ("absolute", "relative"):
        effect = compare_arms(a, b, kind)
        fixed = fixed_horizon_test(effect, alpha=alpha)
        sequential = confidence_sequence_test(effect, alpha=alpha, tuning_parameter=tuning)
        readings[kind] = interval(effect.estimate, fixed.ci_lower, fixed.ci_upper)
        readings[f"sequential_{kind}"] = interval(
            effect.estimate, sequential.ci_lower, sequential.ci_upper
        )
        p_values[kind] = float(fixed.p_value)  # type: ignore[arg-type]
        p_values[f"sequential_{kind}"] = float(sequential.p_value)  # type: ignore[arg-type]

    return ArmEffect(
        metric=metric,
        arm=arm,
        control=control,
        control_value=values[0],
        arm_value=values[1],
        p_value=p_values["absolute"],
        sequential_p_value=p_values["sequential_absolute"],
        test="t-test (Welch–Satterthwaite df)",
        trustworthy=trustworthy,
        **readings,
    )


def holm_per_family(effects: list[ArmEffect]) -> list[ArmEffect]:
    """Holm-adjust the fixed-horizon and the sequential p-values over one metric's arms.

    The family is the arms whose p-value is defined; the others keep NaN.
    """
    adjusted = {}
    for name in ("p_value", "sequential_p_value"):
        values = np.array([getattr(effect, name) for effect in effects], dtype=np.float64)
        defined = np.isfinite(values)
        holm = np.full(values.shape, NAN)
        if defined.any():
            holm[defined] = holm_adjust(values[defined])
        adjusted[f"{name}_holm"] = holm

    return [
        replace(effect, **{name: float(values[i]) for name, values in adjusted.items()})
        for i, effect in enumerate(effects)
    ]
