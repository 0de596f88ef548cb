"""Online matrix factorisation for implicit feedback, trained by BPR with sampled negatives.

Each positive event (click, add_to_cart, purchase) of user ``u`` on item ``i`` is one stochastic
gradient step of Bayesian personalised ranking: ``i`` should score above a few items ``j``
drawn uniformly from the catalog. The score of an item for a user is ``p[u] . q[i] + b[i]``,
with user factors ``p``, item factors ``q`` and item biases ``b`` in numpy arrays that grow with
the users and the catalog. Ranking a request is one matrix-vector product over all items.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any, Unpack

import numpy as np

from models import state as state_codec
from models.base import Context, Feedback, Recommender, RecommenderOptions
from models.catalog import Catalog

__all__ = ["MatrixFactorisation"]

logger = logging.getLogger(__name__)

#: Confidence of each event kind: a multiplier of the learning rate; 0 skips the kind.
DEFAULT_CONFIDENCE: dict[str, float] = {
    "impression": 0.0,
    "click": 1.0,
    "add_to_cart": 2.0,
    "purchase": 3.0,
}


class MatrixFactorisation(Recommender):
    """Rank items by the dot product of learnt user and item factors.

    New users start with small random factors drawn from the recommender's seeded generator;
    new items with small random factors seeded by their identifier, so that an unknown item
    gets a random place in the ranking (a little exploration) rather than the last one.
    The query vector of a request is the user's factors plus the mean factors of the user's
    recent items plus the context item's factors. A user the recommender has never seen, on a
    page without a context item, is served by the item biases alone (a popularity of sorts).

    Parameters
    ----------
    catalog
        The shared catalog.
    n_factors
        Dimension of the factors.
    learning_rate
        Step size of each gradient step, before the event kind's confidence multiplies it.
    regularisation
        L2 penalty on the factors and biases touched by a step.
    n_negatives
        Items sampled as negatives for each positive event.
    init_scale
        Standard deviation of the starting factors of users and items.
    context_weight
        Weight of the context item's factors added to the user's factors as the query.
    history_weight
        Weight of the mean factors of the user's recent items, also added to the query; it
        carries users with few events, whose own factors are still mostly their random start.
    confidence
        Learning-rate multiplier per event kind; kinds left out, and impressions by default,
        are not learnt.
    **options
        ``seed`` and the business rule settings, see :class:`~models.base.Recommender`.

    Attributes
    ----------
    n_users
        Users with factors.

    Examples
    --------
    Two groups of users who never share an item; a new user who bought an item of the first
    group is recommended the first group's other items.

    >>> from models.base import Context, Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> catalog = Catalog()
    >>> for n in range(6):
    ...     _ = catalog.upsert(ItemInfo(f"i{n}", "c", f"b{n}", 1.0, 0, stock=5))
    >>> model = MatrixFactorisation(catalog, n_factors=4, learning_rate=0.4, seed=1)
    >>> for step in range(60):
    ...     group = step % 2
    ...     for item in range(3 * group, 3 * group + 3):
    ...         model.learn(Feedback(f"u{step % 10}", f"i{item}", "click", at=float(step)))
    >>> model.learn(Feedback("new", "i0", "purchase", at=99.0))
    >>> sorted(s.item_id for s in model.recommend(Context("new", 2, 99.0)))
    ['i1', 'i2']

    References
    ----------
    [^1]: Rendle, S., Freudenthaler, C., Gantner, Z. and Schmidt-Thieme, L. (2009). BPR:
    Bayesian personalized ranking from implicit feedback. UAI.
    """

    name = "matrix_factorisation"

    def __init__(
        self,
        catalog: Catalog,
        *,
        n_factors: int = 32,
        learning_rate: float = 0.1,
        regularisation: float = 0.01,
        n_negatives: int = 4,
        init_scale: float = 0.1,
        context_weight: float = 1.0,
        history_weight: float = 1.0,
        confidence: dict[str, float] | None = None,
        **options: Unpack[RecommenderOptions],
    ) -> None:
        super().__init__(catalog, **options)
        self.n_factors = n_factors
        self.learning_rate = float(learning_rate)
        self.regularisation = float(regularisation)
        self.n_negatives = n_negatives
        self.init_scale = float(init_scale)
        self.context_weight = float(context_weight)
        self.history_weight = float(history_weight)
        self.confidence = dict(DEFAULT_CONFIDENCE if confidence is None else confidence)
        self._rng = np.random.default_rng(self.seed)
        self._user_index: dict[str, int] = {}
        self._user_factors = np.zeros((16, n_factors), dtype=np.float64)
        self._item_factors = np.zeros((16, n_factors), dtype=np.float64)
        self._item_bias = np.zeros(16, dtype=np.float64)
        self._n_items_started = 0

    # TODO: in a day of simulated traffic most users have one to three positive events, so
    # their factors stay close to the random start and the item biases (a popularity) decide
    # most rankings: the arm captures about as much of the oracle-random gap as popularity does
    # (bench/bench_arm_quality.py). Taking negatives from the passed-over items of the same
    # slate does not change that at this length. A taste signal that generalises across users
    # faster (item factors tied to the catalog attributes, or fewer factors at the start) is
    # due when the matrix factorisation arm is to beat the control on runs of a day.

    @property
    def n_users(self) -> int:
        return len(self._user_index)

    def _learn(self, feedback: Feedback, item_index: int) -> None:
        confidence = self.confidence.get(feedback.kind, 0.0)
        if confidence == 0.0:
            return

        user = self._user_row(feedback.user_id)
        self._ensure_items(self.catalog.n_items)
        negatives = self._rng.integers(0, self.catalog.n_items, size=self.n_negatives)
        self._bpr_step(user, item_index, negatives, self.learning_rate * confidence)

    def _bpr_step(self, user: int, item: int, negatives: np.ndarray, rate: float) -> None:
        """One gradient ascent step on ``mean_j log sigmoid(x_ui - x_uj)`` minus the L2 penalty."""
        # A negative that happens to be the positive item says nothing; drop it.
        negatives = negatives[negatives != item]
        if len(negatives) == 0:
            return

        p = self._user_factors[user].copy()
        q_item = self._item_factors[item].copy()
        q_negatives = self._item_factors[negatives]
        difference = q_item - q_negatives
        margin = difference @ p + self._item_bias[item] - self._item_bias[negatives]

        # d log sigmoid(x) / dx = sigmoid(-x), averaged over the negatives so that the step size
        # does not grow with their number.
        gradient = 1.0 / (1.0 + np.exp(np.clip(margin, -30.0, 30.0))) / len(negatives)
        total = gradient.sum()

        reg = self.regularisation
        self._user_factors[user] = p + rate * (gradient @ difference - reg * p)
        self._item_factors[item] = q_item + rate * (total * p - reg * q_item)
        self._item_factors[negatives] = q_negatives - rate * (
            gradient[:, None] * p + reg * q_negatives
        )
        bias = self._item_bias
        bias[item] += rate * (total - reg * bias[item])
        bias[negatives] -= rate * (gradient + reg * bias[negatives])

    def score(self, context: Context) -> np.ndarray:
        n_items = self.catalog.n_items
        self._ensure_items(n_items)
        query = np.zeros(self.n_factors, dtype=np.float64)
        user = self._user_index.get(context.user_id)
        if user is not None:
            query += self._user_factors[user]

        if context.context_item_id is not None:
            item = self.catalog.index_of(context.context_item_id)
            if item is not None:
                query += self.context_weight * self._item_factors[item]

        # The recent items speak for a user whose own factors have seen few steps.
        recent = [r.item_index for r in self.history.recent(context.user_id)]
        if recent and self.history_weight:
            query += self.history_weight * self._item_factors[recent].mean(axis=0)
        return self._item_factors[:n_items] @ query + self._item_bias[:n_items]

    def _user_row(self, user_id: str) -> int:
        row = self._user_index.get(user_id)
        if row is not None:
            return row

        row = len(self._user_index)
        if row == len(self._user_factors):
            self._user_factors = _grown(self._user_factors, 2 * row)
        self._user_factors[row] = self._rng.normal(0.0, self.init_scale, self.n_factors)
        self._user_index[user_id] = row
        return row

    def _ensure_items(self, n_items: int) -> None:
        if len(self._item_bias) < n_items:
            capacity = max(n_items, 2 * len(self._item_bias))
            self._item_factors = _grown(self._item_factors, capacity)
            self._item_bias = _grown(self._item_bias, capacity)

        # A new item's start depends on its identifier and the seed only, not on when the
        # catalog grew, so that scoring a request never consumes the sampling generator.
        item_ids = self.catalog.item_ids
        for index in range(self._n_items_started, n_items):
            crc = zlib.crc32(item_ids[index].encode())
            rng = np.random.default_rng([self.seed, crc])
            self._item_factors[index] = rng.normal(0.0, self.init_scale, self.n_factors)
        self._n_items_started = max(self._n_items_started, n_items)

    def _options(self) -> dict[str, Any]:
        return {
            "n_factors": self.n_factors,
            "learning_rate": self.learning_rate,
            "regularisation": self.regularisation,
            "n_negatives": self.n_negatives,
            "init_scale": self.init_scale,
            "context_weight": self.context_weight,
            "history_weight": self.history_weight,
            "confidence": self.confidence,
        }

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        n_items = self._n_items_started
        users = list(self._user_index)
        arrays = {
            "user_ids": state_codec.strings(users),
            "user_factors": self._user_factors[: len(users)].copy(),
            "item_ids": state_codec.strings(self.catalog.item_ids[:n_items]),
            "item_factors": self._item_factors[:n_items].copy(),
            "item_bias": self._item_bias[:n_items].copy(),
        }
        return {"rng": self._rng.bit_generator.state}, arrays

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._rng.bit_generator.state = header["rng"]
        users = state_codec.as_strings(arrays["user_ids"])
        self._user_index = {user_id: row for row, user_id in enumerate(users)}
        self._user_factors = _grown(arrays["user_factors"], max(len(users), 16))

        self._ensure_items(self.catalog.n_items)
        item_ids = state_codec.as_strings(arrays["item_ids"])
        for row, item_id in enumerate(item_ids):
            index = self.catalog.index_of(item_id)
            if index is not None:
                self._item_factors[index] = arrays["item_factors"][row]
                self._item_bias[index] = arrays["item_bias"][row]


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    """A zero-padded copy of ``array`` with ``capacity`` rows (at least its current rows)."""
    grown = np.zeros((max(capacity, len(array)), *array.shape[1:]), dtype=np.float64)
    grown[: len(array)] = array
    return grown
