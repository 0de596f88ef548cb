"""The item catalog shared by the recommenders: dense item indices and attribute arrays.

Recommenders score items as numpy arrays indexed by a dense item index; the catalog assigns
that index when an item first appears and keeps it for the item's lifetime, so arrays only grow.
Attributes live in growing arrays (category and brand codes, price, price tier, stock) and in a
sparse item-by-feature matrix for content matching.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from models import state as state_codec

if TYPE_CHECKING:
    from models.base import ItemInfo

__all__ = ["Catalog", "FEATURE_FIELDS", "MAX_PRICE_TIER"]

logger = logging.getLogger(__name__)

#: The fields of the content features, in the order of their codes in ``feature_fields``.
FEATURE_FIELDS: tuple[str, ...] = ("category", "brand", "price_tier", "tag")

#: Price tiers are small integers; the business rules keep a bit per tier bought.
MAX_PRICE_TIER = 30

_INITIAL_CAPACITY = 64


class Catalog:
    """Items known to the system, with a dense index per item and vectorised attributes.

    One catalog is shared by all the recommenders of a process: the catalog's owner (the stream
    application) calls :meth:`upsert` for new items and attribute changes and
    :meth:`decrement_stock` once per purchase. Recommenders only read it.

    Attributes
    ----------
    item_ids
        ``item_ids[index]`` is the item at a dense index.
    n_items
        Items known so far.
    n_feature_updates
        Bumped whenever an item's content features change; caches key on it.

    Examples
    --------
    >>> from models.base import ItemInfo
    >>> catalog = Catalog()
    >>> catalog.upsert(ItemInfo("sock", "clothing", "acme", 4.0, 0, 10, ("wool",)))
    0
    >>> catalog.upsert(ItemInfo("boot", "shoes", "acme", 90.0, 3, 1))
    1
    >>> catalog.decrement_stock("boot")
    0
    >>> catalog.index_of("boot"), catalog.stock.tolist(), catalog.brand_codes.tolist()
    (1, [10, 0], [0, 0])
    >>> catalog.features().shape
    (2, 6)
    """

    def __init__(self) -> None:
        self.item_ids: list[str] = []
        self._index: dict[str, int] = {}
        self._categories: dict[str, int] = {}
        self._category_names: list[str] = []
        self._brands: dict[str, int] = {}
        self._tags: list[tuple[str, ...]] = []
        self._columns: dict[tuple[int, str], int] = {}
        self._column_fields: list[int] = []
        self._column_names: list[tuple[int, str]] = []
        self._item_columns: list[np.ndarray] = []
        self._item_values: list[np.ndarray] = []
        self._category_code = np.zeros(_INITIAL_CAPACITY, dtype=np.int32)
        self._brand_code = np.zeros(_INITIAL_CAPACITY, dtype=np.int32)
        self._price = np.zeros(_INITIAL_CAPACITY, dtype=np.float64)
        self._price_tier = np.zeros(_INITIAL_CAPACITY, dtype=np.int8)
        self._stock = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self.n_feature_updates = 0
        self._features: scipy.sparse.csr_matrix | None = None
        self._features_at = -1

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def category_codes(self) -> np.ndarray:
        return self._category_code[: self.n_items]

    @property
    def brand_codes(self) -> np.ndarray:
        return self._brand_code[: self.n_items]

    @property
    def prices(self) -> np.ndarray:
        return self._price[: self.n_items]

    @property
    def price_tiers(self) -> np.ndarray:
        return self._price_tier[: self.n_items]

    @property
    def stock(self) -> np.ndarray:
        return self._stock[: self.n_items]

    @property
    def n_features(self) -> int:
        return len(self._column_fields)

    @property
    def feature_fields(self) -> np.ndarray:
        """Per feature column, the index of its field in :data:`FEATURE_FIELDS`."""
        return np.asarray(self._column_fields, dtype=np.int8)

    def index_of(self, item_id: str) -> int | None:
        """The dense index of an item, or None if the catalog has never seen it."""
        return self._index.get(item_id)

    def category_of(self, index: int) -> str:
        """The category name of the item at ``index``."""
        return self._category_names[int(self._category_code[index])]

    def upsert(self, item: ItemInfo) -> int:
        """Add a new item or replace a known item's attributes; return its dense index."""
        if not 0 <= item.price_tier <= MAX_PRICE_TIER:
            raise ValueError(f"price_tier {item.price_tier} is outside 0..{MAX_PRICE_TIER}")

        index = self._index.get(item.item_id)
        if index is None:
            index = self._append(item.item_id)

        self._price[index] = item.price
        self._stock[index] = max(int(item.stock), 0)
        category = self._categories.setdefault(item.category, len(self._categories))
        if category == len(self._category_names):
            self._category_names.append(item.category)
        brand = self._brands.setdefault(item.brand, len(self._brands))
        tags = tuple(item.tags)
        unchanged = (
            index < len(self._tags)
            and self._category_code[index] == category
            and self._brand_code[index] == brand
            and self._price_tier[index] == item.price_tier
            and self._tags[index] == tags
        )
        if unchanged:
            return index

        self._category_code[index] = category
        self._brand_code[index] = brand
        self._price_tier[index] = item.price_tier
        self._set_features(index, item, tags)
        return index

    def decrement_stock(self, item_id: str, quantity: int = 1) -> int | None:
        """Take ``quantity`` units out of stock (never below 0); return what is left.

        Returns None for an unknown item.
        """
        index = self._index.get(item_id)
        if index is None:
            return None

        self._stock[index] = max(int(self._stock[index]) - quantity, 0)
        return int(self._stock[index])

    def features(self) -> scipy.sparse.csr_matrix:
        """The items-by-features matrix used for content matching.

        Category, brand and price tier are one-hot with value 1; an item's tags share a total
        squared weight of 1 (each tag weighs ``1 / sqrt(n_tags)``), so items with many tags
        do not outweigh items with few. The matrix is cached until a feature changes.
        """
        if self._features is None or self._features_at != self.n_feature_updates:
            self._features = self._build_features()
            self._features_at = self.n_feature_updates
        return self._features

    def item_features(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """One item's feature columns and values, as in its row of :meth:`features`."""
        return self._item_columns[index], self._item_values[index]

    def feature_column(self, field: str, value: str) -> int | None:
        """The feature column of e.g. ``("category", "shoes")``, or None if never seen."""
        return self._columns.get((FEATURE_FIELDS.index(field), value))

    def feature_name(self, column: int) -> tuple[str, str]:
        """The ``(field, value)`` a feature column stands for; the inverse of feature_column."""
        field, value = self._column_names[column]
        return FEATURE_FIELDS[field], value

    def _append(self, item_id: str) -> int:
        index = self.n_items
        if index == len(self._price):
            self._grow()

        self.item_ids.append(item_id)
        self._index[item_id] = index
        self._tags.append(())
        self._item_columns.append(np.zeros(0, dtype=np.int64))
        self._item_values.append(np.zeros(0, dtype=np.float64))
        return index

    def _grow(self) -> None:
        capacity = 2 * len(self._price)
        for name in ("_category_code", "_brand_code", "_price", "_price_tier", "_stock"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _set_features(self, index: int, item: ItemInfo, tags: tuple[str, ...]) -> None:
        self._tags[index] = tags
        named = [
            (0, item.category, 1.0),
            (1, item.brand, 1.0),
            (2, str(item.price_tier), 1.0),
        ]
        unique_tags = sorted(set(tags))
        named += [(3, tag, 1.0 / math.sqrt(len(unique_tags))) for tag in unique_tags]

        columns = [self._column(field, value) for field, value, _ in named]
        self._item_columns[index] = np.asarray(columns, dtype=np.int64)
        self._item_values[index] = np.asarray([value for _, _, value in named], dtype=np.float64)
        self.n_feature_updates += 1

    def _column(self, field: int, value: str) -> int:
        key = (field, value)
        column = self._columns.get(key)
        if column is None:
            column = len(self._column_fields)
            self._columns[key] = column
            self._column_fields.append(field)
            self._column_names.append(key)
        return column

    def _build_features(self) -> scipy.sparse.csr_matrix:
        lengths = [len(columns) for columns in self._item_columns]
        indptr = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        if self.n_items:
            indices = np.concatenate(self._item_columns)
            data = np.concatenate(self._item_values)
        else:
            indices, data = np.zeros(0, dtype=np.int64), np.zeros(0)
        shape = (self.n_items, self.n_features)
        return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)

    def to_state(self) -> bytes:
        """Export the catalog; :meth:`from_state` rebuilds it with the same item indices."""
        header: dict[str, Any] = {
            "categories": list(self._categories),
            "brands": list(self._brands),
            "tags": [list(tags) for tags in self._tags],
            # Every feature column ever made, in order, including those no item has any more
            # (an item's attributes can change): a recommender's state may still name them.
            "columns": [[field, value] for field, value in self._column_names],
        }
        arrays = {
            "item_ids": state_codec.strings(self.item_ids),
            "category_code": self.category_codes.copy(),
            "brand_code": self.brand_codes.copy(),
            "price": self.prices.copy(),
            "price_tier": self.price_tiers.copy(),
            "stock": self.stock.copy(),
        }
        return state_codec.pack(header, arrays)

    @classmethod
    def from_state(cls, state: bytes) -> Catalog:
        """Rebuild a catalog from :meth:`to_state` bytes."""
        from models.base import ItemInfo

        header, arrays = state_codec.unpack(state)
        categories, brands = header["categories"], header["brands"]
        catalog = cls()

        # Codes and columns first, in their original order, so that they keep their numbers
        # and none is lost because no item uses it any more.
        for name in categories:
            catalog._categories[name] = len(catalog._category_names)
            catalog._category_names.append(name)
        for name in brands:
            catalog._brands[name] = len(catalog._brands)
        for field, value in header.get("columns", []):
            catalog._column(field, value)

        for index, item_id in enumerate(state_codec.as_strings(arrays["item_ids"])):
            info = ItemInfo(
                item_id=item_id,
                category=categories[int(arrays["category_code"][index])],
                brand=brands[int(arrays["brand_code"][index])],
                price=float(arrays["price"][index]),
                price_tier=int(arrays["price_tier"][index]),
                stock=int(arrays["stock"][index]),
                tags=tuple(header["tags"][index]),
            )
            catalog.upsert(info)
        return catalog
