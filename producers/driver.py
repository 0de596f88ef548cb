"""Runs the shopper simulator against Kafka: sends its requests, reads the slates, sends reactions.

The driver closes the loop of the experiment. Each simulated page sends a rec-request; the
slate the stream worker publishes for it is handed to the simulator, whose shoppers react; the
reactions (impressions, clicks, add-to-carts, purchases, references and stock changes) go back
to Kafka, where the worker learns from them.

The recommendations consumer joins no group: it assigns itself every partition and starts at
their end, so it sees exactly the slates answered after it started, on any broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from producers.simulator import ShopperSimulator
from stream.admin import TopicMissing
from stream.events import CatalogItem, Contract, DeadLetter, Interaction, Recommendation
from stream.topics import TOPICS, Topics
from stream.validation import TOPIC_SCHEMAS, parse

logger = logging.getLogger(__name__)


@dataclass
class DriveSettings:
    """How long and how fast the simulation runs.

    Attributes
    ----------
    duration_s
        Simulated seconds to run (one day by default).
    rate
        Messages per wall-clock second at most; None sends as fast as the loop allows.
    max_in_flight
        Requests waiting for their slate at most; the simulated clock waits beyond that, so a
        slow worker slows the simulation rather than letting it run ahead of what was learnt.
    slate_timeout_s
        Wall seconds after which a request without a slate is given up (counted as expired).
    """

    duration_s: float = 86_400.0
    rate: float | None = None
    max_in_flight: int = 200
    slate_timeout_s: float = 30.0


@dataclass
class DriveReport:
    """What the driver sent and received."""

    messages_sent: dict[str, int] = field(default_factory=dict)
    slates_received: int = 0
    slates_foreign: int = 0
    slates_invalid: int = 0
    requests_expired: int = 0
    wall_s: float = 0.0

    def count(self, topic: str, n: int = 1) -> None:
        self.messages_sent[topic] = self.messages_sent.get(topic, 0) + n


class KafkaLoop:
    """The Kafka side of the loop: one producer, one consumer of the recommendations topic."""

    def __init__(self, bootstrap: str, topics: Topics = TOPICS) -> None:
        self.topics = topics
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=10, batch_size=256 * 1024, acks="all"
        )
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

        numbers = self.consumer.partitions_for_topic(topics.recommendations) or set()
        if not numbers:
            raise TopicMissing(
                f"topic {topics.recommendations!r} does not exist; run 'streamrec topics' first"
            )
        partitions = [TopicPartition(topics.recommendations, n) for n in sorted(numbers)]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            self.consumer.position(partition)

    def send(self, topic: str, key: str, message: Contract, report: DriveReport) -> None:
        self.producer.send(topic, key=key.encode(), value=message.to_bytes())
        report.count(topic)

    def send_all(self, messages: Iterable[Contract], report: DriveReport) -> None:
        """Send each message to its topic, keyed by user (by item for the catalog)."""
        for message in messages:
            if isinstance(message, CatalogItem):
                self.send(self.topics.catalog, message.item_id, message, report)
            elif isinstance(message, Interaction):
                self.send(self.topics.events, message.user_id, message, report)
            elif message.event_type == "rec_request":
                self.send(self.topics.rec_requests, message.user_id, message, report)
            elif message.event_type == "reference":
                self.send(self.topics.references, message.user_id, message, report)
            else:
                raise TypeError(f"the driver does not send {type(message).__name__}")

    def slates(self, timeout_ms: int, report: DriveReport) -> list[Recommendation]:
        """The slates published since the last call (waiting up to ``timeout_ms`` for one)."""
        received = []
        for records in self.consumer.poll(timeout_ms=timeout_ms, max_records=5_000).values():
            for record in records:
                parsed = parse(
                    record.value,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    schema=TOPIC_SCHEMAS[TOPICS.recommendations],
                )
                if isinstance(parsed, DeadLetter):
                    # The event-log sink dead-letters invalid recommendations; here the slate
                    # simply cannot be shown, and its request will expire.
                    report.slates_invalid += 1
                    logger.warning("slate_unreadable reason=%s", parsed.reason)
                    continue
                received.append(parsed)
        return received

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()
        self.consumer.close()


def drive(
    simulator: ShopperSimulator,
    bootstrap: str,
    settings: DriveSettings | None = None,
    topics: Topics = TOPICS,
    show_progress: bool = True,
    catalog_loaded: Callable[[], None] | None = None,
) -> DriveReport:
    """Run the simulation for ``settings.duration_s`` simulated seconds through Kafka.

    ``catalog_loaded``, when given, is called once the catalog has been sent and should return
    once the worker has applied it; requests sent before that would get empty slates.
    """
    settings = settings or DriveSettings()
    report = DriveReport()
    loop = KafkaLoop(bootstrap, topics)
    started = time.monotonic()
    end_s = simulator.now_s + settings.duration_s
    pending: dict[str, float] = {}

    loop.send_all(simulator.catalog_items(), report)
    if catalog_loaded is not None:
        loop.producer.flush()
        catalog_loaded()
    logger.info("simulation_started bootstrap=%s simulated_s=%.0f", bootstrap, settings.duration_s)
    try:
        with _progress(show_progress) as progress:
            task = progress.add_task("simulating", total=settings.duration_s, info="")
            while simulator.now_s < end_s or pending:
                if simulator.now_s < end_s and len(pending) < settings.max_in_flight:
                    _advance(simulator, loop, pending, report)
                    timeout_ms = 0
                else:
                    timeout_ms = 100

                for slate in loop.slates(timeout_ms, report):
                    _react(simulator, loop, slate, pending, report)
                _expire(simulator, pending, settings.slate_timeout_s, report)
                _pace(report, started, settings.rate)

                done = settings.duration_s - max(0.0, end_s - simulator.now_s)
                progress.update(task, completed=done, info=_describe(report, pending))
    finally:
        loop.close()

    report.wall_s = time.monotonic() - started
    logger.info(
        "simulation_finished wall_s=%.1f sent=%s slates=%d expired=%d",
        report.wall_s,
        report.messages_sent,
        report.slates_received,
        report.requests_expired,
    )
    return report


def _advance(
    simulator: ShopperSimulator, loop: KafkaLoop, pending: dict[str, float], report: DriveReport
) -> None:
    """One tick of the simulated clock: stock changes, organic events, then the requests."""
    tick = simulator.next_tick()
    loop.send_all(tick.catalog_updates, report)
    loop.send_all(tick.events, report)
    loop.send_all(tick.requests, report)

    now = time.monotonic()
    for request in tick.requests:
        pending[request.request_id] = now
    if tick.requests:
        # Requests must leave now: the worker cannot answer what sits in the producer's buffer.
        loop.producer.flush()


def _react(
    simulator: ShopperSimulator,
    loop: KafkaLoop,
    slate: Recommendation,
    pending: dict[str, float],
    report: DriveReport,
) -> None:
    """Let the shopper react to a slate that answers one of this run's requests."""
    if pending.pop(slate.request_id, None) is None:
        # A slate for a request of an earlier run, or a second answer after a worker restart.
        report.slates_foreign += 1
        return

    reaction = simulator.react(slate)
    report.slates_received += 1
    loop.send_all(reaction.catalog_updates, report)
    loop.send_all(reaction.events, report)
    if reaction.reference is not None:
        loop.send_all([reaction.reference], report)


