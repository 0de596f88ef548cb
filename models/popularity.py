"""Time-decayed popularity: the control arm, and the fallback of the other recommenders.

Each event adds its kind's weight to its item's score, and every score halves each
``half_life_s`` seconds (:class:`DecayedCounts`). :class:`Popularity` recommends the items with
the highest scores to everyone; the other recommenders keep a :class:`DecayedCounts` of their own
to break ties and to serve users they know nothing about.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Unpack

import numpy as np

from models import state as state_codec
from models.base import Context, Feedback, Recommender, RecommenderOptions
from models.catalog import Catalog

__all__ = ["DEFAULT_KIND_WEIGHTS", "DecayedCounts", "Popularity"]

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


class DecayedCounts:
    """Per-item sums of weights that halve every ``half_life_s`` seconds.

    Instead of decaying every item at every event, sums are stored multiplied by
    ``exp(decay * (at - reference_at))``: an event then adds to its own item only, and all items
    share the same factor, so a ranking never needs the current time. The reference moves
    forward before the stored numbers could overflow.

    Examples
    --------
    >>> counts = DecayedCounts(half_life_s=10.0)
    >>> counts.add(0, 4.0, at=0.0)
    >>> counts.add(1, 1.0, at=20.0)
    >>> counts.values(3, at=20.0).tolist()
    [1.0, 1.0, 0.0]
    """

    def __init__(self, half_life_s: float) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")

        self.half_life_s = float(half_life_s)
        self.reference_at: float | None = None
        self._decay = math.log(2.0) / self.half_life_s
        self._scaled = np.zeros(0, dtype=np.float64)

    def add(self, index: int, weight: float, at: float) -> None:
        """Add ``weight`` to item ``index`` at time ``at``."""
        if self.reference_at is None:
            self.reference_at = at
        exponent = self._decay * (at - self.reference_at)
        if exponent > _MAX_EXPONENT:
            self._rebase(at)
            exponent = 0.0

        self._ensure_size(index + 1)
        self._scaled[index] += weight * math.exp(exponent)

    def values(self, n_items: int, at: float) -> np.ndarray:
        """The decayed sums of items ``0 .. n_items - 1`` at time ``at`` (a new array)."""
        self._ensure_size(n_items)
        scaled = self._scaled[:n_items]
        if self.reference_at is None:
            return scaled.copy()

        # Clamp so that a request far in the future of the last event cannot underflow to 0 and
        # lose the ranking; the ranking does not depend on the factor anyway.
        exponent = max(-self._decay * (at - self.reference_at), -_MAX_EXPONENT)
        return scaled * math.exp(exponent)

    def to_arrays(self, item_ids: list[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The non-zero sums by item identifier; ``item_ids`` maps indices to identifiers."""
        seen = np.flatnonzero(self._scaled[: len(item_ids)])
        arrays = {
            "item_ids": state_codec.strings([item_ids[i] for i in seen.tolist()]),
            "scaled": self._scaled[seen],
        }
        return {"reference_at": self.reference_at}, arrays

    def load_arrays(
        self, header: dict[str, Any], arrays: dict[str, np.ndarray], catalog: Catalog
    ) -> None:
        """Restore sums saved by :meth:`to_arrays`; items missing from ``catalog`` drop."""
        self.reference_at = header["reference_at"]
        self._ensure_size(catalog.n_items)
        item_ids = state_codec.as_strings(arrays["item_ids"])
        for item_id, value in zip(item_ids, arrays["scaled"].tolist(), strict=True):
            index = catalog.index_of(item_id)
            if index is not None:
                self._scaled[index] = value

    def _rebase(self, at: float) -> None:
        assert self.reference_at is not None
        self._scaled *= math.exp(-self._decay * (at - self.reference_at))
        self.reference_at = at
        logger.debug("decayed_counts_rebased reference_at=%s", at)

    def _ensure_size(self, size: int) -> None:
        if len(self._scaled) < size:
            grown = np.zeros(max(size, 2 * len(self._scaled)), dtype=np.float64)
            grown[: len(self._scaled)] = self._scaled
            self._scaled = grown


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
    **options
        ``seed`` and the business rule settings, see :class:`~models.base.Recommender`.

    Attributes
    ----------
    counts
        The decayed weighted event counts per item.

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
        **options: Unpack[RecommenderOptions],
    ) -> None:
        super().__init__(catalog, **options)
        self.kind_weights = dict(DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights)
        self.counts = DecayedCounts(half_life_s)

    def _learn(self, feedback: Feedback, item_index: int) -> None:
        weight = self.kind_weights.get(feedback.kind, 0.0)
        if weight:
            self.counts.add(item_index, weight, feedback.at)

    def score(self, context: Context) -> np.ndarray:
        return self.counts.values(self.catalog.n_items, context.at)

    def _options(self) -> dict[str, Any]:
        return {"half_life_s": self.counts.half_life_s, "kind_weights": self.kind_weights}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self.counts.to_arrays(self.catalog.item_ids)

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.counts.load_arrays(header, arrays, self.catalog)
