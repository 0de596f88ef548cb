"""Known answers of the ground-truth choice model: slate values, oracle, biases, saturation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from producers.catalog import Catalog
from producers.choice import ChoiceModel, ChoiceParameters, position_bias
from producers.shoppers import ShopperPopulation

SEED = 21


@pytest.fixture(scope="module")
def model() -> ChoiceModel:
    rng = np.random.default_rng(SEED)
    catalog = Catalog.generate(rng, n_items=2_000)
    shoppers = ShopperPopulation.generate(rng, n_shoppers=200)
    return ChoiceModel(catalog, shoppers)


def tiny_model(n_items: int) -> ChoiceModel:
    rng = np.random.default_rng(SEED)
    catalog = Catalog.generate(rng, n_items=n_items, n_factors=6)
    shoppers = ShopperPopulation.generate(rng, n_shoppers=20, n_factors=6)
    return ChoiceModel(catalog, shoppers)


def test_expected_value_is_clicks_plus_weighted_purchases(model: ChoiceModel) -> None:
    slate = model.catalog.item_ids[100:110]
    items = np.arange(100, 110)
    utility = model.utilities(3, items)
    p_click, _ = model.click_probabilities(utility, np.arange(10))
    p_cart, p_purchase = model.purchase_probabilities(3, items, utility)

    expected = p_click.sum() + 5.0 * (p_click * p_cart * p_purchase).sum()
    assert model.expected_value(3, slate) == pytest.approx(expected)


def test_no_click_always_keeps_some_probability(model: ChoiceModel) -> None:
    for shopper in range(20):
        best = model.oracle_items(shopper, 10)
        utility = model.utilities(shopper, best)
        p_click, p_no_click = model.click_probabilities(utility, np.arange(len(best)))

        assert 0.0 < p_no_click < 1.0
        assert p_click.sum() + p_no_click == pytest.approx(1.0)


def test_position_bias_falls_from_one_at_the_top() -> None:
    bias = position_bias(np.arange(10))

    assert bias[0] == 1.0
    assert (np.diff(bias) < 0).all()
    assert bias[2] == pytest.approx(0.5)


def test_equal_items_get_more_clicks_higher_up(model: ChoiceModel) -> None:
    p_click, _ = model.click_probabilities(np.zeros(10), np.arange(10))

    assert (np.diff(p_click) < 0).all()


def test_saturation_lowers_the_click_probability_with_each_exposure(model: ChoiceModel) -> None:
    items = model.oracle_items(5, 10)
    n_clicks = []
    for n_seen in range(6):
        utility = model.utilities(5, items, n_seen=np.full(10, n_seen))
        n_clicks.append(model.click_probabilities(utility, np.arange(10))[0].sum())

    assert (np.diff(n_clicks) < 0).all()
    assert n_clicks[5] < 0.5 * n_clicks[0]


def test_price_misfit_lowers_purchase_probability(model: ChoiceModel) -> None:
    shoppers = model.shoppers
    shopper = int(np.flatnonzero(shoppers.preferred_tier == 0)[0])
    entry = np.flatnonzero(model.catalog.price_tier == 0)[:1]
    haute = np.flatnonzero(model.catalog.price_tier == 4)[:1]
    same_utility = np.zeros(1)

    entry_cart, entry_purchase = model.purchase_probabilities(shopper, entry, same_utility)
    haute_cart, haute_purchase = model.purchase_probabilities(shopper, haute, same_utility)
    assert haute_cart[0] < entry_cart[0] and haute_purchase[0] < entry_purchase[0]


def test_purchase_probability_rises_with_utility(model: ChoiceModel) -> None:
    items = np.zeros(3, dtype=np.int64)
    p_cart, p_purchase = model.purchase_probabilities(0, items, np.array([-2.0, 0.0, 2.0]))

    assert (np.diff(p_cart) > 0).all() and (np.diff(p_purchase) > 0).all()


@pytest.mark.parametrize("shopper", range(5))
def test_oracle_is_the_best_slate_by_brute_force(shopper: int) -> None:
    model = tiny_model(n_items=8)
    ids = model.catalog.item_ids
    best_value = max(
        model.expected_value(shopper, list(slate))
        for size in range(1, 4)
        for slate in itertools.permutations(ids, size)
    )

    oracle = model.oracle_slate(shopper, k=3)
    assert model.expected_value(shopper, oracle) == pytest.approx(best_value, rel=1e-12)


def test_oracle_beats_every_slate_tried(model: ChoiceModel) -> None:
    rng = np.random.default_rng(SEED)
    n_items = model.catalog.n_items
    for shopper in range(40):
        eligible = rng.random(n_items) < 0.8
        n_seen = rng.poisson(0.5, n_items).astype(float)
        state = {"eligible": eligible, "n_seen": n_seen, "at_s": 0.0}
        oracle_value = model.expected_value(
            shopper, model.oracle_slate(shopper, 10, eligible, n_seen=n_seen), **state
        )

        # Slates of any items, eligible or not, at any positions, and the greedy slates.
        for _ in range(25):
            slate = list(rng.choice(model.catalog.item_ids, size=10, replace=False))
            positions = list(rng.choice(30, size=10, replace=False))
            assert model.expected_value(shopper, slate, positions, **state) <= oracle_value + 1e-12
        greedy = np.argsort(-model.utilities(shopper, None, n_seen))[:10]
        greedy_ids = [model.catalog.item_ids[i] for i in greedy]
        assert model.expected_value(shopper, greedy_ids, **state) <= oracle_value + 1e-12


def test_oracle_keeps_to_eligible_items(model: ChoiceModel) -> None:
    eligible = np.zeros(model.catalog.n_items, dtype=bool)
    eligible[::7] = True

    oracle = model.oracle_slate(1, 10, eligible)
    assert len(oracle) == 10
    assert all(eligible[model.catalog.index_of[item_id]] for item_id in oracle)


def test_oracle_beats_random_by_a_clear_margin_on_average(model: ChoiceModel) -> None:
    rng = np.random.default_rng(SEED)
    oracle_values, random_values = [], []
    for shopper in range(100):
        oracle_values.append(model.expected_value(shopper, model.oracle_slate(shopper, 10)))
        random_values.append(model.expected_value(shopper, model.random_slate(10, rng)))

    assert np.mean(oracle_values) > 4 * np.mean(random_values)


def test_ineligible_items_attract_no_click(model: ChoiceModel) -> None:
    slate = model.oracle_slate(2, 10)
    eligible = np.ones(model.catalog.n_items, dtype=bool)
    eligible[[model.catalog.index_of[item_id] for item_id in slate]] = False

    assert model.expected_value(2, slate, eligible=eligible) == 0.0


def test_heavier_purchase_reward_raises_the_value() -> None:
    rng = np.random.default_rng(SEED)
    catalog = Catalog.generate(rng, n_items=300)
    shoppers = ShopperPopulation.generate(rng, n_shoppers=10)
    clicks_only = ChoiceModel(catalog, shoppers, ChoiceParameters(purchase_reward=0.0))
    default = ChoiceModel(catalog, shoppers)
    slate = catalog.item_ids[:10]

    assert default.expected_value(0, slate) > clicks_only.expected_value(0, slate)


def test_scalar_purchase_chances_match_the_vectorised_ones(model: ChoiceModel) -> None:
    items = np.array([0, 500, 1_500])
    utility = np.array([-1.0, 0.5, 2.0])
    p_cart, p_purchase = model.purchase_probabilities(9, items, utility)

    for index, (item, u) in enumerate(zip(items, utility, strict=True)):
        cart, purchase = model.purchase_chances(9, int(item), float(u))
        assert cart == pytest.approx(p_cart[index]) and purchase == pytest.approx(p_purchase[index])


def test_batched_slate_values_match_one_at_a_time(model: ChoiceModel) -> None:
    slates = np.random.default_rng(SEED).choice(model.catalog.n_items, size=(4, 10))
    positions = np.arange(10)

    batched = model.slate_values(4, slates, positions)
    single = [model.slate_value(4, slate, positions) for slate in slates]
    np.testing.assert_allclose(batched, single)


def test_appeal_adds_the_same_utility_for_every_shopper(model: ChoiceModel) -> None:
    without = ChoiceModel(model.catalog, model.shoppers, ChoiceParameters(appeal_weight=0.0))
    weight = model.parameters.appeal_weight

    for shopper in (0, 17, 123):
        gained = model.utilities(shopper) - without.utilities(shopper)
        np.testing.assert_allclose(gained, weight * model.catalog.appeal, atol=1e-12)
