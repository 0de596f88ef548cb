"""Tests of the simulation loop: determinism, events, stock, references, and that it rewards
good recommendations."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from producers.session import TrafficParameters
from producers.simulator import DEFAULT_START_AT, ShopperSimulator, recommendation_of
from stream.events import EARLIEST_EVENT_AT, EVENT_TYPES, RecRequest
from tests.producers.loop import oracle_policy, random_policy, run, split_policy

SEED = 5


def small(seed: int = SEED, **options: object) -> ShopperSimulator:
    return ShopperSimulator(seed, n_items=400, n_shoppers=1_000, **options)


def first_requests(simulator: ShopperSimulator, n: int) -> list[RecRequest]:
    requests: list[RecRequest] = []
    while len(requests) < n:
        requests.extend(simulator.next_tick().requests)
    return requests


def test_same_seed_gives_identical_event_streams() -> None:
    first = run(small(), random_policy, n_requests=600)
    second = run(small(), random_policy, n_requests=600)

    assert first.wire() == second.wire()
    assert len(first.events) > 5_000


def test_another_seed_gives_another_stream() -> None:
    first = run(small(SEED), random_policy, n_requests=200)
    other = run(small(SEED + 1), random_policy, n_requests=200)

    assert first.wire() != other.wire()


def test_ids_are_unique_and_requests_look_like_pages() -> None:
    published = run(small(), random_policy, n_requests=1_000)

    event_ids = [event.event_id for event in published.events]
    assert len(set(event_ids)) == len(event_ids)
    assert len({request.request_id for request in published.requests}) == len(published.requests)

    requests = published.requests
    assert all(request.k == 10 and request.user_id.startswith("u") for request in requests)
    with_item = [request for request in requests if request.context_item_id is not None]
    with_category = [request for request in requests if request.context_category is not None]
    assert 0.4 < len(with_item) / len(requests) < 0.8
    assert len(with_category) > len(with_item)
    assert len({request.session_id for request in requests}) < len(requests)


def test_timestamps_follow_the_simulated_clock() -> None:
    simulator = small()
    published = run(simulator, random_policy, n_requests=500)
    latest = simulator.now + timedelta(hours=1)

    times = [event.event_at for event in published.events]
    times += [request.requested_at for request in published.requests]
    assert all(DEFAULT_START_AT <= at <= latest for at in times)
    assert EARLIEST_EVENT_AT < DEFAULT_START_AT < datetime.now(UTC)
    assert simulator.now > DEFAULT_START_AT


def test_slate_events_carry_request_arm_and_position() -> None:
    published = run(small(), random_policy, n_requests=800)
    from_slates = [event for event in published.events if event.request_id is not None]
    organic = [event for event in published.events if event.request_id is None]

    assert all(event.arm == "random" and event.position is not None for event in from_slates)
    assert Counter(event.event_type for event in from_slates)["impression"] == 10 * len(
        published.requests
    )
    assert all(event.arm is None and event.position is None for event in organic)
    assert {event.event_type for event in organic} >= {"click", "add_to_cart"}
    assert "impression" not in {event.event_type for event in organic}


def test_purchases_carry_price_and_quantity() -> None:
    published = run(small(), oracle_policy, n_requests=1_500)
    purchases = [event for event in published.events if event.event_type == "purchase"]

    assert len(purchases) > 20
    assert all(event.price > 0 and event.quantity >= 1 for event in purchases)
    assert all(event.revenue == event.price * event.quantity for event in purchases)


def test_stock_runs_out_and_sold_out_items_are_never_purchased() -> None:
    simulator = ShopperSimulator(SEED, n_items=150, n_shoppers=300)
    initial = simulator.catalog.stock.copy()
    purchased: Counter[str] = Counter()
    n_checked = 0
    while simulator.counters.requests_sent < 4_000:
        tick = simulator.next_tick()
        purchased.update({e.item_id: e.quantity for e in tick.events if e.event_type == "purchase"})
        for request in tick.requests:
            stock_before = simulator.catalog.stock.copy()
            slate = simulator.oracle_slate(request)
            reaction = simulator.react(recommendation_of(request, slate, arm="oracle"))
            for event in reaction.events:
                if event.event_type == "purchase":
                    assert stock_before[simulator.catalog.index_of[event.item_id]] > 0
                    purchased[event.item_id] += event.quantity
                    n_checked += 1

    assert n_checked > 10
    assert (simulator.catalog.stock >= 0).all()
    assert (simulator.catalog.stock == 0).sum() > 0
    assert (simulator.catalog.stock < initial).sum() > 10


def test_sold_out_items_on_a_slate_are_never_clicked() -> None:
    simulator = small()
    requests = first_requests(simulator, 200)
    simulator.catalog.stock[:] = 0

    for request in requests:
        slate = simulator.catalog.item_ids[:10]
        reaction = simulator.react(recommendation_of(request, slate, arm="A"))
        assert {event.event_type for event in reaction.events} == {"impression"}


def test_stock_changes_are_published_as_catalog_records() -> None:
    published = run(small(), oracle_policy, n_requests=1_500)
    updates = published.catalog[400:]

    assert len(updates) > 20
    assert all(update.updated_at > DEFAULT_START_AT for update in updates)


def test_oracle_arm_clicks_and_buys_far_more_than_random() -> None:
    published = run(ShopperSimulator(SEED), split_policy, n_requests=6_000)
    slates = Counter(event.arm for event in published.events if event.event_type == "impression")
    kinds = Counter(
        (event.arm, event.event_type) for event in published.events if event.arm is not None
    )
    rate = {
        (arm, kind): kinds[(arm, kind)] / (slates[arm] / 10)
        for arm in ("oracle", "random")
        for kind in EVENT_TYPES
    }
    print("seed", SEED, "per-slate rates", rate)

    assert rate[("oracle", "click")] > 3 * rate[("random", "click")]
    assert rate[("oracle", "purchase")] > 3 * rate[("random", "purchase")]
    assert rate[("oracle", "click")] > 0.3


def test_references_bracket_the_served_value() -> None:
    simulator = small(reference_rate=1.0)
    published = run(simulator, random_policy, n_requests=400)
    references = published.references

    assert len(references) == len(published.requests) == simulator.counters.references
    assert all(r.oracle_value >= r.served_value - 1e-12 for r in references)
    assert all(r.oracle_value >= r.random_value - 1e-12 for r in references)
    assert np.mean([r.oracle_value for r in references]) > 3 * np.mean(
        [r.random_value for r in references]
    )


def test_serving_the_oracle_slate_scores_the_oracle_value() -> None:
    published = run(small(reference_rate=1.0), oracle_policy, n_requests=300)

    for reference in published.references:
        assert reference.served_value == pytest.approx(reference.oracle_value, rel=1e-9)


def test_default_reference_rate_samples_about_a_tenth() -> None:
    simulator = small()
    run(simulator, random_policy, n_requests=3_000)

    assert 0.07 < simulator.counters.references / simulator.counters.slates_answered < 0.13


def test_clicks_fall_with_the_position() -> None:
    published = run(small(), random_policy, n_requests=6_000)
    clicks = Counter(
        event.position
        for event in published.events
        if event.event_type == "click" and event.request_id is not None
    )

    assert clicks[0] > clicks[9]
    assert sum(clicks[p] for p in range(5)) > 1.5 * sum(clicks[p] for p in range(5, 10))


def test_showing_the_same_slate_again_and_again_lowers_its_clicks() -> None:
    simulator = ShopperSimulator(SEED, n_items=400, n_shoppers=40)
    fixed: dict[str, list[str]] = {}
    exposures: Counter[str] = Counter()
    clicks_by_exposure: Counter[int] = Counter()
    shows_by_exposure: Counter[int] = Counter()

    for request in first_requests(simulator, 3_000):
        slate = fixed.setdefault(request.user_id, simulator.oracle_slate(request))
        reaction = simulator.react(recommendation_of(request, slate, arm="A"))
        exposure = min(exposures[request.user_id], 10)
        exposures[request.user_id] += 1
        shows_by_exposure[exposure] += 1
        clicks_by_exposure[exposure] += any(e.event_type == "click" for e in reaction.events)

    first = clicks_by_exposure[0] / shows_by_exposure[0]
    late = clicks_by_exposure[10] / shows_by_exposure[10]
    assert first > 0.3
    assert late < first / 3


def test_expired_and_unknown_requests_are_counted() -> None:
    simulator = small()
    first, second = first_requests(simulator, 2)[:2]

    assert simulator.expire(first.request_id)
    assert not simulator.expire(first.request_id)
    assert simulator.react(recommendation_of(first, ["i00001"], arm="A")).events == []
    reaction = simulator.react(recommendation_of(second, ["i00001", "nope"], arm="A"))

    counters = simulator.counters
    assert counters.requests_expired == 1 and counters.unknown_requests == 1
    assert counters.unknown_items == 1 and counters.slates_answered == 1
    assert [event.event_type for event in reaction.events][0] == "impression"


def test_counters_add_up() -> None:
    simulator = small()
    published = run(simulator, random_policy, n_requests=500)
    counters = simulator.counters

    assert counters.requests_sent == len(published.requests) == counters.slates_answered
    assert counters.n_events == len(published.events)
    assert counters.sessions > 0


def test_drift_is_off_by_default_and_changes_behaviour_when_on() -> None:
    assert small().shoppers.drift_per_day == 0.0

    # Sparse traffic, so that the run spans several hourly drift steps.
    sparse = TrafficParameters(sessions_per_s=0.005)
    steady = run(small(traffic=sparse), random_policy, n_requests=300)
    drifting = run(small(traffic=sparse, drift=0.5), random_policy, n_requests=300)
    assert steady.requests[:5] == drifting.requests[:5]
    assert steady.wire() != drifting.wire()


def test_sold_out_items_that_restock_come_back_and_the_others_stay_out() -> None:
    # A small shop with one unit of everything and sparse traffic, so that stock runs out and
    # days pass.
    simulator = ShopperSimulator(
        SEED, n_items=100, n_shoppers=200, tick_s=600.0, traffic=TrafficParameters(0.002)
    )
    simulator.catalog.stock[:] = 1
    published = run(simulator, oracle_policy, n_requests=3_000)
    last_stock: dict[str, int] = {}
    came_back: set[str] = set()
    for record in published.catalog:
        if last_stock.get(record.item_id) == 0 and record.stock > 0:
            came_back.add(record.item_id)
        last_stock[record.item_id] = record.stock

    catalog = simulator.catalog
    assert simulator.now - DEFAULT_START_AT > timedelta(days=3)
    assert came_back
    assert all(catalog.restocks(catalog.index_of[item_id]) for item_id in came_back)
    never = [i for i in range(catalog.n_items) if not catalog.restocks(i) and catalog.stock[i] == 0]
    assert never
