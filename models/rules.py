"""Business rules that turn a recommender's item scores into a slate that may be shown.

The rules are the same for every arm, so that the arms differ only in their ranking:

- never an item the user already bought;
- never an item out of stock;
- never the item on the page the request came from (the context item);
- only price tiers near the tiers the user bought in (no restriction before a first purchase);
- never an item shown to the user ``fatigue_impressions`` times lately without a click
  (impression fatigue: shoppers lose interest in what they keep being shown and ignore);
- at most ``max_per_brand`` items of one brand in a slate.

The first five are vectorised masks over the catalog; the brand cap depends on what is already
in the slate, so it is a greedy pass down the ranked candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np

if TYPE_CHECKING:
    from models.base import Context
    from models.catalog import Catalog
    from models.history import UserHistory

__all__ = ["BusinessRules", "RuleSettings"]


class RuleSettings(TypedDict, total=False):
    """The settings of :class:`BusinessRules` as keyword arguments; left out means the default.

    Recommenders take these keywords and build their :class:`BusinessRules` from them, so the
    fields and defaults are declared once, on :class:`BusinessRules`.
    """

    max_per_brand: int
    tier_tolerance: int
    fatigue_impressions: int
    fatigue_window_s: float


@dataclass(frozen=True, slots=True)
class BusinessRules:
    """Filters and caps applied to every slate.

    Parameters
    ----------
    max_per_brand
        Most items of one brand in a slate.
    tier_tolerance
        How many price tiers above or below the tiers a user bought in stay allowed.
    fatigue_impressions
        Unclicked impressions after which an item is no longer shown to the user; 0 turns
        impression fatigue off. A click, add-to-cart or purchase of the item resets its count.
    fatigue_window_s
        An item is fatigued only while its last unclicked impression is at most this many
        seconds old; after that the user may see it again.

    Examples
    --------
    >>> import numpy as np
    >>> from models.base import Context, Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> from models.history import UserHistory
    >>> catalog = Catalog()
    >>> for n, (brand, tier) in enumerate([("a", 0), ("a", 0), ("a", 1), ("b", 3), ("b", 1)]):
    ...     _ = catalog.upsert(ItemInfo(f"i{n}", "c", brand, 1.0, tier, stock=5))
    >>> history = UserHistory()
    >>> history.record(Feedback("ann", "i1", "purchase", at=0.0), 1, catalog)
    >>> scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    >>> BusinessRules(max_per_brand=1).select(scores, catalog, history, Context("ann", 3, 0.0), 3)
    [0, 4]
    """

    max_per_brand: int = 2
    tier_tolerance: int = 1
    fatigue_impressions: int = 2
    fatigue_window_s: float = 3 * 86_400.0

    def eligible(self, catalog: Catalog, history: UserHistory, context: Context) -> np.ndarray:
        """Boolean mask of the catalog items that pass every rule but the brand cap."""
        mask = catalog.stock > 0

        purchased = history.purchased(context.user_id)
        if purchased:
            mask[np.fromiter(purchased, dtype=np.int64, count=len(purchased))] = False

        tier_bits = history.tier_bits(context.user_id)
        if tier_bits:
            mask &= self._tier_allowed(tier_bits, catalog.price_tiers)

        if self.fatigue_impressions > 0:
            fatigued = history.fatigued(
                context.user_id, context.at, self.fatigue_impressions, self.fatigue_window_s
            )
            if fatigued:
                mask[np.asarray(fatigued, dtype=np.int64)] = False

        if context.context_item_id is not None:
            context_index = catalog.index_of(context.context_item_id)
            if context_index is not None:
                mask[context_index] = False
        return mask

    def ranked(self, scores: np.ndarray, mask: np.ndarray, limit: int | None = None) -> np.ndarray:
        """Indices of the allowed items with a finite score, best first.

        Ties keep catalog order (older items first), so equal inputs always give equal slates.
        With ``limit``, only the best ``limit`` items are certain to be returned (ties at the
        cut are kept, so a few more may come); without it, all of them.
        """
        candidates = np.flatnonzero(mask & np.isfinite(scores))
        values = scores[candidates]
        if limit is not None and len(candidates) > limit:
            # Keep every item scoring at least the limit-th best score: a prefix of the full
            # ranking, found in linear time.
            threshold = -np.partition(-values, limit - 1)[limit - 1]
            kept = values >= threshold
            candidates, values = candidates[kept], values[kept]
        return candidates[_descending_order(values)]

    def select(
        self,
        scores: np.ndarray,
        catalog: Catalog,
        history: UserHistory,
        context: Context,
        k: int,
    ) -> list[int]:
        """Catalog indices of the best ``k`` items that pass every rule, best first."""
        mask = self.eligible(catalog, history, context)
        brand_codes = catalog.brand_codes
        per_brand: dict[int, int] = {}
        picked: list[int] = []

        # Rank a short head first; the brand cap rarely needs more, and ranking it all costs
        # far more than the head.
        limit = max(4 * k, 32)
        ranked = self.ranked(scores, mask, limit)
        start = 0
        while True:
            for index in ranked[start:].tolist():
                brand = int(brand_codes[index])
                if per_brand.get(brand, 0) >= self.max_per_brand:
                    continue
                per_brand[brand] = per_brand.get(brand, 0) + 1
                picked.append(index)
                if len(picked) == k:
                    return picked

            if limit is None or len(ranked) < limit:
                return picked
            start, limit = len(ranked), None
            ranked = self.ranked(scores, mask)

    def _tier_allowed(self, tier_bits: int, tiers: np.ndarray) -> np.ndarray:
        allowed = tier_bits
        for step in range(1, self.tier_tolerance + 1):
            allowed |= (tier_bits << step) | (tier_bits >> step)
        return ((allowed >> tiers.astype(np.int64)) & 1).astype(bool)


def _descending_order(values: np.ndarray) -> np.ndarray:
    """The positions of ``values`` from largest to smallest, ties in position order.

    Equivalent to ``np.argsort(-values, kind="stable")``, which is several times slower for a
    few thousand floats than this sort of unique integer keys (rank of the value, position).
    """
    if len(values) <= 256:
        return np.argsort(-values, kind="stable")

    _, value_rank = np.unique(-values, return_inverse=True)
    keys = value_rank.astype(np.int64).reshape(-1) * len(values) + np.arange(len(values))
    return np.argsort(keys)
