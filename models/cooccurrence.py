"""Streaming item co-occurrence: "viewed together" and "bought together" neighbours.

When a user interacts with an item, the item is paired with each distinct item the same user
interacted with earlier in the same session. A pair's weight is the weaker of its two event
kinds, so two purchases ("bought together") count more than a click next to a purchase. The
similarity of two items is the cosine of their co-occurrence, shrunk toward 0 while evidence is
thin: ``C[i, j] / (sqrt(N[i] * N[j]) + shrinkage)``, where ``C[i, j]`` sums the pair weights and
``N[i]`` the weights of the item's own events. Without the shrinkage, two items seen once each,
together, would be perfect neighbours, and such one-off pairs would crowd out the pairs that
many sessions confirm.
"""

from __future__ import annotations

import logging
from typing import Any, Unpack

import numpy as np

from models import state as state_codec
from models.base import Context, Feedback, Recommender, RecommenderOptions
from models.catalog import Catalog
from models.popularity import DEFAULT_KIND_WEIGHTS, DecayedCounts

__all__ = ["CoOccurrence"]

logger = logging.getLogger(__name__)


class CoOccurrence(Recommender):
    """Recommend the neighbours of the context item and of the user's recent items.

    Each anchor (the context item, then the user's recent items from the newest) adds its
    neighbours' similarities, the context item with weight ``context_weight`` and the ``n``-th
    most recent item with weight ``recency_decay ** n``. The recommender's own time-decayed
    popularity, scaled to a maximum of ``popularity_weight``, is added as a prior: what sells
    now is a fair guess wherever the neighbours say little, and the neighbours reorder it where
    they say much. Users with no anchor get the popularity alone.

    Parameters
    ----------
    catalog
        The shared catalog.
    session_gap_s
        Two events further apart than this are in different sessions and are not paired.
    n_anchors
        Recent items used as anchors when recommending.
    context_weight
        Weight of the context item's neighbours.
    recency_decay
        Factor applied to each older anchor's weight.
    shrinkage
        Added to the denominator of the cosine, so that pairs seen in few sessions count less.
    popularity_weight
        Score of the most popular item in the popularity prior.
    kind_weights
        Weight of each event kind; impressions weigh 0 and are not paired.
    half_life_s
        Half-life of the fallback popularity.
    **options
        ``seed`` and the business rule settings, see :class:`~models.base.Recommender`.

    Attributes
    ----------
    n_pairs
        Distinct item pairs seen (each pair counted once).

    Examples
    --------
    >>> from models.base import Context, Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> catalog = Catalog()
    >>> for item_id in ["tent", "stove", "mat", "hat"]:
    ...     _ = catalog.upsert(ItemInfo(item_id, "camping", item_id, 10.0, 1, stock=9))
    >>> model = CoOccurrence(catalog)
    >>> for n, (first, second) in enumerate([("tent", "stove"), ("tent", "stove"), ("mat", "hat")]):
    ...     model.learn(Feedback(f"u{n}", first, "purchase", at=float(n)))
    ...     model.learn(Feedback(f"u{n}", second, "purchase", at=n + 1.0))
    >>> [s.item_id for s in model.recommend(Context("new", 2, 9.0, context_item_id="tent"))]
    ['stove', 'hat']

    The neighbour comes first; the next place goes to the most popular other item (bought as
    often as "mat", but later).

    References
    ----------
    [^1]: Linden, G., Smith, B. and York, J. (2003). Amazon.com recommendations: item-to-item
    collaborative filtering. IEEE Internet Computing, 7(1), 76-80.
    """

    name = "cooccurrence"

    def __init__(
        self,
        catalog: Catalog,
        *,
        session_gap_s: float = 1800.0,
        n_anchors: int = 10,
        context_weight: float = 2.0,
        recency_decay: float = 0.8,
        shrinkage: float = 5.0,
        popularity_weight: float = 1.0,
        kind_weights: dict[str, float] | None = None,
        half_life_s: float = 86_400.0,
        **options: Unpack[RecommenderOptions],
    ) -> None:
        super().__init__(catalog, **options)
        self.session_gap_s = float(session_gap_s)
        self.n_anchors = n_anchors
        self.context_weight = float(context_weight)
        self.recency_decay = float(recency_decay)
        self.shrinkage = float(shrinkage)
        self.popularity_weight = float(popularity_weight)
        self.kind_weights = dict(DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights)
        self.popularity = DecayedCounts(half_life_s)
        self._pairs: dict[int, dict[int, float]] = {}
        self._occurrence = np.zeros(0, dtype=np.float64)

    # NOTE: pair counts never decay and neighbour lists are not truncated. Old "bought together"
    # patterns therefore persist after tastes drift, and memory grows with the distinct pairs
    # seen (bounded by the square of the catalog). Sessions keep lists short in the simulations;
    # decay or top-N pruning of each row becomes due when a drift experiment or a large catalog
    # shows either effect.

    @property
    def n_pairs(self) -> int:
        return sum(len(row) for row in self._pairs.values()) // 2

    def _learn(self, feedback: Feedback, item_index: int) -> None:
        weight = self.kind_weights.get(feedback.kind, 0.0)
        if weight == 0.0:
            return

        self.popularity.add(item_index, weight, feedback.at)
        self._ensure_size(item_index + 1)
        self._occurrence[item_index] += weight

        # Pair with each distinct earlier item of the session, walking back from the newest.
        paired = {item_index}
        previous_at = feedback.at
        for recent in reversed(self.history.recent(feedback.user_id)):
            if previous_at - recent.at > self.session_gap_s:
                break
            previous_at = recent.at
            if recent.item_index in paired:
                continue
            paired.add(recent.item_index)
            pair_weight = min(weight, self.kind_weights.get(recent.kind, 0.0))
            self._add_pair(item_index, recent.item_index, pair_weight)

    def _add_pair(self, first: int, second: int, weight: float) -> None:
        if weight == 0.0:
            return
        row = self._pairs.setdefault(first, {})
        row[second] = row.get(second, 0.0) + weight
        row = self._pairs.setdefault(second, {})
        row[first] = row.get(first, 0.0) + weight

    def neighbours(self, item_index: int) -> tuple[np.ndarray, np.ndarray]:
        """An item's neighbours (catalog indices) and their cosine similarities to it."""
        row = self._pairs.get(item_index)
        if not row:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)

        indices = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
        counts = np.fromiter(row.values(), dtype=np.float64, count=len(row))
        norms = np.sqrt(self._occurrence[item_index] * self._occurrence[indices])
        return indices, counts / (norms + self.shrinkage)

    def score(self, context: Context) -> np.ndarray:
        n_items = self.catalog.n_items
        self._ensure_size(n_items)
        popularity = self.popularity.values(n_items, context.at)
        anchors = self._anchors(context)
        if not anchors:
            return popularity

        top = popularity.max() if n_items else 0.0
        scores = popularity * (self.popularity_weight / top) if top > 0 else popularity
        for anchor, weight in anchors:
            indices, similarities = self.neighbours(anchor)
            np.add.at(scores, indices, weight * similarities)
        return scores

    def _anchors(self, context: Context) -> list[tuple[int, float]]:
        """The items whose neighbours are recommended, with their weights."""
        anchors: list[tuple[int, float]] = []
        seen: set[int] = set()
        if context.context_item_id is not None:
            index = self.catalog.index_of(context.context_item_id)
            if index is not None:
                anchors.append((index, self.context_weight))
                seen.add(index)

        weight = 1.0
        for recent in reversed(self.history.recent(context.user_id)):
            if len(anchors) >= self.n_anchors + 1:
                break
            if recent.item_index in seen:
                continue
            seen.add(recent.item_index)
            anchors.append((recent.item_index, weight))
            weight *= self.recency_decay
        return anchors

    def _ensure_size(self, size: int) -> None:
        if len(self._occurrence) < size:
            grown = np.zeros(max(size, 2 * len(self._occurrence)), dtype=np.float64)
            grown[: len(self._occurrence)] = self._occurrence
            self._occurrence = grown

    def _options(self) -> dict[str, Any]:
        return {
            "session_gap_s": self.session_gap_s,
            "n_anchors": self.n_anchors,
            "context_weight": self.context_weight,
            "recency_decay": self.recency_decay,
            "shrinkage": self.shrinkage,
            "popularity_weight": self.popularity_weight,
            "kind_weights": self.kind_weights,
            "half_life_s": self.popularity.half_life_s,
        }

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        item_ids = self.catalog.item_ids
        first, second, weight = [], [], []
        for row_index, row in self._pairs.items():
            for column, value in row.items():
                if row_index < column:
                    first.append(row_index)
                    second.append(column)
                    weight.append(value)

        seen = np.flatnonzero(self._occurrence[: self.catalog.n_items])
        popularity_header, popularity_arrays = self.popularity.to_arrays(item_ids)
        arrays = {
            "pair_first": state_codec.strings([item_ids[i] for i in first]),
            "pair_second": state_codec.strings([item_ids[i] for i in second]),
            "pair_weight": np.asarray(weight, dtype=np.float64),
            "occurrence_item_ids": state_codec.strings([item_ids[i] for i in seen.tolist()]),
            "occurrence": self._occurrence[seen],
        }
        arrays.update({f"popularity.{key}": value for key, value in popularity_arrays.items()})
        return {"popularity": popularity_header}, arrays

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        catalog = self.catalog
        popularity_arrays = state_codec.strip_prefix(arrays, "popularity.")
        self.popularity.load_arrays(header["popularity"], popularity_arrays, catalog)

        self._ensure_size(catalog.n_items)
        item_ids = state_codec.as_strings(arrays["occurrence_item_ids"])
        for item_id, value in zip(item_ids, arrays["occurrence"].tolist(), strict=True):
            index = catalog.index_of(item_id)
            if index is not None:
                self._occurrence[index] = value

        pairs = zip(
            state_codec.as_strings(arrays["pair_first"]),
            state_codec.as_strings(arrays["pair_second"]),
            arrays["pair_weight"].tolist(),
            strict=True,
        )
        for first_id, second_id, weight in pairs:
            first, second = catalog.index_of(first_id), catalog.index_of(second_id)
            if first is not None and second is not None:
                self._add_pair(first, second, weight)
        logger.debug("cooccurrence_restored n_pairs=%d", self.n_pairs)
