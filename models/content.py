"""Content-based recommendation: item attributes matched against a time-decayed user profile.

An item is a sparse vector of its category, brand, price tier and tags (see
:meth:`~models.catalog.Catalog.features`). A user's profile is the sum of the vectors of the
items the user interacted with, each weighted by its event kind and halved every
``half_life_s`` seconds. An item's score is the dot product of its vector with the profile
(normalised to unit length) plus, for the page being browsed, with the context item's vector
and the context category, plus a prior of the recommender's own time-decayed popularity: among
items that match alike, what sells now comes first, and a strong match still beats a bestseller
that does not match.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Unpack

import numpy as np

from models import state as state_codec
from models.base import Context, Feedback, Recommender, RecommenderOptions
from models.catalog import FEATURE_FIELDS, Catalog
from models.popularity import DecayedCounts

__all__ = ["Content", "DEFAULT_FIELD_WEIGHTS", "DEFAULT_PROFILE_WEIGHTS"]

logger = logging.getLogger(__name__)

#: How much a match on each attribute field counts.
DEFAULT_FIELD_WEIGHTS: dict[str, float] = {
    "category": 1.0,
    "brand": 1.0,
    "price_tier": 0.5,
    "tag": 0.5,
}

#: How much each event kind adds to the profile; impressions say nothing about taste.
DEFAULT_PROFILE_WEIGHTS: dict[str, float] = {
    "impression": 0.0,
    "click": 1.0,
    "add_to_cart": 2.0,
    "purchase": 3.0,
}

# A user's stored profile grows like exp(exponent); past this it is rescaled to stay finite.
_MAX_EXPONENT = 50.0


class Content(Recommender):
    """Recommend items whose attributes resemble what the user liked lately and the page shown.

    Profiles use forward decay: an event at time ``at`` adds ``weight * exp(decay * (at -
    reference_at))`` with a per-user reference time, so learning touches only the event's
    features, and since the profile is normalised before scoring, the common factor cancels.
    A user without a profile is matched on the context item and category alone; with neither,
    the recommender falls back to its own time-decayed popularity.

    Parameters
    ----------
    catalog
        The shared catalog.
    half_life_s
        Seconds after which an event weighs half as much in the profile (and in the fallback
        popularity).
    context_weight
        Weight of the page's context (item and category) against the unit-length profile.
    field_weights
        How much a match on each of category, brand, price tier and tags counts.
    profile_weights
        How much each event kind adds to the profile.
    popularity_weight
        Score of the most popular item in the popularity prior (a match on category and brand
        scores about 2 with the default field weights).
    **options
        ``seed`` and the business rule settings, see :class:`~models.base.Recommender`.

    Attributes
    ----------
    n_profiles
        Users with a profile.

    Examples
    --------
    >>> from models.base import Context, Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> catalog = Catalog()
    >>> rows = [("boot", "shoes", "acme"), ("clog", "shoes", "acme"), ("sandal", "shoes", "zed"),
    ...         ("scarf", "clothing", "zed"), ("hat", "clothing", "bo")]
    >>> for item_id, category, brand in rows:
    ...     _ = catalog.upsert(ItemInfo(item_id, category, brand, 10.0, 1, stock=4))
    >>> model = Content(catalog)
    >>> model.learn(Feedback("ann", "boot", "purchase", at=0.0))
    >>> [s.item_id for s in model.recommend(Context("ann", 2, 1.0))]
    ['clog', 'sandal']
    >>> [s.item_id for s in model.recommend(Context("new", 2, 1.0, context_category="clothing"))]
    ['boot', 'scarf']

    A new user on a clothing page is shown the bestseller first, then clothing.

    References
    ----------
    [^1]: Pazzani, M. J. and Billsus, D. (2007). Content-based recommendation systems. In The
    Adaptive Web, LNCS 4321, 325-341.
    """

    name = "content"

    def __init__(
        self,
        catalog: Catalog,
        *,
        half_life_s: float = 7 * 86_400.0,
        context_weight: float = 0.5,
        field_weights: dict[str, float] | None = None,
        profile_weights: dict[str, float] | None = None,
        popularity_weight: float = 1.0,
        **options: Unpack[RecommenderOptions],
    ) -> None:
        super().__init__(catalog, **options)
        self.half_life_s = float(half_life_s)
        self.context_weight = float(context_weight)
        weights = DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights
        self.field_weights = {field: float(weights.get(field, 0.0)) for field in FEATURE_FIELDS}
        self.profile_weights = dict(
            DEFAULT_PROFILE_WEIGHTS if profile_weights is None else profile_weights
        )
        self.popularity_weight = float(popularity_weight)
        self.popularity = DecayedCounts(self.half_life_s)
        self._decay = math.log(2.0) / self.half_life_s
        self._profiles: dict[str, dict[int, float]] = {}
        self._reference_at: dict[str, float] = {}
        self._field_weight_by_code = np.array([self.field_weights[f] for f in FEATURE_FIELDS])

    @property
    def n_profiles(self) -> int:
        return len(self._profiles)

    def _learn(self, feedback: Feedback, item_index: int) -> None:
        weight = self.profile_weights.get(feedback.kind, 0.0)
        if weight == 0.0:
            return

        self.popularity.add(item_index, weight, feedback.at)
        profile = self._profiles.setdefault(feedback.user_id, {})
        reference_at = self._reference_at.setdefault(feedback.user_id, feedback.at)
        exponent = self._decay * (feedback.at - reference_at)
        if exponent > _MAX_EXPONENT:
            self._rebase(feedback.user_id, feedback.at)
            exponent = 0.0

        columns, values = self.catalog.item_features(item_index)
        scale = weight * math.exp(exponent)
        for column, value in zip(columns.tolist(), values.tolist(), strict=True):
            profile[column] = profile.get(column, 0.0) + scale * value

    def _rebase(self, user_id: str, at: float) -> None:
        factor = math.exp(-self._decay * (at - self._reference_at[user_id]))
        profile = self._profiles[user_id]
        for column in profile:
            profile[column] *= factor
        self._reference_at[user_id] = at

    def score(self, context: Context) -> np.ndarray:
        n_items = self.catalog.n_items
        popularity = self.popularity.values(n_items, context.at)
        query = self._query(context)
        if query is None:
            return popularity

        # Field weights apply once, to the query; the catalog's matrix stays unweighted.
        query *= self._field_weight_by_code[self.catalog.feature_fields]
        scores = self.catalog.features() @ query
        top = popularity.max() if n_items else 0.0
        if top > 0:
            scores += popularity * (self.popularity_weight / top)
        return scores

    def _query(self, context: Context) -> np.ndarray | None:
        """The profile (unit length) plus the weighted context, or None if both are empty."""
        n_features = self.catalog.n_features
        query = np.zeros(n_features, dtype=np.float64)
        profile = self._profiles.get(context.user_id)
        has_signal = False
        if profile:
            columns = np.fromiter(profile.keys(), dtype=np.int64, count=len(profile))
            query[columns] = np.fromiter(profile.values(), dtype=np.float64, count=len(profile))
            norm = np.linalg.norm(query)
            if norm > 0:
                query /= norm
                has_signal = True

        if context.context_item_id is not None:
            index = self.catalog.index_of(context.context_item_id)
            if index is not None:
                columns, values = self.catalog.item_features(index)
                query[columns] += self.context_weight * values
                has_signal = True

        if context.context_category is not None:
            column = self.catalog.feature_column("category", context.context_category)
            if column is not None:
                query[column] += self.context_weight
                has_signal = True
        return query if has_signal else None

    def _options(self) -> dict[str, Any]:
        return {
            "half_life_s": self.half_life_s,
            "context_weight": self.context_weight,
            "field_weights": self.field_weights,
            "profile_weights": self.profile_weights,
            "popularity_weight": self.popularity_weight,
        }

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        users = list(self._profiles)
        entry_user, entry_field, entry_value, entry_weight = [], [], [], []
        for position, user_id in enumerate(users):
            for column, weight in self._profiles[user_id].items():
                field, value = self.catalog.feature_name(column)
                entry_user.append(position)
                entry_field.append(FEATURE_FIELDS.index(field))
                entry_value.append(value)
                entry_weight.append(weight)

        popularity_header, popularity_arrays = self.popularity.to_arrays(self.catalog.item_ids)
        arrays = {
            "users": state_codec.strings(users),
            "reference_at": np.array([self._reference_at[u] for u in users], dtype=np.float64),
            "entry_user": np.asarray(entry_user, dtype=np.int64),
            "entry_field": np.asarray(entry_field, dtype=np.int8),
            "entry_value": state_codec.strings(entry_value),
            "entry_weight": np.asarray(entry_weight, dtype=np.float64),
        }
        arrays.update({f"popularity.{key}": value for key, value in popularity_arrays.items()})
        return {"popularity": popularity_header}, arrays

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        popularity_arrays = state_codec.strip_prefix(arrays, "popularity.")
        self.popularity.load_arrays(header["popularity"], popularity_arrays, self.catalog)

        users = state_codec.as_strings(arrays["users"])
        for user_id, reference_at in zip(users, arrays["reference_at"].tolist(), strict=True):
            self._profiles[user_id] = {}
            self._reference_at[user_id] = reference_at

        entries = zip(
            arrays["entry_user"].tolist(),
            arrays["entry_field"].tolist(),
            state_codec.as_strings(arrays["entry_value"]),
            arrays["entry_weight"].tolist(),
            strict=True,
        )
        for position, field, value, weight in entries:
            # Features the catalog no longer has cannot match any item; they are dropped.
            column = self.catalog.feature_column(FEATURE_FIELDS[field], value)
            if column is not None:
                self._profiles[users[position]][column] = weight
