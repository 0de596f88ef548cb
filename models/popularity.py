"""Time-decayed popularity: the control arm, and the fallback of the other recommenders.

Each event adds its kind's weight to its item's score, and every score halves each
``half_life_s`` seconds. Instead of decaying every item at every event, scores are stored
multiplied by ``exp(decay * (at - reference_at))``: an event then only adds to its own item,
and all items share the same factor, so ranking never needs the current time. The reference
moves forward before the stored numbers could overflow.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from models import state as state_codec
from models.base import Context, Feedback, Recommender
from models.catalog import Catalog

__all__ = ["DEFAULT_KIND_WEIGHTS", "Popularity"]

logger = logging.getLogger(__name__)

#: How much each event kind says about an item's appeal.
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "impression": 0.0,
    "click": 1.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
}

# Stored scores grow like exp(exponent); past this exponent they are rescaled to stay finite.
_MAX_EXPONENT = 50.0


class Popularity(Recommender):
    """Recommend the items with the most weighted events lately, the same for every user.

    Parameters
    ----------
    catalog
        The shared catalog.
    half_life_s
        Seconds after which an event counts half as much.
    kind_weights
        Weight of each event kind; kinds left out weigh 0.
    seed, max_per_brand, tier_tolerance
        See :class:`~models.base.Recommender`.

    Attributes
    ----------
    reference_at
        The time at which stored scores equal decayed scores.

    Examples
    --------
    >>> from models.base import Context, Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> catalog = Catalog()
    >>> for item_id, brand in [("old", "a"), ("new", "b"), ("none", "c")]:
    ...     _ = catalog.upsert(ItemInfo(item_id, "c", brand, 1.0, 0, stock=3))
    >>> model = Popularity(catalog, half_life_s=3600.0)
    >>> for _ in range(4):
    ...     model.learn(Feedback("ann", "old", "purchase", at=0.0))
    >>> model.learn(Feedback("bob", "new", "purchase", at=3 * 3600.0))
    >>> [(s.item_id, round(s.score, 2)) for s in model.recommend(Context("cat", 2, 3 * 3600.0))]
    [('new', 5.0), ('old', 2.5)]

    References
    ----------
    [^1]: Cormode, G., Shkapenyuk, V., Srivastava, D. and Xu, B. (2009). Forward decay: a
    practical time decay model for streaming systems. ICDE.
    """

    name = "popularity"

    def __init__(
        self,
        catalog: Catalog,
        *,
        half_life_s: float = 86_400.0,
        kind_weights: dict[str, float] | None = None,
        seed: int = 0,
        max_per_brand: int = 2,
        tier_tolerance: int = 1,
    ) -> None:
        super().__init__(
            catalog, seed=seed, max_per_brand=max_per_brand, tier_tolerance=tier_tolerance
        )
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")

        self.half_life_s = float(half_life_s)
        self.kind_weights = dict(DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights)
        self._decay = math.log(2.0) / self.half_life_s
        self.reference_at: float | None = None
        self._scaled = np.zeros(0, dtype=np.float64)

    def _learn(self, feedback: Feedback, item_index: int) -> None:
        weight = self.kind_weights.get(feedback.kind, 0.0)
        if weight == 0.0:
            return

        if self.reference_at is None:
            self.reference_at = feedback.at
        exponent = self._decay * (feedback.at - self.reference_at)
        if exponent > _MAX_EXPONENT:
            self._rebase(feedback.at)
            exponent = 0.0

        self._ensure_size(item_index + 1)
        self._scaled[item_index] += weight * math.exp(exponent)

    def item_scores(self, at: float) -> np.ndarray:
        """Every catalog item's decayed popularity at time ``at`` (0 for items never seen)."""
        self._ensure_size(self.catalog.n_items)
        scores = self._scaled[: self.catalog.n_items]
        if self.reference_at is None:
            return scores.copy()

        # Clamp so that a request far in the future of the last event cannot underflow to 0 and
        # lose the ranking; the ranking does not depend on the factor anyway.
        exponent = max(-self._decay * (at - self.reference_at), -_MAX_EXPONENT)
        return scores * math.exp(exponent)

    def score(self, context: Context) -> np.ndarray:
        return self.item_scores(context.at)

    def _rebase(self, at: float) -> None:
        assert self.reference_at is not None
        self._scaled *= math.exp(-self._decay * (at - self.reference_at))
        self.reference_at = at
        logger.debug("popularity_rebased reference_at=%s", at)

    def _ensure_size(self, size: int) -> None:
        if len(self._scaled) < size:
            grown = np.zeros(max(size, 2 * len(self._scaled)), dtype=np.float64)
            grown[: len(self._scaled)] = self._scaled
            self._scaled = grown

    def _options(self) -> dict[str, Any]:
        return {"half_life_s": self.half_life_s, "kind_weights": self.kind_weights}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        seen = np.flatnonzero(self._scaled[: self.catalog.n_items])
        item_ids = [self.catalog.item_ids[i] for i in seen.tolist()]
        arrays = {"item_ids": state_codec.strings(item_ids), "scaled": self._scaled[seen]}
        return {"reference_at": self.reference_at}, arrays

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.reference_at = header["reference_at"]
        self._ensure_size(self.catalog.n_items)
        item_ids = state_codec.as_strings(arrays["item_ids"])
        for item_id, value in zip(item_ids, arrays["scaled"].tolist(), strict=True):
            index = self.catalog.index_of(item_id)
            if index is not None:
                self._scaled[index] = value
