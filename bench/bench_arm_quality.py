"""Benchmark of how well each experiment arm learns: the share of the oracle-random gap captured.

The simulated shop (:class:`producers.simulator.ShopperSimulator` with its defaults: 2,000
items, 10,000 shoppers) runs for a number of simulated days against the worker's own models
(:class:`stream.arms.ArmModels`, the five default arms), without Kafka: each tick's organic
events and catalog updates are learnt, every request is answered by its user's arm, and every
reaction is learnt back, in the order the worker would see them on one partition.

On the sampled requests (10 % by default) the simulator computes the ground-truth expected value
of the served slate, of random slates and of the oracle slate. Per arm the benchmark prints the
number of these references, the **lift captured**

    lift = (mean served_value - mean random_value) / (mean oracle_value - mean random_value)

with a 95 % interval by the delta method for a ratio of means (``lift`` is ``mean(a) /
mean(b)`` with ``a = served - random`` and ``b = oracle - random`` per reference, so its
standard error is ``sd(a - lift * b) / (sqrt(n) * mean(b))``), the three mean values, the
click-through rate of the arm's slates (clicks per impression) and the wall time of the run.

Run with ``python bench/bench_arm_quality.py DAYS [SEED]``, e.g. ``... 1 7`` for the demo's
length with the default seed.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter, defaultdict

import numpy as np

from producers.simulator import ShopperSimulator
from stream.arms import ArmModels
from stream.assignment import Experiment

#: Two-sided 95 % quantile of the standard normal distribution.
Z_95 = 1.959964


def run(days: float, seed: int) -> tuple[dict[str, np.ndarray], Counter, Counter, float]:
    """Simulate ``days`` days; return the references per arm, clicks, impressions, wall time.

    Each arm's references are an array of rows ``(served, random, oracle)`` values.
    """
    simulator = ShopperSimulator(seed=seed)
    arms = ArmModels(Experiment())
    for item in simulator.catalog_items():
        arms.learn_item(item)

    references: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    clicks: Counter = Counter()
    impressions: Counter = Counter()
    end_s = days * 86_400.0
    started_s = time.perf_counter()
    while simulator.now_s < end_s:
        tick = simulator.next_tick()
        for item in tick.catalog_updates:
            arms.learn_item(item)
        for event in tick.events:
            arms.learn_event(event)

        for request in tick.requests:
            recommendation = arms.recommend(request)
            reaction = simulator.react(recommendation)
            for item in reaction.catalog_updates:
                arms.learn_item(item)
            for event in reaction.events:
                arms.learn_event(event)
                clicks[recommendation.arm] += event.event_type == "click"
                impressions[recommendation.arm] += event.event_type == "impression"

            reference = reaction.reference
            if reference is not None:
                row = (reference.served_value, reference.random_value, reference.oracle_value)
                references[recommendation.arm].append(row)

    wall_s = time.perf_counter() - started_s
    arrays = {arm: np.array(rows) for arm, rows in references.items()}
    return arrays, clicks, impressions, wall_s


def lift_captured(rows: np.ndarray) -> tuple[float, float]:
    """The lift captured and the half-width of its 95 % interval (delta method)."""
    served, random, oracle = rows[:, 0], rows[:, 1], rows[:, 2]
    gained, gap = served - random, oracle - random
    lift = gained.mean() / gap.mean()
    if len(rows) < 2:
        return float(lift), math.nan

    standard_error = np.std(gained - lift * gap, ddof=1) / (math.sqrt(len(rows)) * gap.mean())
    return float(lift), float(Z_95 * standard_error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", type=float, help="simulated days to run")
    parser.add_argument("seed", type=int, nargs="?", default=7, help="simulator seed")
    args = parser.parse_args()

    references, clicks, impressions, wall_s = run(args.days, args.seed)
    print(f"{args.days:g} simulated days, seed {args.seed}, wall time {wall_s:.1f} s")
    print(
        f"{'arm':<4}{'refs':>6}{'lift captured':>22}{'served':>9}{'random':>9}"
        f"{'oracle':>9}{'ctr':>9}"
    )
    for arm in sorted(references):
        rows = references[arm]
        lift, half_width = lift_captured(rows)
        served, random, oracle = rows.mean(axis=0)
        ctr = clicks[arm] / max(impressions[arm], 1)
        interval = f"{lift:+.3f} +- {half_width:.3f}"
        print(
            f"{arm:<4}{len(rows):>6}{interval:>22}{served:>9.3f}{random:>9.3f}"
            f"{oracle:>9.3f}{ctr:>9.4f}"
        )


if __name__ == "__main__":
    main()
