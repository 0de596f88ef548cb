"""The registry of recommenders by name, and the recommender each experiment arm runs by default.

Examples
--------
>>> from models.catalog import Catalog
>>> recommender = build_recommender(ARM_RECOMMENDERS["A"], Catalog(), half_life_s=3600.0)
>>> recommender.name, recommender.n_learnt
('popularity', 0)
"""

from __future__ import annotations

from typing import Any

from models.base import Recommender
from models.catalog import Catalog
from models.content import Content
from models.cooccurrence import CoOccurrence
from models.hybrid import Hybrid
from models.matrix_factorisation import MatrixFactorisation
from models.popularity import Popularity

__all__ = ["ARM_RECOMMENDERS", "RECOMMENDERS", "build_recommender", "restore_recommender"]

#: Every recommender class by its name (which is also the ``source`` of its slots).
RECOMMENDERS: dict[str, type[Recommender]] = {
    recommender.name: recommender
    for recommender in (Popularity, CoOccurrence, MatrixFactorisation, Content, Hybrid)
}

#: The default recommender of each experiment arm; an experiment file may choose others.
ARM_RECOMMENDERS: dict[str, str] = {
    "A": "popularity",
    "B": "cooccurrence",
    "C": "matrix_factorisation",
    "D": "content",
    "E": "hybrid",
}


def build_recommender(name: str, catalog: Catalog, seed: int = 0, **options: Any) -> Recommender:
    """A new recommender of the given name; ``options`` go to its constructor."""
    return _class_of(name)(catalog, seed=seed, **options)


def restore_recommender(name: str, state: bytes, catalog: Catalog) -> Recommender:
    """A recommender of the given name restored from its ``to_state`` bytes."""
    return _class_of(name).from_state(state, catalog)


def _class_of(name: str) -> type[Recommender]:
    try:
        return RECOMMENDERS[name]
    except KeyError:
        known = ", ".join(sorted(RECOMMENDERS))
        raise ValueError(f"unknown recommender {name!r}; known: {known}") from None
