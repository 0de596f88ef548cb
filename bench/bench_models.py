"""Benchmark of the recommenders alone: learn throughput, recommend latency, state size.

Each registered recommender learns the same seeded synthetic stream (a 2,000-item catalog and
10,000 shoppers by default), then answers requests for slates of ``k = 10``; only the
recommender's own calls are timed. A second part measures, in the same run, what ranking by
river's ``FunkMF.predict_one`` item by item costs against one numpy matrix-vector product over
the same 1,000 items, the reason the matrix factorisation ranks with numpy.

Run with ``python bench/bench_models.py [--events 100000] [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river import reco

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.registry import RECOMMENDERS, build_recommender

START_AT = 1_700_000_000.0
KINDS = ("impression", "click", "add_to_cart", "purchase")


def make_catalog(n_items: int, rng: np.random.Generator) -> Catalog:
    """Items over 20 categories, 100 brands, 5 price tiers and 50 tags."""
    catalog = Catalog()
    for n in range(n_items):
        tags = tuple(f"tag{t}" for t in sorted(set(rng.integers(0, 50, size=3).tolist())))
        tier = int(rng.integers(0, 5))
        info = ItemInfo(
            f"item{n}",
            f"cat{n % 20}",
            f"brand{int(rng.integers(0, 100))}",
            10.0 * (tier + 1),
            tier,
            int(rng.integers(1, 1000)),
            tags,
        )
        catalog.upsert(info)
    return catalog


def make_stream(catalog: Catalog, n_users: int, n_events: int, rng: np.random.Generator):
    """Shoppers who mostly pick items of their favourite category, in slates of five."""
    by_category = [np.arange(c, catalog.n_items, 20) for c in range(20)]
    users = rng.integers(0, n_users, size=n_events)
    kinds = rng.choice(len(KINDS), size=n_events, p=[0.5, 0.35, 0.08, 0.07])
    organic = rng.random(n_events) < 0.2
    stream = []
    for n in range(n_events):
        user = int(users[n])
        pool = by_category[user % 20]
        item = int(rng.integers(0, catalog.n_items)) if organic[n] else int(rng.choice(pool))
        stream.append(
            Feedback(
                f"user{user}",
                catalog.item_ids[item],
                KINDS[int(kinds[n])],
                START_AT + 0.05 * n,
                request_id=f"req{n // 5}",
                position=n % 5,
            )
        )
    return stream


def make_requests(catalog: Catalog, n_users: int, n_requests: int, rng: np.random.Generator):
    """Requests of known shoppers; half of them on a product page (a context item)."""
    requests = []
    for n in range(n_requests):
        context_item = catalog.item_ids[int(rng.integers(0, catalog.n_items))] if n % 2 else None
        requests.append(
            Context(
                f"user{int(rng.integers(0, n_users))}",
                10,
                START_AT + 1e4,
                context_item_id=context_item,
                request_id=f"bench{n}",
            )
        )
    return requests


def bench_recommender(name: str, catalog: Catalog, stream, requests, seed: int) -> dict:
    recommender = build_recommender(name, catalog, seed=seed)
    started_s = time.perf_counter()
    for feedback in stream:
        recommender.learn(feedback)
    learn_s = time.perf_counter() - started_s

    latencies_us = []
    for context in requests:
        started_s = time.perf_counter()
        recommender.recommend(context)
        latencies_us.append(1e6 * (time.perf_counter() - started_s))

    started_s = time.perf_counter()
    state = recommender.to_state()
    save_ms = 1e3 * (time.perf_counter() - started_s)
    started_s = time.perf_counter()
    type(recommender).from_state(state, catalog)
    restore_ms = 1e3 * (time.perf_counter() - started_s)
    return {
        "learn_per_s": len(stream) / learn_s,
        "mean_us": float(np.mean(latencies_us)),
        "p50_us": float(np.percentile(latencies_us, 50)),
        "p99_us": float(np.percentile(latencies_us, 99)),
        "state_mb": len(state) / 1e6,
        "save_ms": save_ms,
        "restore_ms": restore_ms,
    }


def bench_ranking(n_items: int, n_factors: int, seed: int) -> tuple[float, float]:
    """Microseconds to score ``n_items`` items for one user: river item by item, numpy at once."""
    rng = np.random.default_rng(seed)
    model = reco.FunkMF(n_factors=n_factors, seed=seed)
    for _ in range(20_000):
        model.learn_one(f"u{int(rng.integers(0, 500))}", f"i{int(rng.integers(0, n_items))}", 1.0)
    item_ids = [f"i{n}" for n in range(n_items)]

    repeats = 50
    started_s = time.perf_counter()
    for _ in range(repeats):
        [model.predict_one("u1", item_id) for item_id in item_ids]
    river_us = 1e6 * (time.perf_counter() - started_s) / repeats

    # The same latents, copied once into an array, as the numpy recommender keeps them.
    item_factors = np.stack([model.i_latents[item_id] for item_id in item_ids])
    user_factors = np.asarray(model.u_latents["u1"])
    repeats = 5_000
    started_s = time.perf_counter()
    for _ in range(repeats):
        item_factors @ user_factors
    numpy_us = 1e6 * (time.perf_counter() - started_s) / repeats
    return river_us, numpy_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n-items", type=int, default=2_000)
    parser.add_argument("--n-users", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--only", choices=sorted(RECOMMENDERS), action="append")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    catalog = make_catalog(args.n_items, rng)
    stream = make_stream(catalog, args.n_users, args.events, rng)
    requests = make_requests(catalog, args.n_users, args.requests, rng)
    print(
        f"catalog {catalog.n_items:,} items, {args.n_users:,} users, {len(stream):,} events, "
        f"{len(requests):,} requests of k=10"
    )

    header = (
        f"{'recommender':<22}{'learn ev/s':>12}{'rec mean us':>13}{'p50 us':>9}"
        f"{'p99 us':>9}{'state MB':>10}{'save ms':>9}{'restore ms':>12}"
    )
    print(header)
    for name in args.only or list(RECOMMENDERS):
        result = bench_recommender(name, catalog, stream, requests, args.seed)
        print(
            f"{name:<22}{result['learn_per_s']:>12,.0f}{result['mean_us']:>13,.0f}"
            f"{result['p50_us']:>9,.0f}{result['p99_us']:>9,.0f}{result['state_mb']:>10.1f}"
            f"{result['save_ms']:>9,.0f}{result['restore_ms']:>12,.0f}"
        )

    river_us, numpy_us = bench_ranking(1_000, 32, args.seed)
    print(
        f"ranking 1,000 items, 32 factors: river FunkMF.predict_one {river_us:,.0f} us, "
        f"numpy matvec {numpy_us:,.1f} us, ratio {river_us / numpy_us:,.0f}x"
    )


if __name__ == "__main__":
    main()
