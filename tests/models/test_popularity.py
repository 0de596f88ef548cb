"""Known answers for time-decayed popularity, checked against brute-force decayed sums."""

from __future__ import annotations

import numpy as np

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.popularity import DEFAULT_KIND_WEIGHTS, DecayedCounts, Popularity

HOUR = 3600.0


def catalog_of(n_items: int) -> Catalog:
    catalog = Catalog()
    for n in range(n_items):
        catalog.upsert(ItemInfo(f"i{n}", "c", f"b{n}", 1.0, 0, stock=5))
    return catalog


def test_most_bought_recent_item_first_and_old_ones_decay() -> None:
    model = Popularity(catalog_of(3), half_life_s=HOUR)
    for _ in range(10):
        model.learn(Feedback("ann", "i0", "purchase", at=0.0))
    model.learn(Feedback("bob", "i1", "purchase", at=0.0))
    assert model.recommend(Context("x", 1, 0.0))[0].item_id == "i0"

    # Four half-lives later 10 old purchases weigh 10 / 16 and 3 recent ones win.
    for _ in range(2):
        model.learn(Feedback("bob", "i1", "purchase", at=4 * HOUR))
    model.learn(Feedback("cat", "i2", "click", at=4 * HOUR))
    slate = model.recommend(Context("x", 3, 4 * HOUR))
    assert [s.item_id for s in slate] == ["i1", "i0", "i2"]
    assert np.allclose([s.score for s in slate], [10.0 + 5.0 / 16, 50.0 / 16, 1.0])


def test_impressions_weigh_nothing() -> None:
    model = Popularity(catalog_of(2))
    for _ in range(50):
        model.learn(Feedback("ann", "i1", "impression", at=0.0))
    model.learn(Feedback("ann", "i0", "click", at=0.0))

    assert model.recommend(Context("x", 1, 0.0))[0].item_id == "i0"


def test_matches_brute_force_decay_over_many_half_lives() -> None:
    seed = 11
    rng = np.random.default_rng(seed)
    half_life_s = 60.0
    counts = DecayedCounts(half_life_s)
    events = []
    at = 0.0
    for _ in range(400):
        # Times span about 600 half-lives, so the stored sums are rebased several times.
        at += float(rng.exponential(90.0))
        index, weight = int(rng.integers(0, 8)), float(rng.choice([1.0, 3.0, 5.0]))
        counts.add(index, weight, at)
        events.append((index, weight, at))

        expected = np.zeros(8)
        for i, w, t in events:
            expected[i] += w * 0.5 ** ((at - t) / half_life_s)
        assert np.allclose(counts.values(8, at), expected, rtol=1e-9, atol=1e-300), seed


def test_default_kind_weights() -> None:
    assert DEFAULT_KIND_WEIGHTS == {
        "impression": 0.0,
        "click": 1.0,
        "add_to_cart": 3.0,
        "purchase": 5.0,
    }
