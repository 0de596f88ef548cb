"""Known answers for the bandit-weighted hybrid: reward attribution and the policy's drift."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.hybrid import SOURCES, Hybrid
from tests.models.synthetic import make_catalog, make_stream


def catalog_of(n_items: int = 40) -> Catalog:
    catalog = Catalog()
    for n in range(n_items):
        catalog.upsert(ItemInfo(f"i{n}", f"c{n % 4}", f"b{n}", 1.0, 0, stock=100))
    return catalog


def serve_and_react(model: Hybrid, n_requests: int, clicked_source: str) -> list[Counter[str]]:
    """Serve slates and click every slot filled by ``clicked_source``; count sources served."""
    shares = []
    for n in range(n_requests):
        user_id = f"u{n % 7}"
        request_id = f"r{n}"
        slate = model.recommend(Context(user_id, 5, float(n), request_id=request_id))
        shares.append(Counter(s.source for s in slate))
        for position, scored in enumerate(slate):
            kinds = ["impression", "click"] if scored.source == clicked_source else ["impression"]
            for kind in kinds:
                feedback = Feedback(user_id, scored.item_id, kind, float(n), request_id, position)
                model.learn(feedback)
    return shares


@pytest.mark.parametrize("policy", ["thompson", "epsilon_greedy"])
def test_policy_shifts_toward_the_clicked_source(policy: str) -> None:
    seed = 5
    model = Hybrid(catalog_of(), policy=policy, seed=seed)

    shares = serve_and_react(model, 300, clicked_source="content")

    early = sum(s["content"] for s in shares[:3]) / sum(s.total() for s in shares[:3])
    late = sum(s["content"] for s in shares[-30:]) / sum(s.total() for s in shares[-30:])
    assert late > 0.7, (seed, early, late)
    assert late > early + 0.2, (seed, early, late)


def test_each_kind_is_rewarded_once_per_slot_and_only_for_served_requests() -> None:
    model = Hybrid(catalog_of(), seed=1)
    slate = model.recommend(Context("ann", 3, 0.0, request_id="r1"))
    item_id = slate[0].item_id

    model.learn(Feedback("ann", item_id, "impression", 1.0, "r1"))
    model.learn(Feedback("ann", item_id, "impression", 1.0, "r1"))
    model.learn(Feedback("ann", item_id, "click", 2.0, "r1"))
    model.learn(Feedback("ann", item_id, "click", 2.0, "r1"))
    model.learn(Feedback("ann", item_id, "add_to_cart", 3.0, "r1"))
    model.learn(Feedback("ann", item_id, "purchase", 4.0, "r1"))
    model.learn(Feedback("ann", item_id, "click", 5.0, "unknown-request"))
    model.learn(Feedback("ann", "i39", "click", 5.0, "r1"))

    assert model.n_rewards == 3
    assert model.n_learnt == 8


def test_served_requests_are_bounded() -> None:
    model = Hybrid(catalog_of(), seed=1, max_served_requests=2)
    slates = [model.recommend(Context("ann", 2, 0.0, request_id=f"r{n}")) for n in range(3)]

    model.learn(Feedback("ann", slates[0][0].item_id, "click", 1.0, "r0"))
    assert model.n_rewards == 0
    model.learn(Feedback("ann", slates[2][0].item_id, "click", 1.0, "r2"))
    assert model.n_rewards == 1


def test_epsilon_greedy_probabilities_are_exact() -> None:
    model = Hybrid(catalog_of(), policy="epsilon_greedy", epsilon=0.2, seed=2)
    serve_and_react(model, 50, clicked_source="popularity")

    slate = model.recommend(Context("ann", 5, 99.0, request_id="last"))

    # Four sources can fill every slot: greedy gets 0.8 + 0.2 / 4, the others 0.2 / 4.
    expected = {"popularity": 0.85}
    for scored in slate:
        assert scored.source_probability == pytest.approx(expected.get(scored.source, 0.05))


def test_thompson_probabilities_match_the_policy_pull_frequencies() -> None:
    seed = 3
    model = Hybrid(catalog_of(), seed=seed, n_probability_draws=4000)
    serve_and_react(model, 2, clicked_source="cooccurrence")

    slate = model.recommend(Context("ann", 1, 99.0, request_id="last"))
    probabilities = model.source_probabilities()

    # Pull a copy of the policy many times: each source's pull frequency is its probability,
    # which the hybrid's Monte Carlo estimate must match.
    policy = copy.deepcopy(model.policy)
    pulls = Counter(policy.pull(list(SOURCES)) for _ in range(4000))
    for source in SOURCES:
        assert probabilities[source] == pytest.approx(pulls[source] / 4000, abs=0.04), seed
    assert slate[0].source_probability == probabilities[slate[0].source]
    assert 0.1 < max(probabilities.values()) < 0.9


def test_sources_learn_the_hybrid_events() -> None:
    catalog = make_catalog()
    model = Hybrid(catalog, seed=4)
    stream = make_stream(catalog, n_events=200)
    for feedback in stream:
        model.learn(feedback)

    assert {source.n_learnt for source in model.sources.values()} == {len(stream)}


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        Hybrid(Catalog(), policy="softmax")
