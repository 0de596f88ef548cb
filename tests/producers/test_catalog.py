"""Tests of the simulated catalog: size, shape, prices by tier, stock and restocks."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from producers.catalog import CATEGORIES, TIER_PRICES, Catalog

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.generate(np.random.default_rng(11))


def test_default_catalog_is_large_and_covers_every_category(catalog: Catalog) -> None:
    assert catalog.n_items >= 2_000
    assert set(catalog.category.tolist()) == set(range(len(CATEGORIES)))
    assert len(set(catalog.brand.tolist())) >= 20
    assert set(catalog.price_tier.tolist()) == {0, 1, 2, 3, 4}


def test_factors_are_unit_rows_of_the_requested_dimension() -> None:
    catalog = Catalog.generate(np.random.default_rng(3), n_items=500, n_factors=16)

    assert catalog.factors.shape == (500, 16)
    np.testing.assert_allclose(np.linalg.norm(catalog.factors, axis=1), 1.0)


def test_too_few_factors_for_the_style_directions_are_refused() -> None:
    with pytest.raises(ValueError, match="n_factors"):
        Catalog.generate(np.random.default_rng(3), n_items=10, n_factors=4)


def test_prices_rise_strictly_with_the_tier_within_each_category(catalog: Catalog) -> None:
    for category_index, category in enumerate(catalog.categories):
        in_category = catalog.category == category_index
        ranges = [catalog.price[in_category & (catalog.price_tier == tier)] for tier in range(5)]
        present = [prices for prices in ranges if len(prices)]
        for cheaper, dearer in zip(present, present[1:], strict=False):
            assert cheaper.max() < dearer.min(), category


def test_prices_stay_near_the_category_and_tier_reference(catalog: Catalog) -> None:
    reference = np.array(
        [
            TIER_PRICES[catalog.categories[c]][t]
            for c, t in zip(catalog.category, catalog.price_tier, strict=True)
        ]
    )
    ratio = catalog.price / reference

    assert ratio.min() > 0.8 and ratio.max() < 1.25
    assert catalog.price[catalog.categories.index("fragrance") == catalog.category].max() < 1_500


def test_entry_items_are_more_plentiful_than_haute_pieces(catalog: Catalog) -> None:
    entry = catalog.stock[catalog.price_tier == 0].mean()
    haute = catalog.stock[catalog.price_tier == 4].mean()

    assert entry > 5 * haute
    assert catalog.stock.min() >= 1


def test_some_items_restock_and_some_never_do(catalog: Catalog) -> None:
    restocking = np.isfinite(catalog.restock_after_s)

    assert 0.2 < restocking.mean() < 0.9
    assert not restocking[catalog.price_tier == 4].all()


def test_take_never_sells_more_than_the_stock() -> None:
    catalog = Catalog.generate(np.random.default_rng(5), n_items=50)
    stock = int(catalog.stock[0])

    assert catalog.take(0, stock + 3) == stock
    assert catalog.stock[0] == 0
    assert catalog.take(0, 1) == 0
    assert catalog.stock[0] == 0


def test_records_carry_the_observable_attributes(catalog: Catalog) -> None:
    records = catalog.records(START)

    assert len(records) == catalog.n_items
    assert len({record.item_id for record in records}) == catalog.n_items
    first = records[0]
    assert first.category in CATEGORIES
    assert first.brand in catalog.brands
    assert first.price == catalog.price[0] and first.stock == catalog.stock[0]
    assert first.tags and first.title.startswith(first.brand)


def test_same_seed_gives_the_same_catalog() -> None:
    first = Catalog.generate(np.random.default_rng(9), n_items=300)
    second = Catalog.generate(np.random.default_rng(9), n_items=300)

    assert first.records(START) == second.records(START)
    np.testing.assert_array_equal(first.factors, second.factors)


def test_appeal_is_standard_normal_and_fixed_by_the_seed() -> None:
    first = Catalog.generate(np.random.default_rng(5), n_items=4_000)
    second = Catalog.generate(np.random.default_rng(5), n_items=4_000)

    np.testing.assert_array_equal(first.appeal, second.appeal)
    assert abs(first.appeal.mean()) < 0.05
    assert first.appeal.std() == pytest.approx(1.0, abs=0.05)
