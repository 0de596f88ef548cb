"""Readers of public datasets, each mapping one format onto the event contract for replay.

Each module documents its mapping in its docstring; :func:`read_dataset` picks the reader of
a format by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from producers.datasets.base import ReplayData
from producers.datasets.movielens import read_movielens
from producers.datasets.online_retail import read_online_retail
from producers.datasets.retailrocket import read_retailrocket

__all__ = ["FORMATS", "ReplayData", "read_dataset"]

#: The reader of each dataset format, by the name the command line uses.
FORMATS: dict[str, Callable[..., ReplayData]] = {
    "movielens": read_movielens,
    "online-retail": read_online_retail,
    "retailrocket": read_retailrocket,
}


def read_dataset(dataset_dir: Path, fmt: str, limit: int | None = None) -> ReplayData:
    """Read the dataset in ``dataset_dir`` with the reader of format ``fmt``."""
    try:
        reader = FORMATS[fmt]
    except KeyError:
        known = ", ".join(FORMATS)
        raise ValueError(f"unknown dataset format {fmt!r}; known: {known}") from None
    return reader(Path(dataset_dir), limit=limit)
