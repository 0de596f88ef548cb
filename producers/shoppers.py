"""The simulated shoppers: latent tastes, budgets, brand affinities, category interests, activity.

Shoppers are the user side of the simulator's ground truth. A shopper's taste is a unit vector
in the latent space the catalog's item factors live in; the rest of the persona says which
price tier the shopper is comfortable with and how strongly a pricier item puts them off,
which houses they love, which categories they browse and how often they come back. None of
this is observable: recommenders only see the events it causes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: Share of shoppers whose budget sits at each tier: most shop the entry and core ranges.
PREFERRED_TIER_SHARES = np.array([0.35, 0.30, 0.20, 0.10, 0.05])

SECONDS_PER_DAY = 86_400.0

#: Drifting tastes turn in steps of this many simulated seconds, so that utilities computed
#: for one step can be reused within it.
DRIFT_STEP_S = 3_600.0


@dataclass
class ShopperPopulation:
    """The simulated shoppers, one row per shopper in parallel numpy arrays.

    Shoppers are addressed inside the simulator by their row (``shopper`` index) and outside
    by ``user_id``. Build one with :meth:`generate`.

    Parameters
    ----------
    user_ids
        ``"u00042"``-style identifiers, one per row.
    taste
        Unit taste vectors at simulated time 0, in the catalog's latent space.
    drift_direction
        Unit vectors orthogonal to ``taste``: the way each taste turns when drift is on.
    drift_per_day
        Angle (radians) by which every taste turns per simulated day; 0 keeps tastes fixed.
    preferred_tier
        The highest price tier (0 to 4) the shopper buys in without hesitation.
    price_sensitivity
        Utility lost per tier an item sits above ``preferred_tier``.
    brand_affinity
        Utility bonus per (shopper, brand); a few favourite houses stand out.
    category_interest
        Utility bonus per (shopper, category).
    category_share
        Probability that a browsing session visits each category.
    activity
        Relative rate at which the shopper starts sessions.

    Attributes
    ----------
    n_shoppers
        Number of shoppers.
    index_of
        Row of each ``user_id``.
    category_cdf
        Cumulative ``category_share`` per shopper, for drawing the category a session visits.

    Examples
    --------
    >>> shoppers = ShopperPopulation.generate(
    ...     np.random.default_rng(7), n_shoppers=100, n_factors=8, n_brands=5, n_categories=4
    ... )
    >>> shoppers.user_ids[42], shoppers.taste.shape, shoppers.brand_affinity.shape
    ('u00042', (100, 8), (100, 5))
    >>> bool(np.allclose(shoppers.taste_at(42, at_s=86_400.0), shoppers.taste[42]))
    True

    """

    user_ids: list[str]
    taste: np.ndarray
    drift_direction: np.ndarray
    drift_per_day: float
    preferred_tier: np.ndarray
    price_sensitivity: np.ndarray
    brand_affinity: np.ndarray
    category_interest: np.ndarray
    category_share: np.ndarray
    activity: np.ndarray

    def __post_init__(self) -> None:
        self.index_of = {user_id: index for index, user_id in enumerate(self.user_ids)}
        self.category_cdf = np.cumsum(self.category_share, axis=1)

    @property
    def n_shoppers(self) -> int:
        """Number of shoppers."""
        return len(self.user_ids)

    @classmethod
    def generate(
        cls,
        rng: np.random.Generator,
        n_shoppers: int = 10_000,
        n_factors: int = 12,
        n_brands: int = 36,
        n_categories: int = 9,
        n_personas: int = 10,
        drift_per_day: float = 0.0,
    ) -> ShopperPopulation:
        """Draw ``n_shoppers`` shoppers around ``n_personas`` shared taste centroids.

        Personas make tastes cluster, as real shoppers' do, so that what similar shoppers
        liked is informative; the noise around each centroid keeps every shopper distinct.
        """
        personas = _unit_rows(rng.normal(size=(n_personas, n_factors)))
        persona = rng.integers(0, n_personas, size=n_shoppers)
        taste = _unit_rows(personas[persona] + 0.6 * rng.normal(size=(n_shoppers, n_factors)))

        # Turning toward a direction orthogonal to the taste keeps the drifted taste unit length.
        direction = rng.normal(size=(n_shoppers, n_factors))
        direction -= (direction * taste).sum(axis=1, keepdims=True) * taste
        direction = _unit_rows(direction)

        preferred_tier = rng.choice(len(PREFERRED_TIER_SHARES), n_shoppers, p=PREFERRED_TIER_SHARES)
        price_sensitivity = rng.gamma(shape=4.0, scale=0.25, size=n_shoppers)

        brand_affinity = rng.normal(0.0, 0.15, size=(n_shoppers, n_brands))
        n_favourites = min(3, n_brands)
        favourites = np.argsort(rng.random((n_shoppers, n_brands)), axis=1)[:, :n_favourites]
        rows = np.arange(n_shoppers)[:, None]
        brand_affinity[rows, favourites] += rng.uniform(0.5, 1.5, size=(n_shoppers, n_favourites))

        category_share = rng.dirichlet(np.full(n_categories, 0.6), size=n_shoppers)
        category_interest = np.clip(0.6 * np.log(category_share * n_categories), -1.5, 1.0)
        activity = rng.lognormal(0.0, 1.0, size=n_shoppers)

        width = max(5, len(str(n_shoppers - 1)))
        logger.info("shoppers_generated n_shoppers=%d n_personas=%d", n_shoppers, n_personas)
        return cls(
            user_ids=[f"u{index:0{width}d}" for index in range(n_shoppers)],
            taste=taste,
            drift_direction=direction,
            drift_per_day=float(drift_per_day),
            preferred_tier=preferred_tier.astype(np.int32),
            price_sensitivity=price_sensitivity,
            brand_affinity=brand_affinity,
            category_interest=category_interest,
            category_share=category_share,
            activity=activity,
        )

    def taste_epoch(self, at_s: float) -> int:
        """The drift step ``at_s`` falls in; always 0 without drift."""
        if self.drift_per_day == 0.0:
            return 0
        return int(at_s // DRIFT_STEP_S)

    def taste_at(self, shopper: int, at_s: float) -> np.ndarray:
        """The shopper's taste ``at_s`` simulated seconds after the start.

        With drift on, the taste turns from its start toward its drift direction by
        ``drift_per_day`` radians a day, in hourly steps. It depends only on the time asked
        about, not on the order in which the simulator asks.
        """
        if self.drift_per_day == 0.0:
            return self.taste[shopper]

        angle = self.drift_per_day * self.taste_epoch(at_s) * DRIFT_STEP_S / SECONDS_PER_DAY
        return np.cos(angle) * self.taste[shopper] + np.sin(angle) * self.drift_direction[shopper]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale every row to unit length."""
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
