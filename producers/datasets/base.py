"""What a dataset reader returns: the catalog, the interactions in time order and the drop counts.

Every reader in this package maps one public dataset onto the event contract of
:mod:`stream.events` and returns a :class:`ReplayData`. Rows that cannot be mapped are never
dropped silently: each reason is counted in ``drops`` and reported by whoever replays the data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from stream.events import CatalogItem, Interaction

#: Stock given to replayed items. The datasets say nothing about stock, and an item out of
#: stock is never recommended, so replayed items are never allowed to run out.
UNLIMITED_STOCK = 1_000_000_000


@dataclass
class ReplayData:
    """A dataset mapped onto the contract, ready to replay.

    Attributes
    ----------
    name
        The dataset's format name, e.g. ``movielens``.
    items
        The catalog record of every item an interaction refers to, by ``item_id``.
    interactions
        The kept interactions, in time order (ties keep the order of the source file).
    drops
        Rows not replayed, counted by reason.
    n_rows
        Rows read from the source files.
    """

    name: str
    items: dict[str, CatalogItem]
    interactions: list[Interaction]
    drops: Counter[str] = field(default_factory=Counter)
    n_rows: int = 0

    def records(self) -> Iterator[CatalogItem | Interaction]:
        """Every record in replay order: an item's catalog record just before its first use."""
        published: set[str] = set()
        for interaction in self.interactions:
            if interaction.item_id not in published:
                published.add(interaction.item_id)
                yield self.items[interaction.item_id]
            yield interaction

    def n_users(self) -> int:
        """Distinct users among the kept interactions."""
        return len({interaction.user_id for interaction in self.interactions})

    def describe(self) -> str:
        """One line: rows read, interactions kept by kind, and every drop reason with its count."""
        kinds = Counter(interaction.event_type for interaction in self.interactions)
        kept = ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items()))
        dropped = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.drops.items()))
        return (
            f"{self.name}: {self.n_rows:,} rows read; kept {len(self.interactions):,} "
            f"({kept}) of {self.n_users():,} users on {len(self.items):,} items; "
            f"dropped {sum(self.drops.values()):,} ({dropped or 'none'})"
        )


def keep_first(data: ReplayData, limit: int | None) -> ReplayData:
    """The first ``limit`` interactions of ``data`` in time order, with the items they use.

    Rows beyond the limit are counted under the drop reason ``beyond_limit``.
    """
    if limit is None or limit >= len(data.interactions):
        return data

    kept = data.interactions[:limit]
    used = {interaction.item_id for interaction in kept}
    drops = Counter(data.drops)
    drops["beyond_limit"] += len(data.interactions) - limit
    items = {item_id: item for item_id, item in data.items.items() if item_id in used}
    return ReplayData(data.name, items, kept, drops, data.n_rows)
