"""The simulated luxury catalog: items with categories, brands, price tiers, stock and factors.

The catalog is the item side of the simulator's ground truth. Every item has a category, a
fictional brand, a price tier from 0 (entry) to 4 (haute) with a price typical of its category
and tier, a stock level that purchases run down, a restock rule (some items come back after a
while, limited pieces never do), a latent factor vector in the space shared with the shoppers'
tastes, an appeal that every shopper values alike (what makes some pieces bestsellers), and tags
a content-based recommender can read. The latent factors and the appeal stay inside the
simulator: only the observable attributes travel as :class:`stream.events.CatalogItem`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from stream.events import CatalogItem

logger = logging.getLogger(__name__)

#: Typical price (EUR) of each category at tiers 0 (entry) to 4 (haute). Neighbouring tiers are
#: at least 1.6 times apart, so that prices, drawn within +-20 % of these, never overlap.
TIER_PRICES: dict[str, tuple[float, ...]] = {
    "bags": (950.0, 2_200.0, 4_500.0, 9_500.0, 26_000.0),
    "watches": (1_500.0, 4_500.0, 11_000.0, 30_000.0, 90_000.0),
    "jewellery": (650.0, 2_000.0, 6_000.0, 18_000.0, 60_000.0),
    "shoes": (450.0, 800.0, 1_300.0, 2_200.0, 4_500.0),
    "ready-to-wear": (380.0, 900.0, 2_000.0, 4_500.0, 12_000.0),
    "fragrance": (90.0, 160.0, 280.0, 480.0, 950.0),
    "small-leather-goods": (250.0, 450.0, 750.0, 1_250.0, 2_600.0),
    "eyewear": (290.0, 480.0, 800.0, 1_300.0, 2_600.0),
    "scarves": (210.0, 380.0, 650.0, 1_100.0, 2_400.0),
}

CATEGORIES: tuple[str, ...] = tuple(TIER_PRICES)

#: Kinds of article per category, used for titles and tags.
CATEGORY_KINDS: dict[str, tuple[str, ...]] = {
    "bags": ("tote", "crossbody", "clutch", "top-handle", "backpack", "shoulder-bag"),
    "watches": ("automatic", "chronograph", "quartz", "dress-watch", "diver", "moonphase"),
    "jewellery": ("ring", "bracelet", "necklace", "earrings", "pendant", "brooch"),
    "shoes": ("loafer", "pump", "sneaker", "boot", "sandal", "derby"),
    "ready-to-wear": ("coat", "dress", "blazer", "knitwear", "shirt", "trousers"),
    "fragrance": ("eau-de-parfum", "eau-de-toilette", "extrait", "cologne", "home-scent"),
    "small-leather-goods": ("wallet", "card-holder", "key-ring", "belt", "pouch", "passport"),
    "eyewear": ("sunglasses", "optical", "aviator", "cat-eye", "shield"),
    "scarves": ("silk-square", "cashmere-stole", "twilly", "shawl", "bandana"),
}

#: Fictional houses; none of them is meant to name a real brand.
BRANDS: tuple[str, ...] = (
    "Maison Verane", "Castellane", "Orsay & Fils", "Valmorel", "Atelier Brume", "Lunetier",
    "Casa Ombrella", "Heloise Tarn", "Vetrano", "Sorelle Amaro", "Maison Quillon", "Aubrac",
    "Ferrand Paris", "Delacroix-Vey", "Nuvolari", "Studio Arnaud", "Bellamy & Crowe", "Ostra",
    "Maison Ilario", "Tessaro", "Corvelle", "Ludovic Saine", "Marchesi Rosa", "Halden",
    "Ravelle", "Orfeo Milano", "Maison Cendre", "Kestrel & Vane", "Solenne", "Arcadi",
    "Vauclair", "Montserrat Oro", "Idris Lamont", "Caravelle", "Perlotti", "Maison Sablon",
)  # fmt: skip

#: Style directions; the first latent dimensions carry them, so style tags follow the factors.
STYLES: tuple[str, ...] = ("classic", "avant-garde", "minimal", "logo", "sporty", "vintage")

MATERIALS: tuple[str, ...] = (
    "calfskin", "canvas", "suede", "gold", "silver", "steel", "silk", "cashmere", "wool",
    "crocodile", "titanium", "acetate",
)  # fmt: skip

COLOURS: tuple[str, ...] = (
    "black", "tan", "ivory", "burgundy", "navy", "emerald", "blush", "grey", "cognac", "gold",
)  # fmt: skip

#: Share of items drawn at each tier: the entry range is broad, haute pieces are few.
TIER_SHARES = np.array([0.30, 0.28, 0.22, 0.13, 0.07])

#: Mean initial stock per tier; haute pieces exist in one or two units.
TIER_MEAN_STOCK = np.array([30.0, 16.0, 8.0, 3.0, 1.0])

#: Share of items per tier that are never restocked (limited pieces).
TIER_NEVER_RESTOCK = np.array([0.15, 0.25, 0.40, 0.60, 0.85])


@dataclass
class Catalog:
    """The simulated luxury catalog, one row per item in parallel numpy arrays.

    Items are addressed inside the simulator by their row (``item index``) and outside by
    ``item_id``. Build one with :meth:`generate`; purchases call :meth:`take` and the clock
    calls :meth:`restock_due`.

    Parameters
    ----------
    item_ids
        ``"i00042"``-style identifiers, one per row.
    titles, tags
        Observable text attributes.
    category, brand
        Row's index into :attr:`categories` and :attr:`brands`.
    categories, brands
        Names of the categories and brands.
    price, price_tier
        List price in EUR and tier 0 (entry) to 4 (haute).
    stock
        Units left; purchases decrement it and it never goes below 0.
    restock_units, restock_after_s
        Units that come back and the delay after selling out; ``inf`` means never.
    factors
        Latent item vectors, one row per item, unit length.
    appeal
        Latent appeal of each item, standard normal: how much every shopper likes the piece
        beyond their own taste (an iconic design, craftsmanship, desirability). Zeros if None.

    Attributes
    ----------
    n_items
        Number of items.
    index_of
        Row of each ``item_id``.

    Examples
    --------
    >>> from datetime import UTC
    >>> catalog = Catalog.generate(np.random.default_rng(7), n_items=300, n_factors=8)
    >>> catalog.n_items, catalog.factors.shape
    (300, (300, 8))
    >>> item = catalog.record(0, updated_at=datetime(2026, 1, 5, tzinfo=UTC))
    >>> item.item_id, item.category in CATEGORIES, 0 <= item.price_tier <= 4
    ('i00000', True, True)

    """

    item_ids: list[str]
    titles: list[str]
    tags: list[list[str]]
    category: np.ndarray
    brand: np.ndarray
    categories: tuple[str, ...]
    brands: tuple[str, ...]
    price: np.ndarray
    price_tier: np.ndarray
    stock: np.ndarray
    restock_units: np.ndarray
    restock_after_s: np.ndarray
    factors: np.ndarray
    appeal: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if self.appeal is None:
            self.appeal = np.zeros(len(self.item_ids))
        self.index_of = {item_id: index for index, item_id in enumerate(self.item_ids)}
        self.items_of_category = [
            np.flatnonzero(self.category == c) for c in range(len(self.categories))
        ]

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.item_ids)

    @classmethod
    def generate(
        cls, rng: np.random.Generator, n_items: int = 2_000, n_factors: int = 12
    ) -> Catalog:
        """Draw a catalog of ``n_items`` items with ``n_factors`` latent dimensions.

        Each brand sells a few categories around its own price positioning and has a latent
        signature; an item's factors mix its category's direction, its brand's signature and
        noise, so that shoppers who like a brand tend to like its whole range.
        """
        if n_factors < len(STYLES):
            raise ValueError(f"n_factors must be at least {len(STYLES)}, got {n_factors}")

        n_categories, n_brands = len(CATEGORIES), len(BRANDS)
        category_vectors = _unit_rows(rng.normal(size=(n_categories, n_factors)))
        brand_vectors = _unit_rows(rng.normal(size=(n_brands, n_factors)))
        brand_tier = rng.uniform(0.3, 3.5, size=n_brands)
        brand_categories = [
            rng.choice(n_categories, size=rng.integers(2, 6), replace=False)
            for _ in range(n_brands)
        ]

        # Brands are unequal in size, as in real shops: a few houses carry much of the range.
        brand = rng.choice(n_brands, size=n_items, p=_normalised(rng.lognormal(0.0, 0.6, n_brands)))
        category = np.array([rng.choice(brand_categories[b]) for b in brand])
        tier = _draw_tiers(rng, brand_tier[brand])

        base_price = np.array(
            [TIER_PRICES[CATEGORIES[c]][t] for c, t in zip(category, tier, strict=True)]
        )
        price = base_price * np.exp(np.clip(rng.normal(0.0, 0.1, n_items), -0.18, 0.18))
        price = np.where(price < 200, np.round(price / 5) * 5, np.round(price / 10) * 10)

        noise = rng.normal(size=(n_items, n_factors))
        factors = _unit_rows(
            0.8 * category_vectors[category] + 0.9 * brand_vectors[brand] + 0.7 * noise
        )

        stock = rng.poisson(TIER_MEAN_STOCK[tier]) + 1
        never = rng.random(n_items) < TIER_NEVER_RESTOCK[tier]
        restock_after_s = np.where(never, np.inf, rng.exponential(2.0 * 86_400.0, n_items))
        restock_units = np.maximum(1, rng.poisson(TIER_MEAN_STOCK[tier] / 2))

        titles, tags = _describe(rng, category, brand, factors)

        # The appeal comes from a child generator, so that adding it left every other draw of
        # the seed (this catalog's and the shoppers' after it) as it was.
        appeal = rng.spawn(1)[0].normal(0.0, 1.0, n_items)
        logger.info("catalog_generated n_items=%d n_factors=%d", n_items, n_factors)
        return cls(
            item_ids=[f"i{index:05d}" for index in range(n_items)],
            titles=titles,
            tags=tags,
            category=category.astype(np.int32),
            brand=brand.astype(np.int32),
            categories=CATEGORIES,
            brands=BRANDS,
            price=price.astype(np.float64),
            price_tier=tier.astype(np.int32),
            stock=stock.astype(np.int64),
            restock_units=restock_units.astype(np.int64),
            restock_after_s=restock_after_s,
            factors=factors,
            appeal=appeal,
        )

    def record(self, index: int, updated_at: datetime) -> CatalogItem:
        """The observable record of one item, as published on the catalog topic."""
        return CatalogItem(
            item_id=self.item_ids[index],
            title=self.titles[index],
            category=self.categories[self.category[index]],
            brand=self.brands[self.brand[index]],
            price=float(self.price[index]),
            price_tier=int(self.price_tier[index]),
            stock=int(self.stock[index]),
            tags=self.tags[index],
            updated_at=updated_at,
        )

    def records(self, updated_at: datetime) -> list[CatalogItem]:
        """Every item's record, in item order."""
        return [self.record(index, updated_at) for index in range(self.n_items)]

    def take(self, index: int, quantity: int) -> int:
        """Remove up to ``quantity`` units of an item from stock; return how many were taken."""
        taken = min(int(quantity), int(self.stock[index]))
        self.stock[index] -= taken
        return taken

    def restock(self, index: int) -> None:
        """Bring back the item's restock units."""
        self.stock[index] += self.restock_units[index]

    def restocks(self, index: int) -> bool:
        """Whether the item ever comes back once sold out."""
        return math.isfinite(self.restock_after_s[index])


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale every row to unit length."""
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _normalised(weights: np.ndarray) -> np.ndarray:
    """Weights scaled to sum to one."""
    return weights / weights.sum()


def _draw_tiers(rng: np.random.Generator, brand_tier: np.ndarray) -> np.ndarray:
    """Draw each item's tier from the global tier shares, tilted toward its brand's positioning."""
    tiers = np.arange(len(TIER_SHARES))
    closeness = np.exp(-0.6 * (tiers[None, :] - brand_tier[:, None]) ** 2)
    probabilities = closeness * TIER_SHARES[None, :]
    probabilities /= probabilities.sum(axis=1, keepdims=True)

    # Inverse-CDF sampling, one uniform per item.
    cumulative = probabilities.cumsum(axis=1)
    drawn = (rng.random(len(brand_tier))[:, None] > cumulative).sum(axis=1)
    return np.minimum(drawn, len(tiers) - 1)


def _describe(
    rng: np.random.Generator, category: np.ndarray, brand: np.ndarray, factors: np.ndarray
) -> tuple[list[str], list[list[str]]]:
    """Titles and tags: kind, material, colour and the item's strongest style directions."""
    titles, tags = [], []
    for index, (c, b) in enumerate(zip(category, brand, strict=True)):
        kind = str(rng.choice(CATEGORY_KINDS[CATEGORIES[c]]))
        material = str(rng.choice(MATERIALS))
        colour = str(rng.choice(COLOURS))

        # Style tags follow the first latent dimensions, so they carry real taste signal.
        style_scores = factors[index, : len(STYLES)]
        styles = [STYLES[s] for s in np.argsort(-style_scores)[:2] if style_scores[s] > 0.1]

        titles.append(f"{BRANDS[b]} {colour.title()} {material.title()} {kind.replace('-', ' ')}")
        tags.append([kind, material, colour, *styles])
    return titles, tags
