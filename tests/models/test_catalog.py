"""The shared catalog: stable indices, attribute arrays, content features and saved state."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import ItemInfo
from models.catalog import Catalog
from tests.models.synthetic import make_items


def test_indices_are_stable_and_arrays_grow() -> None:
    catalog = Catalog()
    items = make_items(200, seed=1)
    indices = [catalog.upsert(item) for item in items]

    assert indices == list(range(200))
    assert catalog.upsert(items[7]) == 7
    assert catalog.n_items == 200
    assert catalog.prices.tolist() == [item.price for item in items]
    assert catalog.price_tiers.tolist() == [item.price_tier for item in items]
    assert catalog.index_of("unknown") is None


def test_upsert_updates_stock_and_attributes() -> None:
    catalog = Catalog()
    catalog.upsert(ItemInfo("a", "shoes", "acme", 10.0, 1, 3, ("red",)))
    before = catalog.n_feature_updates

    catalog.upsert(ItemInfo("a", "shoes", "acme", 12.0, 1, 9, ("red",)))
    assert (catalog.stock[0], catalog.prices[0], catalog.n_feature_updates) == (9, 12.0, before)

    catalog.upsert(ItemInfo("a", "boots", "acme", 12.0, 2, 9, ("red", "wool")))
    assert catalog.category_of(0) == "boots"
    assert catalog.n_feature_updates == before + 1
    columns, values = catalog.item_features(0)
    names = sorted(catalog.feature_name(c) for c in columns.tolist())
    assert names == [
        ("brand", "acme"),
        ("category", "boots"),
        ("price_tier", "2"),
        ("tag", "red"),
        ("tag", "wool"),
    ]
    assert np.isclose(np.sum(values[3:] ** 2), 1.0)


def test_feature_matrix_matches_item_features() -> None:
    catalog = Catalog()
    for item in make_items(30, seed=2):
        catalog.upsert(item)

    dense = catalog.features().toarray()

    assert dense.shape == (30, catalog.n_features)
    for index in range(30):
        columns, values = catalog.item_features(index)
        assert np.allclose(dense[index, columns], values)
        assert np.count_nonzero(dense[index]) == len(columns)


def test_stock_never_goes_below_zero() -> None:
    catalog = Catalog()
    catalog.upsert(ItemInfo("a", "c", "b", 1.0, 0, 2))

    assert catalog.decrement_stock("a", 3) == 0
    assert catalog.decrement_stock("ghost") is None


def test_price_tier_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="price_tier"):
        Catalog().upsert(ItemInfo("a", "c", "b", 1.0, 99, 1))


def test_state_round_trip_keeps_indices_and_attributes() -> None:
    catalog = Catalog()
    for item in make_items(50, seed=3):
        catalog.upsert(item)
    catalog.decrement_stock("item4", 1)

    restored = Catalog.from_state(catalog.to_state())

    assert restored.item_ids == catalog.item_ids
    assert restored.stock.tolist() == catalog.stock.tolist()
    assert restored.brand_codes.tolist() == catalog.brand_codes.tolist()
    assert (restored.features() != catalog.features()).nnz == 0


def test_restore_keeps_codes_and_columns_no_item_uses_any_more() -> None:
    catalog = Catalog()
    catalog.upsert(ItemInfo("i1", "unknown", "unknown", 0.0, 0, 0))
    catalog.upsert(ItemInfo("i2", "shoes", "brand-b", 300.0, 2, 4, ("red",)))
    catalog.upsert(ItemInfo("i1", "bags", "brand-a", 900.0, 3, 2, ("black",)))

    restored = Catalog.from_state(catalog.to_state())

    assert restored.feature_column("category", "unknown") == catalog.feature_column(
        "category", "unknown"
    )
    assert restored.n_features == catalog.n_features
    assert list(restored.category_codes) == list(catalog.category_codes)
    assert list(restored.brand_codes) == list(catalog.brand_codes)
    assert (restored.features() != catalog.features()).nnz == 0
