"""The shopper simulator: a simulated shop that asks for slates and reacts to the ones it gets.

A driver (the Kafka producer, or a test) runs the loop::

    simulator = ShopperSimulator(seed=7)
    publish(simulator.catalog_items())
    while running:
        tick = simulator.next_tick()          # rec-requests to send, organic events
        publish(tick.requests, tick.events, tick.catalog_updates)
        for recommendation in slates_received():
            reaction = simulator.react(recommendation)
            publish(reaction.events, reaction.reference, reaction.catalog_updates)
        for request_id in requests_timed_out():
            simulator.expire(request_id)

Everything is deterministic for a seed. The random numbers a reaction needs are drawn when its
request is made, and the ids of the events it causes derive from the request id, so the events
of one request do not depend on when the driver hands its slate back; only the shared state
(stock, what each shopper has seen and bought) follows the order of the calls.
"""

from __future__ import annotations

import heapq
import logging
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from producers.catalog import Catalog
from producers.choice import ChoiceModel, ChoiceParameters
from producers.history import ShopperHistory
from producers.records import Counters, Reaction, Tick
from producers.session import PageView, Traffic, TrafficParameters
from producers.shoppers import ShopperPopulation
from stream.events import (
    CatalogItem,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
    SlateItem,
)

logger = logging.getLogger(__name__)

#: The simulated clock starts here (a Monday), so that runs of every seed share one calendar.
DEFAULT_START_AT = datetime(2026, 1, 5, tzinfo=UTC)

#: Uniform draws reserved per request for its reaction: click, cart, purchase, quantity and
#: the three delays between them.
N_REACTION_DRAWS = 7


@dataclass(frozen=True)
class _PendingRequest:
    """A request waiting for its slate, with the draws its reaction will use."""

    shopper: int
    session_id: str
    requested_s: float
    k: int
    draws: np.ndarray
    reference_seed: int | None


