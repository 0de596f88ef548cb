"""The recommender protocol and the plain records it reads and returns.

Every recommender of the system learns from :class:`Feedback` one event at a time and answers a
:class:`Context` with a slate of :class:`Scored` items. The records are frozen dataclasses rather
than the pydantic events of ``stream/``: this package imports nothing from the others, and the
stream application converts its events into these records at the boundary.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, Unpack

import numpy as np

from models import state as state_codec
from models.catalog import Catalog
from models.history import UserHistory
from models.rules import BusinessRules, RuleSettings

__all__ = [
    "KINDS",
    "Context",
    "Feedback",
    "FeedbackKind",
    "ItemInfo",
    "Recommender",
    "RecommenderOptions",
    "Scored",
]

logger = logging.getLogger(__name__)

FeedbackKind = Literal["impression", "click", "add_to_cart", "purchase"]

#: The event kinds a recommender learns from, from the weakest signal to the strongest.
KINDS: tuple[str, ...] = ("impression", "click", "add_to_cart", "purchase")


@dataclass(frozen=True, slots=True)
class Feedback:
    """One interaction of a user with an item, as a recommender learns it.

    ``at`` is the event time in epoch seconds. ``request_id`` and ``position`` are set when the
    interaction came from a served slate.
    """

    user_id: str
    item_id: str
    kind: FeedbackKind
    at: float
    request_id: str | None = None
    position: int | None = None
    price: float = 0.0
    quantity: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown feedback kind {self.kind!r}; expected one of {KINDS}")


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """The attributes of one catalog item that the recommenders and the business rules use."""

    item_id: str
    category: str
    brand: str
    price: float
    price_tier: int
    stock: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """A request for ``k`` items for ``user_id`` at time ``at`` (epoch seconds).

    ``context_item_id`` is the item on the page, if any, and ``context_category`` the category
    being browsed. ``request_id`` identifies the served slate; the hybrid recommender needs it to
    attribute later clicks and purchases to the source that filled each slot.
    """

    user_id: str
    k: int
    at: float
    context_item_id: str | None = None
    context_category: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    """One item of a slate: its score, the source that chose it and that choice's probability."""

    item_id: str
    score: float
    source: str
    source_probability: float = 1.0


class RecommenderOptions(RuleSettings, total=False):
    """The keyword arguments every recommender takes, documented on :class:`Recommender`.

    Subclasses accept them as ``**options: Unpack[RecommenderOptions]`` and pass them on to
    ``Recommender.__init__`` unchanged.
    """

    seed: int


