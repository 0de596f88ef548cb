"""Known answers of the prequential protocol and its metrics, on hand-made interaction streams.

Arm A is the popularity recommender, whose slates are easy to work out by hand: the items with
the most decayed interactions so far, minus what the user bought. One arm keeps the stream a
single closed world, so every expected slate below follows from the events before it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from analysis.replay_metrics import outcome_metrics
from producers.datasets.base import UNLIMITED_STOCK, ReplayData
from producers.offline import Outcome, run_offline, windows
from stream.assignment import Experiment
from stream.events import CatalogItem, Interaction

START = datetime(2011, 1, 1, tzinfo=UTC)
ONE_ARM = Experiment(arms=("A",))


def _data(stream: list[tuple[str, str]]) -> ReplayData:
    """Clicks of (user, item), one minute apart, with a catalog record per item."""
    interactions = [
        Interaction(
            event_id=f"e{n}",
            event_type="click",
            event_at=START + timedelta(minutes=n),
            user_id=user_id,
            item_id=item_id,
            session_id=user_id,
        )
        for n, (user_id, item_id) in enumerate(stream)
    ]
    items = {
        item_id: CatalogItem(
            item_id=item_id,
            category="c",
            brand=item_id,
            price=1.0,
            price_tier=0,
            stock=UNLIMITED_STOCK,
            updated_at=START,
        )
        for _, item_id in stream
    }
    return ReplayData("hand-made", items, interactions)


def _positions(outcomes: list[Outcome]) -> list[int | None]:
    return [outcome.position for outcome in outcomes]


def test_each_slate_is_asked_before_its_interaction_is_learnt() -> None:
    # Everyone clicks x, then y once: the first request knows x only from its own catalog
    # record (so x fills the one-item catalog's slate at position 0), and each later x is the
    # most popular item; y first appears when it is clicked, with no interactions yet.
    stream = [("ann", "x"), ("bob", "x"), ("cid", "x"), ("ann", "y"), ("bob", "y")]
    run = run_offline(_data(stream), ONE_ARM, {"A": "popularity"}, k=2)

    assert _positions(run.outcomes) == [0, 0, 0, 1, 1]
    assert run.n_learnt == {"A": 5}
    assert [outcome.request_id for outcome in run.outcomes] == [f"rq-e{n}" for n in range(5)]


def test_a_slate_of_one_misses_the_second_item() -> None:
    stream = [("ann", "x"), ("bob", "x"), ("cid", "x"), ("ann", "y"), ("bob", "y")]
    run = run_offline(_data(stream), ONE_ARM, {"A": "popularity"}, k=1)

    assert _positions(run.outcomes) == [0, 0, 0, None, None]


def test_metrics_average_per_user_first() -> None:
    # ann: hit at 0, miss -> hit rate 1/2, NDCG 1/2; bob: hit at 0 and at 1 -> 1 and
    # (1 + 1/log2(3)) / 2. Arm means are over the two users.
    outcomes = [("ann", "A", 0), ("ann", "A", None), ("bob", "A", 0), ("bob", "A", 1)]
    [metrics] = outcome_metrics(outcomes, k=10)

    bob_ndcg = (1.0 + 1.0 / math.log2(3)) / 2
    assert metrics.n_users == 2 and metrics.n_interactions == 4
    assert metrics.hit_rate == pytest.approx(0.75)
    assert metrics.ndcg == pytest.approx((0.5 + bob_ndcg) / 2)

    # Two users: the interval is the mean plus or minus t(0.975, 1) * sd / sqrt(2).
    half_width = 12.706204736 * math.sqrt(((0.5 - 0.75) ** 2 + (1 - 0.75) ** 2) / 1) / math.sqrt(2)
    low, high = metrics.hit_rate_interval
    assert (low, high) == pytest.approx((0.75 - half_width, 0.75 + half_width))


def test_positions_beyond_k_are_misses() -> None:
    [metrics] = outcome_metrics([("ann", "A", 3), ("ann", "A", 12)], k=10)

    assert metrics.hit_rate == pytest.approx(0.5)
    assert metrics.ndcg == pytest.approx(0.5 / math.log2(5))


def test_windows_keep_each_users_order_and_hold_distinct_users() -> None:
    stream = [("ann", "x"), ("ann", "y"), ("bob", "x"), ("ann", "z"), ("cid", "x")]
    data = _data(stream)

    assert list(windows(data.interactions, size=10)) == [[0, 2, 4], [1], [3]]
    assert list(windows(data.interactions, size=2)) == [[0, 2], [1, 4], [3]]
    assert list(windows(data.interactions, size=10, lookahead=2)) == [[0], [1, 2], [3, 4]]


def test_within_a_window_requests_do_not_see_the_windows_interactions() -> None:
    # Strictly, cid's request comes after bob's click on y, the most recent click, so cid is
    # shown y. In one window of three, no request sees any click: all scores tie and every
    # slate is the oldest catalog item, x.
    stream = [("ann", "x"), ("bob", "y"), ("cid", "y")]

    strict = run_offline(_data(stream), ONE_ARM, {"A": "popularity"}, k=1)
    windowed = run_offline(_data(stream), ONE_ARM, {"A": "popularity"}, k=1, window=3)

    assert _positions(strict.outcomes) == [0, None, 0]
    assert _positions(windowed.outcomes) == [0, None, None]