class ShopperSimulator:
    """A simulated luxury shop whose shoppers follow a known choice model.

    Parameters
    ----------
    seed
        Seeds every random draw; two simulators with the same arguments and the same calls
        produce the same events.
    n_items, n_shoppers, n_factors
        Size of the catalog, of the population and of the latent space.
    k
        Slate size asked for in every request.
    tick_s
        Simulated seconds each :meth:`next_tick` advances the clock.
    reference_rate
        Share of requests whose reaction carries a :class:`stream.events.Reference`.
    n_random_slates
        Random slates averaged for a reference's ``random_value``.
    drift
        Angle (radians) by which every shopper's taste turns per simulated day; 0 is off.
    start_at
        Simulated time of the first tick's start.
    run_id
        Prefix of request and session ids (event ids derive from them); ``f"sim{seed}"`` if
        None. Give each run its own so that the ids of two runs never collide.
    choice, traffic
        Parameters of the choice model and of the session traffic.

    Attributes
    ----------
    catalog, shoppers, choice
        The ground truth.
    history
        What each shopper was shown and bought.
    counters
        Running totals.
    now
        The simulated clock.

    Examples
    --------
    >>> simulator = ShopperSimulator(seed=1, n_items=300, n_shoppers=200)
    >>> tick = simulator.next_tick()
    >>> while not tick.requests:
    ...     tick = simulator.next_tick()
    >>> request = tick.requests[0]
    >>> slate = simulator.random_slate(request)
    >>> reaction = simulator.react(recommendation_of(request, slate, arm="A"))
    >>> [event.event_type for event in reaction.events][:2]
    ['impression', 'impression']
    >>> simulator.counters.slates_answered
    1

    """

    def __init__(
        self,
        seed: int = 0,
        n_items: int = 2_000,
        n_shoppers: int = 10_000,
        n_factors: int = 12,
        *,
        k: int = 10,
        tick_s: float = 60.0,
        reference_rate: float = 0.1,
        n_random_slates: int = 4,
        drift: float = 0.0,
        start_at: datetime = DEFAULT_START_AT,
        run_id: str | None = None,
        choice: ChoiceParameters | None = None,
        traffic: TrafficParameters | None = None,
    ) -> None:
        self.seed = seed
        self.k = k
        self.tick_s = tick_s
        self.reference_rate = reference_rate
        self.n_random_slates = n_random_slates
        self.start_at = start_at
        self.run_id = run_id or f"sim{seed}"
        self.rng = np.random.default_rng(seed)

        self.catalog = Catalog.generate(self.rng, n_items, n_factors)
        self.shoppers = ShopperPopulation.generate(
            self.rng,
            n_shoppers,
            n_factors,
            n_brands=len(self.catalog.brands),
            n_categories=len(self.catalog.categories),
            drift_per_day=drift,
        )
        self.choice = ChoiceModel(self.catalog, self.shoppers, choice)
        self.traffic = Traffic(self.rng, self.shoppers.activity, traffic, f"{self.run_id}-s")

        self.counters = Counters()
        self._prices: list[float] = self.catalog.price.tolist()
        self.now_s = 0.0
        self._pending: dict[str, _PendingRequest] = {}
        self.history = ShopperHistory(self.catalog.n_items)
        self._restocks: list[tuple[float, int]] = []

    @property
    def now(self) -> datetime:
        """The simulated clock."""
        return self._time(self.now_s)

    def catalog_items(self) -> list[CatalogItem]:
        """Every item's current record, for the initial load of the catalog topic."""
        return self.catalog.records(self.now)

    def next_tick(self) -> Tick:
        """Advance the clock by ``tick_s`` and return the requests and organic events due."""
        self.now_s += self.tick_s
        tick = Tick(at=self.now, catalog_updates=self._restock_due())

        for page in self.traffic.pages_until(self.now_s):
            context_item = self._browse(page) if page.kind == "item" else None
            tick.requests.append(self._request(page, context_item))
            if context_item is not None:
                self._organic_visit(page, context_item, tick)

        self.counters.sessions = self.traffic.n_sessions
        return tick

    def react(self, recommendation: Recommendation) -> Reaction:
        """Let the shopper react to a served slate; unknown or answered requests get nothing."""
        pending = self._pending.pop(recommendation.request_id, None)
        if pending is None:
            self.counters.unknown_requests += 1
            logger.warning(
                "recommendation_unknown_request request_id=%s arm=%s action=ignored",
                recommendation.request_id,
                recommendation.arm,
            )
            return Reaction()
        self.counters.slates_answered += 1

        items, positions = self._resolve(recommendation)
        reaction = Reaction()
        if pending.reference_seed is not None:
            reaction.reference = self._reference(recommendation, pending, items, positions)

        if len(items):
            self._react_to_slate(recommendation, pending, items, positions, reaction)
        return reaction

    def expire(self, request_id: str) -> bool:
        """Forget a request whose slate never came; return whether it was pending."""
        if self._pending.pop(request_id, None) is None:
            return False
        self.counters.requests_expired += 1
        return True

    def eligible(self, shopper: int) -> np.ndarray:
        """Mask of the items the shopper can act on: in stock and not bought by them yet."""
        return (self.catalog.stock > 0) & self.history.not_owned(shopper)

    def n_seen(self, shopper: int) -> np.ndarray:
        """Slate impressions so far of every item to the shopper."""
        return self.history.n_seen(shopper)

    def oracle_slate(self, request: RecRequest) -> list[str]:
        """The true best slate for a request, given the current stock and history."""
        shopper = self.shoppers.index_of[request.user_id]
        at_s = self._seconds(request.requested_at)
        return self.choice.oracle_slate(
            shopper, request.k, self.eligible(shopper), n_seen=self.n_seen(shopper), at_s=at_s
        )

    def random_slate(
        self, request: RecRequest, rng: np.random.Generator | None = None
    ) -> list[str]:
        """A random slate of eligible items for a request.

        Draws from ``rng``, or else from a generator keyed by the seed and the request id, so
        that asking for a random slate never shifts the simulator's own draws.
        """
        shopper = self.shoppers.index_of[request.user_id]
        rng = rng or np.random.default_rng([self.seed, zlib.crc32(request.request_id.encode())])
        return self.choice.random_slate(request.k, rng, self.eligible(shopper))

    def _request(self, page: PageView, context_item: int | None) -> RecRequest:
        """Record a page's request and reserve the random draws its reaction will use."""
        request_id = f"{self.run_id}-r{self.counters.requests_sent:08d}"
        self.counters.requests_sent += 1

        sampled = self.rng.random() < self.reference_rate
        self._pending[request_id] = _PendingRequest(
            shopper=page.shopper,
            session_id=page.session_id,
            requested_s=page.at_s,
            k=self.k,
            draws=self.rng.random(N_REACTION_DRAWS),
            reference_seed=int(self.rng.integers(2**63)) if sampled else None,
        )

        category = None
        if context_item is not None:
            category = self.catalog.categories[self.catalog.category[context_item]]
        elif page.kind == "category":
            category = self.catalog.categories[self._draw_category(page.shopper)]
        return RecRequest(
            request_id=request_id,
            user_id=self.shoppers.user_ids[page.shopper],
            session_id=page.session_id,
            requested_at=self._time(page.at_s),
            k=self.k,
            context_item_id=None if context_item is None else self.catalog.item_ids[context_item],
            context_category=category,
        )

    def _draw_category(self, shopper: int) -> int:
        """A category index drawn from the shopper's browsing shares."""
        cdf = self.shoppers.category_cdf[shopper]
        return min(int(np.searchsorted(cdf, self.rng.random())), len(cdf) - 1)

    def _browse(self, page: PageView) -> int | None:
        """The item an item page shows: a category the shopper likes, then an item by taste."""
        candidates = self.catalog.items_of_category[self._draw_category(page.shopper)]
        candidates = candidates[self.eligible(page.shopper)[candidates]]
        if len(candidates) == 0:
            return None

        utility = self.choice.utilities(page.shopper, candidates, at_s=page.at_s)
        weights = np.exp(utility - utility.max())
        cdf = np.cumsum(weights) / weights.sum()
        drawn = min(int(np.searchsorted(cdf, self.rng.random())), len(cdf) - 1)
        return int(candidates[drawn])

    def _organic_visit(self, page: PageView, item: int, tick: Tick) -> None:
        """An item page viewed from browsing: a click, maybe an add-to-cart and a purchase."""
        draws = self.rng.random(N_REACTION_DRAWS)
        event = {"event_id": f"{page.session_id}-p{page.page_number:03d}"}
        event["session_id"] = page.session_id
        click = self._interaction("click", page.shopper, item, page.at_s, **event)

        utility = self.choice.utilities(page.shopper, np.array([item]), at_s=page.at_s)[0]
        events, updates = self._after_click(page.shopper, item, utility, page.at_s, draws, event)
        for interaction in [click, *events]:
            self.counters.organic_events[interaction.event_type] += 1
        tick.events.extend([click, *events])
        tick.catalog_updates.extend(updates)

    def _resolve(self, recommendation: Recommendation) -> tuple[np.ndarray, np.ndarray]:
        """Item indices and positions of a slate, without unknown items and repeats.

        A repeated item is shown once, at its first place: the shopper sees one article.
        """
        items, positions = [], []
        for slate_item in recommendation.slate:
            item = self.catalog.index_of.get(slate_item.item_id)
            if item is None:
                self.counters.unknown_items += 1
                logger.debug(
                    "slate_item_unknown request_id=%s item_id=%s",
                    recommendation.request_id,
                    slate_item.item_id,
                )
            elif item not in items:
                items.append(item)
                positions.append(slate_item.position)
        return np.array(items, dtype=np.int64), np.array(positions, dtype=np.int64)

    def _react_to_slate(
        self,
        recommendation: Recommendation,
        pending: _PendingRequest,
        items: np.ndarray,
        positions: np.ndarray,
        reaction: Reaction,
    ) -> None:
        """Impressions of every item, then at most one click and what follows from it."""
        shopper, draws = pending.shopper, pending.draws
        utility, p_click = self._slate_choice(shopper, items, positions, pending.requested_s)
        shown_s = pending.requested_s + 1.0
        reaction.events.extend(
            self._impressions(recommendation, pending, items, positions, shown_s)
        )

        # One uniform draw picks the click, or no click, by inverting the logit's distribution.
        slot = int(np.searchsorted(np.cumsum(p_click), draws[0], side="right"))
        if slot < len(items):
            item, click_s = int(items[slot]), shown_s + 3.0 + 27.0 * draws[4]
            event = {
                "event_id": f"{recommendation.request_id}-{slot:03d}",
                "session_id": pending.session_id,
                "request_id": recommendation.request_id,
                "arm": recommendation.arm,
                "position": int(positions[slot]),
            }
            reaction.events.append(self._interaction("click", shopper, item, click_s, **event))
            events, updates = self._after_click(
                shopper, item, float(utility[slot]), click_s, draws, event
            )
            reaction.events.extend(events)
            reaction.catalog_updates.extend(updates)

        for interaction in reaction.events:
            self.counters.slate_events[interaction.event_type] += 1

    def _slate_choice(
        self, shopper: int, items: np.ndarray, positions: np.ndarray, at_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Utility and click probability of each slate item, before this slate's impressions."""
        n_seen = self.history.seen_counts(shopper, items)
        actionable = (self.catalog.stock[items] > 0) & ~self.history.owned(shopper, items)

        utility = self.choice.utilities(shopper, items, n_seen, at_s)
        p_click, _ = self.choice.click_probabilities(utility, positions, actionable)
        return utility, p_click

    def _impressions(
        self,
        recommendation: Recommendation,
        pending: _PendingRequest,
        items: np.ndarray,
        positions: np.ndarray,
        shown_s: float,
    ) -> list[Interaction]:
        """One impression per slate item, counted toward the shopper's saturation."""
        self.history.record_impressions(pending.shopper, items.tolist())
        shown_at, request_id = self._time(shown_s), recommendation.request_id
        user_id = self.shoppers.user_ids[pending.shopper]

        # Built inline rather than through _interaction: impressions are most of all events.
        impressions = []
        for slot, (item, position) in enumerate(
            zip(items.tolist(), positions.tolist(), strict=True)
        ):
            impressions.append(
                Interaction(
                    event_id=f"{request_id}-{slot:03d}-imp",
                    event_type="impression",
                    event_at=shown_at,
                    user_id=user_id,
                    item_id=self.catalog.item_ids[item],
                    session_id=pending.session_id,
                    request_id=request_id,
                    arm=recommendation.arm,
                    position=position,
                    price=self._prices[item],
                )
            )
        return impressions

    def _reference(
        self,
        recommendation: Recommendation,
        pending: _PendingRequest,
        items: np.ndarray,
        positions: np.ndarray,
    ) -> Reference:
        """Expected values of the served slate, of random slates and of the oracle slate.

        All three see the same state: the stock, purchases and impressions before the
        reaction, and the same eligible items. Random and oracle slates have as many places
        as the request asked for, or as the served slate has if it has more.
        """
        shopper, at_s = pending.shopper, pending.requested_s
        eligible, n_seen = self.eligible(shopper), self.n_seen(shopper)
        k = max(pending.k, len(items))

        def value_of(slate: np.ndarray, places: np.ndarray | None = None) -> float:
            if len(slate) == 0:
                return 0.0
            places = np.arange(len(slate)) if places is None else places
            return self.choice.slate_value(
                shopper, slate, places, eligible[slate], n_seen[slate], at_s
            )

        # The random slates are scored together, one row each.
        rng = np.random.default_rng(pending.reference_seed)
        randoms = np.array(
            [self.choice.random_items(k, rng, eligible) for _ in range(self.n_random_slates)]
        )
        random_values = self.choice.slate_values(
            shopper, randoms, np.arange(randoms.shape[1]), eligible[randoms], n_seen[randoms], at_s
        )
        oracle = self.choice.oracle_items(shopper, k, eligible, n_seen=n_seen, at_s=at_s)

        self.counters.references += 1
        return Reference(
            request_id=recommendation.request_id,
            user_id=self.shoppers.user_ids[shopper],
            arm=recommendation.arm,
            served_value=value_of(items, positions),
            random_value=float(np.mean(random_values)),
            oracle_value=value_of(oracle),
            computed_at=self._time(at_s + 1.0),
        )

    def _after_click(
        self,
        shopper: int,
        item: int,
        utility: float,
        at_s: float,
        draws: np.ndarray,
        event: dict,
    ) -> tuple[list[Interaction], list[CatalogItem]]:
        """Add-to-cart and purchase that may follow a click at ``at_s``.

        ``event`` holds the fields every resulting interaction shares (ids, session, slate).
        """
        p_cart, p_purchase = self.choice.purchase_chances(shopper, item, utility)
        if draws[1] >= p_cart:
            return [], []

        cart_s = at_s + 20.0 + 100.0 * draws[5]
        events = [self._interaction("add_to_cart", shopper, item, cart_s, **event)]
        if draws[2] >= p_purchase or self.catalog.stock[item] == 0:
            return events, []

        # Most luxury purchases are single pieces; a few shoppers take two.
        quantity = self.catalog.take(item, 2 if draws[3] < 0.05 else 1)
        purchase_s = cart_s + 60.0 + 540.0 * draws[6]
        events.append(
            self._interaction("purchase", shopper, item, purchase_s, quantity=quantity, **event)
        )
        self.history.record_purchase(shopper, item)
        if self.catalog.stock[item] == 0 and self.catalog.restocks(item):
            heapq.heappush(self._restocks, (purchase_s + self.catalog.restock_after_s[item], item))

        self.counters.catalog_updates += 1
        return events, [self.catalog.record(item, self._time(purchase_s))]

    def _interaction(
        self,
        kind: str,
        shopper: int,
        item: int,
        at_s: float,
        *,
        event_id: str,
        session_id: str,
        request_id: str | None = None,
        arm: str | None = None,
        position: int | None = None,
        quantity: int | None = None,
    ) -> Interaction:
        """One interaction, carrying the item's current price; ids get the kind's suffix."""
        return Interaction(
            event_id=f"{event_id}-{EVENT_ID_SUFFIX[kind]}",
            event_type=kind,
            event_at=self._time(at_s),
            user_id=self.shoppers.user_ids[shopper],
            item_id=self.catalog.item_ids[item],
            session_id=session_id,
            request_id=request_id,
            arm=arm,
            position=position,
            price=self._prices[item],
            quantity=quantity,
        )

    def _restock_due(self) -> list[CatalogItem]:
        """Bring back the sold-out items whose restock time has come."""
        updates = []
        while self._restocks and self._restocks[0][0] <= self.now_s:
            due_s, item = heapq.heappop(self._restocks)
            self.catalog.restock(item)
            updates.append(self.catalog.record(item, self._time(due_s)))

        self.counters.catalog_updates += len(updates)
        return updates

    def _time(self, at_s: float) -> datetime:
        return self.start_at + timedelta(seconds=at_s)

    def _seconds(self, at: datetime) -> float:
        return (at - self.start_at).total_seconds()


#: Event ids end with the kind, so that one click's follow-ups share its prefix.
EVENT_ID_SUFFIX = {"impression": "imp", "click": "clk", "add_to_cart": "atc", "purchase": "pur"}


def recommendation_of(
    request: RecRequest, item_ids: list[str], arm: str, model_version: str = "reference"
) -> Recommendation:
    """A recommendation serving ``item_ids`` in order for a request, as a policy would send it.

    Tests, benchmarks and the simulation's own reference policies (random, oracle) use it to
    answer requests without the stream app.
    """
    slate = [
        SlateItem(item_id=item_id, position=position, score=float(-position), source=arm)
        for position, item_id in enumerate(item_ids)
    ]
    return Recommendation(
        request_id=request.request_id,
        user_id=request.user_id,
        session_id=request.session_id,
        arm=arm,
        model_version=model_version,
        slate=slate,
        requested_at=request.requested_at,
        served_at=request.requested_at,
    )
