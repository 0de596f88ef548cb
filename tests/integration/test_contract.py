"""The event contract on a real broker: every kind round-trips unchanged, and a real worker
dead-letters each malformed kind with its documented reason while every valid event around it
is learnt."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from stream.admin import create_topics
from stream.brokers.process import BrokerProcess, free_port
from stream.events import (
    CatalogItem,
    Contract,
    DeadLetter,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
    SlateItem,
)
from stream.topics import TOPICS, Topics
from stream.validation import parse
from streamrec.demo import start_worker, stop_worker, wait_for_worker, worker_summary
from tests.stream.test_validation import CLICK, MALFORMED

pytestmark = pytest.mark.broker

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _one_of_each_kind() -> list[Contract]:
    slate = [
        SlateItem(item_id="i2", position=0, score=0.7, source="content", source_probability=0.25)
    ]
    interactions = [
        Interaction(
            event_id=f"e-{kind}",
            event_type=kind,
            event_at=AT,
            user_id="u1",
            item_id="i2",
            session_id="s1",
            request_id="r1",
            arm="D",
            position=0,
            **({"price": 1200.0, "quantity": 2} if kind == "purchase" else {}),
        )
        for kind in ("impression", "click", "add_to_cart", "purchase")
    ]
    return [
        CatalogItem(
            item_id="i2",
            title="Tote",
            category="bags",
            brand="Maison",
            price=1200.0,
            price_tier=2,
            stock=3,
            tags=["leather"],
            updated_at=AT,
        ),
        RecRequest(
            request_id="r1", user_id="u1", session_id="s1", requested_at=AT, context_item_id="i9"
        ),
        Recommendation(
            request_id="r1",
            user_id="u1",
            session_id="s1",
            arm="D",
            model_version="content@10",
            slate=slate,
            requested_at=AT,
            served_at=AT,
        ),
        *interactions,
        Reference(
            request_id="r1",
            user_id="u1",
            arm="D",
            served_value=0.4,
            random_value=0.1,
            oracle_value=1.2,
            computed_at=AT,
        ),
        parse(b"{broken", topic="events"),
    ]


def _read(bootstrap: str, topic: str, n_messages: int, timeout_s: float = 60.0) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)

    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(values) < n_messages and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(record.value for record in records)
    consumer.close()
    return values


def test_every_kind_of_message_round_trips_unchanged(
    broker: BrokerProcess, fresh_topics: Topics
) -> None:
    topic = fresh_topics.events
    create_topics(broker.bootstrap, [topic], partitions=1)
    sent = _one_of_each_kind()

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for message in sent:
        producer.send(topic, key=b"u1", value=message.to_bytes()).get(timeout=30)
    producer.close()
    received = _read(broker.bootstrap, topic, len(sent))

    assert [
        type(message).model_validate_json(value)
        for message, value in zip(sent, received, strict=True)
    ] == sent
    assert isinstance(sent[-1], DeadLetter)


def test_the_worker_dead_letters_each_malformed_kind_and_learns_the_rest(
    broker: BrokerProcess, topic_prefix: str, tmp_path: Path
) -> None:
    topics = TOPICS.with_prefix(f"{topic_prefix}-")
    create_topics(broker.bootstrap, topics.all(), partitions=2)
    cases = sorted(MALFORMED)
    valid = [
        Interaction.model_validate({**CLICK, "event_id": f"ok-{n}", "user_id": f"u{n}"})
        for n in range(len(cases) + 1)
    ]

    # Valid clicks before, between and after the malformed messages.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, max_request_size=2**21)
    for number, case in enumerate(cases):
        producer.send(topics.events, key=b"k", value=valid[number].to_bytes())
        producer.send(topics.events, key=b"k", value=MALFORMED[case][0])
    producer.send(topics.events, key=b"k", value=valid[-1].to_bytes())
    producer.flush()
    producer.close()

    web_port = free_port()
    worker = start_worker(
        broker.bootstrap,
        tmp_path / "state",
        web_port,
        tmp_path / "w.log",
        topics,
        app_id=f"{topic_prefix}-worker",
    )
    try:
        wait_for_worker(worker, web_port)
        letters = [
            DeadLetter.model_validate_json(value)
            for value in _read(broker.bootstrap, topics.dead_letter, len(cases))
        ]
        summary = worker_summary(web_port)
        for _ in range(100):
            if sum(arm["n_learnt"] for arm in summary["arms"].values()) >= len(valid):
                break
            time.sleep(0.2)
            summary = worker_summary(web_port)
    finally:
        stop_worker(worker)

    assert [letter.reason for letter in letters] == [MALFORMED[case][1] for case in cases]
    assert {letter.source_topic for letter in letters} == {topics.events}
    assert sum(arm["n_learnt"] for arm in summary["arms"].values()) == len(valid)
    assert summary["n_dead_letters"] == len(cases)
