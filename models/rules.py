"""Business rules that turn a recommender's item scores into a slate that may be shown.

The rules are the same for every arm, so that the arms differ only in their ranking:

- never an item the user already bought;
- never an item out of stock;
- never the item on the page the request came from (the context item);
- only price tiers near the tiers the user bought in (no restriction before a first purchase);
- at most ``max_per_brand`` items of one brand in a slate.

The first four are vectorised masks over the catalog; the brand cap depends on what is already
in the slate, so it is a greedy pass down the ranked candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from models.base import Context
    from models.catalog import Catalog
    from models.history import UserHistory

__all__ = ["BusinessRules"]


@dataclass(frozen=True, slots=True)
class BusinessRules:
    """Filters and caps applied to every slate.

    Parameters
    ----------
    max_per_brand
        Most items of one brand in a slate.
    tier_tolerance
        How many price tiers above or below the tiers a user bought in stay allowed.

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

    def eligible(self, catalog: Catalog, history: UserHistory, context: Context) -> np.ndarray:
        """Boolean mask of the catalog items that pass every rule but the brand cap."""
        mask = catalog.stock > 0

        purchased = history.purchased(context.user_id)
        if purchased:
            mask[np.fromiter(purchased, dtype=np.int64, count=len(purchased))] = False

        tier_bits = history.tier_bits(context.user_id)
        if tier_bits:
            mask &= self._tier_allowed(tier_bits, catalog.price_tiers)

        if context.context_item_id is not None:
            context_index = catalog.index_of(context.context_item_id)
            if context_index is not None:
                mask[context_index] = False
        return mask

    def ranked(self, scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Indices of the allowed items with a finite score, best first.

        Ties keep catalog order (older items first), so equal inputs always give equal slates.
        """
        candidates = np.flatnonzero(mask & np.isfinite(scores))
        order = np.argsort(-scores[candidates], kind="stable")
        return candidates[order]

    def select(
        self,
        scores: np.ndarray,
        catalog: Catalog,
        history: UserHistory,
        context: Context,
        k: int,
    ) -> list[int]:
        """Catalog indices of the best ``k`` items that pass every rule, best first."""
        ranked = self.ranked(scores, self.eligible(catalog, history, context))
        brand_codes = catalog.brand_codes
        per_brand: dict[int, int] = {}
        picked: list[int] = []

        # Walk down the ranking in chunks, so that the usual case touches a few items only.
        start, chunk = 0, max(4 * k, 32)
        while len(picked) < k and start < len(ranked):
            indices = ranked[start : start + chunk]
            for index, brand in zip(indices.tolist(), brand_codes[indices].tolist(), strict=True):
                if per_brand.get(brand, 0) >= self.max_per_brand:
                    continue
                per_brand[brand] = per_brand.get(brand, 0) + 1
                picked.append(index)
                if len(picked) == k:
                    break
            start += chunk
        return picked

    def _tier_allowed(self, tier_bits: int, tiers: np.ndarray) -> np.ndarray:
        allowed = tier_bits
        for step in range(1, self.tier_tolerance + 1):
            allowed |= (tier_bits << step) | (tier_bits >> step)
        return ((allowed >> tiers.astype(np.int64)) & 1).astype(bool)
