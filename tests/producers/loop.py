"""A driver loop for tests: runs the simulator with in-test policies answering every request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from producers.simulator import ShopperSimulator, recommendation_of
from stream.events import CatalogItem, Interaction, RecRequest, Reference

#: A policy picks the arm and the slate for a request.
Policy = Callable[[ShopperSimulator, RecRequest], tuple[str, list[str]]]


@dataclass
class Run:
    """Everything a run published, in the order a driver would have sent it."""

    requests: list[RecRequest] = field(default_factory=list)
    events: list[Interaction] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    catalog: list[CatalogItem] = field(default_factory=list)

    def wire(self) -> list[bytes]:
        """Every message as bytes, in publication order by kind."""
        messages = [*self.catalog, *self.requests, *self.events, *self.references]
        return [message.to_bytes() for message in messages]


def run(simulator: ShopperSimulator, policy: Policy, n_requests: int) -> Run:
    """Tick until ``n_requests`` requests were sent, answering each at once with ``policy``."""
    published = Run(catalog=simulator.catalog_items())
    while len(published.requests) < n_requests:
        tick = simulator.next_tick()
        published.events.extend(tick.events)
        published.catalog.extend(tick.catalog_updates)

        for request in tick.requests:
            published.requests.append(request)
            arm, slate = policy(simulator, request)
            reaction = simulator.react(recommendation_of(request, slate, arm=arm))
            published.events.extend(reaction.events)
            published.catalog.extend(reaction.catalog_updates)
            if reaction.reference is not None:
                published.references.append(reaction.reference)
    return published


def random_policy(simulator: ShopperSimulator, request: RecRequest) -> tuple[str, list[str]]:
    """Arm ``random``: eligible items drawn at random."""
    return "random", simulator.random_slate(request)


def oracle_policy(simulator: ShopperSimulator, request: RecRequest) -> tuple[str, list[str]]:
    """Arm ``oracle``: the simulator's true best slate."""
    return "oracle", simulator.oracle_slate(request)


def split_policy(simulator: ShopperSimulator, request: RecRequest) -> tuple[str, list[str]]:
    """Shoppers with an even number get the oracle slate, the others a random one."""
    if int(request.user_id[1:]) % 2 == 0:
        return oracle_policy(simulator, request)
    return random_policy(simulator, request)
