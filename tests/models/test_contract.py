"""The contract every registered recommender keeps, run for each name in the registry.

A recommender added to ``models.registry.RECOMMENDERS`` is tested here without further work:
learning on a seeded stream, slates of ``k`` distinct items that obey every business rule,
determinism for a seed, exact restore from saved state, and items, users and catalogs it has
never seen.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.base import Context, Feedback, ItemInfo, Recommender, Scored
from models.catalog import Catalog
from models.registry import ARM_RECOMMENDERS, RECOMMENDERS, build_recommender
from tests.models.synthetic import make_catalog, make_items, make_stream

NAMES = sorted(RECOMMENDERS)
SEED = 3
AT = 1_700_000_000.0 + 60.0 * 2000


def trained(name: str, seed: int = SEED) -> tuple[Recommender, list[Feedback]]:
    catalog = make_catalog(seed=seed)
    recommender = build_recommender(name, catalog, seed=seed)
    stream = make_stream(catalog, seed=seed)
    for feedback in stream:
        recommender.learn(feedback)
    return recommender, stream


def contexts(catalog: Catalog, k: int = 6) -> list[Context]:
    """Requests from known and unknown users, with and without a page context."""
    return [
        Context("user0", k, AT, request_id="c0"),
        Context("user7", k, AT, context_item_id=catalog.item_ids[3], request_id="c1"),
        Context("user11", k, AT, context_category="hats", request_id="c2"),
        Context("stranger", k, AT, request_id="c3"),
        Context("stranger", k, AT, context_item_id="not-in-catalog", request_id="c4"),
        Context("user4", k, AT, context_item_id=catalog.item_ids[8], context_category="bags"),
    ]


def test_every_arm_has_a_registered_recommender() -> None:
    assert set(ARM_RECOMMENDERS) == {"A", "B", "C", "D", "E"}
    assert set(ARM_RECOMMENDERS.values()) == set(RECOMMENDERS)


def test_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown recommender"):
        build_recommender("nearest_neighbours", Catalog())


@pytest.mark.parametrize("name", NAMES)
def test_learns_every_event_on_a_catalog_item(name: str) -> None:
    recommender, stream = trained(name)

    assert recommender.name == name
    assert recommender.n_learnt == len(stream)
    assert recommender.n_skipped == 0


@pytest.mark.parametrize("name", NAMES)
def test_slates_have_k_distinct_items_from_the_catalog(name: str) -> None:
    recommender, _ = trained(name)

    for context in contexts(recommender.catalog):
        slate = recommender.recommend(context)
        item_ids = [scored.item_id for scored in slate]
        assert len(item_ids) == context.k, context
        assert len(set(item_ids)) == len(item_ids)
        assert all(recommender.catalog.index_of(item_id) is not None for item_id in item_ids)
        assert all(isinstance(scored, Scored) and np.isfinite(scored.score) for scored in slate)


@pytest.mark.parametrize("name", NAMES)
def test_slates_obey_every_business_rule(name: str) -> None:
    recommender, stream = trained(name)
    catalog = recommender.catalog
    bought: dict[str, set[str]] = {}
    for feedback in stream:
        if feedback.kind == "purchase":
            bought.setdefault(feedback.user_id, set()).add(feedback.item_id)

    users = sorted({feedback.user_id for feedback in stream}) + ["stranger"]
    for user_id in users:
        context = Context(user_id, 8, AT, context_item_id=catalog.item_ids[2])
        slate = recommender.recommend(context)
        indices = [catalog.index_of(scored.item_id) for scored in slate]
        bought_indices = [catalog.index_of(item_id) for item_id in bought.get(user_id, ())]
        tiers_bought = set(catalog.price_tiers[bought_indices].tolist())
        brands = catalog.brand_codes[indices].tolist()

        assert not {scored.item_id for scored in slate} & bought.get(user_id, set())
        assert all(catalog.stock[i] > 0 for i in indices)
        assert catalog.item_ids[2] not in {scored.item_id for scored in slate}
        assert max(brands.count(b) for b in brands) <= 2
        for index in indices:
            tier = int(catalog.price_tiers[index])
            assert not tiers_bought or min(abs(tier - t) for t in tiers_bought) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_sources_and_probabilities(name: str) -> None:
    recommender, _ = trained(name)

    for context in contexts(recommender.catalog):
        for scored in recommender.recommend(context):
            assert 0.0 < scored.source_probability <= 1.0
            if name == "hybrid":
                assert scored.source in RECOMMENDERS and scored.source != "hybrid"
            else:
                assert scored.source == name
                assert scored.source_probability == 1.0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_slates(name: str) -> None:
    first, _ = trained(name)
    second, _ = trained(name)

    for context in contexts(first.catalog):
        assert first.recommend(context) == second.recommend(context)


@pytest.mark.parametrize("name", NAMES)
def test_restored_state_recommends_and_learns_the_same(name: str) -> None:
    original, _ = trained(name)
    restored = type(original).from_state(original.to_state(), original.catalog)

    assert restored.n_learnt == original.n_learnt
    for context in contexts(original.catalog):
        assert restored.recommend(context) == original.recommend(context)

    # Both keep learning the same way after the restore, random draws included.
    more = make_stream(original.catalog, n_events=300, seed=SEED + 1)
    for feedback in more:
        original.learn(feedback)
        restored.learn(feedback)
    for context in contexts(original.catalog):
        assert restored.recommend(context) == original.recommend(context)


@pytest.mark.parametrize("name", NAMES)
def test_restores_against_a_catalog_numbered_differently(name: str) -> None:
    original, _ = trained(name)
    reversed_catalog = Catalog()
    for item in reversed(make_items(60, SEED)):
        reversed_catalog.upsert(item)

    restored = type(original).from_state(original.to_state(), reversed_catalog)

    assert restored.n_learnt == original.n_learnt
    assert len(restored.recommend(Context("user0", 5, AT))) == 5


@pytest.mark.parametrize("name", NAMES)
def test_empty_catalog(name: str) -> None:
    recommender = build_recommender(name, Catalog(), seed=SEED)

    recommender.learn(Feedback("user0", "ghost", "purchase", at=AT))
    assert recommender.recommend(Context("user0", 5, AT)) == []
    assert recommender.n_learnt == 0
    assert recommender.n_skipped == 1

    restored = type(recommender).from_state(recommender.to_state(), Catalog())
    assert restored.recommend(Context("user0", 5, AT)) == []


@pytest.mark.parametrize("name", NAMES)
def test_cold_start_users_and_items(name: str) -> None:
    recommender, _ = trained(name)
    catalog = recommender.catalog

    # Items that arrive after learning are servable and learnable at once.
    for item in make_items(10, seed=99, prefix="new"):
        catalog.upsert(ItemInfo(item.item_id, "gloves", "newbrand", 5.0, 0, 50, ("wool",)))
    recommender.learn(Feedback("newcomer", "new3", "click", at=AT))
    recommender.learn(Feedback("newcomer", "new4", "purchase", at=AT + 1))

    slate = recommender.recommend(Context("newcomer", 5, AT + 2, context_item_id="new5"))
    assert len(slate) == 5
    assert "new4" not in {scored.item_id for scored in slate}
    assert len(recommender.recommend(Context("nobody", 60, AT, context_category="gloves"))) > 0


@pytest.mark.parametrize("name", NAMES)
def test_short_catalog_gives_short_slates(name: str) -> None:
    catalog = Catalog()
    for n, brand in enumerate(["a", "a", "a", "b"]):
        catalog.upsert(ItemInfo(f"i{n}", "c", brand, 1.0, 0, stock=3))
    recommender = build_recommender(name, catalog, seed=SEED)
    recommender.learn(Feedback("ann", "i3", "purchase", at=0.0))

    slate = recommender.recommend(Context("ann", 10, 1.0))

    # i3 is bought and brand "a" is capped at two, so only two items may be shown.
    assert sorted(scored.item_id for scored in slate) == ["i0", "i1"]
    assert recommender.recommend(Context("ann", 0, 1.0)) == []


@pytest.mark.parametrize("name", NAMES)
def test_rule_settings_reach_the_rules_and_survive_restore(name: str) -> None:
    """The rule keywords of ``build_recommender`` set the rules, also of the hybrid's sources."""
    settings = {
        "max_per_brand": 3,
        "tier_tolerance": 0,
        "fatigue_impressions": 5,
        "fatigue_window_s": 60.0,
    }
    recommender = build_recommender(name, make_catalog(seed=SEED), seed=SEED, **settings)
    restored = type(recommender).from_state(recommender.to_state(), recommender.catalog)

    for model in (recommender, restored, *getattr(restored, "sources", {}).values()):
        assert model.seed == SEED
        assert {key: getattr(model.rules, key) for key in settings} == settings
