"""Tails a topic and prints each message in readable form, or as one JSON line each.

The watcher joins no consumer group: it assigns itself every partition of the topic, so it
never takes partitions away from a worker and commits nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.markup import escape

from stream.events import (
    CatalogItem,
    Contract,
    DeadLetter,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
)
from stream.topics import TOPICS
from stream.validation import TOPIC_SCHEMAS, parse

logger = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500


def watch_topic(
    bootstrap: str,
    topic: str,
    console: Console,
    from_beginning: bool = False,
    limit: int | None = None,
    as_json: bool = False,
) -> int:
    """Print the messages of ``topic`` as they arrive; return how many were printed.

    Runs until ``limit`` messages were printed, or forever when ``limit`` is None.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = _assign(consumer, topic, from_beginning)
        logger.info("watch_started topic=%s partitions=%d", topic, len(partitions))
        return _print_messages(consumer, topic, console, limit, as_json)
    finally:
        consumer.close()


def _assign(consumer: KafkaConsumer, topic: str, from_beginning: bool) -> list[TopicPartition]:
    """Assign every partition of the topic and move to its start or its end."""
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        raise SystemExit(f"topic {topic!r} does not exist on this broker")

    partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
    consumer.assign(partitions)
    if from_beginning:
        consumer.seek_to_beginning(*partitions)
    else:
        consumer.seek_to_end(*partitions)
    return partitions


def _print_messages(
    consumer: KafkaConsumer, topic: str, console: Console, limit: int | None, as_json: bool
) -> int:
    printed = 0
    while limit is None or printed < limit:
        batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        for records in batches.values():
            for record in records:
                if limit is not None and printed >= limit:
                    return printed
                _print_one(record, topic, console, as_json)
                printed += 1
    return printed


def _print_one(record: object, topic: str, console: Console, as_json: bool) -> None:
    """One line per message: JSON as sent, or a short readable summary."""
    value: bytes = record.value  # type: ignore[attr-defined]
    where = f"{record.partition}:{record.offset}"  # type: ignore[attr-defined]

    if as_json:
        print(value.decode("utf-8", errors="replace"), flush=True)
        return

    schema = schema_of(topic)
    if schema is None:
        console.print(f"[dim]{where}[/] {escape(value.decode('utf-8', 'replace'))}", soft_wrap=True)
        return
    message = parse(value, topic=topic, schema=schema)
    console.print(f"[dim]{where}[/] {escape(summarise(message))}", highlight=False, soft_wrap=True)


def schema_of(topic: str) -> type[Contract] | Mapping[str, type[Contract]] | None:
    """The schema of a topic's messages, also for prefixed names; None for other topics.

    Examples
    --------
    >>> schema_of("catalog").__name__
    'CatalogItem'
    >>> sorted(schema_of("spring-events"))
    ['add_to_cart', 'click', 'impression', 'purchase']
    >>> schema_of("spring-dead-letter").__name__
    'DeadLetter'
    >>> schema_of("payments") is None
    True
    """
    schemas = {**TOPIC_SCHEMAS, TOPICS.dead_letter: DeadLetter}
    if topic in schemas:
        return schemas[topic]
    suffixes = [name for name in schemas if topic.endswith(f"-{name}")]
    return schemas[max(suffixes, key=len)] if suffixes else None


def summarise(message: Contract) -> str:
    """A one-line description of a message for people watching a topic.

    Examples
    --------
    >>> from stream.events import SlateItem
    >>> slate = [SlateItem(item_id="i7", position=0, score=0.9, source="popularity")]
    >>> summarise(Recommendation(request_id="r1", user_id="u1", session_id="s1", arm="A",
    ...     model_version="popularity@12", slate=slate, requested_at="2026-01-05T00:00:00Z",
    ...     served_at="2026-01-05T00:00:00Z"))
    'recommendation 2026-01-05 00:00:00 user=u1 arm=A model=popularity@12 slate=[i7]'
    """
    if isinstance(message, Interaction):
        extra = f" price={message.price} quantity={message.quantity}" if message.price else ""
        origin = f" arm={message.arm} position={message.position}" if message.arm else ""
        return (
            f"{message.event_type} {message.event_at:%Y-%m-%d %H:%M:%S} user={message.user_id} "
            f"item={message.item_id}{origin}{extra}"
        )
    if isinstance(message, Recommendation):
        items = ",".join(entry.item_id for entry in message.slate)
        return (
            f"recommendation {message.served_at:%Y-%m-%d %H:%M:%S} user={message.user_id} "
            f"arm={message.arm} model={message.model_version} slate=[{items}]"
        )
    if isinstance(message, RecRequest):
        return (
            f"rec_request {message.requested_at:%Y-%m-%d %H:%M:%S} user={message.user_id} "
            f"k={message.k} context={message.context_item_id or message.context_category}"
        )
    if isinstance(message, Reference):
        return (
            f"reference user={message.user_id} arm={message.arm} served={message.served_value:.3f}"
            f" random={message.random_value:.3f} oracle={message.oracle_value:.3f}"
        )
    if isinstance(message, CatalogItem):
        return (
            f"catalog {message.item_id} {message.category}/{message.brand} "
            f"tier={message.price_tier} price={message.price} stock={message.stock}"
        )
    if isinstance(message, DeadLetter):
        return f"dead_letter reason={message.reason} from={message.source_topic} {message.detail}"
    return json.dumps(message.model_dump(mode="json"))
