"""The per-user history: unclicked impressions, their bounded memory and their saved state."""

from __future__ import annotations

from models.base import Feedback, ItemInfo
from models.catalog import Catalog
from models.history import UserHistory


def catalog_of(n_items: int) -> Catalog:
    catalog = Catalog()
    for n in range(n_items):
        catalog.upsert(ItemInfo(f"i{n}", "cat", f"b{n}", 1.0, 0, stock=3))
    return catalog


def show(history: UserHistory, catalog: Catalog, user_id: str, item: int, at: float) -> None:
    history.record(Feedback(user_id, f"i{item}", "impression", at=at), item, catalog)


def test_unclicked_impressions_count_per_user_and_item() -> None:
    catalog, history = catalog_of(3), UserHistory()
    for item, at in [(0, 1.0), (1, 2.0), (0, 3.0), (0, 4.0)]:
        show(history, catalog, "ann", item, at)
    show(history, catalog, "bob", 2, 5.0)

    assert history.unclicked_impressions("ann") == {1: (1, 2.0), 0: (3, 4.0)}
    assert history.unclicked_impressions("bob") == {2: (1, 5.0)}
    assert history.fatigued("ann", at=5.0, min_impressions=2, window_s=10.0) == [0]
    assert history.fatigued("ann", at=20.0, min_impressions=2, window_s=10.0) == []


def test_positive_interactions_reset_the_count_but_impressions_are_not_recent_items() -> None:
    catalog, history = catalog_of(2), UserHistory()
    show(history, catalog, "ann", 0, 1.0)
    show(history, catalog, "ann", 1, 1.0)
    history.record(Feedback("ann", "i0", "add_to_cart", at=2.0), 0, catalog)

    assert history.unclicked_impressions("ann") == {1: (1, 1.0)}
    assert [r.item_index for r in history.recent("ann")] == [0]


def test_memory_keeps_the_most_recently_shown_items() -> None:
    catalog, history = catalog_of(5), UserHistory(n_shown=3)
    for item in range(5):
        show(history, catalog, "ann", item, float(item))
    show(history, catalog, "ann", 2, 9.0)

    # Items 0 and 1 were forgotten; 2 was shown again last, so it is the newest.
    assert list(history.unclicked_impressions("ann")) == [3, 4, 2]


def test_saved_state_keeps_the_unclicked_impressions() -> None:
    catalog, history = catalog_of(3), UserHistory(n_shown=7)
    show(history, catalog, "ann", 2, 1.0)
    show(history, catalog, "ann", 2, 3.0)
    history.record(Feedback("bob", "i1", "purchase", at=4.0), 1, catalog)

    header, arrays = history.to_arrays(catalog)
    restored = UserHistory.from_arrays(header, arrays, catalog)

    assert restored.n_shown == 7
    assert restored.unclicked_impressions("ann") == {2: (2, 3.0)}
    assert sorted(restored.purchased("bob")) == [1]
