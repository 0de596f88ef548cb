"""The dataset readers on the real files: mappings onto the contract and counted drops.

The datasets live in the shared data folder beside the repository (``../shared/data``) and are
never copied into it. A missing folder skips these tests with the reason, except in CI, where
the folder is part of the checkout and its absence fails them.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.datasets import read_dataset
from producers.datasets.online_retail import price_tier

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def dataset_dir(name: str) -> Path:
    """The folder of one shared dataset; skip (fail in CI) when it is not there."""
    folder = DATA / name
    if not folder.is_dir():
        reason = f"dataset {name} is not at {folder} (the shared data folder beside the repo)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return folder


def test_movielens_maps_high_ratings_to_purchases_and_low_ones_to_clicks() -> None:
    data = read_dataset(dataset_dir("movielens-100k"), "movielens", limit=1_000)

    assert len(data.interactions) == 1_000
    assert data.drops == Counter({"beyond_limit": 99_000})
    times = [interaction.event_at for interaction in data.interactions]
    assert times == sorted(times)
    assert times[0] == datetime(1997, 9, 20, 3, 5, 10, tzinfo=UTC)

    # The earliest rating in the file: user 259 gave movie 255 four stars.
    first = data.interactions[0]
    assert (first.user_id, first.item_id, first.event_type) == ("u259", "m255", "purchase")
    assert (first.price, first.quantity) == (0.0, 1)
    assert {i.event_type for i in data.interactions} == {"purchase", "click"}
    assert all(i.price is None for i in data.interactions if i.event_type == "click")


def test_movielens_catalog_carries_titles_and_genres() -> None:
    data = read_dataset(dataset_dir("movielens-100k"), "movielens", limit=5_000)

    used = {interaction.item_id for interaction in data.interactions}
    assert set(data.items) == used
    toy_story = data.items["m1"]
    assert toy_story.title == "Toy Story (1995)"
    assert toy_story.tags == ["Animation", "Children's", "Comedy"]
    assert toy_story.category == "Animation"
    assert toy_story.brand == "m1"
    first_use = min(i.event_at for i in data.interactions if i.item_id == "m1")
    assert toy_story.updated_at == first_use

    # u.item is Latin-1: accented titles read as such.
    assert any(
        "é" in item.title
        for item in read_dataset(dataset_dir("movielens-100k"), "movielens").items.values()
    )


def test_movielens_whole_file_counts() -> None:
    data = read_dataset(dataset_dir("movielens-100k"), "movielens")

    kinds = Counter(interaction.event_type for interaction in data.interactions)
    assert kinds == {"purchase": 34_174 + 21_201, "click": 6_110 + 11_370 + 27_145}
    assert data.n_users() == 943
    assert len(data.items) == 1_682
    assert sum(data.drops.values()) == 0


def test_online_retail_first_month_drops_are_counted_by_reason() -> None:
    folder = dataset_dir("online-retail")
    data = read_dataset(folder, "online-retail", limit=10_000)

    assert len(data.interactions) == 10_000
    assert set(data.drops) <= {
        "no_customer",
        "cancellation",
        "adjustment",
        "non_product",
        "non_positive_quantity",
        "non_positive_price",
        "beyond_limit",
    }
    assert data.drops["no_customer"] > 0 and data.drops["cancellation"] > 0
    assert data.n_rows == len(data.interactions) + sum(data.drops.values())

    # The first row of the file is a kept purchase of six heart T-light holders at 2.55.
    first = data.interactions[0]
    assert (first.event_id, first.user_id, first.item_id) == ("or-0", "c17850", "85123A")
    assert (first.event_type, first.price, first.quantity) == ("purchase", 2.55, 6)
    assert first.session_id == "536365"
    assert first.event_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)

    item = data.items["85123A"]
    assert item.title == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert (item.category, item.price, item.price_tier) == ("HOLDER", 2.55, 2)
    assert "heart" in item.tags


def test_online_retail_whole_folder_drop_counts() -> None:
    data = read_dataset(dataset_dir("online-retail"), "online-retail")

    # The README counts 108,103 rows without a customer in this folder.
    assert data.drops["no_customer"] == 108_103
    assert data.n_rows == 431_673 == len(data.interactions) + sum(data.drops.values())
    assert all(interaction.quantity > 0 for interaction in data.interactions)
    assert all(interaction.price > 0 for interaction in data.interactions)
    assert not any(interaction.session_id.startswith("C") for interaction in data.interactions)


def test_price_tiers_band_unit_prices() -> None:
    assert [price_tier(price) for price in (0.1, 0.99, 1.0, 4.99, 5.0, 9.99, 10.0, 300.0)] == [
        0,
        0,
        1,
        2,
        3,
        3,
        4,
        4,
    ]


def test_retailrocket_maps_event_names_and_drops_duplicate_rows() -> None:
    data = read_dataset(dataset_dir("retailrocket-sample"), "retailrocket")

    # The README counts 8 exact duplicate rows and these event totals.
    assert data.drops == Counter({"duplicate_row": 8})
    kinds = Counter(interaction.event_type for interaction in data.interactions)
    assert sum(kinds.values()) == 99_992
    assert kinds["purchase"] <= 852 and kinds["add_to_cart"] <= 2_394
    times = [interaction.event_at for interaction in data.interactions]
    assert times == sorted(times)
    assert times[0] == datetime(2015, 6, 1, 6, 0, 9, 198_000, tzinfo=UTC)
    purchase = next(i for i in data.interactions if i.event_type == "purchase")
    assert (purchase.price, purchase.quantity) == (0.0, 1)


def test_records_publish_each_item_just_before_its_first_interaction() -> None:
    data = read_dataset(dataset_dir("movielens-100k"), "movielens", limit=300)

    published: set[str] = set()
    for record in data.records():
        if hasattr(record, "event_type"):
            assert record.item_id in published
        else:
            assert record.item_id not in published
            published.add(record.item_id)
    assert published == set(data.items)
