"""What each shopper has already been shown and has bought: the memory behind saturation.

The choice model holds no history; the simulator keeps it here and hands the relevant part to
the model for each request. Only the shoppers who were shown or bought something have an
entry, so a population of many thousands costs memory in proportion to its activity.
"""

from __future__ import annotations

import numpy as np


class ShopperHistory:
    """Slate impressions and purchases per shopper.

    Parameters
    ----------
    n_items
        Size of the catalog, for whole-catalog masks and counts.

    Examples
    --------
    >>> history = ShopperHistory(n_items=5)
    >>> history.record_impressions(shopper=2, items=[1, 3, 3])
    >>> history.record_purchase(shopper=2, item=4)
    >>> history.n_seen(2).tolist(), history.owned(2, np.array([3, 4])).tolist()
    ([0.0, 1.0, 0.0, 2.0, 0.0], [False, True])

    """

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self._seen: dict[int, dict[int, int]] = {}
        self._purchased: dict[int, set[int]] = {}

    def record_impressions(self, shopper: int, items: list[int]) -> None:
        """Count one more impression of each item for the shopper."""
        seen = self._seen.setdefault(shopper, {})
        for item in items:
            seen[item] = seen.get(item, 0) + 1

    def record_purchase(self, shopper: int, item: int) -> None:
        """Remember that the shopper owns the item now."""
        self._purchased.setdefault(shopper, set()).add(item)

    def seen_counts(self, shopper: int, items: np.ndarray) -> np.ndarray:
        """Earlier impressions of each of ``items`` for the shopper."""
        seen = self._seen.get(shopper, {})
        return np.array([seen.get(item, 0) for item in items.tolist()])

    def owned(self, shopper: int, items: np.ndarray) -> np.ndarray:
        """Whether the shopper already bought each of ``items``."""
        purchased = self._purchased.get(shopper, set())
        return np.array([item in purchased for item in items.tolist()], dtype=bool)

    def n_seen(self, shopper: int) -> np.ndarray:
        """Earlier impressions of every catalog item for the shopper."""
        n_seen = np.zeros(self.n_items)
        for item, count in self._seen.get(shopper, {}).items():
            n_seen[item] = count
        return n_seen

    def not_owned(self, shopper: int) -> np.ndarray:
        """Mask of the catalog items the shopper has not bought."""
        mask = np.ones(self.n_items, dtype=bool)
        purchased = self._purchased.get(shopper)
        if purchased:
            mask[list(purchased)] = False
        return mask
