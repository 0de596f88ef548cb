"""The Kafka topic names of the experiment, and how many partitions each gets by default."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PARTITIONS = 8


@dataclass(frozen=True)
class Topics:
    """Names of every topic the system reads or writes.

    Keyed by user id wherever a user exists, so that one user's events stay in order on one
    partition and one worker owns that user's state.

    Attributes
    ----------
    catalog
        Catalog items (key: item id), compacted: the latest record of an item wins.
    rec_requests
        A shopper opens a page and asks for a slate.
    recommendations
        The exposure record of each served slate.
    events
        Interactions: impression, click, add_to_cart, purchase.
    references
        Ground-truth values of the served, random and oracle slates for sampled requests
        (simulation only).
    dead_letter
        Messages that failed validation, with the reason.
    """

    catalog: str = "catalog"
    rec_requests: str = "rec-requests"
    recommendations: str = "recommendations"
    events: str = "events"
    references: str = "references"
    dead_letter: str = "dead-letter"

    def all(self) -> list[str]:
        """Every topic name, in a stable order."""
        return [
            self.catalog,
            self.rec_requests,
            self.recommendations,
            self.events,
            self.references,
            self.dead_letter,
        ]

    def with_prefix(self, prefix: str) -> Topics:
        """The same topics with ``prefix`` before every name, for several experiments (or
        tests) on one broker.

        Examples
        --------
        >>> TOPICS.with_prefix("spring-").events
        'spring-events'
        """
        return Topics(*(f"{prefix}{name}" for name in self.all()))

    def compacted(self) -> set[str]:
        """Topics whose latest record per key is all that matters."""
        return {self.catalog}


TOPICS = Topics()
