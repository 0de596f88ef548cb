"""Each business rule on its own, on a hand-made catalog."""

from __future__ import annotations

import numpy as np

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.history import UserHistory
from models.rules import BusinessRules

# item_id, brand, tier, stock
ITEMS = [("a", "x", 0, 5), ("b", "x", 1, 5), ("c", "x", 2, 5), ("d", "y", 3, 0), ("e", "y", 4, 5)]


def setup() -> tuple[Catalog, UserHistory]:
    catalog = Catalog()
    for item_id, brand, tier, stock in ITEMS:
        catalog.upsert(ItemInfo(item_id, "cat", brand, 1.0, tier, stock))
    return catalog, UserHistory()


def selected(rules: BusinessRules, catalog: Catalog, history: UserHistory, **context) -> list[str]:
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    picked = rules.select(scores, catalog, history, Context("ann", 5, 0.0, **context), 5)
    return [catalog.item_ids[i] for i in picked]


def test_out_of_stock_items_and_the_context_item_are_never_shown() -> None:
    catalog, history = setup()

    assert selected(BusinessRules(max_per_brand=5), catalog, history) == ["a", "b", "c", "e"]
    assert selected(BusinessRules(max_per_brand=5), catalog, history, context_item_id="b") == [
        "a",
        "c",
        "e",
    ]


def test_brand_cap_skips_to_the_next_brand() -> None:
    catalog, history = setup()

    assert selected(BusinessRules(max_per_brand=2), catalog, history) == ["a", "b", "e"]


def test_bought_items_are_never_shown_and_tiers_follow_purchases() -> None:
    catalog, history = setup()
    history.record(Feedback("ann", "e", "purchase", at=0.0), 4, catalog)

    # Bought tier 4: tiers 3 and 4 stay allowed, d is out of stock and e is bought.
    assert selected(BusinessRules(max_per_brand=5), catalog, history) == []
    assert selected(BusinessRules(max_per_brand=5, tier_tolerance=2), catalog, history) == ["c"]

    history.record(Feedback("ann", "a", "purchase", at=1.0), 0, catalog)
    assert selected(BusinessRules(max_per_brand=5), catalog, history) == ["b"]


def test_clicks_do_not_restrict_tiers() -> None:
    catalog, history = setup()
    history.record(Feedback("ann", "e", "click", at=0.0), 4, catalog)

    assert selected(BusinessRules(max_per_brand=5), catalog, history) == ["a", "b", "c", "e"]


def test_ties_keep_catalog_order_and_non_finite_scores_are_dropped() -> None:
    catalog, history = setup()
    scores = np.array([1.0, np.nan, 1.0, 9.0, -np.inf])
    mask = BusinessRules().eligible(catalog, history, Context("ann", 5, 0.0))

    assert BusinessRules().ranked(scores, mask).tolist() == [0, 2]


def shown(history: UserHistory, catalog: Catalog, item_id: str, at: float) -> None:
    index = catalog.index_of(item_id)
    history.record(Feedback("ann", item_id, "impression", at=at), index, catalog)


def test_items_shown_often_without_a_click_are_left_out() -> None:
    catalog, history = setup()
    shown(history, catalog, "a", at=0.0)
    shown(history, catalog, "a", at=10.0)
    shown(history, catalog, "b", at=10.0)

    # a was shown twice, b once, without a click.
    rules = BusinessRules(max_per_brand=5, fatigue_impressions=2, fatigue_window_s=100.0)
    assert selected(rules, catalog, history) == ["b", "c", "e"]
    rules = BusinessRules(max_per_brand=5, fatigue_impressions=1, fatigue_window_s=100.0)
    assert selected(rules, catalog, history) == ["c", "e"]
    rules = BusinessRules(max_per_brand=5, fatigue_impressions=0)
    assert selected(rules, catalog, history) == ["a", "b", "c", "e"]


def test_a_click_or_a_quiet_spell_ends_the_fatigue() -> None:
    catalog, history = setup()
    for at in (0.0, 10.0):
        shown(history, catalog, "a", at)
        shown(history, catalog, "b", at)
    history.record(Feedback("ann", "b", "click", at=20.0), 1, catalog)
    rules = BusinessRules(max_per_brand=5, fatigue_impressions=2, fatigue_window_s=100.0)

    # b was clicked after its impressions, so its count starts over; a is still fatigued.
    assert selected(rules, catalog, history) == ["b", "c", "e"]

    # More than 100 s after a's last impression it may be shown again.
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    later = rules.select(scores, catalog, history, Context("ann", 5, 111.0), 5)
    assert [catalog.item_ids[i] for i in later] == ["a", "b", "c", "e"]
