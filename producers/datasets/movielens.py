"""Reader of MovieLens 100K: explicit star ratings replayed as purchases and clicks.

Mapping onto the contract (``u.data`` ratings, ``u.item`` movies):

- **user** ``u<user_id>``, **item** ``m<movie_id>``; ``event_id`` ``ml-<user_id>-<movie_id>``
  (the dataset has one rating per user and movie); ``session_id`` the user and the UTC day.
- **Rating >= 4 -> purchase** (price 0, quantity 1). It is the strongest positive kind the
  contract has, so every recommender weighs it most, and a purchase is exactly what the
  business rules never recommend again: a user rates a movie once, so a movie already liked
  should not come back in that user's slates.
- **Rating <= 3 -> click** by default: the user chose to watch the movie, which says something
  about interest, though not that they liked it. With ``low_ratings="drop"`` these rows are
  dropped instead, counted under ``low_rating``.
- **Catalog**: title from ``u.item`` (Latin-1); every genre flag becomes a tag; the category is
  the first flagged genre in ``u.genre`` order. Movies have no brand, so each movie is its own
  brand and the one-brand-per-slate cap never binds. Price 0 and price tier 0 (no prices in the
  data), unlimited stock; ``updated_at`` is the time of the movie's first rating.
- Ratings are sorted by timestamp (stable: ties keep the file order, which is random).
- Drops (counted): ``low_rating`` (only with ``low_ratings="drop"``), ``unknown_item`` (a rating
  of a movie missing from ``u.item``; none in the published files).

The data's terms forbid redistribution: it is read from where it lies and never copied.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from producers.datasets.base import UNLIMITED_STOCK, ReplayData, keep_first
from stream.events import CatalogItem, Interaction

logger = logging.getLogger(__name__)

GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip

#: The lowest rating read as a purchase.
MIN_POSITIVE_RATING = 4


def read_movielens(
    dataset_dir: Path,
    limit: int | None = None,
    low_ratings: Literal["click", "drop"] = "click",
) -> ReplayData:
    """Read ``u.data`` and ``u.item`` from ``dataset_dir`` and map them onto the contract.

    Parameters
    ----------
    dataset_dir
        The folder holding the ml-100k files.
    limit
        Keep only the first ``limit`` interactions in time order.
    low_ratings
        What ratings below :data:`MIN_POSITIVE_RATING` become: clicks, or dropped rows.
    """
    movies = _read_movies(dataset_dir / "u.item")
    ratings = _read_ratings(dataset_dir / "u.data")
    ratings.sort(key=lambda rating: rating[3])

    drops: Counter[str] = Counter()
    interactions: list[Interaction] = []
    first_seen: dict[str, datetime] = {}
    for user, movie, stars, timestamp in ratings:
        if movie not in movies:
            drops["unknown_item"] += 1
            continue
        if stars < MIN_POSITIVE_RATING and low_ratings == "drop":
            drops["low_rating"] += 1
            continue

        event_at = datetime.fromtimestamp(timestamp, UTC)
        item_id = f"m{movie}"
        first_seen.setdefault(item_id, event_at)
        interactions.append(_interaction(user, movie, stars, event_at))

    items = {
        item_id: _catalog_item(item_id, *movies[item_id[1:]], updated_at=at)
        for item_id, at in first_seen.items()
    }
    data = ReplayData("movielens", items, interactions, drops, n_rows=len(ratings))
    data = keep_first(data, limit)
    logger.info("dataset_read %s", data.describe())
    return data


def _read_ratings(path: Path) -> list[tuple[str, str, int, int]]:
    rows = []
    with open(path, encoding="ascii") as lines:
        for line in lines:
            user, movie, stars, timestamp = line.split("\t")
            rows.append((user, movie, int(stars), int(timestamp)))
    return rows


def _read_movies(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Movie id -> (title, genres), reading the Latin-1 ``u.item``."""
    movies = {}
    with open(path, encoding="latin-1") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("|")
            flags = fields[5:]
            genres = [genre for genre, flag in zip(GENRES, flags, strict=True) if flag == "1"]
            movies[fields[0]] = (fields[1], genres)
    return movies


def _interaction(user: str, movie: str, stars: int, event_at: datetime) -> Interaction:
    positive = stars >= MIN_POSITIVE_RATING
    return Interaction(
        event_id=f"ml-{user}-{movie}",
        event_type="purchase" if positive else "click",
        event_at=event_at,
        user_id=f"u{user}",
        item_id=f"m{movie}",
        session_id=f"u{user}-{event_at:%Y%m%d}",
        price=0.0 if positive else None,
        quantity=1 if positive else None,
    )


def _catalog_item(item_id: str, title: str, genres: list[str], updated_at: datetime) -> CatalogItem:
    return CatalogItem(
        item_id=item_id,
        title=title,
        category=genres[0] if genres else "unknown",
        brand=item_id,
        price=0.0,
        price_tier=0,
        stock=UNLIMITED_STOCK,
        tags=genres,
        updated_at=updated_at,
    )
