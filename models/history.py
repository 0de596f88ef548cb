"""Per-user history kept by each recommender: purchases, tiers bought, recent items, impressions.

The business rules read purchases, tiers and the impressions not followed by a click (impression
fatigue); co-occurrence and the hybrid read the recent items. Each recommender owns its own
history, built only from the events it learnt, so an experiment arm never sees another arm's
shoppers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from models import state as state_codec

if TYPE_CHECKING:
    from models.base import Feedback
    from models.catalog import Catalog

__all__ = ["RecentItem", "UserHistory"]

_KIND_CODES = {"impression": 0, "click": 1, "add_to_cart": 2, "purchase": 3}
_KIND_NAMES = tuple(_KIND_CODES)
_EMPTY: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class RecentItem:
    """One positive interaction (click, add_to_cart or purchase) in a user's recent history."""

    item_index: int
    at: float
    kind: str


class UserHistory:
    """What each user bought, interacted with and was shown lately, keyed by ``user_id``.

    Impressions are not recent items: being shown an item says nothing about liking it. They
    are counted apart, per user and item, as **unclicked impressions**: the number of times the
    item was shown to the user since the user last clicked, carted or bought it, with the time
    of the last showing. Shoppers tire of an item shown again and again without a click; the
    business rules read these counts to stop showing it (see
    :meth:`~models.rules.BusinessRules.eligible`).

    Parameters
    ----------
    n_recent
        Recent items kept per user; older ones are forgotten.
    n_shown
        Items whose unclicked impressions are kept per user; the item shown least recently is
        forgotten first, so memory stays bounded for users who see many slates.

    Examples
    --------
    >>> from models.base import Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> catalog = Catalog()
    >>> index = catalog.upsert(ItemInfo("tea", "food", "leaf", 3.0, 1, 5))
    >>> history = UserHistory()
    >>> history.record(Feedback("ann", "tea", "purchase", at=10.0), index, catalog)
    >>> sorted(history.purchased("ann")), history.tier_bits("ann"), history.tier_bits("bob")
    ([0], 2, 0)
    >>> for at in (20.0, 30.0):
    ...     history.record(Feedback("bob", "tea", "impression", at=at), index, catalog)
    >>> history.unclicked_impressions("bob")
    {0: (2, 30.0)}
    >>> history.fatigued("bob", at=40.0, min_impressions=2, window_s=60.0)
    [0]
    >>> history.record(Feedback("bob", "tea", "click", at=50.0), index, catalog)
    >>> history.fatigued("bob", at=60.0, min_impressions=2, window_s=60.0)
    []
    """

    # TODO: users are never forgotten, so memory grows with every shopper an arm has seen.
    # Bounded simulations keep this small; a long-running worker facing real traffic would need
    # eviction of users idle for longer than a session horizon, with the same rule in every
    # recommender so that the arm's rules stay consistent.

    def __init__(self, n_recent: int = 20, n_shown: int = 200) -> None:
        self.n_recent = n_recent
        self.n_shown = n_shown
        self._purchased: dict[str, set[int]] = {}
        self._tier_bits: dict[str, int] = {}
        self._recent: dict[str, deque[RecentItem]] = {}
        # user -> item -> [unclicked impressions, last shown at]; insertion order is the order
        # of the last showing, so the first entry is the one to forget.
        self._shown: dict[str, dict[int, list[float]]] = {}

    @property
    def n_users(self) -> int:
        return len(self._recent.keys() | self._purchased.keys() | self._shown.keys())

    def record(self, feedback: Feedback, item_index: int, catalog: Catalog) -> None:
        """Remember one event of a user on the catalog item at ``item_index``."""
        if feedback.kind == "impression":
            self._record_impression(feedback.user_id, item_index, feedback.at)
            return

        # Any positive interaction shows interest: the item's fatigue starts over.
        shown = self._shown.get(feedback.user_id)
        if shown:
            shown.pop(item_index, None)

        if feedback.kind == "purchase":
            self._purchased.setdefault(feedback.user_id, set()).add(item_index)
            tier_bit = 1 << int(catalog.price_tiers[item_index])
            self._tier_bits[feedback.user_id] = self._tier_bits.get(feedback.user_id, 0) | tier_bit

        recent = self._recent.get(feedback.user_id)
        if recent is None:
            recent = self._recent[feedback.user_id] = deque(maxlen=self.n_recent)
        recent.append(RecentItem(item_index, feedback.at, feedback.kind))

    def _record_impression(self, user_id: str, item_index: int, at: float) -> None:
        shown = self._shown.get(user_id)
        if shown is None:
            shown = self._shown[user_id] = {}

        # Re-inserting moves the item to the end, the most recently shown place.
        entry = shown.pop(item_index, None)
        if entry is None:
            entry = [0.0, at]
        entry[0] += 1.0
        entry[1] = max(entry[1], at)
        shown[item_index] = entry
        if len(shown) > self.n_shown:
            del shown[next(iter(shown))]

    def unclicked_impressions(self, user_id: str) -> dict[int, tuple[int, float]]:
        """Per item: impressions to the user since the last positive interaction, last shown at."""
        shown = self._shown.get(user_id, {})
        return {item: (int(count), at) for item, (count, at) in shown.items()}

    def fatigued(self, user_id: str, at: float, min_impressions: int, window_s: float) -> list[int]:
        """Items shown to the user ``min_impressions`` times or more without a click, lately.

        Lately means that the last showing was at most ``window_s`` seconds before ``at``.
        """
        shown = self._shown.get(user_id)
        if not shown:
            return []
        since = at - window_s
        return [
            item
            for item, (count, last_at) in shown.items()
            if count >= min_impressions and last_at >= since
        ]

    def purchased(self, user_id: str) -> frozenset[int] | set[int]:
        """Catalog indices of the items the user bought (do not modify the result)."""
        return self._purchased.get(user_id, _EMPTY)

    def tier_bits(self, user_id: str) -> int:
        """Price tiers the user bought in, as a bit mask (bit ``t`` set for tier ``t``)."""
        return self._tier_bits.get(user_id, 0)

    def recent(self, user_id: str) -> list[RecentItem]:
        """The user's recent positive interactions, oldest first."""
        recent = self._recent.get(user_id)
        return list(recent) if recent else []

    def to_arrays(self, catalog: Catalog) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The history as a JSON header and arrays, naming users and items by identifier."""
        users = sorted(self._recent.keys() | self._purchased.keys() | self._shown.keys())
        position = {user_id: n for n, user_id in enumerate(users)}
        item_ids = catalog.item_ids

        bought = [(position[u], i) for u, items in self._purchased.items() for i in sorted(items)]
        recent = [(position[u], r) for u, rs in self._recent.items() for r in rs]
        shown = [(position[u], i, e) for u, es in self._shown.items() for i, e in es.items()]
        arrays = {
            "users": state_codec.strings(users),
            "tier_bits": np.array([self._tier_bits.get(u, 0) for u in users], dtype=np.int64),
            "bought_user": np.array([u for u, _ in bought], dtype=np.int64),
            "bought_item": state_codec.strings([item_ids[i] for _, i in bought]),
            "recent_user": np.array([u for u, _ in recent], dtype=np.int64),
            "recent_item": state_codec.strings([item_ids[r.item_index] for _, r in recent]),
            "recent_at": np.array([r.at for _, r in recent], dtype=np.float64),
            "recent_kind": np.array([_KIND_CODES[r.kind] for _, r in recent], dtype=np.int8),
            "shown_user": np.array([u for u, _, _ in shown], dtype=np.int64),
            "shown_item": state_codec.strings([item_ids[i] for _, i, _ in shown]),
            "shown_count": np.array([e[0] for _, _, e in shown], dtype=np.int64),
            "shown_at": np.array([e[1] for _, _, e in shown], dtype=np.float64),
        }
        return {"n_recent": self.n_recent, "n_shown": self.n_shown}, arrays

    @classmethod
    def from_arrays(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], catalog: Catalog
    ) -> UserHistory:
        """Rebuild a history saved by :meth:`to_arrays`; items missing from ``catalog`` drop."""
        history = cls(n_recent=header["n_recent"], n_shown=header.get("n_shown", 200))
        users = state_codec.as_strings(arrays["users"])
        for user_id, bits in zip(users, arrays["tier_bits"].tolist(), strict=True):
            if bits:
                history._tier_bits[user_id] = bits

        bought_items = state_codec.as_strings(arrays["bought_item"])
        for user, item_id in zip(arrays["bought_user"].tolist(), bought_items, strict=True):
            index = catalog.index_of(item_id)
            if index is not None:
                history._purchased.setdefault(users[user], set()).add(index)

        recent_items = state_codec.as_strings(arrays["recent_item"])
        rows = zip(
            arrays["recent_user"].tolist(),
            recent_items,
            arrays["recent_at"].tolist(),
            arrays["recent_kind"].tolist(),
            strict=True,
        )
        for user, item_id, at, kind in rows:
            index = catalog.index_of(item_id)
            if index is None:
                continue
            recent = history._recent.setdefault(users[user], deque(maxlen=history.n_recent))
            recent.append(RecentItem(index, at, _KIND_NAMES[kind]))

        # States saved before impressions were counted have no "shown" arrays.
        if "shown_user" in arrays:
            shown_items = state_codec.as_strings(arrays["shown_item"])
            rows = zip(
                arrays["shown_user"].tolist(),
                shown_items,
                arrays["shown_count"].tolist(),
                arrays["shown_at"].tolist(),
                strict=True,
            )
            for user, item_id, count, at in rows:
                index = catalog.index_of(item_id)
                if index is not None:
                    history._shown.setdefault(users[user], {})[index] = [float(count), at]
        return history
