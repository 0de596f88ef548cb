"""Arm assignment is deterministic, follows the configured weights and survives new processes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from scipy.stats import chisquare

from stream.assignment import Experiment


def test_the_same_user_always_gets_the_same_arm_even_in_another_process() -> None:
    experiment = Experiment(salt="s1")
    users = [f"u{number:05d}" for number in range(50)]
    here = [experiment.arm_of(user) for user in users]

    code = (
        "from stream.assignment import Experiment; e = Experiment(salt='s1'); "
        f"print(','.join(e.arm_of(u) for u in {users!r}))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert here == there.split(",")


def test_default_split_is_five_equal_arms() -> None:
    experiment = Experiment()
    counts = Counter(experiment.arm_of(f"u{number}") for number in range(50_000))

    assert sorted(counts) == ["A", "B", "C", "D", "E"]
    assert chisquare(list(counts.values())).pvalue > 0.001


def test_weights_shape_the_split_and_salts_reshuffle() -> None:
    skewed = Experiment(salt="x", arms=("A", "B"), weights=(1, 3))
    counts = Counter(skewed.arm_of(f"u{number}") for number in range(40_000))
    other = Experiment(salt="y", arms=("A", "B"), weights=(1, 3))
    moved = sum(skewed.arm_of(f"u{n}") != other.arm_of(f"u{n}") for n in range(2_000))

    assert counts["B"] / 40_000 == pytest.approx(0.75, abs=0.01)
    assert moved > 300


@pytest.mark.parametrize(
    ("arms", "weights"), [(("A", "B"), (1,)), (("A", "B"), (-1, 2)), (("A", "A"), ())]
)
def test_bad_experiments_are_refused(arms: tuple[str, ...], weights: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Experiment(arms=arms, weights=weights)
