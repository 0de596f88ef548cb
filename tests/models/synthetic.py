"""Small seeded catalogs and event streams shared by the model tests.

Shoppers have a favourite category and a home price tier; they mostly click and buy items of
that category near that tier, so every recommender has a pattern to learn.
"""

from __future__ import annotations

import numpy as np

from models.base import Feedback, ItemInfo
from models.catalog import Catalog

CATEGORIES = ("shoes", "coats", "bags", "hats", "socks", "belts")
KINDS = ("impression", "click", "add_to_cart", "purchase")
TAGS = ("wool", "leather", "cotton", "red", "blue", "black", "summer", "winter")


def make_items(n_items: int, seed: int, prefix: str = "item") -> list[ItemInfo]:
    """``n_items`` items spread over six categories, ten brands and five price tiers."""
    rng = np.random.default_rng(seed)
    items = []
    for n in range(n_items):
        tier = int(rng.integers(0, 5))
        tags = tuple(sorted({TAGS[int(t)] for t in rng.integers(0, len(TAGS), size=2)}))
        items.append(
            ItemInfo(
                item_id=f"{prefix}{n}",
                category=CATEGORIES[n % len(CATEGORIES)],
                brand=f"brand{int(rng.integers(0, 10))}",
                price=float(10 * (tier + 1)),
                price_tier=tier,
                # A few items are sold out from the start, so the stock rule has work to do.
                stock=0 if n % 17 == 5 else int(rng.integers(1, 20)),
                tags=tags,
            )
        )
    return items


def make_catalog(n_items: int = 60, seed: int = 0) -> Catalog:
    catalog = Catalog()
    for item in make_items(n_items, seed):
        catalog.upsert(item)
    return catalog


def make_stream(
    catalog: Catalog, n_users: int = 30, n_events: int = 1500, seed: int = 0
) -> list[Feedback]:
    """A time-ordered stream of impressions, clicks, add-to-carts and purchases."""
    rng = np.random.default_rng(seed)
    categories = np.array([catalog.category_of(i) for i in range(catalog.n_items)])
    tiers = catalog.price_tiers
    stream = []
    for n in range(n_events):
        user = int(rng.integers(0, n_users))
        favourite = CATEGORIES[user % len(CATEGORIES)]
        home_tier = user % 5
        liked = np.flatnonzero((categories == favourite) & (np.abs(tiers - home_tier) <= 1))
        pool = liked if len(liked) and rng.random() < 0.8 else np.arange(catalog.n_items)
        item_id = catalog.item_ids[int(rng.choice(pool))]
        kind = str(rng.choice(KINDS, p=[0.4, 0.4, 0.1, 0.1]))
        stream.append(
            Feedback(
                user_id=f"user{user}",
                item_id=item_id,
                kind=kind,  # type: ignore[arg-type]
                at=1_700_000_000.0 + 60.0 * n,
                request_id=f"req{n // 5}",
                position=n % 5,
                price=10.0,
            )
        )
    return stream