class Recommender(abc.ABC):
    """Base class of every recommender: learn from events, recommend a slate, save and restore.

    A recommender scores every catalog item for a request (:meth:`score`), then the business
    rules (:class:`~models.rules.BusinessRules`) remove what may not be shown and pick the top
    ``k`` (:meth:`recommend`). Each recommender owns a :class:`~models.history.UserHistory` of
    the events it learnt, which the rules read, so an experiment arm stays a closed world. The
    :class:`~models.catalog.Catalog` is shared: items may appear in it at any time, and every
    recommender copes with items and users it has never seen.

    Subclasses implement ``_learn``, :meth:`score`, ``_options``, ``_get_state`` and
    ``_set_state``; the base class does the bookkeeping around them. A subclass constructor takes
    its own parameters plus ``**options`` (:class:`RecommenderOptions`, the parameters below but
    ``catalog``) and passes ``options`` to this constructor.

    Parameters
    ----------
    catalog
        The shared catalog. The recommender reads it and never changes it.
    seed
        Seed of every random choice the recommender makes.
    max_per_brand, tier_tolerance, fatigue_impressions, fatigue_window_s
        Business rule settings, see :class:`~models.rules.BusinessRules`, which holds their
        defaults.

    Attributes
    ----------
    name
        The recommender's registry name, also the ``source`` of the items it recommends.
    n_learnt
        Events learnt so far; it serves as the model version.
    n_skipped
        Events ignored because their item is not in the catalog.
    history
        The users' purchases and recent items, as learnt by this recommender.

    Examples
    --------
    >>> from models.catalog import Catalog
    >>> from models.registry import build_recommender
    >>> catalog = Catalog()
    >>> for item_id, brand in [("tea", "leaf"), ("mug", "clay"), ("pot", "clay")]:
    ...     _ = catalog.upsert(ItemInfo(item_id, "kitchen", brand, 5.0, 1, stock=2))
    >>> recommender = build_recommender("popularity", catalog, seed=1)
    >>> recommender.learn(Feedback("ann", "mug", "purchase", at=0.0))
    >>> recommender.learn(Feedback("bob", "pot", "click", at=1.0))
    >>> [s.item_id for s in recommender.recommend(Context("ann", 2, at=2.0))]
    ['pot', 'tea']
    >>> restored = type(recommender).from_state(recommender.to_state(), catalog)
    >>> request = Context("ann", 2, at=2.0)
    >>> restored.recommend(request) == recommender.recommend(request)
    True
    """

    name: ClassVar[str] = ""

    def __init__(
        self, catalog: Catalog, *, seed: int = 0, **rule_settings: Unpack[RuleSettings]
    ) -> None:
        self.catalog = catalog
        self.seed = seed
        self.rules = BusinessRules(**rule_settings)
        self.history = UserHistory()
        self.n_learnt = 0
        self.n_skipped = 0

    def learn(self, feedback: Feedback) -> None:
        """Learn one event.

        Events on items missing from the catalog are counted in ``n_skipped`` and ignored:
        nothing could recommend such an item anyway.
        """
        item_index = self.catalog.index_of(feedback.item_id)
        if item_index is None:
            self.n_skipped += 1
            logger.debug("feedback_skipped item_id=%s reason=not_in_catalog", feedback.item_id)
            return

        # The model learns before the history records the event, so that a model reading the
        # history (co-occurrence pairs the item with the user's earlier items) sees the past.
        self._learn(feedback, item_index)
        self.history.record(feedback, item_index, self.catalog)
        self.n_learnt += 1

    def recommend(self, context: Context) -> list[Scored]:
        """Return at most ``context.k`` distinct items, best first, that pass the business rules.

        Fewer than ``k`` items come back only when fewer items pass the rules.
        """
        if self.catalog.n_items == 0 or context.k <= 0:
            return []

        scores = self.score(context)
        picked = self.rules.select(scores, self.catalog, self.history, context, context.k)
        item_ids = self.catalog.item_ids
        return [Scored(item_ids[i], float(scores[i]), self.name) for i in picked]

    @abc.abstractmethod
    def score(self, context: Context) -> np.ndarray:
        """Score every catalog item for a request, before any business rule.

        Returns a float array of length ``catalog.n_items`` indexed by catalog index; higher is
        better. Scores are comparable within one request only.
        """

    @abc.abstractmethod
    def _learn(self, feedback: Feedback, item_index: int) -> None:
        """Update the model with one event on a catalog item."""

    @abc.abstractmethod
    def _options(self) -> dict[str, Any]:
        """The subclass constructor's own keyword arguments, as JSON-compatible values.

        ``seed`` and the business rule settings are saved by the base class.
        """

    @abc.abstractmethod
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The learnt state as a JSON-compatible header and named numpy arrays."""

    @abc.abstractmethod
    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``_get_state`` returned, on a freshly built recommender."""

    def to_state(self) -> bytes:
        """Export the learnt state; :meth:`from_state` restores it exactly.

        The catalog is not part of the state. Items are saved by ``item_id``, so the state may be
        restored against a catalog that numbers its items differently.
        """
        header, arrays = self._get_state()
        history_header, history_arrays = self.history.to_arrays(self.catalog)
        envelope = {
            "name": self.name,
            "options": {
                "seed": self.seed,
                **dataclasses.asdict(self.rules),
                **self._options(),
            },
            "n_learnt": self.n_learnt,
            "n_skipped": self.n_skipped,
            "model": header,
            "history": history_header,
        }
        prefixed = {f"model.{key}": value for key, value in arrays.items()}
        prefixed.update({f"history.{key}": value for key, value in history_arrays.items()})
        return state_codec.pack(envelope, prefixed)

    @classmethod
    def from_state(cls, state: bytes, catalog: Catalog) -> Self:
        """Rebuild a recommender from :meth:`to_state` bytes, reading items from ``catalog``."""
        envelope, arrays = state_codec.unpack(state)
        if envelope["name"] != cls.name:
            raise ValueError(f"state of {envelope['name']!r} cannot restore a {cls.name!r}")

        recommender = cls(catalog, **envelope["options"])
        model_arrays = state_codec.strip_prefix(arrays, "model.")
        recommender._set_state(envelope["model"], model_arrays)
        history_arrays = state_codec.strip_prefix(arrays, "history.")
        recommender.history = UserHistory.from_arrays(envelope["history"], history_arrays, catalog)
        recommender.n_learnt = envelope["n_learnt"]
        recommender.n_skipped = envelope["n_skipped"]
        logger.debug("state_restored recommender=%s n_learnt=%d", cls.name, recommender.n_learnt)
        return recommender
