"""The worker's arms: closed worlds per arm, slates as exposure records, snapshots that restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stream import snapshots
from stream.arms import ArmModels
from stream.assignment import Experiment
from stream.events import CatalogItem, Interaction, RecRequest

START = datetime(2026, 1, 5, tzinfo=UTC)
SEED = 11


def _catalog(n_items: int = 60) -> list[CatalogItem]:
    categories = ["bags", "watches", "shoes"]
    return [
        CatalogItem(
            item_id=f"i{number:03d}",
            category=categories[number % 3],
            brand=f"brand{number % 7}",
            price=100.0 + number,
            price_tier=number % 3,
            stock=5,
            tags=[f"colour{number % 4}"],
            updated_at=START,
        )
        for number in range(n_items)
    ]


def _clicks(n_users: int = 40, n_each: int = 6) -> list[Interaction]:
    events = []
    for user in range(n_users):
        for step in range(n_each):
            events.append(
                Interaction(
                    event_id=f"e{user}-{step}",
                    event_type="click",
                    event_at=START + timedelta(minutes=user * 10 + step),
                    user_id=f"u{user:03d}",
                    item_id=f"i{(user + step * 3) % 30:03d}",
                    session_id=f"s{user}",
                )
            )
    return events


def _trained() -> ArmModels:
    arms = ArmModels(Experiment(salt="test"), seed=SEED)
    for item in _catalog():
        arms.learn_item(item)
    for event in _clicks():
        arms.learn_event(event)
    return arms


def _request(user_id: str, request_id: str = "r1") -> RecRequest:
    return RecRequest(
        request_id=request_id,
        user_id=user_id,
        session_id="s",
        requested_at=START + timedelta(days=1),
        k=5,
    )


def test_each_event_teaches_only_the_arm_of_its_user() -> None:
    arms = _trained()
    experiment = arms.experiment
    expected = {arm: 0 for arm in experiment.arms}
    for event in _clicks():
        expected[experiment.arm_of(event.user_id)] += 1

    assert arms.n_learnt() == expected
    assert sum(expected.values()) == len(_clicks())


def test_a_slate_is_the_exposure_record_of_the_users_arm() -> None:
    arms = _trained()

    recommendation = arms.recommend(_request("u007"))

    assert recommendation.arm == arms.experiment.arm_of("u007")
    assert [entry.position for entry in recommendation.slate] == list(range(5))
    assert len({entry.item_id for entry in recommendation.slate}) == 5
    assert recommendation.model_version.endswith(f"@{arms.n_learnt()[recommendation.arm]}")
    assert all(entry.source for entry in recommendation.slate)


def test_an_arm_without_a_recommender_is_refused() -> None:
    with pytest.raises(ValueError, match="no recommender"):
        ArmModels(Experiment(arms=("A", "Z")))


def test_a_snapshot_restores_the_same_slates_and_offsets(tmp_path: Path) -> None:
    arms = _trained()
    arms.mark(("events", 0), 41)
    arms.mark(("catalog", 2), 7)
    snapshots.save(arms, tmp_path)
    before = [arms.recommend(_request(f"u{user:03d}", f"r{user}")) for user in range(20)]

    restored = snapshots.load(tmp_path, Experiment(salt="test"))
    after = [restored.recommend(_request(f"u{user:03d}", f"r{user}")) for user in range(20)]

    assert [slate.slate for slate in after] == [slate.slate for slate in before]
    assert restored.offsets == {("events", 0): 41, ("catalog", 2): 7}
    assert restored.seen(("events", 0), 41) and not restored.seen(("events", 0), 42)
    assert [path.name for path in tmp_path.iterdir()] == [snapshots.FILE_NAME]


def test_no_snapshot_means_empty_models(tmp_path: Path) -> None:
    assert snapshots.load(tmp_path / "nothing-here", Experiment()) is None


def test_a_snapshot_of_another_experiment_is_refused(tmp_path: Path) -> None:
    snapshots.save(_trained(), tmp_path)

    with pytest.raises(snapshots.SnapshotError, match="another --state-dir"):
        snapshots.load(tmp_path, Experiment(salt="other"))


def test_an_event_that_overtakes_its_catalog_record_is_still_learnt() -> None:
    arms = ArmModels(Experiment(salt="test"), seed=SEED)
    early = _clicks(n_users=5, n_each=2)

    for event in early:
        arms.learn_event(event)
    placeholders = arms.recommend(_request("u001"))
    for item in _catalog():
        arms.learn_item(item)

    assert sum(arms.n_learnt().values()) == len(early)
    assert placeholders.slate == []
    assert len(arms.recommend(_request("u001", "r2")).slate) == 5