def _expire(
    simulator: ShopperSimulator, pending: dict[str, float], timeout_s: float, report: DriveReport
) -> None:
    """Give up the requests whose slate has not come within ``timeout_s``."""
    deadline = time.monotonic() - timeout_s
    expired = [request_id for request_id, sent_at in pending.items() if sent_at < deadline]
    for request_id in expired:
        del pending[request_id]
        simulator.expire(request_id)
        logger.debug("request_expired request_id=%s timeout_s=%.0f", request_id, timeout_s)

    if expired:
        report.requests_expired += len(expired)
        logger.warning(
            "requests_expired n_expired=%d timeout_s=%.0f first_request_id=%s",
            len(expired),
            timeout_s,
            expired[0],
        )


def _pace(report: DriveReport, started: float, rate: float | None) -> None:
    """Sleep as long as the messages sent so far are ahead of ``rate`` per second."""
    if rate is None:
        return
    ahead_s = sum(report.messages_sent.values()) / rate - (time.monotonic() - started)
    if ahead_s > 0:
        time.sleep(ahead_s)


def _describe(report: DriveReport, pending: dict[str, float]) -> str:
    sent = sum(report.messages_sent.values())
    return f"{sent:,} messages, {report.slates_received:,} slates, {len(pending)} waiting"


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of simulated time"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        disable=not show,
        transient=False,
    )
