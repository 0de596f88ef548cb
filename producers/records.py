"""What the simulator hands its driver: ticks, reactions and running counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from stream.events import EVENT_TYPES, CatalogItem, Interaction, RecRequest, Reference


@dataclass
class Tick:
    """What happened in one step of the simulated clock.

    Attributes
    ----------
    at
        Simulated time at the end of the step.
    requests
        Pages opened in the step, each asking for a slate.
    events
        Organic interactions: item pages viewed (clicks) and carts and purchases made there.
    catalog_updates
        Records of items whose stock changed (organic purchases, restocks).
    """

    at: datetime
    requests: list[RecRequest] = field(default_factory=list)
    events: list[Interaction] = field(default_factory=list)
    catalog_updates: list[CatalogItem] = field(default_factory=list)


@dataclass
class Reaction:
    """What a served slate caused.

    Attributes
    ----------
    events
        Impressions of every shown item, then the click, add-to-cart and purchase if any.
    reference
        Ground-truth values of the served, random and oracle slates, for sampled requests.
    catalog_updates
        Records of items whose stock the reaction changed.
    """

    events: list[Interaction] = field(default_factory=list)
    reference: Reference | None = None
    catalog_updates: list[CatalogItem] = field(default_factory=list)


@dataclass
class Counters:
    """Running totals of the simulation, for progress displays and run summaries."""

    sessions: int = 0
    requests_sent: int = 0
    slates_answered: int = 0
    requests_expired: int = 0
    unknown_requests: int = 0
    unknown_items: int = 0
    references: int = 0
    catalog_updates: int = 0
    slate_events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    organic_events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))

    @property
    def n_events(self) -> int:
        """Interactions produced so far, slate and organic."""
        return sum(self.slate_events.values()) + sum(self.organic_events.values())
