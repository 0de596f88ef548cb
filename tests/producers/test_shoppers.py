"""Tests of the simulated shoppers: shapes, identifiers and taste drift."""

from __future__ import annotations

import numpy as np
import pytest

from producers.shoppers import ShopperPopulation

DAY_S = 86_400.0


def test_default_population_is_large_with_unit_tastes() -> None:
    shoppers = ShopperPopulation.generate(np.random.default_rng(2))

    assert shoppers.n_shoppers >= 10_000
    assert shoppers.user_ids[42] == "u00042"
    assert len(set(shoppers.user_ids)) == shoppers.n_shoppers
    np.testing.assert_allclose(np.linalg.norm(shoppers.taste, axis=1), 1.0)
    assert set(shoppers.preferred_tier.tolist()) == {0, 1, 2, 3, 4}
    assert (shoppers.price_sensitivity > 0).all() and (shoppers.activity > 0).all()
    np.testing.assert_allclose(shoppers.category_share.sum(axis=1), 1.0)


def test_every_shopper_has_favourite_brands() -> None:
    shoppers = ShopperPopulation.generate(np.random.default_rng(2), n_shoppers=500)

    assert (shoppers.brand_affinity.max(axis=1) > 0.4).all()


def test_tastes_stay_put_without_drift() -> None:
    shoppers = ShopperPopulation.generate(np.random.default_rng(2), n_shoppers=50)

    np.testing.assert_array_equal(shoppers.taste_at(7, 30 * DAY_S), shoppers.taste[7])


def test_drift_turns_tastes_slowly_and_keeps_them_unit_length() -> None:
    shoppers = ShopperPopulation.generate(
        np.random.default_rng(2), n_shoppers=50, drift_per_day=0.2
    )

    after_a_day = shoppers.taste_at(7, DAY_S)
    after_a_week = shoppers.taste_at(7, 7 * DAY_S)

    assert np.linalg.norm(after_a_week) == pytest.approx(1.0, abs=1e-9)
    assert np.cos(0.2) == pytest.approx(float(after_a_day @ shoppers.taste[7]), abs=1e-9)
    assert after_a_week @ shoppers.taste[7] < after_a_day @ shoppers.taste[7]
