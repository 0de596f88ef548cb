"""Reader of the RetailRocket sample: a click-stream of views, add-to-carts and transactions.

Mapping onto the contract (``events_sample_100k.csv``):

- **user** ``v<visitorid>``, **item** ``i<itemid>``; ``event_id`` ``rr-<row number>`` (data
  rows from 0); ``session_id`` the visitor and the UTC day.
- ``view`` -> **click**, ``addtocart`` -> **add_to_cart**, ``transaction`` -> **purchase**.
  The data has no prices: purchases carry price 0 and quantity 1, so revenue from a replay
  of this dataset means nothing.
- **Catalog**: no item metadata is in the sample (the item property files are not included),
  so every item gets category ``unknown``, no tags, its own brand, price 0, price tier 0 and
  unlimited stock; ``updated_at`` is the time of its first event.
- Rows are sorted by ``timestamp`` (milliseconds; stable, so ties keep the file order).
- Drops (counted): ``duplicate_row`` (a row identical to an earlier one), ``unknown_event``
  (an event name other than the three above; none in the sample).

The sample is licensed CC BY-NC-SA 4.0 (non-commercial): use it for tests and benchmarks only.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from producers.datasets.base import UNLIMITED_STOCK, ReplayData, keep_first
from stream.events import CatalogItem, EventType, Interaction

logger = logging.getLogger(__name__)

FILE_NAME = "events_sample_100k.csv"

EVENT_TYPES: dict[str, EventType] = {
    "view": "click",
    "addtocart": "add_to_cart",
    "transaction": "purchase",
}


def read_retailrocket(dataset_dir: Path, limit: int | None = None) -> ReplayData:
    """Read the RetailRocket events sample in ``dataset_dir`` and map it onto the contract.

    Parameters
    ----------
    dataset_dir
        The folder holding ``events_sample_100k.csv``.
    limit
        Keep only the first ``limit`` interactions in time order.
    """
    with open(dataset_dir / FILE_NAME, encoding="utf-8", newline="") as text:
        rows = list(csv.DictReader(text))

    drops: Counter[str] = Counter()
    seen: set[tuple[str, ...]] = set()
    kept: list[tuple[int, int, dict[str, str]]] = []
    for number, row in enumerate(rows):
        signature = tuple(row.values())
        if signature in seen:
            drops["duplicate_row"] += 1
            continue
        seen.add(signature)
        if row["event"] not in EVENT_TYPES:
            drops["unknown_event"] += 1
            continue
        kept.append((int(row["timestamp"]), number, row))
    kept.sort(key=lambda entry: entry[0])

    interactions = [_interaction(row, number, ms) for ms, number, row in kept]
    items: dict[str, CatalogItem] = {}
    for interaction in interactions:
        if interaction.item_id not in items:
            items[interaction.item_id] = _catalog_item(interaction)

    data = keep_first(ReplayData("retailrocket", items, interactions, drops, len(rows)), limit)
    logger.info("dataset_read %s", data.describe())
    return data


def _interaction(row: dict[str, str], number: int, ms: int) -> Interaction:
    event_at = datetime.fromtimestamp(ms / 1000.0, UTC)
    event_type = EVENT_TYPES[row["event"]]
    purchase = event_type == "purchase"
    return Interaction(
        event_id=f"rr-{number}",
        event_type=event_type,
        event_at=event_at,
        user_id=f"v{row['visitorid']}",
        item_id=f"i{row['itemid']}",
        session_id=f"v{row['visitorid']}-{event_at:%Y%m%d}",
        price=0.0 if purchase else None,
        quantity=1 if purchase else None,
    )


def _catalog_item(interaction: Interaction) -> CatalogItem:
    return CatalogItem(
        item_id=interaction.item_id,
        category="unknown",
        brand=interaction.item_id,
        price=0.0,
        price_tier=0,
        stock=UNLIMITED_STOCK,
        updated_at=interaction.event_at,
    )
