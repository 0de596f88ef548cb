"""Known answers for streaming co-occurrence on small hand-made sessions."""

from __future__ import annotations

import math

import numpy as np

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.cooccurrence import CoOccurrence


def catalog_of(item_ids: list[str]) -> Catalog:
    catalog = Catalog()
    for item_id in item_ids:
        catalog.upsert(ItemInfo(item_id, "c", f"brand-{item_id}", 1.0, 0, stock=5))
    return catalog


def test_bought_together_is_recommended_to_a_new_buyer() -> None:
    catalog = catalog_of(["x", "y", "z", "w", "v"])
    model = CoOccurrence(catalog)
    at = 0.0
    for n in range(20):
        model.learn(Feedback(f"u{n}", "x", "purchase", at=at))
        model.learn(Feedback(f"u{n}", "y", "purchase", at=at + 5))
        at += 10
    # z is far more popular but never bought with x.
    for n in range(60):
        model.learn(Feedback(f"z{n}", "z", "purchase", at=at + n))

    model.learn(Feedback("newcomer", "x", "purchase", at=at + 100))
    slate = model.recommend(Context("newcomer", 2, at + 101))

    assert [s.item_id for s in slate] == ["y", "z"]


def test_similarity_is_the_shrunk_cosine_of_weighted_counts() -> None:
    catalog = catalog_of(["a", "b", "c"])
    model = CoOccurrence(catalog, shrinkage=2.0)
    # Session 1: a click, b purchase -> pair weight min(1, 5) = 1.
    model.learn(Feedback("u1", "a", "click", at=0.0))
    model.learn(Feedback("u1", "b", "purchase", at=1.0))
    # Session 2: a purchase, b purchase, c click.
    model.learn(Feedback("u2", "a", "purchase", at=0.0))
    model.learn(Feedback("u2", "b", "purchase", at=1.0))
    model.learn(Feedback("u2", "c", "click", at=2.0))

    indices, similarities = model.neighbours(0)
    by_item = dict(zip(indices.tolist(), similarities.tolist(), strict=True))

    n_a, n_b, n_c = 1 + 5, 5 + 5, 1
    assert math.isclose(by_item[1], (1 + 5) / (math.sqrt(n_a * n_b) + 2.0))
    assert math.isclose(by_item[2], 1 / (math.sqrt(n_a * n_c) + 2.0))
    assert model.n_pairs == 3


def test_events_in_different_sessions_are_not_paired() -> None:
    catalog = catalog_of(["a", "b"])
    model = CoOccurrence(catalog, session_gap_s=60.0)
    model.learn(Feedback("u1", "a", "purchase", at=0.0))
    model.learn(Feedback("u1", "b", "purchase", at=61.0))
    model.learn(Feedback("u1", "a", "impression", at=62.0))

    assert model.n_pairs == 0


def test_context_item_neighbours_come_first() -> None:
    catalog = catalog_of(["tent", "stove", "mat", "boot"])
    model = CoOccurrence(catalog)
    for n in range(5):
        model.learn(Feedback(f"u{n}", "boot", "purchase", at=100.0 * n))
        model.learn(Feedback(f"u{n}", "mat", "purchase", at=100.0 * n + 1))
        model.learn(Feedback(f"v{n}", "tent", "purchase", at=1000.0 + 100.0 * n))
        model.learn(Feedback(f"v{n}", "stove", "purchase", at=1001.0 + 100.0 * n))

    # The user's history says mat, the page shows tent: the page wins (context_weight 2).
    model.learn(Feedback("w", "boot", "click", at=2000.0))
    slate = model.recommend(Context("w", 2, 2001.0, context_item_id="tent"))
    assert [s.item_id for s in slate] == ["stove", "mat"]


def test_cold_user_gets_popularity() -> None:
    catalog = catalog_of(["a", "b", "c"])
    model = CoOccurrence(catalog)
    for n, item_id in enumerate(["c", "c", "c", "a", "a", "b"]):
        model.learn(Feedback(f"u{n}", item_id, "click", at=float(n)))

    slate = model.recommend(Context("stranger", 3, 10.0))

    assert [s.item_id for s in slate] == ["c", "a", "b"]
    assert np.all(np.diff([s.score for s in slate]) < 0)


def test_a_pair_seen_once_does_not_outrank_what_sells() -> None:
    catalog = catalog_of(["a", "once", "hit", "often", "b"])
    model = CoOccurrence(catalog)
    model.learn(Feedback("u", "a", "click", at=0.0))
    model.learn(Feedback("u", "once", "click", at=1.0))
    for n in range(20):
        model.learn(Feedback(f"h{n}", "hit", "purchase", at=10.0 + n))
    for n in range(10):
        model.learn(Feedback(f"o{n}", "b", "purchase", at=100.0 + 10 * n))
        model.learn(Feedback(f"o{n}", "often", "purchase", at=101.0 + 10 * n))

    # One shared session makes "once" a weak neighbour of a (1 / (1 + 5)), below the
    # bestseller's prior; ten shared purchases make "often" a strong neighbour of b.
    assert model.recommend(Context("w", 1, 300.0, context_item_id="a"))[0].item_id == "hit"
    assert model.recommend(Context("w", 1, 300.0, context_item_id="b"))[0].item_id == "often"
