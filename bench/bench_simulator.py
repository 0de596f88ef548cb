"""Benchmark of the shopper simulator alone: events produced per second of simulator time.

The loop is the one a driver runs, without Kafka: ask for a tick, answer every request with a
slate, let the shopper react. Only the simulator's own calls (``next_tick`` and ``react``)
are timed; the stand-in recommender that picks the slates is not, since a real one lives in
another process.

Run with ``python bench/bench_simulator.py [--events 200000] [--policy random|popular]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from producers.simulator import ShopperSimulator, recommendation_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n-items", type=int, default=2_000)
    parser.add_argument("--n-shoppers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000, help="stop after this many")
    parser.add_argument("--policy", choices=["random", "popular"], default="random")
    args = parser.parse_args()

    started_s = time.perf_counter()
    simulator = ShopperSimulator(args.seed, args.n_items, args.n_shoppers)
    n_catalog = len(simulator.catalog_items())
    setup_s = time.perf_counter() - started_s

    # The stand-in recommender: uniform random items, or always the same best sellers.
    rng = np.random.default_rng(args.seed + 1)
    item_ids = np.array(simulator.catalog.item_ids)
    best_sellers = list(item_ids[np.argsort(-simulator.catalog.stock)[: simulator.k]])

    n_events = n_requests = n_references = 0
    simulator_s = 0.0
    while n_events < args.events:
        tick_started_s = time.perf_counter()
        tick = simulator.next_tick()
        simulator_s += time.perf_counter() - tick_started_s
        n_events += len(tick.events)

        for request in tick.requests:
            if args.policy == "random":
                slate = list(rng.choice(item_ids, size=request.k, replace=False))
            else:
                slate = best_sellers
            recommendation = recommendation_of(request, slate, arm="A")

            react_started_s = time.perf_counter()
            reaction = simulator.react(recommendation)
            simulator_s += time.perf_counter() - react_started_s
            n_events += len(reaction.events)
            n_references += reaction.reference is not None
        n_requests += len(tick.requests)

    counters = simulator.counters
    print(f"setup: {setup_s:.2f} s ({n_catalog} items, {args.n_shoppers} shoppers)")
    print(f"requests: {n_requests}  events: {n_events}  references: {n_references}")
    print(f"slate events: {counters.slate_events}")
    print(f"organic events: {counters.organic_events}")
    print(f"simulated time: {simulator.now.isoformat()}")
    print(f"simulator time: {simulator_s:.2f} s  ->  {n_events / simulator_s:,.0f} events/s")


if __name__ == "__main__":
    main()
